//! The integration examples, run: each of `examples/server.rs` (hyper, and its legacy `/sse`
//! endpoint), `examples/axum.rs` and `examples/warp.rs` is started on a free loopback port,
//! and spoken to over a real socket:
//! `initialize`, a tool call answered with JSON, and one answered with an SSE stream (the
//! `countdown` tool, whose progress turns its reply into a stream).
//!
//! The example binaries are the ones `cargo test` builds beside this test (it builds every
//! example); run on its own, build them first: `cargo build --examples && cargo test --test
//! examples`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const VERSION: &str = "2025-11-25";
const AXUM_TOKEN: &str = "example-test-token";

/// A started example, killed when dropped (`kill_on_drop`).
struct Example {
    _child: Child,
    url: String,
}

/// `target/<profile>/examples/<name>`, next to this test's own `target/<profile>/deps/`.
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples; alone, run `cargo build --examples` \
         first",
        path.display()
    );
    path
}

/// Starts example `name` on a free port and waits for its `listening on http://…/mcp` line.
async fn start(name: &str, env: &[(&str, &str)]) -> Example {
    let mut child = Command::new(example_path(name))
        .args(["--port", "0"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the example starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("{name} printed nothing within 30 s"))
        .expect("reading the example's stdout")
        .unwrap_or_else(|| panic!("{name} exited before it listened"));
    let url = first
        .split_whitespace()
        .map(|w| w.trim_end_matches([',', ';', ')']))
        .find(|w| w.starts_with("http://") && w.ends_with("/mcp"))
        .unwrap_or_else(|| panic!("{name}'s first line names no MCP URL: {first}"))
        .to_owned();
    // Keep reading (and dropping) the rest of stdout, so the example never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Example { _child: child, url }
}

/// An MCP client session over one example's socket.
struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<&'static str>,
    session: Option<String>,
}

/// What one POST got back.
struct Reply {
    status: reqwest::StatusCode,
    content_type: String,
    /// The JSON-RPC messages of the body (one for JSON, each `data:` for SSE).
    messages: Vec<Value>,
    /// The `Mcp-Session-Id` it issued, if any.
    session: Option<String>,
}

impl Client {
    fn new(url: &str, token: Option<&'static str>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            url: url.to_owned(),
            token,
            session: None,
        }
    }

    async fn post(&self, message: &Value) -> Reply {
        let mut req = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(message.to_string());
        if let Some(session) = &self.session {
            req = req
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", VERSION);
        }
        if let Some(token) = self.token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("the example answers");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let session = res
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = res.text().await.expect("the whole body");
        let messages = if content_type.starts_with("text/event-stream") {
            sse_messages(&text)
        } else if text.is_empty() {
            Vec::new()
        } else {
            vec![serde_json::from_str(&text).expect("a JSON body")]
        };
        Reply {
            status,
            content_type,
            messages,
            session,
        }
    }

    /// initialize + notifications/initialized; checks the answer.
    async fn initialize(&mut self) {
        let reply = self
            .post(
                &json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": VERSION,
                    "capabilities": {},
                    "clientInfo": { "name": "examples-test", "version": "1" },
                }}),
            )
            .await;
        assert_eq!(reply.status, 200);
        let last = reply.messages.last().expect("an initialize result");
        assert_eq!(last["result"]["protocolVersion"], VERSION, "{last}");
        assert!(
            reply.session.is_some(),
            "initialize issued no Mcp-Session-Id"
        );
        self.session = reply.session;
        let reply = self
            .post(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        assert_eq!(reply.status, 202);
    }
}

/// The `data:` payloads of an SSE body that are JSON-RPC messages (priming events are not).
fn sse_messages(text: &str) -> Vec<Value> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            let data = data.join("\n");
            (!data.is_empty())
                .then(|| serde_json::from_str(&data).ok())
                .flatten()
        })
        .collect()
}

