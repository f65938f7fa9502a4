//! The pure core of the SentientIQ edge.
//!
//! frames → [`Session`] (dedup, pointer, clicks, sections, identity) → [`physics`] →
//! [`detect`] → [`policy`] → detections and actions as values; and one decision for the
//! shell's runtime: how long a busy shard's sleeps gather completions ([`wait`]).
//!
//! **Architecture invariant:** this crate does no I/O, reads no clock (time is a parameter:
//! `now_ms` for the server's clock, sample times for the client's), spawns nothing and has no
//! async. Its dependency tree holds no runtime, database, RPC or cloud crate; `make test`
//! checks that mechanically (`scripts/check-core-purity.sh`) and `clippy.toml` bans the clock.

pub mod aggregate;
pub mod config;
pub mod detect;
pub mod evi;
pub mod identity;
pub mod log_every;
pub mod physics;
pub mod policy;
pub mod privacy;
pub mod session;
pub mod spool_blocks;
#[cfg(test)]
pub(crate) mod testutil;
pub mod wait;

pub use aggregate::{Aggregates, Usage, WindowAgg};
pub use config::{ConfigError, DntPolicy, Rule, RuleAction, TenantPolicy, Thresholds};
pub use detect::{Corroboration, Detection, Evidence, escalation_eligible};
pub use identity::Identity;
pub use log_every::LogEvery;
pub use policy::{AccountCooldowns, Action, ActionKind};
pub use session::{Ctx, Disposition, Held, Output, Session, SessionCounters};

/// The emotions the core detects (PROTOCOL.md §5 vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Emotion {
    Rage,
    Frustration,
    Hesitation,
    Confusion,
    Abandonment,
}

impl Emotion {
    pub const ALL: [Emotion; 5] = [
        Emotion::Rage,
        Emotion::Frustration,
        Emotion::Hesitation,
        Emotion::Confusion,
        Emotion::Abandonment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Emotion::Rage => "rage",
            Emotion::Frustration => "frustration",
            Emotion::Hesitation => "hesitation",
            Emotion::Confusion => "confusion",
            Emotion::Abandonment => "abandonment",
        }
    }

    pub fn parse(s: &str) -> Option<Emotion> {
        Emotion::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Confidence from the evidence's margin over its thresholds: `c = 1 − ½·e^(−M)`.
///
/// `M ≥ 0` is the detector's weighted, normalised excess over its thresholds (each detector
/// documents its terms). At a bare threshold crossing (`M = 0`) the confidence is 0.5: the rule
/// fired and nothing more is claimed. It rises toward 1 as the evidence exceeds the thresholds
/// (M = 1.2 → 0.85, M = 2.3 → 0.95). This is a monotone score of margin, not a calibrated
/// probability; the loadgen's ground-truth runs measure how precise each level is.
pub fn confidence(margin: f64) -> f64 {
    let m = if margin.is_finite() {
        margin.max(0.0)
    } else {
        0.0
    };
    1.0 - 0.5 * (-m).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_monotone_and_bounded() {
        assert_eq!(confidence(0.0), 0.5);
        assert_eq!(confidence(-3.0), 0.5);
        assert_eq!(confidence(f64::NAN), 0.5);
        let mut prev = 0.5;
        for i in 1..100 {
            let c = confidence(f64::from(i) * 0.1);
            assert!(c > prev && c < 1.0);
            prev = c;
        }
        assert!((confidence(1.2) - 0.849).abs() < 0.001);
    }

    #[test]
    fn emotions_round_trip() {
        for e in Emotion::ALL {
            assert_eq!(Emotion::parse(e.as_str()), Some(e));
        }
    }
}
