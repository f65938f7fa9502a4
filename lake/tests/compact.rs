//! Compaction across regions (issue 16): a session that failed over had the frames its old
//! edge stored but had not acknowledged stored again by the new edge. The compacted table holds
//! each (tenant, session, seq) once, the earliest copy, deterministically; derived detections
//! and outcomes of dropped copies go with them; the originals are never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int32Type, Int64Type, TimestampMillisecondType, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sentientiq_lake::compact::{
    CompactError, CompactOptions, CompactOptionsError, Dropped, HourReport, Lake, LocalFile,
    LocalLake, MAX_LOOKBACK_HOURS, Outcome, Request, Table, compact_hours, compact_partition,
};
use sentientiq_lake::*;
use sentientiq_proto::*;

/// 2026-11-22T13:00:00Z
const H13: u64 = 1_795_352_400_000;
const HOUR13: u64 = H13 / 3_600_000;
const TENANT: &str = "demo";
const SAMPLES: usize = 3;

fn fixtures() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("tests/fixtures")
}

fn golden(name: &str, bytes: &[u8]) {
    let p = fixtures().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&p, bytes).expect("write fixture");
        return;
    }
    let want = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        want == bytes,
        "{name} differs from its golden fixture (UPDATE_GOLDEN=1 rewrites)"
    );
}

/// A frame as one edge stored it: (session, seq, server receive ms).
type Stored = (&'static str, u64, u64);

/// The frame `seq` of `session`, the same bytes whichever edge receives it (as a resend is):
/// three samples 8 ms apart.
fn frame(session: &str, seq: u64) -> ClientFrame {
    let mut b = Batch {
        seq: Seq(seq),
        t0: 1_795_350_000_000 + seq * 250,
        ..Batch::default()
    };
    let x = session.len() as i32 * 10 + seq as i32;
    for i in 0..SAMPLES {
        b.push(
            kind::MOVE,
            if i == 0 { 0 } else { 8_000 },
            x + i as i32,
            100,
            0,
        );
    }
    ClientFrame::Batch(b)
}

/// One `events` file of one edge, stored in the lake under its key; returns the key.
fn put_events(
    lake: &Path,
    region: &str,
    edge: &str,
    shard: u16,
    lsn: u64,
    frames: &[Stored],
) -> String {
    let mut f = FileBuilder::<EventsBuilder>::default();
    let mut st = SessionState::default();
    for &(session, seq, recv_ms) in frames {
        let m = RowMeta {
            tenant: TENANT,
            region,
            edge,
            shard,
            session,
            user: None,
            account: None,
            seq,
            recv_ms,
        };
        f.rows().push_frame(&m, &frame(session, seq), &mut st);
        f.flush_if_full().expect("flush");
    }
    let p = Partition::of(TENANT, frames[0].2);
    let key = object_key(
        "",
        EventsBuilder::TABLE,
        &p,
        region,
        edge,
        shard.into(),
        lsn,
    );
    let bytes = f.finish().expect("finish").expect("rows");
    LocalSink::new(lake).put(&key, &bytes).expect("put");
    key
}

fn range(session: &'static str, seqs: std::ops::RangeInclusive<u64>, at: u64) -> Vec<Stored> {
    seqs.map(|s| (session, s, at + s * 250)).collect()
}

/// Every copy the failover fixture stores: (session, seq, region, edge, recv_ms, key).
type StoredCopy = (&'static str, u64, &'static str, &'static str, u64, String);

/// Three regions in hour 13:
/// - `s_one` moved from us-east-1 (1..=40) to eu-west-1, which was sent 37..=40 again and went
///   on to 60, then to us-west-2, sent 59..=60 again, on to 62;
/// - `s_skew` at us-east-1 (1..=5) and at eu-west-1 (4..=8), whose clock is 2 s behind, so its
///   copies of 4 and 5 are the earlier ones;
/// - `s_tie`: seq 1 at both, received the same millisecond (the region name decides);
/// - `s_two` only at us-east-1, `s_three` only at eu-west-1.
fn failover(lake: &Path) -> Vec<StoredCopy> {
    let a0 = H13 + 60_000;
    let one_a1 = range("s_one", 1..=20, a0);
    let one_a2 = range("s_one", 21..=40, a0);
    let b0 = a0 + 40 * 250 + 5_000; // the resends arrive 5 s after the last frame at A
    let one_b: Vec<Stored> = (37..=60).map(|s| ("s_one", s, b0 + s * 10)).collect();
    let c0 = b0 + 60 * 10 + 7_000;
    let one_c: Vec<Stored> = (59..=62).map(|s| ("s_one", s, c0 + s * 10)).collect();
    let skew_a = range("s_skew", 1..=5, H13 + 600_000);
    let skew_b: Vec<Stored> = (4..=8)
        .map(|s| ("s_skew", s, H13 + 600_000 + 5 * 250 + 500 - 2_000 + s))
        .collect();
    let tie = vec![("s_tie", 1, H13 + 900_000)];
    let two = range("s_two", 1..=10, H13 + 120_000);
    let three = range("s_three", 1..=5, H13 + 130_000);

    let mut copies = Vec::new();
    let mut file = |region: &'static str, edge: &'static str, shard, lsn, frames: Vec<Stored>| {
        let key = put_events(lake, region, edge, shard, lsn, &frames);
        for (s, seq, recv) in frames {
            copies.push((s, seq, region, edge, recv, key.clone()));
        }
    };
    let mut a1 = one_a1;
    a1.extend(two);
    file("us-east-1", "edge-a", 0, 0, a1);
    let mut a2 = one_a2;
    a2.extend(skew_a);
    a2.extend(tie.clone());
    file("us-east-1", "edge-a", 0, 4096, a2);
    let mut b = one_b;
    b.extend(three);
    b.extend(skew_b);
    b.extend(tie);
    file("eu-west-1", "edge-b", 1, 0, b);
    file("us-west-2", "edge-c", 0, 0, one_c);
    copies
}

/// The oracle: for each (session, seq), the copy with the least (receive time, region, edge,
/// key). (For identical copies `time` orders as receive time does.)
fn winners(copies: &[StoredCopy]) -> BTreeMap<(String, u64), (String, String)> {
    let mut best: BTreeMap<(String, u64), (u64, &str, &str, &str)> = BTreeMap::new();
    for (s, seq, region, edge, recv, key) in copies {
        let cand = (*recv, *region, *edge, key.as_str());
        let e = best.entry((s.to_string(), *seq)).or_insert(cand);
        if cand < *e {
            *e = cand;
        }
    }
    best.into_iter()
        .map(|(k, (_, r, e, _))| (k, (r.to_string(), e.to_string())))
        .collect()
}

fn read(bytes: &[u8]) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.to_vec()))
        .expect("parquet")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

