//! The `events` table: one row per sample of a `b` frame and one per other accepted frame
//! (`id`, `tr`, `out`, `bye`). Schema in `proto/LAKE.md`.

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int32Builder, TimestampMillisecondBuilder, UInt16Builder, UInt32Builder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sentientiq_proto::{ClientFrame, kind};

use crate::keyed::KeyedDict;
use crate::{Error, TableBuilder, dict, ts};

/// Rows per Parquet row group: large enough for good compression and few footers, small
/// enough that a reader's predicate pushdown skips meaningfully (Athena/Trino guidance is
/// 64–512 MiB groups; event rows compress to a few bytes each).
pub const ROW_GROUP_ROWS: usize = 1 << 20;
/// zstd level: 3 is zstd's default, a good ratio at a few hundred MB/s per core.
pub const ZSTD_LEVEL: i32 = 3;

/// The `events` schema.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("tenant", dict(), false),
        Field::new("region", dict(), false),
        Field::new("edge", dict(), false),
        Field::new("shard", DataType::UInt16, false),
        Field::new("session", dict(), false),
        Field::new("user", dict(), true),
        Field::new("account", dict(), true),
        Field::new("seq", DataType::UInt64, false),
        Field::new("idx", DataType::UInt32, false),
        Field::new("recv_time", ts(), false),
        Field::new("client_time", ts(), true),
        Field::new("time", ts(), false),
        Field::new("kind", dict(), false),
        Field::new("x", DataType::Int32, true),
        Field::new("y", DataType::Int32, true),
        Field::new("label", dict(), true),
        Field::new("section", dict(), true),
        Field::new("page", dict(), true),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// What every row of one frame shares.
#[derive(Debug, Clone, Copy)]
pub struct RowMeta<'a> {
    pub tenant: &'a str,
    pub region: &'a str,
    pub edge: &'a str,
    pub shard: u16,
    pub session: &'a str,
    pub user: Option<&'a str>,
    pub account: Option<&'a str>,
    pub seq: u64,
    pub recv_ms: u64,
}

/// Per-session context carried from frame to frame (the section and page in effect).
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    pub section: Option<String>,
    pub page: Option<String>,
}

/// The name of a sample kind in the `kind` column.
pub fn kind_name(k: u8) -> &'static str {
    const NAMES: [&str; 15] = [
        "move",
        "down",
        "up",
        "click",
        "scroll",
        "key",
        "visibility",
        "section",
        "page",
        "resize",
        "dead",
        "error",
        "form",
        "copy",
        "leave",
    ];
    NAMES.get(usize::from(k)).copied().unwrap_or("unknown")
}

/// Column builders for `events`. The string columns are dictionaries whose keys are looked up
/// once per frame (or once per change, for section and page) and appended per row.
pub struct EventsBuilder {
    tenant: KeyedDict,
    region: KeyedDict,
    edge: KeyedDict,
    shard: UInt16Builder,
    session: KeyedDict,
    user: KeyedDict,
    account: KeyedDict,
    seq: UInt64Builder,
    idx: UInt32Builder,
    recv: TimestampMillisecondBuilder,
    client: TimestampMillisecondBuilder,
    time: TimestampMillisecondBuilder,
    kind: KeyedDict,
    /// The `kind` column's key of each sample kind code (index 15: every unknown code).
    kind_keys: [Option<i32>; 16],
    x: Int32Builder,
    y: Int32Builder,
    label: KeyedDict,
    section: KeyedDict,
    page: KeyedDict,
    value: Float64Builder,
    rows: usize,
}

/// The dictionary keys every row of one frame shares.
#[derive(Debug, Clone, Copy)]
struct FrameKeys {
    tenant: i32,
    region: i32,
    edge: i32,
    session: i32,
    user: Option<i32>,
    account: Option<i32>,
}

/// The keys of the section and page in effect.
#[derive(Debug, Clone, Copy)]
struct PlaceKeys {
    section: Option<i32>,
    page: Option<i32>,
}

