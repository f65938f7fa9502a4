//! Parquet throughput of the `events` table on one core: frames → Arrow → zstd Parquet.
//! Rows are realistic pointer traffic (seeded random walk with clicks and section changes).
//! Two shapes of 1,024,000 rows per iteration:
//! - `events-rows`: 100 sessions × 20 batches × 512 samples (per-row costs);
//! - `events-rows-edge-shape`: 8 000 sessions × 8 batches × 16 samples, near what the edge
//!   ships under the `ws-10k` bench case (10 000 sessions, 11.6 samples per frame), where
//!   per-frame and per-session costs weigh as much as per-row ones.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sentientiq_lake::{EventsBuilder, RowMeta, SessionState, write_parquet};
use sentientiq_proto::{Batch, ClientFrame, Seq, kind};

fn corpus(sessions: usize, batches: u64, samples: usize) -> Vec<(String, ClientFrame)> {
    let mut out = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for s in 0..sessions {
        let sid = format!("s_bench_{s:012}");
        let (mut x, mut y) = (500i32, 400i32);
        for seq in 1..=batches {
            let mut b = Batch {
                seq: Seq(seq),
                t0: 1_795_352_700_000 + seq * 250,
                ..Batch::default()
            };
            let sec = b.intern(["hero", "pricing", "faq", "checkout"][(seq % 4) as usize]);
            let btn = b.intern("button#buy-now");
            b.push(kind::SECTION, 0, x, y, sec);
            for i in 1..samples {
                let r = next();
                x += (r % 7) as i32 - 3;
                y += ((r >> 8) % 7) as i32 - 3;
                if i % 97 == 0 {
                    b.push(kind::CLICK, 8_000, x, y, btn);
                } else {
                    b.push(kind::MOVE, 8_000 + (r >> 16) as u32 % 500, x, y, 0);
                }
            }
            out.push((sid.clone(), ClientFrame::Batch(b)));
        }
    }
    out
}

fn encode(frames: &[(String, ClientFrame)]) -> Vec<u8> {
    let mut eb = EventsBuilder::new();
    let mut st = SessionState::default();
    for (i, (sid, f)) in frames.iter().enumerate() {
        let m = RowMeta {
            tenant: "demo",
            region: "us-east-1",
            edge: "edge-1",
            shard: 0,
            session: sid,
            user: Some("u_dana"),
            account: Some("acme.example"),
            seq: f.seq().map_or(0, |s| s.0),
            recv_ms: 1_795_352_700_000 + i as u64,
        };
        eb.push_frame(&m, f, &mut st);
    }
    write_parquet(&eb.finish().expect("batch")).expect("parquet")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("lake");
    g.sample_size(10);
    for (name, frames) in [
        ("events-rows", corpus(100, 20, 512)),
        ("events-rows-edge-shape", corpus(8_000, 8, 16)),
    ] {
        let rows: u64 = frames
            .iter()
            .map(|(_, f)| match f {
                ClientFrame::Batch(b) => b.len() as u64,
                _ => 1,
            })
            .sum();
        let file = encode(&frames);
        eprintln!(
            "{name}: {} frames, {rows} rows -> {} bytes of Parquet = {:.2} bytes/row",
            frames.len(),
            file.len(),
            file.len() as f64 / rows as f64
        );
        g.throughput(Throughput::Elements(rows));
        g.bench_function(name, |b| b.iter(|| encode(&frames)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
