//! Object keys: `<prefix>/<table>/tenant=<id>/date=YYYY-MM-DD/hour=HH/region=<r>/<edge>-<shard>-<first lsn>.parquet`.
//! Names are deterministic (a file covers one spool segment's rows of one partition), so a
//! retried upload rewrites the same key and the lake never holds a row twice.

/// The partition a row belongs to: tenant and the UTC hour of its server receive time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub tenant: String,
    /// Hours since the Unix epoch (UTC).
    pub hour: u64,
}

impl Partition {
    pub fn of(tenant: &str, recv_ms: u64) -> Partition {
        Partition {
            tenant: tenant.to_string(),
            hour: recv_ms / 3_600_000,
        }
    }
}

pub use sentientiq_proto::civil_date;

/// The object key of one file.
pub fn object_key(
    prefix: &str,
    table: &str,
    p: &Partition,
    region: &str,
    edge: &str,
    shard: usize,
    first_lsn: u64,
) -> String {
    let (y, m, d) = civil_date((p.hour / 24) as i64);
    let prefix = prefix.trim_matches('/');
    let sep = if prefix.is_empty() { "" } else { "/" };
    format!(
        "{prefix}{sep}{table}/tenant={}/date={y:04}-{m:02}-{d:02}/hour={:02}/region={region}/{edge}-{shard}-{first_lsn:020}.parquet",
        p.tenant,
        p.hour % 24
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_414), (2025, 11, 22));
        assert_eq!(civil_date(20_779), (2026, 11, 22));
    }

    #[test]
    fn keys_are_hive_style_and_deterministic() {
        // 2026-11-22T13:05:00Z
        let p = Partition::of("demo", 1_795_352_700_000);
        let k = object_key("lake/", "events", &p, "us-east-1", "edge-1", 1, 4096);
        assert_eq!(
            k,
            "lake/events/tenant=demo/date=2026-11-22/hour=13/region=us-east-1/edge-1-1-00000000000000004096.parquet"
        );
        assert_eq!(
            object_key("", "events", &p, "r", "e", 0, 0),
            "events/tenant=demo/date=2026-11-22/hour=13/region=r/e-0-00000000000000000000.parquet"
        );
    }
}
