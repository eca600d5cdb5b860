//! POST: read and parse the body, find or create the session, dispatch each message, and answer
//! with 202, a JSON document, or an SSE stream.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;

use bytes::Buf;
use futures_util::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use tower_service::Service;

use super::guard::{
    accepts, content_type_is_json, session_header, session_not_found, version_header,
};
use super::{accepted, json_response, sse_response};
use crate::body::McpBody;
use crate::error::{BoxError, Rejection, RejectionKind};
use crate::handler::{McpRequest, McpResponse, RequestContext};
use crate::jsonrpc::{
    self, code, parse_payload, ErrorObject, Incoming, ParseFailure, Payload, RequestId,
};
use crate::layer::{ResponseMode, Shared};
use crate::outbox::Outbox;
use crate::protocol::{ProtocolVersion, MCP_SESSION_ID};
use crate::session::{start_reaper, Lookup, SessionInner};

/// Runs the whole POST pipeline; every failure becomes its rejection response.
pub(crate) async fn serve<S, B>(inner: S, shared: Arc<Shared>, req: Request<B>) -> Response<McpBody>
where
    S: Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Buf + Send,
    B::Error: Into<BoxError>,
{
    match pipeline(inner, &shared, req).await {
        Ok(res) | Err(res) => res,
    }
}

/// Everything one POST shares between its messages.
struct Post<S> {
    inner: S,
    shared: Arc<Shared>,
    head: Arc<http::request::Parts>,
    version: ProtocolVersion,
    session: Option<Arc<SessionInner>>,
}

async fn pipeline<S, B>(
    inner: S,
    shared: &Arc<Shared>,
    req: Request<B>,
) -> Result<Response<McpBody>, Response<McpBody>>
where
    S: Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Buf + Send,
    B::Error: Into<BoxError>,
{
    let config = &shared.config;
    let (parts, body) = req.into_parts();
    let acc = accepts(&parts.headers);
    if !(acc.json && acc.sse) {
        return Err(reject(
            RejectionKind::NotAcceptable,
            "the Accept header must list both application/json and text/event-stream",
        ));
    }
    if !content_type_is_json(&parts.headers) {
        return Err(reject(
            RejectionKind::UnsupportedMediaType,
            "the Content-Type must be application/json",
        ));
    }
    let header_version = version_header(config, &parts).map_err(Rejection::into_response)?;
    // Look the session up before reading the body: an unknown one costs nothing more.
    let session = if config.stateless {
        None
    } else {
        match session_header(&parts).map_err(Rejection::into_response)? {
            None => None,
            Some(id) => match shared.store.lookup(id) {
                Lookup::Live(session) => Some(session),
                Lookup::NotFound => return Err(session_not_found().into_response()),
            },
        }
    };
    let bytes = read_body(body, &parts.headers, config.max_body_bytes).await?;
    let payload = parse_payload(&bytes).map_err(|failure| match failure {
        ParseFailure::Syntax(msg) => reject(RejectionKind::ParseError, msg),
        ParseFailure::Shape(msg) => reject(RejectionKind::InvalidMessage, msg),
    })?;
    drop(bytes);

    let is_initialize = matches!(
        &payload,
        Payload::Single(Incoming::Request { method, .. }) if method == "initialize"
    );
    if let Some(session) = &session {
        if is_initialize {
            return Err(reject(
                RejectionKind::AlreadyInitialized,
                "this session is already initialized; to start a new one, send initialize \
                 without Mcp-Session-Id",
            ));
        }
        session.touch();
    } else if !config.stateless && !is_initialize {
        return Err(reject(
            RejectionKind::SessionRequired,
            "Mcp-Session-Id header is required; start a session by sending initialize first",
        ));
    }
    let version = header_version
        .or_else(|| session.as_ref().and_then(|s| s.protocol_version()))
        .unwrap_or(ProtocolVersion::ASSUMED);

    let post = Post {
        inner,
        shared: shared.clone(),
        head: Arc::new(parts),
        version,
        session,
    };
    match payload {
        Payload::Single(Incoming::Request { id, method, params }) if is_initialize => {
            post.initialize(id, method, params).await
        }
        Payload::Single(Incoming::Request { id, method, params }) => {
            Ok(post.request(id, method, params, None).await)
        }
        Payload::Single(other) => {
            post.accept(other).await;
            Ok(accepted())
        }
        Payload::Batch(items) => post.batch(items).await,
    }
}

