//! End to end: the real `sentientiq-edge` binary in its own process, real sockets, real
//! RocksDB, real spool; kill -9 and restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::{self, Message};
use sentientiq_proto::*;
use sentientiq_testkit::frames::{identify_as, moves, purchase, rage};
use sentientiq_testkit::lake::{
    Lake, dict_str, lake_rows, mirror_bucket, parquet_batches, table_files, wait_lake_rows,
    wait_rows_in,
};
use sentientiq_testkit::net::{metric_sum, metric_with};
use sentientiq_testkit::wait::{poll, poll_or_explain};
use sentientiq_testkit::ws::{Client, Got};
use sentientiq_testkit::{DEMO_KEY, Edge};

fn hello(sid: &str, ack: Option<u64>) -> Hello {
    sentientiq_testkit::frames::hello(DEMO_KEY, sid, ack)
}

fn identify(seq: u64, email: &str) -> ClientFrame {
    identify_as(seq, "u_dana", email)
}

/// Every record in a (stopped) edge's spool, read as recovery reads it.
fn spooled(edge: &Edge) -> Vec<sentientiq_edge::storage::spool::Record> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(edge.spool_dir()).expect("spool") {
        let dir = d.expect("dir").path();
        sentientiq_edge::storage::spool::recover(&dir, |r| out.push(r.to_record()))
            .expect("recover");
    }
    out
}

/// Starts an edge that ships to `lake`, with `edit` applied to its config.
fn start_lake(shards: usize, lake: &Lake, edit: impl Fn(String) -> String) -> Edge {
    let env = lake.env(std::path::Path::new("/nonexistent-aws-files"));
    Edge::launch(
        |dir, port| {
            edit(lake.configure(sentientiq_testkit::edge::example_config(port, shards, dir)))
        },
        env,
    )
}

#[test]
fn hello_welcome_batches_acks_and_rage_by_a_high_value_user_gets_det_and_iv() {
    let edge = Edge::start(2, "");
    let mut c = edge.ws();
    let w = c.hello(DEMO_KEY, "s_e2e_rage_000000001", None);
    assert_eq!(
        (w.ack, w.region.as_str(), w.emit, w.flush_ms),
        (Seq(0), "us-east-1", true, 250)
    );
    c.send(&moves(1, 50));
    assert!(c.until_ack(1).is_empty());
    c.send(&identify(2, "dana@acme.example"));
    c.until_ack(2);
    c.send(&rage(3));
    let got = c.until_ack(3);
    let dets: Vec<_> = got
        .iter()
        .filter_map(|f| match f {
            EdgeFrame::Det(d) => Some(d),
            _ => None,
        })
        .collect();
    let ivs: Vec<_> = got
        .iter()
        .filter_map(|f| match f {
            EdgeFrame::Iv(i) => Some(i),
            _ => None,
        })
        .collect();
    assert!(
        dets.iter().any(|d| d.e == "rage" && d.at == Seq(3)),
        "{got:?}"
    );
    assert!(
        dets.iter().any(|d| d.c >= 0.85),
        "escalation-level detection: {got:?}"
    );
    assert_eq!(ivs.len(), 1, "{got:?}");
    assert_eq!(ivs[0].kind, "chat");
    // The $120k account (the config's directory) was escalated, once.
    assert_eq!(edge.metric("siq_escalations_total"), 1.0);
    assert_eq!(edge.metric("siq_frames_total"), 3.0);
    assert_eq!(edge.metric("siq_samples_total"), 57.0);
}

#[test]
fn a_reconnect_resumes_without_loss_or_duplicates() {
    let edge = Edge::start(2, "");
    let sid = "s_e2e_resume_0000001";
    let mut c = edge.ws();
    c.hello(DEMO_KEY, sid, None);
    for s in 1..=3 {
        c.send(&moves(s, 20));
    }
    c.until_ack(3);
    drop(c);
    let mut c = edge.ws();
    let w = c.hello(DEMO_KEY, sid, Some(2));
    assert_eq!(w.ack, Seq(3), "the edge holds seq 3 durably");
    // A client that did not see ack 3 resends it: re-acked, stored once.
    c.send(&moves(3, 20));
    c.until_ack(3);
    c.send(&moves(4, 20));
    c.until_ack(4);
    assert_eq!(edge.metric("siq_frames_total"), 4.0);
    assert_eq!(edge.metric("siq_seq_duplicates_total"), 1.0);
    // A different payload under a held seq: the first is kept, counted as a conflict.
    c.send(&moves(4, 7));
    c.until_ack(4);
    assert_eq!(edge.metric("siq_seq_conflicts_total"), 1.0);
    assert_eq!(edge.metric("siq_frames_total"), 4.0);
}

/// A WebSocket connection is given, after its hello, to the shard that owns its session: no
/// frame or ack crosses the mesh, frames sent in the same write as the hello travel with the
/// connection, and both shards' connection counts come back to zero.
#[test]
fn a_websocket_is_served_by_the_shard_that_owns_its_session() {
    let edge = Edge::start(2, "");
    let n = 24;
    let mut clients = Vec::new();
    for i in 0..n {
        let mut c = edge.ws();
        let sid = format!("s_e2e_owner_{i:010}");
        // The hello and the first batch in one write (tungstenite buffers until the flush).
        for f in [ClientFrame::Hello(hello(&sid, None)), moves(1, 5 + i)] {
            c.ws.write(Message::Binary(client_to_vec(&f).into()))
                .expect("write");
        }
        c.ws.flush().expect("flush");
        clients.push(c);
    }
    for c in &mut clients {
        assert!(matches!(c.frame(), EdgeFrame::Welcome(_)));
        c.until_ack(1);
        c.send(&moves(2, 3));
        c.until_ack(2);
    }
    assert_eq!(edge.metric("siq_frames_total"), (2 * n) as f64);
    assert_eq!(edge.metric("siq_live_sessions"), n as f64);
    assert_eq!(
        edge.metric("siq_forwarded_frames_total"),
        0.0,
        "every session's frames were handled where its connection is"
    );
    // Each connection lands on either shard (SO_REUSEPORT) and its session is owned by
    // either (a hash): about half are handed over; none at all would be 2^-24 likely.
    let handed = edge.metric("siq_ws_handoffs_total");
    assert!(handed >= 1.0 && handed < n as f64, "{handed} handed over");
    drop(clients);
    // Only the scrape's own connection stays open.
    poll("connections closed on both shards", || {
        (edge.metric_with("siq_open_connections", "transport=\"tcp\"") == 1.0).then_some(())
    });
}

/// Shards whose sleeps always gather completions (`wait_gather_want = 0`, a 5 ms window, where
/// the default gathers only while busy) still answer every hello, ack every frame, detect and
/// escalate, and hand connections to their owners over the mesh: what wakes a gathering shard
/// (its sockets, its commit timer, the spool's writes, the other shard's messages) still does.
#[test]
fn shards_whose_sleeps_always_gather_still_ack_detect_and_hand_over() {
    let Some(edge) = Edge::start_gathering(
        "shards_whose_sleeps_always_gather_still_ack_detect_and_hand_over",
        2,
        "# wait_gather_us = 1000 => wait_gather_us = 5000 && \
         wait_gather_want = 2 => wait_gather_want = 0",
    ) else {
        return;
    };
    assert!(
        edge.log().contains("window_us=5000 want=0"),
        "the shards gather: {}",
        edge.log()
    );
    let n = 16;
    let mut clients = Vec::new();
    for i in 0..n {
        let mut c = edge.ws();
        c.hello(DEMO_KEY, &format!("s_e2e_gather_{i:09}"), None);
        clients.push(c);
    }
    for c in &mut clients {
        for s in 1..=3 {
            c.send(&moves(s, 10));
        }
    }
    for c in &mut clients {
        c.until_ack(3);
    }
    let c = &mut clients[0];
    c.send(&identify(4, "dana@acme.example"));
    c.until_ack(4);
    c.send(&rage(5));
    let got = c.until_ack(5);
    assert!(
        got.iter()
            .any(|f| matches!(f, EdgeFrame::Det(d) if d.e == "rage" && d.at == Seq(5))),
        "{got:?}"
    );
    assert_eq!(edge.metric("siq_frames_total"), (3 * n + 2) as f64);
    assert_eq!(edge.metric("siq_escalations_total"), 1.0);
    let handed = edge.metric("siq_ws_handoffs_total");
    assert!(handed >= 1.0 && handed < n as f64, "{handed} handed over");
}

/// A shard starts gathering once frames arrive faster than its threshold: its sleep policy
/// counts the frames the shard handles (`shard::gather::watch`), not the ring's completions.
/// At a 10 ms window and a want of 3: 20 frames per 100 ms (2 per window) do not switch it
/// on, though their completions would (a read, a commit's timer and write, an ack's send: at
/// least 4 per window); about 60 per 100 ms do.
#[test]
fn a_shard_starts_gathering_when_its_frames_arrive_faster_than_its_want() {
    let Some(edge) = Edge::start_gathering(
        "a_shard_starts_gathering_when_its_frames_arrive_faster_than_its_want",
        1,
        "# wait_gather_us = 1000 => wait_gather_us = 10000 && \
         wait_gather_want = 2 => wait_gather_want = 3",
    ) else {
        return;
    };
    assert!(
        edge.log().contains("window_us=10000 want=3"),
        "{}",
        edge.log()
    );
    let switched = |e: &Edge| e.log().contains("gathering switched");
    // Each session sends at most 150 frames: within the demo tenant's frame burst (256), so
    // every one is accepted and acked.
    let send = |sids: &[&str], frames: u64, gap: std::time::Duration| {
        let mut cs: Vec<_> = sids
            .iter()
            .map(|sid| {
                let mut c = edge.ws();
                c.hello(DEMO_KEY, sid, None);
                c
            })
            .collect();
        for s in 1..=frames {
            for c in &mut cs {
                c.send(&moves(s, 2));
                std::thread::sleep(gap);
            }
        }
        for c in &mut cs {
            c.until_ack(frames);
        }
    };
    // 20 frames per 100 ms (or fewer, on a slow machine) for about 800 ms.
    send(
        &["s_e2e_gather_slow_00001"],
        160,
        std::time::Duration::from_millis(5),
    );
    // Past the period that holds the last of them, then a look at the log.
    std::thread::sleep(std::time::Duration::from_millis(250));
    assert!(
        !switched(&edge),
        "gathering at 2 frames per window, below the want of 3: {}",
        edge.log()
    );
    // About 60 per 100 ms from two sessions (at least 30 while the machine keeps a 3 ms gap).
    send(
        &["s_e2e_gather_fast_00001", "s_e2e_gather_fast_00002"],
        150,
        std::time::Duration::from_micros(1_500),
    );
    poll("the shard to start gathering", || {
        switched(&edge).then_some(())
    });
    assert!(
        edge.log().contains("min_wait_us=10000"),
        "switched on: {}",
        edge.log()
    );
}

