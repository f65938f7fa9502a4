//! `sentientiq-control --config FILE`: where to listen, where the data lives, the two tokens
//! and optional TLS. Tokens may come from the environment instead (`SIQ_ADMIN_TOKEN`,
//! `SIQ_EDGE_TOKEN`), which wins over the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sentientiq_secret::Secret;
use serde::Deserialize;

/// Shortest accepted token: 16 bytes.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The plane's HTTP face (`/metrics`, `/healthz`).
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `Debug` shows it redacted, as `edge_token`.
    #[serde(default)]
    pub admin_token: Secret,
    #[serde(default)]
    pub edge_token: Secret,
    /// How often a `WatchEvi` stream reads its range again (from its start: up to 366 days of
    /// windows a poll) and sends the recent minutes' new or changed points.
    #[serde(default = "default_evi_poll_ms")]
    pub evi_poll_ms: u64,
    /// How often each edge's config stream is sent every other edge's experiment counts
    /// (when they changed): how fresh the global posteriors are.
    #[serde(default = "default_experiment_totals_ms")]
    pub experiment_totals_ms: u64,
    /// The rate card of `siqctl usage`: millicents per 1000 billable events (1000 = $0.01 per
    /// 1000 events, the default).
    #[serde(default = "default_rate")]
    pub millicents_per_1000_events: u64,
    /// How long a dashboard sign-in lasts, seconds (no renewal: sign in again after it).
    #[serde(default = "default_dashboard_session_s")]
    pub dashboard_session_s: u64,
    /// The HTTP port's limits (`crate::http`): how long a client may take to send a request's
    /// head, then its body (and a kept-alive connection may wait for its next), and the open
    /// connections at most, in all and from one address.
    #[serde(default = "default_http_read_timeout_ms")]
    pub http_read_timeout_ms: u64,
    #[serde(default = "default_http_max_connections")]
    pub http_max_connections: usize,
    #[serde(default = "default_http_max_per_address")]
    pub http_max_per_address: usize,
    /// How long after its accept a gRPC connection may take to send its first bytes (HTTP/2's
    /// preface); over TLS, to finish its handshake and then send them (`crate::incoming`).
    #[serde(default = "default_grpc_handshake_timeout_ms")]
    pub grpc_handshake_timeout_ms: u64,
    /// How long a gRPC connection on which no request has carried a token may go without
    /// starting a request before it is closed (`crate::incoming`; health checks and reflection
    /// need no token).
    #[serde(default = "default_grpc_unauthenticated_idle_ms")]
    pub grpc_unauthenticated_idle_ms: u64,
    /// gRPC connections open from one address at most (`crate::incoming::cap`; the port's cap
    /// in all is what the open-file limit leaves it).
    #[serde(default = "default_grpc_max_per_address")]
    pub grpc_max_per_address: usize,
    #[serde(default)]
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7500))
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7510))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data/control")
}
fn default_evi_poll_ms() -> u64 {
    5000
}
/// One second: the edges hand their experiment counts over and report every second by
/// default, so a fresher total would carry nothing new.
fn default_experiment_totals_ms() -> u64 {
    1000
}
fn default_rate() -> u64 {
    crate::metering::DEFAULT_MILLICENTS_PER_1000_EVENTS
}

/// Eight hours: a working day.
fn default_dashboard_session_s() -> u64 {
    8 * 3600
}
fn default_http_read_timeout_ms() -> u64 {
    crate::http::DEFAULT_READ_TIMEOUT_MS
}
fn default_grpc_handshake_timeout_ms() -> u64 {
    crate::incoming::DEFAULT_HANDSHAKE_TIMEOUT_MS
}
fn default_grpc_unauthenticated_idle_ms() -> u64 {
    crate::incoming::DEFAULT_UNAUTHENTICATED_IDLE_MS
}
fn default_http_max_connections() -> usize {
    crate::http::DEFAULT_MAX_CONNECTIONS
}
fn default_http_max_per_address() -> usize {
    crate::http::DEFAULT_MAX_PER_ADDRESS
}
fn default_grpc_max_per_address() -> usize {
    crate::incoming::DEFAULT_MAX_PER_ADDRESS
}
/// Bounds of `evi_poll_ms` and `experiment_totals_ms`: 100 ms to an hour.
pub const INTERVAL_MS: std::ops::RangeInclusive<u64> = 100..=3_600_000;
/// Bounds of `http_read_timeout_ms`, `grpc_handshake_timeout_ms` and `grpc_unauthenticated_idle_ms`:
/// 100 ms (tests) to ten minutes.
pub const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=600_000;
/// Bounds of `http_max_connections` and `grpc_max_per_address`: 1 to 65 536.
pub const MAX_CONNECTIONS: std::ops::RangeInclusive<usize> = 1..=65_536;

