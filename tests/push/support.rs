//! Shared helpers for the push/resumability tests: request builders with the right headers,
//! session setup, an incremental SSE reader over any `http_body::Body`, a loopback server, and a
//! small seeded random number generator.
#![allow(dead_code)]
// Owned `Value` arguments keep call sites short: `tool_call(1, "x", json!({}))`.
#![allow(clippy::needless_pass_by_value)]

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Buf;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_tower::{McpBody, McpLayer, McpRequest, McpResponse, McpService};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

/// The newest revision: priming events, polling.
pub(crate) const V_NEW: &str = "2025-11-25";
/// The revision before: no priming.
pub(crate) const V_OLD: &str = "2025-06-18";

/// The inner handler type every test uses.
pub(crate) type Handler = BoxCloneSyncService<McpRequest, McpResponse, Infallible>;
/// The HTTP service under test.
pub(crate) type Svc = McpService<Handler>;

/// Wraps `f` into a handler that also answers `initialize` (echoing the negotiated version),
/// `ping`, and every notification; `f` sees the rest.
pub(crate) fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(McpRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = McpResponse> + Send + 'static,
{
    BoxCloneSyncService::new(tower::service_fn(move |req: McpRequest| {
        let f = f.clone();
        async move {
            Ok::<_, Infallible>(match req.method() {
                "initialize" => McpResponse::result(json!({
                    "protocolVersion": req.protocol_version().as_str(),
                    "capabilities": { "tools": {} },
                    "serverInfo": { "name": "push-tests", "version": "0" },
                })),
                "ping" => McpResponse::empty(),
                _ if req.is_notification() => McpResponse::empty(),
                _ => f(req).await,
            })
        }
    }))
}

/// A handler that only answers `initialize`, `ping` and notifications.
pub(crate) fn plain() -> Handler {
    handler(|req: McpRequest| async move { McpResponse::method_not_found(req.method()) })
}

/// `layer` applied to `f` (see [`handler`]).
pub(crate) fn service<F, Fut>(layer: &McpLayer, f: F) -> Svc
where
    F: Fn(McpRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = McpResponse> + Send + 'static,
{
    layer.layer(handler(f))
}

/// The example server's handler (`examples/common`), boxed.
pub(crate) fn boxed<F, Fut>(f: F) -> Handler
where
    F: Fn(McpRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<McpResponse, Infallible>> + Send + 'static,
{
    BoxCloneSyncService::new(tower::service_fn(f))
}

/// The params of `initialize` with these client capabilities.
pub(crate) fn init_body(version: &str, capabilities: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": capabilities,
            "clientInfo": { "name": "push-tests", "version": "0" },
        },
    })
}

/// A POST with the headers a conforming client sends.
pub(crate) fn post(session: Option<&str>, version: Option<&str>, body: &Value) -> Request<String> {
    let mut b = Request::post("/mcp")
        .header("host", "localhost")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    if let Some(v) = version {
        b = b.header("mcp-protocol-version", v);
    }
    b.body(body.to_string()).unwrap()
}

/// A GET for the standalone stream, or a resumption with `Last-Event-ID`.
pub(crate) fn get(session: &str, version: &str, last_event_id: Option<&str>) -> Request<String> {
    let mut b = Request::get("/mcp")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", version);
    if let Some(id) = last_event_id {
        b = b.header("last-event-id", id);
    }
    b.body(String::new()).unwrap()
}

/// A DELETE of the session.
pub(crate) fn delete(session: &str, version: &str) -> Request<String> {
    Request::delete("/mcp")
        .header("host", "localhost")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", version)
        .body(String::new())
        .unwrap()
}

/// Sends one request through a clone of the service.
pub(crate) async fn call(svc: &Svc, req: Request<String>) -> Response<McpBody> {
    svc.clone().oneshot(req).await.unwrap()
}

/// A `tools/call` request body with a progress token.
pub(crate) fn tool_call(id: i64, name: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": name, "arguments": arguments, "_meta": { "progressToken": format!("p{id}") } },
    })
}

/// The body of a notification.
pub(crate) fn notification(method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

/// The body of a response to a server→client request.
pub(crate) fn response(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// Reads a whole JSON body (a rejection, or a JSON reply).
pub(crate) async fn json_body(res: Response<McpBody>) -> Value {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?}",
            String::from_utf8_lossy(&bytes).into_owned()
        )
    })
}

