//! The checks every session start goes through, whatever carries it (WebSocket, beacon,
//! QUIC): the tenant comes from the write key only, and a browser's origin must be allowed.

use sentientiq_proto::ErrorCode;

use crate::tenants::{Tenants, origin_allowed};

/// Where a session comes from, as far as origin checks go.
#[derive(Debug, Clone, Copy)]
pub enum From<'a> {
    /// A browser-reachable transport (WebSocket, beacon): its `Origin` header, if any.
    Web(Option<&'a str>),
    /// QUIC: page scripts cannot open raw QUIC connections, so there is no origin to check.
    Quic,
}

/// Why a session start was refused: the code and a message for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub msg: &'static str,
}

/// The index of the tenant whose key has this SHA-256, if it may send from `from`.
pub fn tenant_for(tenants: &Tenants, key_h: &[u8; 32], from: From<'_>) -> Result<usize, Refusal> {
    let Some(ti) = tenants.by_key_hash(key_h) else {
        return Err(Refusal {
            code: ErrorCode::BadKey,
            msg: "unknown or revoked write key",
        });
    };
    if let From::Web(origin) = from
        && !origin_allowed(tenants.get(ti), origin)
    {
        return Err(Refusal {
            code: ErrorCode::Origin,
            msg: "origin not allowed for this key",
        });
    }
    Ok(ti)
}

/// Whether a session opened with this key for tenant `ti` may go on under a new directory
/// (the key may have been revoked, or the tenant removed, since).
pub fn still_valid(tenants: &Tenants, key_h: &[u8; 32], ti: usize) -> bool {
    tenants.by_key_hash(key_h) == Some(ti)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_tenant::{TenantSpec, key_hash};

    fn tenants() -> Tenants {
        let mut a = TenantSpec::new("a");
        a.key_sha256 = vec![hex::encode(key_hash("siq_pk_a"))];
        a.allowed_origins = vec!["https://shop.example".into()];
        let mut b = TenantSpec::new("b");
        b.key_sha256 = vec![hex::encode(key_hash("siq_pk_b"))];
        b.allowed_origins = vec!["*".into()];
        let mut c = TenantSpec::new("c");
        c.key_sha256 = vec![hex::encode(key_hash("siq_pk_c"))];
        c.allowed_origins = vec![
            "capacitor://localhost/".into(),
            "chrome-extension://abcdefghijklmnopabcdefghijklmnop".into(),
        ];
        Tenants::new(vec![
            a.validate().expect("a"),
            b.validate().expect("b"),
            c.validate().expect("c"),
        ])
    }

    /// An app's or extension's origin matches as a web origin does: whole, any case, a stored
    /// trailing `/` ignored; another app's, or a web page's, does not.
    #[test]
    fn an_apps_origin_matches_whole() {
        let t = tenants();
        let c = key_hash("siq_pk_c");
        for o in [
            "capacitor://localhost",
            "Capacitor://LOCALHOST",
            "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
        ] {
            assert_eq!(tenant_for(&t, &c, From::Web(Some(o))), Ok(2), "{o}");
        }
        for o in [
            "ionic://localhost",
            "capacitor://localhost.evil.example",
            "chrome-extension://bbcdefghijklmnopabcdefghijklmnop",
            "https://localhost",
            "null",
        ] {
            assert_eq!(
                tenant_for(&t, &c, From::Web(Some(o))).map_err(|r| r.code),
                Err(ErrorCode::Origin),
                "{o}"
            );
        }
    }

    #[test]
    fn the_key_names_the_tenant_and_the_origin_must_be_allowed() {
        let t = tenants();
        let (a, b) = (key_hash("siq_pk_a"), key_hash("siq_pk_b"));
        assert_eq!(
            tenant_for(&t, &a, From::Web(Some("https://shop.example"))),
            Ok(0)
        );
        assert_eq!(
            tenant_for(&t, &a, From::Web(Some("https://evil.example"))).map_err(|r| r.code),
            Err(ErrorCode::Origin)
        );
        assert_eq!(
            tenant_for(&t, &a, From::Web(None)).map_err(|r| r.code),
            Err(ErrorCode::Origin),
            "no origin: only where `*` is allowed"
        );
        assert_eq!(tenant_for(&t, &b, From::Web(None)), Ok(1));
        assert_eq!(tenant_for(&t, &a, From::Quic), Ok(0), "QUIC has no origin");
        assert_eq!(
            tenant_for(&t, &key_hash("siq_pk_x"), From::Quic).map_err(|r| r.code),
            Err(ErrorCode::BadKey)
        );
        assert!(still_valid(&t, &a, 0));
        assert!(!still_valid(&t.replaced_by(vec![]), &a, 0), "revoked");
    }
}
