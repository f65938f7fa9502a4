//! `sentientiq-lake-compact`: one file per (tenant, table, UTC hour) in which each
//! (tenant, session, seq) is once, across regions and edges (`sentientiq_lake::compact`).
//!
//! ```text
//! sentientiq-lake-compact --tenant ID (--date YYYY-MM-DD | --hour YYYY-MM-DDTHH)
//!     (--dir DIR | --s3-bucket BUCKET [--s3-region R] [--s3-endpoint URL] [--s3-path-style]
//!                  [--s3-max-attempts N] [--scratch DIR])
//!     [--prefix P] [--tables events[,detections][,actions]] [--lookback-hours N]
//!     [--max-index N] [--dry-run]
//! ```
//!
//! Reads `<prefix>/<table>/tenant=ID/date=…/hour=…/region=*/…` and writes
//! `<prefix>/<table>_compacted/tenant=ID/date=…/hour=…/ID-YYYY-MM-DDTHH.parquet`; never deletes
//! or changes the originals. S3 credentials come from the standard AWS chain (environment,
//! profile files, web identity, instance metadata), as the edge's do without static keys.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sentientiq_lake::compact::{
    CompactOptions, HourReport, Lake, LocalLake, Request, Table, compact_hours,
};
use sentientiq_lake::keys::parse_date;

const USAGE: &str = "usage: sentientiq-lake-compact --tenant ID (--date YYYY-MM-DD | --hour YYYY-MM-DDTHH) \
(--dir DIR | --s3-bucket BUCKET [--s3-region R] [--s3-endpoint URL] [--s3-path-style] [--s3-max-attempts N] [--scratch DIR]) \
[--prefix P] [--tables events[,detections][,actions]] [--lookback-hours N] [--max-index N] [--dry-run]";

#[derive(Debug, Default)]
struct Args {
    tenant: Option<String>,
    hours: Option<std::ops::Range<u64>>,
    dir: Option<PathBuf>,
    s3_bucket: Option<String>,
    s3_region: Option<String>,
    s3_endpoint: Option<String>,
    s3_path_style: bool,
    s3_max_attempts: Option<u32>,
    scratch: Option<PathBuf>,
    prefix: String,
    derived: Vec<Table>,
    opts: CompactOptions,
    dry_run: bool,
}

