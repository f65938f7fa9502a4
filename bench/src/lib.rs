//! Shared pieces of the benches and tools: the Balabit trace reader, the replay driver that
//! feeds traces through the real core, and a seeded synthetic corpus for the benches.

pub mod balabit;
pub mod corpus;
pub mod replay;
