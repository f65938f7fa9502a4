//! An experiment's configuration, validated once into an [`Experiment`] (the only form the
//! assignment and the forensics accept). Every limit is a named constant with its reason.

use serde::{Deserialize, Serialize};

/// Most variants one rule may carry. An [`crate::Assignment`] holds a posterior per variant in
/// a fixed-size array (no heap allocation on the hot path), so this bounds its size (8 × 24
/// bytes of posteriors and draws). Product limit: every arm must pass the burn-in before the
/// bandit learns, so with the default burn-in 8 arms already spend 800 sessions on it.
pub const MAX_VARIANTS: usize = 8;

/// Longest rule or variant id, in bytes. Ids become lake columns and bounded metric labels;
/// product limit, room for a slug or a UUID (36 bytes) with a prefix.
pub const MAX_ID_BYTES: usize = 64;

/// Default share of qualifying sessions held out (no intervention): 10 %, from issue 17.
pub const DEFAULT_HOLDOUT_SHARE: f64 = 0.10;

/// Largest holdout share, from issue 17's bounds. Above one half the holdout would be the larger
/// group, which withholds the intervention from more sessions without narrowing the uplift
/// interval: for a fixed total N, Var(x̄₁ − x̄₂) = σ²(1/n₁ + 1/n₂) is smallest at n₁ = n₂ = N/2.
pub const MAX_HOLDOUT_SHARE: f64 = 0.5;

/// Default burn-in: every active arm gets this many sessions, uniformly, before Thompson
/// sampling takes over. Thompson sampling needs no forced exploration for its regret bound
/// (Agrawal & Goyal, "Analysis of Thompson sampling for the multi-armed bandit problem",
/// COLT 2012); the burn-in is a guard rail so that no variant is judged on a handful of
/// sessions, and its cost is bounded: at most `burn_in × Σ Δᵢ` expected conversions, measured
/// in `tests/it/bandit.rs` (`burn_in_and_floor_costs_are_as_documented`).
pub const DEFAULT_BURN_IN: u64 = 100;

/// Largest burn-in. 10 000 sessions per arm estimates a 5 % conversion rate to ±0.43 points
/// (Wilson half-width); a longer burn-in is a fixed-allocation A/B test, which should be
/// configured as one (a holdout of 50 % with one variant) rather than hidden in a bandit.
pub const MAX_BURN_IN: u64 = 10_000;

/// Default floor weight per arm: 1 %. Each active arm is chosen with probability at least this,
/// whatever the posterior says, so a variant that lost early keeps being measured (Kohavi, Tang
/// & Xu, *Trustworthy Online Controlled Experiments*, 2020, on novelty and primacy effects that
/// reverse early results). Cost: regret
/// grows by `floor × Σ Δᵢ` per session (linear), measured in `tests/it/bandit.rs`.
pub const DEFAULT_FLOOR_WEIGHT: f64 = 0.01;

/// Default attribution window: 30 minutes, the session timeout of Google Analytics (a
/// "visit": the assignment is sticky for the visit, and outcomes count within it).
pub const DEFAULT_ATTRIBUTION_WINDOW_MS: u64 = 30 * 60 * 1000;

/// Shortest attribution window: 1 s, four flush intervals of the SDK at the default tenant
/// `flush_ms` of 250 (`tenant/src/model.rs`). A shorter window would drop outcomes the page
/// reported in time only because they were still batched.
pub const MIN_ATTRIBUTION_WINDOW_MS: u64 = 1000;

/// Longest attribution window: 90 days, the longest click-through conversion window Google Ads
/// offers. The edge must remember the session's assignment that long (or the plane must join it
/// from the lake), so longer windows are refused.
pub const MAX_ATTRIBUTION_WINDOW_MS: u64 = 90 * 24 * 60 * 60 * 1000;

/// One variant of a rule's intervention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    pub id: String,
    /// A paused variant is never assigned; its counts stay and are still reported.
    #[serde(default)]
    pub paused: bool,
}

