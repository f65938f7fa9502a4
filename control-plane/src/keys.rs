//! Publishable write keys: `siq_pk_` and 32 random base-62 characters (190 bits), from the
//! operating system's generator. The key is returned once; only its SHA-256 is stored.

use sha2::Digest;

/// Keys per tenant (several during a rotation, one per environment, ...).
pub const MAX_KEYS_PER_TENANT: usize = 16;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new publishable key.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut out = String::from("siq_pk_");
    let mut buf = [0u8; 64];
    while out.len() < 7 + 32 {
        getrandom::fill(&mut buf)?;
        // Rejection sampling: 248 = 4 × 62, so the kept bytes are uniform over the alphabet.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == 7 + 32 {
                break;
            }
            out.push(ALPHABET[usize::from(*b % 62)] as char);
        }
    }
    Ok(out)
}

/// The stored form: lowercase hex SHA-256 of the key (as the edge's `key_sha256`).
pub fn hash(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_publishable_distinct_and_hashed_like_the_edge() {
        let a = generate().expect("random");
        let b = generate().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.len(), 39);
        assert!(sentientiq_proto::WriteKey::parse(&a).is_ok(), "{a}");
        // The documented demo key's digest, as in deploy/edge.example.toml.
        assert_eq!(
            hash("siq_pk_demo_00000000000000000000"),
            "fd201facda5fb5fba65e6c90d80657ff6cbf5fb220890c8f950233a9982e579d"
        );
    }
}
