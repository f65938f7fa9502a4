//! The columnar lake: accepted frames (as the edge spooled them) become rows of the `events`
//! table, written as zstd Parquet files under Hive-style keys, to a local directory or S3.
//!
//! The table schemas are documented in `proto/LAKE.md` and pinned by a golden schema test. This
//! crate is synchronous and does no networking; the edge runs it on a shipper thread, off the
//! shards' reactors.

pub mod actions;
pub mod detections;
pub mod events;
pub mod keys;
pub mod sink;

pub use actions::{ActionRow, ActionsBuilder, actions_schema};
pub use detections::{DetectionMeta, DetectionRow, DetectionsBuilder, detections_schema};
pub use events::{EventsBuilder, RowMeta, SessionState, events_schema, write_parquet};
pub use keys::{Partition, civil_date, object_key};
pub use sink::{LocalSink, Sink, SinkError};

/// Errors building or writing a lake file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}