/// An experiment as configured (TOML or the control plane). Variants are identified by their
/// position: a running experiment may pause variants and append new ones, never reorder or
/// remove them (the counts are kept by position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The policy rule whose intervention is being tested.
    pub rule_id: String,
    pub variants: Vec<VariantConfig>,
    #[serde(default = "default_holdout_share")]
    pub holdout_share: f64,
    #[serde(default = "default_burn_in")]
    pub burn_in_min_samples: u64,
    #[serde(default = "default_floor_weight")]
    pub floor_weight: f64,
    #[serde(default = "default_attribution_window_ms")]
    pub attribution_window_ms: u64,
}

fn default_holdout_share() -> f64 {
    DEFAULT_HOLDOUT_SHARE
}
fn default_burn_in() -> u64 {
    DEFAULT_BURN_IN
}
fn default_floor_weight() -> f64 {
    DEFAULT_FLOOR_WEIGHT
}
fn default_attribution_window_ms() -> u64 {
    DEFAULT_ATTRIBUTION_WINDOW_MS
}

impl ExperimentConfig {
    /// A configuration with the defaults and the given variants (none paused).
    pub fn new(rule_id: &str, variant_ids: &[&str]) -> ExperimentConfig {
        ExperimentConfig {
            rule_id: rule_id.to_owned(),
            variants: variant_ids
                .iter()
                .map(|id| VariantConfig {
                    id: (*id).to_owned(),
                    paused: false,
                })
                .collect(),
            holdout_share: DEFAULT_HOLDOUT_SHARE,
            burn_in_min_samples: DEFAULT_BURN_IN,
            floor_weight: DEFAULT_FLOOR_WEIGHT,
            attribution_window_ms: DEFAULT_ATTRIBUTION_WINDOW_MS,
        }
    }
}

/// Why a configuration was refused. Always the configurer's fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("rule_id {0}")]
    RuleId(IdError),
    #[error("variant {index}: id {error}")]
    VariantId { index: usize, error: IdError },
    #[error("{0} variants: an experiment has 1..={MAX_VARIANTS}")]
    VariantCount(usize),
    #[error("variant id {0:?} appears more than once")]
    DuplicateVariant(String),
    #[error("holdout_share {0} is outside 0..={MAX_HOLDOUT_SHARE}")]
    HoldoutShare(f64),
    #[error("burn_in_min_samples {0} is above {MAX_BURN_IN}")]
    BurnIn(u64),
    #[error("floor_weight {got} is outside 0..={max} (at most 1 / number of variants)")]
    FloorWeight { got: f64, max: f64 },
    #[error(
        "attribution_window_ms {0} is outside {MIN_ATTRIBUTION_WINDOW_MS}..={MAX_ATTRIBUTION_WINDOW_MS}"
    )]
    AttributionWindow(u64),
}

/// What is wrong with an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("is empty")]
    Empty,
    #[error("is {0} bytes long (at most {MAX_ID_BYTES})")]
    TooLong(usize),
    #[error("has a character outside A-Z a-z 0-9 _ - . :")]
    BadChar,
}

/// The one check of a rule or variant id.
pub fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong(id.len()));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
    {
        return Err(IdError::BadChar);
    }
    Ok(())
}

/// 2⁶⁴ as a float: probabilities become thresholds on a uniform 64-bit draw.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// A validated experiment: the only input [`mod@crate::assign`] and [`mod@crate::forensics`] take.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    cfg: ExperimentConfig,
    holdout_threshold: u64,
    floor_threshold: u128,
}

