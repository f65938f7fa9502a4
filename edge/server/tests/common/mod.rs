//! Frames and helpers the edge's process tests share (`e2e.rs`, `fleet.rs`).
#![allow(dead_code)] // each test binary uses its own subset

use sentientiq_proto::frame::kind;
use sentientiq_proto::{Batch, ClientFrame, Hello, Seq, Sid, WriteKey};

/// A free TCP port on 127.0.0.1 (bound, then released) whose next port is free for UDP too:
/// an edge's QUIC port is its TCP port + 1 unless configured.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if p < u16::MAX && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free TCP port with a free UDP port after it");
}

/// A browser-like `hello` for `sid` with `key`, resuming after `ack` when given.
pub fn hello(key: &str, sid: &str, ack: Option<u64>) -> Hello {
    Hello {
        key: WriteKey::parse(key).expect("key"),
        sid: Sid::parse(sid).expect("sid"),
        aid: None,
        url: "https://shop.example/settings".into(),
        referrer: None,
        title: None,
        vw: 1440,
        vh: 900,
        dpr: None,
        tz: None,
        ptr: Some("mouse".into()),
        sdk: "test/1".into(),
        ack: ack.map(Seq),
        dnt: None,
    }
}

/// `n` pointer moves in one batch.
pub fn moves(seq: u64, n: usize) -> ClientFrame {
    let mut b = Batch {
        seq: Seq(seq),
        t0: 1_763_780_000_000 + seq * 250,
        ..Batch::default()
    };
    for i in 0..n {
        b.push(kind::MOVE, 8000, 100 + i as i32, 200, 0);
    }
    ClientFrame::Batch(b)
}

/// Five quick clicks on a save button (rage at the default thresholds: 3 clicks).
pub fn five_clicks(seq: u64) -> Batch {
    let mut b = Batch {
        seq: Seq(seq),
        t0: 1_763_780_100_000,
        ..Batch::default()
    };
    let l = b.intern("button#save");
    b.push(kind::MOVE, 0, 600, 400, 0);
    for _ in 0..5 {
        b.push(kind::CLICK, 150_000, 600, 400, l);
    }
    b
}

/// `deploy/edge.example.toml` listening on 127.0.0.1:`port` (QUIC on `port` + 1) with `shards`
/// shards, its data and lake under `dir`.
pub fn example_config(port: u16, shards: usize, dir: &std::path::Path) -> String {
    // The manifest dir of this run, not of the build: a test binary cached in a shared target
    // dir may have been built from another clone.
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo");
    std::fs::read_to_string(format!("{root}/../../deploy/edge.example.toml"))
        .expect("example config")
        .replace(
            "listen = \"127.0.0.1:7400\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace("shards = 0 ", &format!("shards = {shards} "))
        .replace(
            "data_dir = \"data/edge\"",
            &format!("data_dir = {:?}", dir.join("data")),
        )
        .replace(
            "dir = \"data/lake\"",
            &format!("dir = {:?}", dir.join("lake")),
        )
}

/// The SHA-256 pin of the QUIC certificate of an edge whose data dir is `data`.
pub fn quic_pin(data: &std::path::Path) -> String {
    std::fs::read_to_string(data.join("quic/cert.sha256"))
        .expect("the edge's certificate fingerprint")
        .trim()
        .to_string()
}

/// Reads a QUIC session's frames up to the ack of `seq` (within 15 s); returns what came
/// before it.
pub async fn quic_until_ack(
    s: &mut sentientiq_client::Session,
    seq: u64,
) -> Vec<sentientiq_proto::EdgeFrame> {
    use sentientiq_proto::EdgeFrame;
    let mut got = Vec::new();
    let r = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            match s.recv().await.expect("recv") {
                Some(EdgeFrame::Ack { seq: Seq(a) }) if a >= seq => return,
                Some(f) => got.push(f),
                None => panic!("stream ended before ack {seq}: {got:?}"),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "no ack {seq} in 15 s: {got:?}");
    got
}

/// Opens a QUIC session for `hello` on `conn`, sends `n` moves as seq 1 and waits for its ack.
pub async fn quic_session_acked(
    conn: &sentientiq_client::Connection,
    hello: &Hello,
    n: usize,
) -> sentientiq_client::Session {
    let (mut s, _) = conn.open_session(hello).await.expect("session");
    s.send(&moves(1, n)).await.expect("send");
    quic_until_ack(&mut s, 1).await;
    s
}

/// `GET path` on 127.0.0.1:`port` (5 s read timeout): status and body, or `None` when there is
/// no answer.
pub fn http(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}
