//! Credentials: typed per channel, each holding a [`Secret`] (redacted in every `Debug`,
//! `Display` and `Serialize`: the `sentientiq-secret` crate), and sealed (AES-256-GCM) wherever
//! they rest outside the control plane.
//!
//! Every type here checks its value's format when it is read, from its plain string (config,
//! the plane's messages), and prints as its name and `[redacted]`. [`Secret::expose`] reveals
//! a value to the request builders in [`crate::channels`] and to the plane's check of webhook
//! URLs for invisible characters. To store credentials, seal the bytes the plane sent with a
//! [`SealingKey`].
//!
//! ## Sealed format (version 1)
//!
//! ```text
//! offset  size  field
//! 0       4     magic "SIQS"
//! 4       1     version = 1
//! 5       12    nonce (random from the OS for every seal)
//! 17      n+16  AES-256-GCM(key, nonce, aad = caller's context, plaintext) = ciphertext ‖ tag
//! ```
//! The key is 32 bytes the operator provides as 64 hex digits or standard base64 (an
//! environment variable or a file; [`SealingKey::parse`] trims whitespace). The associated data
//! binds a sealed blob to its use (for example `b"lkg/v1"`), so a blob cannot be moved to
//! another slot. Golden test: `sealed_format_is_pinned`.

use std::fmt;

use base64::Engine as _;
use ring::aead;
use ring::rand::{SecureRandom, SystemRandom};
use sentientiq_secret::{REDACTED, Secret};
use serde::{Deserialize, Serialize};

/// A short non-secret fingerprint of a credential (first 8 bytes of SHA-256, hex) for rate-limit
/// keys and metrics labels: two equal secrets share it, the secret cannot be recovered from it.
pub fn fingerprint(secret: &Secret) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.expose().as_bytes());
    hex::encode(&d.as_ref()[..8])
}

/// Why a credential was refused. Never contains the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{0}: wrong format")]
    Format(&'static str),
    #[error("sealing key: need 32 bytes as 64 hex digits or base64")]
    Key,
    #[error("sealed data: too short, wrong magic or unknown version")]
    Envelope,
    #[error("sealed data: authentication failed (wrong key, context or corrupted)")]
    Open,
    #[error("the OS random source failed")]
    Random,
}

macro_rules! secret_type {
    ($(#[$m:meta])* $name:ident, $check:expr) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(Secret);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, SecretError> {
                let s: String = s.into();
                let check: fn(&str) -> bool = $check;
                if check(&s) {
                    Ok(Self(Secret::new(s)))
                } else {
                    Err(SecretError::Format(stringify!($name)))
                }
            }

            pub fn secret(&self) -> &Secret {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = SecretError;
            fn try_from(s: String) -> Result<Self, SecretError> {
                Self::new(s)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({REDACTED})", stringify!($name))
            }
        }
    };
}

/// An http(s) URL that is a credential: [`sentientiq_url::check_secret`] (credentials in it
/// are allowed, it is never shown).
fn is_http_url(s: &str) -> bool {
    sentientiq_url::check_secret(s).is_ok()
}

secret_type!(
    /// A Slack incoming-webhook URL (`https://hooks.slack.com/services/T…/B…/…`): the URL is
    /// the credential. Any http(s) URL is accepted so a proxy or a test stub can stand in.
    SlackWebhookUrl,
    is_http_url
);
secret_type!(
    /// A Slack bot token for `chat.postMessage`: `xoxb-…`.
    SlackBotToken,
    |s| s.starts_with("xoxb-") && s.len() > 5 && s.bytes().all(|b| b.is_ascii_graphic())
);
secret_type!(
    /// A Twilio Auth Token or API key secret (the password half of HTTP Basic).
    TwilioSecret,
    |s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
);
secret_type!(
    /// A PagerDuty Events API v2 routing (integration) key: 32 characters (PagerDuty
    /// developer docs, "Send an Alert Event": "the 32 character Integration Key").
    PagerDutyRoutingKey,
    |s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric())
);
secret_type!(
    /// A customer's webhook endpoint URL (it may embed a token).
    WebhookUrl,
    is_http_url
);

/// A Standard Webhooks symmetric signing secret: `whsec_` + base64 of 24..=64 random bytes
/// (the spec: "at least 24 bytes (192 bits, 512 maximum)"). Holds the decoded key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct WebhookSecret {
    #[serde(skip)]
    key: Box<[u8]>,
    text: Secret,
}

