//! Overrides from the environment, applied after the file is read and before it is validated.
//! Kept apart from parsing so that parsing stays a pure function of the file's text.

use sentientiq_secret::Secret;

use super::File;

/// `SIQ_EDGE_TOKEN`: the control plane's edge token (so it need not be written in the file).
pub const EDGE_TOKEN: &str = "SIQ_EDGE_TOKEN";

/// `SIQ_SECRETS_KEY`: the operator's key (32 bytes, hex or base64) that seals alerting secrets
/// in the last-known-good file.
pub const SECRETS_KEY: &str = "SIQ_SECRETS_KEY";

/// Applies every override `lookup` knows (the process environment, or a test's map).
pub fn apply(file: &mut File, lookup: impl Fn(&str) -> Option<String>) {
    if let Some(t) = lookup(EDGE_TOKEN).filter(|t| !t.is_empty()) {
        file.control.token = Some(Secret::new(t));
    }
    if let Some(k) = lookup(SECRETS_KEY).filter(|k| !k.is_empty()) {
        file.alerts.secrets_key = Some(Secret::new(k));
    }
}

/// The process environment.
pub fn process(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
