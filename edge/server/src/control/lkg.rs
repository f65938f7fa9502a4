//! The last-known-good tenant set: the last version the plane gave, and the version kept in
//! force of each tenant this edge refuses the plane's version of, kept under
//! `data_dir/control/` so an edge started while the plane is down serves what it served (keys
//! revoked before the outage stay revoked).

use std::path::Path;

use prost::Message;
use sentientiq_alerts::secret::SealingKey;
use sentientiq_proto::grpc::{ConfigUpdate, KeptTenants, Tenant};

use super::Error;
use super::feed::Synced;

/// File name of the last-known-good tenant set under `data_dir/control/`.
pub const LKG_FILE: &str = "last-known-good.bin";
const LKG_MAGIC: &[u8; 8] = b"SIQLKG\x00\x01";

/// The additional data a tenant's sealed alerting config is bound to: it opens only as that
/// tenant's, in this file.
fn aad(tenant: &str) -> Vec<u8> {
    [b"siq-lkg-alerts/1\n".as_slice(), tenant.as_bytes()].concat()
}

/// A tenant as the file keeps it: its alerting config (vendor credentials) sealed with the
/// operator's key into `alerts_sealed` (AES-256-GCM, `sentientiq_alerts::secret::SealingKey`),
/// never in the clear; without a key it is not kept at all (an edge restarted while the plane
/// is down then records its escalations without delivering them, and says so).
fn at_rest(t: &Tenant, key: Option<&SealingKey>) -> Tenant {
    let mut t = t.clone();
    if !t.alerts_toml.is_empty() {
        t.alerts_sealed = key
            .and_then(|k| k.seal(&aad(&t.id), t.alerts_toml.as_bytes()).ok())
            .unwrap_or_default();
        t.alerts_toml.clear();
    }
    t
}

/// The file's bytes: magic `SIQLKG\0\x01`, CRC-32 (IEEE, u32 LE) of the body, body length
/// (u32 LE), body = a protobuf `ConfigUpdate` {version, full_snapshot = true, upserted = the
/// plane's tenants in id order} followed by a protobuf `KeptTenants` {kept (field 100) = the
/// versions kept in force, in id order; nothing when there are none}, each tenant's
/// `alerts_toml` sealed into `alerts_sealed` with `key`, or dropped without one. The two read
/// as one message: an edge that predates `kept` reads the plane's version alone.
pub fn encode_lkg(s: &Synced, key: Option<&SealingKey>) -> Vec<u8> {
    let mut body = ConfigUpdate {
        version: s.version,
        full_snapshot: true,
        upserted: s.tenants.values().map(|t| at_rest(t, key)).collect(),
        ..ConfigUpdate::default()
    }
    .encode_to_vec();
    body.extend(
        KeptTenants {
            kept: s.kept.values().map(|t| at_rest(t, key)).collect(),
        }
        .encode_to_vec(),
    );
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(LKG_MAGIC);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes the file; each tenant's sealed alerting config is opened with `key` (without the
/// key, or if it does not open, the tenant comes back without it, logged).
pub fn decode_lkg(bytes: &[u8], key: Option<&SealingKey>) -> Result<Synced, String> {
    if bytes.len() < 16 || &bytes[..8] != LKG_MAGIC {
        return Err("not a last-known-good file (magic)".into());
    }
    let crc = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    let body = &bytes[16..];
    if body.len() != len {
        return Err(format!("body is {} bytes, header says {len}", body.len()));
    }
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    let u = ConfigUpdate::decode(body).map_err(|e| format!("body: {e}"))?;
    let k = KeptTenants::decode(body).map_err(|e| format!("kept tenants: {e}"))?;
    let by_id = |list: Vec<Tenant>| {
        list.into_iter()
            .map(|t| (t.id.clone(), in_memory(t, key)))
            .collect()
    };
    Ok(Synced {
        version: u.version,
        tenants: by_id(u.upserted),
        kept: by_id(k.kept),
    })
}

/// A tenant as read from the file: its sealed alerting config opened with `key` (without the
/// key, or if it does not open, the tenant comes back without it, logged).
fn in_memory(mut t: Tenant, key: Option<&SealingKey>) -> Tenant {
    if !t.alerts_sealed.is_empty() {
        let opened = key
            .ok_or("no SIQ_SECRETS_KEY".to_string())
            .and_then(|k| {
                k.open(&aad(&t.id), &t.alerts_sealed)
                    .map_err(|e| e.to_string())
            })
            .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()));
        match opened {
            Ok(toml) => t.alerts_toml = toml,
            Err(e) => {
                tracing::error!(tenant = %t.id, error = %e, "last-known-good: the tenant's alerting config cannot be unsealed; its escalations are recorded, not delivered, until the plane answers")
            }
        }
        t.alerts_sealed.clear();
    }
    t
}

