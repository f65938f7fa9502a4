//! The S3 sink against a real S3-compatible server (s3s over s3s-fs, SigV4-authenticated) started
//! by the test itself on a loopback port.
#![cfg(all(feature = "s3", feature = "s3-server"))]

use std::io::Write;
use std::time::{Duration, Instant};

use sentientiq_lake::s3::{
    MAX_ATTEMPTS, MAX_PARTS, MIN_PART_BYTES, Refused, S3Options, S3OptionsError, S3SetupError,
    S3Sink, Secret, UrlError, valid_bucket,
};
use sentientiq_lake::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use sentientiq_lake::{Sink, SinkError};

fn opts(endpoint: &str, bucket: &str) -> S3Options {
    S3Options {
        bucket: bucket.into(),
        endpoint: Some(endpoint.into()),
        path_style: true,
        max_attempts: 2,
        attempt_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(1),
        static_keys: Some((ACCESS_KEY.into(), Secret::new(SECRET_KEY))),
        ..S3Options::default()
    }
}

fn get(sink: &S3Sink, key: &str) -> Vec<u8> {
    sink.block_on(async {
        let o = sink
            .client()
            .get_object()
            .bucket(sink.bucket())
            .key(key)
            .send()
            .await
            .expect("get");
        o.body.collect().await.expect("body").into_bytes().to_vec()
    })
}

fn list(sink: &S3Sink, prefix: &str) -> Vec<String> {
    sink.block_on(async {
        let o = sink
            .client()
            .list_objects_v2()
            .bucket(sink.bucket())
            .prefix(prefix)
            .send()
            .await
            .expect("list");
        let mut keys: Vec<String> = o
            .contents()
            .iter()
            .filter_map(|c| c.key().map(str::to_string))
            .collect();
        keys.sort();
        keys
    })
}

/// Deterministic, incompressible-looking bytes.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A sink of `server`'s bucket `lake` that goes multipart from S3's smallest part size, in
/// parts of that size.
fn smallest_parts(server: &S3Server) -> S3Sink {
    S3Sink::new(S3Options {
        part_bytes: MIN_PART_BYTES,
        multipart_threshold_bytes: MIN_PART_BYTES,
        ..opts(&server.endpoint(), "lake")
    })
    .expect("sink")
}

#[test]
fn a_put_lands_under_its_key_and_a_repeat_is_recognised_as_done() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake"]).expect("server");
    let sink = S3Sink::new(opts(&server.endpoint(), "lake")).expect("sink");
    let key = "events/tenant=demo/date=2026-11-23/hour=00/region=us-east-1/e1-0-1.parquet";
    let first = bytes(1000, 1);
    sink.put(key, &first).expect("put");
    assert_eq!(get(&sink, key), first);
    // A repeat upload of the key (a retry after a crash) is refused by `If-None-Match: *` and
    // taken as done: the object is the first upload's, and the put succeeds.
    sink.put(key, &bytes(1000, 2)).expect("repeat");
    assert_eq!(get(&sink, key), first);
    assert_eq!(list(&sink, "events/"), vec![key.to_string()]);
    // Bad keys never reach the store.
    for bad in ["", "/abs", "a/../b", "a//b"] {
        assert!(
            matches!(sink.put(bad, b"x"), Err(SinkError::BadKey { .. })),
            "{bad}"
        );
    }
}

#[test]
fn large_files_go_up_in_parts_and_a_repeat_is_recognised_as_done() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake"]).expect("server");
    let sink = smallest_parts(&server);
    // Threshold − 1 is a single put; the threshold and above are multipart (3 parts here).
    let small = bytes(MIN_PART_BYTES - 1, 3);
    sink.put("t/small", &small).expect("small");
    assert_eq!(get(&sink, "t/small"), small);
    let exact = bytes(MIN_PART_BYTES, 4);
    sink.put("t/exact", &exact).expect("exact");
    assert_eq!(get(&sink, "t/exact"), exact);
    let big = bytes(2 * MIN_PART_BYTES + 12345, 5);
    sink.put("t/big", &big).expect("big");
    let etag = sink.block_on(async {
        sink.client()
            .head_object()
            .bucket("lake")
            .key("t/big")
            .send()
            .await
            .expect("head")
            .e_tag()
            .map(str::to_string)
    });
    // A multipart object's ETag is `md5-of-part-md5s-<parts>`.
    assert!(
        etag.as_deref()
            .is_some_and(|e| e.trim_matches('"').ends_with("-3")),
        "{etag:?}"
    );
    assert_eq!(get(&sink, "t/big"), big);
    sink.put("t/big", &bytes(2 * MIN_PART_BYTES + 12345, 6))
        .expect("repeat");
    assert_eq!(get(&sink, "t/big"), big);
    assert_eq!(
        parts_in_progress(d.path()),
        0,
        "the repeat's upload, refused at completion, was aborted"
    );
}

