//! What the service targets share: a handler, and sending one request through the transport.

use mcp_tower::{McpLayer, McpRequest, McpResponse};
use tower::{Layer, ServiceExt};

/// Sends `req` through `layer` around a handler that answers `initialize` and nothing else,
/// and returns the status, checking it is one the specification names and came in time.
pub fn status_of<B>(layer: McpLayer, req: http::Request<B>) -> u16
where
    B: http_body::Body + Send + 'static,
    B::Data: bytes::Buf + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let svc = layer.layer(tower::service_fn(|req: McpRequest| async move {
        Ok::<_, std::convert::Infallible>(match req.method() {
            "initialize" => McpResponse::result(serde_json::json!({
                "protocolVersion": req.protocol_version().as_str(),
                "capabilities": {},
                "serverInfo": { "name": "fuzz", "version": "1" },
            })),
            other => McpResponse::method_not_found(other),
        })
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let status = runtime.block_on(async {
        let res = tokio::time::timeout(std::time::Duration::from_secs(5), svc.oneshot(req))
            .await
            .expect("the transport answered in time")
            .expect("infallible");
        res.status().as_u16()
    });
    assert!(
        matches!(
            status,
            200 | 202 | 400 | 403 | 404 | 405 | 406 | 408 | 413 | 415 | 429 | 503
        ),
        "unexpected status {status}"
    );
    status
}