fn reject(
    kind: RejectionKind,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Response<McpBody> {
    Rejection::new(kind, message).into_response()
}

/// Reads the body up to `limit` bytes: 413 beyond it, 400 if the client fails mid-body.
async fn read_body<B>(
    body: B,
    headers: &http::HeaderMap,
    limit: usize,
) -> Result<Vec<u8>, Response<McpBody>>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let too_large = || {
        reject(
            RejectionKind::PayloadTooLarge,
            format!("the body is larger than this server's limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let capacity = usize::try_from(declared.unwrap_or(0))
        .unwrap_or(0)
        .min(limit);
    let mut buf = Vec::with_capacity(capacity);
    let mut body = pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let e: BoxError = e.into();
            reject(
                RejectionKind::BodyRead,
                format!("failed to read the request body: {e}"),
            )
        })?;
        if let Ok(mut data) = frame.into_data() {
            if buf.len() + data.remaining() > limit {
                return Err(too_large());
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                buf.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
    }
    Ok(buf)
}

/// Calls the handler on its own clone (ready, then call); a handler error becomes −32603.
async fn call_handler<S>(inner: S, req: McpRequest) -> McpResponse
where
    S: Service<McpRequest, Response = McpResponse>,
    S::Error: Into<BoxError>,
{
    match inner.oneshot(req).await {
        Ok(res) => res,
        Err(e) => {
            let e: BoxError = e.into();
            McpResponse::error(ErrorObject::new(
                code::INTERNAL_ERROR,
                format!("the handler failed: {e}"),
            ))
        }
    }
}

/// Closes a session reserved by `initialize` unless the handler succeeded, even when the client
/// goes away mid-call and the future is dropped.
struct Reservation(Option<Arc<SessionInner>>);

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(session) = self.0.take() {
            session.close();
        }
    }
}

