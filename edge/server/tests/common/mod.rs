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
