//! Typed identifiers and the session secret. An account id is not an incident id, and a
//! session's secret is not its hash: the types keep them apart, and the secret never prints.

use crate::domain::crypto;

/// `accounts.id`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Integer)]
#[serde(transparent)]
pub struct AccountId(pub i32);

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for AccountId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(AccountId)
    }
}

/// `organisations.id`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Integer)]
#[serde(transparent)]
pub struct OrganisationId(pub i32);

impl OrganisationId {
    /// `default`, made by the migration that made organisations (SPEC §14).
    pub const DEFAULT: OrganisationId = OrganisationId(1);
}

impl std::fmt::Display for OrganisationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `auth_sessions.id`: the registry row's public name (shown on the sessions pages and
/// used to revoke), unrelated to its secret.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(transparent)]
pub struct SessionId(pub(crate) String);

impl SessionId {
    pub fn generate() -> Self {
        Self(crypto::random_token::<16>())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for SessionId {
    fn from(raw: String) -> Self {
        Self(raw)
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// SPEC §17: the id of one request, in its answer's `X-Request-Id`, its log lines and its
/// incidents. An incoming `X-Request-Id` of 1–64 characters of `A-Z a-z 0-9 . _ -` is kept (a
/// proxy's id joins both logs); anything else is replaced, never logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn from_header(raw: Option<&[u8]>) -> Self {
        let valid = |v: &&[u8]| {
            (1..=64).contains(&v.len())
                && v.iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        match raw.filter(valid).and_then(|v| std::str::from_utf8(v).ok()) {
            Some(kept) => Self(kept.to_owned()),
            None => Self::new(),
        }
    }

    /// 16 characters of base64url from 12 random bytes.
    pub fn new() -> Self {
        Self(crate::domain::crypto::random_token::<12>())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

/// What a browser holds for a sign-in (the realm's `R.session` key). SECURITY: it never
/// prints; the registry keeps only its `SecretHash`.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret(String);

impl SessionSecret {
    pub fn generate() -> Self {
        Self(crypto::random_token::<32>())
    }

    /// The value to write into the session cookie, and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash(crypto::sha256_hex(&self.0))
    }

    /// A bearer token of the api realm (SPEC §13): `rgat_` and 32 random bytes in base64url,
    /// 48 characters. The prefix lets secret scanners find a leaked one; the registry keeps
    /// the SHA-256 of the whole token.
    pub fn generate_token() -> Self {
        Self(format!("{TOKEN_PREFIX}{}", crypto::random_token::<32>()))
    }

    /// A token as a client sent it, checked strictly (prefix, length, alphabet, and that the
    /// rest is exactly 32 bytes of canonical base64url) before anything looks it up.
    pub fn parse_token(raw: &str) -> Option<Self> {
        use base64::Engine as _;
        let rest = raw.strip_prefix(TOKEN_PREFIX)?;
        if raw.len() != TOKEN_LEN
            || !rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(rest)
            .ok()?;
        (bytes.len() == 32).then(|| Self(raw.to_owned()))
    }
}

pub const TOKEN_PREFIX: &str = "rgat_";
/// `rgat_` and 43 base64url characters.
pub const TOKEN_LEN: usize = 48;

impl From<String> for SessionSecret {
    fn from(raw: String) -> Self {
        Self(raw)
    }
}

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret([redacted])")
    }
}

/// SHA-256 of a session secret in hex: what `auth_sessions.secret_hash` holds.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct SecretHash(pub(crate) String);

impl SecretHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_and_hashes_to_its_registry_value() {
        let secret = SessionSecret::from("s3cret-value".to_owned());
        assert_eq!(format!("{secret:?}"), "SessionSecret([redacted])");
        assert_eq!(secret.hash().as_str(), crypto::sha256_hex("s3cret-value"));
        assert_ne!(SessionSecret::generate(), SessionSecret::generate());
    }

    #[test]
    fn tokens_are_48_characters_and_parse_strictly() {
        let token = SessionSecret::generate_token();
        let raw = token.expose().to_owned();
        assert_eq!(raw.len(), 48);
        assert!(raw.starts_with("rgat_"));
        assert_eq!(SessionSecret::parse_token(&raw), Some(token));
        assert_ne!(
            SessionSecret::generate_token(),
            SessionSecret::generate_token()
        );
        let body = &raw[5..];
        for bad in [
            String::new(),
            body.to_owned(),
            format!("rgat-{body}"),
            format!("RGAT_{body}"),
            format!("{raw}A"),
            raw[..47].to_owned(),
            format!("rgat_{}+", &body[..42]),
            format!("rgat_{}=", &body[..42]),
            format!(" {}", &raw[1..]),
            format!("rgat_{}é", &body[..41]),
            "rgat_".repeat(2000),
        ] {
            assert_eq!(SessionSecret::parse_token(&bad), None, "{bad:?}");
        }
        // 43 characters carry 258 bits: a last character with its two spare bits set is not
        // the canonical spelling of any 32 bytes.
        let odd = format!("rgat_{}B", &"A".repeat(42));
        assert_eq!(SessionSecret::parse_token(&odd), None);
        let canonical = format!("rgat_{}A", &"A".repeat(42));
        assert!(SessionSecret::parse_token(&canonical).is_some());
    }

    #[test]
    fn a_request_id_is_kept_only_when_short_and_plain() {
        for kept in ["abc", "a.b_c-D9", &"x".repeat(64)] {
            assert_eq!(RequestId::from_header(Some(kept.as_bytes())).as_str(), kept);
        }
        let long = "x".repeat(65);
        for replaced in ["", "a b", "a\nb", "a/b", "é", long.as_str(), "a;b"] {
            let id = RequestId::from_header(Some(replaced.as_bytes()));
            assert_ne!(id.as_str(), replaced);
            assert_eq!(id.as_str().len(), 16);
        }
        assert_eq!(
            RequestId::from_header(Some(&[0xff, 0xfe])).as_str().len(),
            16
        );
        assert_ne!(RequestId::new(), RequestId::new());
    }
}
