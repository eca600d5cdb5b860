//! The stateless era (2026-07-28 and later): each POST is validated against its own headers
//! and `_meta`, served on its own, and forgotten. Nothing outlives the request: no session is
//! created or looked up (`Mcp-Session-Id` and `Last-Event-ID` are ignored), and the reply (JSON
//! or SSE, as in the session era) carries only this request's notifications, never a request.
//! A client that closes the reply cancels the call: the handler's future is dropped.
//!
//! A request enters this era by its `MCP-Protocol-Version` header (decided from the head, in
//! `route`), or by its `_meta` version when the header does not say (decided once the body is
//! read, by the session-less routes through [`claims_payload`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Buf;
use futures_util::future::{AbortHandle, Abortable};
use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};
use serde_json::{json, Map, Value};
use tower_service::Service;

use super::config::{Config, ResponseMode, Shared};
use super::dispatch::call_handler;
use super::mrtr;
use super::param_headers::{self, decode_header_value};
use super::read;
use super::response::{accepted, json_response, sse_response};
use crate::body::McpBody;
use crate::error::{BoxError, Rejection, RejectionKind};
use crate::handler::{McpRequest, McpResponse, RequestContext};
use crate::jsonrpc::{self, code, ErrorObject, Incoming, Payload, RequestId};
use crate::listen::{Filter, StreamLimits, TooManyListeners};
use crate::outbox::Outbox;
use crate::protocol::{
    ProtocolVersion, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES,
    META_PROTOCOL_VERSION, META_SERVER_INFO,
};

/// The first revision of the stateless era, as its date string: a version string at or after
/// it (dates compare as text) claims the era even when this crate does not know it.
const FIRST_STATELESS: &str = "2026-07-28";

/// Methods the 2026-07-28 revision removed: 404 with −32601 on a stateless-era request.
/// Methods whose 2026-07-28 results are cacheable: the schema requires `ttlMs` and `cacheScope`
/// on them.
const CACHEABLE: [&str; 6] = [
    "server/discover",
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
];

const REMOVED: [&str; 5] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// Whether a GET or DELETE meets the stateless era, which has neither (405): it names a
/// version of that era, or this server serves that era only.
pub(crate) fn refuses_get_and_delete(config: &Config, parts: &Parts) -> bool {
    !config.serves_sessions()
        || parts
            .headers
            .get(MCP_PROTOCOL_VERSION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<ProtocolVersion>().ok())
            .is_some_and(ProtocolVersion::is_stateless)
}

/// Whether a POST belongs to the stateless era from its head: its `MCP-Protocol-Version`
/// names that era, or names no version served while the request carries the era's own
/// `Mcp-Method` header (a newer client: it must learn the versions served, with its request
/// id), or this server serves that era only.
pub(crate) fn claims_head(config: &Config, parts: &Parts) -> bool {
    if !config.serves_sessions() {
        return true;
    }
    let Some(value) = parts.headers.get(MCP_PROTOCOL_VERSION) else {
        return false;
    };
    let Ok(text) = value.to_str() else {
        return parts.headers.contains_key(MCP_METHOD);
    };
    match text.trim().parse::<ProtocolVersion>() {
        Ok(v) if v.is_stateless() => true,
        Ok(v) if config.supports(v) => false,
        _ => names_stateless_era(text.trim()) || parts.headers.contains_key(MCP_METHOD),
    }
}

/// Whether a parsed body speaks the stateless era: a single request or notification whose
/// `_meta` names a version of that era.
pub(crate) fn claims_payload(payload: &Payload) -> bool {
    let Payload::Single(Incoming::Request { params, .. } | Incoming::Notification { params, .. }) =
        payload
    else {
        return false;
    };
    meta_version(params.as_ref()).is_some_and(names_stateless_era)
}