/// Every row as text, column by column (dictionaries resolved, nulls as `∅`): compares rows
/// whatever their dictionaries or batching.
fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| cell(c.as_ref(), r))
                    .collect::<Vec<_>>(),
            );
        }
    }
    out
}

fn cell(c: &dyn Array, r: usize) -> String {
    if c.is_null(r) {
        return "∅".into();
    }
    match c.data_type() {
        DataType::Dictionary(_, _) => {
            let d = c.as_dictionary::<Int32Type>();
            let k = d.keys().value(r) as usize;
            d.values().as_string::<i32>().value(k).to_string()
        }
        DataType::UInt16 => c.as_primitive::<UInt16Type>().value(r).to_string(),
        DataType::UInt32 => c.as_primitive::<UInt32Type>().value(r).to_string(),
        DataType::UInt64 => c.as_primitive::<UInt64Type>().value(r).to_string(),
        DataType::Int32 => c.as_primitive::<Int32Type>().value(r).to_string(),
        DataType::Int64 => c.as_primitive::<Int64Type>().value(r).to_string(),
        DataType::Float64 => c.as_primitive::<Float64Type>().value(r).to_string(),
        DataType::Boolean => c.as_boolean().value(r).to_string(),
        DataType::Timestamp(_, _) => c
            .as_primitive::<TimestampMillisecondType>()
            .value(r)
            .to_string(),
        t => panic!("no rendering for {t}"),
    }
}

