//! QUIC end to end: the real edge binary, real UDP sockets, the `sentientiq-client` crate.

use std::time::{Duration, Instant};

use sentientiq_client::{Client, Error as QError, Session, Trust, code};
use sentientiq_proto::*;
use sentientiq_testkit::edge::example_config;
use sentientiq_testkit::frames::{five_clicks, moves};
use sentientiq_testkit::net::free_port;
use sentientiq_testkit::quic::{quic_session_acked, quic_until_ack};
use sentientiq_testkit::{DEMO_KEY, Edge};

fn hello(sid: &str, ack: Option<u64>) -> Hello {
    sentientiq_testkit::frames::hello(DEMO_KEY, sid, ack)
}

/// The next frame, which must be a fatal `err` with `code`, then the end of the stream; returns
/// the edge's STOP_SENDING code.
async fn refused(s: Session, want: ErrorCode) -> u32 {
    refused_maybe_stopped(s, want)
        .await
        .unwrap_or_else(|| panic!("no STOP_SENDING code after {want}"))
}

/// As [`refused`], for a stream the client already finished: the edge's STOP_SENDING may come
/// after the client's stream state is gone (everything it sent was acknowledged).
async fn refused_maybe_stopped(s: Session, want: ErrorCode) -> Option<u32> {
    let (mut tx, mut rx) = s.split();
    let read = async {
        let f = rx.recv().await.expect("recv");
        match f {
            Some(EdgeFrame::Err(e)) => {
                assert_eq!((e.code, e.fatal), (want, true), "{e:?}");
            }
            other => panic!("expected err {want}, got {other:?}"),
        }
        let end = rx.recv().await;
        assert!(matches!(end, Ok(None)), "{end:?}");
    };
    // Waiting for the stop from the start: once the stream is over its state may be gone.
    let (code, ()) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(tx.stopped(), read)
    })
    .await
    .expect("refused in time");
    code
}

fn identify(seq: u64, email: &str) -> ClientFrame {
    ClientFrame::Identify(Identify {
        seq: Seq(seq),
        uid: "u_dana".into(),
        email: Some(email.into()),
        traits: vec![],
    })
}