/// A date-shaped version string at or after 2026-07-28.
fn names_stateless_era(text: &str) -> bool {
    let date_shaped = text.len() == FIRST_STATELESS.len()
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    date_shaped && text >= FIRST_STATELESS
}

fn meta(params: Option<&Value>) -> Option<&Map<String, Value>> {
    params?.get("_meta")?.as_object()
}

fn meta_version(params: Option<&Value>) -> Option<&str> {
    meta(params)?.get(META_PROTOCOL_VERSION)?.as_str()
}

/// Reads the body, then serves it as a stateless-era request.
pub(crate) async fn serve<S, B>(
    inner: S,
    shared: Arc<Shared>,
    parts: Parts,
    body: B,
) -> Response<McpBody>
where
    S: Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Buf + Send,
    B::Error: Into<BoxError>,
{
    match read::payload(body, &parts.headers, &shared.config).await {
        Ok(payload) => serve_payload(inner, shared, parts, payload).await,
        Err(res) => res,
    }
}

/// Validates and serves a parsed stateless-era body: a request gets its reply, a notification
/// 202; everything else is refused with the request's id echoed.
pub(crate) async fn serve_payload<S>(
    inner: S,
    shared: Arc<Shared>,
    parts: Parts,
    payload: Payload,
) -> Response<McpBody>
where
    S: Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let message = match payload {
        Payload::Single(message) => message,
        Payload::Batch(_) => {
            return Rejection::new(
                RejectionKind::InvalidMessage,
                "JSON-RPC batches are not allowed in protocol version 2026-07-28; send one \
                 message per POST",
            )
            .into_response()
        }
    };
    match message {
        Incoming::Request { id, method, params } => {
            match check(
                &shared.config,
                &parts.headers,
                &method,
                params.as_ref(),
                true,
            ) {
                Ok(_) if method == "subscriptions/listen" => listen(&shared, id, params.as_ref()),
                Ok(version) => {
                    let head = Arc::new(parts);
                    request(inner, shared, head, version, id, method, params).await
                }
                Err(rejection) => rejection.with_id(Some(id)).into_response(),
            }
        }
        Incoming::Notification { method, params } => {
            match check(
                &shared.config,
                &parts.headers,
                &method,
                params.as_ref(),
                false,
            ) {
                Ok(version) => {
                    let ctx =
                        RequestContext::new(version, None, Arc::new(parts), params.as_ref(), None);
                    let req = McpRequest::from_parts(None, method, params, ctx);
                    call_handler(inner, req).await;
                    accepted()
                }
                Err(rejection) => rejection.into_response(),
            }
        }
        Incoming::Response { id, .. } => Rejection::new(
            RejectionKind::InvalidMessage,
            "a client must not send JSON-RPC responses in protocol version 2026-07-28: the \
             server sends it no requests (answer input requests by retrying the original call \
             with inputResponses)",
        )
        .with_id(id)
        .into_response(),
    }
}