crate::debug_rows!(EventsBuilder);

impl Default for EventsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventsBuilder {
    pub fn new() -> EventsBuilder {
        // Arrow's own default: room for 1 024 rows.
        EventsBuilder::with_capacity(1024)
    }

    /// Builders with room for `rows` rows in every fixed-width column.
    pub fn with_capacity(rows: usize) -> EventsBuilder {
        let dict = || KeyedDict::with_capacity(rows);
        EventsBuilder {
            tenant: dict(),
            region: dict(),
            edge: dict(),
            shard: UInt16Builder::with_capacity(rows),
            session: dict(),
            user: dict(),
            account: dict(),
            seq: UInt64Builder::with_capacity(rows),
            idx: UInt32Builder::with_capacity(rows),
            recv: crate::ts_builder(rows),
            client: crate::ts_builder(rows),
            time: crate::ts_builder(rows),
            kind: dict(),
            kind_keys: [None; 16],
            x: Int32Builder::with_capacity(rows),
            y: Int32Builder::with_capacity(rows),
            label: dict(),
            section: dict(),
            page: dict(),
            value: Float64Builder::with_capacity(rows),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The most rows any of its columns holds without growing.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        [
            self.tenant.capacity(),
            self.shard.capacity(),
            self.seq.capacity(),
            self.idx.capacity(),
            self.recv.capacity(),
            self.client.capacity(),
            self.time.capacity(),
            self.kind.capacity(),
            self.x.capacity(),
            self.y.capacity(),
            self.value.capacity(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    /// Sessions the `session` column's index holds without rehashing.
    #[cfg(test)]
    pub(crate) fn session_index_capacity(&self) -> usize {
        self.session.index_capacity()
    }

    fn frame_keys(&mut self, m: &RowMeta<'_>) -> FrameKeys {
        FrameKeys {
            tenant: self.tenant.key(m.tenant),
            region: self.region.key(m.region),
            edge: self.edge.key(m.edge),
            session: self.session.key(m.session),
            user: self.user.key_of(m.user),
            account: self.account.key_of(m.account),
        }
    }

    fn place_keys(&mut self, st: &SessionState) -> PlaceKeys {
        PlaceKeys {
            section: self.section.key_of(st.section.as_deref()),
            page: self.page.key_of(st.page.as_deref()),
        }
    }

    /// The `kind` column's key of sample kind `k`.
    fn kind_key(&mut self, k: u8) -> i32 {
        let slot = usize::from(k).min(15);
        if let Some(key) = self.kind_keys[slot] {
            return key;
        }
        let key = self.kind.key(kind_name(k));
        self.kind_keys[slot] = Some(key);
        key
    }

    /// The columns every row of one frame shares, for its `n` rows at once (one call per
    /// column per frame instead of one per row: `bench/runs/2026-12-03-vm/README.md`,
    /// "Fourteenth session").
    fn frame_columns(&mut self, m: &RowMeta<'_>, fk: FrameKeys, n: usize) {
        self.tenant.push_n(Some(fk.tenant), n);
        self.region.push_n(Some(fk.region), n);
        self.edge.push_n(Some(fk.edge), n);
        self.shard.append_value_n(m.shard, n);
        self.session.push_n(Some(fk.session), n);
        self.user.push_n(fk.user, n);
        self.account.push_n(fk.account, n);
        self.seq.append_value_n(m.seq, n);
        self.recv.append_value_n(m.recv_ms as i64, n);
        self.rows += n;
    }

    /// The columns of one row that differ between a frame's rows; the frame's shared columns
    /// come from [`EventsBuilder::frame_columns`].
    #[allow(clippy::too_many_arguments)]
    fn own_columns(
        &mut self,
        place: PlaceKeys,
        idx: u32,
        client_ms: Option<i64>,
        time_ms: i64,
        kind: i32,
        xy: Option<(i32, i32)>,
        label: Option<&str>,
        value: Option<f64>,
    ) {
        self.idx.append_value(idx);
        self.client.append_option(client_ms);
        self.time.append_value(time_ms);
        self.kind.push(Some(kind));
        self.x.append_option(xy.map(|p| p.0));
        self.y.append_option(xy.map(|p| p.1));
        self.label.push_value(label);
        self.section.push(place.section);
        self.page.push(place.page);
        self.value.append_option(value);
    }

    /// One row that is not a sample (`identify`, `track`, `outcome`, `bye`).
    fn frame_row(
        &mut self,
        m: &RowMeta<'_>,
        st: &SessionState,
        kind: &str,
        label: Option<&str>,
        value: Option<f64>,
    ) {
        let fk = self.frame_keys(m);
        let place = self.place_keys(st);
        let kind = self.kind.key(kind);
        self.frame_columns(m, fk, 1);
        self.own_columns(place, 0, None, m.recv_ms as i64, kind, None, label, value);
    }

    /// Appends the rows of one accepted frame; returns how many. `time` is the sample's time
    /// on the server clock: receive time minus how long before the batch's last sample it was
    /// taken (client clock differences only, so client clock skew does not matter).
    pub fn push_frame(
        &mut self,
        m: &RowMeta<'_>,
        frame: &ClientFrame,
        st: &mut SessionState,
    ) -> usize {
        let recv = m.recv_ms as i64;
        match frame {
            ClientFrame::Batch(b) => {
                let fk = self.frame_keys(m);
                self.frame_columns(m, fk, b.len());
                let mut place = self.place_keys(st);
                let t0 = i64::try_from(b.t0).unwrap_or(i64::MAX / 4);
                let total_us: i64 = b.dt.iter().map(|d| i64::from(*d)).sum();
                let mut at_us = 0i64;
                for i in 0..b.len() {
                    at_us += i64::from(b.dt.get(i).copied().unwrap_or(0));
                    let k = b.k[i];
                    let label = if kind::carries_string(k) {
                        b.label(i)
                    } else {
                        None
                    };
                    match k {
                        kind::SECTION => {
                            st.section = label.map(str::to_string);
                            place.section = self.section.key_of(label);
                        }
                        kind::PAGE => {
                            st.page = label.map(str::to_string);
                            place.page = self.page.key_of(label);
                        }
                        _ => {}
                    }
                    let client = t0.saturating_add(at_us / 1000);
                    let time = recv - (total_us - at_us) / 1000;
                    let xy = (
                        b.x.get(i).copied().unwrap_or(0),
                        b.y.get(i).copied().unwrap_or(0),
                    );
                    let value = matches!(k, kind::DOWN | kind::UP | kind::KEY | kind::VISIBILITY)
                        .then(|| f64::from(b.a(i)));
                    let kind = self.kind_key(k);
                    self.own_columns(
                        place,
                        i as u32,
                        Some(client),
                        time,
                        kind,
                        Some(xy),
                        label,
                        value,
                    );
                }
                b.len()
            }
            ClientFrame::Identify(_) => {
                self.frame_row(m, st, "identify", None, None);
                1
            }
            ClientFrame::Track(t) => {
                let amount =
                    sentientiq_proto::frame::get(&t.props, "amount").and_then(|v| v.as_f64());
                self.frame_row(m, st, "track", Some(&t.name), amount);
                1
            }
            ClientFrame::Outcome(o) => {
                self.frame_row(m, st, "outcome", Some(o.r.as_str()), None);
                1
            }
            ClientFrame::Bye { .. } => {
                self.frame_row(m, st, "bye", None, None);
                1
            }
            ClientFrame::Hello(_) => 0,
        }
    }

    /// The rows so far as one record batch (the builders are reset).
    pub fn finish(&mut self) -> Result<RecordBatch, Error> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.tenant.finish()?),
            Arc::new(self.region.finish()?),
            Arc::new(self.edge.finish()?),
            Arc::new(self.shard.finish()),
            Arc::new(self.session.finish()?),
            Arc::new(self.user.finish()?),
            Arc::new(self.account.finish()?),
            Arc::new(self.seq.finish()),
            Arc::new(self.idx.finish()),
            Arc::new(self.recv.finish()),
            Arc::new(self.client.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.kind.finish()?),
            Arc::new(self.x.finish()),
            Arc::new(self.y.finish()),
            Arc::new(self.label.finish()?),
            Arc::new(self.section.finish()?),
            Arc::new(self.page.finish()?),
            Arc::new(self.value.finish()),
        ];
        self.kind_keys = [None; 16];
        self.rows = 0;
        Ok(RecordBatch::try_new(events_schema(), cols)?)
    }
}

/// Writer settings for every lake file of `schema`: zstd, page statistics, fixed `created_by`
/// (so the same rows always give the same bytes), and an encoding per column by its type:
/// - strings (every string column is an Arrow dictionary): Parquet dictionary encoding;
/// - integers and times: `DELTA_BINARY_PACKED`, no dictionary. Their values are nearly all
///   distinct (times, seqs) or close to their neighbours (a pointer's x and y), so a dictionary
///   costs a hash and a lookup per value and saves little, while deltas pack small;
/// - floats: `PLAIN` under zstd, no dictionary.
///
/// Measured with `cargo bench -p sentientiq-lake --bench events`, against dictionaries on every
/// column: 1.60 bytes per row instead of 2.91 at the edge's shape, 1.25 instead of 5.49 at 512
/// samples per frame; the write's time within this VM's noise (`bench/runs/2026-12-02-vm/
/// README.md`, "The lake's numeric columns").
/// DuckDB, Trino (so Athena v3) and Spark 3.3+ read `DELTA_BINARY_PACKED`. Nested columns (the
/// `alerts` table's deliveries) keep the defaults.
pub fn writer_properties(schema: &Schema) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
        ))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("sentientiq-lake {}", env!("CARGO_PKG_VERSION")));
    for f in schema.fields() {
        let col = || ColumnPath::from(f.name().as_str());
        let t = f.data_type();
        if t.is_integer() || matches!(t, DataType::Timestamp(..)) {
            b = b
                .set_column_dictionary_enabled(col(), false)
                .set_column_encoding(col(), Encoding::DELTA_BINARY_PACKED);
        } else if t.is_floating() {
            b = b.set_column_dictionary_enabled(col(), false);
        }
    }
    b.build()
}

