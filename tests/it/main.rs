//! Integration tests of the Streamable HTTP transport, through the public API only: one
//! module per area, all in one test binary. `SPEC.md`, cited by section and row, is the
//! project's transport specification, kept in `../shared/` beside the repository.

#[path = "../../examples/common/mod.rs"]
mod example;

mod auth;
mod batch;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod client_2026;
#[cfg(feature = "cors")]
mod cors;
mod durations;
mod get_stream;
mod guard;
mod hostile_bodies;
mod hostile_headers;
mod in_flight;
mod legacy;
#[cfg(feature = "client")]
mod legacy_client;
mod listen;
mod modern;
mod mount;
mod mrtr;
mod no_panic;
mod post;
mod response_mode;
mod resume;
mod send_sync;
mod sessions;
mod setters;
mod socket;
mod sse_framing;
mod stateless;
#[path = "../support/mod.rs"]
mod support;
mod versions;