/// The checks of SPEC.md §3, in the order that gives each mistake its own code: the version
/// served (−32022), a removed method (404, −32601), `_meta` present and complete (−32602),
/// then each header against the body (−32020), `Mcp-Param-*` last. A notification need not
/// carry `_meta`.
fn check(
    config: &Config,
    headers: &HeaderMap,
    method: &str,
    params: Option<&Value>,
    is_request: bool,
) -> Result<ProtocolVersion, Rejection> {
    let header = single_header(headers, &MCP_PROTOCOL_VERSION, "MCP-Protocol-Version")?;
    match header {
        Some(text) => {
            served(config, text)?;
        }
        // Neither header nor `_meta` names a version: a session-era client at a server that
        // serves this era only. It learns which versions are served, whatever it sent.
        None if meta_version(params).is_none() => {
            let asked = params
                .and_then(|p| p.get("protocolVersion"))
                .and_then(Value::as_str)
                .unwrap_or(ProtocolVersion::ASSUMED.as_str());
            served(config, asked)?;
        }
        None => {}
    }
    if is_request && REMOVED.contains(&method) {
        return Err(Rejection::new(
            RejectionKind::RemovedMethod,
            format!(
                "method not found: {method} does not exist in protocol version 2026-07-28 (it \
                 has no sessions; state travels in each request's _meta); to use it, initialize \
                 a session with a 2025 protocol version"
            ),
        ));
    }
    let meta = meta(params);
    let meta_version = meta.and_then(|m| m.get(META_PROTOCOL_VERSION));
    let version = match (meta_version, is_request) {
        (Some(Value::String(v)), _) => Some(v.as_str()),
        (None, false) => None,
        (None, true) => {
            return Err(Rejection::new(
                RejectionKind::InvalidRequestMeta,
                format!(
                    "params._meta[\"{META_PROTOCOL_VERSION}\"] is required on every request in \
                     protocol version 2026-07-28, with \"{META_CLIENT_CAPABILITIES}\""
                ),
            ))
        }
        (Some(_), _) => {
            return Err(Rejection::new(
                RejectionKind::InvalidRequestMeta,
                format!("params._meta[\"{META_PROTOCOL_VERSION}\"] must be a string"),
            ))
        }
    };
    let Some(header) = header else {
        return Err(Rejection::new(
            RejectionKind::HeaderMismatch,
            "the MCP-Protocol-Version header is required on every 2026-07-28 request and must \
             equal params._meta[\"io.modelcontextprotocol/protocolVersion\"]",
        ));
    };
    if let Some(version) = version {
        if version != header {
            return Err(Rejection::new(
                RejectionKind::HeaderMismatch,
                format!(
                    "the MCP-Protocol-Version header ({header}) differs from \
                     params._meta[\"{META_PROTOCOL_VERSION}\"] ({version}); they must be equal"
                ),
            ));
        }
    }
    let served = served(config, header)?;
    if is_request
        && !meta
            .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
            .is_some_and(Value::is_object)
    {
        return Err(Rejection::new(
            RejectionKind::InvalidRequestMeta,
            format!(
                "params._meta[\"{META_CLIENT_CAPABILITIES}\"] is required on every request in \
                 protocol version 2026-07-28 and must be an object ({{}} declares none)"
            ),
        ));
    }
    check_method_headers(headers, method, params)?;
    if let (Some(lookup), "tools/call") = (&config.tool_schema, method) {
        let tool = params.and_then(|p| p.get("name")).and_then(Value::as_str);
        if let Some((tool, schema)) = tool.and_then(|t| Some((t, lookup(t)?))) {
            let arguments = params.and_then(|p| p.get("arguments"));
            param_headers::check(headers, tool, &schema, arguments)?;
        }
    }
    Ok(served)
}

/// The version `text` names, if this server serves it; else 400 with −32022.
fn served(config: &Config, text: &str) -> Result<ProtocolVersion, Rejection> {
    match text.parse::<ProtocolVersion>() {
        Ok(v) if v.is_stateless() && config.supports(v) => Ok(v),
        _ => {
            let supported: Vec<&str> = config.versions.iter().map(|v| v.as_str()).collect();
            Err(Rejection::new(
                RejectionKind::UnsupportedRequestVersion,
                format!(
                    "unsupported protocol version '{text}'; this server supports: {}",
                    config.supported_list()
                ),
            )
            .with_data(json!({ "supported": supported, "requested": text })))
        }
    }
}

