//! Frames tests send.

use sentientiq_proto::frame::kind;
use sentientiq_proto::{Batch, ClientFrame, Hello, Identify, Seq, Sid, Track, Value, WriteKey};

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
        uid: None,
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

/// Five clicks on a dead save button, then the SDK's dead report.
pub fn rage(seq: u64) -> ClientFrame {
    let mut b = five_clicks(seq);
    let l = b.intern("button#save");
    b.push(kind::DEAD, 400_000, 600, 400, l);
    ClientFrame::Batch(b)
}

/// `id` binding the session to `uid` with `email`.
pub fn identify_as(seq: u64, uid: &str, email: &str) -> ClientFrame {
    ClientFrame::Identify(Identify {
        seq: Seq(seq),
        uid: uid.into(),
        email: Some(email.into()),
        traits: vec![],
    })
}

/// A custom event with no properties.
pub fn track(seq: u64, name: &str) -> ClientFrame {
    ClientFrame::Track(Track {
        seq: Seq(seq),
        name: name.into(),
        props: vec![],
    })
}

/// A `purchase` worth `dollars`.
pub fn purchase(seq: u64, dollars: f64) -> ClientFrame {
    ClientFrame::Track(Track {
        seq: Seq(seq),
        name: "purchase".into(),
        props: vec![("amount".into(), Value::Float(dollars))],
    })
}
