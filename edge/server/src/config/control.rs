//! `[control]`: the control plane this edge follows. Without an endpoint the edge serves the
//! tenants of its file and reports nothing.

use std::path::PathBuf;

use sentientiq_secret::Secret;
use serde::Deserialize;

use super::{Error, http_url, invalid, within};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// `http://host:port` or `https://host:port` of `sentientiq-control`, nothing after it but
    /// `/` (tonic calls the root; `sentientiq_url::check_root`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The plane's edge token (`SIQ_EDGE_TOKEN` in the environment overrides it); `Debug`
    /// shows it redacted.
    #[serde(default)]
    pub token: Option<Secret>,
    /// PEM CA certificate that signed the plane's TLS certificate (https endpoints).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// How often window aggregates are reported (the windows themselves are per minute).
    #[serde(default = "d_report")]
    pub report_interval_ms: u64,
}

impl ControlSection {
    /// The `authorization` header's value for the plane: `Bearer` and the edge token (empty
    /// without one, which validation refuses with an endpoint). Never printed.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token.as_ref().map_or("", |t| t.expose()))
    }
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

impl ControlSection {
    /// Checked after the environment's overrides are applied (the token may come from there).
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(ep) = &self.endpoint {
            http_url("control.endpoint", ep, sentientiq_url::check_root)?;
        }
        within(
            "control.report_interval_ms",
            self.report_interval_ms,
            &REPORT_INTERVAL_MS,
        )?;
        if self.endpoint.is_some() && self.token.as_ref().is_none_or(|t| t.expose().is_empty()) {
            return invalid("control.endpoint needs control.token (or SIQ_EDGE_TOKEN)");
        }
        Ok(())
    }
}
