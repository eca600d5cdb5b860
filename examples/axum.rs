//! The example MCP handler mounted at `/mcp` in an axum `Router`, next to an ordinary route,
//! behind a bearer-token check and a timeout (tower-http).
//!
//! ```text
//! cargo run --example axum          # http://127.0.0.1:3000/mcp, token "secret-token"
//! cargo run --example axum -- --port 8080   # or PORT=8080; port 0 picks a free one
//! curl http://127.0.0.1:3000/health
//! ```
//!
//! Layers above `McpLayer` see HTTP requests (auth, CORS, timeouts on the response head);
//! layers below it would see one MCP message at a time.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use mcp_tower::{McpBody, McpLayer};
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;

/// The application: `/health` and `/mcp`, the latter behind a bearer token.
fn app(token: &str) -> Router {
    let mcp = ServiceBuilder::new()
        // Bounds the time to the response head; SSE bodies stream on afterwards.
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(ValidateRequestHeaderLayer::custom(bearer(token)))
        .layer(McpLayer::new())
        .service_fn(common::handle);
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/mcp", mcp)
}

/// Accepts requests carrying `Authorization: Bearer <token>`; answers 401 otherwise.
// tower-http's `ValidateRequest` fixes the error type to a whole response.
#[allow(clippy::result_large_err)]
fn bearer<B>(
    token: &str,
) -> impl FnMut(&mut http::Request<B>) -> Result<(), http::Response<McpBody>> + Clone {
    let expected = format!("Bearer {token}");
    move |req: &mut http::Request<B>| {
        let ok = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == expected.as_bytes());
        if ok {
            Ok(())
        } else {
            let mut res = http::Response::new(McpBody::empty());
            *res.status_mut() = http::StatusCode::UNAUTHORIZED;
            res.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            Err(res)
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), mcp_tower::BoxError> {
    let token = std::env::var("MCP_TOKEN").unwrap_or_else(|_| "secret-token".to_owned());
    let port = common::serve::port_from_args(3000)?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let addr = listener.local_addr()?;
    // The first line names the port actually bound (scripts and tests read it).
    println!("MCP server listening on http://{addr}/mcp (Authorization: Bearer {token})");
    // Small SSE writes must not wait ~40 ms for a delayed ACK: turn Nagle's algorithm off.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app(&token)).await?;
    Ok(())
}
