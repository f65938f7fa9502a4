//! Frame decoding must never panic, and whatever it accepts must survive encode → decode →
//! encode byte for byte (compared as bytes, so NaN floats, which are != themselves, count as
//! equal when their bits are).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sentientiq_proto::{
    ClientFrame, Limits, Seq, client_to_vec, decode_client, decode_client_into, decode_edge,
    decode_http_batch, edge_to_vec,
};

fuzz_target!(|data: &[u8]| {
    let l = Limits::DEFAULT;
    if let Ok(f) = decode_client(data, &l) {
        let again = client_to_vec(&f);
        let back = decode_client(&again, &l).expect("re-encoded frame decodes");
        assert_eq!(client_to_vec(&back), again);
        let mut slot = ClientFrame::Bye { seq: Seq(1) };
        decode_client_into(data, &l, &mut slot).expect("same bytes decode into a slot");
        assert_eq!(client_to_vec(&slot), again);
    }
    if let Ok(f) = decode_edge(data, &l) {
        let again = edge_to_vec(&f);
        let back = decode_edge(&again, &l).expect("re-encoded edge frame decodes");
        assert_eq!(edge_to_vec(&back), again);
    }
    let _ = decode_http_batch(data, &l);
});
