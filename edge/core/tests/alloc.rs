//! The core allocates nothing per batch in steady state: measured with a counting global
//! allocator over a stream of decoded `b` frames (moves, clicks, scrolls, section entries).
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only counts and forwards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sentientiq_core::*;
use sentientiq_proto::{Batch, ClientFrame, Limits, Seq, client_to_vec, decode_client_into, kind};

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn frames() -> Vec<Vec<u8>> {
    (1..=400u64)
        .map(|seq| {
            let mut b = Batch {
                seq: Seq(seq),
                t0: 1_763_780_000_000 + seq * 250,
                ..Batch::default()
            };
            let sec = b.intern(if seq % 40 < 20 { "pricing" } else { "features" });
            // Digits and an `@` exercise the redaction scan (nothing here is an email or a card).
            let lbl = b.intern("a.link order 1234 5678 9012 3456 @support");
            b.push(kind::SECTION, 0, 10, 10, sec);
            for i in 0..30i32 {
                let x = (seq as i32 * 37 + i * 11) % 1200;
                let y = (seq as i32 * 13 + i * 7) % 800;
                b.push(kind::MOVE, 8_000, x, y, 0);
            }
            if seq % 8 == 0 {
                b.push(kind::CLICK, 1_000, 5, 5, lbl);
            }
            if seq % 5 == 0 {
                b.push(kind::SCROLL, 1_000, 0, (seq * 40) as i32, 0);
            }
            client_to_vec(&ClientFrame::Batch(b))
        })
        .collect()
}

#[test]
fn steady_state_batches_allocate_nothing() {
    // decode → redaction scan → session → physics → detection → policy.
    let tenant = TenantPolicy::default();
    let mut accounts = AccountCooldowns::default();
    let mut aggregates = Aggregates::default();
    let mut session = Session::anonymous();
    let mut slot = ClientFrame::Bye { seq: Seq(1) };
    let mut out = Vec::with_capacity(64);
    let frames = frames();
    let mut now = 1_763_780_000_000u64;
    let mut run = |range: std::ops::Range<usize>, out: &mut Vec<Output>| {
        for bytes in &frames[range] {
            decode_client_into(bytes, &Limits::DEFAULT, &mut slot).expect("decodes");
            // What the shell runs on every frame before the core.
            assert!(!sentientiq_core::privacy::redact(&mut slot));
            let mut ctx = Ctx {
                now_ms: now,
                tenant: &tenant,
                accounts: &mut accounts,
                aggregates: &mut aggregates,
            };
            session.handle_frame(&mut ctx, &slot, out);
            out.clear();
            now += 250;
        }
    };
    // Warm-up: buffers grow, sections are interned, this minute's window exists.
    run(0..40, &mut out);
    let before = COUNT.with(Cell::get);
    // 40 frames = 10 s of server time: stays within one aggregate minute.
    run(40..80, &mut out);
    let allocs = COUNT.with(Cell::get) - before;
    assert_eq!(allocs, 0, "allocations while processing 40 batches");
}