/// (session, seq, idx, region) of every `events` row.
fn keys_of(batches: &[RecordBatch]) -> Vec<(String, u64, u32, String)> {
    let schema = events_schema();
    let col = |name: &str| schema.index_of(name).expect(name);
    let (s, q, i, r) = (col("session"), col("seq"), col("idx"), col("region"));
    rows(batches)
        .into_iter()
        .map(|row| {
            (
                row[s].clone(),
                row[q].parse().expect("seq"),
                row[i].parse().expect("idx"),
                row[r].clone(),
            )
        })
        .collect()
}

fn one_hour<'a>(derived: &'a [Table]) -> Request<'a> {
    Request {
        prefix: "",
        tenant: TENANT,
        hours: HOUR13..HOUR13 + 1,
        derived,
        dry_run: false,
    }
}

fn compact(lake: &Path, derived: &[Table], opts: &CompactOptions) -> HourReport {
    let mut reports =
        compact_hours(&LocalLake::new(lake), &one_hour(derived), opts, |_| {}).expect("compact");
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

fn compacted_key_of(table: &str, hour: u64) -> String {
    compacted_key(
        "",
        table,
        &Partition {
            tenant: TENANT.into(),
            hour,
        },
    )
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p.clone(), std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

fn d(frames: u64, rows: u64) -> Dropped {
    Dropped { frames, rows }
}

fn pair(kept: &str, dropped: &str) -> (String, String) {
    (kept.to_string(), dropped.to_string())
}

/// The options' limits at their edges, each refusal naming its field; `compact_hours` refuses
/// them before it reads or writes anything.
#[test]
fn options_limits_are_checked_at_the_edges() {
    let with = |f: &dyn Fn(&mut CompactOptions)| {
        let mut o = CompactOptions::default();
        f(&mut o);
        o.validate()
    };
    for (n, want) in [
        (0, Ok(())),
        (MAX_LOOKBACK_HOURS - 1, Ok(())),
        (MAX_LOOKBACK_HOURS, Ok(())),
        (
            MAX_LOOKBACK_HOURS + 1,
            Err(CompactOptionsError::LookbackHours(MAX_LOOKBACK_HOURS + 1)),
        ),
    ] {
        assert_eq!(with(&|o| o.lookback_hours = n), want, "lookback_hours {n}");
    }
    assert_eq!(
        with(&|o| o.max_index = 0),
        Err(CompactOptionsError::ZeroMaxIndex)
    );
    assert_eq!(with(&|o| o.max_index = 1), Ok(()));
    assert_eq!(
        with(&|o| o.batch_rows = 0),
        Err(CompactOptionsError::ZeroBatchRows)
    );
    assert_eq!(with(&|o| o.batch_rows = 1), Ok(()));
    assert_eq!(
        CompactOptionsError::LookbackHours(49).to_string(),
        "lookback_hours 49 is above 48"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    failover(dir.path());
    let before = snapshot(dir.path());
    let bad = CompactOptions {
        lookback_hours: MAX_LOOKBACK_HOURS + 1,
        ..CompactOptions::default()
    };
    let r = compact_hours(&LocalLake::new(dir.path()), &one_hour(&[]), &bad, |_| {
        panic!("no hour is compacted")
    });
    assert!(
        matches!(
            r,
            Err(CompactError::Options(CompactOptionsError::LookbackHours(
                49
            )))
        ),
        "{r:?}"
    );
    assert_eq!(snapshot(dir.path()), before, "nothing written");
}

/// The issue-16 case: three regions' files with overlapping (session, seq), compacted and read
/// back with the Parquet reader: each (session, seq, idx) once, from the earliest copy (the
/// oracle), the counts per region pair exact, rows conserved, the originals untouched.
#[test]
fn a_failover_across_regions_leaves_each_frame_once_the_earliest_copy_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copies = failover(dir.path());
    let before = snapshot(dir.path());
    let r = compact(dir.path(), &[], &CompactOptions::default());

    let t = &r.tables[0];
    assert_eq!(t.table, Table::Events);
    assert_eq!((t.files, r.lookback_files), (4, 0));
    assert_eq!(t.rows_in, copies.len() as u64 * SAMPLES as u64);
    let want = winners(&copies);
    assert_eq!(t.rows_out, want.len() as u64 * SAMPLES as u64);
    assert_eq!(
        t.dropped,
        BTreeMap::from([
            // s_skew 4, 5 and s_tie 1: eu-west-1's copies are earlier (or tie and sort first).
            (pair("eu-west-1", "us-east-1"), d(3, 9)),
            // s_one 59, 60, sent again to us-west-2.
            (pair("eu-west-1", "us-west-2"), d(2, 6)),
            // s_one 37..=40, sent again to eu-west-1.
            (pair("us-east-1", "eu-west-1"), d(4, 12)),
        ])
    );
    let dropped: u64 = t.dropped.values().map(|d| d.rows).sum();
    assert_eq!(t.rows_in, t.rows_out + dropped, "every row kept or counted");
    assert_eq!(
        (
            r.index.files,
            r.index.sessions,
            r.index.failed_over_sessions,
            r.index.indexed_frames
        ),
        (4, 5, 3, 9),
        "only the overlaps are indexed: s_one 37..=40 and 59..=60, s_skew 4..=5, s_tie 1"
    );
    assert_eq!(t.outcome, Outcome::Written);
    assert_eq!(t.key, compacted_key_of("events", HOUR13));
    assert_eq!(
        t.key,
        "events_compacted/tenant=demo/date=2026-11-22/hour=13/demo-2026-11-22T13.parquet"
    );

    let bytes = std::fs::read(dir.path().join(&t.key)).expect("compacted file");
    assert_eq!(t.bytes, bytes.len() as u64);
    let batches = read(&bytes);
    let got = keys_of(&batches);
    let once: BTreeSet<_> = got.iter().map(|(s, q, i, _)| (s.clone(), *q, *i)).collect();
    assert_eq!(once.len(), got.len(), "each (session, seq, idx) once");
    let mut regions: BTreeMap<(String, u64), BTreeSet<String>> = BTreeMap::new();
    for (s, q, _, r) in &got {
        regions
            .entry((s.clone(), *q))
            .or_default()
            .insert(r.clone());
    }
    let want_regions: BTreeMap<(String, u64), BTreeSet<String>> = want
        .iter()
        .map(|(k, (r, _))| (k.clone(), BTreeSet::from([r.clone()])))
        .collect();
    assert_eq!(regions, want_regions, "each frame from its earliest copy");
    assert_eq!(
        regions[&("s_one".to_string(), 38)],
        BTreeSet::from(["us-east-1".to_string()])
    );
    assert_eq!(
        regions[&("s_skew".to_string(), 5)],
        BTreeSet::from(["eu-west-1".to_string()])
    );
    for s in 1..=SAMPLES as u32 {
        assert!(once.contains(&("s_one".to_string(), 38, s - 1)));
    }

    // The same schema as `events` (the golden description), the bytes pinned.
    assert_eq!(batches[0].schema(), events_schema());
    golden(
        "events.schema.txt",
        describe(&batches[0].schema()).as_bytes(),
    );
    golden("events_compacted.small.parquet", &bytes);

    // The originals are as they were; only the compacted file was added.
    let mut after = snapshot(dir.path());
    assert!(after.remove(&dir.path().join(&t.key)).is_some());
    assert_eq!(after, before, "originals never deleted or changed");
}

fn describe(schema: &arrow_schema::Schema) -> String {
    let mut text = String::new();
    for f in schema.fields() {
        let null = if f.is_nullable() { "null" } else { "not null" };
        text.push_str(&format!("{} {} {null}\n", f.name(), f.data_type()));
    }
    text
}

/// Compacting again gives the same bytes (and writes nothing); compacting a copy of the lake
/// elsewhere gives the same bytes too; and the pure core, twice, the same.
#[test]
fn compaction_is_deterministic_and_idempotent() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    failover(a.path());
    failover(b.path());
    let first = compact(a.path(), &[], &CompactOptions::default());
    let bytes = std::fs::read(a.path().join(&first.tables[0].key)).expect("file");
    let again = compact(a.path(), &[], &CompactOptions::default());
    assert_eq!(again.tables[0].outcome, Outcome::Unchanged);
    assert_eq!(
        std::fs::read(a.path().join(&again.tables[0].key)).expect("file"),
        bytes
    );
    let elsewhere = compact(b.path(), &[], &CompactOptions::default());
    assert_eq!(
        std::fs::read(b.path().join(&elsewhere.tables[0].key)).expect("file"),
        bytes
    );
    // The reports agree but for the outcome.
    let strip = |r: &HourReport| {
        let mut r = r.clone();
        for t in &mut r.tables {
            t.outcome = Outcome::DryRun;
        }
        r
    };
    assert_eq!(strip(&first), strip(&again));

    // The core, given the files in another order, makes the same bytes.
    let lake = LocalLake::new(a.path());
    let keys = lake
        .list(&hour_prefix("", "events", &Partition::of(TENANT, H13)))
        .expect("list");
    let files: Vec<LocalFile> = keys
        .iter()
        .rev()
        .map(|k| LocalFile {
            key: k.clone(),
            path: a.path().join(k),
        })
        .collect();
    let c = compact_partition(&files, &[], &[], &CompactOptions::default(), "t").expect("core");
    assert_eq!(c.tables[0].bytes.as_deref(), Some(bytes.as_slice()));
    // Smaller batches: other slices, same rows.
    let small = CompactOptions {
        batch_rows: 7,
        ..CompactOptions::default()
    };
    let c = compact_partition(&files, &[], &[], &small, "t").expect("core");
    assert_eq!(
        rows(&read(c.tables[0].bytes.as_deref().expect("bytes"))),
        rows(&read(&bytes))
    );
}

/// An hour without files writes nothing and says so.
#[test]
fn an_empty_partition_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = compact(
        dir.path(),
        &[Table::Detections, Table::Actions],
        &CompactOptions::default(),
    );
    assert_eq!(r.tables.len(), 3);
    for t in &r.tables {
        assert_eq!((t.files, t.rows_in, t.rows_out), (0, 0, 0));
        assert!(t.dropped.is_empty());
        assert_eq!(t.outcome, Outcome::NoInput);
        assert!(!dir.path().join(&t.key).exists());
    }
    assert_eq!(r.index.sessions, 0);
    assert!(
        std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
        "nothing written"
    );
}

