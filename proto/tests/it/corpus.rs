//! One representative value of every frame type, shared by the golden and property tests.

use sentientiq_proto::*;

pub fn sid() -> Sid {
    Sid::parse("s_0123456789abcdef").expect("valid sid")
}

pub fn key() -> WriteKey {
    WriteKey::parse("siq_pk_demo_00000000000000000000").expect("valid key")
}

pub fn hello() -> Hello {
    Hello {
        key: key(),
        sid: sid(),
        aid: Some("a_device_42".into()),
        url: "https://shop.example/pricing".into(),
        referrer: Some("https://search.example/".into()),
        title: Some("Pricing".into()),
        vw: 1440,
        vh: 900,
        dpr: Some(2.0),
        tz: Some(-300),
        ptr: Some("mouse".into()),
        sdk: "js/1.0.0".into(),
        ack: Some(Seq(7)),
        dnt: Some(false),
        uid: None,
    }
}

pub fn batch() -> Batch {
    let mut b = Batch {
        seq: Seq(8),
        t0: 1_763_780_000_000,
        ..Batch::default()
    };
    b.push(kind::MOVE, 0, 100, 200, 0);
    b.push(kind::MOVE, 16_000, 104, 203, 0);
    b.push(kind::DOWN, 80_000, 104, 203, 0);
    let sec = b.intern("pricing");
    b.push(kind::SECTION, 1_000, 104, 203, sec);
    let lbl = b.intern("button#buy");
    b.push(kind::CLICK, 95_000, 104, 203, lbl);
    b.push(kind::SCROLL, 300_000, 0, -1200, 0);
    b
}

pub fn identify() -> Identify {
    Identify {
        seq: Seq(9),
        uid: "u_1001".into(),
        email: Some("dana@acme.example".into()),
        traits: vec![
            ("plan".into(), Value::Str("enterprise".into())),
            ("ltv".into(), Value::Int(120_000)),
            ("beta".into(), Value::Bool(true)),
            (
                "tags".into(),
                Value::Array(vec![Value::Str("vip".into()), Value::Float(1.5)]),
            ),
        ],
    }
}

pub fn track() -> Track {
    Track {
        seq: Seq(10),
        name: "purchase".into(),
        props: vec![
            ("amount".into(), Value::Float(249.99)),
            ("currency".into(), Value::Str("USD".into())),
        ],
    }
}

/// A hello with the identity hint (`uid`), an optional field added within v1.
pub fn hello_uid() -> Hello {
    Hello {
        uid: Some("u_dana".into()),
        ..hello()
    }
}

pub fn client_frames() -> Vec<(&'static str, ClientFrame)> {
    vec![
        ("hello", ClientFrame::Hello(hello())),
        ("b", ClientFrame::Batch(batch())),
        ("id", ClientFrame::Identify(identify())),
        ("tr", ClientFrame::Track(track())),
        (
            "out",
            ClientFrame::Outcome(Outcome {
                seq: Seq(11),
                iid: "iv_3".into(),
                r: OutcomeKind::Clicked,
            }),
        ),
        ("bye", ClientFrame::Bye { seq: Seq(12) }),
    ]
}

pub fn edge_frames() -> Vec<(&'static str, EdgeFrame)> {
    vec![
        (
            "welcome",
            EdgeFrame::Welcome(Welcome {
                edge: "edge-use1-a".into(),
                region: "us-east-1".into(),
                ack: Seq(7),
                flush_ms: 250,
                max_batch: 512,
                emit: true,
            }),
        ),
        ("ack", EdgeFrame::Ack { seq: Seq(8) }),
        (
            "det",
            EdgeFrame::Det(Det {
                id: "d_1".into(),
                e: "rage".into(),
                c: 0.9,
                sec: Some("pricing".into()),
                at: Seq(8),
            }),
        ),
        (
            "iv",
            EdgeFrame::Iv(Iv {
                id: "iv_3".into(),
                kind: "chat".into(),
                variant: "a".into(),
                e: "rage".into(),
                payload: Value::Map(vec![
                    ("text".into(), Value::Str("Can we help?".into())),
                    ("ttl_s".into(), Value::Int(30)),
                ]),
            }),
        ),
        (
            "err",
            EdgeFrame::Err(Err {
                code: ErrorCode::Overloaded,
                msg: "shard is over its session cap".into(),
                fatal: true,
                retry_ms: Some(5000),
            }),
        ),
    ]
}

pub fn http_batch() -> HttpBatch {
    HttpBatch {
        key: key(),
        sid: sid(),
        hello: Some(hello()),
        frames: vec![
            ClientFrame::Batch(batch()),
            ClientFrame::Bye { seq: Seq(9) },
        ],
    }
}
