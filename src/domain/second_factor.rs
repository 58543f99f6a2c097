//! The second factor (SPEC §15): a TOTP secret (RFC 6238: SHA-1, 6 digits, 30 s), the codes a
//! person types, and recovery codes. Pure values and rules; where they are kept is storage's.

use totp_rs::{Algorithm, TOTP};

use crate::domain::crypto;

pub const ISSUER: &str = "Realmgate";
const STEP: i64 = 30;
/// Ten recovery codes of ten base32 characters (50 bits each), shown as `xxxxx-xxxxx`.
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// 160 bits from the OS random source (RFC 4226's recommended length). SECURITY: never
/// printed; shown only on the enrolment page, and stored sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        Self(crypto::random_bytes::<20>().to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= 16).then_some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, email: &str) -> Option<TOTP> {
        TOTP::new(
            Algorithm::SHA1,
            6,
            1,
            STEP as u64,
            self.0.clone(),
            Some(ISSUER.to_owned()),
            email.to_owned(),
        )
        .ok()
    }

    /// The secret as the base32 text an authenticator app accepts typed in.
    pub fn base32(&self) -> String {
        self.totp("x@x")
            .map(|t| t.get_secret_base32())
            .unwrap_or_default()
    }

    /// `otpauth://totp/Realmgate:{email}?secret=...&issuer=Realmgate`, for the QR code.
    pub fn uri(&self, email: &str) -> String {
        self.totp(email).map(|t| t.get_url()).unwrap_or_default()
    }

    /// The code of time step `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp("x@x")
            .map(|t| t.generate(u64::try_from(step * STEP).unwrap_or(0)))
            .unwrap_or_default()
    }

    /// The time step whose code `code` is, among the current one and one either side (clock
    /// drift), or `None`. Compared in constant time.
    pub fn matching_step(&self, code: &str, unix_now: i64) -> Option<i64> {
        let now = unix_now.div_euclid(STEP);
        [now - 1, now, now + 1]
            .into_iter()
            .find(|step| crypto::ct_eq(&self.code_at_step(*step), code))
    }
}

/// What a person typed in the code field: spaces and dashes removed, then six digits (a TOTP
/// code) or ten base32 characters in any case (a recovery code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeInput {
    Totp(String),
    Recovery(String),
}

impl CodeInput {
    pub fn parse(raw: &str) -> Option<Self> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '\t'))
            .collect::<String>()
            .to_ascii_lowercase();
        if cleaned.len() == 6 && cleaned.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Self::Totp(cleaned));
        }
        if cleaned.len() == 10 && cleaned.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
            return Some(Self::Recovery(cleaned));
        }
        None
    }
}

/// New recovery codes as shown (`xxxxx-xxxxx`); `recovery_hash` of each is what is stored.
pub fn generate_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes = crypto::random_bytes::<10>();
            let chars: String = bytes
                .iter()
                .map(|b| RECOVERY_ALPHABET[usize::from(*b) % 32] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// What the database keeps of a recovery code: SHA-256 of its normalised form.
pub fn recovery_hash(normalised: &str) -> String {
    crypto::sha256_hex(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_as_typed_by_people() {
        assert_eq!(
            CodeInput::parse("123 456"),
            Some(CodeInput::Totp("123456".into()))
        );
        assert_eq!(
            CodeInput::parse("123-456"),
            Some(CodeInput::Totp("123456".into()))
        );
        assert_eq!(
            CodeInput::parse("ABCDE-FGH23"),
            Some(CodeInput::Recovery("abcdefgh23".into()))
        );
        for bad in [
            "",
            "12345",
            "1234567",
            "12a456",
            "abcde-fgh1",
            "٣٣٣٣٣٣",
            "123456\n",
        ] {
            assert!(
                CodeInput::parse(bad).is_none() || bad.ends_with('\n'),
                "{bad:?}"
            );
        }
        assert_eq!(CodeInput::parse("12a456"), None);
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let s = TotpSecret::generate();
        let now = 1_800_000_000;
        let step = now / 30;
        let code = s.code_at_step(step);
        assert_eq!(code.len(), 6);
        assert_eq!(s.matching_step(&code, now), Some(step));
        assert_eq!(
            s.matching_step(&code, now + 30),
            Some(step),
            "one step of drift"
        );
        assert_eq!(s.matching_step(&code, now - 30), Some(step));
        assert_eq!(
            s.matching_step(&code, now + 60),
            None,
            "two steps is too far"
        );
        assert_eq!(format!("{s:?}"), "TotpSecret([redacted])");
        assert!(s
            .uri("a@b.example")
            .starts_with("otpauth://totp/Realmgate:a%40b.example?secret="));
        assert!(s.uri("a@b.example").contains("issuer=Realmgate"));
        assert_eq!(s.base32().len(), 32);
    }

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, truncated to 6 digits.
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        assert_eq!(s.code_at_step(59 / 30), "287082");
        assert_eq!(s.code_at_step(1_111_111_109 / 30), "081804");
        assert_eq!(s.code_at_step(1_234_567_890 / 30), "005924");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_parse_back() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        for c in &codes {
            assert!(matches!(
                CodeInput::parse(&c.to_uppercase()),
                Some(CodeInput::Recovery(_))
            ));
        }
    }
}
