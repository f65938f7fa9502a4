//! Parquet throughput of the `events` table on one core: frames → Arrow → zstd Parquet.
//! Rows are realistic pointer traffic (seeded random walk with clicks and section changes),
//! 100 sessions × 20 batches × 512 samples = 1,024,000 rows per iteration.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sentientiq_lake::{EventsBuilder, RowMeta, SessionState, write_parquet};
use sentientiq_proto::{Batch, ClientFrame, Seq, kind};

fn corpus() -> Vec<(String, ClientFrame)> {
    let mut out = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for s in 0..100 {
        let sid = format!("s_bench_{s:012}");
        let (mut x, mut y) = (500i32, 400i32);
        for seq in 1..=20u64 {
            let mut b = Batch {
                seq: Seq(seq),
                t0: 1_795_352_700_000 + seq * 250,
                ..Batch::default()
            };
            let sec = b.intern(["hero", "pricing", "faq", "checkout"][(seq % 4) as usize]);
            let btn = b.intern("button#buy-now");
            b.push(kind::SECTION, 0, x, y, sec);
            for i in 1..512 {
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
    let frames = corpus();
    let rows: u64 = frames
        .iter()
        .map(|(_, f)| match f {
            ClientFrame::Batch(b) => b.len() as u64,
            _ => 1,
        })
        .sum();
    let file = encode(&frames);
    eprintln!(
        "events: {rows} rows -> {} bytes of Parquet = {:.2} bytes/row",
        file.len(),
        file.len() as f64 / rows as f64
    );
    let mut g = c.benchmark_group("lake");
    g.throughput(Throughput::Elements(rows));
    g.sample_size(10);
    g.bench_function("events-rows", |b| b.iter(|| encode(&frames)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
