//! Property tests: round trips, key order, unknown keys, and hostile input.

use proptest::prelude::*;
use sentientiq_proto::*;

use super::corpus;

const L: Limits = Limits::DEFAULT;

fn arb_batch() -> impl Strategy<Value = Batch> {
    (
        1u64..1_000_000,
        0u64..4_000_000_000_000,
        prop::collection::vec((0u8..20, any::<u32>(), any::<i32>(), any::<i32>()), 1..200),
        prop::collection::vec("[a-z#.]{0,12}", 0..6),
        any::<bool>(),
    )
        .prop_map(|(seq, t0, samples, strings, with_a)| {
            let mut b = Batch {
                seq: Seq(seq),
                t0,
                ..Batch::default()
            };
            for s in &strings {
                b.s.push(s);
            }
            let ns = strings.len().max(1) as u32;
            for (i, (k, dt, x, y)) in samples.into_iter().enumerate() {
                // Kinds that carry a string must index the table; with no `a`, index 0.
                let a = if with_a && !strings.is_empty() {
                    i as u32 % ns
                } else {
                    0
                };
                let k = if strings.is_empty() && kind::carries_string(k) {
                    0
                } else {
                    k
                };
                b.push(k, dt, x, y, a);
            }
            b
        })
}

fn arb_value(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("NaN != NaN", |f| !f.is_nan())
            .prop_map(Value::Float),
        "[ -~]{0,20}".prop_map(Value::Str),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        leaf,
        prop::collection::vec(arb_value(depth - 1), 0..4).prop_map(Value::Array),
        prop::collection::vec(("[a-z]{1,6}", arb_value(depth - 1)), 0..4).prop_map(Value::Map),
    ]
    .boxed()
}

fn arb_map() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec(("[a-z_]{1,10}", arb_value(1)), 0..8)
}

