//! Compaction: each (tenant, session, seq) once, across regions.
//!
//! Within one edge a frame is stored once (the core's dedup window and held set, and the
//! shipper's per-session floors). Across edges nothing prevents a copy: when the browser SDK
//! fails a session over to another region, the frames the old edge stored but had not yet
//! acknowledged are sent again to the new edge, which stores them too. Compaction writes, per
//! (tenant, table, UTC hour), one file in which each frame is once:
//!
//! ```text
//! <prefix>/<table>_compacted/tenant=<id>/date=YYYY-MM-DD/hour=HH/<id>-YYYY-MM-DDTHH.parquet
//! ```
//!
//! - **Which copy is kept.** Of the copies of one (tenant, session, seq) (a copy is that frame's
//!   rows in one file), the one with the least (`time`, `region`, `edge`, file key), where a
//!   copy's `time` is its least row `time`. For identical copies this is the copy the edge that
//!   received it first stored (`time` is receive time minus the same client-clock offsets), and
//!   the rest only breaks ties deterministically. Conflicting copies (different content under one
//!   seq: a client bug) are not merged: the kept copy is kept whole.
//! - **The window.** The copies of the rows of hour H are looked for in the `events` files of
//!   hours H − `lookback_hours` ..= H (default 1), every region and edge. The earliest copy of a
//!   frame is always in the earliest hour among its copies (a copy's hour comes from its
//!   receive time, in the same order as `time`), so a resend that crosses an hour boundary is
//!   caught; one that arrives more than `lookback_hours` after the first copy is not.
//! - **`events`**: rows of a later copy are dropped; everything else, in file key order, as it
//!   was. **`detections`** (optional): a detection's `seq` is the frame that completed its
//!   evidence; a detection made by the edge whose copy of that frame was dropped is dropped with
//!   it (the kept copy's edge saw the same frame with more of the session before it, and either
//!   made that detection or rejected it). **`actions`** (optional): `outcome` rows come from
//!   `out` frames and are dropped like events; `intervene` and `escalate` rows are things an
//!   edge did (a message the page showed, people paged), not copies, and are kept. **`alerts`**
//!   are never compacted: each row is a page that happened, and carries no seq.
//! - **Memory, per partition.** Two passes over the window's key columns (`region`, `edge`,
//!   `session`, `seq`, then `session`, `seq`, `time`) build an index of one entry per session
//!   in the window and one per (session, seq) that two edges both may hold (the seqs the
//!   sessions that moved stored at both); then the hour's files are read in batches of
//!   `batch_rows` and written. Held at once: the index (at most `max_index` entries, about 100
//!   bytes each; beyond it, [`CompactError::IndexFull`]), one batch, the writer's current row
//!   group, and the compacted file itself (about the size of the hour's input files: the sink
//!   takes it whole).
//! - **Idempotent.** The same input files give the same bytes under the same key; a partition
//!   whose inputs changed since (a late shipment) is compacted again and the file replaced (a
//!   local rename or one S3 PUT: readers see the old or the new file, never a mix). The
//!   originals are never deleted or changed.

mod index;
#[cfg(feature = "s3")]
pub mod s3;
mod write;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, DictionaryArray, RecordBatch, StringArray};
use arrow_schema::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::keys::{Partition, compacted_key, date_of_hour, hour_prefix};
use crate::sink::SinkError;
use index::{At, Index, Verdict, seq_column};

/// How much a compaction may look back and hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactOptions {
    /// Earlier hours whose `events` files are searched for copies of an hour's frames.
    pub lookback_hours: u32,
    /// The most index entries (sessions of the window plus frames two edges may both hold)
    /// one partition may need; beyond it the partition fails with [`CompactError::IndexFull`].
    pub max_index: usize,
    /// Rows decoded at a time.
    pub batch_rows: usize,
}

/// Default [`CompactOptions::max_index`]: 2 Mi entries, at most about 250 MB.
pub const DEFAULT_MAX_INDEX: usize = 2 << 20;
/// The most [`CompactOptions::lookback_hours`].
pub const MAX_LOOKBACK_HOURS: u32 = 48;

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            lookback_hours: 1,
            max_index: DEFAULT_MAX_INDEX,
            batch_rows: 8192,
        }
    }
}