/// `Mcp-Method` must equal the method; `Mcp-Name` must equal `params.name` (`tools/call`,
/// `prompts/get`), `params.uri` (`resources/read`) or `params.taskId` (`tasks/get`,
/// `tasks/update`, `tasks/cancel`: the tasks extension's routing header, so that a balancer
/// can send a task's requests to the node that holds it).
fn check_method_headers(
    headers: &HeaderMap,
    method: &str,
    params: Option<&Value>,
) -> Result<(), Rejection> {
    match single_header(headers, &MCP_METHOD, "Mcp-Method")? {
        None => {
            return Err(Rejection::new(
                RejectionKind::HeaderMismatch,
                format!("the Mcp-Method header is required on 2026-07-28 requests: send Mcp-Method: {method}"),
            ))
        }
        Some(value) if value != method => {
            return Err(Rejection::new(
                RejectionKind::HeaderMismatch,
                format!("the Mcp-Method header ({value}) differs from the body's method ({method})"),
            ))
        }
        Some(_) => {}
    }
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        "tasks/get" | "tasks/update" | "tasks/cancel" => "taskId",
        _ => return Ok(()),
    };
    let Some(expected) = params.and_then(|p| p.get(field)).and_then(Value::as_str) else {
        // The body is wrong, not the header: the handler answers −32602 for it.
        return Ok(());
    };
    let Some(raw) = single_header(headers, &MCP_NAME, "Mcp-Name")? else {
        return Err(Rejection::new(
            RejectionKind::HeaderMismatch,
            format!("the Mcp-Name header is required on {method}: it must equal params.{field}"),
        ));
    };
    let value = decode_header_value(raw.trim()).ok_or_else(|| {
        Rejection::new(
            RejectionKind::HeaderMismatch,
            "the Mcp-Name header holds a malformed =?base64?...?= value",
        )
    })?;
    if value != expected {
        return Err(Rejection::new(
            RejectionKind::HeaderMismatch,
            format!("the Mcp-Name header ({value}) differs from params.{field} ({expected})"),
        ));
    }
    Ok(())
}

/// The value of a header that may appear at most once, as text; 400 (−32020) when it is
/// repeated or holds bytes outside visible ASCII.
fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &http::HeaderName,
    shown: &str,
) -> Result<Option<&'a str>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::new(
            RejectionKind::HeaderMismatch,
            format!("send exactly one {shown} header"),
        ));
    }
    first.to_str().map(|v| Some(v.trim())).map_err(|_| {
        Rejection::new(
            RejectionKind::HeaderMismatch,
            format!(
                "the {shown} header holds characters outside visible ASCII; encode such values \
                 as =?base64?...?="
            ),
        )
    })
}

/// `subscriptions/listen`: an SSE stream that lives until the client closes it or the server
/// ends it ([`Publisher`](crate::Publisher)), starting with the acknowledgement.
fn listen(shared: &Shared, id: RequestId, params: Option<&Value>) -> Response<McpBody> {
    let Some(filter) = Filter::parse(params) else {
        let error = ErrorObject::new(
            code::INVALID_PARAMS,
            "subscriptions/listen needs params.notifications: an object with the booleans \
             toolsListChanged, promptsListChanged, resourcesListChanged and the string array \
             resourceSubscriptions, each optional",
        );
        return json_response(jsonrpc::error_bytes(Some(&id), &error));
    };
    let config = &shared.config;
    let limits = StreamLimits {
        max_streams: config.max_listen_streams,
        capacity: config.session.stream_capacity,
        keep_alive: config.session.keep_alive,
    };
    match shared.listeners.open(id.clone(), filter, limits) {
        Ok(body) => sse_response(body),
        Err(TooManyListeners(max)) => Rejection::new(
            RejectionKind::TooManyListenStreams,
            format!(
                "this server keeps at most {max} subscriptions/listen streams open; retry later"
            ),
        )
        .with_id(Some(id))
        .into_response(),
    }
}

/// A handler call that yields its answer, or `None` once the client went away.
type Call = Pin<Box<dyn Future<Output = Option<McpResponse>> + Send>>;