/// Initialize, `echo` (JSON), `countdown` with a progress token (SSE with progress), then the
/// session's DELETE.
async fn talk_mcp(url: &str, token: Option<&'static str>) {
    let mut client = Client::new(url, token);
    client.initialize().await;

    let echo = client
        .post(
            &json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "echo", "arguments": { "text": "hello from the examples test" },
            }}),
        )
        .await;
    assert_eq!(echo.status, 200);
    let result = &echo.messages.last().expect("an echo reply")["result"];
    assert_eq!(
        result["content"][0]["text"], "hello from the examples test",
        "{result}"
    );

    let countdown = client
        .post(
            &json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
                "name": "countdown", "arguments": { "from": 3, "delay_ms": 10 },
                "_meta": { "progressToken": "p3" },
            }}),
        )
        .await;
    assert_eq!(countdown.status, 200);
    assert!(
        countdown.content_type.starts_with("text/event-stream"),
        "a call with progress is answered with an SSE stream, got {}",
        countdown.content_type
    );
    let progress = countdown
        .messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress" && m["params"]["progressToken"] == "p3")
        .count();
    assert!(
        progress >= 1,
        "no progress on the stream: {:?}",
        countdown.messages
    );
    let last = countdown.messages.last().unwrap();
    assert_eq!(
        last["id"], 3,
        "the stream ends with the call's answer: {last}"
    );
    assert!(last["result"].is_object(), "{last}");

    let res = client
        .http
        .delete(url)
        .header("mcp-session-id", client.session.clone().unwrap())
        .header("mcp-protocol-version", VERSION)
        .headers(auth_header(token))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "DELETE: {}", res.status());
}

fn auth_header(token: Option<&str>) -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        h.insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    h
}

#[tokio::test]
async fn the_hyper_example_speaks_mcp() {
    let server = start("server", &[]).await;
    talk_mcp(&server.url, None).await;
}

#[tokio::test]
async fn the_axum_example_speaks_mcp_behind_its_token() {
    let server = start("axum", &[("MCP_TOKEN", AXUM_TOKEN)]).await;
    // Without the token: refused before MCP.
    let res = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    talk_mcp(&server.url, Some(AXUM_TOKEN)).await;
    // Its ordinary route still answers.
    let health = server.url.replace("/mcp", "/health");
    let body = reqwest::get(&health).await.unwrap().text().await.unwrap();
    assert_eq!(body, "ok");
}

#[tokio::test]
async fn the_warp_example_speaks_mcp() {
    let server = start("warp", &[]).await;
    talk_mcp(&server.url, None).await;
    let hello = server.url.replace("/mcp", "/hello");
    let body = reqwest::get(&hello).await.unwrap().text().await.unwrap();
    assert_eq!(body, "hello from warp");
}

/// The hyper example's legacy (2024-11-05) HTTP+SSE endpoint, `/sse`, spoken to by the crate's
/// own client over a real socket: it must fall back from Streamable HTTP to the old transport
/// (a POST to `/sse` gets 405), then initialize and call a tool over the stream.
#[cfg(feature = "client")]
#[tokio::test]
async fn the_hyper_examples_legacy_endpoint_speaks_the_old_transport() {
    use hyper_util::client::legacy::Client as HttpClient;
    use hyper_util::rt::TokioExecutor;
    use mcp_tower::client::{ClientBody, McpClient, StreamableHttpClient};

    let server = start("server", &[]).await;
    let sse = server.url.replace("/mcp", "/sse");
    let http = HttpClient::builder(TokioExecutor::new()).build_http::<ClientBody>();
    let client = StreamableHttpClient::builder(http, sse.parse().unwrap())
        .client_info("examples-test", "1")
        .connect_with_fallback();
    let client = tokio::time::timeout(Duration::from_secs(30), client)
        .await
        .expect("connected within 30 s")
        .expect("the legacy endpoint answers");
    assert!(
        matches!(client, McpClient::Legacy(_)),
        "/sse speaks only the old transport"
    );
    let echoed = tokio::time::timeout(
        Duration::from_secs(30),
        client.request(
            "tools/call",
            Some(json!({ "name": "echo", "arguments": { "text": "from the past" } })),
        ),
    )
    .await
    .expect("answered within 30 s")
    .expect("the call succeeds");
    assert_eq!(echoed["content"][0]["text"], "from the past");
}