/// Bounds of `dashboard_session_s`: one minute to seven days.
pub const DASHBOARD_SESSION_S: std::ops::RangeInclusive<u64> = 60..=7 * 86_400;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}: {1}")]
    Read(String, std::io::Error),
    /// The file, then where and what, never the line (it may hold a token):
    /// [`sentientiq_secret::shown_toml_error`].
    #[error("{0}: {1}")]
    Parse(String, String),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// The HTTP port's limits.
    pub fn http_limits(&self) -> crate::http::HttpLimits {
        crate::http::HttpLimits {
            read_timeout: std::time::Duration::from_millis(self.http_read_timeout_ms),
            max_connections: self.http_max_connections,
            max_per_address: self.http_max_per_address,
            shutdown_grace: crate::http::SHUTDOWN_GRACE,
        }
    }

    /// Reads `path`, then applies the environment's tokens, then validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read(path.display().to_string(), e))?;
        let mut c = Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse(_, e) => ConfigError::Parse(path.display().to_string(), e),
            e => e,
        })?;
        if let Ok(t) = std::env::var("SIQ_ADMIN_TOKEN") {
            c.admin_token = Secret::new(t);
        }
        if let Ok(t) = std::env::var("SIQ_EDGE_TOKEN") {
            c.edge_token = Secret::new(t);
        }
        c.validate()?;
        Ok(c)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let shown = sentientiq_secret::shown_toml_error(text, &e);
            ConfigError::Parse("config".into(), shown)
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, t) in [
            ("admin_token", self.admin_token.expose()),
            ("edge_token", self.edge_token.expose()),
        ] {
            if t.len() < MIN_TOKEN_LEN {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be at least {MIN_TOKEN_LEN} bytes (in the file or SIQ_{})",
                    name.to_uppercase()
                )));
            }
            if !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::Invalid(format!(
                    "{name}: printable ASCII without spaces (it travels in a header)"
                )));
            }
        }
        if self.admin_token == self.edge_token {
            return Err(ConfigError::Invalid(
                "admin_token and edge_token must differ (an edge must not administer tenants)"
                    .into(),
            ));
        }
        within("evi_poll_ms", self.evi_poll_ms, INTERVAL_MS)?;
        if self.millicents_per_1000_events > crate::metering::MAX_MILLICENTS_PER_1000_EVENTS {
            return Err(ConfigError::Invalid(format!(
                "millicents_per_1000_events must be at most {}",
                crate::metering::MAX_MILLICENTS_PER_1000_EVENTS
            )));
        }
        within(
            "experiment_totals_ms",
            self.experiment_totals_ms,
            INTERVAL_MS,
        )?;
        within(
            "http_read_timeout_ms",
            self.http_read_timeout_ms,
            TIMEOUT_MS,
        )?;
        within(
            "grpc_handshake_timeout_ms",
            self.grpc_handshake_timeout_ms,
            TIMEOUT_MS,
        )?;
        within(
            "grpc_unauthenticated_idle_ms",
            self.grpc_unauthenticated_idle_ms,
            TIMEOUT_MS,
        )?;
        // Its first period runs from the accept, as the handshake's deadline does: a shorter
        // one would close a client still inside its handshake's time.
        if self.grpc_unauthenticated_idle_ms < self.grpc_handshake_timeout_ms {
            return Err(ConfigError::Invalid(
                "grpc_unauthenticated_idle_ms must be at least grpc_handshake_timeout_ms".into(),
            ));
        }
        within(
            "http_max_connections",
            self.http_max_connections,
            MAX_CONNECTIONS,
        )?;
        if !(1..=self.http_max_connections).contains(&self.http_max_per_address) {
            return Err(ConfigError::Invalid(
                "http_max_per_address must be 1..=http_max_connections".into(),
            ));
        }
        within(
            "grpc_max_per_address",
            self.grpc_max_per_address,
            MAX_CONNECTIONS,
        )?;
        within(
            "dashboard_session_s",
            self.dashboard_session_s,
            DASHBOARD_SESSION_S,
        )
        .map_err(|e| ConfigError::Invalid(format!("{e} (one minute to seven days)")))
    }
}

