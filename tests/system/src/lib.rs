//! Cross-process system tests (`tests/`): each starts real `sentientiq-edge` and
//! `sentientiq-control` processes through `sentientiq-testkit` and talks to them over real
//! sockets. `cargo test --workspace --all-targets` builds the binaries they start.