/// When the shard that owns a session is at its connection cap, a WebSocket that landed on the
/// other shard is not handed over: it is served where it landed, its hello and frames cross
/// the mesh to the owner, as a beacon's do. (Landing on the full owner itself is refused, as
/// at any shard's cap.)
#[test]
fn a_websocket_stays_where_it_landed_when_its_owner_is_at_its_connection_cap() {
    let edge = Edge::start_edited(2, |c| {
        c.replace(
            "max_connections_per_shard = 20000",
            "max_connections_per_shard = 3",
        )
    });
    let mut owned_by_0 = (0u32..)
        .map(|i| format!("s_e2e_full_{i:010}"))
        .filter(|sid| sentientiq_edge::placement::owner("demo", sid, 2) == 0);
    // Shard 0 takes three of its own sessions, wherever their connections land: its cap.
    let mut held = Vec::new();
    for i in 0..3 {
        let sid = owned_by_0.next().expect("a sid");
        let mut c = edge.ws();
        c.hello(DEMO_KEY, &sid, None);
        c.send(&moves(1, 5 + i));
        c.until_ack(1);
        held.push(c);
    }
    let m = edge.metrics_text_past_cap();
    assert_eq!(metric_sum(&m, "siq_forwarded_frames_total"), 0.0);
    let handed = metric_sum(&m, "siq_ws_handoffs_total");
    // One more of shard 0's sessions. A connection the kernel gives to shard 0 is refused
    // (cap + 1); one given to shard 1 is served there. Each connection lands on either shard,
    // so 20 s of refusals would mean the cap is not per shard.
    let mut c = poll("a connection given to shard 1", || {
        match Client::connect(edge.port, &[]) {
            Ok(c) => Some(c),
            Err(e) => {
                assert!(e.contains("503"), "refused with {e}");
                None
            }
        }
    });
    let sid = owned_by_0.next().expect("a sid");
    let w = c.hello(DEMO_KEY, &sid, None);
    assert_eq!(w.ack, Seq(0));
    c.send(&moves(1, 6));
    c.until_ack(1);
    c.send(&moves(2, 6));
    c.until_ack(2);
    // Shard 0 is full: a scrape can only be answered by shard 1.
    let m = edge.metrics_text_past_cap();
    assert_eq!(
        metric_sum(&m, "siq_ws_handoffs_total"),
        handed,
        "not handed to the full owner"
    );
    assert_eq!(
        metric_sum(&m, "siq_forwarded_frames_total"),
        3.0,
        "its hello and two frames crossed the mesh to the owner"
    );
    assert_eq!(metric_sum(&m, "siq_frames_total"), 5.0);
    assert_eq!(metric_sum(&m, "siq_live_sessions"), 4.0);
    // Four sessions and the scrape's own connection (earlier scrapes' and refused connections'
    // closes are counted as the shards see them).
    poll("four sessions and one scrape connected", || {
        let m = edge.metrics_text_past_cap();
        (metric_with(&m, "siq_open_connections", "transport=\"tcp\"") == 5.0).then_some(())
    });
    // Every place is given back once its connection closes, the handed-over ones' too (taken
    // for the owner in transit, `Node::room`): the scrape's own connection is what is left.
    drop(held);
    drop(c);
    poll("every closed connection given back", || {
        let m = edge.metrics_text_past_cap();
        (metric_with(&m, "siq_open_connections", "transport=\"tcp\"") == 1.0).then_some(())
    });
}

#[test]
fn kill_9_loses_no_acked_frame_and_a_replay_adds_nothing() {
    let mut edge = Edge::start(2, "");
    let sids: Vec<String> = (0..6).map(|i| format!("s_e2e_crash_{i:08}")).collect();
    let mut acked = Vec::new();
    for sid in &sids {
        let mut c = edge.ws();
        c.hello(DEMO_KEY, sid, None);
        for s in 1..=5 {
            c.send(&moves(s, 30));
        }
        c.until_ack(5);
        acked.push((sid.clone(), 5u64));
    }
    edge.kill9();
    // Conservation: every acked (sid, seq) is in the spool exactly once; nothing invented.
    // (Read before the restart: a running edge ships sealed segments to the lake and deletes
    // them; the lake's own conservation test covers that path.)
    let mut seen = std::collections::HashMap::new();
    for rec in spooled(&edge) {
        *seen.entry((rec.sid, rec.seq)).or_insert(0) += 1;
    }
    edge.spawn();
    for (sid, upto) in &acked {
        for s in 1..=*upto {
            assert_eq!(seen.get(&(sid.clone(), s)), Some(&1), "{sid} seq {s}");
        }
    }
    assert_eq!(seen.len(), acked.len() * 5, "no invented records");
    // After the restart the edge knows what it holds; a replayed frame adds nothing.
    let mut c = edge.ws();
    let w = c.hello(DEMO_KEY, &sids[0], Some(0));
    assert_eq!(w.ack, Seq(5));
    c.send(&moves(5, 30));
    c.until_ack(5);
    assert_eq!(edge.metric("siq_frames_total"), 0.0);
    assert_eq!(edge.metric("siq_seq_duplicates_total"), 1.0);
}

/// Recovery reads the spool back from disk shard by shard (never the whole spool in memory). A
/// directory written under another shard count holds sessions that now belong elsewhere: each
/// is rebuilt by its new owner all the same. (This machine's two cores allow one or two shards:
/// from two to one, `shard-001` is read by shard 0 and `shard-000` is still its own.)
#[test]
fn after_a_restart_with_another_shard_count_every_session_is_rebuilt_by_its_owner() {
    let mut edge = Edge::start(2, "");
    let sids: Vec<String> = (0..8).map(|i| format!("s_e2e_reshard_{i:07}")).collect();
    for sid in &sids {
        let mut c = edge.ws();
        c.hello(DEMO_KEY, sid, None);
        for s in 1..=4 {
            c.send(&moves(s, 30));
        }
        c.until_ack(4);
    }
    edge.kill9();
    let dirs: Vec<_> = std::fs::read_dir(edge.spool_dir())
        .expect("spool")
        .map(|d| d.expect("dir").file_name())
        .collect();
    assert_eq!(dirs.len(), 2, "both shards spooled: {dirs:?}");
    // To one shard, then back to two (by then the first restart's shipper may have shipped
    // the spool: those sessions are known from their shipped floors instead).
    for shards in [1, 2] {
        edge.config = edge
            .config
            .replace("shards = 2 ", &format!("shards = {shards} "))
            .replace("shards = 1 ", &format!("shards = {shards} "));
        edge.spawn();
        if shards == 1 {
            let frames = sids.len() * 4;
            assert!(
                edge.log().contains(&format!(
                    "sessions rebuilt from the spool shard=0 frames={frames}"
                )),
                "every frame rebuilt: {}",
                edge.log()
            );
        }
        // Every session knows what it holds, whichever shard owns it now; a frame sent again
        // is acked and not stored again.
        for sid in &sids {
            let mut c = edge.ws();
            let w = c.hello(DEMO_KEY, sid, Some(0));
            assert_eq!(w.ack, Seq(4), "{sid} with {shards} shards");
            c.send(&moves(4, 30));
            c.until_ack(4);
        }
        assert_eq!(edge.metric("siq_frames_total"), 0.0, "{shards} shards");
        assert_eq!(
            edge.metric("siq_seq_duplicates_total"),
            sids.len() as f64,
            "{shards} shards"
        );
        edge.kill9();
    }
}

#[test]
fn websocket_errors_answer_as_the_protocol_says() {
    let edge = Edge::start(1, "");
    // Unknown key → bad_key, 1008.
    let mut c = edge.ws();
    let mut h = hello("s_e2e_errors_000001", None);
    h.key = WriteKey::parse("siq_pk_unknown_1").expect("key");
    c.send(&ClientFrame::Hello(h));
    assert!(matches!(c.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::BadKey && e.fatal));
    assert_eq!(c.got(), Got::Closed(Some(1008)));
    // A secret key never parses: bad_key, 1008.
    let mut c = edge.ws();
    let mut bytes = client_to_vec(&ClientFrame::Hello(hello("s_e2e_errors_000002", None)));
    let p = bytes.windows(7).position(|w| w == b"siq_pk_").expect("key");
    bytes[p + 4] = b's';
    c.send_raw(Message::Binary(bytes.into()));
    assert!(matches!(c.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::BadKey));
    assert_eq!(c.got(), Got::Closed(Some(1008)));
    // Malformed after hello → bad_frame, 1007; what was accepted before stays acked.
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_errors_000003", None);
    c.send(&moves(1, 5));
    c.until_ack(1);
    c.send_raw(Message::Binary(vec![0x81, 0xa1, b't'].into()));
    assert!(matches!(c.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::BadFrame && e.fatal));
    assert_eq!(c.got(), Got::Closed(Some(1007)));
    // Unknown frame type → err, not fatal; the session goes on.
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_errors_000004", None);
    c.send_raw(Message::Binary(
        vec![
            0x82, 0xa1, b't', 0xa2, b'z', b'z', 0xa3, b's', b'e', b'q', 0x01,
        ]
        .into(),
    ));
    assert!(matches!(c.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::BadFrame && !e.fatal));
    c.send(&moves(1, 5));
    c.until_ack(1);
    // Text frames → 1007.
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_errors_000005", None);
    c.send_raw(Message::Text("{}".into()));
    assert!(matches!(c.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::BadFrame));
    assert_eq!(c.got(), Got::Closed(Some(1007)));
    // Frame size: 128 KiB is the cap. Frames around the edge's 1 KiB WebSocket read (one read
    // each, or one more once the header is in) are taken whole too.
    for (size, ok) in [
        (1023, true),
        (1024, true),
        (1025, true),
        (128 * 1024 - 1, true),
        (128 * 1024, true),
        (128 * 1024 + 1, false),
    ] {
        let mut c = edge.ws();
        c.hello(DEMO_KEY, &format!("s_e2e_size_{size:09}"), None);
        let mut f = client_to_vec(&ClientFrame::Bye { seq: Seq(1) });
        f[0] += 1; // one more map entry: an unknown key padded to `size`
        f.extend_from_slice(&[0xa3, b'p', b'a', b'd', 0xc6]);
        let pad = size - f.len() - 4;
        f.extend_from_slice(&(pad as u32).to_be_bytes());
        f.resize(size, 0);
        c.send_raw(Message::Binary(f.into()));
        if ok {
            c.until_ack(1);
        } else {
            assert!(matches!(c.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::TooBig));
            assert_eq!(c.got(), Got::Closed(Some(1009)), "size {size}");
        }
    }
}

