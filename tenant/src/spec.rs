//! A tenant as written by people: the `[[tenant]]` tables of an edge's config file, and what the
//! control plane's gRPC `Tenant` maps onto (`plane.rs`). Unknown keys are refused; optional
//! settings take the defaults named here. [`TenantSpec::validate`] is the one validator.

use serde::Deserialize;

/// One tenant as configured.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    pub id: String,
    /// A display name (the control plane's; files may leave it out).
    #[serde(default)]
    pub name: String,
    /// SHA-256 (hex) of each publishable write key. Keys are never stored.
    #[serde(default)]
    pub key_sha256: Vec<String>,
    /// Origins allowed to send (exact `scheme://host[:port]`, or an app's `scheme://host`:
    /// [`crate::origin`]), or `*`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub emit: bool,
    #[serde(default = "d_flush")]
    pub flush_ms: u32,
    #[serde(default = "d_max_batch")]
    pub max_batch: u32,
    #[serde(default)]
    pub dnt: Dnt,
    #[serde(default)]
    pub thresholds: ThresholdsSpec,
    #[serde(default)]
    pub limits: LimitsSpec,
    #[serde(default)]
    pub hesitation_sections: Option<Vec<String>>,
    #[serde(default)]
    pub checkout_markers: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Vec<LabelSpec>,
    /// People (and systems) escalations go to.
    #[serde(default)]
    pub contacts: Vec<ContactSpec>,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Bootstrap account directory (the control plane pushes it later).
    #[serde(default)]
    pub accounts: Vec<AccountSpec>,
    /// Sessions whose lifetime value is at least this are never shed when a shard is at its
    /// session limit; lower-value sessions are shed first, lowest first.
    #[serde(default = "d_high_value")]
    pub high_value_cents: i64,
    /// The tenant's own lake bucket and/or prefix (default: the edge's `[lake]`).
    #[serde(default)]
    pub lake: LakeSpec,
    /// Where escalations are delivered (`[tenant.alerts]`): vendor accounts, contacts with
    /// typed channels, chains. Without it escalations are recorded, not delivered.
    #[serde(default)]
    pub alerts: Option<AlertsSpec>,
}

impl TenantSpec {
    /// A tenant with this id and every default (tests, tools).
    pub fn new(id: &str) -> TenantSpec {
        TenantSpec {
            id: id.to_string(),
            name: String::new(),
            key_sha256: Vec::new(),
            allowed_origins: Vec::new(),
            emit: false,
            flush_ms: d_flush(),
            max_batch: d_max_batch(),
            dnt: Dnt::default(),
            thresholds: ThresholdsSpec::default(),
            limits: LimitsSpec::default(),
            hesitation_sections: None,
            checkout_markers: None,
            labels: Vec::new(),
            contacts: Vec::new(),
            rules: Vec::new(),
            accounts: Vec::new(),
            high_value_cents: d_high_value(),
            lake: LakeSpec::default(),
            alerts: None,
        }
    }
}

pub(crate) fn d_high_value() -> i64 {
    crate::DEFAULT_HIGH_VALUE_CENTS
}
pub(crate) fn d_flush() -> u32 {
    250
}
pub(crate) fn d_max_batch() -> u32 {
    512
}

/// What happens to Do-Not-Track / Global Privacy Control sessions.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Dnt {
    /// Kept, never identified.
    #[default]
    Anonymous,
    /// Acknowledged and dropped: nothing kept.
    Drop,
}

/// Optional overrides of the core's detection thresholds (see docs/CALIBRATION.md).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsSpec {
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