/// One request: the handler's answer as JSON, or an SSE stream once it sends related messages
/// or runs past `sse_after` (see [`ResponseMode`]). Closing the stream cancels the call.
async fn request<S>(
    inner: S,
    shared: Arc<Shared>,
    head: Arc<Parts>,
    version: ProtocolVersion,
    id: RequestId,
    method: String,
    params: Option<Value>,
) -> Response<McpBody>
where
    S: Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let config = shared.config.clone();
    let round = match mrtr::prepare(&config, &head, &method, params.as_ref()) {
        Ok(round) => round,
        Err(refused) => return json_response(jsonrpc::error_bytes(Some(&id), &refused)),
    };
    // No session: the outbox writes to this request's own stream, never anywhere else.
    let cacheable = CACHEABLE.contains(&method.as_str());
    let outbox = Outbox::buffered(None, Some(id.clone()), version);
    let ctx = RequestContext::new(version, None, head, params.as_ref(), Some(outbox.clone()))
        .with_round(round.clone());
    let req = McpRequest::from_parts(Some(id.clone()), method, params, ctx);
    let (abort, registration) = AbortHandle::new_pair();
    let handler = Abortable::new(mrtr::run(round, call_handler(inner, req)), registration);
    let mut call: Call = Box::pin(async move { handler.await.ok() });
    let reply = Reply {
        outbox,
        abort,
        id,
        config: config.clone(),
        cacheable,
    };
    match config.response_mode {
        ResponseMode::Json => match call.await {
            Some(res) => reply.json(&res),
            None => reply.cancelled(),
        },
        ResponseMode::Sse => reply.streamed(call).await,
        ResponseMode::Adaptive => {
            if let Poll::Ready(answer) = futures_util::poll!(&mut call) {
                return reply.finished(answer);
            }
            let delay = tokio::time::sleep(config.sse_after);
            let waiter = reply.outbox.clone();
            tokio::select! {
                biased;
                answer = &mut call => reply.finished(answer),
                () = waiter.first_message() => reply.streamed(call).await,
                () = delay => reply.streamed(call).await,
            }
        }
    }
}

/// How one request's reply is written once its form is known.
struct Reply {
    outbox: Arc<Outbox>,
    abort: AbortHandle,
    id: RequestId,
    config: Arc<Config>,
    /// The method's result must carry `ttlMs` and `cacheScope`.
    cacheable: bool,
}

impl Reply {
    /// An SSE stream without event ids: the related messages, then the answer, which ends it.
    /// The stream going away (the client closed it) aborts the call, which then sends nothing.
    async fn streamed(self, mut call: Call) -> Response<McpBody> {
        let abort = self.abort.clone();
        let body = self
            .outbox
            .stream(
                self.config.session.stream_capacity,
                self.config.session.keep_alive,
            )
            .on_drop(Box::new(move || abort.abort()));
        let outbox = self.outbox;
        let (id, config, cacheable) = (self.id, self.config, self.cacheable);
        match futures_util::poll!(&mut call) {
            // Checked once, without waiting: an answer ready now is written before the head.
            Poll::Ready(Some(res)) => {
                finish_now(outbox, answer_bytes(&config, &id, cacheable, &res));
            }
            Poll::Ready(None) => outbox.abandon(),
            Poll::Pending => {
                tokio::spawn(async move {
                    match call.await {
                        Some(res) => {
                            let json = answer_bytes(&config, &id, cacheable, &res);
                            outbox.respond(&json, true).await;
                        }
                        None => outbox.abandon(),
                    }
                });
            }
        }
        sse_response(body)
    }

    /// The handler answered before the reply took a form: JSON, unless it already sent related
    /// messages, which then travel with the answer on an SSE stream.
    fn finished(self, answer: Option<McpResponse>) -> Response<McpBody> {
        let Some(res) = answer else {
            return self.cancelled();
        };
        if self.outbox.has_buffered() {
            let body = self.outbox.stream(
                self.config.session.stream_capacity,
                self.config.session.keep_alive,
            );
            let json = answer_bytes(&self.config, &self.id, self.cacheable, &res);
            finish_now(self.outbox, json);
            sse_response(body)
        } else {
            self.json(&res)
        }
    }

