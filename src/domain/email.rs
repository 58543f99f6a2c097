use unicode_normalization::UnicodeNormalization as _;

/// A normalised address: trimmed, NFKC, lower-cased, domain in IDNA ASCII, at most 254 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, PartialEq, Eq)]
pub struct InvalidEmail;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let normalised: String = raw.trim().nfkc().collect::<String>().to_lowercase();
        let (local, domain) = normalised.rsplit_once('@').ok_or(InvalidEmail)?;
        if local.is_empty()
            || local.len() > 64
            || local
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '"' | '@'))
        {
            return Err(InvalidEmail);
        }
        let domain = idna::domain_to_ascii(domain).map_err(|_| InvalidEmail)?;
        if domain.is_empty()
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(InvalidEmail);
        }
        let email = format!("{local}@{domain}");
        if email.len() > 254 {
            return Err(InvalidEmail);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let e = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "alice@example.com");
        let e = Email::parse("bob@BÜCHER.example").unwrap();
        assert_eq!(e.as_str(), "bob@xn--bcher-kva.example");
        // NFKC folds the fullwidth letters.
        let e = Email::parse("ｃarol@example.com").unwrap();
        assert_eq!(e.as_str(), "carol@example.com");
        assert_eq!(
            Email::parse("admin@localhost").unwrap().as_str(),
            "admin@localhost"
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "no-at",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@exa mple.com",
            "a@ex..ample",
            "a\n@example.com",
            "' OR 1=1 --@x",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidEmail), "{bad:?}");
        }
        let long = format!("{}@{}.example", "a".repeat(64), "b".repeat(200));
        assert_eq!(Email::parse(&long), Err(InvalidEmail));
    }
}
