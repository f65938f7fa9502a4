//! A seeded synthetic corpus for the benches: browser-like batches (moves at ~120 Hz with
//! jitter, clicks, scrolls, section entries). Deterministic: the same seed, the same bytes.

use sentientiq_proto::{Batch, ClientFrame, Seq, client_to_vec, kind};

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `frames` batches of `per_batch` samples each, as encoded bytes.
pub fn batches(seed: u64, frames: usize, per_batch: usize) -> Vec<Vec<u8>> {
    let mut r = SplitMix(seed);
    let (mut x, mut y) = (400i32, 300i32);
    let (mut tx, mut ty) = (800i32, 500i32);
    let mut scroll = 0;
    (1..=frames as u64)
        .map(|seq| {
            let mut b = Batch {
                seq: Seq(seq),
                t0: 1_763_780_000_000 + seq * 250,
                ..Batch::default()
            };
            let sec = b.intern(["hero", "pricing", "features", "faq"][(seq / 20 % 4) as usize]);
            let lbl = b.intern("button#cta");
            b.push(kind::SECTION, 0, x, y, sec);
            for _ in 1..per_batch {
                let roll = r.below(100);
                if roll < 2 {
                    b.push(kind::CLICK, 2_000, x, y, lbl);
                } else if roll < 4 {
                    scroll += 120;
                    b.push(kind::SCROLL, 4_000, 0, scroll, 0);
                } else {
                    if (x - tx).abs() < 8 && (y - ty).abs() < 8 {
                        tx = r.below(1400) as i32;
                        ty = r.below(900) as i32;
                    }
                    x += (tx - x) / 6 + r.below(3) as i32 - 1;
                    y += (ty - y) / 6 + r.below(3) as i32 - 1;
                    b.push(kind::MOVE, 7_000 + r.below(3_000) as u32, x, y, 0);
                }
            }
            client_to_vec(&ClientFrame::Batch(b))
        })
        .collect()
}