/// The part limit at cap − 1, cap and cap + 1 (a limit of 3 here; S3's is 10 000, whose
/// files of at least 50 GB a test cannot send): a file of cap − 1 or cap parts is stored whole,
/// one that needs another part fails with the limit named (at its commit, or while a staged
/// file is written), nothing appears under its key and its upload is aborted (no part is left
/// on the store).
#[test]
fn the_part_limit_holds_at_cap_minus_one_cap_and_cap_plus_one() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake"]).expect("server");
    let cap = 3;
    let sink = S3Sink::new(S3Options {
        part_bytes: MIN_PART_BYTES,
        multipart_threshold_bytes: MIN_PART_BYTES,
        max_parts: cap,
        ..opts(&server.endpoint(), "lake")
    })
    .expect("sink");
    for (parts, key) in [(cap - 1, "t/cap-1"), (cap, "t/cap")] {
        let file = bytes(parts * MIN_PART_BYTES, parts as u64);
        sink.put(key, &file).expect(key);
        assert_eq!(get(&sink, key), file, "{key}");
    }
    let over = bytes(cap * MIN_PART_BYTES + 1, 9);
    let e = sink.put("t/cap+1", &over).expect_err("one part too many");
    assert!(
        matches!(&e, SinkError::Remote(m) if m.contains("t/cap+1") && m.contains("more than 3 parts")),
        "{e}"
    );
    assert_eq!(
        list(&sink, "t/"),
        vec!["t/cap".to_string(), "t/cap-1".to_string()]
    );
    assert_eq!(parts_in_progress(d.path()), 0, "the upload was aborted");
    // A staged file meets the limit while it is written (a part goes up as each fills): the
    // write that needs part cap + 1 fails, so does the commit, and nothing is left.
    let mut f = sink.stage("t/staged").expect("stage");
    let e = f
        .write_all(&bytes((cap + 1) * MIN_PART_BYTES + 1, 10))
        .expect_err("part cap + 1 refused while writing");
    let e = sentientiq_lake::into_sink_error("t/staged", e);
    assert!(
        matches!(&e, SinkError::Remote(m) if m.contains("more than 3 parts")),
        "{e}"
    );
    assert!(f.commit().is_err(), "a refused file is never completed");
    assert_eq!(
        list(&sink, "t/"),
        vec!["t/cap".to_string(), "t/cap-1".to_string()]
    );
    assert_eq!(parts_in_progress(d.path()), 0, "its upload was aborted");
    // The limit itself is checked: 1 to S3's 10 000.
    for (n, ok) in one_to(MAX_PARTS) {
        let o = S3Options {
            max_parts: n,
            ..opts(&server.endpoint(), "lake")
        };
        let want = ok.then_some(()).ok_or(S3OptionsError::MaxParts(n));
        assert_eq!(o.validate(), want, "max_parts {n}");
    }
}

/// The edges of a limit `1..=cap`, each with whether it is within: 0, 1, cap − 1, cap, cap + 1.
fn one_to(cap: usize) -> [(usize, bool); 5] {
    [
        (0, false),
        (1, true),
        (cap - 1, true),
        (cap, true),
        (cap + 1, false),
    ]
}

/// The parts of multipart uploads in progress on the test server (s3s-fs keeps each as a file
/// `.upload_id-<id>.part-<n>` in its root until the upload completes or is aborted).
fn parts_in_progress(root: &std::path::Path) -> usize {
    std::fs::read_dir(root)
        .expect("server root")
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(".upload_id-") && n.contains(".part-")
        })
        .count()
}

