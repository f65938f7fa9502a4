//! The edge's configuration file: TOML, unknown keys refused, validated once into typed values.
//! Paths are relative to the working directory.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use sentientiq_core::{
    ConfigError, DntPolicy, Emotion, Rule, RuleAction, TenantPolicy, Thresholds,
};
use sentientiq_proto::{Limits, Value};
use serde::Deserialize;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("tenant `{tenant}`: {source}")]
    Policy { tenant: String, source: ConfigError },
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error::Invalid(msg.into()))
}

/// `name must be within a..=b` unless `v` is in `range`.
fn within<T: PartialOrd + std::fmt::Display>(
    name: &str,
    v: T,
    range: &std::ops::RangeInclusive<T>,
) -> Result<(), Error> {
    if range.contains(&v) {
        return Ok(());
    }
    invalid(format!(
        "{name} must be within {}..={}",
        range.start(),
        range.end()
    ))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub edge: EdgeSection,
    #[serde(default)]
    pub lake: LakeSection,
    #[serde(default)]
    pub control: ControlSection,
    #[serde(default)]
    pub quic: QuicSection,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<TenantSection>,
}

/// The control plane this edge follows (`[control]`). Without an endpoint the edge serves the
/// tenants of its file and reports nothing.
/// `[quic]`: QUIC ingest (ALPN `siq/1`) on a UDP port, one socket per shard.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuicSection {
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Default: the TCP listen address with the next port (7401 beside the default 7400).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Certificate chain and private key, PEM. Without them the edge uses a self-signed
    /// certificate kept in `data_dir/quic/` (made at first start) and prints its SHA-256.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Names the self-signed certificate is made for.
    #[serde(default = "d_quic_names")]
    pub self_signed_names: Vec<String>,
    #[serde(default = "d_quic_conns")]
    pub max_connections_per_shard: usize,
    /// Sessions (bidirectional streams) open at once on one connection. Each allowed stream
    /// costs memory on every connection, used or not (see `d_quic_streams`).
    #[serde(default = "d_quic_streams")]
    pub max_streams_per_connection: u32,
}

/// Bounds of `[quic]`'s limits (tested at both ends).
pub const QUIC_MAX_CONNECTIONS: std::ops::RangeInclusive<usize> = 1..=1_000_000;
pub const QUIC_MAX_STREAMS: std::ops::RangeInclusive<u32> = 1..=65_536;

impl Default for QuicSection {
    fn default() -> Self {
        QuicSection {
            enabled: true,
            listen: None,
            cert: None,
            key: None,
            self_signed_names: d_quic_names(),
            max_connections_per_shard: d_quic_conns(),
            max_streams_per_connection: d_quic_streams(),
        }
    }
}

impl QuicSection {
    /// The UDP address QUIC listens on.
    pub fn listen_addr(&self, edge: &EdgeSection) -> SocketAddr {
        self.listen.unwrap_or_else(|| {
            SocketAddr::new(edge.listen.ip(), edge.listen.port().wrapping_add(1))
        })
    }
}

fn d_true() -> bool {
    true
}
fn d_quic_names() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}
fn d_quic_conns() -> usize {
    20_000
}
/// quinn-proto keeps state for every stream a peer may open (two hash-map entries each, made
/// when the connection opens): at 1024 that was about 100 KB per connection, measured at 10k
/// connections (1.46 GB peak against 558 MB over WebSocket). 100, as HTTP/3 servers commonly
/// allow, covers a server-side SDK's concurrent sessions.
fn d_quic_streams() -> u32 {
    100
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// `http://host:port` or `https://host:port` of `sentientiq-control`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The plane's edge token (`SIQ_EDGE_TOKEN` in the environment overrides it).
    #[serde(default)]
    pub token: Option<String>,
    /// PEM CA certificate that signed the plane's TLS certificate (https endpoints).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// How often window aggregates are reported (the windows themselves are per minute).
    #[serde(default = "d_report")]
    pub report_interval_ms: u64,
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            endpoint: None,
            token: None,
            ca: None,
            report_interval_ms: d_report(),
        }
    }
}

fn d_report() -> u64 {
    60_000
}

/// Bounds of `report_interval_ms`: at least a second, at most a minute (the window size).
pub const REPORT_INTERVAL_MS: std::ops::RangeInclusive<u64> = 1_000..=60_000;

/// Where accepted frames are shipped as Parquet, and how much spool may wait for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSection {
    /// `local` (a directory) or `s3` (see `[lake.s3]`).
    #[serde(default = "d_lake_sink")]
    pub sink: String,
    /// The local sink's directory.
    #[serde(default = "d_lake_dir")]
    pub dir: PathBuf,
    /// Key prefix inside the sink.
    #[serde(default)]
    pub prefix: String,
    /// A spool segment is sealed (and shipped) at the latest this long after it was opened.
    #[serde(default = "d_lake_age")]
    pub max_age_s: u64,
    /// How often the shipper looks for sealed segments.
    #[serde(default = "d_lake_poll")]
    pub poll_ms: u64,
    /// Spool bytes per shard that may wait for shipping. Past 90 % of it, new frames from
    /// sessions below the tenant's high-value mark get `overloaded`; past 100 %, all do.
    /// Nothing already accepted is ever dropped.
    #[serde(default = "d_spool_max")]
    pub spool_max_bytes: u64,
    /// The S3 sink's destination (required when `sink = "s3"`).
    #[serde(default)]
    pub s3: Option<S3Section>,
}

/// An S3 (or S3-compatible) bucket. Credentials come from the standard AWS chain
/// (environment, profile files, web identity, ECS/EC2 metadata) unless both static keys are
/// given, which suits S3-compatible stores configured with fixed keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    pub bucket: String,
    #[serde(default = "d_s3_region")]
    pub region: String,
    /// e.g. `http://127.0.0.1:9000` for MinIO; absent for AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub path_style: bool,
    #[serde(default = "d_s3_threshold")]
    pub multipart_threshold_bytes: usize,
    #[serde(default = "d_s3_part")]
    pub part_bytes: usize,
    #[serde(default = "d_s3_attempts")]
    pub max_attempts: u32,
    #[serde(default = "d_s3_attempt_timeout")]
    pub attempt_timeout_ms: u64,
    #[serde(default = "d_s3_connect_timeout")]
    pub connect_timeout_ms: u64,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
}

