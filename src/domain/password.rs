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

/// A password accepted for storage: 12 to 128 characters after NFKC, used exactly as typed.
///
/// The strength check (zxcvbn with context words) belongs to the passwords issue; the length
/// rule is enforced here now so every path that sets a password already goes through this type.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let count = raw.nfkc().count();
        if count < 12 {
            return Err("Your password must be at least 12 characters long.".into());
        }
        if count > 128 || raw.len() > MAX_INPUT_BYTES {
            return Err("Your password must be at most 128 characters long.".into());
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

    #[test]
    fn length_rule_counts_characters_not_bytes() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("ééééééééééé").is_err()); // 11 characters, 22 bytes
        assert!(NewPassword::parse("éééééééééééé").is_ok());
        assert!(NewPassword::parse(&"x".repeat(129)).is_err());
        // Not trimmed: the spaces count and are kept.
        let p = NewPassword::parse("  padded pass  ").unwrap();
        assert_eq!(p.expose(), "  padded pass  ");
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = NewPassword::parse("correct horse battery").unwrap();
        assert_eq!(format!("{p:?}"), "[redacted]");
    }
}