#[test]
fn a_staged_file_sends_each_part_as_it_fills_and_appears_only_at_commit() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake"]).expect("server");
    let sink = smallest_parts(&server);
    let big = bytes(2 * MIN_PART_BYTES + 12345, 7);
    let mut f = sink.stage("t/staged").expect("stage");
    // One write takes at most what the sink holds (the threshold, here one part) ...
    assert_eq!(f.write(&big).expect("write"), MIN_PART_BYTES);
    assert_eq!(
        parts_in_progress(d.path()),
        0,
        "nothing sent below the threshold"
    );
    // ... and the next one sends it as the first part before it takes more.
    for c in big[MIN_PART_BYTES..].chunks(64 << 10) {
        f.write_all(c).expect("write");
    }
    assert_eq!(
        parts_in_progress(d.path()),
        2,
        "two full parts went up as they filled"
    );
    assert!(
        list(&sink, "t/").is_empty(),
        "nothing under the key before the commit"
    );
    assert_eq!(f.commit().expect("commit"), big.len() as u64);
    assert_eq!(get(&sink, "t/staged"), big);
    assert_eq!(parts_in_progress(d.path()), 0);
    // The same bytes given to `put` make the same object (parts at the same boundaries: a
    // multipart ETag is the MD5 of the parts' MD5s).
    sink.put("t/whole", &big).expect("put");
    let etag = |key: &str| {
        sink.block_on(async {
            sink.client()
                .head_object()
                .bucket("lake")
                .key(key)
                .send()
                .await
                .expect("head")
                .e_tag()
                .map(str::to_string)
        })
    };
    assert_eq!(etag("t/staged"), etag("t/whole"));
    assert!(etag("t/staged").is_some_and(|e| e.trim_matches('"').ends_with("-3")));
    // A staged file dropped after a part went up (a failed shipment) leaves no object and no
    // parts: its upload is aborted.
    let mut g = sink.stage("t/dropped").expect("stage");
    g.write_all(&big[..2 * MIN_PART_BYTES]).expect("write");
    assert_eq!(parts_in_progress(d.path()), 1);
    drop(g);
    assert_eq!(parts_in_progress(d.path()), 0);
    assert_eq!(
        list(&sink, "t/"),
        vec!["t/staged".to_string(), "t/whole".to_string()]
    );
    // A small staged file is one PUT at commit; committing a key again keeps the first object.
    let mut h = sink.stage("t/staged").expect("stage");
    h.write_all(b"other").expect("write");
    assert_eq!(h.commit().expect("repeat"), 5);
    assert_eq!(get(&sink, "t/staged"), big);
}

/// A store that goes away in the middle of a staged file: the write that needed it fails with
/// the cause, every later write and the commit fail too (the bytes of the failed part are gone,
/// so the file must not be completed with a hole), nothing appears under the key, and the same
/// file staged again once the store is back is stored whole.
#[test]
fn an_outage_in_the_middle_of_a_staged_file_never_completes_it() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake"]).expect("server");
    let port = server.port();
    let sink = smallest_parts(&server);
    let big = bytes(3 * MIN_PART_BYTES + 7, 8);
    let mut f = sink.stage("t/cut").expect("stage");
    f.write_all(&big[..2 * MIN_PART_BYTES]).expect("first part");
    assert_eq!(parts_in_progress(d.path()), 1);
    server.stop();
    let e = f
        .write_all(&big[2 * MIN_PART_BYTES..])
        .expect_err("the second part cannot go up");
    let e = sentientiq_lake::into_sink_error("t/cut", e);
    assert!(
        matches!(&e, SinkError::Remote(m) if m.contains("t/cut") && m.contains("UploadPart")),
        "{e}"
    );
    assert!(
        f.write(b"more").is_err(),
        "a failed upload takes no more bytes"
    );
    assert!(
        matches!(f.commit(), Err(SinkError::Remote(m)) if m.contains("earlier request")),
        "a failed upload is never completed"
    );
    let server = S3Server::start(d.path(), port, &[]).expect("restart");
    assert!(list(&sink, "t/").is_empty());
    let mut again = sink.stage("t/cut").expect("stage again");
    again.write_all(&big).expect("write");
    assert_eq!(again.commit().expect("commit"), big.len() as u64);
    assert_eq!(get(&sink, "t/cut"), big);
    drop(server);
}

#[test]
fn an_outage_is_an_error_with_the_cause_and_the_same_put_succeeds_after() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake"]).expect("server");
    let port = server.port();
    let sink = S3Sink::new(opts(&server.endpoint(), "lake")).expect("sink");
    sink.put("k/before", b"before").expect("put");
    server.stop();
    let t = Instant::now();
    let e = sink.put("k/during", b"during").expect_err("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("k/during") && msg.contains("PutObject"),
        "{msg}"
    );
    // Retries are bounded: two attempts with jittered backoff, not a hang.
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let server = S3Server::start(d.path(), port, &[]).expect("restart");
    sink.put("k/during", b"during").expect("after");
    assert_eq!(get(&sink, "k/during"), b"during");
    assert_eq!(get(&sink, "k/before"), b"before");
    drop(server);
}