/// One Parquet file holding `batch`.
pub fn write_parquet(batch: &RecordBatch) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let props = writer_properties(&batch.schema());
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(out)
}

impl TableBuilder for EventsBuilder {
    const TABLE: &'static str = "events";

    fn len(&self) -> usize {
        self.rows
    }

    fn finish(&mut self) -> Result<RecordBatch, Error> {
        EventsBuilder::finish(self)
    }

    /// Arrow's builders are empty after a finish, with no room: the next rows would grow them
    /// from the first frame's size (24 rows, say), doubling past the flush to twice
    /// `BUILDER_ROWS`. Given room for `rows` instead, they never grow. The builder is kept, not
    /// replaced, so the dictionaries' indexes keep their room too.
    fn reserve(&mut self, rows: usize) {
        if self.rows != 0 {
            return;
        }
        for d in [
            &mut self.tenant,
            &mut self.region,
            &mut self.edge,
            &mut self.session,
            &mut self.user,
            &mut self.account,
            &mut self.kind,
            &mut self.label,
            &mut self.section,
            &mut self.page,
        ] {
            d.reserve(rows);
        }
        // Arrow 60's primitive builders have no `reserve`: empty ones are replaced.
        self.shard = UInt16Builder::with_capacity(rows);
        self.seq = UInt64Builder::with_capacity(rows);
        self.idx = UInt32Builder::with_capacity(rows);
        self.recv = crate::ts_builder(rows);
        self.client = crate::ts_builder(rows);
        self.time = crate::ts_builder(rows);
        self.x = Int32Builder::with_capacity(rows);
        self.y = Int32Builder::with_capacity(rows);
        self.value = Float64Builder::with_capacity(rows);
    }
}
