//! `sentientiq-lake-ls [--totals] DIR`: the Parquet files of a local lake with their row counts
//! and sizes (read from each file's footer), and totals per table (`--totals`: only those). A
//! table is a key's first component (`events`, `detections`, `actions`, `alerts`, and any table
//! a newer edge writes).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use parquet::file::reader::{FileReader, SerializedFileReader};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let totals_only = args.first().is_some_and(|a| a == "--totals");
    if totals_only {
        args.remove(0);
    }
    let [dir] = args.as_slice() else {
        bail!("usage: sentientiq-lake-ls [--totals] DIR");
    };
    let dir = PathBuf::from(dir);
    let mut files = Vec::new();
    if dir.exists() {
        walk(&dir, &mut files)?;
    }
    files.sort();
    let mut totals: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut out = std::io::stdout().lock();
    for f in &files {
        let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        let bytes = file.metadata()?.len();
        let r =
            SerializedFileReader::new(file).with_context(|| format!("reading {}", f.display()))?;
        let rows = r.metadata().file_metadata().num_rows() as u64;
        let key = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        let table = key.split('/').next().unwrap_or("").to_string();
        let t = totals.entry(table).or_default();
        *t = (t.0 + 1, t.1 + rows, t.2 + bytes);
        if !totals_only {
            writeln!(out, "{rows:>9} rows {bytes:>10} B  {key}")?;
        }
    }
    for (table, (n, rows, bytes)) in &totals {
        writeln!(out, "{table}: {n} files, {rows} rows, {bytes} bytes")?;
    }
    if files.is_empty() {
        writeln!(out, "no Parquet files under {}", dir.display())?;
    }
    Ok(())
}
