mod dedup;
mod detectors;
mod policy;
pub mod script;
