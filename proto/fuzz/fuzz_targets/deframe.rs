//! QUIC stream deframing must never panic, never hand out a frame over the limit, and give the
//! same frames however the bytes are cut into chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sentientiq_proto::stream::Deframer;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let max = 1024;
    let whole = {
        let mut d = Deframer::new(max);
        d.push(data);
        let mut v = Vec::new();
        while let Ok(Some(f)) = d.next_frame() {
            assert!(f.len() <= max);
            v.push(f.to_vec());
        }
        v
    };
    let mut d = Deframer::new(max);
    let mut pieces = Vec::new();
    for chunk in data.chunks(usize::from(cut).max(1)) {
        d.push(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => pieces.push(f.to_vec()),
                Ok(None) => break,
                Err(_) => {
                    assert_eq!(pieces, whole[..pieces.len().min(whole.len())].to_vec());
                    return;
                }
            }
        }
    }
    assert_eq!(pieces, whole);
});
