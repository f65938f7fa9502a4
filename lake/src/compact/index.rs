//! The compactor's index of one window of `events` files: which copy of a (session, seq) is
//! kept. Built in two passes over the files' key columns, never over whole rows:
//!
//! 1. `region`, `edge`, `session`, `seq`: each session's sources (a source is one (region, edge))
//!    with the seq range each source stored. Within one edge a (session, seq) is stored once
//!    (the core's dedup and the shipper's floors), so a copy can only exist at another source,
//!    inside the seq range both stored: after a failover from A to B that is the few frames B was
//!    sent again (A has 1..=k, B has j..=n with j ≤ k: the overlap is j..=k).
//! 2. `session`, `seq`, `time` of the rows inside those overlaps only: for each such
//!    (session, seq) the copy with the least (time, region, edge, file key).
//!
//! So the index holds one entry per session of the window and one per (session, seq) in an
//! overlap, not one per frame: a tenant-hour with no failover indexes its sessions only.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};

use super::{
    CompactError, CompactOptions, IndexReport, LocalFile, StrColumn, open_columns, str_column,
};

/// One `events` file of the window, with what pass 1 learned of it.
#[derive(Debug)]
pub(crate) struct WindowFile {
    pub key: String,
    pub path: PathBuf,
    /// Its (region, edge); `None` for a file without rows.
    pub source: Option<u32>,
    /// Its rank among the window's files by (region, edge, key): ties between copies with the
    /// same `time` go to the lower rank.
    pub rank: u32,
}

/// The best copy so far of one (session, seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Best {
    time: i64,
    rank: u32,
    file: u32,
}

/// Seqs one source stored of one session.
#[derive(Debug, Clone, Copy)]
struct Range {
    source: u32,
    min: u64,
    max: u64,
}

/// A session's sources: one (inline, nothing allocated), unless it failed over.
#[derive(Debug)]
struct Sources {
    first: Range,
    more: Vec<Range>,
}

impl Sources {
    fn new(source: u32, seq: u64) -> Sources {
        Sources {
            first: Range {
                source,
                min: seq,
                max: seq,
            },
            more: Vec::new(),
        }
    }

    fn add(&mut self, source: u32, seq: u64) {
        let r = if self.first.source == source {
            &mut self.first
        } else if let Some(r) = self.more.iter_mut().find(|r| r.source == source) {
            r
        } else {
            self.more.push(Range {
                source,
                min: seq,
                max: seq,
            });
            return;
        };
        r.min = r.min.min(seq);
        r.max = r.max.max(seq);
    }

    /// The seq ranges two or more sources share (sorted, merged); empty for one source.
    fn overlaps(&self) -> Vec<(u64, u64)> {
        if self.more.is_empty() {
            return Vec::new();
        }
        let all: Vec<Range> = std::iter::once(self.first)
            .chain(self.more.iter().copied())
            .collect();
        let mut out = Vec::new();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let (lo, hi) = (a.min.max(b.min), a.max.min(b.max));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        out.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(out.len());
        for (lo, hi) in out {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        merged
    }
}

/// Which copy of each (session, seq) of a window is kept.
#[derive(Debug)]
pub(crate) struct Index {
    pub files: Vec<WindowFile>,
    /// (region, edge) of each source id.
    pub sources: Vec<(String, String)>,
    sessions: HashMap<Box<str>, u32>,
    /// For sessions seen at two or more sources: the seq ranges where copies may exist.
    overlaps: HashMap<u32, Vec<(u64, u64)>>,
    frames: HashMap<(u32, u64), Best>,
    cap: usize,
    what: String,
}

/// A kept or dropped row, as the index sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The (session, seq) has one copy in the window, or this is its kept copy.
    Keep,
    /// Another copy is kept: the one in `files[file]`.
    Later { file: u32, frame: (u32, u64) },
}

impl Index {
    /// Builds the index of `files` (the window's `events` files, every hour of it).
    /// `what` names the partition in errors.
    pub fn build(
        files: &[LocalFile],
        opts: &CompactOptions,
        what: String,
    ) -> Result<Index, CompactError> {
        let mut ix = Index {
            files: files
                .iter()
                .map(|f| WindowFile {
                    key: f.key.clone(),
                    path: f.path.clone(),
                    source: None,
                    rank: 0,
                })
                .collect(),
            sources: Vec::new(),
            sessions: HashMap::new(),
            overlaps: HashMap::new(),
            frames: HashMap::new(),
            cap: opts.max_index,
            what,
        };
        let mut per_session: Vec<Sources> = Vec::new();
        for i in 0..ix.files.len() {
            ix.pass_one(i, opts.batch_rows, &mut per_session)?;
        }
        for (id, s) in per_session.iter().enumerate() {
            let o = s.overlaps();
            if !o.is_empty() {
                ix.overlaps.insert(id as u32, o);
            }
        }
        drop(per_session);
        // Ranks: by (region, edge, key); a file without rows ranks by key alone, first.
        let mut order: Vec<usize> = (0..ix.files.len()).collect();
        order.sort_by(|&a, &b| {
            let k = |i: usize| {
                let f = &ix.files[i];
                (f.source.map(|s| &ix.sources[s as usize]), &f.key)
            };
            k(a).cmp(&k(b))
        });
        for (rank, i) in order.into_iter().enumerate() {
            ix.files[i].rank = rank as u32;
        }
        if !ix.overlaps.is_empty() {
            for i in 0..ix.files.len() {
                ix.pass_two(i, opts.batch_rows)?;
            }
        }
        Ok(ix)
    }

