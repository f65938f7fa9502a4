//! `[alerts]`: how this edge delivers escalations to people. Optional: every setting has a
//! default. Who is paged, through which vendor, is the tenant's (`[tenant.alerts]`, or the
//! control plane's `SetAlerts`); this section is the edge's side: where the one-click links
//! point, the vendor timeouts, how often alert state goes to the plane.

use serde::Deserialize;

use super::{Error, http_url, within};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// The base URL every message links to (`{public_url}/a/{token}`): how people reach this
    /// edge's link page. Default: `http://{edge.listen}`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// One attempt to a vendor, whole (connect, send, answer).
    #[serde(default = "d_attempt")]
    pub attempt_timeout_ms: u64,
    #[serde(default = "d_connect")]
    pub connect_timeout_ms: u64,
    /// How often alert state changes go to the control plane (with `[control]`); commands from
    /// the plane (`siqctl alerts ack`) arrive at this pace.
    #[serde(default = "d_report")]
    pub report_interval_ms: u64,
    /// How long *Intervene now* waits for the customer's page to say it showed the message.
    #[serde(default = "d_intervene")]
    pub intervene_wait_ms: u64,
    /// The key that seals alerting secrets in the last-known-good file (32 bytes, hex or
    /// base64). From the environment only (`SIQ_SECRETS_KEY`), never from the file; `Debug`
    /// shows it redacted.
    #[serde(skip)]
    pub secrets_key: Option<sentientiq_secret::Secret>,
}

impl Default for AlertsSection {
    fn default() -> Self {
        AlertsSection {
            public_url: None,
            attempt_timeout_ms: d_attempt(),
            connect_timeout_ms: d_connect(),
            report_interval_ms: d_report(),
            intervene_wait_ms: d_intervene(),
            secrets_key: None,
        }
    }
}

/// 10 s: see `sentientiq_alerts::shell::HttpConfig` (a retry beats a long wait).
fn d_attempt() -> u64 {
    10_000
}
fn d_connect() -> u64 {
    3_000
}
/// 1 s: an acknowledgement given with `siqctl` stops the chain within about a second.
fn d_report() -> u64 {
    1_000
}
/// 5 s: the SDK reports `shown` as it renders (one flush, 250 ms by default); a page in a
/// background tab renders when it is shown again, which 5 s does not wait for.
fn d_intervene() -> u64 {
    5_000
}

pub const ATTEMPT_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1_000..=60_000;
pub const CONNECT_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=10_000;
pub const ALERT_REPORT_MS: std::ops::RangeInclusive<u64> = 100..=60_000;
pub const INTERVENE_WAIT_MS: std::ops::RangeInclusive<u64> = 500..=30_000;

impl AlertsSection {
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(u) = &self.public_url {
            http_url("alerts.public_url", u, sentientiq_url::check_base)?;
        }
        within(
            "alerts.attempt_timeout_ms",
            self.attempt_timeout_ms,
            &ATTEMPT_TIMEOUT_MS,
        )?;
        within(
            "alerts.connect_timeout_ms",
            self.connect_timeout_ms,
            &CONNECT_TIMEOUT_MS,
        )?;
        within(
            "alerts.report_interval_ms",
            self.report_interval_ms,
            &ALERT_REPORT_MS,
        )?;
        within(
            "alerts.intervene_wait_ms",
            self.intervene_wait_ms,
            &INTERVENE_WAIT_MS,
        )?;
        if let Some(k) = &self.secrets_key {
            sentientiq_alerts::secret::SealingKey::parse(k.expose()).map_err(|_| {
                Error::Invalid("SIQ_SECRETS_KEY must be 32 bytes as 64 hex digits or base64".into())
            })?;
        }
        Ok(())
    }

    /// The links' base URL.
    pub fn base_url(&self, listen: std::net::SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_is_checked_at_its_edges() {
        type Set = fn(&mut AlertsSection, u64);
        let cases: [(&str, Set, &std::ops::RangeInclusive<u64>); 4] = [
            (
                "attempt_timeout_ms",
                |s, v| s.attempt_timeout_ms = v,
                &ATTEMPT_TIMEOUT_MS,
            ),
            (
                "connect_timeout_ms",
                |s, v| s.connect_timeout_ms = v,
                &CONNECT_TIMEOUT_MS,
            ),
            (
                "report_interval_ms",
                |s, v| s.report_interval_ms = v,
                &ALERT_REPORT_MS,
            ),
            (
                "intervene_wait_ms",
                |s, v| s.intervene_wait_ms = v,
                &INTERVENE_WAIT_MS,
            ),
        ];
        for (name, set, range) in cases {
            for (v, ok) in [
                (range.start() - 1, false),
                (*range.start(), true),
                (range.start() + 1, true),
                (range.end() - 1, true),
                (*range.end(), true),
                (range.end() + 1, false),
            ] {
                let mut s = AlertsSection::default();
                set(&mut s, v);
                let r = s.validate();
                assert_eq!(r.is_ok(), ok, "{name} = {v}");
                if let Err(e) = r {
                    assert!(e.to_string().contains(name), "{e}");
                }
            }
        }
        let mut s = AlertsSection {
            public_url: Some("alerts.example.com".into()),
            ..AlertsSection::default()
        };
        assert!(s.validate().is_err());
        s.public_url = Some("https://alerts.example.com".into());
        s.validate().expect("https");
        assert_eq!(
            s.base_url("127.0.0.1:1".parse().expect("addr")),
            "https://alerts.example.com"
        );
        s.public_url = None;
        assert_eq!(
            s.base_url("127.0.0.1:7400".parse().expect("addr")),
            "http://127.0.0.1:7400"
        );
        s.secrets_key = Some(sentientiq_secret::Secret::new("00".repeat(31)));
        assert!(s.validate().is_err(), "31 bytes");
        s.secrets_key = Some(sentientiq_secret::Secret::new("00".repeat(32)));
        s.validate().expect("32 bytes");
    }
}
