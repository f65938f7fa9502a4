//! Frame decoding: bytes/s and samples/s on a seeded corpus of browser-like `b` frames.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sentientiq_bench::corpus;
use sentientiq_proto::{ClientFrame, Limits, Seq, decode_client_into};

fn decode(c: &mut Criterion) {
    for per_batch in [64usize, 1024] {
        let frames = corpus::batches(7, 200, per_batch);
        let bytes: usize = frames.iter().map(Vec::len).sum();
        let samples = (frames.len() * per_batch) as u64;
        let mut slot = ClientFrame::Bye { seq: Seq(1) };
        let mut g = c.benchmark_group(format!("decode/{per_batch}-sample-batches"));
        for (name, tp) in [
            ("bytes", Throughput::Bytes(bytes as u64)),
            ("samples", Throughput::Elements(samples)),
        ] {
            g.throughput(tp);
            g.bench_function(name, |b| {
                b.iter(|| {
                    for f in &frames {
                        decode_client_into(black_box(f), &Limits::DEFAULT, &mut slot)
                            .expect("corpus decodes");
                    }
                });
            });
        }
        g.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
