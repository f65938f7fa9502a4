//! One-click links: unguessable, signed, expiring.
//!
//! A token is `base64url(claims) "." base64url(HMAC-SHA256(key, "siq-link/1\n" ‖ claims))`,
//! unpadded, where `claims` is `alert|contact|delivery|scope|expiry` (expiry in Unix seconds;
//! ids never contain `|`, see [`crate::ids`]). The 256-bit tag makes tokens unguessable; it is
//! checked in constant time (`ring::hmac::verify`) before any claim is believed. The link is
//! `{base}/a/{token}`: the page (served by the edge or the plane) shows the alert and offers
//! the three actions, each a POST carrying the same token.
//!
//! A token is valid while `now < expiry` (at `expiry` itself it is expired). The delivery number
//! tells which message was clicked (and makes every message's link unique, which the Twilio
//! lookup relies on: see [`crate::channels::twilio`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use crate::ids::{AlertId, ContactId};

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// See the alert and take any action: the link every message carries.
    Respond,
    /// Acknowledge only ("I'm on it"), for a one-tap button.
    Acknowledge,
}

/// An action on the link page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    View,
    /// "I'm on it": stops the chain everywhere (PagerDuty included).
    Acknowledge,
    /// Push an intervention to the customer's live page through the edge holding the session.
    Intervene,
    /// Labels the detection a false positive (and resolves PagerDuty).
    FalseAlarm,
}

impl Scope {
    fn code(self) -> &'static str {
        match self {
            Scope::Respond => "r",
            Scope::Acknowledge => "a",
        }
    }

    fn from_code(s: &str) -> Option<Self> {
        match s {
            "r" => Some(Scope::Respond),
            "a" => Some(Scope::Acknowledge),
            _ => None,
        }
    }

    pub fn allows(self, action: Action) -> bool {
        match self {
            Scope::Respond => true,
            Scope::Acknowledge => matches!(action, Action::View | Action::Acknowledge),
        }
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub alert: AlertId,
    pub contact: ContactId,
    /// The delivery number within the alert (`DeliveryId` `{alert}-d{n}`).
    pub delivery: u32,
    pub scope: Scope,
    pub expires_s: u64,
}

/// Why a token was refused. Deliberately coarse: the page shows one message for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("malformed link")]
    Malformed,
    #[error("bad signature")]
    Signature,
    #[error("link expired")]
    Expired,
    #[error("link does not allow this action")]
    Scope,
    #[error("link key must be at least 32 bytes")]
    Key,
}

const DOMAIN: &[u8] = b"siq-link/1\n";

/// The server key for links (at least 32 bytes from the OS, held by the plane/edges).
pub struct LinkKey(hmac::Key);

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey([redacted])")
    }
}

