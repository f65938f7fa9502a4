//! SentientIQ wire protocol v1 (`siq/1`), as specified in `PROTOCOL.md` beside this crate.
//!
//! - [`frame`]: typed frames and validated ids ([`Sid`], [`WriteKey`], [`Seq`]).
//! - [`decode_client`] / [`decode_client_into`] / [`decode_edge`] / [`decode_http_batch`]:
//!   bounded decoding; every allocation is bounded by [`Limits`] and the input's length.
//! - [`encode_client`] / [`encode_edge`] / [`http_batch_to_vec`]: smallest-int encodings.
//! - [`stream`]: the u32 length-prefix framing of QUIC streams ([`stream::Deframer`]).
//! - [`ErrorCode`]: the one mapping from errors to wire codes, HTTP statuses and WS close codes.
//! - feature `grpc`: the control-plane gRPC types generated from `sentientiq/v1/control.proto`.
//!
//! This crate does no I/O and reads no clock.

pub mod date;
mod decode;
mod encode;
pub mod error;
pub mod frame;
pub mod limits;
mod read;
mod show;
pub mod stream;

pub use date::{civil_date, days_from_civil, month_first_day, month_of_day};
pub use decode::{decode_client, decode_client_into, decode_edge, decode_http_batch};
pub use encode::{client_to_vec, edge_to_vec, encode_client, encode_edge, http_batch_to_vec};
pub use error::{DecodeError, ErrorCode};
pub use frame::{
    Batch, ClientFrame, Det, EdgeFrame, Err, Hello, HttpBatch, Identify, Iv, Outcome, OutcomeKind,
    Seq, Sid, StrTable, Track, Value, Welcome, WriteKey, kind,
};
pub use limits::Limits;
pub use show::{shown_name, shown_plain};

/// Control-plane gRPC messages and services (`sentientiq.v1`), compiled from
/// `sentientiq/v1/control.proto` without `protoc` (by `protox`).
#[cfg(feature = "grpc")]
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
pub mod grpc {
    tonic::include_proto!("sentientiq.v1");

    /// The encoded `FileDescriptorSet` of `control.proto`, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/control_descriptor.bin"));

    mod health;
    pub use health::{
        EDGE_NAME_RULE, MAX_BOOT_DIGITS, MAX_EDGE_NAME_LEN, MAX_HEALTH_TEXT, MAX_REFUSED_REPORTED,
        REPORT_ID_RULE, report_id, valid_edge_name, valid_report_id,
    };
}
