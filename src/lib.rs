//! # mcp-tower
//!
//! The [Model Context Protocol](https://modelcontextprotocol.io) over HTTP, as tower middleware.
//!
//! [`McpLayer`] wraps any inner MCP handler — a `tower::Service<McpRequest, Response =
//! McpResponse>`, often just an async function in [`tower::service_fn`] — into [`McpService`], an
//! `http::Request -> http::Response` service that speaks MCP's Streamable HTTP transport
//! (protocol revisions 2025-03-26, 2025-06-18 and 2025-11-25): one endpoint, POST for messages
//! (answered with JSON or an SSE stream), GET for the server→client stream, DELETE to end a
//! session, with sessions, Host/Origin checks and every rejection the specification names.
//!
//! It is framework-agnostic: mount it in hyper, axum or warp, stack auth, timeout and CORS
//! layers above it, and unit-test handlers with `tower::ServiceExt::oneshot`, no socket needed.
//!
//! ```
//! use mcp_tower::{McpLayer, McpRequest, McpResponse};
//! use serde_json::json;
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! async fn handle(req: McpRequest) -> Result<McpResponse, Infallible> {
//!     Ok(match req.method() {
//!         "initialize" => McpResponse::result(json!({
//!             "protocolVersion": req.protocol_version().as_str(),
//!             "capabilities": { "tools": {} },
//!             "serverInfo": { "name": "demo", "version": "1.0.0" },
//!         })),
//!         "tools/list" => McpResponse::result(json!({ "tools": [] })),
//!         "ping" => McpResponse::empty(),
//!         other => McpResponse::method_not_found(other),
//!     })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mcp = ServiceBuilder::new().layer(McpLayer::new()).service_fn(handle);
//!
//! let req = http::Request::post("/mcp")
//!     .header("accept", "application/json, text/event-stream")
//!     .header("content-type", "application/json")
//!     .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#.to_string())
//!     .unwrap();
//! let res = mcp.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert!(res.headers().contains_key("mcp-session-id"));
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod error;
mod handler;
mod jsonrpc;
mod layer;
mod listen;
pub mod mrtr;
mod outbox;
pub mod protocol;
mod service;
pub mod session;
pub mod sse;
pub mod tasks;
mod telemetry;
mod time;
mod version;

pub use body::McpBody;
pub use error::{BoxError, Rejection, RejectionKind};
pub use handler::{LogLevel, McpRequest, McpResponse, RequestContext};
pub use jsonrpc::{code, ErrorObject, RequestId};
pub use layer::McpLayer;
pub use listen::{Change, PublishReport, Publisher};
pub use service::{
    McpService, ResponseFuture, ResponseMode, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DRAIN_BYTES,
    DEFAULT_DRAIN_TIME, DEFAULT_MAX_BATCH_LEN, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_LISTEN_STREAMS,
    DEFAULT_MAX_SESSIONS, DEFAULT_SSE_AFTER,
};
pub use session::config::{
    PollingPolicy, DEFAULT_CLIENT_REQUEST_TIMEOUT, DEFAULT_INITIALIZE_TIMEOUT, DEFAULT_KEEP_ALIVE,
    DEFAULT_LEGACY_GRACE, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_PENDING_REQUESTS,
    DEFAULT_MAX_QUEUED_EVENTS, DEFAULT_RETRY_INTERVAL, DEFAULT_SESSION_IDLE_TIMEOUT,
    DEFAULT_STREAM_CAPACITY,
};
pub use session::delivery::{CloseReason, Delivery, SessionClosed};
pub use session::handle::{BroadcastReport, Session, Sessions, ShutdownReport};
pub use session::id::{SessionId, SessionLabel};
pub use session::pending::ClientRequestError;
pub use session::transport::Transport;
pub use version::{ProtocolVersion, UnknownVersion};

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;

/// Crate-private hot paths, for `benches/hot_paths` only: compiled with the
/// `unstable-bench-internals` feature, which `full` does not enable. Not part of the API: no
/// semver promise, hidden from the docs.
#[cfg(feature = "unstable-bench-internals")]
#[doc(hidden)]
pub mod __bench {
    use std::fmt::Debug;

    /// Parses and classifies a POST body exactly as the transport does.
    pub fn parse_payload(body: &[u8]) -> Result<impl Debug, impl Debug> {
        crate::jsonrpc::parse_payload(body)
    }

    /// Serializes the answer to request `id` as the transport writes it.
    pub fn response_bytes(
        id: i64,
        outcome: &Result<serde_json::Value, crate::ErrorObject>,
    ) -> Vec<u8> {
        crate::jsonrpc::response_bytes(&crate::RequestId::Number(id), outcome)
    }

    /// Encodes one JSON message as the SSE event the transport writes.
    pub fn message_event(id: Option<&str>, json: &[u8]) -> bytes::Bytes {
        crate::sse::message_event(id, json)
    }
}
