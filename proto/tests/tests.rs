//! Integration tests of the wire protocol crate: one binary, one module per concern.

mod it;
