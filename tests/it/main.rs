//! Integration tests: one binary, one module per area.

#[cfg(feature = "client")]
mod client;
