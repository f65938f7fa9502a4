//! Detection thresholds and tenant policy, validated once into typed values.
//!
//! Every default names its source: a published rule of a product in this space, an operating
//! system constant, or the calibration run on real human motion that set it
//! (`cargo run --release -p sentientiq-bench --bin replay -- --format balabit …`, see
//! `docs/CALIBRATION.md`).

use std::sync::Arc;

use sentientiq_proto::Value;

use crate::Emotion;

/// Most events any "N within W" rule can count (the detectors keep that many times per rule);
/// thresholds above it are refused by validation.
pub const MAX_COUNT: usize = 32;

/// Per-tenant detection thresholds. Times in milliseconds, distances in CSS pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Clicks in a chain that make rage. PostHog: 3 clicks; Datadog: 3 within 1 s.
    pub rage_clicks: u32,
    /// Max gap between consecutive clicks of a chain. PostHog and Datadog: 1 s.
    pub rage_gap_ms: u32,
    /// Max distance between consecutive clicks of a chain. PostHog: 30 px between consecutive
    /// clicks (Datadog allows 100 px over the chain; we use the stricter consecutive rule).
    pub rage_radius_px: f64,
    /// A 3-click chain whose gaps are all within the OS multi-click time and whose clicks are
    /// all within the multi-click distance is what a triple-click text selection looks like, so
    /// it is held until a 4th click or a `dead` report confirms it. Windows GetDoubleClickTime
    /// default: 500 ms; SM_CXDOUBLECLK default: 4 px.
    pub multi_click_ms: u32,
    pub multi_click_px: f64,

    /// Dead clicks (SDK-reported, PostHog's rule: no DOM mutation within 2.5 s and no scroll or
    /// selection change within 100 ms; our SDK uses 1 s per PROTOCOL.md) within
    /// `dead_window_ms` that make frustration. 2 in 10 s: a single dead click is too common
    /// (a mis-aimed click) to be a signal on its own; product choice, to be recalibrated on web
    /// traces from the loadgen's personas.
    pub dead_clicks: u32,
    pub dead_window_ms: u32,
    /// A JS error within this long after a click is an "error click" (Datadog's frustration
    /// signal: a click right before a JavaScript error). 1 s.
    pub error_click_ms: u32,

    /// Confusion by thrashed cursor: at least `thrash_reversals` x-direction reversals within
    /// `thrash_window_ms`, each with |x acceleration| ≥ `thrash_min_accel` px/ms² and a speed
    /// of at least `thrash_min_speed` px/s between reversals. The acceleration gate is
    /// OpenReplay's (0.008 px/ms²). OpenReplay counts >4 changes per 225 ms on raw deltas;
    /// on a differentiated trajectory that is faster than people alternate (≈5–7 Hz), so the
    /// window and count were set on the Balabit calibration run (docs/CALIBRATION.md).
    pub thrash_reversals: u32,
    pub thrash_window_ms: u32,
    pub thrash_min_accel: f64,
    pub thrash_min_speed: f64,
    /// Confusion by scroll thrash: scroll direction reversals within the window.
    /// Set on the Balabit calibration run (wheel events).
    pub scroll_reversals: u32,
    pub scroll_window_ms: u32,

    /// Hesitation: returns to the same spot (within `hesitation_radius_px`) after moving at
    /// least `hesitation_excursion_px` away, with no click, within `hesitation_window_ms`;
    /// `hesitation_returns` returns make hesitation. A "stop" is speed below
    /// `stop_speed` px/s for `stop_ms`. Set on the Balabit calibration run.
    pub hesitation_returns: u32,
    pub hesitation_radius_px: f64,
    pub hesitation_excursion_px: f64,
    pub hesitation_window_ms: u32,
    pub stop_speed: f64,
    pub stop_ms: u32,

    /// Abandonment: a `leave` whose last upward speed is at least this (px/s) is a fast upward
    /// exit (toward the tab bar / close button), which raises the confidence of exit intent.
    pub exit_speed: f64,

    /// Detections at or above this confidence may escalate to a person, if the page also
    /// reported a fact backing them (`detect::escalation_eligible`). 0.85: the replay
    /// calibration shows ≤ 1 rage and ≤ 1 confusion per active hour of ordinary work at it on
    /// motion alone; with the corroboration rule, none (docs/CALIBRATION.md, 2026-12-01).
    pub escalation_confidence: f64,
    /// After a detection of an emotion, the same emotion is not detected again in this
    /// session for this long (one episode, one detection).
    pub refractory_ms: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            rage_clicks: 3,
            rage_gap_ms: 1000,
            rage_radius_px: 30.0,
            multi_click_ms: 500,
            multi_click_px: 4.0,
            dead_clicks: 2,
            dead_window_ms: 10_000,
            error_click_ms: 1000,
            thrash_reversals: 6,
            thrash_window_ms: 1500,
            thrash_min_accel: 0.008,
            thrash_min_speed: 300.0,
            scroll_reversals: 4,
            scroll_window_ms: 2000,
            hesitation_returns: 2,
            hesitation_radius_px: 60.0,
            hesitation_excursion_px: 120.0,
            hesitation_window_ms: 10_000,
            stop_speed: 40.0,
            stop_ms: 150,
            exit_speed: 400.0,
            escalation_confidence: 0.85,
            refractory_ms: 10_000,
        }
    }
}

/// Why a tenant's configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("threshold `{0}` is out of range: {1}")]
    Threshold(&'static str, &'static str),
    #[error("rule `{0}`: {1}")]
    Rule(String, &'static str),
}

