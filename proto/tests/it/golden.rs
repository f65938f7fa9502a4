//! Golden fixtures: for every frame type, `fixtures/<name>.msgpack` holds the exact bytes and
//! `fixtures/<name>.json` a readable view of them. The test checks encode(value) == bytes,
//! decode(bytes) == value, and that the JSON view is what a generic MessagePack reader (rmp-serde,
//! independent of our codec) sees in the bytes. `UPDATE_GOLDEN=1` rewrites the files.

use std::path::PathBuf;

use sentientiq_proto::*;

use super::corpus;

fn dir() -> PathBuf {
    // The manifest dir of this run, not of the build: a test binary cached in a shared target
    // dir may have been built from another clone.
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("tests/fixtures")
}

fn check(name: &str, bytes: &[u8]) {
    let bin = dir().join(format!("{name}.msgpack"));
    let json = dir().join(format!("{name}.json"));
    let view: serde_json::Value = rmp_serde::from_slice(bytes).expect("generic reader");
    let view = serde_json::to_string_pretty(&view).expect("json") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&bin, bytes).expect("write fixture");
        std::fs::write(&json, &view).expect("write fixture");
        return;
    }
    let want = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert_eq!(
        bytes,
        want.as_slice(),
        "{name}: encoded bytes differ from the golden file"
    );
    let want_view = std::fs::read_to_string(&json).expect("json fixture");
    assert_eq!(view, want_view, "{name}: JSON view differs");
}

#[test]
fn client_frames_match_golden_fixtures_both_ways() {
    for (name, frame) in corpus::client_frames() {
        let bytes = client_to_vec(&frame);
        check(name, &bytes);
        let fixture = std::fs::read(dir().join(format!("{name}.msgpack"))).expect("fixture");
        assert_eq!(
            decode_client(&fixture, &Limits::DEFAULT).expect("decodes"),
            frame,
            "{name}"
        );
    }
}

#[test]
fn edge_frames_match_golden_fixtures_both_ways() {
    for (name, frame) in corpus::edge_frames() {
        let bytes = edge_to_vec(&frame);
        check(name, &bytes);
        let fixture = std::fs::read(dir().join(format!("{name}.msgpack"))).expect("fixture");
        assert_eq!(
            decode_edge(&fixture, &Limits::DEFAULT).expect("decodes"),
            frame,
            "{name}"
        );
    }
}

#[test]
fn http_batch_matches_golden_fixture_both_ways() {
    let body = corpus::http_batch();
    let bytes = http_batch_to_vec(&body);
    check("http_batch", &bytes);
    let fixture = std::fs::read(dir().join("http_batch.msgpack")).expect("fixture");
    assert_eq!(
        decode_http_batch(&fixture, &Limits::DEFAULT).expect("decodes"),
        body
    );
}

#[test]
fn a_hello_with_the_identity_hint_matches_its_fixture_and_older_readers_skip_it() {
    let frame = ClientFrame::Hello(corpus::hello_uid());
    let bytes = client_to_vec(&frame);
    check("hello_uid", &bytes);
    let fixture = std::fs::read(dir().join("hello_uid.msgpack")).expect("fixture");
    assert_eq!(
        decode_client(&fixture, &Limits::DEFAULT).expect("decodes"),
        frame
    );
    // Without the hint, the bytes are the plain hello's: the field is optional and absent.
    assert_eq!(
        client_to_vec(&ClientFrame::Hello(corpus::hello())),
        std::fs::read(dir().join("hello.msgpack")).expect("fixture")
    );
}

#[test]
fn every_frame_type_has_a_fixture() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("fixture dir")
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? != "msgpack" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    let mut want: Vec<String> = corpus::client_frames()
        .iter()
        .map(|(n, _)| n.to_string())
        .chain(corpus::edge_frames().iter().map(|(n, _)| n.to_string()))
        .chain(["http_batch".to_string(), "hello_uid".to_string()])
        .collect();
    want.sort();
    assert_eq!(names, want);
}

/// A QUIC session stream as the client sends it (PROTOCOL.md §2): every client frame of the
/// corpus, each after its length as a u32 big-endian. `fixtures/quic_stream.bin` holds the bytes.
#[test]
fn a_quic_stream_matches_its_golden_fixture_and_deframes_back() {
    use sentientiq_proto::stream::{Deframer, encode_prefixed};
    let frames = corpus::client_frames();
    let mut bytes = Vec::new();
    for (_, f) in &frames {
        encode_prefixed(&client_to_vec(f), &mut bytes);
    }
    let path = dir().join("quic_stream.bin");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &bytes).expect("write fixture");
    }
    let want = std::fs::read(&path).expect("fixture");
    assert_eq!(bytes, want, "stream bytes differ from the golden file");
    // The first prefix, by hand: hello's length, big-endian.
    let hello_len = client_to_vec(&frames[0].1).len() as u32;
    assert_eq!(want[..4], hello_len.to_be_bytes());
    let mut d = Deframer::new(Limits::DEFAULT.max_frame_bytes);
    d.push(&want);
    for (name, f) in &frames {
        let got = d.next_frame().expect("within the limit").expect("a frame");
        assert_eq!(
            &decode_client(got, &Limits::DEFAULT).expect("decodes"),
            f,
            "{name}"
        );
    }
    assert_eq!(d.next_frame(), Ok(None));
    assert_eq!(d.buffered(), 0);
}
