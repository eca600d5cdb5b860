//! An MCP server on `http://127.0.0.1:3000/mcp`, served by hyper with `McpLayer`; old
//! HTTP+SSE clients (protocol 2024-11-05) connect to `http://127.0.0.1:3000/sse` and POST to
//! `/messages`.
//!
//! ```text
//! cargo run --example server                 # 127.0.0.1:3000
//! cargo run --example server -- --port 8080  # or PORT=8080
//! MCP_RESPONSE_MODE=sse cargo run --example server   # json | sse | adaptive (the default)
//! MCP_ALLOWED_ORIGINS=http://localhost:5173 cargo run --features cors --example server
//! ```
//!
//! `MCP_ALLOWED_ORIGINS` (comma-separated) replaces the loopback default of the Origin check;
//! built with the `cors` feature, the server also answers CORS for exactly those origins
//! (`McpLayer::cors`, one list for both), so web pages there can use it.
//!
//! Tools: `echo` {text}, `add` {a, b}, `countdown` {from?, delay_ms?} (emits progress),
//! `slow_count` {to?} (one progress step per second, to try resumption), `ask_llm` {question}
//! (asks the client's model through sampling). Ctrl-C drains: open streams are told to
//! reconnect later, running calls get 5 s to finish.

mod common;

use mcp_tower::{BoxError, McpLayer, ResponseMode};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let port = common::serve::port_from_args(3000)?;
    let mut layer = McpLayer::new()
        .response_mode(response_mode_from_env()?)
        // Stamped on every 2026-07-28 result as `_meta["io.modelcontextprotocol/serverInfo"]`.
        .server_info(serde_json::json!({
            "name": "mcp-tower-example",
            "version": env!("CARGO_PKG_VERSION"),
        }))
        // The 2024-11-05 transport, for clients and gateways that predate Streamable HTTP.
        .legacy_sse("/sse", "/messages");
    if let Ok(origins) = std::env::var("MCP_ALLOWED_ORIGINS") {
        layer = layer.allowed_origins(origins.split(',').map(str::trim).filter(|o| !o.is_empty()));
    }
    let sessions = layer.sessions();
    // Browser clients: CORS for the origins the layer allows (feature `cors`).
    #[cfg(feature = "cors")]
    let cors = Some(layer.cors());
    #[cfg(not(feature = "cors"))]
    let cors: Option<tower::layer::util::Identity> = None;
    let mcp = ServiceBuilder::new()
        .option_layer(cors)
        .layer(layer)
        .service_fn(common::handle);
    // The hyper serve loop (TCP_NODELAY, HTTP/1.1 and HTTP/2, these paths only, drain on
    // Ctrl-C) is in examples/common/serve.rs.
    common::serve::serve_paths(mcp, sessions, port, &["/mcp", "/sse", "/messages"]).await
}

/// `$MCP_RESPONSE_MODE`: `json`, `sse` or `adaptive` (the default).
fn response_mode_from_env() -> Result<ResponseMode, BoxError> {
    match std::env::var("MCP_RESPONSE_MODE").as_deref() {
        Err(_) | Ok("adaptive") => Ok(ResponseMode::Adaptive),
        Ok("json") => Ok(ResponseMode::Json),
        Ok("sse") => Ok(ResponseMode::Sse),
        Ok(other) => Err(format!("MCP_RESPONSE_MODE={other}: use json, sse or adaptive").into()),
    }
}