impl WebhookSecret {
    pub fn new(s: impl Into<String>) -> Result<Self, SecretError> {
        let s: String = s.into();
        let b64 = s
            .strip_prefix("whsec_")
            .ok_or(SecretError::Format("WebhookSecret"))?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| SecretError::Format("WebhookSecret"))?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Format("WebhookSecret"));
        }
        Ok(Self {
            key: key.into_boxed_slice(),
            text: Secret::new(s),
        })
    }

    /// The HMAC key: the base64-decoded part after `whsec_`.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn secret(&self) -> &Secret {
        &self.text
    }
}

impl TryFrom<String> for WebhookSecret {
    type Error = SecretError;
    fn try_from(s: String) -> Result<Self, SecretError> {
        Self::new(s)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecret({REDACTED})")
    }
}

/// The operator's key for secrets at rest.
pub struct SealingKey(aead::LessSafeKey);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKey({REDACTED})")
    }
}

const MAGIC: &[u8; 4] = b"SIQS";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + aead::NONCE_LEN;

impl SealingKey {
    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        let k = aead::UnboundKey::new(&aead::AES_256_GCM, key).map_err(|_| SecretError::Key)?;
        Ok(Self(aead::LessSafeKey::new(k)))
    }

    /// 64 hex digits or base64 (standard alphabet) of 32 bytes; surrounding whitespace ignored.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SecretError::Key)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(|_| SecretError::Key)?
        };
        if bytes.len() != 32 {
            return Err(SecretError::Key);
        }
        Self::from_bytes(&bytes)
    }

    /// Seals `plaintext` under a fresh random nonce.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SecretError> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SecretError::Random)?;
        self.seal_with_nonce(nonce, aad, plaintext)
    }

    /// Seals with a given nonce: for the golden test only. A nonce must never repeat under
    /// one key; [`SealingKey::seal`] draws it from the OS.
    #[doc(hidden)]
    pub fn seal_with_nonce(
        &self,
        nonce: [u8; aead::NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SecretError> {
        let mut out = Vec::with_capacity(HEADER + plaintext.len() + aead::AES_256_GCM.tag_len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                &mut body,
            )
            .map_err(|_| SecretError::Open)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens what [`SealingKey::seal`] produced with the same key and `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < HEADER + aead::AES_256_GCM.tag_len()
            || &sealed[..4] != MAGIC
            || sealed[4] != VERSION
        {
            return Err(SecretError::Envelope);
        }
        let nonce = aead::Nonce::try_assume_unique_for_key(&sealed[5..HEADER])
            .map_err(|_| SecretError::Envelope)?;
        let mut body = sealed[HEADER..].to_vec();
        let n = self
            .0
            .open_in_place(nonce, aead::Aad::from(aad), &mut body)
            .map_err(|_| SecretError::Open)?
            .len();
        body.truncate(n);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let t = SlackBotToken::new("xoxb-123-abc").expect("valid");
        assert_eq!(format!("{t:?}"), "SlackBotToken([redacted])");
        assert_eq!(format!("{}", t.secret()), "[redacted]");
        assert_eq!(serde_json::to_string(&t).expect("json"), "\"[redacted]\"");
        let w = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
        assert!(!format!("{w:?}").contains("MfKQ"));
        assert!(!serde_json::to_string(&w).expect("json").contains("MfKQ"));
    }

    #[test]
    fn credentials_deserialize_from_plain_strings_and_validate() {
        let k: PagerDutyRoutingKey =
            serde_json::from_str("\"R0123456789abcdef0123456789abcde\"").expect("32 chars");
        assert_eq!(k.secret().expose().len(), 32);
        assert!(serde_json::from_str::<PagerDutyRoutingKey>("\"short\"").is_err());
        assert!(SlackBotToken::new("xoxp-user-token").is_err());
        assert!(SlackWebhookUrl::new("ftp://x").is_err());
        // Webhook URLs are the one URL check's, as secrets: credentials in them are allowed,
        // a missing host or a URL past its length is not.
        assert!(WebhookUrl::new("https://user:token@ops.example.com/hook").is_ok());
        assert!(WebhookUrl::new("https:///hook").is_err());
        let long = |n: usize| format!("https://h/{}", "a".repeat(n - "https://h/".len()));
        assert!(WebhookUrl::new(long(sentientiq_url::MAX_LEN - 1)).is_ok());
        assert!(WebhookUrl::new(long(sentientiq_url::MAX_LEN)).is_ok());
        assert!(WebhookUrl::new(long(sentientiq_url::MAX_LEN + 1)).is_err());
        assert!(
            WebhookSecret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err(),
            "needs whsec_"
        );
        // 24 bytes is the spec's minimum, 23 is refused.
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        assert!(WebhookSecret::new(format!("whsec_{}", b64(23))).is_err());
        assert!(WebhookSecret::new(format!("whsec_{}", b64(24))).is_ok());
        assert!(WebhookSecret::new(format!("whsec_{}", b64(64))).is_ok());
        assert!(WebhookSecret::new(format!("whsec_{}", b64(65))).is_err());
    }

    #[test]
    fn fingerprints_are_stable_and_do_not_reveal() {
        let a = Secret::new("https://hooks.slack.com/services/T/B/x");
        assert_eq!(fingerprint(&a), fingerprint(&Secret::new(a.expose())));
        assert_eq!(fingerprint(&a).len(), 16);
        assert!(fingerprint(&a).bytes().all(|b| b.is_ascii_hexdigit()));
        let other = Secret::new("https://hooks.slack.com/services/T/B/y");
        assert_ne!(fingerprint(&a), fingerprint(&other));
        // SHA-256 of the value's bytes, its first 8 bytes in hex (a fixed vector: `printf %s
        // abc | sha256sum` starts ba7816bf8f01cfea).
        assert_eq!(fingerprint(&Secret::new("abc")), "ba7816bf8f01cfea");
    }

    #[test]
    fn sealing_keys_parse_from_hex_and_base64() {
        let hexkey = "00".repeat(31) + "01";
        assert!(SealingKey::parse(&format!("  {hexkey}\n")).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(SealingKey::parse(&b64).is_ok());
        assert_eq!(SealingKey::parse("abcd").err(), Some(SecretError::Key));
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        assert_eq!(SealingKey::parse(&short).err(), Some(SecretError::Key));
    }

    #[test]
    fn sealed_format_is_pinned() {
        // Golden: key 0x00..0x1f, nonce 0xa0..0xab, aad "lkg/v1", plaintext below.
        let key: Vec<u8> = (0u8..32).collect();
        let k = SealingKey::from_bytes(&key).expect("key");
        let nonce: [u8; 12] = core::array::from_fn(|i| 0xa0 + i as u8);
        let sealed = k
            .seal_with_nonce(nonce, b"lkg/v1", b"xoxb-secret")
            .expect("seal");
        assert_eq!(
            hex::encode(&sealed),
            include_str!("../tests/fixtures/sealed_v1.hex").trim(),
            "the sealed format changed: bump VERSION and keep opening version 1"
        );
        assert_eq!(&sealed[..5], b"SIQS\x01");
        assert_eq!(sealed.len(), 5 + 12 + 11 + 16);
        assert_eq!(k.open(b"lkg/v1", &sealed).expect("open"), b"xoxb-secret");
    }

    #[test]
    fn sealing_detects_tampering_wrong_key_and_context() {
        let k = SealingKey::from_bytes(&[9u8; 32]).expect("key");
        let sealed = k.seal(b"ctx", b"routing-key").expect("seal");
        let again = k.seal(b"ctx", b"routing-key").expect("seal");
        assert_ne!(sealed, again, "every seal draws a fresh nonce");
        assert_eq!(k.open(b"ctx", &sealed).expect("open"), b"routing-key");
        assert_eq!(k.open(b"other", &sealed).err(), Some(SecretError::Open));
        let other = SealingKey::from_bytes(&[8u8; 32]).expect("key");
        assert_eq!(other.open(b"ctx", &sealed).err(), Some(SecretError::Open));
        for i in 5..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert_eq!(
                k.open(b"ctx", &t).err(),
                Some(SecretError::Open),
                "byte {i}"
            );
        }
        let mut bad = sealed.clone();
        bad[4] = 2;
        assert_eq!(k.open(b"ctx", &bad).err(), Some(SecretError::Envelope));
        assert_eq!(
            k.open(b"ctx", &sealed[..20]).err(),
            Some(SecretError::Envelope)
        );
    }
}
