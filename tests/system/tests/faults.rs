//! The fault matrix: each row drives SDK-like sessions against a real edge while a fault is
//! injected, then holds the result to a conservation oracle over the lake: every frame the edge
//! acknowledged is there exactly once, and nothing is there that no session sent.
//!
//! `make test` runs every row at small scale. `make faults` (`SIQ_FAULTS=full`) runs the full
//! scale and prints each row's figures as a line `FAULTS {json}`; `scripts/faults.sh` records
//! them under `bench/runs/`. `SIQ_BIN_DIR` runs the rows against other binaries (an older build,
//! for before/after figures); the configs here use only settings every version knows.

// The rows print their figures (one `FAULTS {json}` line each) for scripts/faults.sh.
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sentientiq_experiments::rng::splitmix64;
use sentientiq_testkit::disk::{DiskKind, SmallDisk};
use sentientiq_testkit::drive::{Drive, Oracle, Plan, Record};
use sentientiq_testkit::lake::{Lake, lake_rows};
use sentientiq_testkit::wait::{poll, wait_for};
use sentientiq_testkit::{DEMO_KEY, Edge, Plane};

/// How big each row runs.
#[derive(Debug, Clone, Copy)]
struct Scale {
    full: bool,
    sessions: usize,
    frames: u64,
    every: Duration,
    kills: usize,
    outage: Duration,
    disk_runs: usize,
    hostile_each: usize,
    slow_sockets: usize,
}

fn scale() -> Scale {
    if std::env::var("SIQ_FAULTS").is_ok_and(|v| v == "full") {
        Scale {
            full: true,
            sessions: 200,
            frames: 300,
            every: Duration::from_millis(50),
            kills: 60,
            outage: Duration::from_secs(150),
            disk_runs: 8,
            hostile_each: 2500,
            slow_sockets: 3200,
        }
    } else {
        Scale {
            full: false,
            sessions: 6,
            frames: 40,
            every: Duration::from_millis(20),
            kills: 3,
            outage: Duration::from_secs(3),
            disk_runs: 2,
            hostile_each: 40,
            slow_sockets: 100,
        }
    }
}

/// A config every edge version reads: one tenant (`demo`), local lake shipped within a second,
/// no QUIC.
/// Every client of the matrix connects from 127.0.0.1, so to the edge's per-address limit on
/// new sessions (20 a second per shard, burst 200) they are one address: at full scale the rows
/// that open thousands of sessions (hostile input, the tenant flood) would be testing that limit
/// instead of what they are about, and the healthy client after them is refused as the flood's
/// twin. They lift it, as the bench cases do; the limit itself is tested by `reliability`'s
/// `regression_a_flood_of_new_sessions_from_one_address_cannot_push_out_established_ones`.
const ONE_ADDRESS_FOR_ALL: &str =
    "new_sessions_per_address_per_sec = 1000000\nnew_session_burst_per_address = 1000000";

fn config(dir: &Path, port: u16, shards: usize, extra_edge: &str, tenant_extra: &str) -> String {
    format!(
        r#"[edge]
id = "edge-faults"
region = "us-east-1"
listen = "127.0.0.1:{port}"
shards = {shards}
data_dir = {data:?}
commit_interval_ms = 2
{extra_edge}

[quic]
enabled = false

[lake]
sink = "local"
dir = {lake:?}
max_age_s = 1
poll_ms = 100

[[tenant]]
id = "demo"
key_sha256 = ["{hash}"]
allowed_origins = ["*"]
{tenant_extra}
"#,
        data = dir.join("data"),
        lake = dir.join("lake"),
        hash = hex::encode(sentientiq_tenant::key_hash(DEMO_KEY)),
    )
}

fn plan(s: Scale, prefix: &str) -> Plan {
    Plan {
        key: DEMO_KEY.into(),
        sessions: s.sessions,
        frames: s.frames,
        samples: 8,
        every: s.every,
        drain: Duration::from_secs(60),
        prefix: prefix.into(),
        uid: None,
    }
}

