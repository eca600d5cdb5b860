//! An MCP client over Streamable HTTP, and a reconnecting SSE reader, on top of any tower HTTP
//! service.
//!
//! - [`StreamableHttpClient`] speaks MCP's Streamable HTTP transport (2025-03-26, 2025-06-18,
//!   2025-11-25; it also accepts a server that negotiates 2024-11-05): `initialize` with
//!   version negotiation and session capture, `notifications/initialized`, requests answered
//!   as JSON or as SSE streams (progress and server→client requests are delivered before the
//!   response, server requests are answered through a handler you supply and POSTed back),
//!   resumption of a broken POST stream with `GET` + `Last-Event-ID`, the standalone `GET`
//!   stream, `MCP-Protocol-Version` on every request after `initialize`, optional
//!   re-initialization when the session expires (`404`), `notifications/cancelled`, and
//!   `DELETE` on close (`405` tolerated).
//! - The same client speaks the stateless 2026-07-28 era:
//!   [`connect`](StreamableHttpClient::connect) probes `server/discover` and falls back to
//!   `initialize` on a session-era answer (400, 404 or 405, a JSON-RPC error, or no
//!   2026-07-28 in the list); [`discover`](StreamableHttpClient::discover) probes only. On a
//!   2026-07-28 connection every request carries `MCP-Protocol-Version`, `Mcp-Method`,
//!   `Mcp-Name` (`tools/call`, `prompts/get`, `resources/read`), `Mcp-Param-*` for the
//!   arguments a listed tool marks `x-mcp-header`, and `_meta` (protocol version, client
//!   capabilities, `clientInfo`), and no session id. [`request`](StreamableHttpClient::request)
//!   runs the multi-round-trip loop: an `input_required` result's `inputRequests` go to the
//!   same [request handler](StreamableHttpClientBuilder::request_handler) that answers a
//!   session's server requests, and the call is retried with `inputResponses` and the
//!   `requestState`, at most
//!   [`max_input_rounds`](StreamableHttpClientBuilder::max_input_rounds) times.
//!   [`subscribe`](StreamableHttpClient::subscribe) opens a `subscriptions/listen` stream that
//!   is re-opened, with the [`Backoff`], when it drops.
//! - [`StreamableHttpClientBuilder::connect_with_fallback`] follows the specification's
//!   backward-compatibility procedure: a server that answers the `initialize` POST with 400,
//!   404 or 405 is spoken to over the legacy HTTP+SSE transport (protocol 2024-11-05) with a
//!   [`LegacySseClient`] instead.
//! - [`EventSource`] is the reconnect loop underneath, usable on its own for any
//!   `text/event-stream`: `Last-Event-ID`, the server's `retry:` as a floor under a capped
//!   exponential [`Backoff`] with full jitter, `Retry-After`, attempt and time limits, a
//!   connect timeout, an idle watchdog, and no tight loop against a server that accepts and
//!   closes at once.
//! - The SSE parsing itself is [`crate::sse::SseDecoder`], which knows nothing about MCP.
//!
//! # The HTTP service
//!
//! Both are generic over `S: tower::Service<http::Request<ClientBody>>` returning
//! `http::Response<B>` for any body `B`. No socket is needed: hand the client an
//! [`McpService`](crate::McpService) and it talks to it in memory. Over the network, use
//! hyper-util's client:
//!
//! ```
//! use hyper_util::client::legacy::{connect::{Connect, HttpConnector}, Client};
//! use hyper_util::rt::TokioExecutor;
//! use mcp_tower::client::{ClientBody, StreamableHttpClient};
//!
//! /// A client for `url` over any hyper connector.
//! fn mcp_client<C>(connector: C, url: http::Uri) -> StreamableHttpClient<Client<C, ClientBody>>
//! where
//!     C: Connect + Clone + Send + Sync + 'static,
//! {
//!     let http = Client::builder(TokioExecutor::new()).build(connector);
//!     StreamableHttpClient::builder(http, url).build()
//! }
//!
//! // Plain HTTP:
//! let client = mcp_client(HttpConnector::new(), "http://127.0.0.1:3000/mcp".parse().unwrap());
//! # drop(client);
//! ```
//!
//! TLS is the HTTP service's job, not this crate's: for `https://` pass a TLS connector, for
//! example hyper-rustls's, to the same function:
//!
//! ```text
//! let https = hyper_rustls::HttpsConnectorBuilder::new()
//!     .with_native_roots()?
//!     .https_or_http()
//!     .enable_http1()
//!     .build();
//! let client = mcp_client(https, "https://mcp.example.com/mcp".parse()?);
//! ```
//!
//! Anything else that is a tower service works as well: stack `tower::timeout`, retries, or a
//! layer that adds credentials. Headers given to the builder (`Authorization: Bearer …`) go on
//! every request, reconnections included.
//!
//! # Example
//!
//! A session against an [`McpService`](crate::McpService) in memory: handshake, a tool call
//! whose progress is read before the response, and `DELETE` at the end.
//!
//! ```
//! use mcp_tower::client::StreamableHttpClient;
//! use mcp_tower::{McpLayer, McpRequest, McpResponse};
//! use serde_json::json;
//! use std::convert::Infallible;
//! use tower::Layer;
//!
//! async fn handle(req: McpRequest) -> Result<McpResponse, Infallible> {
//!     Ok(match req.method() {
//!         "initialize" => McpResponse::result(json!({
//!             "protocolVersion": req.protocol_version().as_str(),
//!             "capabilities": { "tools": {} },
//!             "serverInfo": { "name": "demo", "version": "1" },
//!         })),
//!         "tools/call" => {
//!             req.context().progress(1.0, Some(2.0), Some("half way"));
//!             McpResponse::result(json!({ "content": [{ "type": "text", "text": "done" }] }))
//!         }
//!         _ => McpResponse::empty(),
//!     })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_tower::client::ClientError> {
//! let server = McpLayer::new().layer(tower::service_fn(handle));
//! let client = StreamableHttpClient::builder(server, "http://localhost/mcp".parse().unwrap())
//!     .client_info("doc-example", "1.0")
//!     .build();
//!
//! let info = client.initialize().await?;
//! assert_eq!(info["serverInfo"]["name"], "demo");
//! assert!(client.session_id().is_some());
//!
//! let params = json!({ "name": "work", "arguments": {}, "_meta": { "progressToken": "p1" } });
//! let mut call = client.call("tools/call", Some(params)).await?;
//! let mut progress = 0;
//! while let Some(message) = call.next_message().await {
//!     assert_eq!(message.method(), Some("notifications/progress"));
//!     progress += 1;
//! }
//! assert_eq!(progress, 1);
//! let result = call.result().await?;
//! assert_eq!(result["content"][0]["text"], "done");
//!
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! # Reconnection
//!
//! See [`Backoff`] for the policy and [`EventSource`] for which failures are retried. The rule
//! that keeps the loop finite: only progress (an event delivered, or a new event id) resets
//! the attempt counter. A connection that is accepted and closed without either counts as a
//! failure, so the delays grow to the cap instead of spinning.

mod backoff;
mod body;
mod config;
mod error;
mod event_source;
mod legacy;
mod message;
mod modern;
mod shared;
mod streamable;
mod subscription;

pub use backoff::{Backoff, DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY};
pub use body::ClientBody;
pub use error::{ClientError, ErrorKind};
pub use event_source::{CloseHandle, EventSource, DEFAULT_CONNECT_TIMEOUT};
pub use legacy::{LegacySseClient, McpClient};
pub use message::{ServerMessage, ServerRequest};
pub use streamable::{Call, ServerStream, StreamableHttpClient, StreamableHttpClientBuilder};
pub use subscription::Subscription;

#[cfg(test)]
mod tests;
