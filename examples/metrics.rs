//! The example MCP handler at `/mcp`, with its metrics in Prometheus's text format at
//! `/metrics` (feature `metrics`).
//!
//! ```text
//! cargo run --example metrics --features metrics      # PORT=N to change the port
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! The crate records through the `metrics` facade and never picks an exporter: installing
//! one (here `metrics-exporter-prometheus`) is all it takes. See the `telemetry` section of
//! the crate docs for the names and labels.

mod common;

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use mcp_tower::McpLayer;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::ServiceBuilder;

/// `/mcp` and `/metrics`: the scrape renders what the recorder holds.
fn app(prometheus: PrometheusHandle) -> Router {
    let mcp = ServiceBuilder::new()
        .layer(McpLayer::new())
        .service_fn(common::handle);
    Router::new()
        .route("/metrics", get(move || async move { prometheus.render() }))
        .route_service("/mcp", mcp)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("MCP server on http://{addr}/mcp, metrics on http://{addr}/metrics");
    axum::serve(listener, app(prometheus)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// A session opened through the app shows up in the scrape.
    #[test]
    fn the_scrape_counts_a_session() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let app = app(recorder.handle());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let init = http::Request::post("/mcp")
            .header("host", "localhost")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
            ))
            .unwrap();
        // The recorder is this thread's only: tests running beside this one record elsewhere.
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let res = app.clone().oneshot(init).await.unwrap();
                assert_eq!(res.status(), 200);
            });
        });
        let text = runtime.block_on(async {
            let scrape = app
                .oneshot(
                    http::Request::get("/metrics")
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            scrape.into_body().collect().await.unwrap().to_bytes()
        });
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.contains("mcp_sessions_created_total{transport=\"streamable-http\"} 1"),
            "{text}"
        );
    }
}
