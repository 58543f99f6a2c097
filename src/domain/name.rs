/// A display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("Enter a name.");
        }
        if name.chars().count() > 100 {
            return Err("A name is at most 100 characters.");
        }
        if name.chars().any(char::is_control) {
            return Err("A name cannot contain control characters.");
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an api client calls itself at sign-in (SPEC §13): 1 to 100 Unicode scalar values,
/// kept as typed (not trimmed). Control characters are refused, and so are the bidirectional overrides and
/// isolates, which would let a name read differently on the sessions pages than it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceName(String);

impl DeviceName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("device_name must not be empty.");
        }
        if raw.chars().count() > 100 {
            return Err("device_name is at most 100 characters.");
        }
        let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if raw.chars().any(|c| c.is_control() || bidi(c)) {
            return Err("device_name cannot contain control characters.");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!(
            DeviceName::parse("Ada's iPhone").unwrap().as_str(),
            "Ada's iPhone"
        );
        assert!(
            DeviceName::parse(&"é".repeat(100)).is_ok(),
            "scalar values, not bytes"
        );
        assert!(DeviceName::parse(&"é".repeat(101)).is_err());
        assert!(DeviceName::parse(" ").is_ok(), "kept as typed");
        for bad in ["", "a\nb", "a\u{7f}", "x\u{202E}gnp.exe"] {
            assert!(DeviceName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            Name::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse("a\u{0}b").is_err());
        assert!(Name::parse(&"n".repeat(101)).is_err());
    }
}