/// Why [`CompactOptions`] were refused; each names the field, and the value where there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompactOptionsError {
    #[error("lookback_hours {0} is above {MAX_LOOKBACK_HOURS}")]
    LookbackHours(u32),
    #[error("max_index must be positive")]
    ZeroMaxIndex,
    #[error("batch_rows must be positive")]
    ZeroBatchRows,
}

impl CompactOptions {
    /// Checks the limits; the first one broken is the error.
    pub fn validate(&self) -> Result<(), CompactOptionsError> {
        if self.lookback_hours > MAX_LOOKBACK_HOURS {
            return Err(CompactOptionsError::LookbackHours(self.lookback_hours));
        }
        if self.max_index == 0 {
            return Err(CompactOptionsError::ZeroMaxIndex);
        }
        if self.batch_rows == 0 {
            return Err(CompactOptionsError::ZeroBatchRows);
        }
        Ok(())
    }
}

/// A table compaction writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Events,
    Detections,
    Actions,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Events, Table::Detections, Table::Actions];

    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Detections => "detections",
            Table::Actions => "actions",
        }
    }

    pub fn parse(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The table's schema as this version writes it (the compacted file's, but for columns
    /// from newer edges, which are kept).
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Events => crate::events_schema(),
            Table::Detections => crate::detections_schema(),
            Table::Actions => crate::actions_schema(),
        }
    }
}

/// One lake file on the local disk (a local lake's own file, or an object downloaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Its object key (orders the files and breaks ties).
    pub key: String,
    pub path: PathBuf,
}

/// Errors compacting.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key}: parquet: {source}")]
    Parquet {
        key: String,
        source: parquet::errors::ParquetError,
    },
    #[error("{key}: arrow: {source}")]
    Arrow {
        key: String,
        source: arrow_schema::ArrowError,
    },
    /// A file this version cannot compact without losing or misreading something.
    #[error("{key}: {msg}")]
    Schema { key: String, msg: String },
    /// The partition needs more index entries than allowed; nothing was written for it.
    #[error(
        "{what}: the index would need more than {cap} entries (sessions, and frames two edges may both hold); \
         raise the cap (about 100 bytes each) or look back fewer hours"
    )]
    IndexFull { what: String, cap: usize },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Options(#[from] CompactOptionsError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl CompactError {
    fn schema(key: &str, msg: impl Into<String>) -> CompactError {
        CompactError::Schema {
            key: key.to_string(),
            msg: msg.into(),
        }
    }

    fn arrow(key: &str, source: arrow_schema::ArrowError) -> CompactError {
        CompactError::Arrow {
            key: key.to_string(),
            source,
        }
    }
}

/// Copies dropped from one region while another region's copy was kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Copies of frames (a (session, seq) in one file).
    pub frames: u64,
    pub rows: u64,
}

/// What the index of a window held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexReport {
    /// `events` files in the window (the hour and its lookback).
    pub files: usize,
    pub sessions: u64,
    /// Sessions seen at two or more (region, edge) in the window.
    pub failed_over_sessions: u64,
    /// (session, seq) that two edges may both hold, indexed.
    pub indexed_frames: u64,
}

/// One table of one partition, compacted.
#[derive(Debug)]
pub struct CompactedTable {
    pub table: Table,
    /// Input files of the hour.
    pub files: usize,
    pub rows_in: u64,
    pub rows_out: u64,
    /// By (kept region, dropped region).
    pub dropped: BTreeMap<(String, String), Dropped>,
    pub schema: SchemaRef,
    /// The compacted file; `None` when the hour had no file of the table.
    pub bytes: Option<Vec<u8>>,
}

/// One partition compacted (in memory: nothing written yet).
#[derive(Debug)]
pub struct Compacted {
    pub index: IndexReport,
    /// `events` first, then the derived tables asked for.
    pub tables: Vec<CompactedTable>,
}

