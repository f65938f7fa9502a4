//! The SentientIQ tenant model: one spec ([`TenantSpec`]), one validator
//! ([`TenantSpec::validate`]) and the validated runtime [`Tenant`].
//!
//! Everything that configures a tenant goes through here: an edge's config file (TOML
//! `[[tenant]]` tables), the control plane before it stores a tenant, and the edge again when
//! the plane's tenant arrives over gRPC (`plane`, feature `grpc`). What one of them accepts,
//! the others accept; the id rules and the emotion vocabulary exist once
//! ([`valid_id`], [`sentientiq_core::Emotion::parse`]).
//!
//! Pure: no I/O, no environment, no clock.

mod model;
pub mod origin;
#[cfg(feature = "grpc")]
pub mod plane;
pub mod quota;
mod spec;

pub use model::{MAX_UID_BYTES, RuleExperiment, Tenant, VariantIv, check_account};
pub use quota::{Quota, QuotaState};
pub use spec::{
    AccountSpec, AlertsSpec, ContactSpec, Dnt, EscalateSpec, ExperimentSpec, InterveneSpec,
    LabelSpec, LakeSpec, LimitsSpec, MAX_ALERTS_TOML, RuleSpec, TenantSpec, ThresholdsSpec,
    VariantSpec,
};

/// Default per-session frame rate: an SDK flushing every 250 ms sends 4 frames/s plus the odd
/// `id`/`tr`; 50/s leaves room for bursts of custom events while stopping a runaway loop.
pub const DEFAULT_FRAMES_PER_SEC: u32 = 50;
/// Default burst: one full HTTP beacon (256 frames, PROTOCOL.md §7).
pub const DEFAULT_FRAME_BURST: u32 = 256;
/// The smallest `limits.max_frame_bytes` a tenant may set, in bytes. It refuses a limit written
/// in KiB where bytes are meant (`max_frame_bytes=128`), which would refuse nearly every frame;
/// it does not make every frame fit. An `id` frame whose uid and email are both at the
/// protocol's 2 KiB string cap (PROTOCOL.md §7) encodes to 4 131 bytes (`model`'s test
/// `an_identify_frame_at_the_string_caps_fits_the_frame_floor`) and fits with about as much
/// again for its traits; a `b` frame of the SDK's 512 samples with long strings can pass it
/// (the SDK drops a frame refused `too_big`).
pub const MIN_FRAME_BYTES: usize = 8 * 1024;
/// The smallest `limits.max_http_body_bytes`, in bytes: 64 KiB, the keepalive quota of the
/// Fetch standard (fetch.spec.whatwg.org, "inflight keepalive bytes") that bounds a
/// `navigator.sendBeacon` body. The SDK's page-hide beacons are up to 65 024 bytes but for a
/// lone larger frame, which goes alone (`sdk/js/src/pipe.js`, `bodies`); a lower limit would
/// answer them 413 when the page is gone and nothing can send them again.
pub const MIN_HTTP_BODY_BYTES: usize = 64 * 1024;
/// Default value from which a session is protected from shedding: the $100k accounts the
/// product promises to never lose.
pub const DEFAULT_HIGH_VALUE_CENTS: i64 = 10_000_000;
/// Default live sessions per tenant per shard. The write key is public (it is in every page), so
/// without a cap anyone could fill an edge with sessions (the fault matrix took one from 21 MB to
/// 143 MB with 20,000 beacon sessions in 12 s). 20,000 matches `max_connections_per_shard`; at
/// the ~33 KB a live session costs (bench/runs/2026-11-30-vm, ws-10k-noship) that is ~660 MB per
/// shard for one tenant at most. At the cap the lowest-value session goes first, high-value
/// never.
pub const DEFAULT_MAX_SESSIONS_PER_SHARD: usize = 20_000;
/// Longest id of a tenant, rule or contact.
pub const MAX_ID_LEN: usize = 64;
/// Longest tenant display name, bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Why a tenant was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("tenant `{tenant}`: {msg}")]
    Invalid { tenant: String, msg: String },
    #[error("tenant `{tenant}`: {source}")]
    Policy {
        tenant: String,
        source: sentientiq_core::ConfigError,
    },
}

/// Ids of tenants, rules and contacts: 1 to [`MAX_ID_LEN`] of `[a-z0-9_-]`.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// SHA-256 of a write key, as stored in `key_sha256` (keys themselves are never stored).
pub fn key_hash(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}