fn d_s3_region() -> String {
    "us-east-1".into()
}
fn d_s3_threshold() -> usize {
    16 << 20
}
fn d_s3_part() -> usize {
    8 << 20
}
fn d_s3_attempts() -> u32 {
    4
}
fn d_s3_attempt_timeout() -> u64 {
    60_000
}
fn d_s3_connect_timeout() -> u64 {
    3_000
}

impl S3Section {
    /// The sink's options, checked.
    pub fn options(&self) -> Result<sentientiq_lake::S3Options, Error> {
        let static_keys = match (&self.access_key_id, &self.secret_access_key) {
            (Some(a), Some(s)) => Some((a.clone(), s.clone())),
            (None, None) => None,
            _ => {
                return invalid(
                    "lake.s3: access_key_id and secret_access_key go together (or neither, for the standard credential chain)",
                );
            }
        };
        let o = sentientiq_lake::S3Options {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            path_style: self.path_style,
            multipart_threshold_bytes: self.multipart_threshold_bytes,
            part_bytes: self.part_bytes,
            max_attempts: self.max_attempts,
            attempt_timeout: std::time::Duration::from_millis(self.attempt_timeout_ms),
            connect_timeout: std::time::Duration::from_millis(self.connect_timeout_ms),
            static_keys,
        };
        o.validate()
            .map_err(|e| Error::Invalid(format!("lake.s3: {e}")))?;
        Ok(o)
    }
}

/// A tenant's own lake destination: its bucket (S3 sink only) and/or key prefix.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TenantLakeSection {
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
}

impl Default for LakeSection {
    fn default() -> Self {
        LakeSection {
            sink: d_lake_sink(),
            dir: d_lake_dir(),
            prefix: String::new(),
            max_age_s: d_lake_age(),
            poll_ms: d_lake_poll(),
            spool_max_bytes: d_spool_max(),
            s3: None,
        }
    }
}

fn d_lake_sink() -> String {
    "local".into()
}
fn d_lake_dir() -> PathBuf {
    PathBuf::from("data/lake")
}
fn d_lake_age() -> u64 {
    60
}
fn d_lake_poll() -> u64 {
    1000
}
fn d_spool_max() -> u64 {
    1 << 30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSection {
    pub id: String,
    pub region: String,
    #[serde(default = "d_listen")]
    pub listen: SocketAddr,
    /// 0 = one shard per online core.
    #[serde(default)]
    pub shards: usize,
    #[serde(default = "d_backlog")]
    pub backlog: i32,
    #[serde(default = "d_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "d_commit")]
    pub commit_interval_ms: u64,
    #[serde(default = "d_max_conns")]
    pub max_connections_per_shard: usize,
    #[serde(default = "d_header_timeout")]
    pub header_timeout_ms: u64,
    #[serde(default = "d_idle_timeout")]
    pub idle_timeout_ms: u64,
    #[serde(default = "d_write_buffer")]
    pub write_buffer_bytes: usize,
    /// A WebSocket write that cannot complete within this (the client is not reading) drops
    /// the connection: a slow reader holds at most its bounded buffers, and not for long.
    #[serde(default = "d_write_timeout")]
    pub write_timeout_ms: u64,
    #[serde(default = "d_session_idle")]
    pub session_idle_ms: u64,
    #[serde(default = "d_segment")]
    pub spool_segment_bytes: u64,
    /// io_uring registered memory per shard. The machine's memlock limit (8 MiB here) bounds
    /// the sum over shards.
    #[serde(default = "d_io_memory")]
    pub io_memory_bytes: usize,
    /// Sessions that left memory (idle or shed) remembered per shard: their durable seq (so a
    /// late retry is re-acked, never stored twice) and their value (so a returning high-value
    /// session is recognised at `hello`). Oldest forgotten first.
    #[serde(default = "d_tombstones")]
    pub tombstones_per_shard: usize,
    /// Users whose stored value a shard keeps in memory, so a returning user's value is known
    /// the moment they identify (misses are read from RocksDB off the reactor).
    #[serde(default = "d_profile_cache")]
    pub profile_cache_per_shard: usize,
}

fn d_profile_cache() -> usize {
    100_000
}

fn d_write_timeout() -> u64 {
    10_000
}

fn d_tombstones() -> usize {
    100_000
}

fn d_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7400))
}
fn d_backlog() -> i32 {
    4096
}
fn d_data_dir() -> PathBuf {
    PathBuf::from("data/edge")
}
fn d_commit() -> u64 {
    2
}
fn d_max_conns() -> usize {
    20_000
}
fn d_header_timeout() -> u64 {
    5_000
}
fn d_idle_timeout() -> u64 {
    120_000
}
fn d_write_buffer() -> usize {
    64 * 1024
}
fn d_session_idle() -> u64 {
    30 * 60 * 1000
}
fn d_segment() -> u64 {
    64 * 1024 * 1024
}
fn d_io_memory() -> usize {
    512 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    pub id: String,
    /// SHA-256 (hex) of each publishable write key. Keys are never stored.
    #[serde(default)]
    pub key_sha256: Vec<String>,
    /// Origins allowed to send (exact `scheme://host[:port]`), or `*`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub emit: bool,
    #[serde(default = "d_flush")]
    pub flush_ms: u32,
    #[serde(default = "d_max_batch")]
    pub max_batch: u32,
    #[serde(default)]
    pub dnt: DntSection,
    #[serde(default)]
    pub thresholds: ThresholdsSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub hesitation_sections: Option<Vec<String>>,
    #[serde(default)]
    pub checkout_markers: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Vec<LabelSection>,
    #[serde(default)]
    pub rules: Vec<RuleSection>,
    /// Bootstrap account directory (the control plane pushes it later).
    #[serde(default)]
    pub accounts: Vec<AccountSection>,
    /// Sessions whose lifetime value is at least this are never shed when a shard is at its
    /// session limit; lower-value sessions are shed first, lowest first.
    #[serde(default = "d_high_value")]
    pub high_value_cents: i64,
    /// The tenant's own lake bucket and/or prefix (default: the edge's `[lake]`).
    #[serde(default)]
    pub lake: TenantLakeSection,
}

