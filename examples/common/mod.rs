//! The example MCP handler shared by `examples/server.rs`, `examples/axum.rs` and the tests.
//!
//! A handler is a plain async function over one message; everything HTTP, session and stream
//! related stays in the transport.
#![allow(dead_code)]

pub(crate) mod serve;

use std::convert::Infallible;
use std::time::Duration;

use mcp_tower::{McpRequest, McpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

/// Answers `initialize` (session era), `server/discover` (2026-07-28), `ping`, `tools/list`
/// and `tools/call`.
pub(crate) async fn handle(req: McpRequest) -> Result<McpResponse, Infallible> {
    Ok(match req.method() {
        // The 2026-07-28 era's stand-in for `initialize`: which versions and what features.
        // `ask_llm` works in both eras: `ctx.request` is a real request in a session, and an
        // `InputRequiredResult` (the client retries with the answer) on a 2026-07-28 call.
        "server/discover" => McpResponse::result(json!({
            "supportedVersions": mcp_tower::ProtocolVersion::ALL
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>(),
            "capabilities": { "tools": {} },
            "instructions": "Tools: echo, add, countdown, slow_count, ask_llm.",
            // Nothing here depends on who asks: any cache may keep it for a minute.
            "ttlMs": 60_000,
            "cacheScope": "public",
        })),
        "initialize" => McpResponse::result(json!({
            // The transport has negotiated the version already: echo it.
            "protocolVersion": req.protocol_version().as_str(),
            "capabilities": { "tools": {}, "logging": {} },
            "serverInfo": { "name": "mcp-tower-example", "version": env!("CARGO_PKG_VERSION") },
            "instructions": "Tools: echo, add, countdown, slow_count, ask_llm.",
        })),
        "ping" | "logging/setLevel" => McpResponse::empty(),
        "tools/list" => McpResponse::result(json!({ "tools": tools() })),
        "tools/call" => call_tool(&req).await,
        // Notifications (`notifications/initialized`, `notifications/cancelled`, …): nothing
        // to do, and the transport discards the answer.
        _ if req.is_notification() => McpResponse::empty(),
        other => McpResponse::method_not_found(other),
    })
}

/// The tool list, with JSON Schemas for the arguments.
pub(crate) fn tools() -> Value {
    json!([
        {
            "name": "echo",
            "description": "Returns the text it is given.",
            "inputSchema": {
                "type": "object",
                "properties": { "text": { "type": "string", "description": "Text to echo" } },
                "required": ["text"],
            },
        },
        {
            "name": "add",
            "description": "Adds two numbers.",
            "inputSchema": {
                "type": "object",
                "properties": { "a": { "type": "number" }, "b": { "type": "number" } },
                "required": ["a", "b"],
            },
        },
        {
            "name": "slow_count",
            "description": "Counts to `to` (default 5), one number per second, with progress; \
                            long enough to drop the connection and resume it.",
            "inputSchema": {
                "type": "object",
                "properties": { "to": { "type": "integer", "minimum": 1, "maximum": 60 } },
            },
        },
        {
            "name": "ask_llm",
            "description": "Asks the client's model (MCP sampling) the given question and \
                            returns its answer.",
            "inputSchema": {
                "type": "object",
                "properties": { "question": { "type": "string" } },
                "required": ["question"],
            },
        },
        {
            "name": "countdown",
            "description": "Counts down from `from` (default 3), one step every `delay_ms` \
                            (default 100), reporting progress on the way.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "from": { "type": "integer", "minimum": 0, "maximum": 100 },
                    "delay_ms": { "type": "integer", "minimum": 0, "maximum": 10000 },
                },
            },
        },
    ])
}

#[derive(Deserialize)]
struct Call {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize)]
struct EchoArgs {
    text: String,
}

#[derive(Deserialize)]
struct AddArgs {
    a: f64,
    b: f64,
}