fn arb_client() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        arb_batch().prop_map(ClientFrame::Batch),
        (
            1u64..u64::MAX,
            "[ -~]{1,40}",
            prop::option::of("[a-z]{1,8}@[a-z]{1,8}\\.com"),
            arb_map()
        )
            .prop_map(|(s, uid, email, traits)| ClientFrame::Identify(Identify {
                seq: Seq(s),
                uid,
                email,
                traits,
            })),
        (1u64..u64::MAX, "[ -~]{0,40}", arb_map()).prop_map(|(s, name, props)| {
            ClientFrame::Track(Track {
                seq: Seq(s),
                name,
                props,
            })
        }),
        (1u64..u64::MAX).prop_map(|s| ClientFrame::Bye { seq: Seq(s) }),
        (
            "[A-Za-z0-9_-]{16,64}",
            "[ -~]{0,60}",
            0u32..10_000,
            prop::option::of(any::<i32>()),
            prop::option::of(any::<u64>()),
            prop::option::of(any::<bool>())
        )
            .prop_map(|(sid, url, vw, tz, ack, dnt)| {
                let mut h = corpus::hello();
                h.sid = Sid::parse(&sid).expect("strategy makes valid sids");
                h.url = url;
                h.vw = vw;
                h.tz = tz;
                h.ack = ack.map(Seq);
                h.dnt = dnt;
                ClientFrame::Hello(h)
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn client_frames_round_trip(f in arb_client()) {
        let bytes = client_to_vec(&f);
        prop_assert_eq!(decode_client(&bytes, &L).expect("decodes"), f.clone());
        // And into a reused slot, the zero-allocation path.
        let mut slot = ClientFrame::Batch(corpus::batch());
        decode_client_into(&bytes, &L, &mut slot).expect("decodes");
        prop_assert_eq!(&slot, &f);
        // Fingerprints are a function of content.
        prop_assert_eq!(slot.fingerprint(), f.fingerprint());
    }

    #[test]
    fn every_strict_prefix_is_an_error(f in arb_client()) {
        let bytes = client_to_vec(&f);
        for cut in 0..bytes.len() {
            prop_assert!(decode_client(&bytes[..cut], &L).is_err(), "prefix {cut} decoded");
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_client(&bytes, &L);
        let _ = decode_edge(&bytes, &L);
        let _ = decode_http_batch(&bytes, &L);
    }

    #[test]
    fn mutated_frames_never_panic(f in arb_client(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = client_to_vec(&f);
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let _ = decode_client(&bytes, &L);
    }

    #[test]
    fn key_order_does_not_matter(f in arb_batch(), rot in 0usize..8) {
        // Re-encode the batch's map with its entries rotated, so `t` is not first.
        let bytes = client_to_vec(&ClientFrame::Batch(f.clone()));
        let entries = split_map(&bytes);
        let n = entries.len();
        let mut out = vec![0x80 | n as u8];
        for i in 0..n {
            out.extend_from_slice(entries[(i + rot) % n]);
        }
        prop_assert_eq!(decode_client(&out, &L).expect("decodes"), ClientFrame::Batch(f));
    }

    #[test]
    fn fingerprint_tells_different_batches_apart(a in arb_batch(), b in arb_batch()) {
        let (fa, fb) = (ClientFrame::Batch(a.clone()), ClientFrame::Batch(b.clone()));
        if a != b {
            prop_assert_ne!(fa.fingerprint(), fb.fingerprint());
        }
    }
}

/// Splits an encoded fixmap into its key+value byte ranges, using the decoder's own skipping
/// via single-entry maps (valid because each entry is independently decodable as msgpack).
fn split_map(bytes: &[u8]) -> Vec<&[u8]> {
    let n = usize::from(bytes[0] & 0x0f);
    let mut out = Vec::with_capacity(n);
    let mut pos = 1;
    for _ in 0..n {
        let start = pos;
        pos += value_len(&bytes[pos..]); // key
        pos += value_len(&bytes[pos..]); // value
        out.push(&bytes[start..pos]);
    }
    out
}

fn value_len(b: &[u8]) -> usize {
    let mut rd = b;
    let _: rmp_serde::decode::Error =
        match rmp_serde::from_read::<_, serde::de::IgnoredAny>(&mut rd) {
            Ok(_) => return b.len() - rd.len(),
            Err(e) => e,
        };
    panic!("not msgpack")
}

#[test]
fn unknown_keys_and_nil_optionals_are_ignored() {
    // {t:"bye", seq:3, future:{a:[1,2,{b:nil}]}}
    let bytes = [
        0x83, 0xa1, b't', 0xa3, b'b', b'y', b'e', 0xa3, b's', b'e', b'q', 0x03, 0xa6, b'f', b'u',
        b't', b'u', b'r', b'e', 0x81, 0xa1, b'a', 0x93, 0x01, 0x02, 0x81, 0xa1, b'b', 0xc0,
    ];
    assert_eq!(
        decode_client(&bytes, &L).expect("decodes"),
        ClientFrame::Bye { seq: Seq(3) }
    );
}

#[test]
fn k_column_may_be_bin() {
    // A JS encoder writes Uint8Array as bin: {t:"b",seq:1,t0:5,k:bin[0,3],dt:[0,1],x:[1,2],y:[3,4],a:[0,0],s:["x"]}
    let mut bytes = vec![
        0x89, 0xa1, b't', 0xa1, b'b', 0xa3, b's', b'e', b'q', 0x01, 0xa2, b't', b'0', 0x05,
    ];
    bytes.extend_from_slice(&[0xa1, b'k', 0xc4, 0x02, 0x00, 0x03]);
    bytes.extend_from_slice(&[0xa2, b'd', b't', 0x92, 0x00, 0x01]);
    bytes.extend_from_slice(&[0xa1, b'x', 0x92, 0x01, 0x02]);
    bytes.extend_from_slice(&[0xa1, b'y', 0x92, 0x03, 0x04]);
    bytes.extend_from_slice(&[0xa1, b'a', 0x92, 0x00, 0x00]);
    bytes.extend_from_slice(&[0xa1, b's', 0x91, 0xa1, b'x']);
    let ClientFrame::Batch(b) = decode_client(&bytes, &L).expect("decodes") else {
        panic!("not a batch")
    };
    assert_eq!(b.k, vec![0, 3]);
    assert_eq!(b.label(1), Some("x"));
}

proptest! {
    /// Length-prefixed frames come back whole and in order however the stream is cut.
    #[test]
    fn a_quic_stream_deframes_the_same_for_any_chunking(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
        cuts in prop::collection::vec(1usize..97, 1..40),
    ) {
        use sentientiq_proto::stream::{Deframer, encode_prefixed};
        let mut bytes = Vec::new();
        for f in &frames {
            encode_prefixed(f, &mut bytes);
        }
        let mut d = Deframer::new(300);
        let mut got = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < bytes.len() {
            let n = cuts[i % cuts.len()].min(bytes.len() - at);
            d.push(&bytes[at..at + n]);
            at += n;
            i += 1;
            while let Some(f) = d.next_frame().expect("within the limit") {
                got.push(f.to_vec());
            }
            // Never more than one partial frame (and its prefix) held.
            prop_assert!(d.buffered() < 4 + 300);
        }
        prop_assert_eq!(got, frames);
    }

    /// Arbitrary bytes never panic the deframer, and nothing over the limit is handed out.
    #[test]
    fn arbitrary_stream_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000), max in 0usize..600) {
        let mut d = sentientiq_proto::stream::Deframer::new(max);
        d.push(&bytes);
        while let Ok(Some(f)) = d.next_frame() {
            prop_assert!(f.len() <= max);
        }
    }
}