#[test]
fn origin_is_checked_per_tenant_and_a_missing_hello_times_out() {
    let edge = Edge::start_with(
        1,
        r#"
[[tenant]]
id = "strict"
key_sha256 = ["40573357449e27ac4b5cb2657007e301ebbce2a64bd2f2f0194210fee4d3f9b0"]
allowed_origins = ["https://shop.example", "capacitor://localhost"]
"#,
        400,
    );
    assert_eq!(
        hex_sha("siq_pk_strict_key"),
        "40573357449e27ac4b5cb2657007e301ebbce2a64bd2f2f0194210fee4d3f9b0"
    );
    let strict = |origin: Option<&str>| {
        let mut c = match origin {
            Some(o) => edge.ws_with(&[("origin", o)]),
            None => edge.ws(),
        };
        let mut h = hello("s_e2e_origin_000001", None);
        h.key = WriteKey::parse("siq_pk_strict_key").expect("key");
        c.send(&ClientFrame::Hello(h));
        c
    };
    // The allowed origins are welcome: a site's, and an iOS Capacitor app's (as its WebView
    // sends it).
    for o in ["https://shop.example", "capacitor://localhost"] {
        let mut c = strict(Some(o));
        assert!(matches!(c.frame(), EdgeFrame::Welcome(_)), "{o}");
    }
    // Another origin, or none, is refused with `origin` and 1008.
    for o in [
        Some("https://evil.example"),
        Some("ionic://localhost"),
        Some("null"),
        None,
    ] {
        let mut c = strict(o);
        assert!(
            matches!(c.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::Origin),
            "{o:?}"
        );
        assert_eq!(c.got(), Got::Closed(Some(1008)));
    }
    // The demo tenant allows any origin.
    let mut c = edge.ws_with(&[("origin", "https://evil.example")]);
    c.hello(DEMO_KEY, "s_e2e_origin_000002", None);
    // A connection that never says hello is closed (1008) after the header deadline.
    let mut c = edge.ws();
    assert_eq!(c.got(), Got::Closed(Some(1008)));
}