/// The one range check of a setting: `name must be A..=B` when `v` is outside `r`.
fn within<T: PartialOrd + std::fmt::Display>(
    name: &str,
    v: T,
    r: std::ops::RangeInclusive<T>,
) -> Result<(), ConfigError> {
    if r.contains(&v) {
        return Ok(());
    }
    Err(ConfigError::Invalid(format!(
        "{name} must be {}..={}",
        r.start(),
        r.end()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "admin_token = \"aaaaaaaaaaaaaaaa\"\nedge_token = \"bbbbbbbbbbbbbbbb\"\n";

    /// The tokens never show in the config's `Debug` (a log line or a failed test's message).
    #[test]
    fn debug_never_shows_the_tokens() {
        let c = Config::parse(OK).expect("parses");
        c.validate().expect("valid");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("aaaa") && !shown.contains("bbbb"),
            "{shown}"
        );
        assert!(shown.contains("admin_token: [redacted]"), "{shown}");
    }

    /// A file that does not parse is refused with where and what, never the line: the
    /// tokens are in it.
    #[test]
    fn a_parse_error_says_where_without_repeating_the_line() {
        for (text, said) in [
            (
                "admin_token = \"SECRET-p1\nedge_token = \"x\"\n",
                "config: line 1, column 25: invalid basic string",
            ),
            (
                "edge_token = \"bbbbbbbbbbbbbbbb\"\nadmin_token = [\"SECRET-p2\"]\n",
                "config: line 2, column 15: invalid type: sequence",
            ),
            (
                "admin_token = \"SECRET-p3\" x\n",
                "config: line 1, column 27: unexpected key or value",
            ),
        ] {
            let e = Config::parse(text).expect_err(text).to_string();
            assert!(e.starts_with(said), "{text}: {e}");
            assert!(!e.contains("SECRET"), "{text}: {e}");
        }
    }

    #[test]
    fn the_example_parses_and_defaults_are_documented() {
        let root = env!("CARGO_MANIFEST_DIR");
        let text = std::fs::read_to_string(format!("{root}/../deploy/control.example.toml"))
            .expect("example");
        let c = Config::parse(&text).expect("parses");
        c.validate().expect("valid");
        assert_eq!(c.listen, default_listen());
        assert_eq!(c.http_listen, default_http_listen());
        let d = Config::parse(OK).expect("parses");
        assert_eq!(d.data_dir, PathBuf::from("data/control"));
        assert_eq!(d.evi_poll_ms, 5000);
        assert_eq!(d.dashboard_session_s, 8 * 3600);
        assert_eq!(
            (c.grpc_max_per_address, d.grpc_max_per_address),
            (
                crate::incoming::DEFAULT_MAX_PER_ADDRESS,
                crate::incoming::DEFAULT_MAX_PER_ADDRESS
            )
        );
        assert_eq!(
            (
                c.grpc_unauthenticated_idle_ms,
                d.grpc_unauthenticated_idle_ms
            ),
            (
                crate::incoming::DEFAULT_UNAUTHENTICATED_IDLE_MS,
                crate::incoming::DEFAULT_UNAUTHENTICATED_IDLE_MS
            )
        );
    }

    /// `OK` with `lines` added, validated: the refusal's words, if refused.
    fn validated(lines: &str) -> Result<(), String> {
        Config::parse(&format!("{OK}{lines}\n"))
            .expect("parses")
            .validate()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_dashboard_session_lifetime_is_checked_at_its_bounds() {
        let mk = |s: u64| validated(&format!("dashboard_session_s = {s}"));
        let (lo, hi) = (*DASHBOARD_SESSION_S.start(), *DASHBOARD_SESSION_S.end());
        assert_eq!(
            mk(lo - 1),
            Err("dashboard_session_s must be 60..=604800 (one minute to seven days)".into())
        );
        assert!(mk(lo).is_ok());
        assert!(mk(hi).is_ok());
        assert!(mk(hi + 1).is_err());
    }

    #[test]
    fn experiment_totals_interval_and_rate_card_are_checked_at_their_bounds() {
        let mk = |line: String| validated(&line).is_ok();
        assert_eq!(
            validated("evi_poll_ms = 99"),
            Err("evi_poll_ms must be 100..=3600000".into())
        );
        for (ms, ok) in [
            (99, false),
            (100, true),
            (101, true),
            (3_599_999, true),
            (3_600_000, true),
            (3_600_001, false),
        ] {
            assert_eq!(mk(format!("experiment_totals_ms = {ms}")), ok, "{ms}");
            assert_eq!(mk(format!("evi_poll_ms = {ms}")), ok, "evi {ms}");
        }
        let max = crate::metering::MAX_MILLICENTS_PER_1000_EVENTS;
        for (rate, ok) in [(0, true), (max - 1, true), (max, true), (max + 1, false)] {
            assert_eq!(
                mk(format!("millicents_per_1000_events = {rate}")),
                ok,
                "{rate}"
            );
        }
        let d = Config::parse(OK).expect("parses");
        assert_eq!(
            (d.experiment_totals_ms, d.millicents_per_1000_events),
            (1000, crate::metering::DEFAULT_MILLICENTS_PER_1000_EVENTS)
        );
    }

    /// An unauthenticated connection's idle period is at least its handshake's deadline (both
    /// run from the accept): cap − 1 refused, cap and cap + 1 taken.
    #[test]
    fn the_idle_period_is_at_least_the_handshake_deadline() {
        let with = |idle: u64| {
            validated(&format!(
                "grpc_handshake_timeout_ms = 10000\ngrpc_unauthenticated_idle_ms = {idle}"
            ))
        };
        assert_eq!(
            with(9_999),
            Err("grpc_unauthenticated_idle_ms must be at least grpc_handshake_timeout_ms".into())
        );
        assert_eq!(with(10_000), Ok(()));
        assert_eq!(with(10_001), Ok(()));
    }

    #[test]
    fn the_http_limits_are_checked_at_their_bounds() {
        let mk = |lines: String| validated(&lines);
        for (ms, ok) in [
            (99, false),
            (100, true),
            (101, true),
            (599_999, true),
            (600_000, true),
            (600_001, false),
        ] {
            assert_eq!(
                mk(format!(
                    "grpc_handshake_timeout_ms = {ms}\ngrpc_unauthenticated_idle_ms = 600000"
                ))
                .is_ok(),
                ok,
                "grpc {ms}"
            );
            assert_eq!(
                mk(format!(
                    "grpc_unauthenticated_idle_ms = {ms}\ngrpc_handshake_timeout_ms = 100"
                ))
                .is_ok(),
                ok,
                "grpc idle {ms}"
            );
            assert_eq!(
                mk(format!("http_read_timeout_ms = {ms}")).is_ok(),
                ok,
                "{ms}"
            );
        }
        for (n, ok) in [
            (0, false),
            (1, true),
            (65_535, true),
            (65_536, true),
            (65_537, false),
        ] {
            let all = format!("http_max_connections = {n}\nhttp_max_per_address = 1");
            assert_eq!(mk(all).is_ok(), ok, "{n}");
            assert_eq!(mk(format!("grpc_max_per_address = {n}")).is_ok(), ok, "{n}");
        }
        // Per address: 1 to the connections in all.
        for (n, ok) in [(0, false), (1, true), (99, true), (100, true), (101, false)] {
            let lines = format!("http_max_connections = 100\nhttp_max_per_address = {n}");
            assert_eq!(mk(lines.clone()).is_ok(), ok, "{n}");
            if !ok {
                assert_eq!(
                    mk(lines),
                    Err("http_max_per_address must be 1..=http_max_connections".into())
                );
            }
        }
        let d = Config::parse(OK).expect("parses");
        assert_eq!(d.http_limits(), crate::http::HttpLimits::default());
        assert_eq!(d.grpc_handshake_timeout_ms, 10_000);
        assert_eq!(d.grpc_unauthenticated_idle_ms, 30_000);
    }

    #[test]
    fn tokens_are_checked_at_the_length_limit() {
        let mk = |a: usize| {
            Config::parse(&format!(
                "admin_token = \"{}\"\nedge_token = \"bbbbbbbbbbbbbbbb\"\n",
                "a".repeat(a)
            ))
            .expect("parses")
        };
        assert!(mk(MIN_TOKEN_LEN - 1).validate().is_err());
        assert!(mk(MIN_TOKEN_LEN).validate().is_ok());
        assert!(mk(MIN_TOKEN_LEN + 1).validate().is_ok());
        let same = Config::parse(
            "admin_token = \"aaaaaaaaaaaaaaaa\"\nedge_token = \"aaaaaaaaaaaaaaaa\"\n",
        )
        .expect("parses");
        assert!(same.validate().is_err());
        assert!(
            Config::parse("admin_tokn = \"x\"").is_err(),
            "unknown keys are refused"
        );
    }
}