/// Two regions with different sessions: the compacted file holds exactly the input rows, in
/// key order, every column equal.
#[test]
fn a_partition_without_duplicates_is_unchanged_in_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k1 = put_events(
        dir.path(),
        "us-east-1",
        "edge-a",
        0,
        0,
        &range("s_a", 1..=30, H13 + 1_000),
    );
    let k2 = put_events(
        dir.path(),
        "eu-west-1",
        "edge-b",
        0,
        0,
        &range("s_b", 1..=30, H13 + 1_000),
    );
    let r = compact(dir.path(), &[], &CompactOptions::default());
    let t = &r.tables[0];
    assert_eq!((t.rows_in, t.rows_out), (180, 180));
    assert!(t.dropped.is_empty());
    assert_eq!(
        (r.index.failed_over_sessions, r.index.indexed_frames),
        (0, 0)
    );
    let mut keys = [k1, k2];
    keys.sort();
    let want: Vec<Vec<String>> = keys
        .iter()
        .flat_map(|k| rows(&read(&std::fs::read(dir.path().join(k)).expect("input"))))
        .collect();
    let got = rows(&read(
        &std::fs::read(dir.path().join(&t.key)).expect("output"),
    ));
    assert_eq!(got, want);
}

/// A resend that crosses an hour boundary: the first copy is in hour 13, the resend in hour
/// 14. Hour 14 with the default lookback (1 h) drops it; with none it cannot see the first
/// copy and keeps it (the documented limit); hour 13 keeps its own copy either way.
#[test]
fn a_resend_across_an_hour_boundary_is_caught_by_the_lookback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h14 = H13 + 3_600_000;
    put_events(
        dir.path(),
        "us-east-1",
        "edge-a",
        0,
        0,
        &(1..=10)
            .map(|s| ("s_x", s, h14 - 3_000 + s * 100))
            .collect::<Vec<_>>(),
    );
    put_events(
        dir.path(),
        "eu-west-1",
        "edge-b",
        0,
        0,
        &(8..=20)
            .map(|s| ("s_x", s, h14 + 2_000 + s * 100))
            .collect::<Vec<_>>(),
    );
    let run = |lookback_hours| {
        compact_hours(
            &LocalLake::new(dir.path()),
            &Request {
                hours: HOUR13..HOUR13 + 2,
                ..one_hour(&[])
            },
            &CompactOptions {
                lookback_hours,
                ..CompactOptions::default()
            },
            |_| {},
        )
        .expect("compact")
    };
    let r = run(1);
    assert_eq!((r[0].tables[0].rows_in, r[0].tables[0].rows_out), (30, 30));
    let t14 = &r[1].tables[0];
    assert_eq!(r[1].lookback_files, 1);
    assert_eq!((t14.rows_in, t14.rows_out), (39, 30));
    assert_eq!(
        t14.dropped,
        BTreeMap::from([(pair("us-east-1", "eu-west-1"), d(3, 9))])
    );
    let got = keys_of(&read(
        &std::fs::read(dir.path().join(&t14.key)).expect("hour 14"),
    ));
    assert!(got.iter().all(|(_, seq, _, _)| *seq >= 11));

    let r = run(0);
    assert_eq!(r[1].lookback_files, 0);
    assert_eq!((r[1].tables[0].rows_in, r[1].tables[0].rows_out), (39, 39));
    assert_eq!(r[1].tables[0].outcome, Outcome::Replaced);
}