fn d_high_value() -> i64 {
    DEFAULT_HIGH_VALUE_CENTS
}

fn d_flush() -> u32 {
    250
}
fn d_max_batch() -> u32 {
    512
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DntSection {
    #[default]
    Anonymous,
    Drop,
}

/// Optional overrides of the core's detection thresholds (see docs/CALIBRATION.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsSection {
    pub rage_clicks: Option<u32>,
    pub rage_gap_ms: Option<u32>,
    pub rage_radius_px: Option<f64>,
    pub dead_clicks: Option<u32>,
    pub dead_window_ms: Option<u32>,
    pub error_click_ms: Option<u32>,
    pub thrash_reversals: Option<u32>,
    pub thrash_window_ms: Option<u32>,
    pub scroll_reversals: Option<u32>,
    pub scroll_window_ms: Option<u32>,
    pub hesitation_returns: Option<u32>,
    pub escalation_confidence: Option<f64>,
    pub refractory_ms: Option<u32>,
    /// Confusion: the |x acceleration| a reversal needs, px/ms².
    pub thrash_min_accel: Option<f64>,
    /// Hesitation: how long the pointer must dwell (stay below the stop speed) to count, ms.
    pub stop_ms: Option<u32>,
}

/// Optional tightening of the protocol limits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_frame_bytes: Option<usize>,
    pub max_http_body_bytes: Option<usize>,
    pub max_samples: Option<usize>,
    pub max_sessions_per_shard: Option<usize>,
    /// Sustained frames per second one session may send (token bucket refill).
    pub frames_per_sec: Option<u32>,
    /// Frames one session may send at once (token bucket size; at least the HTTP batch cap so
    /// a page-unload beacon fits).
    pub frame_burst: Option<u32>,
}

