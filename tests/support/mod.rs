//! Shared helpers for both integration-test binaries (`tests/it` and `tests/push`): request
//! builders, session setup, body collection, the checks every rejection must pass, SSE reading
//! through the crate's own decoder ([`sse`]), handlers ([`handlers`]) and a loopback server with
//! a reqwest client ([`net`]).
//!
//! Each binary includes it with `#[path = "../support/mod.rs"] mod support;` beside
//! `#[path = "../../examples/common/mod.rs"] mod example;`.
#![allow(dead_code)]
// Owned `Value` arguments keep call sites short: `tool_call(1, "x", json!({}))`.
#![allow(clippy::needless_pass_by_value)]

mod handlers;
mod net;
mod sse;

// Each binary uses its own share of the helpers.
#[allow(unused_imports)]
pub(crate) use handlers::*;
#[allow(unused_imports)]
pub(crate) use net::*;
#[allow(unused_imports)]
pub(crate) use sse::*;

use std::convert::Infallible;
use std::fmt::Debug;
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

/// The newest revision: priming events, polling.
pub(crate) const V_NEW: &str = "2025-11-25";
/// The revision before: no priming.
pub(crate) const V_OLD: &str = "2025-06-18";

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
        within(call(&self.svc, req)).await
    }

    /// `initialize` at `version`, then `notifications/initialized`; returns the session id.
    pub(crate) async fn open_session(&self, version: &str) -> String {
        within(initialize(&self.svc, version, json!({ "roots": {} }))).await
    }
}

/// Sends one request through a clone of `svc`.
pub(crate) async fn call<S>(svc: &S, req: Request<Body>) -> Response<McpBody>
where
    S: Service<Request<Body>, Response = Response<McpBody>> + Clone,
    S::Error: Debug,
{
    svc.clone().oneshot(req).await.unwrap()
}

/// Initializes a session at `version` with these client capabilities, without sending
/// `notifications/initialized`: checks the 200, the session id (visible ASCII) and that the
/// reply (JSON with an exact length, or the last message of an SSE stream) is a result for
/// `version`. Returns the session id.
pub(crate) async fn initialize_only<S>(svc: &S, version: &str, capabilities: Value) -> String
where
    S: Service<Request<Body>, Response = Response<McpBody>> + Clone,
    S::Error: Debug,
{
    let res = call(svc, post(&init_body(version, capabilities))).await;
    assert_eq!(res.status(), StatusCode::OK, "initialize failed");
    let id = session_id(&res);
    let reply = if res.body().is_sse() {
        sse_reply(res).await.pop().expect("no reply on the stream")
    } else {
        json_reply(res).await
    };
    assert!(reply["result"].is_object(), "initialize answered {reply}");
    assert_eq!(reply["result"]["protocolVersion"], version, "{reply}");
    id
}

/// Initializes a session (see [`initialize_only`]) and sends `notifications/initialized`;
/// returns the session id.
pub(crate) async fn initialize<S>(svc: &S, version: &str, capabilities: Value) -> String
where
    S: Service<Request<Body>, Response = Response<McpBody>> + Clone,
    S::Error: Debug,
{
    let id = initialize_only(svc, version, capabilities).await;
    let initialized = notification_with("notifications/initialized", json!({}));
    let res = call(svc, post_with(Some(&id), Some(version), &initialized)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    id
}

/// Fails the test instead of hanging when `fut` takes longer than [`PATIENCE`] (of the test's
/// clock).
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

/// A well-formed POST of one JSON value, in a session and with `MCP-Protocol-Version` when
/// given.
pub(crate) fn post_with(
    session: Option<&str>,
    version: Option<&str>,
    message: &Value,
) -> Request<Body> {
    let mut b = post_builder();
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    if let Some(v) = version {
        b = b.header("mcp-protocol-version", v);
    }
    b.body(raw(message.to_string())).unwrap()
}

/// A well-formed POST of one JSON value, outside any session.
pub(crate) fn post(message: &Value) -> Request<Body> {
    post_with(None, None, message)
}

/// A well-formed POST of one JSON value in a session.
pub(crate) fn post_in(session: &str, message: &Value) -> Request<Body> {
    post_with(Some(session), None, message)
}

/// A GET of the session's standalone stream, with `MCP-Protocol-Version` when given, or a
/// resumption with `Last-Event-ID`.
pub(crate) fn get_with(
    session: &str,
    version: Option<&str>,
    last_event_id: Option<&str>,
) -> Request<Body> {
    let mut b = Request::get("/mcp")
        .header(HOST, LOCAL_HOST)
        .header(ACCEPT, "text/event-stream")
        .header("mcp-session-id", session);
    if let Some(v) = version {
        b = b.header("mcp-protocol-version", v);
    }
    if let Some(id) = last_event_id {
        b = b.header("last-event-id", id);
    }
    b.body(Body::default()).unwrap()
}

/// A GET that opens the session's standalone stream.
pub(crate) fn get_stream(session: &str) -> Request<Body> {
    get_with(session, None, None)
}

/// A GET at `version` for the standalone stream, or a resumption with `Last-Event-ID`.
pub(crate) fn get(session: &str, version: &str, last_event_id: Option<&str>) -> Request<Body> {
    get_with(session, Some(version), last_event_id)
}

/// A DELETE that ends the session, with `MCP-Protocol-Version` when given.
pub(crate) fn delete_with(session: &str, version: Option<&str>) -> Request<Body> {
    let mut b = Request::delete("/mcp")
        .header(HOST, LOCAL_HOST)
        .header("mcp-session-id", session);
    if let Some(v) = version {
        b = b.header("mcp-protocol-version", v);
    }
    b.body(Body::default()).unwrap()
}

/// A DELETE that ends the session.
pub(crate) fn delete(session: &str) -> Request<Body> {
    delete_with(session, None)
}

// ---- JSON-RPC messages ----

/// An `initialize` request (id 0) asking for `version`, with these client capabilities.
pub(crate) fn init_body(version: &str, capabilities: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": capabilities,
            "clientInfo": { "name": "mcp-tower-tests", "version": "1.0.0" },
        },
    })
}

