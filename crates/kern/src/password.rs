//! Password policy and hashing (argon2id).

use crate::error::{Error, Invalid, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LENGTH: usize = 12;

/// Checks a new password against the policy: at least [`MIN_LENGTH`] characters, not one of the
/// common passwords or an easily guessed variation of them (zxcvbn's dictionaries, score >= 3),
/// not containing the user name.
pub fn check_policy(password: &str, user_inputs: &[&str]) -> Result<()> {
    let mut inv = Invalid::new();
    if password.chars().count() < MIN_LENGTH {
        inv.push(
            "password",
            format!("Das Passwort muss mindestens {MIN_LENGTH} Zeichen lang sein."),
        );
    } else {
        let lowered = password.to_lowercase();
        if user_inputs
            .iter()
            .any(|u| u.len() >= 3 && lowered.contains(&u.to_lowercase()))
        {
            inv.push(
                "password",
                "Das Passwort darf den Benutzernamen nicht enthalten.",
            );
        } else {
            let estimate = zxcvbn::zxcvbn(password, user_inputs);
            if (estimate.score() as u8) < 3 {
                inv.push(
                    "password",
                    "Das Passwort ist zu leicht zu erraten (zu häufig oder zu einfach).",
                );
            }
        }
    }
    inv.into_result()
}

fn argon() -> Argon2<'static> {
    // OWASP's recommended argon2id settings: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id and a random salt, in PHC string format.
pub fn hash(password: &str, salt_bytes: &[u8; 16]) -> Result<String> {
    let salt = SaltString::encode_b64(salt_bytes).map_err(Error::internal)?;
    argon()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(Error::internal)
}

/// Verifies a password against a stored PHC hash. A malformed hash never verifies.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random value, to compare against when the account does not exist, so that the
/// response time does not reveal which user names exist.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c3RhZHRrZXJuZHVtbXk$0WnTQzl1d1eCNqX1lKqzQm1H5Q3kC4sL2y5g9nV6bQ4"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rejects_short_common_and_name_passwords() {
        assert!(check_policy("kurz", &[]).is_err());
        assert!(check_policy("password1234", &[]).is_err());
        assert!(check_policy("123456789012", &[]).is_err());
        assert!(check_policy("qwertzuiop12", &[]).is_err());
        assert!(check_policy("mariaschmidt-2026!", &["mariaschmidt"]).is_err());
        assert!(check_policy("Grüne Laterne am Phoenixsee 7", &["anna"]).is_ok());
    }

    #[test]
    fn hash_and_verify_round_trip() {
        let h = hash("Grüne Laterne am Phoenixsee 7", &[3u8; 16]).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Grüne Laterne am Phoenixsee 7", &h));
        assert!(!verify("Grüne Laterne am Phoenixsee 8", &h));
        assert!(!verify("x", "not a hash"));
        assert!(!verify("anything", dummy_hash()));
    }

    #[test]
    fn the_dummy_hash_is_checked_as_slowly_as_a_real_one() {
        // If it did not parse, unknown user names would be answered at once and could be told
        // apart from existing ones by the response time.
        let parsed = PasswordHash::new(dummy_hash()).expect("the dummy hash parses");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let real = hash("Grüne Laterne am Phoenixsee 7", &[3u8; 16]).unwrap();
        assert_eq!(
            PasswordHash::new(&real).unwrap().params,
            parsed.params,
            "the dummy hash uses the same cost parameters"
        );
    }
}
