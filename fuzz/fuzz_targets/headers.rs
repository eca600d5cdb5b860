//! Header parsing: a valid `initialize` body behind arbitrary values of every header the
//! transport reads, each present zero, one or more times. Every answer is a status the
//! specification names, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_tower::McpLayer;

#[path = "common.rs"]
mod common;

const NAMES: [&str; 12] = [
    "host",
    "origin",
    "accept",
    "content-type",
    "content-length",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "mcp-method",
    "mcp-name",
    "mcp-param-city",
    "authorization",
];

const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}"#;

fuzz_target!(|input: &[u8]| {
    let Some((&method, mut rest)) = input.split_first() else {
        return;
    };
    let method = match method % 4 {
        0 => http::Method::POST,
        1 => http::Method::GET,
        2 => http::Method::DELETE,
        _ => http::Method::PUT,
    };
    let mut req = http::Request::builder().method(method).uri("/mcp");
    // Records: [name index][length][value bytes].
    while let [index, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (value, next) = tail.split_at(len);
        rest = next;
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            req = req.header(NAMES[usize::from(*index) % NAMES.len()], value);
        }
    }
    let Ok(req) = req.body(BODY.to_owned()) else {
        return;
    };
    common::status_of(McpLayer::new(), req);
});
