use unicode_normalization::UnicodeNormalization as _;

/// SECURITY: a cap on what reaches Argon2, so a megabyte "password" costs nothing extra.
const MAX_INPUT_BYTES: usize = 1024;

/// A password as typed into a sign-in form. Never trimmed; `Debug` hides it.
pub struct PasswordInput(String);

impl PasswordInput {
    /// `None` when it is too long to be any account's password.
    pub fn new(raw: String) -> Option<Self> {
        (raw.len() <= MAX_INPUT_BYTES).then_some(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A password accepted for storage by the one policy of SPEC §8, used for sign-up, change,
/// reset, `create-user` and admin-created accounts: 12 to 128 characters after NFKC, used
/// exactly as typed (no trimming, no truncation), and a zxcvbn score of at least 3 with the
/// email, the name and `realmgate` as context words.
pub struct NewPassword(String);

impl NewPassword {
    /// `Err` holds the sentence the form shows. zxcvbn costs milliseconds of CPU: call this
    /// off the async workers.
    pub fn parse(raw: &str, email: &str, name: &str) -> Result<Self, String> {
        let count = raw.nfkc().count();
        if count < 12 {
            return Err("Your password must be at least 12 characters long.".into());
        }
        if count > 128 || raw.len() > MAX_INPUT_BYTES {
            return Err("Your password must be at most 128 characters long.".into());
        }
        let local = email.split('@').next().unwrap_or("");
        let mut context: Vec<&str> = vec!["realmgate", email, local];
        context.extend(name.split_whitespace());
        context.push(name);
        let normalised: String = raw.nfkc().collect();
        let entropy = zxcvbn::zxcvbn(&normalised, &context);
        if entropy.score() < zxcvbn::Score::Three {
            let mut message = String::from("This password is too easy to guess.");
            if let Some(feedback) = entropy.feedback() {
                if let Some(warning) = feedback.warning() {
                    message.push(' ');
                    message.push_str(&warning.to_string());
                    if !message.ends_with('.') {
                        message.push('.');
                    }
                }
                if let Some(suggestion) = feedback.suggestions().first() {
                    message.push(' ');
                    message.push_str(&suggestion.to_string());
                }
            }
            if !message.contains("Add") && !message.contains("add") {
                message.push_str(" Try a longer phrase of unrelated words.");
            }
            return Err(message);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: &str = "ada@example.com";
    const NAME: &str = "Ada Lovelace";

    #[test]
    fn length_rule_counts_characters_not_bytes() {
        assert!(NewPassword::parse("short", EMAIL, NAME).is_err());
        // 11 characters, 22 bytes.
        let err = NewPassword::parse("ééééééééééé", EMAIL, NAME).unwrap_err();
        assert!(err.contains("at least 12"));
        let err = NewPassword::parse(&"x".repeat(129), EMAIL, NAME).unwrap_err();
        assert!(err.contains("at most 128"));
    }

    #[test]
    fn strength_rule_uses_the_context_words() {
        let err = NewPassword::parse("password1234", EMAIL, NAME).unwrap_err();
        assert!(
            err.starts_with("This password is too easy to guess."),
            "{err}"
        );
        assert!(NewPassword::parse("realmgate12345", EMAIL, NAME).is_err());
        assert!(NewPassword::parse("ada@example.com1", EMAIL, NAME).is_err());
        assert!(NewPassword::parse("Realmgate2026!", EMAIL, NAME).is_err());
        let ok = NewPassword::parse("  violet tractor marmalade  ", EMAIL, NAME).unwrap();
        assert_eq!(
            ok.expose(),
            "  violet tractor marmalade  ",
            "used exactly as typed"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = NewPassword::parse("violet tractor marmalade", EMAIL, NAME).unwrap();
        assert_eq!(format!("{p:?}"), "[redacted]");
    }
}
