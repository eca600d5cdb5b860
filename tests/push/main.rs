//! Server-initiated traffic, session lifecycle and resumability, through the public API only.
//!
//! In-process tests drive `McpService` with `tower::ServiceExt::oneshot` (most on a paused
//! clock); the `net` tests go over real loopback sockets with hyper and reqwest.

mod support;

mod cancel;
mod chaos;
mod client_requests;
mod event_ids;
mod example;
mod lifecycle;
mod limits;
mod outbound;
mod polling;
mod resume_net;
