//! Secrets: generation, hashing at rest, constant-time comparison.
//!
//! High-entropy secrets (API tokens, session ids, tracking secrets) are stored as SHA-256
//! digests: they cannot be guessed, so a slow hash adds nothing. Passwords are low-entropy and go
//! through argon2id instead (see [`crate::password`]).

use crate::random::Random;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every API token, so that secret scanners recognise leaked Stadtkern tokens.
pub const TOKEN_PREFIX: &str = "stk_";

/// A new random secret of 32 bytes, URL-safe base64 without padding.
pub fn new_secret(rng: &dyn Random) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rng.bytes(32))
}

/// A new API token: `stk_` followed by a random secret.
pub fn new_api_token(rng: &dyn Random) -> String {
    format!("{TOKEN_PREFIX}{}", new_secret(rng))
}

/// Hex SHA-256 of a secret, for storage and lookup.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// HMAC-SHA256 of a message under a key, hex encoded.
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time equality of two strings.
pub fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Standard base64 (with padding), for binary data in text formats.
pub fn b64_encode(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Decodes standard base64; `None` when malformed.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let rng = SeededRandom::new(7);
        let a = new_api_token(&rng);
        let b = new_api_token(&rng);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert!(eq(&a, &a.clone()));
        assert!(!eq(&a, &b));
    }

    #[test]
    fn hmac_is_keyed() {
        assert_ne!(hmac_hex(b"k1", b"m"), hmac_hex(b"k2", b"m"));
        assert_eq!(hmac_hex(b"k1", b"m"), hmac_hex(b"k1", b"m"));
    }
}