/// An `initialize` request (id 0) asking for `version`, from a client with `roots`.
pub(crate) fn init_request(version: &str) -> Value {
    init_body(version, json!({ "roots": {} }))
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

/// A notification with params.
pub(crate) fn notification_with(method: &str, params: Value) -> Value {
    let mut message = notification(method);
    message["params"] = params;
    message
}

/// The response to a server→client request.
pub(crate) fn response(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// `tools/call` of `name`, with a progress token (`p{id}`).
pub(crate) fn tool_call(id: i64, name: &str, arguments: Value) -> Value {
    request(
        id,
        "tools/call",
        json!({ "name": name, "arguments": arguments, "_meta": { "progressToken": format!("p{id}") } }),
    )
}

/// The progress value of a `notifications/progress` message.
pub(crate) fn progress_of(msg: &Value) -> Option<u64> {
    (msg["method"] == "notifications/progress")
        .then(|| msg["params"]["progress"].as_f64().unwrap() as u64)
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

/// Reads a whole body as JSON, whatever the status (a rejection, or a JSON reply).
pub(crate) async fn json_body(res: Response<McpBody>) -> Value {
    let bytes = body_bytes(res).await;
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?}",
            String::from_utf8_lossy(&bytes).into_owned()
        )
    })
}

/// The JSON-RPC response of a reply, whichever form it took (a JSON body, or the last
/// response on an SSE stream).
pub(crate) async fn reply_json(res: Response<McpBody>) -> Value {
    let is_sse = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !is_sse {
        return json_body(res).await;
    }
    let mut sse = Sse::new(res.into_body());
    let mut last = None;
    while let Some((_, v)) = sse.next_message().await {
        if v.get("result").is_some() || v.get("error").is_some() {
            last = Some(v);
        }
    }
    last.expect("the SSE reply ended without a response")
}

/// POSTs a client notification at `version` and returns the status.
pub(crate) async fn client_notify<S>(
    svc: &S,
    sid: &str,
    version: &str,
    method: &str,
    params: Value,
) -> StatusCode
where
    S: Service<Request<Body>, Response = Response<McpBody>> + Clone,
    S::Error: Debug,
{
    let message = notification_with(method, params);
    call(svc, post_with(Some(sid), Some(version), &message))
        .await
        .status()
}

/// POSTs the client's answer to a server→client request at `version` and returns the status.
pub(crate) async fn client_answer<S>(
    svc: &S,
    sid: &str,
    version: &str,
    id: &Value,
    result: Value,
) -> StatusCode
where
    S: Service<Request<Body>, Response = Response<McpBody>> + Clone,
    S::Error: Debug,
{
    call(
        svc,
        post_with(Some(sid), Some(version), &response(id, result)),
    )
    .await
    .status()
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

/// The protocol version of a live session, from the registry.
pub(crate) fn negotiated(server: &Server, id: &str) -> Option<ProtocolVersion> {
    server.sessions.get(id)?.protocol_version()
}
