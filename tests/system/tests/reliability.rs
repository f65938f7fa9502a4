//! Issue 19's findings as regression tests against the real edge process: each is named after
//! the bug it pins, and failed on the edge before the fix (the fault matrix found them from the
//! outside; `faults.rs` holds the matrix itself).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::{self, Message};
use sentientiq_proto::{
    ClientFrame, EdgeFrame, HttpBatch, Limits, client_to_vec, decode_edge, http_batch_to_vec,
};
use sentientiq_testkit::disk::{DiskKind, SmallDisk};
use sentientiq_testkit::frames::{hello, moves};
use sentientiq_testkit::lake::lake_rows;
use sentientiq_testkit::wait::poll;
use sentientiq_testkit::{DEMO_KEY, Edge};

/// The fault matrix's reproduction: 800 frames over one WebSocket as fast as possible, with
/// the default limits. Some are refused (`rate_limited`); before the fix a later cumulative ack
/// covered them and they were never stored. Now every ack covers only stored frames, and a
/// client that resends what was not acknowledged gets all 800 stored once.
#[test]
fn regression_an_ack_never_covers_a_frame_refused_for_its_rate() {
    let edge = Edge::start_replacing(1, "max_age_s = 60 => max_age_s = 1");
    let sid = "s_regress_800_frames1";
    let stream = TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let (mut ws, _) = tungstenite::client(format!("ws://127.0.0.1:{}/v1/ws", edge.port), stream)
        .expect("handshake");
    let send = |ws: &mut tungstenite::WebSocket<TcpStream>, f: &ClientFrame| {
        ws.send(Message::Binary(client_to_vec(f).into()))
            .expect("send");
    };
    send(&mut ws, &ClientFrame::Hello(hello(DEMO_KEY, sid, None)));
    for seq in 1..=800 {
        send(&mut ws, &moves(seq, 2));
    }
    // Read what comes back; the highest ack before any resend is what the edge claimed.
    let (mut acked, mut refused, mut first_refused) = (0u64, 0u64, u64::MAX);
    let mut pass_acks = Vec::new();
    let t0 = Instant::now();
    let mut idle_since = Instant::now();
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) => {
                idle_since = Instant::now();
                match decode_edge(&b, &Limits::DEFAULT).expect("edge frame") {
                    EdgeFrame::Ack { seq } => {
                        acked = acked.max(seq.0);
                        pass_acks.push(seq.0);
                    }
                    EdgeFrame::Err(e) => {
                        refused += 1;
                        if let Some(s) = e
                            .msg
                            .split("seq ")
                            .nth(1)
                            .and_then(|t| t.split(' ').next()?.parse::<u64>().ok())
                        {
                            first_refused = first_refused.min(s);
                        }
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(_) if idle_since.elapsed() < Duration::from_millis(500) => {}
            Err(_) => break,
        }
        assert!(t0.elapsed() < Duration::from_secs(30));
    }
    assert!(
        refused > 0,
        "the default rate refuses some of 800 frames at once"
    );
    assert!(
        acked < first_refused,
        "ack {acked} covers seq {first_refused}, which was refused"
    );
    // Resend what was not acknowledged, as the SDK does, until all 800 are.
    let t0 = Instant::now();
    while acked < 800 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "stuck at ack {acked}"
        );
        for seq in (acked + 1)..=800 {
            send(&mut ws, &moves(seq, 2));
        }
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            if let Ok(Message::Binary(b)) = ws.read()
                && let Ok(EdgeFrame::Ack { seq }) = decode_edge(&b, &Limits::DEFAULT)
            {
                acked = acked.max(seq.0);
            }
        }
    }
    // Every frame in the lake exactly once.
    let rows = poll("800 frames in the lake", || {
        let (rows, _) = lake_rows(&edge.lake_dir());
        let mine: Vec<_> = rows.into_iter().filter(|r| r.0 == sid).collect();
        (mine.len() >= 1600).then_some(mine)
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (again, _) = lake_rows(&edge.lake_dir());
    let mine: Vec<_> = again.into_iter().filter(|r| r.0 == sid).collect();
    assert_eq!(mine.len(), rows.len());
    let mut keys: Vec<(u64, u32)> = mine.iter().map(|r| (r.1, r.2)).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 1600, "800 frames × 2 samples, once each");
}

