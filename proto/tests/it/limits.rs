//! Every limit of PROTOCOL.md §7 at cap−1, cap and cap+1, plus the validation rules of §3–§4.

use sentientiq_proto::*;

use super::corpus;

const L: Limits = Limits::DEFAULT;

fn batch_of(n: usize) -> ClientFrame {
    let mut b = Batch {
        seq: Seq(1),
        t0: 1,
        ..Batch::default()
    };
    for i in 0..n {
        b.push(kind::MOVE, 8000, i as i32, -(i as i32), 0);
    }
    ClientFrame::Batch(b)
}

fn code(r: Result<ClientFrame, DecodeError>) -> Option<ErrorCode> {
    r.err().map(|e| e.code())
}

/// Encodes `frame` and pads it, via an unknown `pad` key, to exactly `target` bytes.
fn padded(frame: &ClientFrame, target: usize) -> Vec<u8> {
    let mut v = client_to_vec(frame);
    assert!(v[0] & 0xf0 == 0x80 && v[0] & 0x0f < 15, "fixmap with room");
    v[0] += 1;
    v.extend_from_slice(&[0xa3, b'p', b'a', b'd', 0xc6]);
    let pad = target - v.len() - 4;
    v.extend_from_slice(&(pad as u32).to_be_bytes());
    v.resize(target, 0);
    v
}

#[test]
fn samples_per_batch_cap() {
    for (n, want) in [
        (4095, None),
        (4096, None),
        (4097, Some(ErrorCode::TooBig)),
        (0, Some(ErrorCode::BadFrame)),
        (1, None),
    ] {
        let bytes = client_to_vec(&batch_of(n));
        assert_eq!(code(decode_client(&bytes, &L)), want, "n = {n}");
    }
}

#[test]
fn tenant_lowered_sample_cap() {
    let l = Limits {
        max_samples: 10,
        ..L
    };
    for (n, ok) in [(9, true), (10, true), (11, false)] {
        let bytes = client_to_vec(&batch_of(n));
        assert_eq!(decode_client(&bytes, &l).is_ok(), ok, "n = {n}");
    }
}

#[test]
fn frame_bytes_cap() {
    let f = batch_of(3);
    let cap = L.max_frame_bytes;
    for (size, ok) in [(cap - 1, true), (cap, true), (cap + 1, false)] {
        let bytes = padded(&f, size);
        assert_eq!(bytes.len(), size);
        let r = decode_client(&bytes, &L);
        assert_eq!(r.is_ok(), ok, "size = {size}: {r:?}");
        if !ok {
            assert_eq!(code(r), Some(ErrorCode::TooBig));
        }
    }
}

#[test]
fn string_length_cap() {
    for (len, ok) in [(2047, true), (2048, true), (2049, false)] {
        let mut id = corpus::identify();
        id.uid = "u".repeat(len);
        let r = decode_client(&client_to_vec(&ClientFrame::Identify(id)), &L);
        assert_eq!(r.is_ok(), ok, "len = {len}");
        if !ok {
            assert_eq!(code(r), Some(ErrorCode::TooBig));
        }
    }
}

#[test]
fn string_table_cap() {
    for (n, ok) in [(255, true), (256, true), (257, false)] {
        let mut b = Batch {
            seq: Seq(1),
            t0: 1,
            ..Batch::default()
        };
        for i in 0..n {
            b.s.push(&format!("sec{i}"));
        }
        b.push(kind::SECTION, 0, 0, 0, (n - 1) as u32);
        let r = decode_client(&client_to_vec(&ClientFrame::Batch(b)), &L);
        assert_eq!(r.is_ok(), ok, "n = {n}");
        if !ok {
            assert_eq!(code(r), Some(ErrorCode::TooBig));
        }
    }
}

#[test]
fn traits_entries_cap() {
    for (n, ok) in [(63, true), (64, true), (65, false)] {
        let mut id = corpus::identify();
        id.traits = (0..n).map(|i| (format!("k{i}"), Value::Int(i))).collect();
        let r = decode_client(&client_to_vec(&ClientFrame::Identify(id)), &L);
        assert_eq!(r.is_ok(), ok, "n = {n}");
        if !ok {
            assert_eq!(code(r), Some(ErrorCode::TooBig));
        }
    }
}

#[test]
fn traits_depth_cap() {
    let leaf = Value::Int(1);
    let depth2 = Value::Map(vec![("b".into(), leaf.clone())]);
    let depth3 = Value::Map(vec![("b".into(), depth2.clone())]);
    for (v, ok) in [(leaf, true), (depth2, true), (depth3, false)] {
        let mut tr = corpus::track();
        tr.props = vec![("a".into(), v)];
        let r = decode_client(&client_to_vec(&ClientFrame::Track(tr)), &L);
        assert_eq!(r.is_ok(), ok, "{r:?}");
        if !ok {
            assert_eq!(code(r), Some(ErrorCode::TooBig));
        }
    }
}

#[test]
fn http_frames_cap() {
    for (n, ok) in [(255, true), (256, true), (257, false)] {
        let mut body = corpus::http_batch();
        body.frames = (1..=n as u64)
            .map(|s| ClientFrame::Bye { seq: Seq(s) })
            .collect();
        let r = decode_http_batch(&http_batch_to_vec(&body), &L);
        assert_eq!(r.is_ok(), ok, "n = {n}");
        if let Err(e) = r {
            assert_eq!(e.code(), ErrorCode::TooBig);
        }
    }
}