/// Reads `dir/last-known-good.bin`; `Ok(None)` when there is none.
pub fn load_lkg(dir: &Path, key: Option<&SealingKey>) -> Result<Option<Synced>, Error> {
    let path = dir.join(LKG_FILE);
    match std::fs::read(&path) {
        Ok(b) => decode_lkg(&b, key).map(Some).map_err(|why| Error::Lkg {
            path: path.display().to_string(),
            why,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes the file durably: temporary file, fsync, rename, fsync of the directory.
pub fn save_lkg(dir: &Path, s: &Synced, key: Option<&SealingKey>) -> Result<(), Error> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{LKG_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&encode_lkg(s, key))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(LKG_FILE))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_proto::grpc::Tenant as PlaneTenant;

    fn t(id: &str, key: &str) -> PlaneTenant {
        PlaneTenant {
            id: id.into(),
            key_hashes: vec![key.into()],
            allowed_origins: vec!["*".into()],
            ..PlaneTenant::default()
        }
    }

    #[test]
    fn the_last_known_good_file_round_trips_and_refuses_damage() {
        let mut s = Synced {
            version: 42,
            ..Synced::default()
        };
        s.tenants.insert("a".into(), t("a", &"ab".repeat(32)));
        let bytes = encode_lkg(&s, None);
        assert_eq!(decode_lkg(&bytes, None).expect("decode"), s);
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(
            decode_lkg(&bad, None)
                .expect_err("crc")
                .contains("checksum")
        );
        assert!(
            decode_lkg(&bytes[..bytes.len() - 1], None).is_err(),
            "truncated"
        );
        assert!(
            decode_lkg(b"SIQLKG\x00\x02xxxxxxxx", None).is_err(),
            "other version"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load_lkg(dir.path(), None).expect("none"), None);
        save_lkg(dir.path(), &s, None).expect("save");
        assert_eq!(load_lkg(dir.path(), None).expect("load"), Some(s));
    }

    #[test]
    fn the_last_known_good_format_matches_its_golden_fixture() {
        let mut s = Synced {
            version: 3,
            ..Synced::default()
        };
        let mut a = t(
            "acme",
            "fd201facda5fb5fba65e6c90d80657ff6cbf5fb220890c8f950233a9982e579d",
        );
        a.emit = true;
        s.tenants.insert("acme".into(), a);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lkg-v1.bin");
        if std::env::var_os("SIQ_BLESS").is_some() {
            std::fs::write(path, encode_lkg(&s, None)).expect("bless");
        }
        let golden = std::fs::read(path).expect("fixture (SIQ_BLESS=1 writes it)");
        assert_eq!(encode_lkg(&s, None), golden);
        assert_eq!(decode_lkg(&golden, None).expect("decode"), s);
    }

    /// The versions kept in force ride after the plane's version: this edge reads both back,
    /// an edge that predates them reads the plane's version alone (as it always did), and
    /// their alerting secrets are sealed like the plane's.
    #[test]
    fn kept_versions_follow_the_plane_version_and_an_older_reader_skips_them() {
        let mut s = Synced {
            version: 4,
            ..Synced::default()
        };
        let hash = "fd201facda5fb5fba65e6c90d80657ff6cbf5fb220890c8f950233a9982e579d";
        let mut plane = t("acme", hash);
        plane.lake = Some(sentientiq_proto::grpc::LakeDestination {
            bucket: "acme-own-lake".into(),
            ..Default::default()
        });
        s.tenants.insert("acme".into(), plane.clone());
        s.tenants.insert("zeta".into(), t("zeta", hash));
        s.kept.insert("acme".into(), t("acme", hash));
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/lkg-v1-kept.bin"
        );
        if std::env::var_os("SIQ_BLESS").is_some() {
            std::fs::write(path, encode_lkg(&s, None)).expect("bless");
        }
        let golden = std::fs::read(path).expect("fixture (SIQ_BLESS=1 writes it)");
        assert_eq!(encode_lkg(&s, None), golden);
        assert_eq!(decode_lkg(&golden, None).expect("decode"), s);
        // What an edge without `kept` decodes: the plane's version, nothing else.
        let old = ConfigUpdate::decode(&golden[16..]).expect("an older edge's read");
        assert_eq!(
            (old.version, old.upserted),
            (4, vec![plane, t("zeta", hash)])
        );
        // The file written before `kept` reads as nothing kept.
        let v1 = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lkg-v1.bin");
        let before = decode_lkg(&std::fs::read(v1).expect("fixture"), None).expect("decode");
        assert!(before.kept.is_empty() && before.tenants.contains_key("acme"));
        // Sealed at rest, opened only with the key.
        let mut kept = t("acme", hash);
        kept.alerts_toml = "[providers]\nslack_bot_token = \"xoxb-kept-secret\"\n".into();
        s.kept.insert("acme".into(), kept);
        let key = SealingKey::from_bytes(&[9u8; 32]).expect("key");
        let bytes = encode_lkg(&s, Some(&key));
        assert!(!String::from_utf8_lossy(&bytes).contains("xoxb-kept-secret"));
        assert_eq!(decode_lkg(&bytes, Some(&key)).expect("open"), s);
        assert_eq!(
            decode_lkg(&bytes, None).expect("decode").kept["acme"].alerts_toml,
            ""
        );
    }

    proptest::proptest! {
        /// Any bytes: an error or a set, never a panic; a set only from intact bytes.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_lkg(&bytes, None);
            let mut framed = LKG_MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = decode_lkg(&framed, None);
        }

        /// Round trip for any tenant ids, kept versions and version; any single flipped bit is
        /// refused.
        #[test]
        fn round_trip_and_every_flipped_bit_is_refused(
            version in 0u64..u64::MAX,
            ids in proptest::collection::btree_set("[a-z0-9_-]{1,12}", 0..5),
            kept in proptest::collection::vec(proptest::bool::ANY, 5),
            flip in 0usize..4096,
        ) {
            let mut s = Synced { version, ..Synced::default() };
            for (id, k) in ids.into_iter().zip(kept) {
                s.tenants.insert(id.clone(), t(&id, &"cd".repeat(32)));
                if k {
                    s.kept.insert(id.clone(), t(&id, &"ab".repeat(32)));
                }
            }
            let bytes = encode_lkg(&s, None);
            proptest::prop_assert_eq!(decode_lkg(&bytes, None), Ok(s));
            let mut bad = bytes.clone();
            let bit = flip % (bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            proptest::prop_assert!(decode_lkg(&bad, None).is_err());
        }
    }

    #[test]
    fn alerting_secrets_are_sealed_at_rest_and_open_only_with_the_key_as_that_tenant() {
        let toml = "[providers]\nslack_bot_token = \"xoxb-super-secret\"\n";
        let mut s = Synced {
            version: 7,
            ..Synced::default()
        };
        let mut a = t("a", &"ab".repeat(32));
        a.alerts_toml = toml.into();
        s.tenants.insert("a".into(), a);
        let key = SealingKey::from_bytes(&[9u8; 32]).expect("key");
        let bytes = encode_lkg(&s, Some(&key));
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains("xoxb-super-secret"), "never in the clear");
        assert_eq!(decode_lkg(&bytes, Some(&key)).expect("open"), s);
        // Without the key, or with another, the tenant comes back without its alerting config.
        let other = SealingKey::from_bytes(&[8u8; 32]).expect("key");
        for k in [None, Some(&other)] {
            let d = decode_lkg(&bytes, k).expect("decode");
            assert_eq!(d.tenants["a"].alerts_toml, "");
            assert!(d.tenants["a"].alerts_sealed.is_empty());
        }
        // Sealed as tenant `a`, it does not open as tenant `b`.
        let mut moved = decode_lkg(&encode_lkg(&s, Some(&key)), None).expect("decode");
        assert_eq!(moved.tenants["a"].alerts_toml, "");
        let sealed = at_rest(&s.tenants["a"], Some(&key));
        let mut b = sealed.clone();
        b.id = "b".into();
        moved.tenants.insert("b".into(), b);
        let again = decode_lkg(&encode_lkg(&moved, None), Some(&key)).expect("decode");
        assert_eq!(again.tenants["b"].alerts_toml, "", "bound to its tenant");
        // No key: nothing of it is kept at all.
        let plain = encode_lkg(&s, None);
        assert!(!String::from_utf8_lossy(&plain).contains("xoxb"));
        assert_eq!(
            decode_lkg(&plain, Some(&key)).expect("decode").tenants["a"].alerts_toml,
            ""
        );
    }
}