/// Raw bytes to the edge; the whole answer.
fn exchange(edge: &Edge, bytes: &[u8]) -> (u16, String, serde_json::Value) {
    let mut s = TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(bytes).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let head = text
        .split_once("\r\n\r\n")
        .map_or("", |(h, _)| h)
        .to_string();
    (
        status,
        head,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn batch_body(sid: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<u8> {
    http_batch_to_vec(&HttpBatch {
        key: sentientiq_proto::WriteKey::parse(DEMO_KEY).expect("key"),
        sid: sentientiq_proto::Sid::parse(sid).expect("sid"),
        hello: Some(hello(DEMO_KEY, sid, None)),
        frames: seqs.map(|s| moves(s, 3)).collect(),
    })
}

#[test]
fn regression_a_request_with_both_transfer_encoding_and_content_length_is_refused() {
    let edge = Edge::start(1, "");
    let body = batch_body("s_regress_smuggle_01", 1..=1);
    let mut req = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let (status, _, json) = exchange(&edge, &req);
    assert_eq!(status, 400);
    assert_eq!(json["code"], "bad_frame", "{json}");
    assert!(
        json["msg"]
            .as_str()
            .is_some_and(|m| m.contains("smuggling"))
    );
    assert_eq!(edge.metric("siq_frames_total"), 0.0, "nothing was taken");
}

#[test]
fn regression_a_chunked_beacon_is_accepted_and_answered() {
    let edge = Edge::start(1, "");
    let body = batch_body("s_regress_chunked_01", 1..=3);
    // Chunks of 100 bytes, as a streamed fetch body sends them.
    let mut req =
        b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
            .to_vec();
    for c in body.chunks(100) {
        req.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        req.extend_from_slice(c);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (status, _, json) = exchange(&edge, &req);
    assert_eq!((status, json["ack"].as_u64()), (200, Some(3)), "{json}");
    assert_eq!(edge.metric("siq_frames_total"), 3.0);
    // A chunked body over 256 KiB is refused, and answered (not reset).
    let mut big =
        b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        big.extend_from_slice(format!("{:x}\r\n", 60_000).as_bytes());
        big.extend(std::iter::repeat_n(b'a', 60_000));
        big.extend_from_slice(b"\r\n");
    }
    big.extend_from_slice(b"0\r\n\r\n");
    let (status, _, json) = exchange(&edge, &big);
    assert_eq!((status, json["code"].as_str()), (413, Some("too_big")));
}

#[test]
fn regression_http_refusals_have_json_error_bodies() {
    let edge = Edge::start_with(1, "", 500);
    // 400: a head that does not parse.
    let (s, _, j) = exchange(&edge, b"\x00\x01garbage\r\n\r\n");
    assert_eq!((s, j["code"].as_str()), (400, Some("bad_frame")), "{j}");
    // 411: a beacon with no length.
    let (s, _, j) = exchange(&edge, b"POST /v1/batch HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((s, j["code"].as_str()), (411, Some("bad_frame")), "{j}");
    // 431: a head over 16 KiB.
    let mut big = b"GET /v1/ping HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20_000));
    big.extend_from_slice(b"\r\n\r\n");
    let (s, _, j) = exchange(&edge, &big);
    assert_eq!((s, j["code"].as_str()), (431, Some("too_big")), "{j}");
    // 408: a head that never completes.
    let (s, _, j) = exchange(&edge, b"GET /v1/ping HTTP/1.1\r\n");
    assert_eq!((s, j["code"].as_str()), (408, Some("bad_frame")), "{j}");
}

/// The write key is public: before the fix anyone could start sessions without limit (20,000
/// beacon sessions took the edge from 21 MB to 143 MB). New sessions from one address are now
/// limited per shard, and established sessions are never pushed out by a flood.
#[test]
fn regression_a_flood_of_new_sessions_from_one_address_cannot_push_out_established_ones() {
    let edge = Edge::start_edited(1, |c| {
        c.replace(
            "new_sessions_per_address_per_sec = 20 ",
            "new_sessions_per_address_per_sec = 5 ",
        )
        .replace(
            "new_session_burst_per_address = 200 ",
            "new_session_burst_per_address = 20 ",
        )
    });
    let mut est = edge.ws();
    est.hello(DEMO_KEY, "s_regress_established1", None);
    est.send(&moves(1, 2));
    est.until_ack(1);
    let (mut ok, mut refused) = (0, 0);
    for i in 0..300 {
        let sid = format!("s_regress_flood_{i:06}");
        let (status, _, _) = {
            let body = batch_body(&sid, 1..=1);
            let mut req = format!(
                "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            req.extend_from_slice(&body);
            exchange(&edge, &req)
        };
        match status {
            200 => ok += 1,
            503 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    // The burst of 20, less the one the established session (same address) took, plus the
    // refills (5 a second) while the flood lasted.
    assert!((19..60).contains(&ok), "the burst and a few refills: {ok}");
    assert_eq!(ok + refused, 300);
    assert!(edge.metric("siq_live_sessions") <= 62.0);
    // The established session goes on as if nothing happened.
    est.send(&moves(2, 2));
    est.until_ack(2);
}

#[test]
fn an_edge_started_on_a_full_disk_exits_with_a_clear_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let small = SmallDisk::mount(DiskKind::Tmpfs, &root.path().join("disk"), 4);
    let disk = small.path().to_path_buf();
    // An edge's data directory, as it was before the disk filled up; then fill it.
    std::fs::create_dir_all(disk.join("data")).expect("data dir");
    small.fill();
    let port = sentientiq_testkit::net::free_port();
    let cfg = root.path().join("edge.toml");
    std::fs::write(
        &cfg,
        sentientiq_testkit::edge::example_config(port, 1, root.path()).replace(
            &format!("data_dir = {:?}", root.path().join("data")),
            &format!("data_dir = {:?}", disk.join("data")),
        ),
    )
    .expect("config");
    let out = std::process::Command::new(sentientiq_testkit::bins::bin("sentientiq-edge"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started on a full disk: {err}");
    assert!(
        err.contains("has no room to start") && err.contains("free space"),
        "{err}"
    );
}