impl LinkKey {
    pub fn new(key: &[u8]) -> Result<Self, LinkError> {
        if key.len() < 32 {
            return Err(LinkError::Key);
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, key)))
    }

    fn tag(&self, claims: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(DOMAIN);
        ctx.update(claims);
        ctx.sign()
    }

    pub fn sign(&self, c: &Claims) -> String {
        let claims = format!(
            "{}|{}|{}|{}|{}",
            c.alert,
            c.contact,
            c.delivery,
            c.scope.code(),
            c.expires_s
        );
        let tag = self.tag(claims.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// Checks the signature (constant time), then expiry, then that the scope allows `action`.
    pub fn verify(&self, token: &str, now_s: u64, action: Action) -> Result<Claims, LinkError> {
        let (c64, t64) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let claims = URL_SAFE_NO_PAD
            .decode(c64)
            .map_err(|_| LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(t64)
            .map_err(|_| LinkError::Malformed)?;
        let mut input = Vec::with_capacity(DOMAIN.len() + claims.len());
        input.extend_from_slice(DOMAIN);
        input.extend_from_slice(&claims);
        hmac::verify(&self.0, &input, &tag).map_err(|_| LinkError::Signature)?;
        let text = std::str::from_utf8(&claims).map_err(|_| LinkError::Malformed)?;
        let mut f = text.split('|');
        let mut next = || f.next().ok_or(LinkError::Malformed);
        let alert = AlertId::new(next()?).map_err(|_| LinkError::Malformed)?;
        let contact = ContactId::new(next()?).map_err(|_| LinkError::Malformed)?;
        let delivery = next()?.parse().map_err(|_| LinkError::Malformed)?;
        let scope = Scope::from_code(next()?).ok_or(LinkError::Malformed)?;
        let expires_s = next()?.parse().map_err(|_| LinkError::Malformed)?;
        let c = Claims {
            alert,
            contact,
            delivery,
            scope,
            expires_s,
        };
        if now_s >= c.expires_s {
            return Err(LinkError::Expired);
        }
        if !c.scope.allows(action) {
            return Err(LinkError::Scope);
        }
        Ok(c)
    }
}

/// Makes the links messages carry.
#[derive(Debug)]
pub struct Links {
    key: LinkKey,
    /// e.g. `https://alerts.example.com` (no trailing slash needed).
    base: String,
    /// How long a link stays valid after the alert opened.
    pub ttl_s: u64,
}

/// Links live a day by default: long enough for a chain to reach its last step and for the
/// false-alarm label to be given the next morning.
pub const DEFAULT_TTL_S: u64 = 24 * 3600;

impl Links {
    pub fn new(key: LinkKey, base: impl Into<String>) -> Self {
        let mut base: String = base.into();
        while base.ends_with('/') {
            base.pop();
        }
        Self {
            key,
            base,
            ttl_s: DEFAULT_TTL_S,
        }
    }

    pub fn key(&self) -> &LinkKey {
        &self.key
    }

    /// The link for delivery `n` of `alert` to `contact`, expiring `ttl_s` after `opened_ms`
    /// (so every retry of one message renders the same link, byte for byte).
    pub fn url(&self, alert: &AlertId, contact: &ContactId, n: u32, opened_ms: u64) -> String {
        let token = self.key.sign(&Claims {
            alert: alert.clone(),
            contact: contact.clone(),
            delivery: n,
            scope: Scope::Respond,
            expires_s: opened_ms / 1000 + self.ttl_s,
        });
        format!("{}/a/{token}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::new(&[42u8; 32]).expect("key")
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            alert: AlertId::new("al_1").expect("id"),
            contact: ContactId::new("csm-ana").expect("id"),
            delivery: 3,
            scope: Scope::Respond,
            expires_s: exp,
        }
    }

    #[test]
    fn valid_until_expiry_exclusive() {
        let k = key();
        let t = k.sign(&claims(1000));
        assert_eq!(k.verify(&t, 999, Action::Acknowledge), Ok(claims(1000)));
        assert_eq!(
            k.verify(&t, 1000, Action::Acknowledge),
            Err(LinkError::Expired)
        );
        assert_eq!(
            k.verify(&t, 1001, Action::Acknowledge),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn any_flipped_bit_is_refused() {
        let k = key();
        let t = k.sign(&claims(1000));
        let bytes = t.as_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.to_vec();
                b[i] ^= 1 << bit;
                let Ok(s) = String::from_utf8(b) else {
                    continue;
                };
                if s == t {
                    continue;
                }
                // base64 decoding is strict (no trailing bits, no padding), so any other text
                // is other bytes or no token at all.
                assert!(
                    k.verify(&s, 10, Action::View).is_err(),
                    "flip at {i}:{bit} verified"
                );
            }
        }
        // A flipped bit in the decoded tag or claims never verifies.
        let (c64, t64) = t.split_once('.').expect("dot");
        let mut tag = URL_SAFE_NO_PAD.decode(t64).expect("b64");
        tag[0] ^= 1;
        let forged = format!("{c64}.{}", URL_SAFE_NO_PAD.encode(&tag));
        assert_eq!(
            k.verify(&forged, 10, Action::View),
            Err(LinkError::Signature)
        );
        let mut cl = URL_SAFE_NO_PAD.decode(c64).expect("b64");
        let last = cl.len() - 1;
        cl[last] ^= 1; // expiry 1000 -> 1001
        let forged = format!("{}.{t64}", URL_SAFE_NO_PAD.encode(&cl));
        assert_eq!(
            k.verify(&forged, 10, Action::View),
            Err(LinkError::Signature)
        );
    }

    #[test]
    fn another_key_is_refused_and_scopes_hold() {
        let t = key().sign(&claims(1000));
        let other = LinkKey::new(&[43u8; 32]).expect("key");
        assert_eq!(
            other.verify(&t, 10, Action::View),
            Err(LinkError::Signature)
        );
        let mut c = claims(1000);
        c.scope = Scope::Acknowledge;
        let t = key().sign(&c);
        assert!(key().verify(&t, 10, Action::Acknowledge).is_ok());
        assert_eq!(
            key().verify(&t, 10, Action::FalseAlarm),
            Err(LinkError::Scope)
        );
        assert_eq!(
            key().verify(&t, 10, Action::Intervene),
            Err(LinkError::Scope)
        );
        assert_eq!(
            key().verify("nodot", 10, Action::View),
            Err(LinkError::Malformed)
        );
        assert!(LinkKey::new(&[1u8; 31]).is_err());
    }

    #[test]
    fn links_are_stable_per_message_and_unique_per_delivery() {
        let l = Links::new(key(), "https://alerts.example.com/");
        let a = AlertId::new("al_1").expect("id");
        let c = ContactId::new("csm").expect("id");
        let u1 = l.url(&a, &c, 1, 1_700_000_000_500);
        assert_eq!(u1, l.url(&a, &c, 1, 1_700_000_000_500));
        assert_ne!(u1, l.url(&a, &c, 2, 1_700_000_000_500));
        assert!(u1.starts_with("https://alerts.example.com/a/"));
        let token = u1.rsplit('/').next().expect("token");
        let got = l
            .key()
            .verify(token, 1_700_000_000, Action::View)
            .expect("valid");
        assert_eq!(got.expires_s, 1_700_000_000 + DEFAULT_TTL_S);
    }
}