/// Default per-session frame rate: an SDK flushing every 250 ms sends 4 frames/s plus the odd
/// `id`/`tr`; 50/s leaves room for bursts of custom events while stopping a runaway loop.
pub const DEFAULT_FRAMES_PER_SEC: u32 = 50;
/// Default burst: one full HTTP beacon (256 frames, PROTOCOL.md §7).
pub const DEFAULT_FRAME_BURST: u32 = 256;
/// Default value from which a session is protected from shedding: the $100k accounts the
/// product promises to never lose.
pub const DEFAULT_HIGH_VALUE_CENTS: i64 = 10_000_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSection {
    pub emotion: String,
    pub section: String,
    pub label: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    pub id: String,
    #[serde(default)]
    pub emotions: Vec<String>,
    #[serde(default)]
    pub min_confidence: f64,
    #[serde(default)]
    pub sections: Vec<String>,
    #[serde(default)]
    pub require_identified: bool,
    #[serde(default)]
    pub min_value_cents: i64,
    pub intervene: Option<InterveneSection>,
    pub escalate: Option<EscalateSection>,
    #[serde(default)]
    pub session_cooldown_s: u64,
    #[serde(default)]
    pub account_cooldown_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterveneSection {
    pub kind: String,
    #[serde(default = "d_variant")]
    pub variant: String,
    #[serde(default)]
    pub payload: Option<toml::Value>,
}

fn d_variant() -> String {
    "default".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalateSection {
    pub contacts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSection {
    /// A user id, or an email domain written `@example.com`.
    #[serde(rename = "match")]
    pub matches: String,
    pub company: Option<String>,
    #[serde(default)]
    pub value_cents: i64,
    pub tier: Option<String>,
}

/// A validated tenant, as the shards use it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: Arc<str>,
    pub key_hashes: Vec<[u8; 32]>,
    pub allowed_origins: Vec<String>,
    pub emit: bool,
    pub flush_ms: u32,
    pub max_batch: u32,
    pub policy: TenantPolicy,
    pub limits: Limits,
    pub max_sessions_per_shard: usize,
    pub frames_per_sec: u32,
    pub frame_burst: u32,
    pub high_value_cents: i64,
    pub accounts: Vec<AccountSection>,
    pub lake: TenantLakeSection,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub edge: EdgeSection,
    pub lake: LakeSection,
    pub control: ControlSection,
    pub quic: QuicSection,
    pub tenants: Vec<Tenant>,
}

impl Config {
    pub fn load(path: &std::path::Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Config, Error> {
        let file: File = toml::from_str(text)?;
        let e = &file.edge;
        if e.id.is_empty() || e.region.is_empty() {
            return invalid("edge.id and edge.region must not be empty");
        }
        if !(1..=1000).contains(&e.commit_interval_ms) {
            return invalid("edge.commit_interval_ms must be within 1..=1000");
        }
        if e.backlog < 1 {
            return invalid("edge.backlog must be positive");
        }
        if e.io_memory_bytes < 64 * 1024 {
            return invalid("edge.io_memory_bytes must be at least 64 KiB");
        }
        if e.write_timeout_ms == 0 {
            return invalid("edge.write_timeout_ms must be positive");
        }
        let mut seen = HashSet::new();
        let mut tenants = Vec::new();
        for t in &file.tenants {
            if !seen.insert(t.id.clone()) {
                return invalid(format!("tenant `{}` is defined twice", t.id));
            }
            tenants.push(tenant(t)?);
        }
        let mut keys = HashSet::new();
        for t in &tenants {
            for k in &t.key_hashes {
                if !keys.insert(*k) {
                    return invalid(format!(
                        "a write key of tenant `{}` belongs to two tenants",
                        t.id
                    ));
                }
            }
        }
        let l = &file.lake;
        match (l.sink.as_str(), &l.s3) {
            ("local", _) => {
                if let Some(t) = tenants.iter().find(|t| t.lake.bucket.is_some()) {
                    return invalid(format!(
                        "tenant `{}`: lake.bucket needs lake.sink = \"s3\"",
                        t.id
                    ));
                }
            }
            ("s3", Some(s3)) => {
                s3.options()?;
                for t in &tenants {
                    if let Some(b) = &t.lake.bucket
                        && !sentientiq_lake::s3::valid_bucket(b)
                    {
                        return invalid(format!(
                            "tenant `{}`: lake.bucket `{b}` is not a valid S3 bucket name",
                            t.id
                        ));
                    }
                }
            }
            ("s3", None) => return invalid("lake.sink = \"s3\" needs a [lake.s3] section"),
            (other, _) => {
                return invalid(format!(
                    "lake.sink `{other}` is unknown (use \"local\" or \"s3\")"
                ));
            }
        }
        if l.max_age_s == 0 || l.poll_ms == 0 || l.spool_max_bytes < 1 << 20 {
            return invalid(
                "lake.max_age_s and lake.poll_ms must be positive, lake.spool_max_bytes at least 1 MiB",
            );
        }
        let mut control = file.control;
        if let Some(ep) = &control.endpoint
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            return invalid(format!(
                "control.endpoint `{ep}` must start with http:// or https://"
            ));
        }
        within(
            "control.report_interval_ms",
            control.report_interval_ms,
            &REPORT_INTERVAL_MS,
        )?;
        if let Ok(t) = std::env::var("SIQ_EDGE_TOKEN")
            && !t.is_empty()
        {
            control.token = Some(t);
        }
        if control.endpoint.is_some() && control.token.as_deref().is_none_or(str::is_empty) {
            return invalid("control.endpoint needs control.token (or SIQ_EDGE_TOKEN)");
        }
        let q = &file.quic;
        if q.cert.is_some() != q.key.is_some() {
            return invalid("quic.cert and quic.key go together (or neither: self-signed)");
        }
        within(
            "quic.max_connections_per_shard",
            q.max_connections_per_shard,
            &QUIC_MAX_CONNECTIONS,
        )?;
        within(
            "quic.max_streams_per_connection",
            q.max_streams_per_connection,
            &QUIC_MAX_STREAMS,
        )?;
        if q.enabled && q.listen_addr(&file.edge).port() == 0 {
            return invalid("quic.listen needs a port");
        }
        if q.enabled && q.self_signed_names.is_empty() && q.cert.is_none() {
            return invalid("quic.self_signed_names must name at least one host");
        }
        Ok(Config {
            edge: file.edge,
            lake: file.lake,
            control,
            quic: file.quic,
            tenants,
        })
    }
}

fn emotion(s: &str, tenant: &str) -> Result<Emotion, Error> {
    Emotion::parse(s).ok_or_else(|| {
        Error::Invalid(format!(
            "tenant `{tenant}`: unknown emotion `{s}` (rage, frustration, hesitation, confusion, abandonment)"
        ))
    })
}

fn tenant(t: &TenantSection) -> Result<Tenant, Error> {
    if t.id.is_empty()
        || !t
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return invalid(format!("tenant id `{}` must be [A-Za-z0-9_-]+", t.id));
    }
    let mut key_hashes = Vec::new();
    for h in &t.key_sha256 {
        let mut k = [0u8; 32];
        hex::decode_to_slice(h, &mut k).map_err(|_| {
            Error::Invalid(format!(
                "tenant `{}`: key_sha256 entries are 64 hex digits",
                t.id
            ))
        })?;
        key_hashes.push(k);
    }
    for o in &t.allowed_origins {
        if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
            return invalid(format!(
                "tenant `{}`: origin `{o}` must be `*` or scheme://host[:port]",
                t.id
            ));
        }
    }
    let d = Thresholds::default();
    let o = &t.thresholds;
    let thresholds = Thresholds {
        rage_clicks: o.rage_clicks.unwrap_or(d.rage_clicks),
        rage_gap_ms: o.rage_gap_ms.unwrap_or(d.rage_gap_ms),
        rage_radius_px: o.rage_radius_px.unwrap_or(d.rage_radius_px),
        dead_clicks: o.dead_clicks.unwrap_or(d.dead_clicks),
        dead_window_ms: o.dead_window_ms.unwrap_or(d.dead_window_ms),
        error_click_ms: o.error_click_ms.unwrap_or(d.error_click_ms),
        thrash_reversals: o.thrash_reversals.unwrap_or(d.thrash_reversals),
        thrash_window_ms: o.thrash_window_ms.unwrap_or(d.thrash_window_ms),
        scroll_reversals: o.scroll_reversals.unwrap_or(d.scroll_reversals),
        scroll_window_ms: o.scroll_window_ms.unwrap_or(d.scroll_window_ms),
        hesitation_returns: o.hesitation_returns.unwrap_or(d.hesitation_returns),
        escalation_confidence: o.escalation_confidence.unwrap_or(d.escalation_confidence),
        refractory_ms: o.refractory_ms.unwrap_or(d.refractory_ms),
        thrash_min_accel: o.thrash_min_accel.unwrap_or(d.thrash_min_accel),
        stop_ms: o.stop_ms.unwrap_or(d.stop_ms),
        ..d
    };
    let mut labels = Vec::new();
    for l in &t.labels {
        labels.push((
            emotion(&l.emotion, &t.id)?,
            Arc::from(l.section.as_str()),
            Arc::from(l.label.as_str()),
        ));
    }
    let mut rules = Vec::new();
    for r in &t.rules {
        let action = match (&r.intervene, &r.escalate) {
            (Some(i), None) => RuleAction::Intervene {
                kind: Arc::from(i.kind.as_str()),
                variant: Arc::from(i.variant.as_str()),
                payload: Arc::new(i.payload.as_ref().map_or(Value::Nil, toml_value)),
            },
            (None, Some(e)) => RuleAction::Escalate {
                contacts: e.contacts.iter().map(|c| Arc::from(c.as_str())).collect(),
            },
            _ => {
                return invalid(format!(
                    "tenant `{}`, rule `{}`: exactly one of `intervene` or `escalate`",
                    t.id, r.id
                ));
            }
        };
        rules.push(Rule {
            id: Arc::from(r.id.as_str()),
            emotions: r
                .emotions
                .iter()
                .map(|e| emotion(e, &t.id))
                .collect::<Result<_, _>>()?,
            min_confidence: r.min_confidence,
            sections: r.sections.iter().map(|s| Arc::from(s.as_str())).collect(),
            require_identified: r.require_identified,
            min_value_cents: r.min_value_cents,
            action,
            session_cooldown_ms: r.session_cooldown_s * 1000,
            account_cooldown_ms: r.account_cooldown_s * 1000,
        });
    }
    let dflt = TenantPolicy::default();
    let policy = TenantPolicy {
        thresholds,
        labels,
        rules,
        hesitation_sections: t
            .hesitation_sections
            .as_ref()
            .map_or(dflt.hesitation_sections, |v| {
                v.iter().map(|s| Arc::from(s.as_str())).collect()
            }),
        checkout_markers: t
            .checkout_markers
            .as_ref()
            .map_or(dflt.checkout_markers, |v| {
                v.iter().map(|s| Arc::from(s.as_str())).collect()
            }),
        dnt: match t.dnt {
            DntSection::Anonymous => DntPolicy::Anonymous,
            DntSection::Drop => DntPolicy::Drop,
        },
    };
    policy.validate().map_err(|source| Error::Policy {
        tenant: t.id.clone(),
        source,
    })?;
    let l = &t.limits;
    let d = Limits::DEFAULT;
    let limits = Limits::DEFAULT.tightened(&Limits {
        max_frame_bytes: l.max_frame_bytes.unwrap_or(d.max_frame_bytes),
        max_http_body_bytes: l.max_http_body_bytes.unwrap_or(d.max_http_body_bytes),
        max_samples: l.max_samples.unwrap_or(d.max_samples),
        ..d
    });
    let frames_per_sec = l.frames_per_sec.unwrap_or(DEFAULT_FRAMES_PER_SEC);
    let frame_burst = l.frame_burst.unwrap_or(DEFAULT_FRAME_BURST);
    if frames_per_sec == 0 || frame_burst == 0 {
        return invalid(format!(
            "tenant `{}`: limits.frames_per_sec and limits.frame_burst must be positive",
            t.id
        ));
    }
    if t.high_value_cents < 0 {
        return invalid(format!(
            "tenant `{}`: high_value_cents must not be negative",
            t.id
        ));
    }
    if t.flush_ms == 0 || t.max_batch == 0 || t.max_batch as usize > limits.max_samples {
        return invalid(format!(
            "tenant `{}`: flush_ms must be positive and max_batch within 1..=max_samples",
            t.id
        ));
    }
    Ok(Tenant {
        id: Arc::from(t.id.as_str()),
        key_hashes,
        allowed_origins: t.allowed_origins.clone(),
        emit: t.emit,
        flush_ms: t.flush_ms,
        max_batch: t.max_batch,
        policy,
        limits,
        max_sessions_per_shard: l.max_sessions_per_shard.unwrap_or(usize::MAX),
        frames_per_sec,
        frame_burst,
        high_value_cents: t.high_value_cents,
        accounts: t.accounts.clone(),
        lake: t.lake.clone(),
    })
}