fn hex_sha(k: &str) -> String {
    sentientiq_tenant::key_hash(k)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn http_routes_and_beacons() {
    let edge = Edge::start(2, "");
    let (st, head, _) =
        edge.http("GET /v1/ping HTTP/1.1\r\nHost: x\r\nOrigin: https://shop.example\r\n\r\n");
    assert_eq!(st, 204);
    assert!(
        head.to_ascii_lowercase()
            .contains("x-siq-region: us-east-1"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://shop.example")
    );
    let (st, head, _) = edge.http("OPTIONS /v1/batch HTTP/1.1\r\nHost: x\r\nOrigin: https://shop.example\r\nAccess-Control-Request-Method: POST\r\n\r\n");
    assert_eq!(st, 204);
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-methods")
    );
    assert_eq!(edge.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").0, 200);
    assert_eq!(edge.http("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").0, 200);
    assert_eq!(edge.http("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").0, 404);
    assert_eq!(
        edge.http("DELETE /v1/batch HTTP/1.1\r\nHost: x\r\n\r\n").0,
        405
    );
    let (st, _, body) = edge.http("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(st, 200);
    assert!(String::from_utf8_lossy(&body).contains("siq_fsync_seconds_bucket"));

    // A beacon: answered 200 {ack} only when durable.
    let body = HttpBatch {
        key: WriteKey::parse(DEMO_KEY).expect("key"),
        sid: Sid::parse("s_e2e_beacon_000001").expect("sid"),
        hello: Some(hello("s_e2e_beacon_000001", None)),
        frames: vec![moves(1, 10), moves(2, 10), ClientFrame::Bye { seq: Seq(3) }],
    };
    let (st, v) = edge.post_batch(&http_batch_to_vec(&body), Some("https://shop.example"));
    assert_eq!((st, v["ack"].as_u64()), (200, Some(3)));
    // The same beacon again (a retry): acked, nothing new stored.
    let (st, v) = edge.post_batch(&http_batch_to_vec(&body), None);
    assert_eq!((st, v["ack"].as_u64()), (200, Some(3)));
    assert_eq!(edge.metric("siq_frames_total"), 3.0);
    // Errors: bad key 401, bad body 400, too big 413, all with {code, msg}.
    let mut bad = body.clone();
    bad.key = WriteKey::parse("siq_pk_nobody").expect("key");
    bad.hello = None;
    let (st, v) = edge.post_batch(&http_batch_to_vec(&bad), None);
    assert_eq!((st, v["code"].as_str()), (401, Some("bad_key")));
    let (st, v) = edge.post_batch(b"\x93garbage", None);
    assert_eq!((st, v["code"].as_str()), (400, Some("bad_frame")));
    for (size, want) in [
        (256 * 1024 - 1, 200),
        (256 * 1024, 200),
        (256 * 1024 + 1, 413),
    ] {
        let mut b = http_batch_to_vec(&HttpBatch {
            hello: None,
            frames: vec![ClientFrame::Bye { seq: Seq(9) }],
            ..body.clone()
        });
        b[0] += 1;
        b.extend_from_slice(&[0xa3, b'p', b'a', b'd', 0xc6]);
        let pad = size - b.len() - 4;
        b.extend_from_slice(&(pad as u32).to_be_bytes());
        b.resize(size, 0);
        let (st, _) = edge.post_batch(&b, None);
        assert_eq!(st, want, "body of {size} bytes");
    }
}

#[test]
fn slowloris_gets_408_and_sigterm_closes_sessions_with_1001_and_exits_0() {
    let mut edge = Edge::start_with(1, "", 300);
    let mut s = TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost:")
        .expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        buf.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf)
    );

    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_sigterm_00001", None);
    c.send(&moves(1, 10));
    c.until_ack(1);
    let st = edge.sigterm();
    assert!(st.success(), "exit status {st}");
    assert_eq!(c.got(), Got::Closed(Some(1001)));
}

/// The open spool segment reserves `spool_segment_bytes` (64 MiB) on disk past its records. An
/// edge stopped with SIGTERM writes what it holds and seals the segment: its file ends at its
/// records, the space goes back, and the restart finds nothing to cut. (It needs a TMPDIR that
/// allows `O_DIRECT`: on a tmpfs segments reserve nothing, and it fails saying so.)
#[test]
fn a_stopped_edge_seals_its_spool_segment_and_gives_its_reserved_space_back() {
    use sentientiq_edge::storage::spool;
    // The segment's length, and where its valid records end.
    let lengths = |dir: &std::path::Path| -> Vec<(u64, u64)> {
        spool::segments(dir)
            .expect("segments")
            .into_iter()
            .map(|(_, path)| {
                let len = std::fs::metadata(&path).expect("segment").len();
                let mut r = spool::SegmentReader::new(std::fs::File::open(&path).expect("open"));
                while r.next_record().expect("read").is_some() {}
                (len, r.valid() as u64)
            })
            .collect()
    };
    // The shipper stops before the shard seals (its pass, once a second, checks the stop
    // first), so the sealed segment stays to be read.
    let mut edge = Edge::start(1, "");
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_sealstop_0001", None);
    for seq in 1..=5 {
        c.send(&moves(seq, 10));
    }
    c.until_ack(5);
    let dir = edge.spool_dir().join("shard-000");
    let open = lengths(&dir);
    let [(len, valid)] = open[..] else {
        panic!("one open segment: {open:?}");
    };
    // A data directory refusing O_DIRECT (a tmpfs TMPDIR) reserves nothing, and the seal could
    // not be seen: refused here rather than passed, as the committer's own tests do.
    assert_eq!(
        len, 67_108_864,
        "the open segment holds its reservation (TMPDIR must allow O_DIRECT: ext4 in CI)"
    );
    assert!(edge.sigterm().success(), "{}", edge.log());
    let sealed = lengths(&dir);
    assert_eq!(sealed, [(valid, valid)], "sealed at its records");
    // The restart reads every record and cuts nothing.
    edge.spawn();
    let log = edge.log();
    let line = log
        .lines()
        .filter(|l| l.contains("spool recovered"))
        .nth(1)
        .unwrap_or_else(|| panic!("no second recovery line: {log}"));
    assert!(
        line.contains("truncated_bytes=0") && line.contains("zero_bytes=0"),
        "{line}"
    );
    drop(c);
}

#[test]
fn the_per_shard_connection_cap_answers_overloaded_at_cap_plus_one() {
    let edge = Edge::start_edited(1, |c| {
        c.replace(
            "max_connections_per_shard = 20000",
            "max_connections_per_shard = 3",
        )
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut held = Vec::new();
    for i in 0..3 {
        // cap−2, cap−1, cap: accepted.
        let mut c = edge.ws();
        c.hello(DEMO_KEY, &format!("s_e2e_cap_{i:010}"), None);
        held.push(c);
    }
    // cap+1: refused before any WebSocket handshake, 503 with Retry-After and {code, msg}.
    let (st, head, body) = edge.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(st, 503, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after"));
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["code"], "overloaded");
    // A slot frees when a connection closes.
    drop(held.pop());
    let t0 = Instant::now();
    loop {
        if let Ok((200, _, _)) = edge.try_http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the freed slot was not reused"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The connection cap leaves the edge its own descriptors under the process's open-file limit.
/// Started with a soft limit too low for even its own descriptors and a hard limit too low for
/// its configured cap (20 000), the edge raises its soft limit to the hard one, lowers the cap
/// to what fits beside the descriptors it keeps (`node::kept_descriptors`)
/// and says so; the connection past that cap is told 503; a burst of connections past it is
/// answered at most `SHED_IN_FLIGHT` at a time (each answer holds a descriptor for a while),
/// the rest closed unanswered, and none takes a place. The held sessions keep working: their
/// frames roll the spool into new segments (4 KiB each here), every one acked.
#[test]
fn the_connection_cap_fits_the_open_file_limit_and_the_spool_keeps_writing_at_it() {
    use sentientiq_edge::node::{FDS_RESERVED, SHED_IN_FLIGHT, kept_descriptors};
    let cap = 8usize;
    let hard = kept_descriptors(1, 4096) + cap as u64;
    let mut edge = Edge::edited_with_open_files(1, (FDS_RESERVED, hard), |c| {
        c.replace(
            "spool_segment_bytes = 67108864",
            "spool_segment_bytes = 4096",
        )
    });
    edge.spawn();
    let log = edge.log();
    assert!(
        log.contains("max_connections_per_shard lowered")
            && log.contains(" cap=8 ")
            && log.contains(&format!("open_file_limit={hard}")),
        "{log}"
    );
    let mut held: Vec<Client> = (0..cap)
        .map(|i| {
            let mut c = edge.ws();
            c.hello(DEMO_KEY, &format!("s_e2e_nofile_{i:07}"), None);
            c
        })
        .collect();
    // cap + 1: refused before any handshake.
    let (st, head, _) = edge.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(st, 503, "{head}");
    // A burst four times what it answers at once, silent (each answer waits for a request
    // head first): some answered 503, the rest closed with nothing.
    let burst: Vec<TcpStream> = (0..4 * SHED_IN_FLIGHT)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", edge.port)).ok())
        .collect();
    let (mut answered, mut closed) = (0usize, 0usize);
    for mut s in burst {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        if got.starts_with(b"HTTP/1.1 503") {
            answered += 1;
        } else {
            assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
            closed += 1;
        }
    }
    eprintln!("the burst: {answered} answered 503, {closed} closed unanswered");
    assert!(
        answered >= 1 && closed >= 1 && answered < 4 * SHED_IN_FLIGHT,
        "{answered} answered, {closed} closed"
    );
    // No place was taken: still 503 at cap + 1.
    let (st, head, _) = edge.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(st, 503, "{head}");
    for seq in 1..=8 {
        for c in held.iter_mut() {
            c.send(&moves(seq, 30));
        }
        for c in held.iter_mut() {
            c.until_ack(seq);
        }
    }
    drop(held);
    let metrics = edge.metrics_text_past_cap();
    assert_eq!(metric_sum(&metrics, "siq_connection_cap"), cap as f64);
    // About 32 KiB of frames went into 4 KiB segments, each a new file whose directory entry
    // was synced before its first acks.
    let rolled = metric_sum(&metrics, "siq_spool_dir_syncs_total");
    assert!(
        rolled >= 4.0,
        "the spool rolled {rolled} times: {}",
        edge.log()
    );
    assert!(!edge.log().contains("spool write failed"), "{}", edge.log());
}

/// An open-file limit that leaves no connection beside the descriptors the edge keeps for
/// itself: the edge refuses to start, naming the limit and how to raise it.
#[test]
fn an_edge_whose_open_file_limit_leaves_no_connection_refuses_to_start() {
    let kept = sentientiq_edge::node::kept_descriptors(1, 64 << 20);
    let mut edge = Edge::edited_with_open_files(1, (kept, kept), |c| c);
    let early = edge
        .try_spawn()
        .expect_err("started with no room for a connection");
    assert!(
        early.contains(&format!("may open {kept} files (RLIMIT_NOFILE)"))
            && early.contains("raise the limit"),
        "{early}"
    );
}

#[test]
fn pings_keep_a_live_idle_client_and_silence_closes_it_with_1001() {
    let edge = Edge::start_edited(1, |c| {
        c.replace("idle_timeout_ms = 120000", "idle_timeout_ms = 600")
    });
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_idle_00000001", None);
    // For 2 s (> 3 idle timeouts) the client sends no frame but keeps reading, so it answers
    // the edge's pings (tungstenite replies to pings while reading): it stays connected.
    c.ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let t0 = Instant::now();
    let mut pings = 0;
    while t0.elapsed() < Duration::from_secs(2) {
        match c.ws.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(m) => panic!("unexpected {m:?}"),
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("closed while alive: {e}"),
        }
    }
    assert!(pings >= 4, "pings {pings}");
    c.send(&moves(1, 3));
    // Now it stops reading (no pongs): closed with 1001 after the idle timeout.
    std::thread::sleep(Duration::from_millis(1500));
    // Read the raw socket (tungstenite would first try to write the queued pongs): server
    // frames are unmasked; skip pings (0x89) until the close frame (0x88) and read its code.
    let sock = c.ws.get_mut();
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut raw = Vec::new();
    let _ = sock.read_to_end(&mut raw);
    let mut p = 0;
    let mut code = None;
    while p + 2 <= raw.len() {
        let (op, len) = (raw[p] & 0x0f, usize::from(raw[p + 1] & 0x7f));
        if op == 0x8 && len >= 2 && p + 4 <= raw.len() {
            code = Some(u16::from_be_bytes([raw[p + 2], raw[p + 3]]));
            break;
        }
        p += 2 + len;
    }
    assert_eq!(code, Some(1001));
}

#[test]
fn the_per_tenant_session_cap_refuses_new_sessions_only() {
    let edge = Edge::start_edited(1, |c| {
        format!("{c}\n[tenant.limits]\nmax_sessions_per_shard = 2\n")
    });
    // cap−1, cap: welcome.
    let mut a = edge.ws();
    a.hello(DEMO_KEY, "s_e2e_scap_00000001", None);
    let mut b = edge.ws();
    b.hello(DEMO_KEY, "s_e2e_scap_00000002", None);
    // cap+1: a new session is refused with `overloaded` and 1013.
    let mut c = edge.ws();
    c.send(&ClientFrame::Hello(hello("s_e2e_scap_00000003", None)));
    assert!(matches!(c.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::Overloaded && e.fatal));
    assert_eq!(c.got(), Got::Closed(Some(1013)));
    // A session the edge already holds is not new: it reconnects and keeps its place.
    drop(a);
    let mut a = edge.ws();
    a.hello(DEMO_KEY, "s_e2e_scap_00000001", None);
    a.send(&moves(1, 5));
    a.until_ack(1);
}

#[test]
fn a_do_not_track_session_stays_anonymous() {
    let mut edge = Edge::start(1, "");
    let mut c = edge.ws();
    let mut h = hello("s_e2e_dnt_000000001", None);
    h.dnt = Some(true);
    c.send(&ClientFrame::Hello(h));
    assert!(matches!(c.frame(), EdgeFrame::Welcome(_)));
    c.send(&identify(1, "dana@acme.example"));
    c.until_ack(1);
    c.send(&rage(2));
    let got = c.until_ack(2);
    // Rage is still detected, but nothing that needs an identity happens: no intervention
    // (the rule requires an identified user) and no escalation of the $120k account.
    assert!(
        got.iter()
            .any(|f| matches!(f, EdgeFrame::Det(d) if d.e == "rage")),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|f| matches!(f, EdgeFrame::Iv(_))),
        "{got:?}"
    );
    assert_eq!(edge.metric("siq_escalations_total"), 0.0);
    // And nothing reaches the identity store, while an ordinary session's binding does.
    let mut o = edge.ws();
    o.hello(DEMO_KEY, "s_e2e_dnt_000000002", None);
    o.send(&identify(1, "dana@acme.example"));
    o.until_ack(1);
    std::thread::sleep(Duration::from_millis(300)); // identity writes run on a blocking thread
    edge.kill9();
    let store = sentientiq_edge::storage::identity::IdentityStore::open(
        &edge.dir.path().join("data/identity"),
    )
    .expect("open the edge's identity store");
    assert_eq!(
        store
            .session_user("demo", "s_e2e_dnt_000000001")
            .expect("read"),
        None
    );
    assert_eq!(
        store
            .session_user("demo", "s_e2e_dnt_000000002")
            .expect("read")
            .as_deref(),
        Some("u_dana")
    );
}

fn track(seq: u64) -> ClientFrame {
    ClientFrame::Track(Track {
        seq: Seq(seq),
        name: "tick".into(),
        props: vec![],
    })
}

#[test]
fn at_the_session_limit_the_lowest_value_session_is_shed_and_high_value_never() {
    let edge = Edge::start_edited(1, |c| {
        format!(
            "{}\n[tenant.limits]\nmax_sessions_per_shard = 2\n",
            c.replace("session_idle_ms = 1800000", "session_idle_ms = 1500")
        )
    });
    // Three sessions of the $120k Acme account identify, are acked, go quiet and leave memory;
    // the edge remembers each one's durable seq and value.
    let high = [
        "s_e2e_shed_high0001",
        "s_e2e_shed_high0002",
        "s_e2e_shed_high0003",
    ];
    for pair in [&high[..2], &high[2..]] {
        for sid in pair {
            let mut c = edge.ws();
            c.hello(DEMO_KEY, sid, None);
            c.send(&identify(1, "dana@acme.example"));
            c.until_ack(1);
        }
        edge.wait_metric("siq_live_sessions", |v| v == 0.0);
    }
    // Two anonymous sessions (value 0) fill the limit: cap − 1, cap.
    let mut a = edge.ws();
    a.hello(DEMO_KEY, "s_e2e_shed_anon0001", None);
    a.send(&moves(1, 3));
    a.until_ack(1);
    let mut b = edge.ws();
    b.hello(DEMO_KEY, "s_e2e_shed_anon0002", None);
    b.send(&moves(1, 3));
    b.until_ack(1);
    // cap + 1, another anonymous newcomer: it is the lowest-value session, so it is refused.
    let mut n = edge.ws();
    n.send(&ClientFrame::Hello(hello("s_e2e_shed_anon0003", None)));
    assert!(matches!(n.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::Overloaded && e.fatal));
    assert_eq!(n.got(), Got::Closed(Some(1013)));
    // A high-value session returns: the cheapest live session (a, least recently active among
    // the value-0 ones) is shed with `overloaded` + 1013, and the returning one resumes where
    // its acks ended; its last frame sent again is re-acked, not stored again.
    let mut h1 = edge.ws();
    let w = h1.hello(DEMO_KEY, high[0], Some(1));
    assert_eq!(w.ack, Seq(1));
    assert!(matches!(a.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::Overloaded && e.fatal));
    assert_eq!(a.got(), Got::Closed(Some(1013)));
    let frames = edge.metric("siq_frames_total");
    h1.send(&identify(1, "dana@acme.example"));
    h1.until_ack(1);
    assert_eq!(edge.metric("siq_frames_total"), frames);
    assert!(edge.metric("siq_seq_duplicates_total") >= 1.0);
    h1.send(&moves(2, 3));
    h1.until_ack(2);
    // The second one sheds b.
    let mut h2 = edge.ws();
    h2.hello(DEMO_KEY, high[1], Some(1));
    assert!(matches!(b.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::Overloaded));
    assert_eq!(b.got(), Got::Closed(Some(1013)));
    // Every live session is now high-value: the third is admitted over the limit, nobody is
    // shed, and an anonymous newcomer is still refused.
    let mut h3 = edge.ws();
    h3.hello(DEMO_KEY, high[2], Some(1));
    h3.send(&moves(2, 3));
    h3.until_ack(2);
    h2.send(&moves(2, 3));
    h2.until_ack(2);
    h1.send(&moves(3, 3));
    h1.until_ack(3);
    assert_eq!(edge.metric("siq_live_sessions"), 3.0);
    let mut n2 = edge.ws();
    n2.send(&ClientFrame::Hello(hello("s_e2e_shed_anon0004", None)));
    assert!(matches!(n2.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::Overloaded));
    // Refused: n and n2; shed: a and b.
    assert_eq!(edge.metric("siq_shed_sessions_total"), 4.0);
    assert_eq!(edge.errors("overloaded"), 4.0);
}

#[test]
fn a_session_over_its_frame_rate_is_told_to_retry_and_loses_nothing() {
    let edge = Edge::start_edited(1, |c| {
        format!("{c}\n[tenant.limits]\nframes_per_sec = 2\nframe_burst = 3\n")
    });
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_rate_00000001", None);
    // Burst: frames 1..3 (cap − 1, cap) accepted.
    for seq in 1..=3 {
        c.send(&track(seq));
    }
    c.until_ack(3);
    // cap + 1 in the same instant: refused, not acked, the connection stays open.
    c.send(&track(4));
    let retry = match c.frame() {
        EdgeFrame::Err(e) => {
            assert_eq!((e.code, e.fatal), (ErrorCode::RateLimited, false));
            e.retry_ms.expect("retry_ms")
        }
        f => panic!("expected rate_limited, got {f:?}"),
    };
    assert!((1..=500).contains(&retry), "{retry}");
    // Frames the session already holds cost nothing: a re-send is re-acked at once.
    c.send(&track(3));
    c.until_ack(3);
    std::thread::sleep(Duration::from_millis(u64::from(retry) + 50));
    c.send(&track(4));
    c.until_ack(4);
    assert_eq!(edge.metric("siq_frames_total"), 4.0);
    assert_eq!(edge.errors("rate_limited"), 1.0);

    // A beacon over the burst: 429 with Retry-After; the same beacon later succeeds, and the
    // frames accepted the first time are not stored twice.
    let body = HttpBatch {
        key: WriteKey::parse(DEMO_KEY).expect("key"),
        sid: Sid::parse("s_e2e_rate_beacon01").expect("sid"),
        hello: Some(hello("s_e2e_rate_beacon01", None)),
        frames: (1..=4).map(track).collect(),
    };
    let bytes = http_batch_to_vec(&body);
    let mut req = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    )
    .into_bytes();
    req.extend_from_slice(&bytes);
    let (st, head, b) = edge.try_http_bytes(&req).expect("http");
    assert_eq!(st, 429, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(v["code"], "rate_limited");
    std::thread::sleep(Duration::from_millis(600));
    let (st, v) = edge.post_batch(&bytes, None);
    assert_eq!((st, v["ack"].as_u64()), (200, Some(4)));
    assert_eq!(edge.metric("siq_frames_total"), 8.0);
}

#[test]
fn a_client_that_does_not_read_is_dropped_and_cannot_grow_edge_memory() {
    let edge = Edge::start_edited(1, |c| {
        format!(
            "{}\n[tenant.limits]\nframes_per_sec = 1\nframe_burst = 1\n",
            c.replace("write_timeout_ms = 10000", "write_timeout_ms = 500")
        )
    });
    let rss0 = edge.rss_kib();
    // A client with a tiny receive buffer that never reads. Every frame over its rate earns an
    // `err` frame, so the edge has far more to say than the client takes.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], edge.port)).into())
        .expect("connect");
    let stream: TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://127.0.0.1:{}/v1/ws",
        edge.port
    ))
    .expect("request");
    let (ws, _) = tungstenite::client(req, stream).expect("ws handshake");
    let mut slow = Client { ws };
    slow.hello(DEMO_KEY, "s_e2e_slow_00000001", None);
    slow.ws
        .get_ref()
        .set_write_timeout(Some(Duration::from_millis(200)))
        .expect("write timeout");
    let mut sent = 0u64;
    for seq in 1..=400_000u64 {
        if slow
            .ws
            .send(Message::Binary(client_to_vec(&track(seq)).into()))
            .is_err()
        {
            break;
        }
        sent = seq;
    }
    assert!(sent > 1000, "sent {sent}");
    // The edge gives up on the connection within its write timeout (or when its outbound
    // queue is full)...
    // What the edge did instead, should it never count the close (this failed once in a full
    // `make test`, 2026-12-05, where it had passed in every run before).
    poll_or_explain(
        "siq_slow_reader_closes_total",
        || (edge.metric("siq_slow_reader_closes_total") >= 1.0).then_some(()),
        || {
            format!(
                "{sent} frames sent; the edge answered {} rate_limited errs and has {} TCP \
                 connections open",
                edge.errors("rate_limited"),
                edge.metric_with("siq_open_connections", "transport=\"tcp\"")
            )
        },
    );
    // ...keeps serving everyone else...
    let mut ok = edge.ws();
    ok.hello(DEMO_KEY, "s_e2e_slow_00000002", None);
    ok.send(&moves(1, 3));
    ok.until_ack(1);
    // ...and held no more than its bounded buffers for it.
    let grown = edge.rss_kib().saturating_sub(rss0);
    assert!(grown < 64 * 1024, "edge RSS grew by {grown} KiB");
    // What the client eventually reads ends (the edge dropped it); no hang.
    let t0 = Instant::now();
    loop {
        match slow.ws.read() {
            Ok(_) => {}
            Err(_) => break,
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "connection not closed"
        );
    }
}

#[test]
fn a_returning_users_stored_value_is_known_when_they_identify() {
    let mut edge = Edge::start(1, "");
    // First visit: a user of a company the directory does not know buys $60k, then $50k.
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_ltv_000000001", None);
    c.send(&identify_as(1, "u_whale", "whale@bigco.example"));
    c.send(&purchase(2, 60_000.0));
    c.send(&purchase(3, 50_000.0));
    c.until_ack(3);
    drop(c);
    // Identity writes run off the reactor; a graceful stop waits for them.
    assert!(edge.sigterm().success());
    // Restarted edge (empty cache): a new session of the same user rages. Their stored $110k
    // is read from RocksDB when they identify, so the $100k escalation rule fires, as it would
    // not for a user with no history.
    edge.spawn();
    let mut n = edge.ws();
    n.hello(DEMO_KEY, "s_e2e_ltv_000000002", None);
    n.send(&identify_as(1, "u_minnow", "minnow@small.example"));
    n.until_ack(1);
    let mut w = edge.ws();
    w.hello(DEMO_KEY, "s_e2e_ltv_000000003", None);
    w.send(&identify_as(1, "u_whale", "whale@bigco.example"));
    w.until_ack(1);
    edge.wait_metric("siq_profiles_loaded_total", |v| v >= 2.0);
    n.send(&rage(2));
    n.until_ack(2);
    assert_eq!(edge.metric("siq_escalations_total"), 0.0);
    w.send(&rage(2));
    w.until_ack(2);
    assert_eq!(edge.metric("siq_escalations_total"), 1.0, "{}", edge.log());
    assert!(edge.log().contains("value_usd=110000"), "{}", edge.log());
}

#[test]
fn every_acked_frame_lands_in_the_lake_exactly_once_across_kill_9() {
    acked_frames_land_exactly_once_across_kill_9(Lake::Local);
}

#[test]
fn every_acked_frame_lands_in_s3_exactly_once_across_kill_9() {
    acked_frames_land_exactly_once_across_kill_9(Lake::s3());
}

fn acked_frames_land_exactly_once_across_kill_9(lake: Lake) {
    let mut edge = start_lake(2, &lake, |c| {
        c.replace("max_age_s = 60", "max_age_s = 1")
            .replace("poll_ms = 1000", "poll_ms = 100")
    });
    let sids: Vec<String> = (0..12).map(|i| format!("s_e2e_lake_{i:08}")).collect();
    // Each session: a 10-sample batch, an identify, a 5-sample batch = 16 rows; the SDK keeps
    // each frame until acked and re-sends what was not.
    let frames = |i: usize| -> Vec<ClientFrame> {
        let mut v = vec![moves(1, 10)];
        v.push(if i == 0 {
            identify(2, "dana@acme.example")
        } else {
            track(2)
        });
        v.push(moves(3, 5));
        v
    };
    let mut acked = vec![0u64; sids.len()];
    // Half the sessions send everything, the other half only their first frame, then kill -9.
    for (i, sid) in sids.iter().enumerate() {
        let mut c = edge.ws();
        c.hello(DEMO_KEY, sid, None);
        let n = if i % 2 == 0 { 3 } else { 1 };
        for f in frames(i).into_iter().take(n) {
            c.send(&f);
        }
        c.until_ack(n as u64);
        acked[i] = n as u64;
    }
    edge.kill9();
    edge.spawn();
    // Every session reconnects and re-sends everything after what was acked, plus (as a worst
    // case) its last acked frame again.
    for (i, sid) in sids.iter().enumerate() {
        let mut c = edge.ws();
        let w = c.hello(DEMO_KEY, sid, Some(acked[i]));
        assert_eq!(w.ack, Seq(acked[i]), "{sid}");
        for f in frames(i).into_iter().skip(acked[i] as usize - 1) {
            c.send(&f);
        }
        c.until_ack(3);
    }
    // Everything ships within max_age + a poll; then the spool holds nothing unshipped.
    let expected = sids.len() * 16;
    let (_, keys) = poll("every row in the lake", || {
        let (rows, keys) = lake_rows(&lake.sync(&edge));
        (rows.len() >= expected).then_some((rows, keys))
    });
    std::thread::sleep(Duration::from_millis(500));
    let (rows, keys2) = lake_rows(&lake.sync(&edge));
    assert_eq!(keys, keys2);
    // Conservation: every frame's rows exactly once, none invented.
    assert_eq!(rows.len(), expected);
    let mut uniq: Vec<_> = rows.iter().map(|r| (r.0.clone(), r.1, r.2)).collect();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), expected, "a row appears twice");
    for (i, sid) in sids.iter().enumerate() {
        let mine: Vec<_> = rows.iter().filter(|r| &r.0 == sid).collect();
        assert_eq!(mine.len(), 16, "{sid}");
        assert_eq!(mine.iter().filter(|r| r.1 == 1).count(), 10);
        assert_eq!(mine.iter().filter(|r| r.1 == 3).count(), 5);
        let want = if i == 0 { "identify" } else { "track" };
        assert!(mine.iter().any(|r| r.1 == 2 && r.3 == want));
        if i == 0 {
            assert!(mine.iter().all(|r| r.4.as_deref() == Some("u_dana")));
            assert!(mine.iter().all(|r| r.5.as_deref() == Some("acme.example")));
        } else {
            assert!(mine.iter().all(|r| r.4.is_none()));
        }
    }
    // Keys are Hive-style under the documented layout.
    for k in &keys {
        let parts: Vec<&str> = k.split('/').collect();
        assert_eq!(parts.len(), 6, "{k}");
        assert_eq!(
            (parts[0], parts[1], parts[4]),
            ("events", "tenant=demo", "region=us-east-1"),
            "{k}"
        );
        assert!(
            parts[2].starts_with("date=20") && parts[3].starts_with("hour="),
            "{k}"
        );
        assert!(
            parts[5].starts_with("edge-local-1-") && parts[5].ends_with(".parquet"),
            "{k}"
        );
    }
    assert_eq!(edge.metric("siq_lake_backlog_bytes"), 0.0, "{}", edge.log());
    assert_eq!(edge.metric("siq_lake_errors_total"), 0.0);
}

