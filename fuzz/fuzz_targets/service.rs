//! The whole `McpService`, fed an arbitrary request through `oneshot`: method, a few headers
//! and an arbitrary body. Every answer is a status the specification names, in bounded time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_tower::McpLayer;

#[path = "common.rs"]
mod common;

fuzz_target!(|input: &[u8]| {
    let Some((&flags, body)) = input.split_first() else {
        return;
    };
    let method = if flags & 1 == 0 {
        http::Method::POST
    } else {
        http::Method::GET
    };
    let mut req = http::Request::builder()
        .method(method)
        .uri("/mcp")
        .header("host", "localhost")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if flags & 2 != 0 {
        req = req.header("mcp-protocol-version", "2025-03-26");
    }
    // The bytes as they are: invalid UTF-8 included.
    let body = http_body_util::Full::new(bytes::Bytes::copy_from_slice(body));
    let Ok(req) = req.body(body) else {
        return;
    };
    common::status_of(McpLayer::new().max_body_bytes(64 * 1024), req);
});