#[tokio::test(flavor = "current_thread")]
async fn hello_welcome_batches_acks_and_rage_by_a_high_value_user_gets_det_and_iv() {
    let edge = Edge::start_replacing(2, "");
    let c = edge.quic_client();
    let conn = edge.connect(&c).await;
    let (mut s, w) = conn
        .open_session(&hello("s_quic_rage_00000001", None))
        .await
        .expect("session");
    assert_eq!(
        (w.ack, w.region.as_str(), w.emit, w.flush_ms),
        (Seq(0), "us-east-1", true, 250)
    );
    s.send(&moves(1, 50)).await.expect("send");
    assert!(quic_until_ack(&mut s, 1).await.is_empty());
    s.send(&identify(2, "dana@acme.example"))
        .await
        .expect("send");
    quic_until_ack(&mut s, 2).await;
    let mut b = five_clicks(3);
    let l = b.intern("button#save");
    b.push(kind::DEAD, 400_000, 600, 400, l);
    s.send(&ClientFrame::Batch(b)).await.expect("send");
    let got = quic_until_ack(&mut s, 3).await;
    assert!(
        got.iter()
            .any(|f| matches!(f, EdgeFrame::Det(d) if d.e == "rage" && d.at == Seq(3))),
        "{got:?}"
    );
    assert_eq!(
        got.iter()
            .filter(|f| matches!(f, EdgeFrame::Iv(i) if i.kind == "chat"))
            .count(),
        1,
        "{got:?}"
    );
    assert_eq!(edge.metric("siq_escalations_total"), 1.0);
    assert_eq!(edge.metric("siq_frames_total"), 3.0);
    assert_eq!(edge.metric("siq_samples_total"), 57.0);
    // Per-shard QUIC metrics.
    let text = edge.metrics_text();
    for name in [
        "siq_quic_open_streams",
        "siq_quic_handshakes_total",
        "siq_quic_received_bytes_total",
        "siq_quic_lost_packets_total",
    ] {
        for shard in 0..2 {
            assert!(
                text.contains(&format!(
                    "{name}{{edge=\"edge-local-1\",region=\"us-east-1\",shard=\"{shard}\"}}"
                )),
                "{name} shard {shard}"
            );
        }
    }
    assert_eq!(
        edge.metric_with("siq_open_connections", "transport=\"quic\""),
        1.0
    );
    assert_eq!(edge.metric("siq_quic_open_streams"), 1.0);
    assert_eq!(edge.metric("siq_quic_handshakes_total"), 1.0);
    // The client ends its side: once everything is acked, the edge ends the stream normally.
    s.finish();
    let end = tokio::time::timeout(Duration::from_secs(10), s.recv()).await;
    assert!(matches!(end, Ok(Ok(None))), "{end:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn many_sessions_share_one_connection_across_shards() {
    let edge = Edge::start_replacing(2, "");
    let c = edge.quic_client();
    let conn = edge.connect(&c).await;
    let n = 40u64;
    let mut sessions = Vec::new();
    for i in 0..n {
        let (s, w) = conn
            .open_session(&hello(&format!("s_quic_mux_{i:09}"), None))
            .await
            .expect("session");
        assert_eq!(w.ack, Seq(0));
        sessions.push(s);
    }
    for (i, s) in sessions.iter_mut().enumerate() {
        s.send(&moves(1, 5 + i)).await.expect("send");
        s.send(&moves(2, 3)).await.expect("send");
    }
    for s in &mut sessions {
        quic_until_ack(s, 2).await;
    }
    assert_eq!(edge.metric("siq_frames_total"), (2 * n) as f64);
    assert_eq!(
        edge.metric_with("siq_open_connections", "transport=\"quic\""),
        1.0
    );
    assert_eq!(edge.metric("siq_quic_open_streams"), n as f64);
    // Sessions are owned by both shards (hash of tenant and sid), whatever shard holds the
    // connection: frames crossed the mesh.
    assert!(edge.metric("siq_forwarded_frames_total") > 0.0);
}

#[tokio::test(flavor = "current_thread")]
async fn one_session_per_connection_like_a_browser() {
    let edge = Edge::start_replacing(2, "");
    let c = edge.quic_client();
    let mut conns = Vec::new();
    for i in 0..20 {
        let conn = edge.connect(&c).await;
        let (mut s, _) = conn
            .open_session(&hello(&format!("s_quic_one_{i:09}"), None))
            .await
            .expect("session");
        s.send(&moves(1, 10)).await.expect("send");
        quic_until_ack(&mut s, 1).await;
        conns.push((conn, s));
    }
    assert_eq!(
        edge.metric_with("siq_open_connections", "transport=\"quic\""),
        20.0
    );
    assert_eq!(edge.metric("siq_frames_total"), 20.0);
    for (conn, _) in &conns {
        conn.close(code::NORMAL, "done");
    }
    let t0 = Instant::now();
    while edge.metric_with("siq_open_connections", "transport=\"quic\"") > 0.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "connections not closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(edge.metric("siq_quic_open_streams"), 0.0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_connection_resumes_without_loss_or_duplicates() {
    let edge = Edge::start_replacing(2, "");
    let sid = "s_quic_resume_00001";
    let c = edge.quic_client();
    let conn = edge.connect(&c).await;
    let (mut s, _) = conn.open_session(&hello(sid, None)).await.expect("session");
    for q in 1..=3 {
        s.send(&moves(q, 20)).await.expect("send");
    }
    quic_until_ack(&mut s, 3).await;
    // Two more frames go out and the connection dies before their acks are read.
    s.send(&moves(4, 20)).await.expect("send");
    s.send(&moves(5, 20)).await.expect("send");
    conn.close(code::GOING_AWAY, "network lost");
    drop(s);
    // A new connection (a new client: new socket, new address) resumes from what it saw.
    let c2 = edge.quic_client();
    let conn = edge.connect(&c2).await;
    let (mut s, w) = conn
        .open_session(&hello(sid, Some(3)))
        .await
        .expect("resume");
    let held = w.ack.0;
    assert!((3..=5).contains(&held), "welcome.ack {held}");
    // The client resends everything after what the edge holds; 4 and 5 once more at most.
    for q in held + 1..=5 {
        s.send(&moves(q, 20)).await.expect("send");
    }
    // And a resend of something already held is re-acked, not stored.
    s.send(&moves(3, 20)).await.expect("send");
    s.send(&moves(6, 20)).await.expect("send");
    quic_until_ack(&mut s, 6).await;
    assert_eq!(edge.metric("siq_frames_total"), 6.0, "each frame once");
    assert_eq!(edge.metric("siq_samples_total"), 120.0);
    assert!(edge.metric("siq_seq_duplicates_total") >= 1.0);
}

#[tokio::test(flavor = "current_thread")]
async fn bad_and_oversize_frames_are_refused_as_the_protocol_says() {
    let edge = Edge::start_replacing(2, "header_timeout_ms = 5000 => header_timeout_ms = 1000");
    let c = edge.quic_client();
    let conn = edge.connect(&c).await;

    // The first frame is not hello: bad_frame, 1007.
    let mut s = conn.open_stream().await.expect("stream");
    s.send(&moves(1, 3)).await.expect("send");
    assert_eq!(refused(s, ErrorCode::BadFrame).await, 1007);

    // An unknown key: bad_key, 1008.
    let mut s = conn.open_stream().await.expect("stream");
    s.send(&ClientFrame::Hello(sentientiq_testkit::frames::hello(
        "siq_pk_nope_00000000000000000000",
        "s_quic_badkey_00001",
        None,
    )))
    .await
    .expect("send");
    assert_eq!(refused(s, ErrorCode::BadKey).await, 1008);

    // A length prefix over 128 KiB: too_big, 1009, before its body is sent.
    let (mut s, _) = conn
        .open_session(&hello("s_quic_big_000000001", None))
        .await
        .expect("session");
    let over = (Limits::DEFAULT.max_frame_bytes as u32 + 1).to_be_bytes();
    s.send_raw(&over).await.expect("send");
    assert_eq!(refused(s, ErrorCode::TooBig).await, 1009);

    // Garbage after hello: bad_frame, 1007.
    let (mut s, _) = conn
        .open_session(&hello("s_quic_junk_00000001", None))
        .await
        .expect("session");
    s.send_frame(&[0xc1, 0xc1, 0xc1]).await.expect("send");
    assert_eq!(refused(s, ErrorCode::BadFrame).await, 1007);

    // An unknown frame type is not fatal; a second hello neither.
    let (mut s, _) = conn
        .open_session(&hello("s_quic_unknown_00001", None))
        .await
        .expect("session");
    // {t:"zz", seq:1}
    let unknown = [
        0x82, 0xa1, b't', 0xa2, b'z', b'z', 0xa3, b's', b'e', b'q', 0x01,
    ];
    s.send_frame(&unknown).await.expect("send");
    s.send(&ClientFrame::Hello(hello("s_quic_unknown_00001", None)))
        .await
        .expect("send");
    s.send(&moves(1, 4)).await.expect("send");
    let got = quic_until_ack(&mut s, 1).await;
    let errs: Vec<_> = got
        .iter()
        .filter_map(|f| match f {
            EdgeFrame::Err(e) => Some((e.code, e.fatal)),
            _ => None,
        })
        .collect();
    assert_eq!(
        errs,
        vec![(ErrorCode::BadFrame, false), (ErrorCode::BadFrame, false)],
        "{got:?}"
    );

    // The stream ends in the middle of a frame: bad_frame.
    let (mut s, _) = conn
        .open_session(&hello("s_quic_cut_000000001", None))
        .await
        .expect("session");
    s.send_raw(&[0, 0, 0, 10, 1, 2]).await.expect("send");
    s.finish();
    let stop = refused_maybe_stopped(s, ErrorCode::BadFrame).await;
    assert!(matches!(stop, None | Some(1007)), "{stop:?}");

    // A stream that never says hello ends after header_timeout_ms (1 s here) with 1008 and no
    // frame, as a WebSocket without hello.
    let mut s = conn.open_stream().await.expect("stream");
    s.send_raw(&[0, 0]).await.expect("send"); // half a prefix: the stream exists, no frame yet
    let t0 = Instant::now();
    let (mut tx, mut rx) = s.split();
    let (code, end) = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::join!(tx.stopped(), rx.recv())
    })
    .await
    .expect("ended in time");
    assert_eq!(code, Some(1008));
    assert!(matches!(end, Ok(None)), "{end:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(700),
        "not before the deadline"
    );

    // None of this broke the connection or stored a frame it should not have.
    let _s = quic_session_acked(&conn, &hello("s_quic_after_0000001", None), 2).await;
    assert_eq!(edge.metric("siq_frames_total"), 2.0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_second_connection_resumes_with_0rtt_and_the_certificate_survives_a_restart() {
    let mut edge = Edge::start_replacing(2, "");
    let fp = edge.fingerprint();
    assert_eq!(fp.len(), 64);
    assert!(edge.log().contains(&fp), "the fingerprint is printed");
    let c = edge.quic_client();
    let first = edge.connect(&c).await;
    let _s = quic_session_acked(&first, &hello("s_quic_0rtt_00000001", None), 5).await;
    first.close(code::NORMAL, "bye");
    // Tickets arrive after the handshake; the one above has them by now.
    let second = c
        .connect_0rtt(edge.quic_addr(), "localhost")
        .await
        .expect("0-RTT connect");
    assert!(second.zero_rtt(), "a ticket was held: 0-RTT attempted");
    let (mut s, w) = second
        .open_session(&hello("s_quic_0rtt_00000001", Some(1)))
        .await
        .expect("session in 0-RTT");
    assert_eq!(w.ack, Seq(1));
    assert!(
        second.zero_rtt_accepted().await,
        "the edge took the 0-RTT data"
    );
    s.send(&moves(2, 5)).await.expect("send");
    quic_until_ack(&mut s, 2).await;
    assert_eq!(edge.metric("siq_quic_zero_rtt_accepted_total"), 1.0);
    assert_eq!(edge.metric("siq_frames_total"), 2.0);
    second.close(code::NORMAL, "bye");

    // Restarted, the edge keeps its certificate: the pin still holds.
    let st = edge.sigterm();
    assert!(st.success(), "exit {st}: {}", edge.log());
    edge.spawn();
    assert_eq!(edge.fingerprint(), fp);
    let conn = edge.connect(&edge.quic_client()).await;
    let (_, w) = conn
        .open_session(&hello("s_quic_0rtt_00000001", Some(2)))
        .await
        .expect("session after restart");
    assert_eq!(w.ack, Seq(2));
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_pin_is_refused_by_the_client() {
    let edge = Edge::start_replacing(1, "");
    let c = Client::new(
        "127.0.0.1:0".parse().expect("addr"),
        Trust::Pin("00".repeat(32)),
    )
    .expect("client");
    let r = c.connect(edge.quic_addr(), "localhost").await;
    assert!(matches!(r, Err(QError::Connection(_))), "{r:?}");
    assert!(edge.metric("siq_quic_handshake_failures_total") >= 1.0);
}

#[tokio::test(flavor = "current_thread")]
async fn after_address_changes_packets_reach_the_owning_shard() {
    let edge = Edge::start_replacing(2, "");
    let c = edge.quic_client();
    let conn = edge.connect(&c).await;
    let mut s = quic_session_acked(&conn, &hello("s_quic_migrate_00001", None), 5).await;
    // Each rebind is a new source port: the kernel hashes it to either shard's socket. Half
    // the time it is not the owner's, and the datagrams must be forwarded to it.
    let mut seq = 1;
    let mut rebinds = 0;
    while edge.metric("siq_quic_forwarded_in_total") == 0.0 {
        assert!(rebinds < 40, "no packet ever reached the other shard");
        rebinds += 1;
        c.rebind(std::net::UdpSocket::bind("127.0.0.1:0").expect("socket"))
            .expect("rebind");
        seq += 1;
        s.send(&moves(seq, 5)).await.expect("send");
        quic_until_ack(&mut s, seq).await;
    }
    // And the session goes on, every frame stored once.
    for _ in 0..3 {
        c.rebind(std::net::UdpSocket::bind("127.0.0.1:0").expect("socket"))
            .expect("rebind");
        seq += 1;
        s.send(&moves(seq, 5)).await.expect("send");
        quic_until_ack(&mut s, seq).await;
    }
    assert_eq!(edge.metric("siq_frames_total"), seq as f64);
    assert_eq!(
        edge.metric_with("siq_open_connections", "transport=\"quic\""),
        1.0
    );
    assert!(edge.metric("siq_quic_forwarded_out_total") >= 1.0);
}

#[tokio::test(flavor = "current_thread")]
async fn the_connection_cap_refuses_at_cap_plus_one() {
    let edge = Edge::start_replacing(
        1,
        "max_connections_per_shard = 20000   # one more => max_connections_per_shard = 3   # one more",
    );
    let c = edge.quic_client();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(edge.connect(&c).await);
    }
    let r = c.connect(edge.quic_addr(), "localhost").await;
    assert!(matches!(r, Err(QError::Connection(_))), "{r:?}");
    assert_eq!(edge.metric("siq_quic_refused_total"), 1.0);
    // Cap − 1 again after one leaves: a new one is taken.
    held.pop().expect("one").close(code::NORMAL, "bye");
    let t0 = Instant::now();
    while edge.metric_with("siq_open_connections", "transport=\"quic\"") > 2.0 {
        assert!(t0.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let conn = edge.connect(&c).await;
    let _s = quic_session_acked(&conn, &hello("s_quic_cap_000000001", None), 2).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sigterm_closes_quic_connections_with_1001() {
    let mut edge = Edge::start_replacing(2, "");
    let c = edge.quic_client();
    let conn = edge.connect(&c).await;
    let _s = quic_session_acked(&conn, &hello("s_quic_term_00000001", None), 2).await;
    let kill = std::thread::spawn(move || {
        let st = edge.sigterm();
        assert!(st.success(), "exit {st}: {}", edge.log());
        edge
    });
    let why = tokio::time::timeout(Duration::from_secs(15), conn.closed())
        .await
        .expect("closed in time");
    let text = why.to_string();
    assert!(text.contains("1001"), "{text}");
    let _edge = kill.join().expect("edge");
}

#[tokio::test(flavor = "current_thread")]
async fn a_configured_certificate_is_served_and_its_fingerprint_written() {
    let certs = tempfile::tempdir().expect("tempdir");
    let made = rcgen::generate_simple_self_signed(vec!["edge.example".into()]).expect("cert");
    let (cert, key) = (certs.path().join("c.pem"), certs.path().join("k.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("cert");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("key");
    let want = sentientiq_client::fingerprint(made.cert.der());
    let edit = format!(
        "# cert = \"edge-cert.pem\" => cert = {cert:?} && # key = \"edge-key.pem\" => key = {key:?}"
    );
    let edge = Edge::start_replacing(1, &edit);
    assert_eq!(
        edge.fingerprint(),
        want,
        "the configured certificate's SHA-256"
    );
    assert!(
        !edge.dir.path().join("data/quic/key.pem").exists(),
        "no self-signed key made"
    );
    let conn = edge.connect(&edge.quic_client()).await;
    let _s = quic_session_acked(&conn, &hello("s_quic_cert_00000001", None), 2).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sessions_per_connection_are_capped_and_a_closed_one_frees_its_place() {
    let edge = Edge::start_replacing(
        1,
        "max_streams_per_connection = 100  => max_streams_per_connection = 2 ",
    );
    let conn = edge.connect(&edge.quic_client()).await;
    let (mut a, _) = conn
        .open_session(&hello("s_quic_cap_a_0000001", None))
        .await
        .expect("cap - 1");
    let (_b, _) = conn
        .open_session(&hello("s_quic_cap_b_0000001", None))
        .await
        .expect("cap");
    // Cap + 1: QUIC flow control holds the third stream until one of the two ends.
    let third = tokio::time::timeout(Duration::from_millis(500), conn.open_stream()).await;
    assert!(third.is_err(), "a third stream opened past the cap");
    a.send(&moves(1, 2)).await.expect("send");
    quic_until_ack(&mut a, 1).await;
    a.finish();
    let end = tokio::time::timeout(Duration::from_secs(10), a.recv()).await;
    assert!(matches!(end, Ok(Ok(None))), "{end:?}");
    let (mut c, _) = tokio::time::timeout(
        Duration::from_secs(10),
        conn.open_session(&hello("s_quic_cap_c_0000001", None)),
    )
    .await
    .expect("a place freed in time")
    .expect("session");
    c.send(&moves(1, 2)).await.expect("send");
    quic_until_ack(&mut c, 1).await;
}

/// Every shard binds with SO_REUSEPORT, so a second process on the same port would silently
/// share its traffic: an edge whose TCP or UDP port is already bound refuses to start.
#[test]
fn an_edge_refuses_to_start_on_a_port_already_bound() {
    for udp in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let _held: Box<dyn std::any::Any> = match udp {
            true => Box::new(std::net::UdpSocket::bind(("127.0.0.1", port + 1)).expect("udp")),
            false => Box::new(std::net::TcpListener::bind(("127.0.0.1", port)).expect("tcp")),
        };
        let cfg = dir.path().join("edge.toml");
        std::fs::write(&cfg, example_config(port, 1, dir.path())).expect("config");
        let out = std::process::Command::new(sentientiq_testkit::bins::bin("sentientiq-edge"))
            .arg("--config")
            .arg(&cfg)
            .output()
            .expect("run edge");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started on a held port: {err}");
        let want = if udp {
            format!("UDP 127.0.0.1:{} is in use", port + 1)
        } else {
            format!("TCP 127.0.0.1:{port} is in use")
        };
        assert!(err.contains(&want), "{err}");
    }
}

/// A client that does not read: once its stream window is full, what the edge cannot send waits
/// up to `write_buffer_bytes` (256 here); one byte more resets the stream with 1013 and the
/// session leaves the shard. The edge's memory for it stays bounded.
#[tokio::test(flavor = "current_thread")]
async fn a_client_that_does_not_read_is_reset_with_1013() {
    let edge = Edge::start_replacing(
        1,
        "write_buffer_bytes = 65536 => write_buffer_bytes = 256  ",
    );
    let c = Client::with_receive_window(
        std::net::UdpSocket::bind("127.0.0.1:0").expect("socket"),
        Trust::Pin(edge.fingerprint()),
        Some(512),
    )
    .expect("client");
    let conn = edge.connect(&c).await;
    let (s, _) = conn
        .open_session(&hello("s_quic_slow_00000001", None))
        .await
        .expect("session");
    let (mut tx, mut rx) = s.split();
    // Frames whose acks (about 11 bytes each, framed) fill 512 + 256 bytes several times over.
    let mut seq = 0;
    let reset = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            seq += 1;
            if tx.send(&moves(seq, 2)).await.is_err() {
                return;
            }
            if edge.metric("siq_slow_reader_closes_total") >= 1.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(reset.is_ok(), "never dropped after {seq} frames");
    assert_eq!(edge.metric("siq_slow_reader_closes_total"), 1.0);
    // Reading now: the acks that fit, then the reset.
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Ok(Some(_)) => {}
                other => return other,
            }
        }
    })
    .await
    .expect("ends in time");
    // quinn's ReadError::Reset(1013), as the client reports it.
    let text = format!("{end:?}");
    assert!(
        matches!(end, Err(sentientiq_client::Error::Read(_))) && text.contains("Reset(1013)"),
        "{text}"
    );
    assert_eq!(
        edge.metric("siq_quic_open_streams"),
        0.0,
        "the session left"
    );
}