#[test]
fn a_lake_outage_fills_the_spool_headroom_then_drains_without_loss() {
    outage_fills_the_headroom_then_drains(Lake::Local);
}

#[test]
fn an_s3_outage_fills_the_spool_headroom_then_drains_without_loss() {
    outage_fills_the_headroom_then_drains(Lake::s3());
}

fn outage_fills_the_headroom_then_drains(mut lake: Lake) {
    let mut edge = start_lake(1, &lake, |c| {
        c.replace("max_age_s = 60", "max_age_s = 1")
            .replace("poll_ms = 1000", "poll_ms = 100")
            .replace("spool_max_bytes = 1073741824", "spool_max_bytes = 1048576")
    });
    lake.outage(&edge);
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_outage_000001", None);
    // ~40 KB frames until the edge says `overloaded` (90 % of 1 MiB for this value-0 session).
    let mut acked = 0u64;
    let refused_at = loop {
        let seq = acked + 1;
        c.send(&moves(seq, 4000));
        match c.frame() {
            EdgeFrame::Ack { seq: s } => acked = s.0,
            EdgeFrame::Err(e) => {
                assert_eq!((e.code, e.fatal), (ErrorCode::Overloaded, false), "{e:?}");
                break seq;
            }
            f => panic!("{f:?}"),
        }
        assert!(seq < 200, "never refused: {}", edge.log());
    };
    let spooled = edge.metric("siq_spool_bytes_total");
    assert!(
        (0.9 * 1_048_576.0..1_048_576.0 + 64_000.0).contains(&spooled),
        "{spooled}"
    );
    // Sealed segments fail to ship (and are kept), visibly.
    edge.wait_metric("siq_lake_errors_total", |v| v >= 1.0);
    assert!(edge.metric("siq_lake_backlog_bytes") > 0.0);
    // Still refused while the outage lasts: nothing is silently dropped or acked.
    c.send(&moves(refused_at, 4000));
    assert!(matches!(c.frame(), EdgeFrame::Err(e) if e.code == ErrorCode::Overloaded));
    // The last 10 % is kept for high-value sessions: the $120k Acme user identifies and is
    // still accepted while value-0 sessions are refused.
    assert!(edge.metric("siq_spool_bytes_total") < 1_048_576.0);
    let mut h = edge.ws();
    h.hello(DEMO_KEY, "s_e2e_outage_000002", None);
    h.send(&identify(1, "dana@acme.example"));
    h.send(&moves(2, 3));
    h.until_ack(2);
    // Every stored byte is in the backlog, counted as the spool counts it (its records): the
    // segment these frames were just written to (open until it is `max_age_s` old) by what was
    // written to it, not by its file, which holds its reservation (`spool_segment_bytes`,
    // 64 MiB here), nor the segments' headers.
    let spooled = edge.metric("siq_spool_bytes_total");
    let backlog = edge.wait_metric("siq_lake_backlog_bytes", |v| v >= spooled);
    let spooled_since = edge.metric("siq_spool_bytes_total");
    assert!(
        backlog <= spooled_since,
        "backlog {backlog} bytes for {spooled}..{spooled_since} spooled"
    );
    // The lake returns: the backlog drains, and the refused frame is accepted on retry.
    lake.recover(&edge);
    edge.wait_metric("siq_lake_backlog_bytes", |v| v < 0.5 * 1_048_576.0);
    c.send(&moves(refused_at, 4000));
    c.until_ack(refused_at);
    edge.wait_metric("siq_lake_rows_total", |v| v >= (refused_at * 4000) as f64);
    let rows = wait_rows_in(&lake, &edge, refused_at as usize * 4000 + 4);
    let of = |sid: &str| rows.iter().filter(|r| r.0 == sid).count() as u64;
    assert_eq!(
        of("s_e2e_outage_000001"),
        refused_at * 4000,
        "every acked sample once"
    );
    assert_eq!(of("s_e2e_outage_000002"), 4);
    edge.kill9();
}