/// Compacts one (tenant, hour): `events` are the hour's `events` files, `lookback` the
/// earlier hours' (searched for copies, never written), `derived` the hour's files of
/// `detections` and/or `actions`. Reads only these local files; writes nothing.
pub fn compact_partition(
    events: &[LocalFile],
    lookback: &[LocalFile],
    derived: &[(Table, Vec<LocalFile>)],
    opts: &CompactOptions,
    what: &str,
) -> Result<Compacted, CompactError> {
    opts.validate()?;
    let mut events = events.to_vec();
    events.sort_by(|a, b| a.key.cmp(&b.key));
    // The hour's files are the window's first files, so file i of the hour is window file i.
    let window: Vec<LocalFile> = events.iter().chain(lookback).cloned().collect();
    let ix = Index::build(&window, opts, what.to_string())?;
    let mut tables = Vec::new();
    let written = write::write_filtered(
        &Table::Events.schema(),
        &events,
        opts.batch_rows,
        |i, batch, tally, keep| {
            let key = &events[i].key;
            let sessions = str_column(batch, "session", key)?;
            let seqs = seq_column(batch, key)?;
            let here = ix.region_of(i as u32);
            let mut ids: Vec<Option<Option<u32>>> = vec![None; sessions.dictionary_len()];
            for row in 0..batch.num_rows() {
                let verdict = match sessions.key(row) {
                    None => Verdict::Keep,
                    Some(k) => {
                        match *ids[k].get_or_insert_with(|| ix.failed_over(sessions.value(k))) {
                            None => Verdict::Keep,
                            Some(id) => ix.verdict(id, seqs.value(row), At::File(i as u32)),
                        }
                    }
                };
                match verdict {
                    Verdict::Keep => keep.push(true),
                    Verdict::Later { file, frame } => {
                        tally.drop_row(ix.region_of(file), here, frame);
                        keep.push(false);
                    }
                }
            }
            Ok(())
        },
    )?;
    tables.push(table_of(Table::Events, events.len(), written));
    for (table, files) in derived {
        let table = *table;
        if table == Table::Events {
            return Err(CompactError::Invalid(
                "events are not a derived table".into(),
            ));
        }
        let mut files = files.clone();
        files.sort_by(|a, b| a.key.cmp(&b.key));
        let written = write::write_filtered(
            &table.schema(),
            &files,
            opts.batch_rows,
            |i, batch, tally, keep| {
                let key = &files[i].key;
                let region = str_column(batch, "region", key)?;
                let edge = str_column(batch, "edge", key)?;
                let sessions = str_column(batch, "session", key)?;
                let seqs = seq_column(batch, key)?;
                let action = match table {
                    Table::Actions => Some(str_column(batch, "action", key)?),
                    _ => None,
                };
                let mut ids: Vec<Option<Option<u32>>> = vec![None; sessions.dictionary_len()];
                for row in 0..batch.num_rows() {
                    // Only outcomes come from frames; other actions are the edge's own acts.
                    if action
                        .as_ref()
                        .is_some_and(|a| a.get(row) != Some("outcome"))
                    {
                        keep.push(true);
                        continue;
                    }
                    let (Some(k), Some(r), Some(e)) =
                        (sessions.key(row), region.get(row), edge.get(row))
                    else {
                        keep.push(true);
                        continue;
                    };
                    let id = *ids[k].get_or_insert_with(|| ix.failed_over(sessions.value(k)));
                    let verdict = match id {
                        None => Verdict::Keep,
                        Some(id) => ix.verdict(id, seqs.value(row), At::Source(r, e)),
                    };
                    match verdict {
                        Verdict::Keep => keep.push(true),
                        Verdict::Later { file, frame } => {
                            tally.drop_row(ix.region_of(file), r, frame);
                            keep.push(false);
                        }
                    }
                }
                Ok(())
            },
        )?;
        tables.push(table_of(table, files.len(), written));
    }
    Ok(Compacted {
        index: ix.report(),
        tables,
    })
}

fn table_of(table: Table, files: usize, w: write::Written) -> CompactedTable {
    CompactedTable {
        table,
        files,
        rows_in: w.rows_in,
        rows_out: w.rows_out,
        dropped: w.dropped,
        schema: w.schema,
        bytes: w.bytes,
    }
}

