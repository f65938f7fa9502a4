//! `sentientiq-testbed`: starts a control plane and edges that follow it (each a real process
//! from this build), creates a tenant with a key, prints one JSON line describing them, and
//! keeps them running until its stdin closes (or it is killed). For tests written in other
//! languages (the browser SDK's and the dashboard's).
//!
//! ```text
//! sentientiq-testbed [--edges N] [--origin URL] [--no-plane]
//! {"plane":{"grpc":"http://127.0.0.1:P","admin_token":"…"},"tenant":"acme","key":"siq_pk_…",
//!  "edges":[{"region":"us-east-1","port":P,"http":"http://127.0.0.1:P","ws":"ws://127.0.0.1:P/v1/ws",
//!            "data_dir":"…","lake_dir":"…","log":"…"}]}
//! ```
//! With `--no-plane` the edges serve the example config's `demo` tenant (key
//! `siq_pk_demo_00000000000000000000`).
#![allow(clippy::print_stdout)] // its output is the JSON line

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sentientiq_testkit::wait::wait_for;
use sentientiq_testkit::{DEMO_KEY, Edge, Plane};

const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

fn main() -> Result<()> {
    let mut n = 1usize;
    let mut plane_on = true;
    let mut origin = "*".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--edges" => n = args.next().context("--edges N")?.parse()?,
            "--origin" => origin = args.next().context("--origin URL")?,
            "--no-plane" => plane_on = false,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if !(1..=REGIONS.len()).contains(&n) {
        bail!("--edges must be 1 to {}", REGIONS.len());
    }
    let (plane, key) = if plane_on {
        let p = Plane::start();
        p.ctl(&["tenant", "create", "acme"]);
        p.ctl(&["tenant", "origins", "acme", &origin]);
        p.ctl(&["tenant", "emit", "acme", "true"]);
        let k = p.json(&["key", "issue", "acme"]);
        let key = k["key"].as_str().context("a key")?.to_string();
        (Some(p), key)
    } else {
        (None, DEMO_KEY.to_string())
    };
    let edges: Vec<Edge> = REGIONS[..n]
        .iter()
        .map(|r| match &plane {
            Some(p) => Edge::follow(r, p),
            None => Edge::start(1, ""),
        })
        .collect();
    // Every edge serves the key before anyone is told about it.
    for e in &edges {
        wait_for("the key works on the edge", Duration::from_secs(10), || {
            e.try_hello(&key, "s_testbed_probe_000001").is_ok()
        });
    }
    let out = serde_json::json!({
        "plane": plane.as_ref().map(|p| serde_json::json!({
            "grpc": p.url(),
            "admin_token": sentientiq_testkit::plane::ADMIN_TOKEN,
            "log": p.dir.path().join("control.log"),
        })),
        "tenant": if plane.is_some() { "acme" } else { "demo" },
        "key": key,
        "edges": edges.iter().zip(REGIONS).map(|(e, r)| serde_json::json!({
            "region": if plane.is_some() { r } else { "us-east-1" },
            "port": e.port,
            "http": format!("http://127.0.0.1:{}", e.port),
            "ws": format!("ws://127.0.0.1:{}/v1/ws", e.port),
            "data_dir": e.data_dir(),
            "lake_dir": e.lake_dir(),
            "log": e.dir.path().join("edge.log"),
        })).collect::<Vec<_>>(),
    });
    println!("{out}");
    // Runs until the caller closes our stdin.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(edges);
    drop(plane);
    Ok(())
}