#[test]
fn emails_and_card_numbers_are_redacted_before_the_spool() {
    let mut edge = Edge::start(1, "");
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_redact_000001", None);
    let mut b = Batch {
        seq: Seq(1),
        t0: 1_763_780_000_000,
        ..Batch::default()
    };
    let l = b.intern("mailto dana@acme.example");
    b.push(kind::CLICK, 0, 10, 10, l);
    c.send(&ClientFrame::Batch(b));
    c.send(&ClientFrame::Track(Track {
        seq: Seq(2),
        name: "checkout".into(),
        props: vec![("note".into(), Value::Str("card 4111 1111 1111 1111".into()))],
    }));
    // The id frame's own email is identity, kept.
    c.send(&identify(3, "dana@acme.example"));
    c.until_ack(3);
    assert_eq!(edge.metric("siq_redacted_frames_total"), 2.0);
    edge.kill9();
    let all: Vec<u8> = spooled(&edge).into_iter().flat_map(|r| r.frame).collect();
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.contains("mailto [email]") && text.contains("card [card]"),
        "{text}"
    );
    assert!(!text.contains("4111"), "{text}");
    // Only the identify frame still holds the address.
    assert_eq!(text.matches("dana@acme.example").count(), 1, "{text}");
}

#[test]
fn detections_land_in_the_lake_with_identity_value_and_physics() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
    let edge = Edge::start_edited(1, |c| {
        c.replace("max_age_s = 60", "max_age_s = 1")
            .replace("poll_ms = 1000", "poll_ms = 100")
    });
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_lakedet_00001", None);
    c.send(&identify(1, "dana@acme.example"));
    c.send(&rage(2));
    let got = c.until_ack(2);
    assert!(
        got.iter()
            .any(|f| matches!(f, EdgeFrame::Det(d) if d.e == "rage"))
    );
    let lake = edge.dir.path().join("lake");
    let (key, file) = poll("a detections file", || {
        table_files(&lake, "detections").into_iter().next()
    });
    assert!(key.starts_with("detections/tenant=demo/date="), "{key}");
    let b = parquet_batches(&file).remove(0);
    let s = |n: &str, i: usize| dict_str(&b, n, i).expect("set");
    // The burst on a dead button is rage (and may also be frustration); every row is the
    // identified $120k user's.
    let i = (0..b.num_rows())
        .find(|i| s("emotion", *i) == "rage")
        .expect("a rage row");
    for r in 0..b.num_rows() {
        assert_eq!(s("user", r), "u_dana");
        assert_eq!(s("account", r), "acme.example");
    }
    let col = |n: &str| b.column_by_name(n).expect("column").clone();
    assert_eq!(
        col("value_cents").as_primitive::<Int64Type>().value(i),
        12_000_000
    );
    assert_eq!(col("seq").as_primitive::<UInt64Type>().value(i), 2);
    assert!(
        col("speed")
            .as_primitive::<Float64Type>()
            .value(i)
            .is_finite()
    );
    let conf = col("confidence").as_primitive::<Float64Type>().value(i);
    assert!((0.5..=1.0).contains(&conf), "{conf}");

    // Actions: the intervention sent to the page and the $100k escalation, then the page's
    // outcome for the intervention, joined by id.
    let iv = got
        .iter()
        .find_map(|f| match f {
            EdgeFrame::Iv(iv) => Some(iv.id.clone()),
            _ => None,
        })
        .expect("an intervention");
    c.send(&ClientFrame::Outcome(Outcome {
        seq: Seq(3),
        iid: iv.clone(),
        r: OutcomeKind::Clicked,
    }));
    c.until_ack(3);
    let rows = poll("the outcome row in actions", || {
        let mut rows: Vec<(String, String, Option<String>)> = Vec::new();
        for (_, f) in table_files(&lake, "actions") {
            for b in parquet_batches(&f) {
                for i in 0..b.num_rows() {
                    rows.push((
                        dict_str(&b, "id", i).expect("id"),
                        dict_str(&b, "action", i).expect("action"),
                        dict_str(&b, "result", i),
                    ));
                }
            }
        }
        rows.iter().any(|r| r.1 == "outcome").then_some(rows)
    });
    assert!(
        rows.iter().any(|r| r.0 == iv && r.1 == "intervene"),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.1 == "escalate"), "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.0 == iv && r.1 == "outcome" && r.2.as_deref() == Some("clicked")),
        "{rows:?}"
    );
}

