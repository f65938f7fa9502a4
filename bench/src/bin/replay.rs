//! Calibration replay: feeds recorded human mouse traces through the core and prints, per
//! detector, fires per active hour and per 1,000 clicks, and physics distributions.
//!
//! ```text
//! cargo run --release -p sentientiq-bench --bin replay -- --format balabit [--json] [--dump]
//!     [--dead-every-click] FILES...
//! ```
//! FILES may be session CSVs, directories of them, or the `.tar.zst` of the public data set.
//! `--dead-every-click` is a what-if: the traces as if the SDK had reported every click dead.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use sentientiq_bench::{balabit, replay};
use sentientiq_core::TenantPolicy;

fn main() -> Result<()> {
    let mut json = false;
    let mut dump = false;
    let mut dead_every_click = false;
    let mut format = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--dump" => dump = true,
            "--dead-every-click" => dead_every_click = true,
            "--format" => format = args.next(),
            "-h" | "--help" => {
                eprintln!(
                    "usage: replay --format balabit [--json] [--dump] [--dead-every-click] FILES..."
                );
                eprintln!(
                    "  --dump  print every detection (trace, client ms, emotion, confidence, evidence)"
                );
                eprintln!(
                    "  --dead-every-click  what if the SDK had reported every click dead (1 s after \
                     it): the worst case of a misfiring dead-click check"
                );
                return Ok(());
            }
            s if s.starts_with("--") => bail!("unknown option {s}"),
            _ => files.push(PathBuf::from(a)),
        }
    }
    match format.as_deref() {
        Some("balabit") => {}
        Some(f) => bail!("unknown format {f:?} (supported: balabit)"),
        None => bail!("--format is required (supported: balabit)"),
    }
    if files.is_empty() {
        bail!("no input files");
    }
    let (traces, bad) = balabit::load(&files)?;
    if traces.is_empty() {
        bail!("no sessions found in the inputs");
    }
    let mut report = replay::run(&traces, &TenantPolicy::default(), dump, dead_every_click);
    let mut stdout = std::io::stdout().lock();
    if let Some(d) = report.dump.take() {
        for (trace, det) in d {
            writeln!(
                stdout,
                "{trace}\t{}\t{}\t{:.3}\t{:?}",
                det.client_ms,
                det.emotion.as_str(),
                det.confidence,
                det.evidence
            )?;
        }
    }
    if json {
        writeln!(stdout, "{}", report.to_json())?;
    } else {
        write!(stdout, "{}", report.to_text())?;
        if bad > 0 {
            writeln!(stdout, "\n{bad} malformed rows skipped")?;
        }
    }
    Ok(())
}
