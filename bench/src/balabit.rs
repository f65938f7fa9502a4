//! The Balabit Mouse Dynamics Challenge CSV format:
//! `record timestamp,client timestamp,button,state,x,y` (seconds since session start; button
//! `NoButton|Left|Right|Scroll`; state `Move|Pressed|Released|Drag|Up|Down`; screen px).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One row, in the core's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ev {
    Move,
    Down {
        left: bool,
    },
    Up {
        left: bool,
    },
    /// A wheel notch: +1 down, −1 up.
    Wheel(i8),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Client time, µs since the session's start.
    pub t_us: i64,
    pub ev: Ev,
    pub x: i32,
    pub y: i32,
}

/// A named trace.
#[derive(Debug, Clone)]
pub struct Trace {
    pub name: String,
    pub rows: Vec<Row>,
}

/// Parses one session file. Malformed rows are counted and skipped, never guessed at.
pub fn parse(name: &str, text: &str) -> Result<(Trace, usize)> {
    let mut rows = Vec::new();
    let mut bad = 0;
    for (i, line) in text.lines().enumerate() {
        if i == 0 && line.starts_with("record") {
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            bad += 1;
            continue;
        }
        let (Ok(t), Ok(x), Ok(y)) = (
            f[1].parse::<f64>(),
            f[4].trim().parse::<i64>(),
            f[5].trim().parse::<i64>(),
        ) else {
            bad += 1;
            continue;
        };
        let left = f[2] == "Left";
        let ev = match (f[2], f[3]) {
            (_, "Move") | (_, "Drag") => Ev::Move,
            ("Scroll", "Down") => Ev::Wheel(1),
            ("Scroll", "Up") => Ev::Wheel(-1),
            (_, "Pressed") => Ev::Down { left },
            (_, "Released") => Ev::Up { left },
            _ => {
                bad += 1;
                continue;
            }
        };
        if !t.is_finite() || t < 0.0 {
            bad += 1;
            continue;
        }
        rows.push(Row {
            t_us: (t * 1e6).round() as i64,
            ev,
            x: x.clamp(-100_000, 100_000) as i32,
            y: y.clamp(-100_000, 100_000) as i32,
        });
    }
    if rows.is_empty() {
        bail!("{name}: no rows");
    }
    Ok((
        Trace {
            name: name.to_string(),
            rows,
        },
        bad,
    ))
}

/// Reads traces from files, directories, or `.tar.zst` archives of the public data set.
pub fn load(paths: &[PathBuf]) -> Result<(Vec<Trace>, usize)> {
    let mut traces = Vec::new();
    let mut bad = 0;
    for p in paths {
        load_one(p, &mut traces, &mut bad)?;
    }
    traces.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((traces, bad))
}

fn load_one(p: &Path, out: &mut Vec<Trace>, bad: &mut usize) -> Result<()> {
    let name = p.to_string_lossy();
    if name.ends_with(".tar.zst") {
        let f = std::fs::File::open(p).with_context(|| format!("opening {name}"))?;
        let dec = zstd::Decoder::new(f)?;
        let mut ar = tar::Archive::new(dec);
        for entry in ar.entries()? {
            let mut e = entry?;
            if !e.header().entry_type().is_file() {
                continue;
            }
            let path = e.path()?.to_string_lossy().into_owned();
            if !path.contains("session_") {
                continue;
            }
            let mut text = String::new();
            e.read_to_string(&mut text)
                .with_context(|| format!("reading {path}"))?;
            let (t, b) = parse(&path, &text)?;
            *bad += b;
            out.push(t);
        }
    } else if p.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            load_one(&e.path(), out, bad)?;
        }
    } else {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {name}"))?;
        let (t, b) = parse(&name, &text)?;
        *bad += b;
        out.push(t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_counts_bad_ones() {
        let text = "record timestamp,client timestamp,button,state,x,y\n\
                    0.0,0.0,NoButton,Move,10,20\n\
                    0.1,0.125,Left,Pressed,10,20\n\
                    0.2,0.2,Left,Released,11,20\n\
                    0.3,0.3,Scroll,Down,11,20\n\
                    garbage\n\
                    0.4,0.4,Left,Drag,30,20\n";
        let (t, bad) = parse("s", text).expect("parses");
        assert_eq!(bad, 1);
        assert_eq!(t.rows.len(), 5);
        assert_eq!(t.rows[1].ev, Ev::Down { left: true });
        assert_eq!(t.rows[1].t_us, 125_000);
        assert_eq!(t.rows[3].ev, Ev::Wheel(1));
        assert_eq!(t.rows[4].ev, Ev::Move);
    }
}