impl Thresholds {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = self;
        let checks: [(bool, &'static str, &'static str); 10] = [
            (t.rage_clicks >= 2, "rage_clicks", "must be at least 2"),
            (t.rage_gap_ms > 0, "rage_gap_ms", "must be positive"),
            (t.rage_radius_px > 0.0, "rage_radius_px", "must be positive"),
            (t.dead_clicks >= 1, "dead_clicks", "must be at least 1"),
            (
                t.thrash_reversals >= 2,
                "thrash_reversals",
                "must be at least 2",
            ),
            (
                t.thrash_window_ms > 0,
                "thrash_window_ms",
                "must be positive",
            ),
            (
                t.scroll_reversals >= 2,
                "scroll_reversals",
                "must be at least 2",
            ),
            (
                t.hesitation_returns >= 1,
                "hesitation_returns",
                "must be at least 1",
            ),
            (
                (0.5..=1.0).contains(&t.escalation_confidence),
                "escalation_confidence",
                "must be within 0.5..=1 (0.5 is a bare threshold crossing)",
            ),
            (
                t.hesitation_excursion_px > t.hesitation_radius_px,
                "hesitation_excursion_px",
                "must exceed hesitation_radius_px",
            ),
        ];
        let max = MAX_COUNT as u32;
        for (n, name) in [
            (t.dead_clicks, "dead_clicks"),
            (t.thrash_reversals, "thrash_reversals"),
            (t.scroll_reversals, "scroll_reversals"),
        ] {
            if n > max {
                return Err(ConfigError::Threshold(name, "must be at most 32"));
            }
        }
        for (ok, name, why) in checks {
            if !ok {
                return Err(ConfigError::Threshold(name, why));
            }
        }
        Ok(())
    }
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleAction {
    /// Send an `iv` frame to the page.
    Intervene {
        kind: Arc<str>,
        variant: Arc<str>,
        payload: Arc<Value>,
    },
    /// Notify people (contact ids; the control plane resolves channels).
    Escalate { contacts: Arc<[Arc<str>]> },
}

/// A tenant rule: detection + identity/value → action.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: Arc<str>,
    /// Emotions it reacts to; empty = all.
    pub emotions: Vec<Emotion>,
    pub min_confidence: f64,
    /// Sections it applies to; empty = all.
    pub sections: Vec<Arc<str>>,
    pub require_identified: bool,
    /// Minimum lifetime value of the user/account, in cents.
    pub min_value_cents: i64,
    pub action: RuleAction,
    pub session_cooldown_ms: u64,
    pub account_cooldown_ms: u64,
}

/// What to do with sessions whose browser sends Do-Not-Track / GPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DntPolicy {
    /// Keep the session's behaviour but never bind an identity to it.
    #[default]
    Anonymous,
    /// Keep nothing from such sessions: the shell acknowledges their frames (so the SDK can
    /// forget them) without processing or storing them.
    Drop,
}

/// A tenant's detection and action policy, as the core needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantPolicy {
    pub thresholds: Thresholds,
    /// (emotion, section) → the tenant's label, e.g. (hesitation, pricing) → price_anxiety.
    pub labels: Vec<(Emotion, Arc<str>, Arc<str>)>,
    pub rules: Vec<Rule>,
    /// Sections where hesitation is watched; empty = everywhere.
    pub hesitation_sections: Vec<Arc<str>>,
    /// Sections or page URLs (substring match) that count as checkout for abandonment.
    pub checkout_markers: Vec<Arc<str>>,
    pub dnt: DntPolicy,
}

impl Default for TenantPolicy {
    fn default() -> Self {
        TenantPolicy {
            thresholds: Thresholds::default(),
            labels: Vec::new(),
            rules: Vec::new(),
            hesitation_sections: ["pricing", "plans", "checkout", "cart", "signup"]
                .map(Arc::from)
                .to_vec(),
            checkout_markers: ["checkout", "cart", "payment"].map(Arc::from).to_vec(),
            dnt: DntPolicy::default(),
        }
    }
}

impl TenantPolicy {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.thresholds.validate()?;
        for r in &self.rules {
            if !(0.0..=1.0).contains(&r.min_confidence) {
                return Err(ConfigError::Rule(
                    r.id.to_string(),
                    "min_confidence must be within 0..=1",
                ));
            }
            if let RuleAction::Escalate { contacts } = &r.action
                && contacts.is_empty()
            {
                return Err(ConfigError::Rule(
                    r.id.to_string(),
                    "an escalation needs at least one contact",
                ));
            }
        }
        Ok(())
    }

    /// The tenant's contextual label for an emotion in a section, if it set one.
    pub fn label(&self, e: Emotion, section: Option<&str>) -> Option<&Arc<str>> {
        let section = section?;
        self.labels
            .iter()
            .find(|(le, ls, _)| *le == e && &**ls == section)
            .map(|(_, _, l)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert_eq!(TenantPolicy::default().validate(), Ok(()));
    }

    #[test]
    fn bad_thresholds_are_named() {
        let mut t = Thresholds {
            rage_clicks: 1,
            ..Thresholds::default()
        };
        assert_eq!(
            t.validate(),
            Err(ConfigError::Threshold("rage_clicks", "must be at least 2"))
        );
        t.rage_clicks = 3;
        t.escalation_confidence = 1.01;
        assert!(matches!(
            t.validate(),
            Err(ConfigError::Threshold("escalation_confidence", _))
        ));
    }

    #[test]
    fn labels_are_per_emotion_and_section() {
        let p = TenantPolicy {
            labels: vec![(
                Emotion::Hesitation,
                "pricing".into(),
                "price_anxiety".into(),
            )],
            ..TenantPolicy::default()
        };
        assert_eq!(
            p.label(Emotion::Hesitation, Some("pricing")).map(|s| &**s),
            Some("price_anxiety")
        );
        assert_eq!(p.label(Emotion::Rage, Some("pricing")), None);
        assert_eq!(p.label(Emotion::Hesitation, None), None);
    }
}
