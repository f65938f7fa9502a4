//! The S3 sink against a real S3-compatible server (s3s over s3s-fs, SigV4-authenticated) started
//! by the test itself on a loopback port.
#![cfg(all(feature = "s3", feature = "s3-server"))]

use std::time::{Duration, Instant};

use sentientiq_lake::s3::{MIN_PART_BYTES, S3Options, S3Sink, valid_bucket};
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
        static_keys: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
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
    let o = S3Options {
        part_bytes: MIN_PART_BYTES,
        multipart_threshold_bytes: MIN_PART_BYTES,
        ..opts(&server.endpoint(), "lake")
    };
    let sink = S3Sink::new(o).expect("sink");
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
        static_keys: Some((ACCESS_KEY.into(), "wrong-secret".into())),
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
    assert!(with(&|o| o.part_bytes = MIN_PART_BYTES - 1).is_err());
    assert!(
        with(&|o| {
            o.part_bytes = MIN_PART_BYTES;
            o.multipart_threshold_bytes = MIN_PART_BYTES
        })
        .is_ok()
    );
    assert!(with(&|o| o.multipart_threshold_bytes = o.part_bytes - 1).is_err());
    assert!(with(&|o| o.max_attempts = 0).is_err());
    assert!(with(&|o| o.max_attempts = 1).is_ok());
    assert!(with(&|o| o.max_attempts = 10).is_ok());
    assert!(with(&|o| o.max_attempts = 11).is_err());
    assert!(with(&|o| o.endpoint = Some("127.0.0.1:9000".into())).is_err());
    assert!(with(&|o| o.region = String::new()).is_err());
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
            static_keys: Some(("id".into(), "hunter2".into())),
            ..ok.clone()
        }
    );
    assert!(!s.contains("hunter2"), "{s}");
}
