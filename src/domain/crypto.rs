//! Randomness and hashing of secrets. Every secret comes from the OS random source.

use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// `N` random bytes as unpadded base64url (32 bytes give 43 characters).
pub fn random_token<const N: usize>() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// SHA-256 in hex: what the database keeps instead of a secret.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A key for one purpose, derived from `REALMGATE_SECRET_KEY` with HKDF-SHA256 and its own
/// label, so the cookie's key never encrypts anything else.
fn derived_key(master: &[u8], label: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 8,160: expand cannot fail here.
    let _ = hkdf::Hkdf::<Sha256>::new(None, master).expand(label.as_bytes(), &mut key);
    key
}

/// What a sealed value is for; each has its own derived key, so one kind can never be opened
/// as another.
#[derive(Clone, Copy, Debug)]
pub enum Sealed {
    /// A second factor's TOTP secret (SPEC §15).
    SecondFactor,
    /// An outbox row's payload: a message with its link, or a sign-up's password (SPEC §17).
    Outbox,
}

impl Sealed {
    fn label(self) -> &'static str {
        match self {
            Sealed::SecondFactor => "realmgate second-factor secret v1",
            Sealed::Outbox => "realmgate outbox payload v1",
        }
    }
}

/// Seals a secret for storage: AES-256-GCM with a random nonce, base64 of nonce and
/// ciphertext.
pub fn seal(master: &[u8], purpose: Sealed, plaintext: &[u8]) -> Option<String> {
    use aes_gcm::aead::Aead as _;
    use aes_gcm::KeyInit as _;
    let cipher = aes_gcm::Aes256Gcm::new(&derived_key(master, purpose.label()).into());
    let nonce = random_bytes::<12>();
    let sealed = cipher.encrypt(&nonce.into(), plaintext).ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))
}

/// Opens what `seal` made with the same key; `None` for anything else.
pub fn open(master: &[u8], purpose: Sealed, sealed: &str) -> Option<Vec<u8>> {
    use aes_gcm::aead::Aead as _;
    use aes_gcm::KeyInit as _;
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(sealed)
        .ok()?;
    if raw.len() < 12 + 16 {
        return None;
    }
    let (nonce, body) = raw.split_at(12);
    let cipher = aes_gcm::Aes256Gcm::new(&derived_key(master, purpose.label()).into());
    cipher.decrypt(aes_gcm::Nonce::from_slice(nonce), body).ok()
}

/// SECURITY: constant time, so a guessed token leaks nothing through response timing.
pub fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_differ() {
        let a = random_token::<32>();
        let b = random_token::<32>();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn sealed_secrets_open_with_their_key_only() {
        let key = [7u8; 64];
        let two = Sealed::SecondFactor;
        let sealed = seal(&key, two, b"a totp secret").unwrap();
        assert!(!sealed.contains("totp"));
        assert_eq!(
            open(&key, two, &sealed).as_deref(),
            Some(&b"a totp secret"[..])
        );
        assert_ne!(
            seal(&key, two, b"a totp secret").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert_eq!(open(&[8u8; 64], two, &sealed), None);
        assert_eq!(
            open(&key, Sealed::Outbox, &sealed),
            None,
            "one purpose's key only"
        );
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            open(&key, two, std::str::from_utf8(&tampered).unwrap()),
            None
        );
        assert_eq!(open(&key, two, "not base64!"), None);
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
    }
}
