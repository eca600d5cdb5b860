//! Server-initiated traffic, session lifecycle and resumability, through the public API only.
//!
//! Most tests drive `McpService` in process with `tower::ServiceExt::oneshot`, on a paused clock
//! where time matters; `resume_net`, `chaos` and the sampling round trip go over real loopback
//! sockets (hyper server, reqwest client).

#[path = "../support/mod.rs"]
mod support;

/// The example server's handler, shared with `examples/`.
#[path = "../../examples/common/mod.rs"]
mod example;

mod cancel;
mod chaos;
mod client_requests;
mod event_ids;
mod example_tools;
mod grace;
mod lifecycle;
mod limits;
mod outbound;
mod polling;
mod resume_net;
