//! The columnar lake: accepted frames (as the edge spooled them) become rows of the `events`
//! table, and the detections, actions and finished alerts the edge spooled (as JSON) rows of
//! `detections`, `actions` and `alerts`, written as zstd Parquet files under Hive-style keys, to a
//! local directory or S3.
//!
//! The table schemas are documented in `proto/LAKE.md` and `lake/README.md` (the `alerts` table
//! and the newest `detections` columns) and pinned by golden tests (`tests/fixtures/`). This
//! crate's interface is synchronous; the edge runs it on a shipper thread, off the shards'
//! reactors. The S3 sink (feature `s3`) does its networking on a tokio runtime of its own.
//!
//! [`compact`] writes one file per (tenant, table, hour) in which each (tenant, session, seq) is
//! once across regions (a session that failed over to another region's edge had its
//! unacknowledged frames stored by both); `sentientiq-lake-compact` runs it.

/// `Debug` for a builder: its row count (Arrow's string builders are not `Debug`).
macro_rules! debug_rows {
    ($t:ident) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("rows", &self.rows)
                    .finish_non_exhaustive()
            }
        }
    };
}
pub(crate) use debug_rows;

pub mod actions;
pub mod alerts;
pub mod compact;
pub mod detections;
pub mod events;
pub mod file;
pub mod keyed;
pub mod keys;
pub mod pages;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "s3-server")]
pub mod s3_server;
pub mod sink;

pub use actions::{ActionRow, ActionsBuilder, actions_schema};
pub use alerts::{AlertRow, AlertsBuilder, DeliveryRow, alerts_schema};
pub use arrow_array::RecordBatch;
pub use detections::{DetectionMeta, DetectionRow, DetectionsBuilder, detections_schema};
pub use events::{EventsBuilder, RowMeta, SessionState, events_schema, write_parquet};
pub use file::FileBuilder;
pub use keys::{Partition, civil_date, compacted_key, hour_prefix, object_key};
pub use pages::SpillPages;
#[cfg(feature = "s3")]
pub use s3::{S3Options, S3Sink};
pub use sink::{
    LocalSink, Sink, SinkError, StageOnWrite, Staged, check_key, into_sink_error, make_dir,
    put_staged, sync_up,
};

/// A table's column builders.
pub trait TableBuilder {
    /// The table's name (the first key component).
    const TABLE: &'static str;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The rows so far as one record batch (the builders are reset).
    fn finish(&mut self) -> Result<arrow_array::RecordBatch, Error>;
    /// Gives a builder just finished room for `rows` rows in its fixed-width columns, so that
    /// a file that flushed once refills without growing them. The default does nothing.
    fn reserve(&mut self, _rows: usize) {}
}

/// A dictionary-encoded string column.
pub(crate) fn dict() -> arrow_schema::DataType {
    arrow_schema::DataType::Dictionary(
        Box::new(arrow_schema::DataType::Int32),
        Box::new(arrow_schema::DataType::Utf8),
    )
}

/// A UTC millisecond timestamp column.
pub(crate) fn ts() -> arrow_schema::DataType {
    arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, Some("UTC".into()))
}

/// A builder of a [`ts`] column with room for `rows` values (1 024 where Arrow's `new()` would
/// be used: its own default), its type the schema's own.
pub(crate) fn ts_builder(rows: usize) -> arrow_array::builder::TimestampMillisecondBuilder {
    arrow_array::builder::TimestampMillisecondBuilder::with_capacity(rows).with_data_type(ts())
}

/// Errors building or writing a lake file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The file's destination failed while the file was written to it.
    #[error(transparent)]
    Sink(#[from] SinkError),
}
