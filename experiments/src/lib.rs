//! Experiments on interventions (issue 17): which variant a qualifying session gets, and what
//! the interventions demonstrably did.
//!
//! - [`config`]: an experiment (rule, variants, holdout share, burn-in, floor weight,
//!   attribution window), validated once into an [`Experiment`]; every limit is a constant
//!   with its reason.
//! - [`counts`]: mergeable integer counts per arm ([`ExperimentCounts`]) and the per-session
//!   [`Exposure`] that feeds them (outcomes once per session, inside the attribution window).
//! - [`assign()`]: the decision for one session (holdout first, then burn-in, floor or Thompson
//!   sampling), returned with the posterior and generator state that replay it.
//! - [`forensics()`]: rates, revenue and uplift against the holdout with 95 % intervals, the
//!   sample-ratio-mismatch check, and money claims only where the holdout supports them. Its
//!   module documentation says why uplift is measured against the holdout.
//! - [`stats`], [`special`], [`sample`], [`rng`]: the methods, each citing its source.
//! - [`sim`]: seeded simulations with known truth (regret, coverage), used by the tests and by
//!   `examples/report.rs`.
//!
//! # Invariants
//!
//! - Pure: no I/O, no clock (time is a parameter: `now_ms`), no threads, no global state
//!   (`clippy.toml` bans the clock and I/O types).
//! - Randomness enters only through an explicit, seeded, recordable [`Rng`], and only to
//!   choose an arm. Every reported number and interval is a deterministic function of counts.
//! - Counts are integer sums: merging is exact, commutative and associative.
//! - [`assign()`] does not allocate.

pub mod assign;
pub mod config;
pub mod counts;
pub mod forensics;
pub mod rng;
pub mod sample;
pub mod sim;
pub mod special;
pub mod stats;

pub use assign::{AssignError, Assignment, Posterior, Reason, assign};
pub use config::{
    ConfigError, Experiment, ExperimentConfig, IdError, MAX_VARIANTS, VariantConfig, check_id,
};
pub use counts::{Arm, ArmCounts, ExperimentCounts, Exposure, Outcome, Recorded};
pub use forensics::{ArmReport, Claim, NoClaim, Report, Uplift, VariantReport, forensics};
pub use rng::{Rng, RngError, RngState};
pub use stats::{Estimate, Moments, Srm, SrmCheck, TEstimate};
