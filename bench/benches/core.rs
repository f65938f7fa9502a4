//! Core processing per sample: session + physics + detection + policy on decoded frames
//! (a fresh session per iteration, set up outside the timing).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sentientiq_bench::corpus;
use sentientiq_core::{AccountCooldowns, Aggregates, Ctx, Session, TenantPolicy};
use sentientiq_proto::{Limits, decode_client};

fn core(c: &mut Criterion) {
    let tenant = TenantPolicy::default();
    for per_batch in [64usize, 1024] {
        let frames: Vec<_> = corpus::batches(11, 200, per_batch)
            .iter()
            .map(|b| decode_client(b, &Limits::DEFAULT).expect("corpus decodes"))
            .collect();
        let samples = (frames.len() * per_batch) as u64;
        let mut g = c.benchmark_group(format!("core/{per_batch}-sample-batches"));
        g.throughput(Throughput::Elements(samples));
        g.bench_function("samples", |b| {
            b.iter_batched(
                || {
                    (
                        Session::anonymous(),
                        AccountCooldowns::default(),
                        Aggregates::default(),
                        Vec::with_capacity(64),
                    )
                },
                |(mut s, mut accounts, mut aggregates, mut out)| {
                    let mut now = 1_763_780_000_000u64;
                    for f in &frames {
                        let mut ctx = Ctx {
                            now_ms: now,
                            tenant: &tenant,
                            accounts: &mut accounts,
                            aggregates: &mut aggregates,
                        };
                        black_box(s.handle_frame(&mut ctx, black_box(f), &mut out));
                        out.clear();
                        now += 250;
                    }
                    s
                },
                BatchSize::LargeInput,
            );
        });
        g.finish();
    }
}

criterion_group!(benches, core);
criterion_main!(benches);