/// A TOML payload as a protocol value.
fn toml_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::Str(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_value).collect()),
        toml::Value::Table(t) => {
            Value::Map(t.iter().map(|(k, v)| (k.clone(), toml_value(v))).collect())
        }
    }
}

/// SHA-256 of a key, as stored in `key_sha256`.
pub fn key_hash(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// A tenant as the control plane sends it, validated as the file's tenants are. Settings the
/// plane does not carry (flush interval, batch size, hesitation sections, checkout markers, the
/// high-value mark, the finer thresholds) take the same defaults as in a file. Names that differ:
/// `thrash_min_accel_px_per_ms2` is `thrash_min_accel`, `hesitation_dwell_ms` is `stop_ms`, and
/// `limits.max_sessions` is per shard, as `limits.max_sessions_per_shard` in a file.
pub fn tenant_from_plane(t: &sentientiq_proto::grpc::Tenant) -> Result<Tenant, Error> {
    use sentientiq_proto::grpc::{DntPolicy, rule::Action};
    let th = t.thresholds.unwrap_or_default();
    let lim = t.limits.unwrap_or_default();
    let mut rules = Vec::with_capacity(t.rules.len());
    for r in &t.rules {
        let (intervene, escalate) = match &r.action {
            Some(Action::Intervention(i)) => {
                let payload = if i.payload_json.trim().is_empty() {
                    None
                } else {
                    Some(
                        serde_json::from_str::<toml::Value>(&i.payload_json).map_err(|e| {
                            Error::Invalid(format!(
                                "tenant `{}`, rule `{}`: payload_json: {e}",
                                t.id, r.id
                            ))
                        })?,
                    )
                };
                let variant = if i.variant.is_empty() {
                    d_variant()
                } else {
                    i.variant.clone()
                };
                (
                    Some(InterveneSection {
                        kind: i.kind.clone(),
                        variant,
                        payload,
                    }),
                    None,
                )
            }
            Some(Action::Escalation(e)) => (
                None,
                Some(EscalateSection {
                    contacts: e.contact_ids.clone(),
                }),
            ),
            None => (None, None),
        };
        rules.push(RuleSection {
            id: r.id.clone(),
            emotions: r.emotions.clone(),
            min_confidence: r.min_confidence,
            sections: r.sections.clone(),
            require_identified: r.require_identified,
            min_value_cents: r.min_value_cents,
            intervene,
            escalate,
            session_cooldown_s: u64::from(r.session_cooldown_s),
            account_cooldown_s: u64::from(r.account_cooldown_s),
        });
    }
    let lake = t.lake.clone().unwrap_or_default();
    let section = TenantSection {
        id: t.id.clone(),
        key_sha256: t.key_hashes.clone(),
        allowed_origins: t.allowed_origins.clone(),
        emit: t.emit,
        flush_ms: d_flush(),
        max_batch: d_max_batch(),
        dnt: if t.dnt == DntPolicy::Drop as i32 {
            DntSection::Drop
        } else {
            DntSection::Anonymous
        },
        thresholds: ThresholdsSection {
            rage_clicks: th.rage_clicks,
            rage_gap_ms: th.rage_gap_ms,
            rage_radius_px: th.rage_radius_px.map(f64::from),
            dead_clicks: th.dead_clicks,
            dead_window_ms: th.dead_window_ms,
            thrash_reversals: th.thrash_reversals,
            thrash_window_ms: th.thrash_window_ms,
            escalation_confidence: th.escalation_confidence,
            thrash_min_accel: th.thrash_min_accel_px_per_ms2,
            stop_ms: th.hesitation_dwell_ms,
            ..ThresholdsSection::default()
        },
        limits: LimitsSection {
            max_frame_bytes: lim.max_frame_bytes.map(|v| v as usize),
            max_samples: lim.max_samples.map(|v| v as usize),
            max_sessions_per_shard: lim.max_sessions.map(|v| v as usize),
            ..LimitsSection::default()
        },
        hesitation_sections: None,
        checkout_markers: None,
        labels: t
            .labels
            .iter()
            .map(|l| LabelSection {
                emotion: l.emotion.clone(),
                section: l.section.clone(),
                label: l.label.clone(),
            })
            .collect(),
        rules,
        accounts: Vec::new(),
        high_value_cents: d_high_value(),
        lake: TenantLakeSection {
            bucket: Some(lake.bucket).filter(|b| !b.is_empty()),
            prefix: Some(lake.prefix).filter(|p| !p.is_empty()),
        },
    };
    tenant(&section)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::Tenants;

    const EXAMPLE: &str = include_str!("../../../deploy/edge.example.toml");

    /// The example with a `[control]` section made of `lines`.
    fn with_control(lines: &str) -> Result<Config, Error> {
        let (head, tenants) = EXAMPLE.split_once("[[tenant]]").expect("a tenant");
        Config::parse(&format!("{head}\n[control]\n{lines}\n[[tenant]]{tenants}"))
    }

    #[test]
    fn control_needs_an_http_endpoint_a_token_and_a_report_interval_within_bounds() {
        // SIQ_EDGE_TOKEN would override the file's token; these cases give it in the file.
        let ok = |l: &str| with_control(l).map(|c| c.control);
        let ep = "endpoint = \"http://127.0.0.1:7500\"\ntoken = \"edge-token-0123456789\"";
        for ms in [1_000, 60_000] {
            let c = ok(&format!("{ep}\nreport_interval_ms = {ms}")).expect("within bounds");
            assert_eq!(c.report_interval_ms, ms);
        }
        for ms in [999, 60_001] {
            let e = ok(&format!("{ep}\nreport_interval_ms = {ms}")).expect_err("out of bounds");
            assert!(e.to_string().contains("report_interval_ms"), "{e}");
        }
        assert_eq!(ok(ep).expect("default").report_interval_ms, 60_000);
        if std::env::var_os("SIQ_EDGE_TOKEN").is_none() {
            let e = ok("endpoint = \"http://127.0.0.1:7500\"").expect_err("no token");
            assert!(e.to_string().contains("token"), "{e}");
        }
        let e = ok("endpoint = \"127.0.0.1:7500\"\ntoken = \"t\"").expect_err("no scheme");
        assert!(e.to_string().contains("http://"), "{e}");
        // Without an endpoint nothing is followed, and nothing else is required.
        assert_eq!(ok("").expect("empty section").endpoint, None);
    }

    #[test]
    fn a_plane_tenant_maps_onto_the_same_settings_as_a_file_tenant() {
        use sentientiq_proto::grpc::{self, rule::Action};
        let mut t = grpc::Tenant {
            id: "acme".into(),
            key_hashes: vec!["ab".repeat(32)],
            allowed_origins: vec!["https://acme.example".into()],
            thresholds: Some(grpc::Thresholds {
                rage_clicks: Some(7),
                hesitation_dwell_ms: Some(900),
                thrash_min_accel_px_per_ms2: Some(0.02),
                ..grpc::Thresholds::default()
            }),
            limits: Some(grpc::Limits {
                max_sessions: Some(5),
                ..grpc::Limits::default()
            }),
            dnt: grpc::DntPolicy::Drop as i32,
            emit: true,
            ..grpc::Tenant::default()
        };
        t.rules.push(grpc::Rule {
            id: "help".into(),
            emotions: vec!["rage".into()],
            action: Some(Action::Intervention(grpc::Intervention {
                kind: "chat".into(),
                variant: String::new(),
                payload_json: r#"{"text":"Need help?"}"#.into(),
            })),
            ..grpc::Rule::default()
        });
        let e = tenant_from_plane(&t).expect("valid");
        let th = &e.policy.thresholds;
        assert_eq!((th.rage_clicks, th.stop_ms), (7, 900));
        assert_eq!(th.thrash_min_accel, 0.02);
        assert_eq!(
            th.rage_gap_ms,
            Thresholds::default().rage_gap_ms,
            "unset: default"
        );
        assert_eq!(e.max_sessions_per_shard, 5);
        assert_eq!(e.policy.dnt, DntPolicy::Drop);
        assert!(e.emit);
        assert_eq!(e.key_hashes, vec![[0xab; 32]]);
        match &e.policy.rules[0].action {
            RuleAction::Intervene {
                variant, payload, ..
            } => {
                assert_eq!(&**variant, "default");
                assert!(matches!(&**payload, Value::Map(_)), "{payload:?}");
            }
            other => panic!("{other:?}"),
        }
        // What a file would refuse, the plane's tenant is refused for too.
        t.rules[0].action = Some(Action::Intervention(grpc::Intervention {
            kind: "chat".into(),
            variant: "a".into(),
            payload_json: "{not json".into(),
        }));
        assert!(tenant_from_plane(&t).is_err());
        t.rules.clear();
        t.thresholds = Some(grpc::Thresholds {
            rage_clicks: Some(0),
            ..grpc::Thresholds::default()
        });
        assert!(tenant_from_plane(&t).is_err(), "rage_clicks = 0");
    }

    #[test]
    fn the_example_parses_validates_and_holds_the_demo_tenant() {
        let c = Config::parse(EXAMPLE).expect("the example is valid");
        assert_eq!(c.edge.listen, "127.0.0.1:7400".parse().expect("addr"));
        assert_eq!(c.edge.commit_interval_ms, 2);
        assert!(
            c.edge.data_dir.is_relative(),
            "paths are relative to the working directory"
        );
        let t = Tenants::new(c.tenants);
        let key =
            sentientiq_proto::WriteKey::parse("siq_pk_demo_00000000000000000000").expect("key");
        let i = t
            .by_key(&key)
            .expect("the documented demo key maps to a tenant");
        let demo = t.get(i);
        assert_eq!(&*demo.id, "demo");
        assert!(demo.emit);
        assert!(demo.policy.rules.iter().any(|r| {
            r.require_identified
                && r.emotions == vec![Emotion::Rage]
                && matches!(r.action, RuleAction::Intervene { .. })
        }));
        assert_eq!(
            demo.policy
                .label(Emotion::Hesitation, Some("pricing"))
                .map(|s| &**s),
            Some("price_anxiety")
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let bad = EXAMPLE.replace(
            "commit_interval_ms = 2",
            "commit_interval_ms = 2\ncomit_interval = 3",
        );
        let e = Config::parse(&bad).expect_err("typo refused");
        assert!(e.to_string().contains("comit_interval"), "{e}");
    }

    #[test]
    fn defaults_claimed_by_the_example_match_the_code() {
        // The example writes out every default it documents; they must be the code's.
        let minimal = "[edge]\nid = \"e\"\nregion = \"r\"\n";
        let m = Config::parse(minimal).expect("minimal");
        let ex = Config::parse(EXAMPLE).expect("example");
        let (a, b) = (&m.edge, &ex.edge);
        assert_eq!(
            (
                a.listen,
                a.shards,
                a.backlog,
                &a.data_dir,
                a.commit_interval_ms,
                a.max_connections_per_shard
            ),
            (
                b.listen,
                b.shards,
                b.backlog,
                &b.data_dir,
                b.commit_interval_ms,
                b.max_connections_per_shard
            )
        );
        assert_eq!(
            (
                a.header_timeout_ms,
                a.idle_timeout_ms,
                a.write_buffer_bytes,
                a.session_idle_ms,
                a.spool_segment_bytes,
                a.io_memory_bytes
            ),
            (
                b.header_timeout_ms,
                b.idle_timeout_ms,
                b.write_buffer_bytes,
                b.session_idle_ms,
                b.spool_segment_bytes,
                b.io_memory_bytes
            )
        );
        assert_eq!(
            (a.write_timeout_ms, a.tombstones_per_shard),
            (b.write_timeout_ms, b.tombstones_per_shard)
        );
        let (a, b) = (&m.lake, &ex.lake);
        assert_eq!(
            (
                &a.sink,
                &a.dir,
                &a.prefix,
                a.max_age_s,
                a.poll_ms,
                a.spool_max_bytes
            ),
            (
                &b.sink,
                &b.dir,
                &b.prefix,
                b.max_age_s,
                b.poll_ms,
                b.spool_max_bytes
            )
        );
        assert_eq!(
            ex.tenants[0].high_value_cents,
            super::DEFAULT_HIGH_VALUE_CENTS
        );
        let (a, b) = (&m.quic, &ex.quic);
        assert_eq!(
            (
                a.enabled,
                a.listen_addr(&m.edge),
                &a.cert,
                &a.key,
                &a.self_signed_names,
                a.max_connections_per_shard,
                a.max_streams_per_connection
            ),
            (
                b.enabled,
                b.listen_addr(&ex.edge),
                &b.cert,
                &b.key,
                &b.self_signed_names,
                b.max_connections_per_shard,
                b.max_streams_per_connection
            )
        );
        assert_eq!(
            a.listen_addr(&m.edge),
            "127.0.0.1:7401".parse().expect("addr")
        );
    }

    #[test]
    fn quic_limits_are_checked_at_both_ends_and_cert_and_key_go_together() {
        let with = |q: &str| {
            Config::parse(&format!(
                "[edge]\nid = \"e\"\nregion = \"r\"\n[quic]\n{q}\n"
            ))
        };
        for (line, ok) in [
            ("max_connections_per_shard = 0", false),
            ("max_connections_per_shard = 1", true),
            ("max_connections_per_shard = 1000000", true),
            ("max_connections_per_shard = 1000001", false),
            ("max_streams_per_connection = 0", false),
            ("max_streams_per_connection = 1", true),
            ("max_streams_per_connection = 65536", true),
            ("max_streams_per_connection = 65537", false),
            ("cert = \"c.pem\"", false),
            ("key = \"k.pem\"", false),
            ("cert = \"c.pem\"\nkey = \"k.pem\"", true),
            ("listen = \"127.0.0.1:0\"", false),
            ("self_signed_names = []", false),
            ("enabled = false\nself_signed_names = []", true),
            ("listen = \"127.0.0.1:9999\"", true),
        ] {
            assert_eq!(with(line).is_ok(), ok, "{line}: {:?}", with(line).err());
        }
        let c = with("listen = \"127.0.0.1:9999\"").expect("valid");
        assert_eq!(c.quic.listen_addr(&c.edge).port(), 9999);
    }

    /// The example with its commented `[lake.s3]` block and tenant `lake` line switched on.
    fn example_s3() -> String {
        let mut out = String::new();
        let mut in_s3 = false;
        for line in EXAMPLE.lines() {
            if line == "#[lake.s3]" {
                in_s3 = true;
            }
            let on = in_s3 && line.starts_with('#') || line.starts_with("#lake = ");
            if in_s3 && line.is_empty() {
                in_s3 = false;
            }
            out.push_str(if on { &line[1..] } else { line });
            out.push('\n');
        }
        out.replacen("sink = \"local\"", "sink = \"s3\"", 1)
    }

    #[test]
    fn the_s3_example_parses_with_the_documented_defaults() {
        let c = Config::parse(&example_s3()).expect("s3 example");
        let s3 = c.lake.s3.as_ref().expect("[lake.s3]");
        let o = s3.options().expect("options");
        let d = sentientiq_lake::S3Options::default();
        assert_eq!(
            (
                o.region.as_str(),
                o.multipart_threshold_bytes,
                o.part_bytes,
                o.max_attempts,
                o.attempt_timeout,
                o.connect_timeout
            ),
            (
                d.region.as_str(),
                d.multipart_threshold_bytes,
                d.part_bytes,
                d.max_attempts,
                d.attempt_timeout,
                d.connect_timeout
            )
        );
        // Fields left out take the same defaults.
        let min = Config::parse(&EXAMPLE.replacen(
            "sink = \"local\"",
            "sink = \"s3\"\ns3 = { bucket = \"b-1\" }",
            1,
        ))
        .expect("minimal");
        let m = min.lake.s3.expect("s3").options().expect("options");
        assert_eq!(m.part_bytes, d.part_bytes);
        assert_eq!(m.static_keys, None);
        assert_eq!(c.tenants[0].lake.bucket.as_deref(), Some("acme-siq"));
        assert_eq!(c.tenants[0].lake.prefix.as_deref(), Some("siq"));
    }

    #[test]
    fn s3_limits_are_checked_at_the_edges() {
        let s3 = example_s3();
        let bad = |from: &str, to: &str| {
            Config::parse(&s3.replacen(from, to, 1))
                .expect_err(to)
                .to_string()
        };
        let ok = |from: &str, to: &str| {
            Config::parse(&s3.replacen(from, to, 1)).expect(to);
        };
        // part_bytes: S3's 5 MiB minimum − 1 refused, the minimum and + 1 accepted (with a
        // threshold not below it).
        let part = "part_bytes = 8388608";
        assert!(bad(part, "part_bytes = 5242879").contains("part_bytes"));
        ok(part, "part_bytes = 5242880");
        ok(part, "part_bytes = 5242881");
        assert!(
            bad(
                "multipart_threshold_bytes = 16777216",
                "multipart_threshold_bytes = 8388607"
            )
            .contains("multipart_threshold_bytes")
        );
        ok(
            "multipart_threshold_bytes = 16777216",
            "multipart_threshold_bytes = 8388608",
        );
        let at = "max_attempts = 4";
        assert!(bad(at, "max_attempts = 0").contains("max_attempts"));
        ok(at, "max_attempts = 1");
        ok(at, "max_attempts = 10");
        assert!(bad(at, "max_attempts = 11").contains("max_attempts"));
        assert!(bad("bucket = \"my-siq-lake\"", "bucket = \"My_Lake\"").contains("bucket"));
        assert!(bad("endpoint = \"http://", "endpoint = \"ftp://").contains("endpoint"));
        assert!(
            bad(
                "connect_timeout_ms = 3000",
                "connect_timeout_ms = 3000\naccess_key_id = \"AKIA\""
            )
            .contains("secret_access_key")
        );
        ok(
            "connect_timeout_ms = 3000",
            "connect_timeout_ms = 3000\naccess_key_id = \"AKIA\"\nsecret_access_key = \"s\"",
        );
        assert!(bad("bucket = \"acme-siq\"", "bucket = \"Acme\"").contains("tenant `demo`"));
        // A tenant bucket needs the S3 sink.
        let local = EXAMPLE.replacen("#lake = { bucket", "lake = { bucket", 1);
        let e = Config::parse(&local)
            .expect_err("bucket on local")
            .to_string();
        assert!(e.contains("needs lake.sink"), "{e}");
        // A prefix alone is fine with the local sink.
        Config::parse(&EXAMPLE.replacen("#lake = ", "lake = { prefix = \"p\" }\n#", 1))
            .expect("prefix on local");
    }

    #[test]
    fn invalid_values_are_named() {
        for (from, to, needle) in [
            (
                "commit_interval_ms = 2",
                "commit_interval_ms = 0",
                "commit_interval_ms",
            ),
            (
                "emotions = [\"rage\"]",
                "emotions = [\"anger\"]",
                "unknown emotion",
            ),
            (
                "allowed_origins = [\"*\"]",
                "allowed_origins = [\"shop.example\"]",
                "origin",
            ),
            ("max_batch = 512", "max_batch = 5000", "max_batch"),
            (
                "sink = \"local\"",
                "sink = \"s3\"",
                "needs a [lake.s3] section",
            ),
            ("sink = \"local\"", "sink = \"gcs\"", "unknown"),
            ("max_age_s = 60", "max_age_s = 0", "max_age_s"),
            ("poll_ms = 1000", "poll_ms = 0", "poll_ms"),
            // spool headroom: 1 MiB − 1 refused; 1 MiB (the minimum) is accepted below.
            (
                "spool_max_bytes = 1073741824",
                "spool_max_bytes = 1048575",
                "spool_max_bytes",
            ),
            (
                "write_timeout_ms = 10000",
                "write_timeout_ms = 0",
                "write_timeout_ms",
            ),
            (
                "[[tenant.labels]]",
                "[tenant.limits]\nframes_per_sec = 0\n\n[[tenant.labels]]",
                "frames_per_sec",
            ),
            (
                "[[tenant.labels]]",
                "[tenant.limits]\nframe_burst = 0\n\n[[tenant.labels]]",
                "frame_burst",
            ),
            (
                "high_value_cents = 10000000",
                "high_value_cents = -1",
                "high_value_cents",
            ),
        ] {
            let e = Config::parse(&EXAMPLE.replacen(from, to, 1)).expect_err(needle);
            assert!(e.to_string().contains(needle), "{e}");
        }
        for ok in ["spool_max_bytes = 1048576", "spool_max_bytes = 1048577"] {
            Config::parse(&EXAMPLE.replacen("spool_max_bytes = 1073741824", ok, 1)).expect(ok);
        }
        let twice = format!("{EXAMPLE}\n[[tenant]]\nid = \"demo\"\n");
        assert!(
            Config::parse(&twice)
                .expect_err("dup")
                .to_string()
                .contains("twice")
        );
    }
}