impl<S> Post<S>
where
    S: Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn context(&self, params: Option<&Value>, outbox: Option<Arc<Outbox>>) -> RequestContext {
        RequestContext::new(
            self.version,
            self.session.as_ref().map(SessionInner::handle),
            self.head.clone(),
            params,
            outbox,
        )
    }

    /// `initialize`: opens a session when the handler's result is a success, with the version
    /// that result names.
    async fn initialize(
        mut self,
        id: RequestId,
        method: String,
        params: Option<Value>,
    ) -> Result<Response<McpBody>, Response<McpBody>> {
        let config = &self.shared.config;
        let requested = params
            .as_ref()
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<ProtocolVersion>().ok())
            .filter(|v| config.supports(*v));
        // Negotiation: echo a supported request, else offer our newest.
        let negotiated = requested
            .unwrap_or_else(|| *config.versions.last().unwrap_or(&ProtocolVersion::LATEST));
        self.version = negotiated;
        if config.stateless {
            return Ok(self.request(id, method, params, None).await);
        }
        let store = self.shared.store.clone();
        let max_queued = config.max_queued_events;
        let Some(session) = store.reserve(config.max_sessions, |parts| {
            SessionInner::new(parts, &store, max_queued)
        }) else {
            return Err(reject(
                RejectionKind::TooManySessions,
                format!(
                    "this server is at its limit of {} sessions; retry later",
                    config.max_sessions
                ),
            ));
        };
        start_reaper(&store, config.session_idle_timeout);
        let capabilities = params.as_ref().and_then(|p| p.get("capabilities")).cloned();
        let session_id = session.id.clone();
        self.session = Some(session.clone());
        let reservation = Reservation(Some(session.clone()));
        let versions = config.versions.clone();
        let on_done = move |res: &McpResponse| {
            let mut reservation = reservation;
            if let Ok(result) = res.outcome() {
                let chosen = result
                    .get("protocolVersion")
                    .and_then(Value::as_str)
                    .and_then(|v| v.parse::<ProtocolVersion>().ok())
                    .filter(|v| versions.contains(v))
                    .unwrap_or(negotiated);
                if let Some(session) = reservation.0.take() {
                    session.open(chosen, capabilities);
                }
            }
        };
        let mut res = self
            .request(id, method, params, Some(Box::new(on_done)))
            .await;
        if let Ok(value) = HeaderValue::from_str(session_id.as_str()) {
            res.headers_mut().insert(MCP_SESSION_ID, value);
        }
        Ok(res)
    }

    /// One request: calls the handler and answers as JSON or SSE (see [`ResponseMode`]).
    async fn request(
        self,
        id: RequestId,
        method: String,
        params: Option<Value>,
        on_done: Option<Box<dyn FnOnce(&McpResponse) + Send>>,
    ) -> Response<McpBody> {
        let config = &self.shared.config;
        let mode = config.response_mode;
        let outbox = match mode {
            ResponseMode::Json => Outbox::detached(self.session.clone()),
            ResponseMode::Adaptive | ResponseMode::Sse => Outbox::buffered(self.session.clone()),
        };
        let ctx = self.context(params.as_ref(), Some(outbox.clone()));
        let req = McpRequest::from_parts(Some(id.clone()), method, params, ctx);
        // The request counts as activity for its session until its answer is written.
        let in_flight = self.session.as_ref().map(SessionInner::begin_request);
        let handler = call_handler(self.inner, req);
        let call = async move {
            let _in_flight = in_flight;
            let res = handler.await;
            if let Some(on_done) = on_done {
                on_done(&res);
            }
            jsonrpc::response_bytes(&id, res.outcome())
        };
        let capacity = config.stream_capacity;
        let keep_alive = config.keep_alive;
        let streamed =
            |outbox: Arc<Outbox>, call: Pin<Box<dyn Future<Output = Vec<u8>> + Send>>| {
                let mut body = outbox.stream(capacity);
                if let Some(interval) = keep_alive {
                    body = body.keep_alive(interval);
                }
                tokio::spawn(async move {
                    let json = call.await;
                    outbox.finish(&json).await;
                });
                sse_response(body)
            };
        match mode {
            ResponseMode::Json => json_response(call.await),
            ResponseMode::Sse => streamed(outbox, Box::pin(call)),
            ResponseMode::Adaptive => {
                let mut call: Pin<Box<dyn Future<Output = Vec<u8>> + Send>> = Box::pin(call);
                // Most handlers answer at once: try that before arming a timer.
                if let Poll::Ready(json) = futures_util::poll!(&mut call) {
                    return finished(&outbox, json, capacity).await;
                }
                let delay = tokio::time::sleep(config.sse_after);
                let waiter = outbox.clone();
                tokio::select! {
                    biased;
                    json = &mut call => finished(&outbox, json, capacity).await,
                    () = waiter.first_message() => streamed(outbox, call),
                    () = delay => streamed(outbox, call),
                }
            }
        }
    }

    /// A notification or a client response, handled before the 202 goes out. The returned
    /// future owns what it needs, so it stays `Send` without `S: Sync`.
    fn accept(&self, message: Incoming) -> impl Future<Output = ()> + Send + 'static {
        let call = match message {
            Incoming::Notification { method, params } => {
                let ctx = self.context(params.as_ref(), None);
                let req = McpRequest::from_parts(None, method, params, ctx);
                Some(call_handler(self.inner.clone(), req))
            }
            // Answers to server→client requests. None is pending yet in this transport, and the
            // specification lets a server drop a response with an unknown id (still 202).
            Incoming::Response { .. } | Incoming::Request { .. } => None,
        };
        async move {
            if let Some(call) = call {
                let _ = call.await;
            }
        }
    }

    /// A 2025-03-26 batch: notifications and responses first, then every request at once;
    /// the reply is a JSON array (an SSE stream in [`ResponseMode::Sse`]).
    async fn batch(self, items: Vec<Incoming>) -> Result<Response<McpBody>, Response<McpBody>> {
        if !self.version.allows_batches() {
            return Err(reject(
                RejectionKind::InvalidMessage,
                format!(
                    "JSON-RPC batches are only allowed in protocol version 2025-03-26, and this \
                     request speaks {}; send one message per POST",
                    self.version
                ),
            ));
        }
        if items.iter().any(|m| m.method() == Some("initialize")) {
            return Err(reject(
                RejectionKind::InvalidMessage,
                "initialize must not be sent in a batch",
            ));
        }
        let has_requests = items.iter().any(Incoming::is_request);
        if has_requests && items.iter().any(Incoming::is_response) {
            return Err(reject(
                RejectionKind::InvalidMessage,
                "a batch holds either requests and notifications, or responses, not both",
            ));
        }
        let _in_flight = self.session.as_ref().map(SessionInner::begin_request);
        let mut requests = Vec::new();
        for item in items {
            match item {
                Incoming::Request { id, method, params } => requests.push((id, method, params)),
                other => self.accept(other).await,
            }
        }
        if requests.is_empty() {
            return Ok(accepted());
        }
        let config = &self.shared.config;
        let streaming = config.response_mode == ResponseMode::Sse;
        let outbox = if streaming {
            Outbox::buffered(self.session.clone())
        } else {
            Outbox::detached(self.session.clone())
        };
        let calls = requests.into_iter().map(|(id, method, params)| {
            let ctx = self.context(params.as_ref(), Some(outbox.clone()));
            let req = McpRequest::from_parts(Some(id.clone()), method, params, ctx);
            let handler = call_handler(self.inner.clone(), req);
            async move { jsonrpc::response_bytes(&id, handler.await.outcome()) }
        });
        if streaming {
            let mut pending: FuturesUnordered<_> = calls.collect();
            let mut body = outbox.stream(config.stream_capacity);
            if let Some(interval) = config.keep_alive {
                body = body.keep_alive(interval);
            }
            let in_flight = self.session.as_ref().map(SessionInner::begin_request);
            tokio::spawn(async move {
                while let Some(json) = pending.next().await {
                    outbox.respond(&json).await;
                }
                outbox.close();
                drop(in_flight);
            });
            return Ok(sse_response(body));
        }
        let answers: Vec<Vec<u8>> = calls.collect::<FuturesOrdered<_>>().collect().await;
        let mut json = Vec::with_capacity(answers.iter().map(|a| a.len() + 1).sum::<usize>() + 2);
        json.push(b'[');
        for (i, answer) in answers.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(answer);
        }
        json.push(b']');
        Ok(json_response(json))
    }
}

/// The handler answered before the reply took a form: JSON, unless it already sent related
/// messages, which then travel with the answer on an SSE stream.
async fn finished(outbox: &Arc<Outbox>, json: Vec<u8>, capacity: usize) -> Response<McpBody> {
    if outbox.has_buffered() {
        let body = outbox.stream(capacity);
        // The channel has room for everything buffered plus this answer: no waiting.
        outbox.finish(&json).await;
        sse_response(body)
    } else {
        outbox.detach();
        json_response(json)
    }
}