impl ExperimentConfig {
    /// The one validator: every limit above, checked in field order.
    pub fn validate(self) -> Result<Experiment, ConfigError> {
        check_id(&self.rule_id).map_err(ConfigError::RuleId)?;
        let k = self.variants.len();
        if k == 0 || k > MAX_VARIANTS {
            return Err(ConfigError::VariantCount(k));
        }
        for (index, v) in self.variants.iter().enumerate() {
            check_id(&v.id).map_err(|error| ConfigError::VariantId { index, error })?;
            if self.variants[..index].iter().any(|w| w.id == v.id) {
                return Err(ConfigError::DuplicateVariant(v.id.clone()));
            }
        }
        let h = self.holdout_share;
        if !(0.0..=MAX_HOLDOUT_SHARE).contains(&h) {
            return Err(ConfigError::HoldoutShare(h));
        }
        if self.burn_in_min_samples > MAX_BURN_IN {
            return Err(ConfigError::BurnIn(self.burn_in_min_samples));
        }
        let max_floor = 1.0 / k as f64;
        let f = self.floor_weight;
        // The mixing probability is k·f ≤ k·fl(1/k), which may exceed 1 by an ulp; the floor
        // threshold then covers every draw (always uniform), which is what f = 1/k means.
        if !(f >= 0.0 && f <= max_floor) {
            return Err(ConfigError::FloorWeight {
                got: f,
                max: max_floor,
            });
        }
        let w = self.attribution_window_ms;
        if !(MIN_ATTRIBUTION_WINDOW_MS..=MAX_ATTRIBUTION_WINDOW_MS).contains(&w) {
            return Err(ConfigError::AttributionWindow(w));
        }
        // h ≤ ½, so h·2⁶⁴ ≤ 2⁶³ fits; multiplying by a power of two is exact, so the holdout
        // probability threshold/2⁶⁴ is the configured f64 share exactly (up to truncation of the
        // fractional part, < 2⁻⁶⁴).
        let holdout_threshold = (h * TWO_POW_64) as u64;
        let floor_threshold = (f * TWO_POW_64) as u128;
        Ok(Experiment {
            cfg: self,
            holdout_threshold,
            floor_threshold,
        })
    }
}

