//! Shared helpers: a test server around the layer, request builders, body collection, SSE
//! parsing and the checks every rejection must pass.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HOST};
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use mcp_tower::{BoxError, McpBody, McpLayer, McpRequest, McpResponse, Rejection, RejectionKind};
use mcp_tower::{ProtocolVersion, Sessions};
use serde_json::{json, Value};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use crate::example;

/// The request body type the helpers use.
pub(crate) type Body = Full<Bytes>;

/// What a well-behaved client sends in `Accept` on a POST.
pub(crate) const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// The `Host` every helper request carries (a loopback name, as a local client would send).
pub(crate) const LOCAL_HOST: &str = "localhost:3000";

/// The longest any body or response may take before a test fails instead of hanging.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// `McpLayer` around a handler, behind a boxed clone service, with its session registry.
#[derive(Clone)]
pub(crate) struct Server {
    svc: BoxCloneSyncService<Request<Body>, Response<McpBody>, Infallible>,
    pub(crate) sessions: Sessions,
}

impl Server {
    /// The example handler behind `layer`.
    pub(crate) fn example(layer: McpLayer) -> Self {
        Self::with_handler(layer, tower::service_fn(example::handle))
    }

    /// Any handler behind `layer`.
    pub(crate) fn with_handler<H>(layer: McpLayer, handler: H) -> Self
    where
        H: Service<McpRequest, Response = McpResponse> + Clone + Send + Sync + 'static,
        H::Error: Into<BoxError>,
        H::Future: Send + 'static,
    {
        let sessions = layer.sessions();
        let svc = tower::ServiceBuilder::new().layer(layer).service(handler);
        Self {
            svc: BoxCloneSyncService::new(svc),
            sessions,
        }
    }

    /// Sends one request through a fresh clone of the service.
    pub(crate) async fn send(&self, req: Request<Body>) -> Response<McpBody> {
        let res = self.svc.clone().oneshot(req);
        match within(res).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }

    /// `initialize` at `version`, then `notifications/initialized`; returns the session id.
    pub(crate) async fn open_session(&self, version: &str) -> String {
        let res = self.send(post(&initialize(version))).await;
        assert_eq!(res.status(), StatusCode::OK, "initialize failed");
        let id = session_id(&res);
        let reply = if res.body().is_sse() {
            sse_reply(res).await.pop().expect("no reply on the stream")
        } else {
            json_reply(res).await
        };
        assert!(reply["result"].is_object(), "initialize answered {reply}");
        let res = self
            .send(post_in(&id, &notification("notifications/initialized")))
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        id
    }
}

/// Fails the test instead of hanging when `fut` takes longer than [`PATIENCE`].
pub(crate) async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .expect("timed out: the transport hung")
}

// ---- request builders ----

/// A POST to `/mcp` with loopback `Host`, both media types in `Accept` and a JSON body type.
pub(crate) fn post_builder() -> http::request::Builder {
    Request::post("/mcp")
        .header(HOST, LOCAL_HOST)
        .header(ACCEPT, ACCEPT_BOTH)
        .header(CONTENT_TYPE, "application/json")
}

/// A body from raw bytes.
pub(crate) fn raw(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
}

/// A well-formed POST of one JSON value, outside any session.
pub(crate) fn post(message: &Value) -> Request<Body> {
    post_builder().body(raw(message.to_string())).unwrap()
}

/// A well-formed POST of one JSON value in a session.
pub(crate) fn post_in(session: &str, message: &Value) -> Request<Body> {
    post_builder()
        .header("mcp-session-id", session)
        .body(raw(message.to_string()))
        .unwrap()
}

/// A GET that opens the session's standalone stream.
pub(crate) fn get_stream(session: &str) -> Request<Body> {
    Request::get("/mcp")
        .header(HOST, LOCAL_HOST)
        .header(ACCEPT, "text/event-stream")
        .header("mcp-session-id", session)
        .body(Body::default())
        .unwrap()
}

/// A DELETE that ends the session.
pub(crate) fn delete(session: &str) -> Request<Body> {
    Request::delete("/mcp")
        .header(HOST, LOCAL_HOST)
        .header("mcp-session-id", session)
        .body(Body::default())
        .unwrap()
}

