//! Identifiers. An alert's id is the PagerDuty `dedup_key`; a delivery's id is the Standard
//! Webhooks `webhook-id`. Both are stable across retries and restarts, so receivers can dedupe.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {why}")]
pub struct IdError {
    pub what: &'static str,
    pub why: &'static str,
}

fn check(what: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() || s.len() > max {
        return Err(IdError {
            what,
            why: "too short or too long",
        });
    }
    // No `.`: the Standard Webhooks signature input is `{id}.{timestamp}.{body}`, and the spec
    // asks that ids carry no full stop. No `|`: the link token's field separator.
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(IdError {
            what,
            why: "only A-Z a-z 0-9 _ - are allowed",
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Box<str>);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s: String = s.into();
                check($what, &s, $max)?;
                Ok(Self(s.into_boxed_str()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.into()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

id_type!(
    /// One alert: `[A-Za-z0-9_-]{1,64}`. Made by the caller before the alert is first persisted
    /// (for example [`AlertId::from_random`] with 16 bytes from the OS).
    AlertId,
    "alert id",
    64
);
id_type!(
    /// A person (or a team inbox) that can be paged.
    ContactId,
    "contact id",
    64
);
id_type!(
    /// One message to one address: `{alert}-d{n}`. The same across the attempts of the message.
    DeliveryId,
    "delivery id",
    80
);

impl AlertId {
    /// `al_` followed by the 16 bytes in unpadded base64url (22 characters).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        use base64::Engine as _;
        let s = format!(
            "al_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        Self(s.into_boxed_str())
    }
}

impl DeliveryId {
    /// The `n`th delivery of `alert`. Alert ids are at most 64 bytes, so this stays short
    /// enough for every receiver (PagerDuty takes 255, Standard Webhooks has no limit).
    pub fn of(alert: &AlertId, n: u32) -> Self {
        Self(format!("{alert}-d{n}").into_boxed_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_separators_and_bounds() {
        assert!(AlertId::new("al_x-1").is_ok());
        assert!(AlertId::new("a.b").is_err());
        assert!(AlertId::new("a|b").is_err());
        assert!(AlertId::new("").is_err());
        assert!(AlertId::new("a".repeat(63)).is_ok());
        assert!(AlertId::new("a".repeat(64)).is_ok());
        assert!(AlertId::new("a".repeat(65)).is_err());
    }

    #[test]
    fn random_alert_ids_are_url_safe() {
        let id = AlertId::from_random([0xff; 16]);
        assert_eq!(id.as_str(), "al______________________w");
        assert!(AlertId::new(id.as_str()).is_ok());
        assert_eq!(
            DeliveryId::of(&id, 3).as_str(),
            "al______________________w-d3"
        );
    }
}