impl Experiment {
    pub fn config(&self) -> &ExperimentConfig {
        &self.cfg
    }
    pub fn rule_id(&self) -> &str {
        &self.cfg.rule_id
    }
    pub fn variants(&self) -> &[VariantConfig] {
        &self.cfg.variants
    }
    /// Number of variants (1..=[`MAX_VARIANTS`]).
    pub fn n_variants(&self) -> usize {
        self.cfg.variants.len()
    }
    /// Variants that may be assigned.
    pub fn n_active(&self) -> usize {
        self.cfg.variants.iter().filter(|v| !v.paused).count()
    }
    pub fn holdout_share(&self) -> f64 {
        self.cfg.holdout_share
    }
    pub fn burn_in(&self) -> u64 {
        self.cfg.burn_in_min_samples
    }
    pub fn floor_weight(&self) -> f64 {
        self.cfg.floor_weight
    }
    pub fn attribution_window_ms(&self) -> u64 {
        self.cfg.attribution_window_ms
    }
    /// A session is held out when a uniform 64-bit draw is below this.
    pub(crate) fn holdout_threshold(&self) -> u64 {
        self.holdout_threshold
    }
    /// floor · 2⁶⁴: with k active arms, a uniform 64-bit draw below k times this picks an arm
    /// uniformly.
    pub(crate) fn floor_threshold(&self) -> u128 {
        self.floor_threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ExperimentConfig {
        ExperimentConfig::new("rage-checkout", &["chat", "offer-10", "help"])
    }

    fn check(edit: impl FnOnce(&mut ExperimentConfig), expected: Result<(), ConfigError>) {
        let mut c = base();
        edit(&mut c);
        assert_eq!(c.validate().map(|_| ()), expected);
    }

    #[test]
    fn defaults_validate() {
        let e = base().validate().expect("valid");
        assert_eq!(e.holdout_share(), 0.10);
        assert_eq!(e.burn_in(), 100);
        assert_eq!(e.floor_weight(), 0.01);
        assert_eq!(e.attribution_window_ms(), 1_800_000);
        assert_eq!(e.n_variants(), 3);
        assert_eq!(e.n_active(), 3);
    }

    #[test]
    fn variant_count_limit_at_cap_minus_1_cap_cap_plus_1() {
        let ids = |n: usize| -> Vec<VariantConfig> {
            (0..n)
                .map(|i| VariantConfig {
                    id: format!("v{i}"),
                    paused: false,
                })
                .collect()
        };
        for (n, ok) in [
            (0, false),
            (1, true),
            (MAX_VARIANTS - 1, true),
            (MAX_VARIANTS, true),
            (MAX_VARIANTS + 1, false),
        ] {
            let expected = if ok {
                Ok(())
            } else {
                Err(ConfigError::VariantCount(n))
            };
            check(
                |c| {
                    c.variants = ids(n);
                    c.floor_weight = 0.0;
                },
                expected,
            );
        }
    }

    #[test]
    fn id_length_limit_at_cap_minus_1_cap_cap_plus_1() {
        for (len, ok) in [
            (MAX_ID_BYTES - 1, true),
            (MAX_ID_BYTES, true),
            (MAX_ID_BYTES + 1, false),
        ] {
            let id = "r".repeat(len);
            let expected = if ok {
                Ok(())
            } else {
                Err(ConfigError::RuleId(IdError::TooLong(len)))
            };
            check(|c| c.rule_id = id.clone(), expected.clone());
            let expected = expected.map_err(|_| ConfigError::VariantId {
                index: 1,
                error: IdError::TooLong(len),
            });
            check(|c| c.variants[1].id = id, expected);
        }
        check(
            |c| c.rule_id.clear(),
            Err(ConfigError::RuleId(IdError::Empty)),
        );
        check(
            |c| c.variants[0].id = "has space".into(),
            Err(ConfigError::VariantId {
                index: 0,
                error: IdError::BadChar,
            }),
        );
        check(
            |c| c.variants[2].id = "chat".into(),
            Err(ConfigError::DuplicateVariant("chat".into())),
        );
    }

    #[test]
    fn holdout_share_bounds_0_to_half() {
        for h in [0.0, 0.1, 0.5f64.next_down(), 0.5] {
            check(|c| c.holdout_share = h, Ok(()));
        }
        for h in [0.5f64.next_up(), 0.0f64.next_down(), -0.1, 1.0, f64::NAN] {
            let mut c = base();
            c.holdout_share = h;
            assert!(
                matches!(c.validate(), Err(ConfigError::HoldoutShare(_))),
                "{h}"
            );
        }
        // The thresholds are exact: ½ is 2⁶³, 0 never holds out.
        let mut c = base();
        c.holdout_share = 0.5;
        assert_eq!(c.validate().expect("valid").holdout_threshold(), 1u64 << 63);
        let mut c = base();
        c.holdout_share = 0.0;
        assert_eq!(c.validate().expect("valid").holdout_threshold(), 0);
    }

    #[test]
    fn burn_in_limit_at_cap_minus_1_cap_cap_plus_1() {
        check(|c| c.burn_in_min_samples = MAX_BURN_IN - 1, Ok(()));
        check(|c| c.burn_in_min_samples = MAX_BURN_IN, Ok(()));
        check(
            |c| c.burn_in_min_samples = MAX_BURN_IN + 1,
            Err(ConfigError::BurnIn(MAX_BURN_IN + 1)),
        );
        check(|c| c.burn_in_min_samples = 0, Ok(()));
    }

    #[test]
    fn floor_weight_bounds_0_to_one_over_k() {
        // Three variants: the cap is 1/3.
        let cap = 1.0f64 / 3.0;
        for f in [0.0, cap.next_down(), cap] {
            check(|c| c.floor_weight = f, Ok(()));
        }
        for f in [cap.next_up(), -0.01, f64::NAN, f64::INFINITY] {
            let mut c = base();
            c.floor_weight = f;
            assert!(
                matches!(c.validate(), Err(ConfigError::FloorWeight { .. })),
                "{f}"
            );
        }
    }

    #[test]
    fn attribution_window_bounds() {
        for (w, ok) in [
            (MIN_ATTRIBUTION_WINDOW_MS - 1, false),
            (MIN_ATTRIBUTION_WINDOW_MS, true),
            (MIN_ATTRIBUTION_WINDOW_MS + 1, true),
            (MAX_ATTRIBUTION_WINDOW_MS - 1, true),
            (MAX_ATTRIBUTION_WINDOW_MS, true),
            (MAX_ATTRIBUTION_WINDOW_MS + 1, false),
        ] {
            let expected = if ok {
                Ok(())
            } else {
                Err(ConfigError::AttributionWindow(w))
            };
            check(|c| c.attribution_window_ms = w, expected);
        }
    }
}