// ---- JSON-RPC messages ----

/// An `initialize` request (id 0) asking for `version`.
pub(crate) fn initialize(version: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": { "roots": {} },
            "clientInfo": { "name": "mcp-tower-it", "version": "1.0.0" },
        },
    })
}

/// A request with params.
pub(crate) fn request(id: i64, method: &str, params: Value) -> Value {
    let mut message = json!({ "jsonrpc": "2.0", "id": id, "method": method });
    message["params"] = params;
    message
}

/// A notification without params.
pub(crate) fn notification(method: &str) -> Value {
    json!({ "jsonrpc": "2.0", "method": method })
}

/// `tools/call` of the example's `echo` tool.
pub(crate) fn echo(id: i64, text: &str) -> Value {
    request(
        id,
        "tools/call",
        json!({ "name": "echo", "arguments": { "text": text } }),
    )
}

/// `tools/call` of the example's `countdown` tool, asking for progress when `token` is given.
pub(crate) fn countdown(id: i64, from: u32, delay_ms: u64, token: Option<Value>) -> Value {
    let mut params =
        json!({ "name": "countdown", "arguments": { "from": from, "delay_ms": delay_ms } });
    if let Some(token) = token {
        params["_meta"] = json!({ "progressToken": token });
    }
    request(id, "tools/call", params)
}

/// The text of the first content item of a `tools/call` result.
pub(crate) fn tool_text(reply: &Value) -> &str {
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a text tool result: {reply}"))
}

// ---- responses ----

/// The `mcp-session-id` of a response, checked to be visible ASCII (0x21–0x7E).
pub(crate) fn session_id(res: &Response<McpBody>) -> String {
    let value = res
        .headers()
        .get("mcp-session-id")
        .expect("no mcp-session-id header");
    let bytes = value.as_bytes();
    assert!(!bytes.is_empty(), "empty session id");
    assert!(
        bytes.iter().all(|b| (0x21..=0x7e).contains(b)),
        "session id {value:?} is not visible ASCII"
    );
    value.to_str().unwrap().to_owned()
}

/// The whole body (fails the test if it does not end within [`PATIENCE`]).
pub(crate) async fn body_bytes(res: Response<McpBody>) -> Bytes {
    let body = res.into_body();
    match within(body.collect()).await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    }
}

/// Checks a 200 `application/json` reply with an exact length hint, and parses it.
pub(crate) async fn json_reply(res: Response<McpBody>) -> Value {
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
    assert!(!res.body().is_sse(), "expected a JSON body, got SSE");
    let hint = res.body().size_hint().exact();
    let bytes = body_bytes(res).await;
    assert_eq!(
        hint,
        Some(bytes.len() as u64),
        "a JSON reply must announce its exact length"
    );
    serde_json::from_slice(&bytes).expect("the reply is not JSON")
}

/// Checks a 200 SSE reply (headers, every event typed `message`), reads it to its end and
/// returns the JSON messages in order.
pub(crate) async fn sse_reply(res: Response<McpBody>) -> Vec<Value> {
    assert_sse_headers(&res);
    let bytes = body_bytes(res).await;
    let events = parse_sse(&bytes);
    for event in &events {
        assert_eq!(event.event.as_deref(), Some("message"), "{event:?}");
    }
    events.iter().map(SseEvent::json).collect()
}

/// The headers every SSE response carries.
pub(crate) fn assert_sse_headers(res: &Response<McpBody>) {
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "text/event-stream");
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    assert!(res.body().is_sse());
    assert_eq!(
        res.body().size_hint().exact(),
        None,
        "an SSE body has no known length"
    );
}