#[test]
fn under_dnt_drop_a_do_not_track_session_is_acked_and_nothing_is_kept() {
    let mut edge = Edge::start_edited(1, |c| c.replace("dnt = \"anonymous\"", "dnt = \"drop\""));
    let mut d = edge.ws();
    let mut h = hello("s_e2e_dntdrop_00001", None);
    h.dnt = Some(true);
    d.send(&ClientFrame::Hello(h));
    assert!(matches!(d.frame(), EdgeFrame::Welcome(_)));
    d.send(&identify(1, "dana@acme.example"));
    d.send(&rage(2));
    let got = d.until_ack(2);
    // Acked (the SDK forgets the frames), but nothing was processed: no detection.
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(
        edge.metric_with("siq_dropped_frames_total", "reason=\"dnt\""),
        2.0
    );
    assert_eq!(edge.metric("siq_frames_total"), 0.0);
    // An ordinary session of the same tenant is kept.
    let mut o = edge.ws();
    o.hello(DEMO_KEY, "s_e2e_dntdrop_00002", None);
    o.send(&moves(1, 3));
    o.until_ack(1);
    edge.kill9();
    let sids: Vec<String> = spooled(&edge).into_iter().map(|r| r.sid).collect();
    assert_eq!(sids, vec!["s_e2e_dntdrop_00002".to_string()]);
}

#[test]
fn a_retry_of_a_frame_already_shipped_and_deleted_is_reacked_not_stored_again() {
    let mut edge = Edge::start_edited(1, |c| {
        c.replace("max_age_s = 60", "max_age_s = 1")
            .replace("poll_ms = 1000", "poll_ms = 100")
    });
    let lake = edge.dir.path().join("lake");
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_floor_0000001", None);
    c.send(&moves(1, 5));
    c.send(&moves(2, 5));
    c.until_ack(2);
    // Shipped, and the segment deleted: nothing of the session is left in the spool.
    wait_lake_rows(&lake, 10);
    edge.wait_metric("siq_lake_backlog_bytes", |v| v == 0.0);
    edge.kill9();
    edge.spawn();
    // The edge still knows seq 2 is held (its floor), so the SDK's retry adds nothing.
    let mut c = edge.ws();
    let w = c.hello(DEMO_KEY, "s_e2e_floor_0000001", Some(0));
    assert_eq!(w.ack, Seq(2));
    c.send(&moves(2, 5));
    c.until_ack(2);
    assert_eq!(edge.metric("siq_frames_total"), 0.0);
    assert_eq!(edge.metric("siq_spool_bytes_total"), 0.0);
    assert_eq!(edge.metric("siq_seq_duplicates_total"), 1.0);
    // A new frame continues normally.
    c.send(&moves(3, 5));
    c.until_ack(3);
    assert_eq!(wait_lake_rows(&lake, 15).len(), 15);
}

/// The entry naming a new spool segment is synced before the segment's first ack: syncing a
/// file does not sync its directory entry (`fsync(2)`), and a power cut could otherwise lose an
/// acknowledged segment whole. No test here can cut the power, so this counts the edge's
/// directory syncs: one by the first ack, and one per segment over the run (not one per commit).
#[test]
fn each_new_spool_segment_is_named_durably_before_its_first_ack() {
    let edge = Edge::start_edited(1, |c| {
        c.replace("max_age_s = 60", "max_age_s = 1")
            .replace("poll_ms = 1000", "poll_ms = 100")
    });
    let syncs = "siq_spool_dir_syncs_total";
    assert_eq!(edge.metric(syncs), 0.0);
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_dirsync_000001", None);
    c.send(&moves(1, 5));
    c.until_ack(1);
    assert_eq!(edge.metric(syncs), 1.0, "synced before the first ack");
    // Five more commits, each acked before the next is sent.
    for seq in 2..=6 {
        c.send(&moves(seq, 5));
        c.until_ack(seq);
    }
    // The segment ages out (max_age_s = 1) and ships; the next frame makes a new one.
    edge.wait_metric("siq_lake_segments_shipped_total", |v| v >= 1.0);
    c.send(&moves(7, 5));
    c.until_ack(7);
    edge.wait_metric("siq_lake_rows_total", |v| v == 35.0);
    // Every segment is shipped now (its rows are counted just before it is).
    let segments = poll("one directory sync per segment", || {
        let (n, s) = (
            edge.metric("siq_lake_segments_shipped_total"),
            edge.metric(syncs),
        );
        (n == s).then_some(n)
    });
    assert!(segments >= 2.0, "{segments} segments");
}

#[test]
fn a_tenant_with_its_own_bucket_and_prefix_ships_there_and_only_there() {
    let lake = Lake::s3();
    let edge = start_lake(1, &lake, |c| {
        c.replace("max_age_s = 60", "max_age_s = 1")
            .replace("poll_ms = 1000", "poll_ms = 100")
            .replacen(
                "#lake = { bucket = \"acme-siq\", prefix = \"siq\" }",
                "lake = { bucket = \"acme-lake\", prefix = \"siq/raw\" }",
                1,
            )
    });
    let mut c = edge.ws();
    c.hello(DEMO_KEY, "s_e2e_tenant_bucket_01", None);
    c.send(&moves(1, 7));
    c.until_ack(1);
    let Lake::S3 { port, .. } = &lake else {
        unreachable!()
    };
    let own = tempfile::tempdir().expect("tempdir");
    let keys = poll("the tenant's bucket", || {
        let k = mirror_bucket(&Lake::client(*port, "acme-lake"), own.path());
        (!k.is_empty()).then_some(k)
    });
    assert!(
        keys.iter()
            .all(|k| k.starts_with("siq/raw/events/tenant=demo/date=")),
        "{keys:?}"
    );
    let (rows, _) = lake_rows(&own.path().join("siq/raw"));
    assert_eq!(rows.len(), 7);
    // Nothing in the edge's default bucket.
    assert!(
        lake.sync(&edge)
            .read_dir()
            .expect("mirror")
            .next()
            .is_none()
    );
}

/// The loadgen's options for `sessions` demo-tenant sessions of `secs` over WebSocket to `edge`.
fn loadgen_opts(
    edge: &Edge,
    sessions: usize,
    secs: u64,
    seed: u64,
) -> sentientiq_loadgen::run::Opts {
    sentientiq_loadgen::run::Opts::ws(
        format!("ws://127.0.0.1:{}/v1/ws", edge.port),
        DEMO_KEY,
        sessions,
        Duration::from_secs(secs),
        seed,
    )
}

#[test]
fn the_loadgen_against_a_real_edge_gets_exactly_what_the_core_detects_offline() {
    use sentientiq_loadgen::run::{Opts, QuicOpts, Stats, Transport, run};
    use sentientiq_loadgen::synth::Mix;
    use std::cell::RefCell;
    use std::rc::Rc;
    let edge = Edge::start(2, "");
    let (sessions, secs, seed) = (60, 20, 3);
    // No `id` frames (none identified): seqs then match the offline run frame for frame.
    let opts = Opts {
        ramp: Duration::from_secs(2),
        // The example tenant labels hesitation in `pricing` as `price_anxiety`.
        labels: vec![("price_anxiety".into(), "hesitation".into())],
        // Sessions connect from 127.0.0.1 and 127.0.0.2 (the loadgen's --source-ips).
        source_ips: 2,
        // Half the sessions over QUIC, three to a connection, over two client sockets.
        transport: Transport::Mixed,
        quic: Some(QuicOpts {
            addrs: vec![std::net::SocketAddr::from(([127, 0, 0, 1], edge.port + 1))],
            pins: vec![sentientiq_testkit::quic::quic_pin(
                &edge.dir.path().join("data"),
            )],
            sessions_per_connection: 3,
            sockets: 2,
            // The sockets driven on a thread of their own, as the loadgen does by default.
            io_threads: 1,
        }),
        ..loadgen_opts(&edge, sessions, secs, seed)
    };
    let stats = Rc::new(RefCell::new(Stats::default()));
    sentientiq_testkit::block_on_local(run(opts, stats.clone())).expect("run");
    let s = stats.borrow();
    assert_eq!(s.sessions_connected, sessions as u64, "{:?}", s.errors);
    let by: Vec<_> = s
        .by_transport
        .iter()
        .map(|(k, t)| (*k, t.sessions_connected, t.acked == t.frames_sent))
        .collect();
    assert_eq!(
        by,
        vec![
            ("quic", sessions as u64 / 2, true),
            ("ws", sessions as u64 / 2, true)
        ]
    );
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.unacked_at_end, 0);
    assert_eq!(s.acked, s.frames_sent);
    assert!(s.frames_sent > 0 && s.samples_sent > s.frames_sent);
    assert_eq!(s.hists.ack.len(), s.acked);
    // The edge timed every frame it acked (siq_ack_seconds), no more: no re-sends here.
    assert_eq!(edge.metric("siq_ack_seconds_count"), s.acked as f64);
    assert_eq!(
        edge.metric(
            "siq_ack_seconds_bucket{edge=\"edge-local-1\",region=\"us-east-1\",le=\"+Inf\"}"
        ),
        s.acked as f64
    );
    // The edge's detections, scored against the generator's truth, are exactly those of the
    // same sessions run through the core with no network.
    let offline = sentientiq_loadgen::offline::score(
        seed,
        sessions,
        secs as f64,
        &Mix::default(),
        &sentientiq_core::TenantPolicy::default(),
    );
    assert_eq!(s.score.by_emotion, offline.by_emotion);
    assert!(s.score.by_emotion.values().map(|c| c.tp).sum::<u64>() >= 10);
    assert_eq!(
        s.hists.detection.len(),
        s.detections.values().sum::<u64>(),
        "every det timed"
    );
}

