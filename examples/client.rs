//! An MCP client for any Streamable HTTP server, built on hyper-util's client.
//!
//! ```text
//! cargo run --example server &                                   # or any other MCP server
//! cargo run --example client --features client                   # http://127.0.0.1:3000/mcp
//! cargo run --example client --features client -- http://host:port/mcp
//! ```
//!
//! It connects in whichever era the server speaks (`server/discover` first, for 2026-07-28;
//! `initialize` and a session for an older server), lists the server's tools, calls `echo` if
//! the server has it, calls `countdown` with a progress token if it has that one (printing each
//! progress notification as it arrives), ends the session (if there is one) and exits non-zero
//! on any failure. `https://` URLs need a TLS
//! connector: see the `mcp_tower::client` module docs.

use std::process::ExitCode;

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_tower::client::{ClientBody, ClientError, ServerMessage, StreamableHttpClient};
use serde_json::{json, Value};

const DEFAULT_URL: &str = "http://127.0.0.1:3000/mcp";

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str) -> Result<(), Error> {
    let uri: http::Uri = url.parse()?;
    if uri.scheme_str() == Some("https") {
        return Err(
            "https needs a TLS connector (see the mcp_tower::client docs); \
                    this example speaks plain http"
                .into(),
        );
    }
    let http = Client::builder(TokioExecutor::new()).build_http::<ClientBody>();
    let client = StreamableHttpClient::builder(http, uri)
        .client_info("mcp-tower-example-client", env!("CARGO_PKG_VERSION"))
        .build();

    // The `InitializeResult` names the server in `serverInfo`; a 2026-07-28 `DiscoverResult`
    // in its `_meta`.
    let info = client.connect().await?;
    let server = info
        .get("serverInfo")
        .or_else(|| info["_meta"].get("io.modelcontextprotocol/serverInfo"))
        .cloned()
        .unwrap_or_default();
    println!(
        "connected to {} {} (protocol {}, session {})",
        server["name"].as_str().unwrap_or("?"),
        server["version"].as_str().unwrap_or("?"),
        client.protocol_version().map_or("?", |v| v.as_str()),
        client.session_id().as_deref().unwrap_or("none"),
    );

    let had_session = client.session_id().is_some();
    let outcome = session(&client).await;
    // End the session (if any) whatever happened; report the first failure.
    let closed = client.close().await;
    outcome?;
    closed?;
    println!(
        "{}",
        if had_session {
            "session closed"
        } else {
            "done"
        }
    );
    Ok(())
}

async fn session<S, B>(client: &StreamableHttpClient<S>) -> Result<(), Error>
where
    S: tower::Service<http::Request<ClientBody>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Error: Into<mcp_tower::BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<mcp_tower::BoxError>,
{
    let tools = list_tools(client).await?;
    println!("tools:");
    for tool in &tools {
        println!(
            "  {:<12} {}",
            tool["name"].as_str().unwrap_or("?"),
            tool["description"].as_str().unwrap_or("")
        );
    }
    let has = |name: &str| tools.iter().any(|t| t["name"] == name);

    if has("echo") {
        let params = json!({ "name": "echo", "arguments": { "text": "hello from mcp-tower" } });
        let result = client.request("tools/call", Some(params)).await?;
        println!("echo -> {}", tool_text(&result)?);
    }

    if has("countdown") {
        let params = json!({
            "name": "countdown",
            "arguments": { "from": 3 },
            "_meta": { "progressToken": "countdown-1" },
        });
        let mut call = client.call("tools/call", Some(params)).await?;
        while let Some(message) = call.next_message().await {
            match &message {
                ServerMessage::Notification(n)
                    if message.method() == Some("notifications/progress") =>
                {
                    let p = &n["params"];
                    println!(
                        "  progress {}/{} {}",
                        p["progress"],
                        p.get("total").unwrap_or(&Value::Null),
                        p["message"].as_str().unwrap_or("")
                    );
                }
                other => println!("  server says: {}", other.as_value()),
            }
        }
        println!("countdown -> {}", tool_text(&call.result().await?)?);
    }
    Ok(())
}

/// `tools/list`, following `nextCursor` pages.
async fn list_tools<S, B>(client: &StreamableHttpClient<S>) -> Result<Vec<Value>, ClientError>
where
    S: tower::Service<http::Request<ClientBody>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Error: Into<mcp_tower::BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<mcp_tower::BoxError>,
{
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    // A bound on pages, so a server that repeats its cursor cannot keep us here.
    for _ in 0..100 {
        let params = cursor.take().map(|c| json!({ "cursor": c }));
        let page = client.request("tools/list", params).await?;
        if let Some(list) = page["tools"].as_array() {
            tools.extend(list.iter().cloned());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(tools)
}

/// The text of a tool result; a result flagged `isError` is a failure.
fn tool_text(result: &Value) -> Result<String, Error> {
    let text = result["content"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if result["isError"] == true {
        return Err(format!("tool failed: {text}").into());
    }
    Ok(text)
}