/// Opens a lake file for reading `columns` (all with `None`); returns the file's full Arrow
/// schema and the reader.
pub(crate) fn open_reader(
    path: &Path,
    key: &str,
    columns: Option<&[&str]>,
    batch_rows: usize,
) -> Result<(SchemaRef, ParquetRecordBatchReader), CompactError> {
    let file = std::fs::File::open(path).map_err(|source| CompactError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let pq = |source| CompactError::Parquet {
        key: key.to_string(),
        source,
    };
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let schema = b.schema().clone();
    let b = match columns {
        None => b,
        Some(cols) => {
            let mut idx = Vec::with_capacity(cols.len());
            for c in cols {
                let (i, _) = schema
                    .column_with_name(c)
                    .ok_or_else(|| CompactError::schema(key, format!("column `{c}` is missing")))?;
                idx.push(i);
            }
            let mask = ProjectionMask::roots(b.parquet_schema(), idx);
            b.with_projection(mask)
        }
    };
    let reader = b.with_batch_size(batch_rows).build().map_err(pq)?;
    Ok((schema, reader))
}

/// `open_reader` for some columns.
pub(crate) fn open_columns(
    path: &Path,
    key: &str,
    columns: &[&str],
    batch_rows: usize,
) -> Result<ParquetRecordBatchReader, CompactError> {
    open_reader(path, key, Some(columns), batch_rows).map(|(_, r)| r)
}

/// A dictionary-encoded string column, as every lake table's strings are.
#[derive(Debug)]
pub(crate) struct StrColumn<'a> {
    keys: &'a DictionaryArray<Int32Type>,
    values: &'a StringArray,
}

impl StrColumn<'_> {
    /// The dictionary index of a row's value; `None` for a null.
    pub fn key(&self, row: usize) -> Option<usize> {
        self.keys
            .key(row)
            .filter(|k| *k < self.values.len() && self.values.is_valid(*k))
    }

    pub fn value(&self, k: usize) -> &str {
        self.values.value(k)
    }

    pub fn get(&self, row: usize) -> Option<&str> {
        self.key(row).map(|k| self.value(k))
    }

    pub fn dictionary_len(&self) -> usize {
        self.values.len()
    }
}

pub(crate) fn str_column<'a>(
    b: &'a RecordBatch,
    name: &str,
    key: &str,
) -> Result<StrColumn<'a>, CompactError> {
    let keys = b
        .column_by_name(name)
        .and_then(|c| c.as_dictionary_opt::<Int32Type>())
        .ok_or_else(|| {
            CompactError::schema(
                key,
                format!("column `{name}` is missing or not a dictionary"),
            )
        })?;
    let values = keys.values().as_string_opt::<i32>().ok_or_else(|| {
        CompactError::schema(key, format!("column `{name}` is not a string dictionary"))
    })?;
    Ok(StrColumn { keys, values })
}

// ---- a lake to compact in, and the driver ----

/// Where compaction reads and writes: a lake's objects.
pub trait Lake: std::fmt::Debug {
    /// Keys of the `.parquet` objects under `prefix` (which ends with `/`), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, CompactError>;
    /// A local file holding the object (a remote object is downloaded).
    fn open(&self, key: &str) -> Result<PathBuf, CompactError>;
    /// Done with what [`Lake::open`] gave (a download is removed).
    fn release(&self, key: &str);
    /// Whether the object holds exactly `bytes`; `None` when there is no such object.
    fn holds(&self, key: &str, bytes: &[u8]) -> Result<Option<bool>, CompactError>;
    /// Stores `bytes` under `key`, replacing what is there; a reader sees the old object or
    /// the new one, never a mix.
    fn replace(&self, key: &str, bytes: &[u8]) -> Result<(), CompactError>;
}

/// A local lake directory (the edge's `local` sink).
#[derive(Debug, Clone)]
pub struct LocalLake {
    sink: crate::LocalSink,
}