    fn check_cap(&self) -> Result<(), CompactError> {
        let n = self.sessions.len() + self.frames.len();
        if n > self.cap {
            return Err(CompactError::IndexFull {
                what: self.what.clone(),
                cap: self.cap,
            });
        }
        Ok(())
    }

    /// Pass 1 over one file: its source, and each session's seq range at that source.
    fn pass_one(
        &mut self,
        i: usize,
        batch_rows: usize,
        per_session: &mut Vec<Sources>,
    ) -> Result<(), CompactError> {
        let (key, path) = (self.files[i].key.clone(), self.files[i].path.clone());
        let reader = open_columns(
            &path,
            &key,
            &["region", "edge", "session", "seq"],
            batch_rows,
        )?;
        let mut source: Option<u32> = None;
        for batch in reader {
            let batch = batch.map_err(|e| CompactError::arrow(&key, e))?;
            if batch.num_rows() == 0 {
                continue;
            }
            let region = str_column(&batch, "region", &key)?;
            let edge = str_column(&batch, "edge", &key)?;
            let sessions = str_column(&batch, "session", &key)?;
            let seqs = seq_column(&batch, &key)?;
            let (r0, e0) = (region.get(0), edge.get(0));
            let (Some(r0), Some(e0)) = (r0, e0) else {
                return Err(CompactError::schema(&key, "a row without region or edge"));
            };
            let src = match source {
                Some(s) => s,
                None => {
                    let s = self.source_id(r0, e0);
                    self.files[i].source = Some(s);
                    source = Some(s);
                    s
                }
            };
            let (want_r, want_e) = self.sources[src as usize].clone();
            let mut ids: Vec<Option<u32>> = vec![None; sessions.dictionary_len()];
            for row in 0..batch.num_rows() {
                // A file holds one edge's rows; checked where the dictionary keys change.
                let changed = |c: &StrColumn<'_>| row == 0 || c.key(row) != c.key(row - 1);
                let other_region = changed(&region) && region.get(row) != Some(want_r.as_str());
                let other_edge = changed(&edge) && edge.get(row) != Some(want_e.as_str());
                if other_region || other_edge {
                    return Err(CompactError::schema(
                        &key,
                        format!(
                            "rows of more than one region or edge ({want_r}/{want_e} and {}/{}); a lake file holds one edge's rows",
                            region.get(row).unwrap_or("null"),
                            edge.get(row).unwrap_or("null")
                        ),
                    ));
                }
                let Some(k) = sessions.key(row) else {
                    return Err(CompactError::schema(&key, "a row without a session"));
                };
                let id = match ids[k] {
                    Some(id) => id,
                    None => {
                        let sid = sessions.value(k);
                        let id = match self.sessions.get(sid) {
                            Some(id) => *id,
                            None => {
                                let id = self.sessions.len() as u32;
                                self.sessions.insert(sid.into(), id);
                                per_session.push(Sources::new(src, seqs.value(row)));
                                self.check_cap()?;
                                id
                            }
                        };
                        ids[k] = Some(id);
                        id
                    }
                };
                per_session[id as usize].add(src, seqs.value(row));
            }
        }
        Ok(())
    }

    /// Pass 2 over one file: the best copy of every (session, seq) in an overlap.
    fn pass_two(&mut self, i: usize, batch_rows: usize) -> Result<(), CompactError> {
        if self.files[i].source.is_none() {
            return Ok(());
        }
        let (key, path, rank) = (
            self.files[i].key.clone(),
            self.files[i].path.clone(),
            self.files[i].rank,
        );
        let reader = open_columns(&path, &key, &["session", "seq", "time"], batch_rows)?;
        for batch in reader {
            let batch = batch.map_err(|e| CompactError::arrow(&key, e))?;
            let sessions = str_column(&batch, "session", &key)?;
            let seqs = seq_column(&batch, &key)?;
            let times = time_column(&batch, &key)?;
            let mut ids: Vec<Option<Option<u32>>> = vec![None; sessions.dictionary_len()];
            for row in 0..batch.num_rows() {
                let Some(k) = sessions.key(row) else {
                    continue;
                };
                let id = *ids[k].get_or_insert_with(|| {
                    self.sessions
                        .get(sessions.value(k))
                        .copied()
                        .filter(|id| self.overlaps.contains_key(id))
                });
                let Some(id) = id else { continue };
                let seq = seqs.value(row);
                if !self.in_overlap(id, seq) {
                    continue;
                }
                let cand = Best {
                    time: if times.is_null(row) {
                        i64::MAX
                    } else {
                        times.value(row)
                    },
                    rank,
                    file: i as u32,
                };
                match self.frames.entry((id, seq)) {
                    Entry::Occupied(mut o) => {
                        if cand < *o.get() {
                            o.insert(cand);
                        }
                    }
                    Entry::Vacant(v) => {
                        v.insert(cand);
                        self.check_cap()?;
                    }
                }
            }
        }
        Ok(())
    }