/// A file shipped late (an edge back from an outage) changes the hour: compacting again
/// replaces the compacted file, which now holds its rows too.
#[test]
fn a_late_file_replaces_the_compacted_hour() {
    let dir = tempfile::tempdir().expect("tempdir");
    failover(dir.path());
    let first = compact(dir.path(), &[], &CompactOptions::default());
    put_events(
        dir.path(),
        "ap-south-1",
        "edge-d",
        0,
        0,
        &range("s_late", 1..=4, H13 + 2_000_000),
    );
    let second = compact(dir.path(), &[], &CompactOptions::default());
    assert_eq!(second.tables[0].outcome, Outcome::Replaced);
    assert_eq!(second.tables[0].files, first.tables[0].files + 1);
    assert_eq!(
        second.tables[0].rows_out,
        first.tables[0].rows_out + 4 * SAMPLES as u64
    );
    let got = keys_of(&read(
        &std::fs::read(dir.path().join(&second.tables[0].key)).expect("file"),
    ));
    assert_eq!(got.iter().filter(|k| k.0 == "s_late").count(), 12);
}

/// The index cap at cap − 1, cap and cap + 1: the failover fixture needs 14 entries (5
/// sessions, 9 frames two edges hold). At most 14 (or 15) it compacts; at 13 it stops with
/// a clear error and writes nothing.
#[test]
fn the_index_cap_is_exact_and_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    failover(dir.path());
    let with = |max_index| {
        compact_hours(
            &LocalLake::new(dir.path()),
            &one_hour(&[]),
            &CompactOptions {
                max_index,
                ..CompactOptions::default()
            },
            |_| {},
        )
    };
    let r = with(15).expect("an input of cap − 1 entries");
    assert_eq!(r[0].index.sessions + r[0].index.indexed_frames, 14);
    let key = dir.path().join(&r[0].tables[0].key);
    std::fs::remove_file(&key).expect("remove");
    with(14).expect("an input of exactly cap entries");
    std::fs::remove_file(&key).expect("remove");
    let e = with(13).expect_err("an input of cap + 1 entries");
    assert!(matches!(e, CompactError::IndexFull { cap: 13, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "tenant demo 2026-11-22T13: the index would need more than 13 entries (sessions, and \
         frames two edges may both hold); raise the cap (about 100 bytes each) or look back \
         fewer hours"
    );
    assert!(!key.exists(), "nothing written");
}

// ---- detections and actions ----

fn put_detections(lake: &Path, region: &str, edge: &str, rows: &[(&str, u32, u64)]) {
    let mut b = DetectionsBuilder::default();
    for &(session, n, at_seq) in rows {
        let meta = DetectionMeta {
            tenant: TENANT,
            region,
            edge,
            shard: 0,
            session,
            recv_ms: H13 + 100_000,
        };
        let row = DetectionRow {
            n,
            emotion: "rage".into(),
            confidence: 0.9,
            at_seq,
            sample: 2,
            client_ms: 1_795_350_000_000,
            ..Default::default()
        };
        b.push(&meta, &row);
    }
    let bytes = write_parquet(&b.finish().expect("batch")).expect("parquet");
    let key = object_key(
        "",
        DetectionsBuilder::TABLE,
        &Partition::of(TENANT, H13),
        region,
        edge,
        0,
        0,
    );
    LocalSink::new(lake).put(&key, &bytes).expect("put");
}

fn put_actions(lake: &Path, region: &str, edge: &str, rows: &[(&str, &str, &str, u64)]) {
    let mut b = ActionsBuilder::default();
    for &(session, id, action, seq) in rows {
        let meta = DetectionMeta {
            tenant: TENANT,
            region,
            edge,
            shard: 0,
            session,
            recv_ms: H13 + 100_000,
        };
        let row = ActionRow {
            id: id.into(),
            action: action.into(),
            seq,
            result: (action == "outcome").then(|| "shown".to_string()),
            ..Default::default()
        };
        b.push(&meta, &row);
    }
    let bytes = write_parquet(&b.finish().expect("batch")).expect("parquet");
    let key = object_key(
        "",
        ActionsBuilder::TABLE,
        &Partition::of(TENANT, H13),
        region,
        edge,
        0,
        0,
    );
    LocalSink::new(lake).put(&key, &bytes).expect("put");
}

/// A detection completed by a frame whose copy was dropped goes with it; one completed by a
/// kept copy stays, whichever region made it. Outcome rows follow their `out` frame;
/// interventions and escalations (acts, not copies) all stay.
#[test]
fn detections_and_outcomes_of_dropped_copies_go_with_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    failover(dir.path());
    put_detections(
        dir.path(),
        "us-east-1",
        "edge-a",
        &[("s_one", 1, 12), ("s_one", 2, 38), ("s_skew", 1, 5)],
    );
    put_detections(
        dir.path(),
        "eu-west-1",
        "edge-b",
        // d1 at 38: the resent frame (dropped); d2 at 50: a new one; s_skew's 4 is eu-west-1's.
        &[("s_one", 1, 38), ("s_one", 2, 50), ("s_skew", 1, 4)],
    );
    put_actions(
        dir.path(),
        "us-east-1",
        "edge-a",
        &[
            ("s_one", "i1", "intervene", 38),
            ("s_one", "i1", "outcome", 39),
        ],
    );
    put_actions(
        dir.path(),
        "eu-west-1",
        "edge-b",
        &[
            ("s_one", "i1", "intervene", 38),
            ("s_one", "i1", "outcome", 39),
            ("s_one", "i2", "escalate", 40),
            ("s_one", "i1", "outcome", 41),
        ],
    );
    let r = compact(
        dir.path(),
        &[Table::Detections, Table::Actions],
        &CompactOptions::default(),
    );
    let [ev, det, act] = r.tables.as_slice() else {
        panic!("three tables: {r:?}");
    };
    assert_eq!(ev.rows_out, winners(&failover_copies()).len() as u64 * 3);

    assert_eq!(det.table, Table::Detections);
    assert_eq!((det.files, det.rows_in, det.rows_out), (2, 6, 4));
    assert_eq!(
        det.dropped,
        BTreeMap::from([
            (pair("eu-west-1", "us-east-1"), d(1, 1)),
            (pair("us-east-1", "eu-west-1"), d(1, 1)),
        ])
    );
    let got = rows(&read(
        &std::fs::read(dir.path().join(&det.key)).expect("detections file"),
    ));
    let s = detections_schema();
    let (ri, si, qi) = (
        s.index_of("region").expect("region"),
        s.index_of("session").expect("session"),
        s.index_of("seq").expect("seq"),
    );
    let kept: BTreeSet<(String, String, String)> = got
        .iter()
        .map(|r| (r[ri].clone(), r[si].clone(), r[qi].clone()))
        .collect();
    let t = |r: &str, s: &str, q: &str| (r.to_string(), s.to_string(), q.to_string());
    assert_eq!(
        kept,
        BTreeSet::from([
            t("us-east-1", "s_one", "12"),
            t("us-east-1", "s_one", "38"),
            t("eu-west-1", "s_one", "50"),
            t("eu-west-1", "s_skew", "4"),
        ])
    );
    assert_eq!(got[0].len(), detections_schema().fields().len());
    assert_eq!(
        det.key,
        "detections_compacted/tenant=demo/date=2026-11-22/hour=13/demo-2026-11-22T13.parquet"
    );

    assert_eq!((act.files, act.rows_in, act.rows_out), (2, 6, 5));
    assert_eq!(
        act.dropped,
        BTreeMap::from([(pair("us-east-1", "eu-west-1"), d(1, 1))])
    );
    let got = rows(&read(
        &std::fs::read(dir.path().join(&act.key)).expect("actions file"),
    ));
    let s = actions_schema();
    let (ri, ai, qi) = (
        s.index_of("region").expect("region"),
        s.index_of("action").expect("action"),
        s.index_of("seq").expect("seq"),
    );
    let kept: Vec<(String, String, String)> = got
        .iter()
        .map(|r| (r[ri].clone(), r[ai].clone(), r[qi].clone()))
        .collect();
    assert!(!kept.contains(&t("eu-west-1", "outcome", "39")));
    assert!(kept.contains(&t("eu-west-1", "intervene", "38")));
    assert!(kept.contains(&t("eu-west-1", "escalate", "40")));
    assert!(kept.contains(&t("eu-west-1", "outcome", "41")));
    assert!(kept.contains(&t("us-east-1", "outcome", "39")));
}