/// Checks everything a rejection must be: the status, `application/json`, a JSON-RPC error
/// body with `"id": null`, the code and a non-empty message, and a [`Rejection`] of `kind` in
/// the response extensions whose message is the body's. Returns the headers and the message.
pub(crate) async fn rejection(
    res: Response<McpBody>,
    status: StatusCode,
    kind: RejectionKind,
    code: i64,
) -> (http::HeaderMap, String) {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
    let why = res
        .extensions()
        .get::<Rejection>()
        .cloned()
        .expect("a rejection response carries a Rejection in its extensions");
    assert_eq!(why.kind(), kind);
    assert_eq!(why.kind().status(), status);
    assert_eq!(why.kind().code(), code);
    let headers = res.headers().clone();
    let body: Value = serde_json::from_slice(&body_bytes(res).await).expect("body is not JSON");
    let message = assert_error_body(&body, code);
    assert_eq!(message, why.message());
    (headers, message)
}

/// Checks a single JSON-RPC error object with `"id": null` and `code`; returns its message.
pub(crate) fn assert_error_body(body: &Value, code: i64) -> String {
    assert!(
        body.is_object(),
        "expected one JSON-RPC error object, got {body}"
    );
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert!(
        body.get("id").is_some_and(Value::is_null),
        "a transport error has \"id\": null: {body}"
    );
    assert!(body.get("result").is_none(), "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "the error message is empty: {body}");
    message.to_owned()
}

// ---- SSE ----

/// One parsed server-sent event.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SseEvent {
    pub(crate) event: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) retry: Option<String>,
    pub(crate) data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {:?}", self.data))
    }

    /// Whether this is a priming event: an id, a `retry:` hint and empty data (SEP-1699).
    pub(crate) fn is_priming(&self) -> bool {
        self.id.is_some() && self.retry.is_some() && self.data.is_empty()
    }
}

/// Splits an event stream into events (blank-line separated), joining `data:` lines with `\n`.
/// Comments (keep-alives) are skipped; events without data (priming events, bare `retry:`
/// hints) are kept.
pub(crate) fn parse_events(bytes: &[u8]) -> Vec<SseEvent> {
    let text = std::str::from_utf8(bytes).expect("an event stream is UTF-8");
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut event = SseEvent::default();
        let mut data: Vec<&str> = Vec::new();
        let mut fields = 0;
        for line in block.lines() {
            if line.is_empty() || line.starts_with(':') {
                continue;
            }
            fields += 1;
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "data" => data.push(value),
                "event" => event.event = Some(value.to_owned()),
                "id" => event.id = Some(value.to_owned()),
                "retry" => event.retry = Some(value.to_owned()),
                other => panic!("unexpected SSE field {other:?} in {block:?}"),
            }
        }
        if fields > 0 {
            event.data = data.join("\n");
            events.push(event);
        }
    }
    events
}

/// The events of a stream that carry data: the JSON-RPC messages (priming events, `retry:`
/// hints and keep-alives are left out).
pub(crate) fn parse_sse(bytes: &[u8]) -> Vec<SseEvent> {
    parse_events(bytes)
        .into_iter()
        .filter(|e| !e.data.is_empty())
        .collect()
}

/// The next frame of a stream that stays open (a GET stream), as bytes; `None` when it ended.
pub(crate) async fn next_frame(body: &mut McpBody) -> Option<Bytes> {
    let frame = within(body.frame()).await?;
    match frame {
        Ok(frame) => Some(
            frame
                .into_data()
                .expect("SSE bodies only carry data frames"),
        ),
        Err(never) => match never {},
    }
}

/// The next JSON message on a stream that stays open, skipping keep-alive comments.
pub(crate) async fn next_message(body: &mut McpBody) -> Value {
    let mut buf = Vec::new();
    loop {
        let frame = next_frame(body).await.expect("the stream ended");
        buf.extend_from_slice(&frame);
        if buf.ends_with(b"\n\n") {
            if let Some(event) = parse_sse(&buf).pop() {
                return event.json();
            }
            buf.clear();
        }
    }
}

/// Whether the stream ends now (within [`PATIENCE`]), skipping anything still queued in it.
pub(crate) async fn ends(body: &mut McpBody) -> bool {
    while let Some(_frame) = next_frame(body).await {}
    body.is_end_stream()
}

/// The protocol version of a live session, from the registry.
pub(crate) fn negotiated(server: &Server, id: &str) -> Option<ProtocolVersion> {
    server.sessions.get(id)?.protocol_version()
}
