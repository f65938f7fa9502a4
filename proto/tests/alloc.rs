//! Allocation bounds of the decoder, measured with a counting global allocator:
//! - whatever a length prefix claims, decoding never allocates more than the frame limit;
//! - decoding a stream of batches into a reused frame allocates nothing in steady state.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only counts and forwards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use sentientiq_proto::*;

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn on_alloc(size: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + size;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    });
}

fn on_free(size: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(size)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_free(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        on_free(layout.size());
        on_alloc(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Runs `f` and returns (peak bytes above the starting live size, allocation count).
fn measure(f: impl FnOnce()) -> (usize, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let c0 = COUNT.with(Cell::get);
    f();
    (PEAK.with(Cell::get) - base, COUNT.with(Cell::get) - c0)
}

const L: Limits = Limits::DEFAULT;

#[test]
fn huge_length_claims_allocate_nothing_big() {
    let claims: [&[u8]; 5] = [
        // {t:"b", k: array32 of 2^32-1}
        &[
            0x82, 0xa1, b't', 0xa1, b'b', 0xa1, b'k', 0xdd, 0xff, 0xff, 0xff, 0xff, 0, 0,
        ],
        // {t:"b", s: array32 of 2^32-1}
        &[
            0x82, 0xa1, b't', 0xa1, b'b', 0xa1, b's', 0xdd, 0xff, 0xff, 0xff, 0xff, 0xa0,
        ],
        // {t:"id", traits: map32 of 2^32-1}
        &[
            0x82, 0xa1, b't', 0xa2, b'i', b'd', 0xa6, b't', b'r', b'a', b'i', b't', b's', 0xdf,
            0xff, 0xff, 0xff, 0xff,
        ],
        // {t:"id", uid: str32 of 2^32-1}
        &[
            0x82, 0xa1, b't', 0xa2, b'i', b'd', 0xa3, b'u', b'i', b'd', 0xdb, 0xff, 0xff, 0xff,
            0xff,
        ],
        // map32 frame of 2^32-1 entries
        &[0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, b't'],
    ];
    for bytes in claims {
        let (peak, _) = measure(|| {
            assert!(decode_client(bytes, &L).is_err());
        });
        assert!(peak < 4096, "peak {peak} bytes for {bytes:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_input_never_allocates_past_the_frame_limit(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let (peak, _) = measure(|| { let _ = decode_client(&bytes, &L); });
        prop_assert!(peak <= L.max_frame_bytes, "peak {} bytes", peak);
    }
}

#[test]
fn largest_legal_batch_stays_under_the_frame_limit() {
    let mut b = Batch {
        seq: Seq(1),
        t0: 1,
        ..Batch::default()
    };
    for i in 0..4096 {
        b.push(kind::MOVE, 8000, i, i, 0);
    }
    let bytes = client_to_vec(&ClientFrame::Batch(b));
    let (peak, _) = measure(|| {
        decode_client(&bytes, &L).expect("decodes");
    });
    assert!(peak <= L.max_frame_bytes, "peak {peak}");
}

#[test]
fn steady_state_batch_decoding_allocates_nothing() {
    let frames: Vec<Vec<u8>> = (1..=50u64)
        .map(|seq| {
            let mut b = Batch {
                seq: Seq(seq),
                t0: 1_000 + seq,
                ..Batch::default()
            };
            let sec = b.intern("pricing");
            for i in 0..(64 + (seq as i32 % 7)) {
                b.push(kind::MOVE, 8000, i, -i, 0);
            }
            b.push(kind::SECTION, 0, 1, 1, sec);
            client_to_vec(&ClientFrame::Batch(b))
        })
        .collect();
    let mut slot = ClientFrame::Bye { seq: Seq(1) };
    // Warm-up: buffers grow to the stream's usual size.
    for f in &frames[..10] {
        decode_client_into(f, &L, &mut slot).expect("decodes");
    }
    let (_, count) = measure(|| {
        for f in &frames[10..] {
            decode_client_into(f, &L, &mut slot).expect("decodes");
        }
    });
    assert_eq!(count, 0, "allocations in steady state");
}