#[test]
fn http_body_cap() {
    let cap = L.max_http_body_bytes;
    let body = corpus::http_batch();
    let base = http_batch_to_vec(&body);
    for (size, ok) in [(cap - 1, true), (cap, true), (cap + 1, false)] {
        // Same padding trick on the body map.
        let mut v = base.clone();
        v[0] += 1;
        v.extend_from_slice(&[0xa3, b'p', b'a', b'd', 0xc6]);
        let pad = size - v.len() - 4;
        v.extend_from_slice(&(pad as u32).to_be_bytes());
        v.resize(size, 0);
        assert_eq!(decode_http_batch(&v, &L).is_ok(), ok, "size = {size}");
    }
}

#[test]
fn http_embedded_frame_over_frame_cap_is_too_big() {
    let mut body = corpus::http_batch();
    body.hello = None;
    body.frames = vec![batch_of(4096)]; // ~4096 × 9 bytes of ints: under 128 KiB
    assert!(decode_http_batch(&http_batch_to_vec(&body), &L).is_ok());
    let l = Limits {
        max_frame_bytes: 1000,
        ..L
    };
    let e = decode_http_batch(&http_batch_to_vec(&body), &l).expect_err("frame over cap");
    assert_eq!(e.code(), ErrorCode::TooBig);
}

#[test]
fn sid_length_and_alphabet() {
    for (s, ok) in [
        ("a".repeat(15), false),
        ("a".repeat(16), true),
        ("a".repeat(64), true),
        ("a".repeat(65), false),
        ("abcdefghijklmno!".to_string(), false),
        ("ABC-def_0123456789".to_string(), true),
    ] {
        assert_eq!(Sid::parse(&s).is_ok(), ok, "{s}");
    }
}

#[test]
fn keys_secret_refused_and_publishable_required() {
    assert!(WriteKey::parse("siq_pk_demo_00000000000000000000").is_ok());
    let e = WriteKey::parse("siq_sk_live_abc").expect_err("secret");
    assert_eq!((e.code(), e.fatal()), (ErrorCode::BadKey, true));
    for bad in [
        "",
        "siq_pk_",
        "pk_live",
        "siq_pk_a b",
        &format!("siq_pk_{}", "a".repeat(200)),
    ] {
        assert_eq!(
            WriteKey::parse(bad).map_err(|e| e.code()).err(),
            Some(ErrorCode::BadKey)
        );
    }
    // Debug never prints the whole key.
    let shown = format!("{:?}", corpus::key());
    assert!(!shown.contains("00000000000000000000"), "{shown}");
}

#[test]
fn hello_with_secret_key_is_bad_key_and_fatal() {
    let mut bytes = client_to_vec(&ClientFrame::Hello(corpus::hello()));
    let pos = bytes
        .windows(7)
        .position(|w| w == b"siq_pk_")
        .expect("key in bytes");
    bytes[pos + 4] = b's';
    let e = decode_client(&bytes, &L).expect_err("secret key");
    assert_eq!((e.code(), e.fatal()), (ErrorCode::BadKey, true));
}

#[test]
fn hello_of_another_version_is_refused_with_version() {
    let mut bytes = client_to_vec(&ClientFrame::Hello(corpus::hello()));
    // "v" is the second key: a1 76 01
    let pos = bytes
        .windows(3)
        .position(|w| w == [0xa1, b'v', 0x01])
        .expect("v in bytes");
    bytes[pos + 2] = 0x02;
    let e = decode_client(&bytes, &L).expect_err("version");
    assert_eq!(e, DecodeError::Version(2));
    assert_eq!(e.code(), ErrorCode::Version);
}

#[test]
fn unknown_frame_type_is_bad_frame_not_fatal() {
    let bytes = [
        0x82, 0xa1, b't', 0xa2, b'z', b'z', 0xa3, b's', b'e', b'q', 0x01,
    ];
    let e = decode_client(&bytes, &L).expect_err("unknown");
    assert_eq!(e, DecodeError::UnknownType("zz".into()));
    assert_eq!((e.code(), e.fatal()), (ErrorCode::BadFrame, false));
}

#[test]
fn column_length_mismatch_and_bad_string_index_are_bad_frame() {
    let ClientFrame::Batch(mut b) = batch_of(3) else {
        unreachable!()
    };
    b.x.pop();
    let e = decode_client(&client_to_vec(&ClientFrame::Batch(b)), &L).expect_err("mismatch");
    assert_eq!(e.code(), ErrorCode::BadFrame);

    let mut b = corpus::batch();
    let n = b.a.len();
    b.a[n - 2] = 99; // the click's label index
    let e = decode_client(&client_to_vec(&ClientFrame::Batch(b)), &L).expect_err("index");
    assert_eq!(e.code(), ErrorCode::BadFrame);
}

#[test]
fn seq_zero_is_refused() {
    let e =
        decode_client(&client_to_vec(&ClientFrame::Bye { seq: Seq(0) }), &L).expect_err("seq 0");
    assert_eq!(e.code(), ErrorCode::BadFrame);
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut bytes = client_to_vec(&ClientFrame::Bye { seq: Seq(1) });
    bytes.push(0xc0);
    assert!(matches!(
        decode_client(&bytes, &L),
        Err(DecodeError::Malformed(_))
    ));
}
