//! The statistical proofs of issue 17 ("Proven"): the sampler against theory, the bandit's
//! regret, the holdout and its sample-ratio check, interval coverage over simulated experiments
//! with known truth, and exact merging. Every run is seeded: a pass is reproducible.

mod it;