/// Waits until the lake holds every acknowledged frame (or 60 s), then checks the oracle.
fn settle(records: &[Record], lake: impl Fn() -> std::path::PathBuf) -> Oracle {
    let t0 = Instant::now();
    loop {
        let (rows, _) = lake_rows(&lake());
        let o = Oracle::check(records, &rows);
        if o.lost == 0 || t0.elapsed() > Duration::from_secs(60) {
            // Once more after a pause: a late duplicate would show now.
            std::thread::sleep(Duration::from_millis(1500));
            let (rows, _) = lake_rows(&lake());
            return Oracle::check(records, &rows);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Prints a row's figures (always) and returns them.
fn report(row: &str, o: &Oracle, records: &[Record], extra: serde_json::Value) {
    let errors: std::collections::BTreeMap<String, u64> = records
        .iter()
        .flat_map(|r| r.errors.iter())
        .fold(Default::default(), |mut m, (k, v)| {
            *m.entry(k.clone()).or_default() += v;
            m
        });
    let mut lat: Vec<u64> = records
        .iter()
        .flat_map(|r| r.ack_ms.iter().copied())
        .collect();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "FAULTS {}",
        serde_json::json!({
            "row": row,
            "scale": if scale().full { "full" } else { "small" },
            "acked": o.acked, "lost": o.lost, "duplicated": o.duplicated,
            "invented": o.invented, "unacked": o.unacked,
            "errors": errors,
            "reconnects": records.iter().map(|r| r.reconnects).sum::<u64>(),
            "ack_ms_p50": pct(0.5), "ack_ms_p99": pct(0.99), "ack_ms_max": lat.last().copied().unwrap_or(0),
            "extra": extra,
        })
    );
}

fn assert_conserved(o: &Oracle) {
    assert_eq!((o.lost, o.duplicated, o.invented), (0, 0, 0), "{o:?}");
    assert!(o.acked > 0, "nothing was acknowledged: {o:?}");
}

#[test]
fn fault_kill_9_under_load_loses_and_doubles_nothing() {
    let s = scale();
    let mut edge = Edge::launch(|d, p| config(d, p, 2, "", ""), Vec::new());
    let target = Arc::new(Mutex::new(edge.port));
    let drive = Drive::start(target, &plan(s, "s_fault_kill_"));
    let run = s.every * s.frames as u32;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..s.kills {
        // A kill at a random point of each slice of the run.
        let z = splitmix64(&mut rng);
        let slice = run / (s.kills as u32 + 1);
        std::thread::sleep(
            slice
                .mul_f64((z % 1000) as f64 / 1000.0)
                .max(Duration::from_millis(50)),
        );
        edge.kill9();
        edge.spawn();
    }
    let records = drive.join();
    let o = settle(&records, || edge.lake_dir());
    report("kill9", &o, &records, serde_json::json!({"kills": s.kills}));
    assert_conserved(&o);
}

#[test]
fn fault_an_s3_outage_loses_nothing() {
    let s = scale();
    let mut lake = Lake::s3();
    let env = lake.env(Path::new("/nonexistent-aws-files"));
    let edge = Edge::launch(
        |d, p| {
            lake.configure(config(d, p, 2, "", ""))
                .replace("max_age_s = 1", "max_age_s = 1\nspool_max_bytes = 67108864")
        },
        env,
    );
    let target = Arc::new(Mutex::new(edge.port));
    let drive = Drive::start(target, &plan(s, "s_fault_s3___"));
    std::thread::sleep(s.every * (s.frames as u32 / 4));
    lake.outage(&edge);
    std::thread::sleep(s.outage);
    lake.recover(&edge);
    let records = drive.join();
    let o = settle(&records, || lake.sync(&edge));
    report(
        "s3_outage",
        &o,
        &records,
        serde_json::json!({"outage_s": s.outage.as_secs()}),
    );
    assert_conserved(&o);
}

/// The disk fills while frames arrive. The segment being written has its space reserved
/// (`spool_segment_bytes`, 1 MiB here), so frames are still stored until it rolls over (at the
/// latest `max_age_s` after it opened: 1 s here); the next segment gets no space, and from then
/// new frames are refused (`overloaded`, `/readyz` 503) until the disk has room again. The
/// sessions send for at least 3 s, past that roll-over, whatever the scale. On a tmpfs (glommio
/// opens nothing `O_DIRECT` there) and on ext4 (direct writes into reserved space). On ext4 a
/// reservation that runs out of room keeps what it got, so a new segment takes the space the
/// last one gave back when it was sealed before the filler does, and at small scale the spool
/// went on in space it freed itself for the whole spell (nothing refused, nothing lost): there
/// its segments are 16 KiB, so several roll over while the disk is full.
#[test]
fn fault_a_full_disk_refuses_new_frames_and_never_stores_one_twice() {
    a_full_disk_refuses_new_frames_and_never_stores_one_twice(DiskKind::Tmpfs, "full_disk");
}

#[test]
fn fault_a_full_ext4_disk_refuses_new_frames_and_never_stores_one_twice() {
    a_full_disk_refuses_new_frames_and_never_stores_one_twice(DiskKind::Ext4, "full_disk_ext4");
}

fn a_full_disk_refuses_new_frames_and_never_stores_one_twice(kind: DiskKind, row: &str) {
    let s = scale();
    let segment_bytes = match kind {
        DiskKind::Tmpfs => "spool_segment_bytes = 1048576",
        DiskKind::Ext4 => "spool_segment_bytes = 16384",
    };
    for run in 0..s.disk_runs {
        let root = tempfile::tempdir().expect("tempdir");
        let disk = SmallDisk::mount(kind, &root.path().join("disk"), 48);
        let lake = root.path().join("lake");
        let data = disk.path().to_path_buf();
        let edge = Edge::launch(
            |_, p| {
                // The spool and identity store on the small disk; the lake on another.
                config(root.path(), p, 1, segment_bytes, "")
                    .replace(
                        &format!("data_dir = {:?}", root.path().join("data")),
                        &format!("data_dir = {data:?}"),
                    )
                    .replace(
                        &format!("dir = {:?}", root.path().join("lake")),
                        &format!("dir = {lake:?}"),
                    )
            },
            Vec::new(),
        );
        let target = Arc::new(Mutex::new(edge.port));
        let mut p = plan(s, &format!("s_fault_{kind:?}{run}_"));
        p.frames = p.frames.max(3000 / p.every.as_millis() as u64);
        let drive = Drive::start(target, &p);
        // Full at a different point of each run, for two seconds.
        std::thread::sleep(
            s.every * ((s.frames as u32 / 8) * (run as u32 + 1)).min(s.frames as u32 / 2),
        );
        // Kept full: space the edge gives back (a sealed segment's unused reservation, a
        // shipped segment) is taken again, as by another process writing to the disk.
        let filler = disk.fill();
        let t0 = Instant::now();
        let mut not_ready = false;
        while t0.elapsed() < Duration::from_secs(2) {
            not_ready |= edge.get("/readyz").is_some_and(|(st, _)| st == 503);
            std::thread::sleep(Duration::from_millis(100));
            disk.fill();
        }
        std::fs::remove_file(&filler).expect("free the disk");
        let records = drive.join();
        let o = settle(&records, || lake.clone());
        let overloaded: u64 = records
            .iter()
            .filter_map(|r| r.errors.get("overloaded"))
            .sum();
        report(
            row,
            &o,
            &records,
            serde_json::json!({"run": run, "readyz_503_while_full": not_ready, "overloaded_errors": overloaded}),
        );
        assert_conserved(&o);
        assert!(
            not_ready,
            "/readyz answers 503 while the spool cannot be written"
        );
        assert!(
            overloaded > 0,
            "frames were refused while the disk was full"
        );
        drop(edge);
        drop(disk);
    }
}

/// A one-shard edge whose data directory is `data` (on a small disk) and whose segments are
/// not sealed for their age, so they stay in the spool to be read ([`spooled_frames`]).
fn unsealed_edge_on(root: &Path, data: &Path) -> Edge {
    Edge::launch(
        |_, p| {
            config(root, p, 1, "", "")
                .replace(
                    &format!("data_dir = {:?}", root.join("data")),
                    &format!("data_dir = {data:?}"),
                )
                .replace("max_age_s = 1", "max_age_s = 600")
        },
        Vec::new(),
    )
}

/// The seqs of session `sid`'s frames in the spool under `data`, read as a start's recovery
/// reads them (in order), which finds no torn or stray bytes.
fn spooled_frames(data: &Path, sid: &str) -> Vec<u64> {
    let mut seqs = Vec::new();
    for d in std::fs::read_dir(data.join("spool")).expect("spool") {
        let r = sentientiq_edge::storage::spool::recover(&d.expect("dir").path(), |rec| {
            if rec.kind == 1 && rec.sid == sid {
                seqs.push(rec.seq);
            }
        })
        .expect("recover");
        assert_eq!(r.truncated_bytes, 0, "no torn or stray bytes");
    }
    seqs.sort_unstable();
    seqs
}

/// The disk is full when a new segment gets its first records: the segment's file is made, the
/// write of its header and records fails, the file is cut back to empty, and once space frees
/// the same records are written again whole, header first. Nothing is acked before that, and
/// the spool then holds each record once behind a valid header. On a tmpfs and on ext4 (where
/// the segment's reservation fails too, and its write finds no room).
#[test]
fn fault_a_new_segments_first_write_on_a_full_disk_is_written_again_whole() {
    a_new_segments_first_write_on_a_full_disk_is_written_again_whole(DiskKind::Tmpfs);
}

#[test]
fn fault_a_new_segments_first_write_on_a_full_ext4_disk_is_written_again_whole() {
    a_new_segments_first_write_on_a_full_disk_is_written_again_whole(DiskKind::Ext4);
}

fn a_new_segments_first_write_on_a_full_disk_is_written_again_whole(kind: DiskKind) {
    let root = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(kind, &root.path().join("disk"), 48);
    let data = disk.path().to_path_buf();
    let mut edge = unsealed_edge_on(root.path(), &data);
    let sid = &format!("s_fault_first_write_{kind:?}");
    let mut c = edge.ws();
    c.hello(DEMO_KEY, sid, None);
    let filler = disk.fill();
    // The first frame opens the shard's first segment on the full disk.
    c.send(&sentientiq_testkit::frames::moves(1, 12));
    wait_for("the spool write to fail", Duration::from_secs(20), || {
        edge.log().contains("spool write failed")
    });
    // It is retried about ten times a second: each failure counted, the first one logged (then
    // one line a minute at most).
    let errors = "siq_spool_write_errors_total";
    wait_for(
        "five failed writes counted",
        Duration::from_secs(20),
        || sentientiq_testkit::net::metric_sum(&edge.metrics_text_past_cap(), errors) >= 5.0,
    );
    std::fs::remove_file(&filler).expect("free the disk");
    c.until_ack(1);
    c.send(&sentientiq_testkit::frames::moves(2, 12));
    c.until_ack(2);
    let log = edge.log();
    assert_eq!(
        log.matches("spool write failed").count(),
        1,
        "one line for the failures, not one each: {log}"
    );
    assert!(
        log.contains("spool writes hold again"),
        "the recovery is logged: {log}"
    );
    // Each retry's cut reserves the segment's space again, which the full disk refuses: that
    // is not logged again (at most once, when the segment was made).
    assert!(
        log.matches("could not be reserved").count() <= 1,
        "the reservation's refusal is not logged at every retry: {log}"
    );
    edge.kill9();
    assert_eq!(
        spooled_frames(&data, sid),
        [1, 2],
        "each frame stored once, readable behind the header"
    );
}

/// The edge is stopped (SIGTERM) while its spool writes fail: a full disk refuses a new
/// segment's first records, which the writer retries about ten times a second. The stop does
/// not wait for the disk: the shard waits 5 s for what is pending, then 2 s for the writer,
/// cancels it and says so in the log, and the edge exits cleanly. The frame
/// being retried was never acked; after a restart on a disk with room it is sent again and
/// stored once.
#[test]
fn fault_an_edge_stopped_while_its_spool_writes_fail_exits_without_acking_them() {
    let root = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(DiskKind::Tmpfs, &root.path().join("disk"), 48);
    let data = disk.path().to_path_buf();
    let mut edge = unsealed_edge_on(root.path(), &data);
    let sid = "s_fault_stop_while_failing";
    let mut c = edge.ws();
    c.hello(DEMO_KEY, sid, None);
    let filler = disk.fill();
    c.send(&sentientiq_testkit::frames::moves(1, 12));
    let errors = "siq_spool_write_errors_total";
    wait_for(
        "five failed writes counted",
        Duration::from_secs(20),
        || sentientiq_testkit::net::metric_sum(&edge.metrics_text_past_cap(), errors) >= 5.0,
    );
    // `sigterm` fails the test if the edge has not exited 15 s after the signal.
    let status = edge.sigterm();
    let log = edge.log();
    assert!(status.success(), "{status}: {log}");
    assert!(
        log.contains("spool writer cancelled at the stop before it finished"),
        "the writer left behind is said: {log}"
    );
    // Nothing was acked: the connection's last word is its close.
    let mut got = Vec::new();
    while let Some(f) = c.recv() {
        got.push(f);
    }
    assert!(
        !got.iter()
            .any(|f| matches!(f, sentientiq_proto::EdgeFrame::Ack { .. })),
        "acked while its write failed: {got:?}"
    );
    // The disk has room again: the edge starts, the frame is sent again, and stored once.
    std::fs::remove_file(&filler).expect("free the disk");
    edge.spawn();
    let mut c = edge.ws();
    c.hello(DEMO_KEY, sid, None);
    c.send(&sentientiq_testkit::frames::moves(1, 12));
    c.until_ack(1);
    c.send(&sentientiq_testkit::frames::moves(2, 12));
    c.until_ack(2);
    edge.kill9();
    assert_eq!(spooled_frames(&data, sid), [1, 2], "each frame stored once");
}

/// One category of hostile input: bytes made from a random number.
type Input = Box<dyn Fn(u64) -> Vec<u8>>;

/// Raw bytes on a fresh connection; the answer's status line (or nothing).
fn raw_exchange(port: u16, bytes: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let _ = s.write_all(bytes);
    // Nothing more comes: the edge sees the end at once instead of waiting for a body.
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.lines().next().map(str::to_string)
}

#[test]
fn fault_hostile_input_of_every_category_is_refused_and_breaks_nothing() {
    use sentientiq_proto::ClientFrame;
    let s = scale();
    let edge = Edge::launch(|d, p| config(d, p, 2, ONE_ADDRESS_FOR_ALL, ""), Vec::new());
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = || splitmix64(&mut rng);
    let mut answered = std::collections::BTreeMap::<String, u64>::new();
    let categories: Vec<(&str, Input)> = vec![
        (
            "garbage_bytes",
            Box::new(|r| {
                (0..64)
                    .map(|i| (r >> (i % 8 * 8)) as u8 ^ i as u8)
                    .collect()
            }),
        ),
        (
            "malformed_head",
            Box::new(|r| format!("GET /v1/ping HTTP/9.{r}\r\nHo st: x\r\n\r\n").into_bytes()),
        ),
        (
            "oversized_head",
            Box::new(|_| {
                let mut v = b"GET /v1/ping HTTP/1.1\r\nX: ".to_vec();
                v.extend(std::iter::repeat_n(b'a', 20_000));
                v.extend_from_slice(b"\r\n\r\n");
                v
            }),
        ),
        (
            "smuggling_te_and_cl",
            Box::new(|_| {
                b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec()
            }),
        ),
        (
            "bad_batch_body",
            Box::new(|r| {
                let body: Vec<u8> = (0..(r % 300) as usize)
                    .map(|i| (r as usize).wrapping_mul(31).wrapping_add(i) as u8)
                    .collect();
                let mut v = format!(
                    "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                v.extend(body);
                v
            }),
        ),
        (
            "huge_declared_length",
            Box::new(|_| {
                b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n"
                    .to_vec()
            }),
        ),
        (
            "unknown_route",
            Box::new(|r| format!("GET /{r:x} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()),
        ),
    ];
    for (name, make) in &categories {
        for _ in 0..s.hostile_each {
            let status = raw_exchange(edge.port, &make(next())).unwrap_or_default();
            let code = status.split(' ').nth(1).unwrap_or("none").to_string();
            assert!(!code.starts_with('5') || code == "503", "{name}: {status}");
            *answered.entry(format!("{name}:{code}")).or_default() += 1;
        }
    }
    // Frames: random bytes, oversize, deep nesting, wrong types, over every WebSocket.
    let frame_cases: Vec<(&str, Input)> = vec![
        (
            "random_frame",
            Box::new(|r| {
                (0..(r % 200) as usize)
                    .map(|i| (r >> (i % 8)) as u8 ^ (i as u8))
                    .collect()
            }),
        ),
        (
            "deep_nesting",
            Box::new(|_| {
                let mut v = vec![0x81, 0xa1, b't', 0xa1, b'b', 0xa1, b'x'];
                v.extend(std::iter::repeat_n(0x91, 5000));
                v.push(0x01);
                v
            }),
        ),
        (
            "lying_length",
            Box::new(|_| vec![0x81, 0xa1, b't', 0xdb, 0x7f, 0xff, 0xff, 0xff, b'b']),
        ),
        ("oversize_frame", Box::new(|_| vec![0xc4; 200_000])),
    ];
    for (name, make) in &frame_cases {
        for i in 0..s.hostile_each {
            let mut c = edge.ws();
            c.hello(DEMO_KEY, &format!("s_fault_hostile_{i:06}"), None);
            c.send_raw(async_tungstenite::tungstenite::Message::Binary(
                make(next()).into(),
            ));
            let got = match c.recv() {
                Some(sentientiq_proto::EdgeFrame::Err(e)) => e.code.as_str().to_string(),
                Some(_) => "frame".into(),
                None => "closed".into(),
            };
            *answered.entry(format!("{name}:{got}")).or_default() += 1;
        }
    }
    // The edge is healthy and a clean session is conserved.
    assert_eq!(edge.get("/healthz").map(|(s, _)| s), Some(200));
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_fault_hostile_clean1", None);
    for seq in 1..=5 {
        c.send(&sentientiq_testkit::frames::moves(seq, 4));
    }
    c.until_ack(5);
    let _ = ClientFrame::Bye {
        seq: sentientiq_proto::Seq(6),
    };
    let rows = poll("the clean session's rows", || {
        let (rows, _) = lake_rows(&edge.lake_dir());
        let mine: Vec<_> = rows
            .into_iter()
            .filter(|r| r.0 == "s_fault_hostile_clean1")
            .collect();
        (mine.len() >= 20).then_some(mine)
    });
    assert_eq!(rows.len(), 20);
    println!(
        "FAULTS {}",
        serde_json::json!({"row": "hostile", "scale": if s.full { "full" } else { "small" }, "inputs": answered.values().sum::<u64>(), "answers": answered})
    );
}

#[test]
fn fault_slowloris_sockets_do_not_hold_up_real_sessions() {
    let s = scale();
    let edge = Edge::launch(
        |d, p| {
            config(
                d,
                p,
                2,
                "header_timeout_ms = 3000\nmax_connections_per_shard = 20000",
                "",
            )
        },
        Vec::new(),
    );
    // Sockets that trickle a request head, a byte at a time.
    let port = edge.port;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut socks: Vec<TcpStream> = (0..s.slow_sockets)
                .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
                .collect();
            let opened = socks.len();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                socks.retain_mut(|t| t.write_all(b"G").is_ok());
                std::thread::sleep(Duration::from_millis(500));
                // Reopen what the edge closed (its head deadline), as an attacker would.
                while socks.len() < opened {
                    match TcpStream::connect(("127.0.0.1", port)) {
                        Ok(t) => socks.push(t),
                        Err(_) => break,
                    }
                }
            }
            opened
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let drive = Drive::start(Arc::new(Mutex::new(edge.port)), &plan(s, "s_fault_slow__"));
    let records = drive.join();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let opened = trickle.join().expect("trickle");
    let o = settle(&records, || edge.lake_dir());
    report(
        "slowloris",
        &o,
        &records,
        serde_json::json!({"slow_sockets": opened}),
    );
    assert_conserved(&o);
    assert_eq!(o.unacked, 0, "every real frame was acknowledged");
}

#[test]
fn fault_tenants_are_isolated() {
    let s = scale();
    let other = "siq_pk_other_0000000000000000";
    let edge = Edge::launch(
        |d, p| {
            let base = config(
                d,
                p,
                1,
                ONE_ADDRESS_FOR_ALL,
                "[tenant.limits]\nmax_sessions_per_shard = 4\n",
            );
            format!(
                "{base}\n[[tenant]]\nid = \"other\"\nkey_sha256 = [\"{}\"]\nallowed_origins = [\"https://other.example\"]\n",
                hex::encode(sentientiq_tenant::key_hash(other))
            )
        },
        Vec::new(),
    );
    // demo floods past its session cap; other's sessions still get in and are conserved.
    let mut flood = Vec::new();
    for i in 0..(s.sessions.max(8) * 2) {
        if let Ok(c) = edge.try_hello(DEMO_KEY, &format!("s_fault_flood_{i:08}")) {
            flood.push(c);
        }
    }
    assert_eq!(flood.len(), 4, "demo's cap holds");
    let mut c = edge.ws_with(&[("Origin", "https://other.example")]);
    c.hello(other, "s_fault_other_0000001", None);
    for seq in 1..=5 {
        c.send(&sentientiq_testkit::frames::moves(seq, 4));
    }
    c.until_ack(5);
    // A page of another origin cannot send with other's key.
    let mut x = edge.ws_with(&[("Origin", "https://shop.example")]);
    x.send(&sentientiq_proto::ClientFrame::Hello(
        sentientiq_testkit::frames::hello(other, "s_fault_other_0000002", None),
    ));
    assert!(
        matches!(x.recv(), Some(sentientiq_proto::EdgeFrame::Err(e)) if e.code == sentientiq_proto::ErrorCode::Origin)
    );
    // Each tenant's rows only under its own partition.
    poll("other's rows", || {
        let (rows, _) = lake_rows(&edge.lake_dir());
        (rows
            .iter()
            .filter(|r| r.0 == "s_fault_other_0000001")
            .count()
            == 20)
            .then_some(())
    });
    let files = sentientiq_testkit::lake::table_files(&edge.lake_dir(), "events");
    for (key, path) in &files {
        let rows = sentientiq_testkit::lake::parquet_batches(path);
        let sessions: Vec<String> = rows
            .iter()
            .flat_map(|b| {
                (0..b.num_rows())
                    .filter_map(|i| sentientiq_testkit::lake::dict_str(b, "session", i))
                    .collect::<Vec<_>>()
            })
            .collect();
        let theirs = sessions.iter().all(|s| s.starts_with("s_fault_other_"));
        assert_eq!(key.contains("tenant=other"), theirs, "{key}: {sessions:?}");
    }
    println!(
        "FAULTS {}",
        serde_json::json!({"row": "tenant_isolation", "scale": if s.full { "full" } else { "small" }, "flood_admitted": flood.len(), "files": files.len()})
    );
}

#[test]
fn fault_the_control_plane_down_stops_nothing() {
    let s = scale();
    let mut plane = Plane::start();
    let key = plane.acme();
    let mut edge = Edge::follow("us-east-1", &plane);
    wait_for("the key reaches the edge", Duration::from_secs(10), || {
        edge.try_hello(&key, "s_fault_plane_probe01").is_ok()
    });
    let target = Arc::new(Mutex::new(edge.port));
    let mut p = plan(s, "s_fault_plane_");
    p.key = key.clone();
    let drive = Drive::start(target, &p);
    std::thread::sleep(s.every * (s.frames as u32 / 4));
    plane.kill9();
    std::thread::sleep(s.every * (s.frames as u32 / 4));
    // A restart while the plane is down serves the last-known-good config.
    edge.kill9();
    edge.spawn();
    std::thread::sleep(s.every * (s.frames as u32 / 4));
    plane.spawn();
    let records = drive.join();
    let o = settle(&records, || edge.lake_dir());
    report("control_plane_down", &o, &records, serde_json::json!({}));
    assert_conserved(&o);
    assert_eq!(o.unacked, 0);
}

#[test]
fn fault_overload_admits_high_value_newcomers_and_sheds_low_value() {
    let s = scale();
    let cap = 10;
    let edge = Edge::launch(
        |d, p| {
            config(
                d,
                p,
                1,
                "",
                &format!(
                    "[tenant.limits]\nmax_sessions_per_shard = {cap}\n\n[[tenant.accounts]]\nmatch = \"u_whale\"\ncompany = \"Whale Inc\"\nvalue_cents = 25000000\n"
                ),
            )
        },
        Vec::new(),
    );
    // A flood of anonymous sessions fills the cap and more are refused.
    let mut flood = Vec::new();
    for i in 0..(cap * 3) {
        if let Ok(c) = edge.try_hello(DEMO_KEY, &format!("s_fault_anon_{i:08}")) {
            flood.push(c);
        }
    }
    assert_eq!(flood.len(), cap);
    // New visitors worth $250k (the SDK's identity hint in `hello`) get in, shedding the
    // cheapest sessions.
    let newcomers = 5;
    let mut admitted = 0;
    for i in 0..newcomers {
        let mut c = edge.ws();
        let mut h =
            sentientiq_testkit::frames::hello(DEMO_KEY, &format!("s_fault_whale_{i:07}"), None);
        h.uid = Some("u_whale".into());
        c.send(&sentientiq_proto::ClientFrame::Hello(h));
        if matches!(c.recv(), Some(sentientiq_proto::EdgeFrame::Welcome(_))) {
            admitted += 1;
        }
    }
    println!(
        "FAULTS {}",
        serde_json::json!({"row": "overload_high_value", "scale": if s.full { "full" } else { "small" }, "cap": cap, "high_value_newcomers": newcomers, "admitted": admitted})
    );
    assert_eq!(admitted, newcomers);
}