    /// A JSON reply. A handler error whose code the specification maps to an HTTP status
    /// (−32601 → 404; −32020, −32021, −32022 → 400) gets that status; other errors stay in-band
    /// with 200.
    fn json(self, res: &McpResponse) -> Response<McpBody> {
        self.outbox.detach();
        let status = match res.outcome() {
            Err(e) => match e.code {
                code::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
                code::HEADER_MISMATCH
                | code::MISSING_REQUIRED_CLIENT_CAPABILITY
                | code::UNSUPPORTED_PROTOCOL_VERSION => StatusCode::BAD_REQUEST,
                _ => StatusCode::OK,
            },
            Ok(_) => StatusCode::OK,
        };
        let json = answer_bytes(&self.config, &self.id, self.cacheable, res);
        let mut response = json_response(json);
        *response.status_mut() = status;
        response
    }

    /// Cancelled before the reply took a form: nothing may be sent for the request, so an
    /// event stream that ends at once.
    fn cancelled(self) -> Response<McpBody> {
        let body = self.outbox.stream(1, None);
        self.outbox.abandon();
        sse_response(body)
    }
}

/// Writes the answer that ends the stream, waiting for room in a task of its own if the
/// stream is full.
fn finish_now(outbox: Arc<Outbox>, json: Vec<u8>) {
    if !outbox.try_finish(&json) {
        tokio::spawn(async move { outbox.respond(&json, true).await });
    }
}

/// The answer's bytes, with an object result completed as the era asks (see [`Completed`]).
fn answer_bytes(config: &Config, id: &RequestId, cacheable: bool, res: &McpResponse) -> Vec<u8> {
    match res.outcome() {
        Ok(Value::Object(map)) => jsonrpc::result_bytes(
            id,
            &Completed {
                map,
                server_info: config.server_info.as_deref(),
                cacheable,
            },
        ),
        outcome => jsonrpc::response_bytes(id, outcome),
    }
}

/// An object result as sent: with `resultType: "complete"` and
/// `_meta["io.modelcontextprotocol/serverInfo"]` where the handler left them out (its own
/// values are kept, and a `_meta` that is not an object is left alone). The added fields are
/// written beside the handler's rather than inserted into its map, so nothing is copied.
///
/// A complete result of a cacheable method also gets `ttlMs: 0` and `cacheScope: "private"`
/// (fresh for nobody, shared with nobody) where the handler left them out: the 2026-07-28
/// schema requires both there, and clients refuse the result without them.
struct Completed<'a> {
    map: &'a Map<String, Value>,
    server_info: Option<&'a Value>,
    cacheable: bool,
}

impl serde::Serialize for Completed<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let add_type = !self.map.contains_key("resultType");
        let meta = self.map.get("_meta");
        let info = self.server_info.filter(|_| match meta {
            None => true,
            Some(Value::Object(meta)) => !meta.contains_key(META_SERVER_INFO),
            Some(_) => false,
        });
        let complete = self
            .map
            .get("resultType")
            .is_none_or(|t| t.as_str() == Some("complete"));
        let cache = self.cacheable && complete;
        let add_ttl = cache && !self.map.contains_key("ttlMs");
        let add_scope = cache && !self.map.contains_key("cacheScope");
        let added = usize::from(add_type)
            + usize::from(info.is_some() && meta.is_none())
            + usize::from(add_ttl)
            + usize::from(add_scope);
        let mut out = serializer.serialize_map(Some(self.map.len() + added))?;
        if add_type {
            out.serialize_entry("resultType", "complete")?;
        }
        if add_ttl {
            out.serialize_entry("ttlMs", &0)?;
        }
        if add_scope {
            out.serialize_entry("cacheScope", "private")?;
        }
        for (key, value) in self.map {
            match (info, value) {
                (Some(info), Value::Object(meta)) if key == "_meta" => {
                    out.serialize_entry(
                        key,
                        &MetaWithInfo {
                            meta: Some(meta),
                            info,
                        },
                    )?;
                }
                _ => out.serialize_entry(key, value)?,
            }
        }
        if let (Some(info), None) = (info, meta) {
            out.serialize_entry("_meta", &MetaWithInfo { meta: None, info })?;
        }
        out.end()
    }
}

