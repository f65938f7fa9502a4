//! `sentientiq-edge --config FILE`: runs an edge node until SIGTERM.
#![allow(clippy::print_stdout)] // a command-line tool: stdout is its output

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sentientiq_edge::config::Config;
use sentientiq_tenant::key_hash;

fn main() -> Result<()> {
    // First, before any thread: freed blocks of the shipper's bursts go back to the kernel.
    let released = sentientiq_edge::malloc::release_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut config = None;
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            "--check" => check = true,
            "--hash-key" => {
                let k = args.next().context("--hash-key needs a key")?;
                println!("{}", hex::encode(key_hash(&k)));
                return Ok(());
            }
            "-h" | "--help" => {
                eprintln!(
                    "usage: sentientiq-edge --config FILE [--check]\n       sentientiq-edge --hash-key KEY   (prints the key_sha256 to put in a config)"
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if !released {
        tracing::info!("the C library's malloc thresholds were not set (not glibc)");
    }
    let path = config.context("--config FILE is required")?;
    let cfg = Config::load(&path).with_context(|| format!("loading {}", path.display()))?;
    if check {
        println!("{}: ok ({} tenants)", path.display(), cfg.tenants.len());
        return Ok(());
    }
    sentientiq_edge::run::run(cfg)
}