#[derive(Deserialize)]
struct SlowCountArgs {
    #[serde(default = "five")]
    to: u32,
}

#[derive(Deserialize)]
struct AskArgs {
    question: String,
}

#[derive(Deserialize)]
struct CountdownArgs {
    #[serde(default = "three")]
    from: u32,
    #[serde(default = "hundred")]
    delay_ms: u64,
}

fn five() -> u32 {
    5
}

fn three() -> u32 {
    3
}

fn hundred() -> u64 {
    100
}

fn text(s: impl Into<String>) -> McpResponse {
    McpResponse::result(json!({ "content": [{ "type": "text", "text": s.into() }] }))
}

/// A tool failure is a result with `isError`, so the model can read it.
fn tool_error(s: impl Into<String>) -> McpResponse {
    McpResponse::result(
        json!({ "content": [{ "type": "text", "text": s.into() }], "isError": true }),
    )
}

fn args<T: for<'de> Deserialize<'de>>(v: &Value) -> Result<T, McpResponse> {
    let v = if v.is_null() { json!({}) } else { v.clone() };
    serde_json::from_value(v).map_err(|e| tool_error(format!("invalid arguments: {e}")))
}

async fn call_tool(req: &McpRequest) -> McpResponse {
    let call: Call = match req.parse_params() {
        Ok(call) => call,
        Err(e) => return e.into(),
    };
    let result = match call.name.as_str() {
        "echo" => args::<EchoArgs>(&call.arguments).map(|a| text(a.text)),
        "add" => args::<AddArgs>(&call.arguments).map(|a| text(format!("{}", a.a + a.b))),
        "countdown" => match args::<CountdownArgs>(&call.arguments) {
            Ok(a) => Ok(countdown(req, a.from.min(100), a.delay_ms.min(10_000)).await),
            Err(e) => Err(e),
        },
        "slow_count" => match args::<SlowCountArgs>(&call.arguments) {
            Ok(a) => Ok(slow_count(req, a.to.clamp(1, 60)).await),
            Err(e) => Err(e),
        },
        "ask_llm" => match args::<AskArgs>(&call.arguments) {
            Ok(a) => Ok(ask_llm(req, &a.question).await),
            Err(e) => Err(e),
        },
        other => Err(McpResponse::invalid_params(format!(
            "unknown tool: {other}"
        ))),
    };
    result.unwrap_or_else(|e| e)
}

/// Emits `notifications/progress` on the call's own stream (when the client sent a progress
/// token), then answers.
async fn countdown(req: &McpRequest, from: u32, delay_ms: u64) -> McpResponse {
    let ctx = req.context();
    let total = f64::from(from);
    for left in (1..=from).rev() {
        ctx.progress(
            total - f64::from(left),
            Some(total),
            Some(&format!("{left}…")),
        );
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    ctx.progress(total, Some(total), Some("liftoff"));
    text(format!("counted down from {from}"))
}

/// One number per second, with progress: drop the connection mid-way and resume it with
/// `Last-Event-ID` to see nothing lost.
async fn slow_count(req: &McpRequest, to: u32) -> McpResponse {
    let ctx = req.context();
    for n in 1..=to {
        tokio::time::sleep(Duration::from_secs(1)).await;
        ctx.progress(f64::from(n), Some(f64::from(to)), Some(&format!("{n}")));
    }
    text(format!("counted to {to}"))
}

/// Asks the client's model through MCP sampling, and returns what it said.
async fn ask_llm(req: &McpRequest, question: &str) -> McpResponse {
    let params = json!({
        "messages": [{ "role": "user", "content": { "type": "text", "text": question } }],
        "maxTokens": 200,
    });
    match req
        .context()
        .request("sampling/createMessage", Some(params))
        .await
    {
        Ok(answer) => {
            let said = answer["content"]["text"].as_str().unwrap_or("(no text)");
            text(format!("The model says: {said}"))
        }
        Err(e) => tool_error(format!("sampling failed: {e}")),
    }
}