#[test]
fn wrong_credentials_and_bad_bucket_names_are_clear_errors() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake"]).expect("server");
    let bad = S3Sink::new(S3Options {
        static_keys: Some((ACCESS_KEY.into(), Secret::new("wrong-secret"))),
        ..opts(&server.endpoint(), "lake")
    })
    .expect("sink");
    let msg = bad.put("k/x", b"x").expect_err("refused").to_string();
    assert!(msg.contains("SignatureDoesNotMatch"), "{msg}");
    // (s3s-fs creates a missing bucket on put, so a missing bucket is not tested here.)
    let sink = S3Sink::new(opts(&server.endpoint(), "lake")).expect("sink");
    assert!(sink.with_bucket("Bad_Bucket").is_err());
}

#[test]
fn a_tenants_own_bucket_shares_the_client() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake", "acme-lake"]).expect("server");
    let sink = S3Sink::new(opts(&server.endpoint(), "lake")).expect("sink");
    let acme = sink.with_bucket("acme-lake").expect("bucket");
    acme.put("siq/events/x", b"acme").expect("put");
    assert_eq!(get(&acme, "siq/events/x"), b"acme");
    assert!(list(&sink, "siq/").is_empty());
}

#[test]
fn options_limits_are_checked_at_the_edges() {
    let ok = S3Options {
        bucket: "lake".into(),
        ..S3Options::default()
    };
    assert_eq!(ok.validate(), Ok(()));
    let with = |f: &dyn Fn(&mut S3Options)| {
        let mut o = ok.clone();
        f(&mut o);
        o.validate()
    };
    // part_bytes: S3's minimum part size, and the threshold at least one part.
    assert_eq!(
        with(&|o| o.part_bytes = MIN_PART_BYTES - 1),
        Err(S3OptionsError::PartBytes(MIN_PART_BYTES - 1))
    );
    let min = |o: &mut S3Options| {
        o.part_bytes = MIN_PART_BYTES;
        o.multipart_threshold_bytes = MIN_PART_BYTES
    };
    assert_eq!(with(&min), Ok(()));
    assert_eq!(
        with(&|o| {
            min(o);
            o.part_bytes = MIN_PART_BYTES + 1
        }),
        Err(S3OptionsError::Threshold {
            threshold: MIN_PART_BYTES,
            part_bytes: MIN_PART_BYTES + 1
        })
    );
    // max_attempts: 1..=MAX_ATTEMPTS.
    for (n, ok) in one_to(MAX_ATTEMPTS as usize) {
        let n = n as u32;
        let want = ok.then_some(()).ok_or(S3OptionsError::MaxAttempts(n));
        assert_eq!(with(&|o| o.max_attempts = n), want, "max_attempts {n}");
    }
    // Timeouts: any positive one, each named.
    assert_eq!(
        with(&|o| o.attempt_timeout = Duration::ZERO),
        Err(S3OptionsError::ZeroAttemptTimeout)
    );
    assert_eq!(
        with(&|o| o.connect_timeout = Duration::ZERO),
        Err(S3OptionsError::ZeroConnectTimeout)
    );
    assert_eq!(
        with(&|o| {
            o.attempt_timeout = Duration::from_nanos(1);
            o.connect_timeout = Duration::from_nanos(1)
        }),
        Ok(())
    );
    assert_eq!(
        with(&|o| o.endpoint = Some("127.0.0.1:9000".into())),
        Err(S3OptionsError::Endpoint(Refused {
            key: "endpoint",
            shown: "127.0.0.1:9000".into(),
            reason: UrlError::Scheme
        }))
    );
    assert_eq!(
        with(&|o| o.endpoint = Some("https://s3.example".into())),
        Ok(())
    );
    // Credentials in the endpoint are refused without being repeated: an `@` anywhere (past
    // the host it may end a password holding `/`, `?` or `#`), whatever else is wrong.
    for (secret, as_shown, reason) in [
        (
            "http://AKIAEXAMPLE:hunter2@127.0.0.1:9000",
            "http://<credentials>@127.0.0.1:9000",
            UrlError::Credentials,
        ),
        (
            "https://hunter2@s3.example/",
            "https://<credentials>@s3.example/",
            UrlError::Credentials,
        ),
        (
            "ftp://AKIAEXAMPLE:hunter2@s3.example",
            "ftp://<credentials>@s3.example",
            UrlError::Credentials,
        ),
        (
            "https://AKIAEXAMPLE:pa/hunter2@s3.example",
            "https://<credentials>@s3.example",
            UrlError::Credentials,
        ),
    ] {
        let e = with(&|o| o.endpoint = Some(secret.into())).expect_err(secret);
        assert_eq!(
            e,
            S3OptionsError::Endpoint(Refused {
                key: "endpoint",
                shown: as_shown.into(),
                reason
            }),
            "{secret}"
        );
        let o = S3Options {
            endpoint: Some(secret.into()),
            ..ok.clone()
        };
        let shown = format!("{e} {e:?} {o:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    assert_eq!(
        with(&|o| o.endpoint = Some("http://AKIAEXAMPLE:hunter2@127.0.0.1:9000".into()))
            .expect_err("credentials")
            .to_string(),
        "endpoint `http://<credentials>@127.0.0.1:9000` holds an @ (credentials, user@ or \
         user:password@, are given elsewhere)"
    );
    // Keys are appended to it: a path prefix is kept, a query or fragment is refused.
    assert_eq!(
        with(&|o| o.endpoint = Some("http://127.0.0.1:9000/s3/".into())),
        Ok(())
    );
    assert_eq!(
        with(&|o| o.endpoint = Some("http://127.0.0.1:9000/?x=1".into())),
        Err(S3OptionsError::Endpoint(Refused {
            key: "endpoint",
            shown: "http://127.0.0.1:9000/?x=1".into(),
            reason: UrlError::QueryOrFragment
        }))
    );
    assert_eq!(
        with(&|o| o.region = String::new()),
        Err(S3OptionsError::EmptyRegion)
    );
    assert_eq!(
        with(&|o| o.bucket = "La ke".into()),
        Err(S3OptionsError::Bucket("La ke".into()))
    );
    // The message names the field and the value.
    assert_eq!(
        S3OptionsError::MaxAttempts(11).to_string(),
        format!("max_attempts 11 must be within 1..={MAX_ATTEMPTS}")
    );
    // The sink refuses them before it sends anything, as what they are.
    let e = S3Sink::new(S3Options {
        max_attempts: 0,
        endpoint: Some("http://127.0.0.1:9".into()),
        ..ok.clone()
    })
    .expect_err("refused");
    assert!(
        matches!(&e, S3SetupError::Options(S3OptionsError::MaxAttempts(0))),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "S3 options: max_attempts 0 must be within 1..=10"
    );
    // Said once in a cause chain, as lake-compact prints it.
    assert_eq!(
        format!("{:#}", anyhow::Error::new(e).context("S3")),
        "S3: S3 options: max_attempts 0 must be within 1..=10"
    );
    // Bucket names: 3..=63 characters.
    assert!(!valid_bucket("ab"));
    assert!(valid_bucket("abc"));
    assert!(valid_bucket(&"a".repeat(63)));
    assert!(!valid_bucket(&"a".repeat(64)));
    for bad in ["-lake", "lake-", "La ke", "a..b", "lake_1"] {
        assert!(!valid_bucket(bad), "{bad}");
    }
    // Secrets stay out of logs.
    let s = format!(
        "{:?}",
        S3Options {
            static_keys: Some(("id".into(), Secret::new("hunter2"))),
            ..ok.clone()
        }
    );
    assert!(
        !s.contains("hunter2") && s.contains("static_keys: Some((\"id\", [redacted]))"),
        "{s}"
    );
}

// ---- compaction in an S3 lake ----

/// Two regions' `events` files of hour 13 with a failover overlap (seq 5..=6 at both), as
/// (key, bytes).
fn failover_files(prefix: &str) -> Vec<(String, Vec<u8>)> {
    use sentientiq_lake::{EventsBuilder, FileBuilder, Partition, RowMeta, SessionState};
    use sentientiq_lake::{TableBuilder, object_key};
    use sentientiq_proto::{Batch, ClientFrame, Seq, kind};
    let h13 = 1_795_352_400_000u64;
    let file = |region: &str, edge: &str, seqs: std::ops::RangeInclusive<u64>, at: u64| {
        let mut f = FileBuilder::<EventsBuilder>::default();
        let mut st = SessionState::default();
        for seq in seqs {
            let mut b = Batch {
                seq: Seq(seq),
                t0: 1_795_350_000_000 + seq,
                ..Batch::default()
            };
            b.push(kind::MOVE, 0, seq as i32, 1, 0);
            b.push(kind::CLICK, 8_000, seq as i32, 2, 0);
            let m = RowMeta {
                tenant: "demo",
                region,
                edge,
                shard: 0,
                session: "s_moved",
                user: None,
                account: None,
                seq,
                recv_ms: at + seq * 100,
            };
            f.rows().push_frame(&m, &ClientFrame::Batch(b), &mut st);
        }
        let key = object_key(
            prefix,
            EventsBuilder::TABLE,
            &Partition::of("demo", h13),
            region,
            edge,
            0,
            0,
        );
        (key, f.finish().expect("finish").expect("rows"))
    };
    vec![
        file("us-east-1", "edge-a", 1..=6, h13 + 1_000),
        file("eu-west-1", "edge-b", 5..=9, h13 + 9_000),
    ]
}

/// `sentientiq-lake-compact` against an S3 bucket (the edge's S3 options as flags, credentials
/// from the standard chain's environment variables) writes the same bytes as compacting the
/// same files in a local directory, under the same key; a second run writes nothing; the
/// originals stay as they were and the downloads are removed.
#[test]
fn compaction_in_s3_matches_compaction_on_disk() {
    use sentientiq_lake::compact::{CompactOptions, LocalLake, Request, compact_hours};
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake"]).expect("server");
    let sink = S3Sink::new(opts(&server.endpoint(), "lake")).expect("sink");
    let local = tempfile::tempdir().expect("tempdir");
    let files = failover_files("siq");
    for (key, bytes) in &files {
        sink.put(key, bytes).expect("put");
        sentientiq_lake::LocalSink::new(local.path())
            .put(key, bytes)
            .expect("local put");
    }
    let hour = 1_795_352_400_000 / 3_600_000;
    let r = compact_hours(
        &LocalLake::new(local.path()),
        &Request {
            prefix: "siq",
            tenant: "demo",
            hours: hour..hour + 1,
            derived: &[],
            dry_run: false,
        },
        &CompactOptions::default(),
        |_| {},
    )
    .expect("local compaction");
    let t = &r[0].tables[0];
    assert_eq!((t.rows_in, t.rows_out), (22, 18), "seq 5 and 6 once");
    let want = std::fs::read(local.path().join(&t.key)).expect("local file");

    let scratch = tempfile::tempdir().expect("scratch");
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sentientiq-lake-compact"))
            .args([
                "--s3-bucket",
                "lake",
                "--s3-endpoint",
                &server.endpoint(),
                "--s3-path-style",
                "--prefix",
                "siq",
                "--tenant",
                "demo",
                "--hour",
                "2026-11-22T13",
                "--scratch",
            ])
            .arg(scratch.path())
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", d.path().join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                d.path().join("no-credentials"),
            )
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .expect("run sentientiq-lake-compact");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let text = run();
    assert!(
        text.contains("22 rows in, 4 duplicate rows dropped (2 frames), 18 rows out"),
        "{text}"
    );
    assert!(text.contains(&format!("{} (written, ", t.key)), "{text}");
    assert_eq!(get(&sink, &t.key), want, "the same bytes as on disk");
    let again = run();
    assert!(again.contains("(unchanged, "), "{again}");
    let mut keys: Vec<String> = files.iter().map(|(k, _)| k.clone()).collect();
    keys.push(t.key.clone());
    keys.sort();
    assert_eq!(list(&sink, "siq/"), keys);
    for (key, bytes) in &files {
        assert_eq!(&get(&sink, key), bytes, "{key} untouched");
    }
    let mut left = Vec::new();
    let mut dirs = vec![scratch.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).expect("scratch") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                left.push(p);
            }
        }
    }
    assert!(left.is_empty(), "downloads removed: {left:?}");
}

/// `put_replacing` overwrites (a compacted file whose inputs changed); `put` never does.
#[test]
fn put_replacing_overwrites_and_put_does_not() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(d.path(), 0, &["lake"]).expect("server");
    let sink = S3Sink::new(opts(&server.endpoint(), "lake")).expect("sink");
    sink.put("c/k", b"one").expect("put");
    sink.put("c/k", b"two").expect("put again");
    assert_eq!(get(&sink, "c/k"), b"one");
    sink.put_replacing("c/k", b"three").expect("replace");
    assert_eq!(get(&sink, "c/k"), b"three");
    assert_eq!(sink.get_bytes("c/k").expect("get"), Some(b"three".to_vec()));
    assert_eq!(sink.get_bytes("c/none").expect("get"), None);
    assert_eq!(sink.list_keys("c/").expect("list"), vec!["c/k".to_string()]);
}
