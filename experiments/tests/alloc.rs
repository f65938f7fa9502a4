//! The hot path allocates nothing, measured with a counting global allocator: an assignment
//! (holdout, burn-in, floor and Thompson decisions), counting a session and its outcomes, and
//! merging the plane's counts with the edge's.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only counts and forwards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sentientiq_experiments::*;

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

fn allocations(f: impl FnOnce()) -> usize {
    let before = COUNT.with(Cell::get);
    f();
    COUNT.with(Cell::get) - before
}

#[test]
fn assignment_and_counting_allocate_nothing() {
    let e = ExperimentConfig::new("r", &["a", "b", "c"])
        .validate()
        .expect("valid");
    let merged = ExperimentCounts::default();
    let mut local = ExperimentCounts::default();
    let mut rng = Rng::seed_from_u64(1);
    let mut env = Rng::seed_from_u64(2);
    let mut reasons = [0u32; 5];
    let n = allocations(|| {
        for t in 0..20_000u64 {
            let view = merged.merged(&local);
            let Ok(a) = assign(&e, &view, &mut rng) else {
                continue;
            };
            reasons[a.reason as usize] += 1;
            let mut x = Exposure::start(a.arm, t, &mut local);
            x.record(&e, t, Outcome::Shown, &mut local);
            if env.uniform() < 0.07 {
                x.record(
                    &e,
                    t + 1,
                    Outcome::Purchase { amount_cents: 1999 },
                    &mut local,
                );
            }
        }
    });
    assert_eq!(n, 0, "allocations on the hot path");
    // Every kind of decision was exercised (Single needs one active arm: not here).
    assert!(reasons[Reason::Holdout as usize] > 0);
    assert!(reasons[Reason::BurnIn as usize] > 0);
    assert!(reasons[Reason::Floor as usize] > 0);
    assert!(reasons[Reason::Thompson as usize] > 0);
}
