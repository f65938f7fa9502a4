//! The edge's configuration file: TOML, unknown keys refused, validated once into typed values.
//! Paths are relative to the working directory.
//!
//! One file per section, each with its own `validate()`; tenants are `sentientiq_tenant`'s
//! (the same spec and validator the control plane uses). Reading happens in three steps:
//! parse the text ([`Config::parse`], pure), apply the environment's overrides ([`env`]), then
//! validate. [`Config::load`] does all three for a file.

pub mod alerts;
pub mod control;
pub mod edge;
pub mod env;
pub mod lake;
pub mod quic;

use std::collections::HashSet;

use sentientiq_tenant::{Tenant, TenantSpec};
use serde::Deserialize;

pub use alerts::AlertsSection;
pub use control::{ControlSection, REPORT_INTERVAL_MS};
pub use edge::EdgeSection;
pub use lake::{LakeSection, S3Section};
pub use quic::{QUIC_MAX_CONNECTIONS, QUIC_MAX_STREAMS, QuicSection};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Where and what, never the line (it may hold a secret): [`shown_toml_error`].
    ///
    /// [`shown_toml_error`]: sentientiq_secret::shown_toml_error
    #[error("{0}")]
    Toml(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Tenant(#[from] sentientiq_tenant::Error),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error::Invalid(msg.into()))
}

/// `key` must pass `check`, one of `sentientiq_url`'s checks of an http(s) URL setting
/// ([`sentientiq_url::setting`]: the message hides credentials).
fn http_url(
    key: &'static str,
    url: &str,
    check: fn(&str) -> Result<(), sentientiq_url::UrlError>,
) -> Result<(), Error> {
    sentientiq_url::setting(key, url, check).or_else(|e| invalid(e.to_string()))
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

/// The file as written.
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
    #[serde(default)]
    pub alerts: AlertsSection,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<TenantSpec>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub edge: EdgeSection,
    pub lake: LakeSection,
    pub control: ControlSection,
    pub quic: QuicSection,
    pub alerts: AlertsSection,
    pub tenants: Vec<Tenant>,
}

impl Config {
    /// Reads, applies the process environment's overrides, validates.
    pub fn load(path: &std::path::Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse_with(&text, env::process)
    }

    /// The file's text alone, without the environment.
    pub fn parse(text: &str) -> Result<Config, Error> {
        Config::parse_with(text, |_| None)
    }

    /// The file's text with the overrides `lookup` gives ([`env`]).
    pub fn parse_with(
        text: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, Error> {
        let mut file: File = toml::from_str(text)
            .map_err(|e| Error::Toml(sentientiq_secret::shown_toml_error(text, &e)))?;
        env::apply(&mut file, lookup);
        file.validate()
    }
}

impl File {
    /// Every section's own checks, then what spans sections.
    pub fn validate(self) -> Result<Config, Error> {
        self.edge.validate()?;
        let mut seen = HashSet::new();
        let mut tenants = Vec::with_capacity(self.tenants.len());
        for t in &self.tenants {
            if !seen.insert(t.id.clone()) {
                return invalid(format!("tenant `{}` is defined twice", t.id));
            }
            // A file is written for this version: no value below a floor stays from before.
            tenants.push(t.validate_write(None)?);
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
        self.lake.validate(&tenants)?;
        self.control.validate()?;
        self.quic.validate(&self.edge)?;
        self.alerts.validate()?;
        Ok(Config {
            edge: self.edge,
            lake: self.lake,
            control: self.control,
            quic: self.quic,
            alerts: self.alerts,
            tenants,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::Tenants;
    use sentientiq_core::{Emotion, RuleAction};

    const EXAMPLE: &str = include_str!("../../../../deploy/edge.example.toml");

    /// The example with a `[control]` section made of `lines`.
    fn with_control(lines: &str) -> Result<Config, Error> {
        let (head, tenants) = EXAMPLE.split_once("[[tenant]]").expect("a tenant");
        Config::parse(&format!("{head}\n[control]\n{lines}\n[[tenant]]{tenants}"))
    }

    /// Every URL setting goes through the one check (`sentientiq_url::check`): a bad URL is
    /// refused with its key and reason, credentials in one are refused without repeating
    /// them, and a good one is taken.
    #[test]
    fn every_url_setting_takes_the_one_check_and_never_repeats_credentials() {
        let (head, tenants) = EXAMPLE.split_once("[[tenant]]").expect("a tenant");
        let token = "token = \"edge-token-0123456789\"";
        // The example with `key` set to `u`.
        let text = |key: &str, u: &str| match key {
            "edge.public_url" => {
                EXAMPLE.replacen("[edge]\n", &format!("[edge]\npublic_url = \"{u}\"\n"), 1)
            }
            "edge.peers url" => format!(
                "{head}\n[[edge.peers]]\nregion = \"eu-west-1\"\nurl = \"{u}\"\n[[tenant]]{tenants}"
            ),
            "control.endpoint" => {
                format!("{head}\n[control]\nendpoint = \"{u}\"\n{token}\n[[tenant]]{tenants}")
            }
            "alerts.public_url" => {
                format!("{head}\n[alerts]\npublic_url = \"{u}\"\n[[tenant]]{tenants}")
            }
            "lake.s3: endpoint" => EXAMPLE.replacen(
                "sink = \"local\"",
                &format!("sink = \"s3\"\ns3 = {{ bucket = \"b-1\", endpoint = \"{u}\" }}"),
                1,
            ),
            _ => unreachable!("{key}"),
        };
        for key in [
            "edge.public_url",
            "edge.peers url",
            "control.endpoint",
            "alerts.public_url",
            "lake.s3: endpoint",
        ] {
            let text = |u: &str| text(key, u);
            let refused = |u: &str| Config::parse(&text(u)).expect_err(key).to_string();
            Config::parse(&text("https://h.example:8443/")).expect(key);
            let e = refused("h.example:8443");
            assert!(
                e.contains(&format!("{key} `h.example:8443` must start with http://")),
                "{e}"
            );
            let e = refused("http://h.example/a b");
            assert!(e.contains(key) && e.contains("holds a space"), "{e}");
            // Paths are appended to every one of them: a query or fragment would swallow them.
            let e = refused("https://h.example/?x=1");
            assert!(e.contains(key) && e.contains("query or a fragment"), "{e}");
            // Credentials, also when a password holding `/` hides where the host ends.
            for (u, as_shown) in [
                (
                    "https://ali:hunter2@h.example/",
                    "https://<credentials>@h.example/",
                ),
                (
                    "https://ali:pa/hunter2@h.example",
                    "https://<credentials>@h.example",
                ),
            ] {
                let e = refused(u);
                assert!(
                    e.contains(&format!("{key} `{as_shown}` holds an @")) && !e.contains("hunter2"),
                    "{e}"
                );
            }
            // Only the control plane's endpoint is used without its path (tonic calls its root).
            let path = Config::parse(&text("https://h.example:8443/siq"));
            match key {
                "control.endpoint" => assert!(
                    path.expect_err(key)
                        .to_string()
                        .contains("must not have a path"),
                    "{key}"
                ),
                _ => drop(path.expect(key)),
            }
        }
        // A peer also needs its region.
        let e = Config::parse(&format!(
            "{head}\n[[edge.peers]]\nregion = \"\"\nurl = \"https://ali:hunter2@h.example\"\n[[tenant]]{tenants}"
        ))
        .expect_err("no region");
        assert!(e.to_string().contains("credentials"), "{e}");
        let e = Config::parse(&format!(
            "{head}\n[[edge.peers]]\nregion = \"\"\nurl = \"https://h.example\"\n[[tenant]]{tenants}"
        ))
        .expect_err("no region");
        assert!(e.to_string().contains("needs a region"), "{e}");
        // Its region is a region's name, as this edge's own is.
        for (region, ok) in [("eu-west-1", true), ("eu west", false), (".eu", false)] {
            let c = Config::parse(&format!(
                "{head}\n[[edge.peers]]\nregion = \"{region}\"\nurl = \"https://h.example\"\n[[tenant]]{tenants}"
            ));
            assert_eq!(c.is_ok(), ok, "{region}: {:?}", c.err());
        }
    }

    #[test]
    fn control_needs_an_http_endpoint_a_token_and_a_report_interval_within_bounds() {
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
        let e = ok("endpoint = \"http://127.0.0.1:7500\"").expect_err("no token");
        assert!(e.to_string().contains("token"), "{e}");
        // The environment's token is applied before validation, and wins over the file's.
        let (head, tenants) = EXAMPLE.split_once("[[tenant]]").expect("a tenant");
        let text = format!(
            "{head}\n[control]\nendpoint = \"http://127.0.0.1:7500\"\ntoken = \"file\"\n[[tenant]]{tenants}"
        );
        let env = |k: &str| (k == env::EDGE_TOKEN).then(|| "from-env".to_string());
        let c = Config::parse_with(&text, env).expect("token from the environment");
        assert_eq!(
            c.control.token.as_ref().map(|t| t.expose()),
            Some("from-env")
        );
        let no_file_token = text.replace("token = \"file\"\n", "");
        assert!(Config::parse(&no_file_token).is_err());
        Config::parse_with(&no_file_token, env).expect("the environment's token suffices");
        let e = ok("endpoint = \"127.0.0.1:7500\"\ntoken = \"t\"").expect_err("no scheme");
        assert!(e.to_string().contains("http://"), "{e}");
        // Without an endpoint nothing is followed, and nothing else is required.
        assert_eq!(ok("").expect("empty section").endpoint, None);
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
    fn the_examples_commented_experiment_parses_and_validates_as_documented() {
        let start = EXAMPLE
            .find("# [[tenant.rules]]\n# id = \"help-on-rage-test\"")
            .expect("the commented experiment");
        let end = start + EXAMPLE[start..].find("# ]\n").expect("its end") + 4;
        let block: Vec<&str> = EXAMPLE[start..end]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect();
        let text = format!(
            "{}{}\n{}",
            &EXAMPLE[..start],
            block.join("\n"),
            &EXAMPLE[end..]
        );
        let c = Config::parse(&text).expect("uncommented, the example is valid");
        let demo = c.tenants.iter().find(|t| &*t.id == "demo").expect("demo");
        let x = &demo.experiments["help-on-rage-test"];
        let e = &x.experiment;
        assert_eq!(
            (
                e.holdout_share(),
                e.burn_in(),
                e.floor_weight(),
                e.attribution_window_ms()
            ),
            (0.1, 100, 0.01, 1_800_000),
            "the stated values are the defaults"
        );
        assert_eq!((e.n_variants(), e.n_active()), (3, 2));
        assert_eq!(&*x.variants[1].kind, "offer");
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
        assert_eq!(
            (
                a.new_sessions_per_address_per_sec,
                a.new_session_burst_per_address
            ),
            (
                b.new_sessions_per_address_per_sec,
                b.new_session_burst_per_address
            )
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
            sentientiq_tenant::DEFAULT_HIGH_VALUE_CENTS
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
    fn the_ring_depth_is_a_power_of_two_within_its_limits() {
        use super::edge::{MAX_RING_DEPTH, MIN_RING_DEPTH};
        let with = |n: usize| {
            Config::parse(&format!(
                "[edge]\nid = \"e\"\nregion = \"r\"\nring_depth = {n}\n"
            ))
        };
        for (n, ok) in [
            (MIN_RING_DEPTH - 1, false),
            (MIN_RING_DEPTH, true),
            (MIN_RING_DEPTH + 1, false),
            (4095, false),
            (4096, true),
            (MAX_RING_DEPTH - 1, false),
            (MAX_RING_DEPTH, true),
            (MAX_RING_DEPTH + 1, false),
            (MAX_RING_DEPTH * 2, false),
        ] {
            assert_eq!(with(n).is_ok(), ok, "ring_depth = {n}");
        }
        let d = Config::parse("[edge]\nid = \"e\"\nregion = \"r\"\n").expect("defaults");
        assert_eq!(d.edge.ring_depth, 4096);
    }

    /// The id and region name lake files and reports: both take the one check.
    #[test]
    fn the_edge_id_and_region_are_names_of_at_most_64_safe_characters() {
        use sentientiq_proto::grpc::{EDGE_NAME_RULE, MAX_EDGE_NAME_LEN};
        let with = |id: &str, region: &str| {
            Config::parse(&format!(
                "[edge]\nid = {}\nregion = {}\n",
                toml::Value::from(id),
                toml::Value::from(region)
            ))
        };
        // The rule itself is tested with `valid_edge_name`; here, that both keys take it.
        for (name, ok) in [
            ("a".repeat(MAX_EDGE_NAME_LEN), true),
            ("a".repeat(MAX_EDGE_NAME_LEN + 1), false),
            ("edge-US_east.1".into(), true),
            (".e".into(), false),
            ("a/b".into(), false),
            ("a\nb".into(), false),
        ] {
            for (id, region, key) in [(&*name, "r", "edge.id"), ("e", &*name, "edge.region")] {
                match with(id, region) {
                    Ok(c) => {
                        assert!(ok, "{key} = {name:?} accepted");
                        assert_eq!((c.edge.id.as_str(), c.edge.region.as_str()), (id, region));
                    }
                    Err(e) => {
                        assert!(!ok, "{key} = {name:?}: {e}");
                        let e = e.to_string();
                        assert!(e.contains(key) && e.contains(EDGE_NAME_RULE), "{e}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_wait_gathering_window_and_want_are_checked_at_their_caps() {
        use super::edge::{MAX_WAIT_GATHER_US, MAX_WAIT_GATHER_WANT};
        let with =
            |line: String| Config::parse(&format!("[edge]\nid = \"e\"\nregion = \"r\"\n{line}\n"));
        for (n, ok) in [
            (0, true),
            (MAX_WAIT_GATHER_US - 1, true),
            (MAX_WAIT_GATHER_US, true),
            (MAX_WAIT_GATHER_US + 1, false),
        ] {
            let c = with(format!("wait_gather_us = {n}"));
            assert_eq!(c.is_ok(), ok, "wait_gather_us = {n}");
            if let Ok(c) = c {
                assert_eq!(c.edge.wait_gather_us, Some(n));
            }
        }
        for (n, ok) in [
            (0, true),
            (MAX_WAIT_GATHER_WANT - 1, true),
            (MAX_WAIT_GATHER_WANT, true),
            (MAX_WAIT_GATHER_WANT + 1, false),
        ] {
            assert_eq!(
                with(format!("wait_gather_want = {n}")).is_ok(),
                ok,
                "wait_gather_want = {n}"
            );
        }
        assert!(with("wait_gather_us = -1".into()).is_err(), "not negative");
        let d = Config::parse("[edge]\nid = \"e\"\nregion = \"r\"\n").expect("defaults");
        assert_eq!((d.edge.wait_gather_us, d.edge.wait_gather_want), (None, 2));
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

    /// The edge token, the S3 secret key and the sealing key never show in the config's
    /// `Debug` (a log line or a failed test's message).
    #[test]
    fn debug_never_shows_a_secret() {
        let s3 = example_s3().replacen(
            "connect_timeout_ms = 3000",
            "connect_timeout_ms = 3000\naccess_key_id = \"AKIA\"\nsecret_access_key = \"SECRET-s3\"",
            1,
        );
        let (head, tenants) = s3.split_once("[[tenant]]").expect("a tenant");
        let text = format!(
            "{head}\n[control]\nendpoint = \"http://127.0.0.1:7500\"\ntoken = \"SECRET-tok\"\n[[tenant]]{tenants}"
        );
        let key = "5ec7".repeat(16);
        let env = |k: &str| (k == env::SECRETS_KEY).then(|| key.clone());
        let c = Config::parse_with(&text, env).expect("parses");
        assert_eq!(
            c.lake
                .s3
                .as_ref()
                .expect("s3")
                .options()
                .expect("options")
                .static_keys
                .map(|(id, secret)| (id, secret.expose().to_string())),
            Some(("AKIA".to_string(), "SECRET-s3".to_string()))
        );
        assert_eq!(
            c.alerts.secrets_key.as_ref().map(|k| k.expose()),
            Some(key.as_str())
        );
        let shown = format!("{c:?}");
        for secret in ["SECRET", key.as_str()] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
        assert!(shown.contains("token: Some([redacted])"), "{shown}");
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
        assert!(e.contains("needs this edge's lake.sink"), "{e}");
        // A prefix alone is fine with the local sink.
        Config::parse(&EXAMPLE.replacen("#lake = ", "lake = { prefix = \"p\" }\n#", 1))
            .expect("prefix on local");
    }

    /// A file that does not parse, or holds a value of the wrong type, is refused with where
    /// and what, never repeating the line or the value (it may be a credential).
    #[test]
    fn a_config_error_says_where_without_repeating_the_value() {
        for (text, said) in [
            (
                "[control]\nendpoint = \"http://plane:7700\"\ntoken = \"SECRET-e1\n",
                "line 3, column 19: invalid basic string",
            ),
            (
                "[lake.s3]\nbucket = \"b\"\nsecret_access_key = [\"SECRET-e2\"]\n",
                "line 3, column 21: invalid type: sequence",
            ),
            (
                "[edge]\nshards = \"SECRET-e3\"\n",
                "line 2, column 10: invalid type: a string",
            ),
        ] {
            let e = Config::parse(text).expect_err(text).to_string();
            assert!(e.starts_with(said), "{text}: {e}");
            assert!(!e.contains("SECRET"), "{text}: {e}");
        }
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
                "new_sessions_per_address_per_sec = 20",
                "new_sessions_per_address_per_sec = 0",
                "new_sessions_per_address_per_sec",
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
            (
                "[[tenant.labels]]",
                "[tenant.limits]\nmax_frame_bytes = 8191\n\n[[tenant.labels]]",
                "limits.max_frame_bytes must be at least 8192 bytes, not 8191",
            ),
            (
                "[[tenant.labels]]",
                "[tenant.limits]\nmax_http_body_bytes = 65535\n\n[[tenant.labels]]",
                "limits.max_http_body_bytes must be at least 65536 bytes, not 65535",
            ),
        ] {
            let e = Config::parse(&EXAMPLE.replacen(from, to, 1)).expect_err(needle);
            assert!(e.to_string().contains(needle), "{e}");
        }
        for ok in ["spool_max_bytes = 1048576", "spool_max_bytes = 1048577"] {
            Config::parse(&EXAMPLE.replacen("spool_max_bytes = 1073741824", ok, 1)).expect(ok);
        }
        for ok in [
            "max_frame_bytes = 8192\nmax_http_body_bytes = 65536",
            "max_frame_bytes = 8193\nmax_http_body_bytes = 65537",
        ] {
            let limits = format!("[tenant.limits]\n{ok}\n\n[[tenant.labels]]");
            Config::parse(&EXAMPLE.replacen("[[tenant.labels]]", &limits, 1)).expect(ok);
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