/// Initializes a session (JSON or SSE reply) without sending `notifications/initialized`.
pub(crate) async fn initialize_only(svc: &Svc, version: &str, capabilities: Value) -> String {
    let res = call(svc, post(None, None, &init_body(version, capabilities))).await;
    assert_eq!(res.status(), StatusCode::OK, "initialize failed");
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let reply = reply_json(res).await;
    assert_eq!(reply["result"]["protocolVersion"], version, "{reply}");
    sid
}

/// Initializes a session and sends `notifications/initialized`; returns the session id.
pub(crate) async fn initialize(svc: &Svc, version: &str, capabilities: Value) -> String {
    let sid = initialize_only(svc, version, capabilities).await;
    let res = call(
        svc,
        post(
            Some(&sid),
            Some(version),
            &notification("notifications/initialized", json!({})),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    sid
}

/// The JSON-RPC response of a reply, whichever form it took (JSON, or the last message of an
/// SSE stream).
pub(crate) async fn reply_json(res: Response<McpBody>) -> Value {
    let is_sse = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !is_sse {
        return json_body(res).await;
    }
    let mut sse = Sse::new(res.into_body());
    let mut last = None;
    while let Some(ev) = sse.next().await {
        if let Some(v) = ev.json() {
            if v.get("result").is_some() || v.get("error").is_some() {
                last = Some(v);
            }
        }
    }
    last.expect("the SSE reply ended without a response")
}

/// POSTs a client notification and returns the status.
pub(crate) async fn client_notify(
    svc: &Svc,
    sid: &str,
    version: &str,
    method: &str,
    params: Value,
) -> StatusCode {
    call(
        svc,
        post(Some(sid), Some(version), &notification(method, params)),
    )
    .await
    .status()
}

/// POSTs the client's answer to a server→client request and returns the status.
pub(crate) async fn client_answer(
    svc: &Svc,
    sid: &str,
    version: &str,
    id: &Value,
    result: Value,
) -> StatusCode {
    call(svc, post(Some(sid), Some(version), &response(id, result)))
        .await
        .status()
}

/// One parsed server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `id:` field, if any.
    pub(crate) id: Option<String>,
    /// The `retry:` field, if any.
    pub(crate) retry: Option<u64>,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
    /// Whether the event had any `data:` line.
    pub(crate) has_data: bool,
    /// The event block as written.
    pub(crate) raw: String,
}

impl Event {
    /// The data as JSON, if it is non-empty.
    pub(crate) fn json(&self) -> Option<Value> {
        if self.data.is_empty() {
            None
        } else {
            Some(
                serde_json::from_str(&self.data)
                    .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {:?}", self.raw)),
            )
        }
    }

    /// An id with empty data: the priming event.
    pub(crate) fn is_priming(&self) -> bool {
        self.id.is_some() && self.data.is_empty()
    }

    /// Only a `retry:` field: the hint sent before the server closes a connection.
    pub(crate) fn is_retry_hint(&self) -> bool {
        self.retry.is_some() && self.id.is_none() && self.data.is_empty()
    }
}

/// Reads SSE events from a body, frame by frame, as they arrive.
pub(crate) struct Sse<B> {
    body: B,
    buf: Vec<u8>,
    ended: bool,
}

impl<B> Sse<B>
where
    B: http_body::Body + Unpin,
    B::Error: Debug,
{
    pub(crate) fn new(body: B) -> Self {
        Self {
            body,
            buf: Vec::new(),
            ended: false,
        }
    }

    /// The next event (comment-only blocks such as keep-alives are skipped); `None` once the
    /// body ended (or the connection failed).
    pub(crate) async fn next(&mut self) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(ev) = self.take_block() {
                return Some(ev);
            }
            if self.ended {
                return None;
            }
            // Bounded, so a missing event fails the test instead of spinning on keep-alives
            // (a paused clock jumps from one keep-alive to the next forever).
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .expect("no SSE event within 120 s of the test's clock");
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            self.buf.extend_from_slice(chunk);
                            let n = chunk.len();
                            data.advance(n);
                        }
                    }
                }
                Some(Err(_)) | None => self.ended = true,
            }
        }
    }

    /// The next event with JSON data (priming events and retry hints are skipped).
    pub(crate) async fn next_message(&mut self) -> Option<(Option<String>, Value)> {
        loop {
            let ev = self.next().await?;
            if let Some(v) = ev.json() {
                return Some((ev.id, v));
            }
        }
    }

    /// Every remaining event, until the body ends.
    pub(crate) async fn rest(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(ev) = self.next().await {
            out.push(ev);
        }
        out
    }

    /// Whether the body has ended.
    pub(crate) fn ended(&self) -> bool {
        self.ended && self.buf.is_empty()
    }

    /// Splits off one complete, non-comment event block, if the buffer holds one.
    fn take_block(&mut self) -> Option<Event> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
            let block: Vec<u8> = self.buf.drain(..end + 2).collect();
            let raw = String::from_utf8(block).expect("SSE is UTF-8");
            let mut ev = Event {
                id: None,
                retry: None,
                data: String::new(),
                has_data: false,
                raw: raw.clone(),
            };
            let mut fields = 0;
            for line in raw.trim_end_matches('\n').split('\n') {
                if line.starts_with(':') {
                    continue;
                }
                fields += 1;
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match name {
                    "id" => ev.id = Some(value.to_owned()),
                    "retry" => ev.retry = Some(value.parse().expect("retry is digits")),
                    "data" => {
                        if ev.has_data {
                            ev.data.push('\n');
                        }
                        ev.data.push_str(value);
                        ev.has_data = true;
                    }
                    "event" => assert_eq!(value, "message", "unexpected event type"),
                    other => panic!("unexpected SSE field {other:?} in {raw:?}"),
                }
            }
            if fields > 0 {
                return Some(ev);
            }
        }
    }
}