fn failover_copies() -> Vec<StoredCopy> {
    let d = tempfile::tempdir().expect("tempdir");
    failover(d.path())
}

/// `sentientiq-lake-compact` on a local lake: prints what it did, a second run writes nothing
/// and says so, `--dry-run` writes nothing, and the originals are untouched.
#[test]
fn the_compact_tool_reports_what_it_did_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    failover(dir.path());
    let before = snapshot(dir.path());
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sentientiq-lake-compact"))
            .arg("--dir")
            .arg(dir.path())
            .args(["--tenant", TENANT, "--hour", "2026-11-22T13"])
            .args(extra)
            .output()
            .expect("run sentientiq-lake-compact");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let dry = run(&["--dry-run"]);
    assert!(dry.contains("(dry run, "), "{dry}");
    assert_eq!(snapshot(dir.path()), before, "a dry run writes nothing");

    let text = run(&[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "events tenant=demo 2026-11-22T13: 4 files read (+0 lookback), 285 rows in, 27 duplicate rows dropped (9 frames), 258 rows out",
            "  dropped from us-east-1, kept in eu-west-1: 3 frames, 9 rows",
            "  dropped from us-west-2, kept in eu-west-1: 2 frames, 6 rows",
            "  dropped from eu-west-1, kept in us-east-1: 4 frames, 12 rows",
            "  index: 5 sessions, 3 seen at several edges, 9 frames indexed",
            &format!(
                "  {} (written, {} bytes)",
                compacted_key_of("events", HOUR13),
                std::fs::metadata(dir.path().join(compacted_key_of("events", HOUR13)))
                    .expect("written")
                    .len()
            ),
            "total: 1 hours, 285 rows in, 27 dropped, 258 rows out, 1 files written; originals untouched",
        ],
        "{text}"
    );
    let again = run(&[]);
    assert!(again.contains("(unchanged, "), "{again}");
    assert!(
        again.ends_with("0 files written; originals untouched\n"),
        "{again}"
    );
    let mut after = snapshot(dir.path());
    after.remove(&dir.path().join(compacted_key_of("events", HOUR13)));
    assert_eq!(after, before, "originals untouched");

    // A whole date: 24 hours, one with files.
    let day = std::process::Command::new(env!("CARGO_BIN_EXE_sentientiq-lake-compact"))
        .arg("--dir")
        .arg(dir.path())
        .args(["--tenant", TENANT, "--date", "2026-11-22"])
        .output()
        .expect("run");
    assert!(day.status.success(), "{day:?}");
    let text = String::from_utf8(day.stdout).expect("utf-8");
    assert_eq!(text.matches("nothing to write").count(), 23, "{text}");
    assert!(text.ends_with("total: 24 hours, 285 rows in, 27 dropped, 258 rows out, 0 files written; originals untouched\n"), "{text}");

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_sentientiq-lake-compact"))
        .args(["--dir", "x", "--tenant", "../x", "--date", "2026-11-22"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a tenant id"));
}
