mod bandit;
mod coverage;
mod holdout;
mod merge;