impl Sse<McpBody> {
    /// Reads the SSE body of a response, checking that it is one.
    pub(crate) fn of(res: Response<McpBody>) -> Self {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()["content-type"],
            "text/event-stream",
            "expected an SSE reply"
        );
        Self::new(res.into_body())
    }
}

/// The id and JSON of every message event (priming events and retry hints left out).
pub(crate) fn messages(events: &[Event]) -> Vec<(Option<String>, Value)> {
    events
        .iter()
        .filter_map(|e| e.json().map(|v| (e.id.clone(), v)))
        .collect()
}

/// The id of the last event that has one: where a client resumes from.
pub(crate) fn last_id(events: &[Event]) -> Option<String> {
    events.iter().rev().find_map(|e| e.id.clone())
}

/// An MCP service served by hyper on 127.0.0.1 (any port), until dropped.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) url: String,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `svc` over loopback TCP (HTTP/1.1 and HTTP/2, `TCP_NODELAY`).
pub(crate) async fn serve(svc: Svc) -> Server {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            stream.set_nodelay(true).unwrap();
            let svc = TowerToHyperService::new(svc.clone());
            conns.spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Server {
        addr,
        url: format!("http://{addr}/mcp"),
        task,
    }
}

/// A reqwest client for the loopback server. Each streaming request gets its own connection
/// from the pool; dropping an unfinished body closes that connection.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// A POST over the socket.
pub(crate) async fn http_post(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    version: &str,
    body: &Value,
) -> reqwest::Response {
    let mut b = client
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", version)
        .body(body.to_string());
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.send().await.unwrap()
}

/// A GET (standalone stream or resumption) over the socket.
pub(crate) async fn http_get(
    client: &reqwest::Client,
    url: &str,
    session: &str,
    version: &str,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut b = client
        .get(url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", version);
    if let Some(id) = last_event_id {
        b = b.header("last-event-id", id);
    }
    b.send().await.unwrap()
}

/// Initializes a session over the socket (and sends `notifications/initialized`).
pub(crate) async fn http_initialize(
    client: &reqwest::Client,
    url: &str,
    version: &str,
    capabilities: Value,
) -> String {
    let res = http_post(
        client,
        url,
        None,
        version,
        &init_body(version, capabilities),
    )
    .await;
    assert_eq!(res.status(), 200);
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let _ = res.bytes().await.unwrap();
    let res = http_post(
        client,
        url,
        Some(&sid),
        version,
        &notification("notifications/initialized", json!({})),
    )
    .await;
    assert_eq!(res.status(), 202);
    sid
}

/// The SSE body of a socket response.
pub(crate) fn http_sse(res: reqwest::Response) -> Sse<reqwest::Body> {
    assert_eq!(res.status(), 200, "expected 200 for an SSE reply");
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let res: http::Response<reqwest::Body> = res.into();
    Sse::new(res.into_body())
}

/// Polls `cond` every millisecond (real time) until it holds, for at most `limit`.
pub(crate) async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    cond()
}

/// SplitMix64: a tiny seeded generator, so "random" cut points are the same on every run.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Awaits `f`, failing the test if it takes more than ten seconds (of the test's clock).
pub(crate) async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("timed out")
}

/// The progress value of a `notifications/progress` message.
pub(crate) fn progress_of(msg: &Value) -> Option<u64> {
    (msg["method"] == "notifications/progress")
        .then(|| msg["params"]["progress"].as_f64().unwrap() as u64)
}