    fn in_overlap(&self, id: u32, seq: u64) -> bool {
        self.overlaps
            .get(&id)
            .is_some_and(|o| o.iter().any(|&(lo, hi)| lo <= seq && seq <= hi))
    }

    fn source_id(&mut self, region: &str, edge: &str) -> u32 {
        match self
            .sources
            .iter()
            .position(|(r, e)| r == region && e == edge)
        {
            Some(i) => i as u32,
            None => {
                self.sources.push((region.to_string(), edge.to_string()));
                (self.sources.len() - 1) as u32
            }
        }
    }

    /// The session's id, if it was seen at two or more sources (only those can have copies).
    pub fn failed_over(&self, session: &str) -> Option<u32> {
        self.sessions
            .get(session)
            .copied()
            .filter(|id| self.overlaps.contains_key(id))
    }

    /// Whether the row (session id from [`Index::failed_over`], seq) stored in window file
    /// `file` is the kept copy. Rows of files outside the window (derived tables) pass
    /// `file = None` and `source`, their (region, edge): they are kept unless the kept copy
    /// of their frame is at another source.
    pub fn verdict(&self, id: u32, seq: u64, at: At<'_>) -> Verdict {
        let Some(best) = self.frames.get(&(id, seq)) else {
            return Verdict::Keep;
        };
        let later = match at {
            At::File(f) => best.file != f,
            At::Source(region, edge) => {
                let kept = self.files[best.file as usize]
                    .source
                    .map(|s| &self.sources[s as usize]);
                kept.is_some_and(|(r, e)| r != region || e != edge)
            }
        };
        if later {
            Verdict::Later {
                file: best.file,
                frame: (id, seq),
            }
        } else {
            Verdict::Keep
        }
    }

    /// The region of window file `file` ("" for a file without rows, which keeps nothing).
    pub fn region_of(&self, file: u32) -> &str {
        self.files[file as usize]
            .source
            .map_or("", |s| self.sources[s as usize].0.as_str())
    }

    pub fn report(&self) -> IndexReport {
        IndexReport {
            files: self.files.len(),
            sessions: self.sessions.len() as u64,
            failed_over_sessions: self.overlaps.len() as u64,
            indexed_frames: self.frames.len() as u64,
        }
    }
}

/// Where a row being judged was stored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At<'a> {
    /// In this window file (an `events` row).
    File(u32),
    /// At this (region, edge) (a `detections` or `actions` row).
    Source(&'a str, &'a str),
}

pub(crate) fn seq_column<'a>(
    b: &'a RecordBatch,
    key: &str,
) -> Result<&'a arrow_array::PrimitiveArray<UInt64Type>, CompactError> {
    b.column_by_name("seq")
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| CompactError::schema(key, "column `seq` is missing or not uint64"))
}

fn time_column<'a>(
    b: &'a RecordBatch,
    key: &str,
) -> Result<&'a arrow_array::PrimitiveArray<TimestampMillisecondType>, CompactError> {
    b.column_by_name("time")
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or_else(|| CompactError::schema(key, "column `time` is missing or not timestamp(ms)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(ranges: &[(u32, u64, u64)]) -> Sources {
        let mut s = Sources::new(ranges[0].0, ranges[0].1);
        for &(src, lo, hi) in ranges {
            s.add(src, lo);
            s.add(src, hi);
        }
        s
    }

    #[test]
    fn overlaps_are_where_two_sources_stored_the_same_seqs() {
        let check = |r: &[(u32, u64, u64)], want: &[(u64, u64)]| {
            assert_eq!(sources(r).overlaps(), want, "{r:?}");
        };
        check(&[(0, 1, 100)], &[]);
        // A failover: A stored 1..=40, B was sent 37..=40 again and went on to 90.
        check(&[(0, 1, 40), (1, 37, 90)], &[(37, 40)]);
        check(&[(0, 1, 40), (1, 41, 90)], &[]);
        check(&[(0, 1, 40), (1, 40, 90)], &[(40, 40)]);
        // And back again: A's range spans B's.
        check(&[(0, 1, 200), (1, 37, 90)], &[(37, 90)]);
        // Three regions: overlaps merged.
        check(
            &[(0, 1, 40), (1, 37, 90), (2, 88, 120)],
            &[(37, 40), (88, 90)],
        );
        check(&[(0, 1, 40), (1, 30, 60), (2, 41, 70)], &[(30, 60)]);
    }
}
