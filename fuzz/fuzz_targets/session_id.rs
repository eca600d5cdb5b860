//! Session id parsing: arbitrary `Mcp-Session-Id` text looked up in a registry that holds one
//! real session. Nothing but the real id may find it.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_tower::{McpLayer, McpRequest, McpResponse, Sessions};
use tower::{Layer, ServiceExt};

/// A registry with one live session, that session's id, and the runtime its reaper runs on
/// (kept, so that nothing is leaked).
fn registry() -> &'static (Sessions, String, tokio::runtime::Runtime) {
    static REGISTRY: OnceLock<(Sessions, String, tokio::runtime::Runtime)> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let layer = McpLayer::new();
        let sessions = layer.sessions();
        let svc = layer.layer(tower::service_fn(|req: McpRequest| async move {
            Ok::<_, std::convert::Infallible>(McpResponse::result(serde_json::json!({
                "protocolVersion": req.protocol_version().as_str(),
                "capabilities": {},
                "serverInfo": { "name": "fuzz", "version": "1" },
            })))
        }));
        let init = http::Request::post("/mcp")
            .header("host", "localhost")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}"#
                    .to_owned(),
            )
            .expect("a valid request");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let res = runtime
            .block_on(svc.oneshot(init))
            .expect("infallible");
        let id = res.headers()["mcp-session-id"]
            .to_str()
            .expect("visible ASCII")
            .to_owned();
        (sessions, id, runtime)
    })
}

fuzz_target!(|text: &str| {
    let (sessions, id, _runtime) = registry();
    let found = sessions.get(text);
    assert_eq!(
        found.is_some(),
        text == id,
        "only the session's own id finds it"
    );
});
