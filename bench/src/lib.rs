//! Shared pieces of the benches and tools: the Balabit trace reader, the replay driver that
//! feeds traces through the real core, a seeded synthetic corpus for the benches, and what the
//! comparison servers share with the edge.

pub mod balabit;
pub mod corpus;
pub mod replay;
pub mod servers;
