//! A tenant's alerting configuration as the control plane stores it and `siqctl` edits it:
//! vendor accounts, contacts with typed channels, and escalation chains by name (an escalation
//! rule names its chain). Validated once into typed values. `alerts.example.toml` beside this
//! crate is parsed and checked by a test.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chain::{ConfigError, Contact, Policy, Roster};
use crate::channels::Providers;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantAlerts {
    #[serde(default)]
    pub providers: Providers,
    pub contacts: Vec<Contact>,
    /// Chains by name.
    pub chains: BTreeMap<String, Policy>,
}

/// A validated [`TenantAlerts`].
#[derive(Debug, Clone)]
pub struct Validated {
    pub providers: Providers,
    pub roster: Roster,
    pub chains: BTreeMap<String, Policy>,
}

impl TenantAlerts {
    pub fn validate(self) -> Result<Validated, ConfigError> {
        let p = &self.providers;
        let twilio = p.twilio.as_ref().map(|t| t.base.as_str());
        for (key, url) in [
            ("providers.slack_api_base", Some(p.slack_api_base.as_str())),
            ("providers.pagerduty_base", Some(p.pagerduty_base.as_str())),
            ("providers.twilio.base", twilio),
        ] {
            if let Some(url) = url {
                sentientiq_url::setting(key, url, sentientiq_url::check_base)
                    .map_err(ConfigError::BaseUrl)?;
            }
        }
        if let Some(t) = &self.providers.twilio {
            t.validate()
                .map_err(|_| ConfigError::Chain("invalid Twilio account"))?;
        }
        let roster = Roster::new(self.contacts)?;
        for p in self.chains.values() {
            p.validate(&roster)?;
        }
        Ok(Validated {
            providers: self.providers,
            roster,
            chains: self.chains,
        })
    }
}