impl LocalLake {
    pub fn new(root: impl Into<PathBuf>) -> LocalLake {
        LocalLake {
            sink: crate::LocalSink::new(root),
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), CompactError> {
    let io = |source| CompactError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    for e in entries {
        let e = e.map_err(io)?;
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue; // a sink's temporary file
        }
        if e.file_type().map_err(io)?.is_dir() {
            walk(root, &p, out)?;
        } else if name.ends_with(".parquet")
            && let Ok(rel) = p.strip_prefix(root)
        {
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

impl Lake for LocalLake {
    fn list(&self, prefix: &str) -> Result<Vec<String>, CompactError> {
        crate::check_key(prefix.trim_end_matches('/'))?;
        let root = self.sink.root();
        let mut out = Vec::new();
        walk(root, &root.join(prefix), &mut out)?;
        out.sort();
        Ok(out)
    }

    fn open(&self, key: &str) -> Result<PathBuf, CompactError> {
        crate::check_key(key)?;
        Ok(self.sink.root().join(key))
    }

    fn release(&self, _key: &str) {}

    fn holds(&self, key: &str, bytes: &[u8]) -> Result<Option<bool>, CompactError> {
        use std::io::Read;
        let path = self.open(key)?;
        let io = |source| CompactError::Io {
            path: path.clone(),
            source,
        };
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        if f.metadata().map_err(io)?.len() != bytes.len() as u64 {
            return Ok(Some(false));
        }
        // Compared a chunk at a time: the old file is not held beside the new one.
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0;
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                return Ok(Some(at == bytes.len()));
            }
            if bytes.get(at..at + n) != Some(&buf[..n]) {
                return Ok(Some(false));
            }
            at += n;
        }
    }

    fn replace(&self, key: &str, bytes: &[u8]) -> Result<(), CompactError> {
        use crate::Sink;
        // Temporary file, fsync, rename over the old one, fsync the directory.
        Ok(self.sink.put(key, bytes)?)
    }
}

/// What was done with one compacted table of one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No compacted file was there; it is now.
    Written,
    /// The compacted file was there with the same bytes: nothing written.
    Unchanged,
    /// A compacted file of other inputs (a late shipment since) was replaced.
    Replaced,
    /// The hour had no file of the table: nothing written.
    NoInput,
    /// Asked not to write.
    DryRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Written => "written",
            Outcome::Unchanged => "unchanged",
            Outcome::Replaced => "replaced",
            Outcome::NoInput => "no input",
            Outcome::DryRun => "dry run",
        }
    }
}

/// One table of one hour, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: Table,
    pub files: usize,
    pub rows_in: u64,
    pub rows_out: u64,
    /// By (kept region, dropped region).
    pub dropped: BTreeMap<(String, String), Dropped>,
    pub key: String,
    pub bytes: u64,
    pub outcome: Outcome,
}

/// One hour compacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourReport {
    pub tenant: String,
    /// Hours since the epoch (UTC).
    pub hour: u64,
    /// `events` files of the earlier hours searched.
    pub lookback_files: usize,
    pub index: IndexReport,
    pub tables: Vec<TableReport>,
}

impl HourReport {
    /// `YYYY-MM-DDTHH`
    pub fn label(&self) -> String {
        format!("{}T{:02}", date_of_hour(self.hour), self.hour % 24)
    }
}

/// What to compact.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The lake's key prefix (the edge's `lake.prefix`, or the tenant's own).
    pub prefix: &'a str,
    pub tenant: &'a str,
    /// Hours since the epoch (UTC).
    pub hours: Range<u64>,
    /// Derived tables to compact too (`events` always is).
    pub derived: &'a [Table],
    /// Compute and report, write nothing.
    pub dry_run: bool,
}

/// A tenant id as a key component: not empty, no `/`, not `.` or `..`.
pub fn check_tenant(tenant: &str) -> Result<(), CompactError> {
    if tenant.is_empty()
        || tenant.contains('/')
        || tenant == "."
        || tenant == ".."
        || tenant.chars().any(char::is_control)
    {
        return Err(CompactError::Invalid(format!(
            "tenant `{tenant}` is not a tenant id"
        )));
    }
    Ok(())
}

/// Compacts each hour of `req.hours` in turn: lists and opens its files (and its lookback's,
/// kept open for the next hour), compacts, and stores each table's file unless it is already
/// there with the same bytes. `each` sees each hour's report as it is done. Stops at the first
/// error; the hours done before it stay done (each is complete on its own).
pub fn compact_hours(
    lake: &dyn Lake,
    req: &Request<'_>,
    opts: &CompactOptions,
    mut each: impl FnMut(&HourReport),
) -> Result<Vec<HourReport>, CompactError> {
    opts.validate()?;
    check_tenant(req.tenant)?;
    let mut open = OpenFiles::default();
    let result = (|| {
        let mut reports = Vec::new();
        for hour in req.hours.clone() {
            let r = compact_hour(lake, req, opts, hour, &mut open)?;
            each(&r);
            reports.push(r);
            // The next hour's window starts at hour + 1 − lookback.
            open.release_before(
                lake,
                (hour + 1).saturating_sub(u64::from(opts.lookback_hours)),
            );
        }
        Ok(reports)
    })();
    open.release_before(lake, u64::MAX);
    result
}