/// Optional tightening of the protocol limits, and the per-session rate and per-shard caps.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    pub max_frame_bytes: Option<usize>,
    pub max_http_body_bytes: Option<usize>,
    pub max_samples: Option<usize>,
    pub max_sessions_per_shard: Option<usize>,
    /// Sustained frames per second one session may send (token bucket refill).
    pub frames_per_sec: Option<u32>,
    /// Frames one session may send at once (token bucket size; at least the HTTP batch cap so
    /// a page-unload beacon fits).
    pub frame_burst: Option<u32>,
    /// Billable events per UTC month, fleet-wide: past the soft limit the plane warns; past
    /// the hard one edges refuse frames but from high-value sessions ([`crate::Quota`]).
    pub events_per_month_soft: Option<u64>,
    pub events_per_month_hard: Option<u64>,
}

/// A contextual label: `emotion` in `section` is reported as `label`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    pub emotion: String,
    pub section: String,
    pub label: String,
}

/// Someone an escalation reaches.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// e.g. `webhook`, `slack`, `email`.
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub address: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
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
    pub intervene: Option<InterveneSpec>,
    pub escalate: Option<EscalateSpec>,
    /// Variants of the rule's intervention and a holdout (`[tenant.rules.experiment]`): instead
    /// of `intervene`, each qualifying session is assigned once to one variant or to the holdout.
    #[serde(default)]
    pub experiment: Option<ExperimentSpec>,
    #[serde(default)]
    pub session_cooldown_s: u64,
    #[serde(default)]
    pub account_cooldown_s: u64,
}

/// An experiment on a rule's intervention (issue 17), as written: the variants (each an
/// intervention) and the allocation settings. Limits and defaults are
/// `sentientiq_experiments::config`'s, checked by its one validator
/// ([`sentientiq_experiments::ExperimentConfig::validate`]); the rule's id is the experiment's.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// In a fixed order: a running experiment may pause variants and append new ones, never
    /// reorder or remove them (counts are kept by position).
    pub variants: Vec<VariantSpec>,
    /// Share of qualifying sessions that get no intervention (recorded as "would have shown").
    #[serde(default = "d_holdout")]
    pub holdout_share: f64,
    /// Sessions every active variant gets, uniformly, before Thompson sampling takes over.
    #[serde(default = "d_burn_in")]
    pub burn_in_min_samples: u64,
    /// Least probability with which each active variant is chosen.
    #[serde(default = "d_floor")]
    pub floor_weight: f64,
    /// How long after its assignment a session's outcomes count.
    #[serde(default = "d_window")]
    pub attribution_window_ms: u64,
}

impl ExperimentSpec {
    /// An experiment with these variants (kind `chat`, no payload) and every default.
    pub fn new(variant_ids: &[&str]) -> ExperimentSpec {
        ExperimentSpec {
            variants: variant_ids
                .iter()
                .map(|id| VariantSpec {
                    id: (*id).to_string(),
                    kind: "chat".into(),
                    payload: None,
                    paused: false,
                })
                .collect(),
            holdout_share: d_holdout(),
            burn_in_min_samples: d_burn_in(),
            floor_weight: d_floor(),
            attribution_window_ms: d_window(),
        }
    }

    /// The experiment crate's configuration of rule `rule_id` (unvalidated).
    pub fn config(&self, rule_id: &str) -> sentientiq_experiments::ExperimentConfig {
        sentientiq_experiments::ExperimentConfig {
            rule_id: rule_id.to_string(),
            variants: self
                .variants
                .iter()
                .map(|v| sentientiq_experiments::VariantConfig {
                    id: v.id.clone(),
                    paused: v.paused,
                })
                .collect(),
            holdout_share: self.holdout_share,
            burn_in_min_samples: self.burn_in_min_samples,
            floor_weight: self.floor_weight,
            attribution_window_ms: self.attribution_window_ms,
        }
    }
}

/// One variant: its id (the `iv` frame's `variant`), the intervention it shows, and whether it
/// is paused (never assigned; its counts stay).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub id: String,
    pub kind: String,
    /// Tenant-defined content sent to the page as the `iv` frame's `payload`.
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    #[serde(default)]
    pub paused: bool,
}