/// A result's `_meta` (or a new one) with the server info beside the handler's entries.
struct MetaWithInfo<'a> {
    meta: Option<&'a Map<String, Value>>,
    info: &'a Value,
}

impl serde::Serialize for MetaWithInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let len = self.meta.map_or(0, Map::len) + 1;
        let mut out = serializer.serialize_map(Some(len))?;
        for (key, value) in self.meta.into_iter().flatten() {
            out.serialize_entry(key, value)?;
        }
        out.serialize_entry(META_SERVER_INFO, self.info)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn era_from_a_version_string() {
        assert!(names_stateless_era("2026-07-28"));
        assert!(names_stateless_era("2027-01-01"));
        assert!(!names_stateless_era("2025-11-25"));
        assert!(!names_stateless_era("v999.0.0"));
        assert!(!names_stateless_era("2026-07-2x"));
    }

    fn completed(result: Value, info: Option<&Value>) -> Value {
        completed_as(result, info, false)
    }

    fn completed_as(result: Value, info: Option<&Value>, cacheable: bool) -> Value {
        let id = RequestId::Number(1);
        let bytes = answer_bytes(
            &Config {
                server_info: info.cloned().map(Arc::new),
                ..Config::default()
            },
            &id,
            cacheable,
            &McpResponse::result(result),
        );
        serde_json::from_slice::<Value>(&bytes).unwrap()["result"].clone()
    }

    #[test]
    fn cacheable_results_get_safe_cache_fields_unless_the_handler_set_them() {
        let done = completed_as(json!({ "tools": [] }), None, true);
        assert_eq!(
            done,
            json!({ "resultType": "complete", "ttlMs": 0, "cacheScope": "private", "tools": [] })
        );
        let kept = completed_as(
            json!({ "ttlMs": 60_000, "cacheScope": "public" }),
            None,
            true,
        );
        assert_eq!(kept["ttlMs"], 60_000);
        assert_eq!(kept["cacheScope"], "public");
        let asking = completed_as(json!({ "resultType": "input_required" }), None, true);
        assert!(asking.get("ttlMs").is_none(), "{asking}");
        let call = completed(json!({ "content": [] }), None);
        assert!(call.get("cacheScope").is_none(), "{call}");
    }

    #[test]
    fn results_are_completed_without_overriding_the_handler() {
        let info = json!({ "name": "s", "version": "1" });
        let done = completed(json!({ "tools": [] }), Some(&info));
        assert_eq!(
            done,
            json!({ "tools": [], "resultType": "complete", "_meta": { META_SERVER_INFO: info } })
        );
        let kept = completed(
            json!({ "resultType": "input_required", "_meta": { META_SERVER_INFO: 1 } }),
            Some(&info),
        );
        assert_eq!(
            kept,
            json!({ "resultType": "input_required", "_meta": { META_SERVER_INFO: 1 } })
        );
        let merged = completed(json!({ "_meta": { "k": true } }), Some(&info));
        assert_eq!(
            merged,
            json!({ "resultType": "complete", "_meta": { "k": true, META_SERVER_INFO: info } })
        );
        let odd_meta = completed(json!({ "_meta": 7 }), Some(&info));
        assert_eq!(odd_meta, json!({ "resultType": "complete", "_meta": 7 }));
        assert_eq!(
            completed(json!({}), None),
            json!({ "resultType": "complete" })
        );
        assert_eq!(completed(json!([1]), Some(&info)), json!([1]));
    }
}