/// The `events` files opened, by hour, kept for the next hours' lookback.
#[derive(Debug, Default)]
struct OpenFiles {
    events: BTreeMap<u64, Vec<LocalFile>>,
}

impl OpenFiles {
    fn events(
        &mut self,
        lake: &dyn Lake,
        prefix: &str,
        tenant: &str,
        hour: u64,
    ) -> Result<Vec<LocalFile>, CompactError> {
        if let Some(f) = self.events.get(&hour) {
            return Ok(f.clone());
        }
        let files = open_all(lake, prefix, Table::Events, tenant, hour)?;
        self.events.insert(hour, files.clone());
        Ok(files)
    }

    fn release_before(&mut self, lake: &dyn Lake, hour: u64) {
        let keep = self.events.split_off(&hour);
        for f in std::mem::replace(&mut self.events, keep)
            .into_values()
            .flatten()
        {
            lake.release(&f.key);
        }
    }
}

fn open_all(
    lake: &dyn Lake,
    prefix: &str,
    table: Table,
    tenant: &str,
    hour: u64,
) -> Result<Vec<LocalFile>, CompactError> {
    let p = Partition {
        tenant: tenant.to_string(),
        hour,
    };
    let keys = lake.list(&hour_prefix(prefix, table.name(), &p))?;
    let mut files = Vec::with_capacity(keys.len());
    for key in keys {
        match lake.open(&key) {
            Ok(path) => files.push(LocalFile { key, path }),
            Err(e) => {
                for f in &files {
                    lake.release(&f.key);
                }
                return Err(e);
            }
        }
    }
    Ok(files)
}

fn compact_hour(
    lake: &dyn Lake,
    req: &Request<'_>,
    opts: &CompactOptions,
    hour: u64,
    open: &mut OpenFiles,
) -> Result<HourReport, CompactError> {
    let p = Partition {
        tenant: req.tenant.to_string(),
        hour,
    };
    let events = open.events(lake, req.prefix, req.tenant, hour)?;
    let mut lookback = Vec::new();
    for back in 1..=u64::from(opts.lookback_hours) {
        if let Some(h) = hour.checked_sub(back) {
            lookback.extend(open.events(lake, req.prefix, req.tenant, h)?);
        }
    }
    let mut derived = Vec::new();
    for t in req.derived.iter().filter(|t| **t != Table::Events) {
        derived.push((*t, open_all(lake, req.prefix, *t, req.tenant, hour)?));
    }
    let what = format!(
        "tenant {} {}T{:02}",
        req.tenant,
        date_of_hour(hour),
        hour % 24
    );
    let compacted = compact_partition(&events, &lookback, &derived, opts, &what);
    for (_, files) in &derived {
        for f in files {
            lake.release(&f.key);
        }
    }
    let compacted = compacted?;
    let mut tables = Vec::new();
    for t in compacted.tables {
        let key = compacted_key(req.prefix, t.table.name(), &p);
        crate::check_key(&key)?;
        let bytes = t.bytes.as_ref().map_or(0, |b| b.len() as u64);
        let outcome = match &t.bytes {
            None => Outcome::NoInput,
            Some(_) if req.dry_run => Outcome::DryRun,
            Some(b) => match lake.holds(&key, b)? {
                Some(true) => Outcome::Unchanged,
                Some(false) => {
                    lake.replace(&key, b)?;
                    Outcome::Replaced
                }
                None => {
                    lake.replace(&key, b)?;
                    Outcome::Written
                }
            },
        };
        tables.push(TableReport {
            table: t.table,
            files: t.files,
            rows_in: t.rows_in,
            rows_out: t.rows_out,
            dropped: t.dropped,
            key,
            bytes,
            outcome,
        });
    }
    Ok(HourReport {
        tenant: req.tenant.to_string(),
        hour,
        lookback_files: lookback.len(),
        index: compacted.index,
        tables,
    })
}