/// The loadgen batches as the edge's `welcome` says, as the SDK does: a tenant flushing every
/// 100 ms with at most 16 samples a frame gets exactly the frames the generator cuts at those
/// settings (more than at the default 250 ms and 512), with the same samples, every one acked.
#[test]
fn the_loadgen_batches_as_the_tenant_says_in_its_welcome() {
    use sentientiq_loadgen::run::{Opts, Stats, run};
    use sentientiq_loadgen::synth::{Mix, SessionGen};
    use std::cell::RefCell;
    use std::rc::Rc;
    let edge = Edge::start_edited(1, |c| {
        c.replace("flush_ms = 250", "flush_ms = 100")
            .replace("max_batch = 512", "max_batch = 16")
    });
    let (sessions, secs, seed) = (6, 4, 5);
    // No `id` frames (none identified): the frames are the generator's alone.
    let opts = Opts {
        ramp: Duration::from_millis(500),
        ..loadgen_opts(&edge, sessions, secs, seed)
    };
    let stats = Rc::new(RefCell::new(Stats::default()));
    sentientiq_testkit::block_on_local(run(opts, stats.clone())).expect("run");
    // What the generator cuts for the same sessions at (flush_ms, max_batch): frames, samples.
    let cut = |flush_ms: u32, max_batch: u32| {
        let (mut frames, mut samples) = (0u64, 0u64);
        for i in 0..sessions {
            let p = Mix::default().persona_of(i);
            let mut g = SessionGen::new(seed, i as u64, p, secs as i64 * 1_000_000, 250, None);
            g.follow(flush_ms, max_batch);
            while let Some(f) = g.next_frame() {
                frames += 1;
                samples += f.samples as u64;
            }
        }
        (frames, samples)
    };
    let s = stats.borrow();
    assert_eq!(s.sessions_connected, sessions as u64, "{:?}", s.errors);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let (fast, default) = (cut(100, 16), cut(250, 512));
    assert_eq!((s.frames_sent, s.samples_sent), fast);
    assert_eq!(fast.1, default.1, "the same samples");
    assert!(fast.0 > default.0, "{fast:?} {default:?}");
    assert_eq!(s.acked, s.frames_sent);
    assert_eq!(edge.metric("siq_ack_seconds_count"), s.acked as f64);
}

/// Issue 17 through the real edge: the example tenant's `help-on-rage` rule as an experiment
/// (variants `chat` and `offer`, half held out, seed 7, one shard), 40 identified sessions one
/// after another over WebSocket.
#[test]
fn an_experiment_assigns_each_session_once_holds_out_its_share_and_counts_outcomes() {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use sentientiq_experiments::{Arm, ExperimentConfig, ExperimentCounts, Exposure, Rng, assign};
    const SEED: u64 = 7;
    const N: usize = 40;
    let edge = Edge::start_edited(1, |c| {
        c.replace(
            "io_memory_bytes = 524288 ",
            &format!("experiment_seed = {SEED}\nio_memory_bytes = 524288 "),
        )
        .replace("session_cooldown_s = 60", "session_cooldown_s = 1")
        .replace(
            r#"intervene = { kind = "chat", variant = "a", payload = { text = "Something not working? We're here to help." } }"#,
            r#"experiment = { holdout_share = 0.5, variants = [{ id = "chat", kind = "chat" }, { id = "offer", kind = "offer", payload = { pct = 10 } }] }"#,
        )
        .replace("max_age_s = 60", "max_age_s = 1")
        .replace("poll_ms = 1000", "poll_ms = 100")
    });
    // What seed 7 must decide for sessions assigned one after another (shard 0 draws from the
    // seed's own stream): the same experiment, through the same library.
    let mut cfg = ExperimentConfig::new("help-on-rage", &["chat", "offer"]);
    cfg.holdout_share = 0.5;
    let exp = cfg.validate().expect("valid");
    let mut rng = Rng::seed_from_u64(SEED);
    let mut counts = ExperimentCounts::default();
    let arms: Vec<Arm> = (0..N)
        .map(|_| {
            let a = assign(&exp, &counts, &mut rng).expect("active");
            Exposure::start(a.arm, 0, &mut counts);
            a.arm
        })
        .collect();
    let held = arms.iter().filter(|a| **a == Arm::Holdout).count();
    // Seed 7 holds out 17 of 40 (binomial(40, ½): 20 ± 3.2, so 0.9 σ low).
    assert_eq!(held, 17);
    let variant = |a: Arm| match a {
        Arm::Holdout => None,
        Arm::Variant(v) => Some(["chat", "offer"][usize::from(v)]),
    };
    let iv_of = |got: &[EdgeFrame]| {
        got.iter().find_map(|f| match f {
            EdgeFrame::Iv(iv) => Some(iv.clone()),
            _ => None,
        })
    };
    let mut sessions = Vec::new();
    for (i, arm) in arms.iter().enumerate() {
        let sid = format!("s_e2e_experiment_{i:03}");
        let mut c = edge.ws();
        c.hello(DEMO_KEY, &sid, None);
        // The rule helps identified users only; these are worth nothing (no escalation).
        c.send(&identify_as(
            1,
            &format!("u_exp_{i}"),
            &format!("u{i}@shop.example"),
        ));
        c.send(&rage(2));
        let iv = iv_of(&c.until_ack(2));
        assert_eq!(
            iv.as_ref().map(|iv| iv.variant.as_str()),
            variant(*arm),
            "session {i}"
        );
        if let Some(iv) = &iv {
            let kind = if iv.variant == "offer" {
                "offer"
            } else {
                "chat"
            };
            assert_eq!(iv.kind, kind);
        }
        sessions.push((c, iv));
    }
    // Sticky: once the rule's cooldown (1 s) has passed, rage again (20 s later on the page's
    // clock, past the detector's refractory period): the same variant, or nothing.
    std::thread::sleep(Duration::from_millis(1100));
    let (mut shown, mut buyers) = (0.0, 0.0);
    for (i, (c, first)) in sessions.iter_mut().enumerate() {
        let ClientFrame::Batch(mut b) = rage(3) else {
            unreachable!("rage is a batch")
        };
        b.t0 += 20_000;
        c.send(&ClientFrame::Batch(b));
        let again = iv_of(&c.until_ack(3));
        assert_eq!(
            again.as_ref().map(|iv| iv.variant.clone()),
            first.as_ref().map(|iv| iv.variant.clone()),
            "session {i} keeps its arm"
        );
        // Outcomes: a shown session reports `shown` and `clicked` (the click twice: counted
        // once); every fourth session buys, held out or not.
        let mut seq = 3;
        if let Some(iv) = first {
            shown += 1.0;
            for r in [
                OutcomeKind::Shown,
                OutcomeKind::Clicked,
                OutcomeKind::Clicked,
            ] {
                seq += 1;
                c.send(&ClientFrame::Outcome(Outcome {
                    seq: Seq(seq),
                    iid: iv.id.clone(),
                    r,
                }));
            }
        }
        if i % 4 == 0 {
            buyers += 1.0;
            seq += 1;
            c.send(&purchase(seq, 30.0));
        }
        if seq > 3 {
            c.until_ack(seq);
        }
    }
    let m = |name: &str, label: &str| edge.metric_with(name, label);
    let held = held as f64;
    assert_eq!(
        (
            m("siq_experiment_assignments_total", "arm=\"holdout\""),
            m("siq_experiment_assignments_total", "arm=\"variant\"")
        ),
        (held, N as f64 - held),
        "each session assigned once"
    );
    assert_eq!(edge.metric("siq_interventions_held_out_total"), 2.0 * held);
    assert_eq!(edge.metric("siq_interventions_total"), 2.0 * shown);
    let outcome = |o: &str| m("siq_experiment_outcomes_total", &format!("outcome=\"{o}\""));
    assert_eq!(
        (outcome("shown"), outcome("clicked"), outcome("purchase")),
        (shown, shown, buyers)
    );
    // The lake: one assigning row per session, with the seed and the state it drew from.
    let lake = edge.dir.path().join("lake");
    let assigned = poll("every assignment in the actions table", || {
        let mut rows = Vec::new();
        for (_, f) in table_files(&lake, "actions") {
            for b in parquet_batches(&f) {
                let col = b.column_by_name("assignment").expect("assignment column");
                let col = col.as_string::<i32>();
                for i in 0..b.num_rows() {
                    if col.is_valid(i) {
                        rows.push((
                            dict_str(&b, "session", i).expect("session"),
                            dict_str(&b, "action", i).expect("action"),
                            col.value(i).to_string(),
                        ));
                    }
                }
            }
        }
        (rows.len() == N).then_some(rows)
    });
    for (sid, action, json) in assigned {
        let i: usize = sid["s_e2e_experiment_".len()..].parse().expect("index");
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(
            (&v["seed"], &v["shard"]),
            (&SEED.into(), &0.into()),
            "{json}"
        );
        // Every decision replays from what the lake holds: the generator state and the
        // posteriors it was drawn from.
        let a: sentientiq_experiments::Assignment =
            serde_json::from_value(v["assignment"].clone()).expect("an assignment");
        assert_eq!(a.arm, arms[i], "{sid}");
        assert_eq!(a.replay(&exp), Ok(a), "{sid}");
        let expected = if arms[i] == Arm::Holdout {
            "holdout"
        } else {
            "intervene"
        };
        assert_eq!(action, expected, "{sid}");
    }
}
