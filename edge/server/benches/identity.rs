//! Identity lookup latency: `IdentityStore::user` (a RocksDB point read of a profile) over a
//! store of N users, random keys, every lookup timed; prints p50/p99/p99.9/max.
//!
//! `cargo bench -p sentientiq-edge --bench identity` (N = 200,000, 200,000 lookups).
//! Under `cargo test` it runs a small smoke version (N = 2,000).
#![allow(clippy::print_stdout)] // a benchmark: stdout is its report

use std::time::Instant;

use sentientiq_edge::storage::identity::IdentityStore;
use sentientiq_proto::{Identify, Seq, Value};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (users, lookups) = if full {
        (200_000u64, 200_000u64)
    } else {
        (2_000, 2_000)
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = IdentityStore::open(dir.path()).expect("open");
    let t0 = Instant::now();
    for i in 0..users {
        store
            .bind_now(
                "demo",
                &format!("s_{i:016}"),
                &Identify {
                    seq: Seq(1),
                    uid: format!("u_{i}"),
                    email: Some(format!("user{i}@corp{}.example", i % 500)),
                    traits: vec![("ltv".into(), Value::Int((i % 100_000) as i64))],
                },
            )
            .expect("bind");
    }
    let load_s = t0.elapsed().as_secs_f64();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut lat = Vec::with_capacity(lookups as usize);
    for _ in 0..lookups {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let uid = format!("u_{}", x % users);
        let t = Instant::now();
        let p = store.user("demo", &uid).expect("read");
        lat.push(t.elapsed().as_nanos() as u64);
        assert!(p.is_some());
    }
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "identity lookup over {users} users ({lookups} random lookups; load {:.0} writes/s): p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
        users as f64 / load_s,
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0)
    );
}