/// `YYYY-MM-DD` → its 24 hours; `YYYY-MM-DDTHH` → that hour.
fn hours_of(date: Option<&str>, hour: Option<&str>) -> Result<std::ops::Range<u64>> {
    match (date, hour) {
        (Some(d), None) => {
            let day = parse_date(d).with_context(|| format!("--date `{d}`: not YYYY-MM-DD"))?;
            let h = day as u64 * 24;
            Ok(h..h + 24)
        }
        (None, Some(s)) => {
            let bad = || format!("--hour `{s}`: not YYYY-MM-DDTHH");
            let (d, hh) = s.split_once('T').with_context(bad)?;
            let day = parse_date(d).with_context(bad)?;
            if hh.len() != 2 || !hh.bytes().all(|b| b.is_ascii_digit()) {
                bail!(bad());
            }
            let hh: u64 = hh.parse().with_context(bad)?;
            if hh > 23 {
                bail!(bad());
            }
            let h = day as u64 * 24 + hh;
            Ok(h..h + 1)
        }
        _ => bail!("give one of --date and --hour\n{USAGE}"),
    }
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args> {
    let mut a = Args::default();
    let (mut date, mut hour) = (None, None);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--tenant" => a.tenant = Some(value()?),
            "--date" => date = Some(value()?),
            "--hour" => hour = Some(value()?),
            "--dir" => a.dir = Some(value()?.into()),
            "--s3-bucket" => a.s3_bucket = Some(value()?),
            "--s3-region" => a.s3_region = Some(value()?),
            "--s3-endpoint" => a.s3_endpoint = Some(value()?),
            "--s3-path-style" => a.s3_path_style = true,
            "--s3-max-attempts" => a.s3_max_attempts = Some(value()?.parse()?),
            "--scratch" => a.scratch = Some(value()?.into()),
            "--prefix" => a.prefix = value()?,
            "--tables" => {
                a.derived.clear();
                let mut events = false;
                for t in value()?.split(',') {
                    match Table::parse(t) {
                        Some(Table::Events) => events = true,
                        Some(t) if !a.derived.contains(&t) => a.derived.push(t),
                        Some(_) => {}
                        None => bail!(
                            "--tables: `{t}` is not events, detections or actions (alerts are never compacted: each row is a page that happened)"
                        ),
                    }
                }
                if !events {
                    bail!(
                        "--tables must include events (the derived tables are compacted by its index)"
                    );
                }
            }
            "--lookback-hours" => a.opts.lookback_hours = value()?.parse()?,
            "--max-index" => a.opts.max_index = value()?.parse()?,
            "--dry-run" => a.dry_run = true,
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    a.hours = Some(hours_of(date.as_deref(), hour.as_deref())?);
    a.opts.validate()?;
    Ok(a)
}

#[cfg(feature = "s3")]
fn s3_lake(a: &Args, bucket: &str) -> Result<(Box<dyn Lake>, Option<PathBuf>)> {
    use sentientiq_lake::S3Options;
    let mut o = S3Options {
        bucket: bucket.to_string(),
        endpoint: a.s3_endpoint.clone(),
        path_style: a.s3_path_style,
        ..S3Options::default()
    };
    if let Some(r) = &a.s3_region {
        o.region = r.clone();
    }
    if let Some(n) = a.s3_max_attempts {
        o.max_attempts = n;
    }
    let sink = sentientiq_lake::S3Sink::new(o).context("S3")?;
    // Our own scratch directory (removed at the end), unless one is given (left in place).
    let (scratch, ours) = match &a.scratch {
        Some(d) => (d.clone(), None),
        None => {
            let d = std::env::temp_dir()
                .join(format!("sentientiq-lake-compact-{}", std::process::id()));
            (d.clone(), Some(d))
        }
    };
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    Ok((
        Box::new(sentientiq_lake::compact::s3::S3Lake::new(sink, scratch)),
        ours,
    ))
}

#[cfg(not(feature = "s3"))]
fn s3_lake(_: &Args, _: &str) -> Result<(Box<dyn Lake>, Option<PathBuf>)> {
    bail!("this build has no S3 support (build sentientiq-lake with feature `s3`)")
}

fn print_hour(out: &mut impl Write, r: &HourReport) -> std::io::Result<()> {
    let i = &r.index;
    for t in &r.tables {
        let dropped: u64 = t.dropped.values().map(|d| d.rows).sum();
        let frames: u64 = t.dropped.values().map(|d| d.frames).sum();
        write!(
            out,
            "{} tenant={} {}: {} files read",
            t.table.name(),
            r.tenant,
            r.label(),
            t.files
        )?;
        if t.table == Table::Events {
            write!(out, " (+{} lookback)", r.lookback_files)?;
        }
        writeln!(
            out,
            ", {} rows in, {dropped} duplicate rows dropped ({frames} frames), {} rows out",
            t.rows_in, t.rows_out
        )?;
        for ((kept, from), d) in &t.dropped {
            writeln!(
                out,
                "  dropped from {from}, kept in {kept}: {} frames, {} rows",
                d.frames, d.rows
            )?;
        }
        if t.table == Table::Events {
            writeln!(
                out,
                "  index: {} sessions, {} seen at several edges, {} frames indexed",
                i.sessions, i.failed_over_sessions, i.indexed_frames
            )?;
        }
        match t.outcome {
            sentientiq_lake::compact::Outcome::NoInput => writeln!(out, "  nothing to write")?,
            o => writeln!(out, "  {} ({}, {} bytes)", t.key, o.as_str(), t.bytes)?,
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let a = parse(std::env::args().skip(1))?;
    let tenant = a
        .tenant
        .clone()
        .with_context(|| format!("--tenant is required\n{USAGE}"))?;
    let (lake, scratch): (Box<dyn Lake>, Option<PathBuf>) = match (&a.dir, &a.s3_bucket) {
        (Some(d), None) => (Box::new(LocalLake::new(d.clone())), None),
        (None, Some(b)) => s3_lake(&a, b)?,
        _ => bail!("give one of --dir and --s3-bucket\n{USAGE}"),
    };
    let req = Request {
        prefix: &a.prefix,
        tenant: &tenant,
        hours: a.hours.clone().unwrap_or(0..0),
        derived: &a.derived,
        dry_run: a.dry_run,
    };
    let mut out = std::io::stdout().lock();
    let mut failed = None;
    let result = compact_hours(lake.as_ref(), &req, &a.opts, |r| {
        if let Err(e) = print_hour(&mut out, r) {
            failed.get_or_insert(e);
        }
    });
    if let Some(d) = scratch {
        let _ = std::fs::remove_dir_all(d);
    }
    let reports = result?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    let (mut rows_in, mut dropped, mut rows_out, mut written) = (0u64, 0u64, 0u64, 0usize);
    for t in reports.iter().flat_map(|r| &r.tables) {
        rows_in += t.rows_in;
        rows_out += t.rows_out;
        dropped += t.dropped.values().map(|d| d.rows).sum::<u64>();
        written += usize::from(matches!(
            t.outcome,
            sentientiq_lake::compact::Outcome::Written
                | sentientiq_lake::compact::Outcome::Replaced
        ));
    }
    writeln!(
        out,
        "total: {} hours, {rows_in} rows in, {dropped} dropped, {rows_out} rows out, {written} files written{}; originals untouched",
        reports.len(),
        if a.dry_run { " (dry run)" } else { "" }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args> {
        parse(s.split_whitespace().map(str::to_string))
    }

    #[test]
    fn dates_and_hours_parse_to_hour_ranges() {
        let a = args("--tenant demo --dir x --date 2026-11-22").expect("date");
        assert_eq!(a.hours, Some(20_779 * 24..20_779 * 24 + 24));
        let a = args("--tenant demo --dir x --hour 2026-11-22T13").expect("hour");
        assert_eq!(a.hours, Some(20_779 * 24 + 13..20_779 * 24 + 14));
        for bad in [
            "--hour 2026-11-22T24",
            "--hour 2026-11-22T1",
            "--hour 2026-11-22",
            "--date 2026-02-30",
            "--date 2026-11-22 --hour 2026-11-22T13",
            "",
        ] {
            assert!(args(&format!("--tenant d --dir x {bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn tables_must_include_events_and_never_alerts() {
        let a = args("--date 2026-11-22 --tables events,detections,actions,detections")
            .expect("tables");
        assert_eq!(a.derived, vec![Table::Detections, Table::Actions]);
        assert!(args("--date 2026-11-22 --tables detections").is_err());
        assert!(args("--date 2026-11-22 --tables events,alerts").is_err());
        assert!(args("--date 2026-11-22 --lookback-hours 49").is_err());
        assert!(args("--date 2026-11-22 --max-index 0").is_err());
        assert!(args("--date 2026-11-22 --frobnicate").is_err());
    }
}
