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
}

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
}
