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
            hour: Partition::hour_of(recv_ms),
        }
    }

    /// The hour (since the Unix epoch, UTC) a receive time falls in.
    pub fn hour_of(recv_ms: u64) -> u64 {
        recv_ms / 3_600_000
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
    format!(
        "{}region={region}/{edge}-{shard}-{first_lsn:020}.parquet",
        hour_prefix(prefix, table, p)
    )
}

/// The key prefix of one partition of one table, every region included:
/// `<prefix>/<table>/tenant=<id>/date=YYYY-MM-DD/hour=HH/` (ends with `/`).
pub fn hour_prefix(prefix: &str, table: &str, p: &Partition) -> String {
    let prefix = prefix.trim_matches('/');
    let sep = if prefix.is_empty() { "" } else { "/" };
    format!(
        "{prefix}{sep}{table}/tenant={}/date={}/hour={:02}/",
        p.tenant,
        date_of_hour(p.hour),
        p.hour % 24
    )
}

/// The key of the one compacted file of a partition (`crate::compact`): the table's Hive layout
/// under `<table>_compacted`, without `region=` (the file holds every region's rows), named
/// by tenant, date and hour:
/// `<prefix>/<table>_compacted/tenant=<id>/date=YYYY-MM-DD/hour=HH/<id>-YYYY-MM-DDTHH.parquet`.
pub fn compacted_key(prefix: &str, table: &str, p: &Partition) -> String {
    format!(
        "{}{}-{}T{:02}.parquet",
        hour_prefix(prefix, &format!("{table}_compacted"), p),
        p.tenant,
        date_of_hour(p.hour),
        p.hour % 24
    )
}

/// `YYYY-MM-DD` (UTC) of an hour since the epoch.
pub fn date_of_hour(hour: u64) -> String {
    let (y, m, d) = civil_date((hour / 24) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`, the
/// inverse of [`civil_date`]); `None` for a month or day out of range.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    const DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let max = match m {
        2 if !leap => 28,
        1..=12 => DAYS[m as usize - 1],
        _ => return None,
    };
    if d == 0 || d > max {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.splitn(3, '-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y) && digits(m) && digits(d)) {
        return None;
    }
    days_from_civil(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).filter(|d| *d >= 0)
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
    fn days_from_civil_inverts_civil_date() {
        for days in (-800_000..800_000)
            .step_by(97)
            .chain([0, -1, 11_016, 20_779])
        {
            let (y, m, d) = civil_date(days);
            assert_eq!(days_from_civil(y, m, d), Some(days), "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(2024, 2, 29), Some(19_782));
        assert_eq!(days_from_civil(2025, 2, 29), None);
        assert_eq!(days_from_civil(2026, 13, 1), None);
        assert_eq!(days_from_civil(2026, 4, 31), None);
        assert_eq!(days_from_civil(2026, 1, 0), None);
        assert_eq!(parse_date("2026-11-22"), Some(20_779));
        for bad in [
            "2026-11-2",
            "2026/11/22",
            "2026-11-22x",
            "+026-11-22",
            "1969-12-31",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn compacted_keys_drop_the_region_and_name_the_hour() {
        let p = Partition::of("demo", 1_795_352_700_000);
        assert_eq!(
            hour_prefix("lake", "events", &p),
            "lake/events/tenant=demo/date=2026-11-22/hour=13/"
        );
        assert_eq!(
            compacted_key("/lake/", "events", &p),
            "lake/events_compacted/tenant=demo/date=2026-11-22/hour=13/demo-2026-11-22T13.parquet"
        );
        assert_eq!(
            compacted_key(
                "",
                "detections",
                &Partition {
                    tenant: "t".into(),
                    hour: 0
                }
            ),
            "detections_compacted/tenant=t/date=1970-01-01/hour=00/t-1970-01-01T00.parquet"
        );
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