fn d_holdout() -> f64 {
    sentientiq_experiments::config::DEFAULT_HOLDOUT_SHARE
}
fn d_burn_in() -> u64 {
    sentientiq_experiments::config::DEFAULT_BURN_IN
}
fn d_floor() -> f64 {
    sentientiq_experiments::config::DEFAULT_FLOOR_WEIGHT
}
fn d_window() -> u64 {
    sentientiq_experiments::config::DEFAULT_ATTRIBUTION_WINDOW_MS
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InterveneSpec {
    pub kind: String,
    #[serde(default = "d_variant")]
    pub variant: String,
    /// Tenant-defined content sent to the page as the `iv` frame's `payload`.
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
}

pub(crate) fn d_variant() -> String {
    "default".into()
}

/// Who an escalation pages: a chain of the tenant's `[tenant.alerts]` by name, or contacts
/// (one step, the default wait). Exactly one of the two.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EscalateSpec {
    #[serde(default)]
    pub contacts: Vec<String>,
    #[serde(default)]
    pub chain: Option<String>,
}

/// A tenant's alerting config as its owner wrote it, secrets included
/// ([`sentientiq_alerts::config::TenantAlerts`], example `alerts/alerts.example.toml`). Kept as
/// the TOML table it was written as, so it travels to edges unchanged; [`AlertsSpec::redacted`]
/// is what people see. Its `Debug` shows no value.
#[derive(Clone, PartialEq)]
pub struct AlertsSpec {
    table: toml::Table,
}

impl std::fmt::Debug for AlertsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AlertsSpec([redacted])")
    }
}

impl<'de> Deserialize<'de> for AlertsSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        toml::Table::deserialize(d).map(|table| AlertsSpec { table })
    }
}

/// Longest alerting config, bytes of TOML: contacts and chains for a large organisation fit
/// in a few kilobytes; the cap keeps a config update small enough for every edge.
pub const MAX_ALERTS_TOML: usize = 256 * 1024;

impl AlertsSpec {
    /// Parses the TOML of a `[tenant.alerts]` table (as `siqctl alerts set` sends it). Syntax
    /// only: [`AlertsSpec::parse`] checks the content.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        if text.len() > MAX_ALERTS_TOML {
            return Err(format!(
                "alerting config is {} bytes; at most {MAX_ALERTS_TOML}",
                text.len()
            ));
        }
        text.parse::<toml::Table>()
            .map(|table| AlertsSpec { table })
            .map_err(|e| {
                let shown = sentientiq_secret::shown_toml_error(text, &e);
                format!("alerting config: {shown}")
            })
    }

    /// The TOML as written, secrets included: for edges only.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.table).unwrap_or_default()
    }

    /// The typed config (unchecked: [`crate::TenantSpec::validate`] validates it). An error
    /// names the key it is about (`providers.twilio.auth`) and never repeats a value: a
    /// credential of the wrong type would be quoted.
    pub fn parse(&self) -> Result<sentientiq_alerts::config::TenantAlerts, String> {
        serde_path_to_error::deserialize(self.table.clone()).map_err(|e| {
            let why = sentientiq_secret::without_values(e.inner().message());
            match e.path().to_string() {
                root if root == "." => format!("alerts: {why}"),
                key => format!("alerts: {key}: {why}"),
            }
        })
    }

    /// The config with every secret shown as `[redacted]` (what an admin reads back).
    pub fn redacted(&self) -> Result<String, String> {
        let typed = self.parse()?;
        toml::to_string(&typed).map_err(|e| format!("alerts: {e}"))
    }
}

/// An account of the directory: who a user is worth.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// A user id, or an email domain written `@example.com`.
    #[serde(rename = "match")]
    pub matches: String,
    pub company: Option<String>,
    #[serde(default)]
    pub value_cents: i64,
    pub tier: Option<String>,
}

/// A tenant's own lake destination: its bucket (S3 sink only) and/or key prefix.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LakeSpec {
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
}
