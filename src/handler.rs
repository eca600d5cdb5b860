//! The contract with the inner handler: [`McpRequest`] in, [`McpResponse`] out, and a
//! [`RequestContext`] to talk back to the client while a request runs.
//!
//! The inner service is any `Service<McpRequest, Response = McpResponse>`; a plain async
//! function wrapped in [`tower::service_fn`] is enough:
//!
//! ```
//! use mcp_tower::{McpRequest, McpResponse};
//! use serde_json::json;
//! use std::convert::Infallible;
//!
//! async fn handle(req: McpRequest) -> Result<McpResponse, Infallible> {
//!     Ok(match req.method() {
//!         "initialize" => McpResponse::result(json!({
//!             "protocolVersion": req.protocol_version().as_str(),
//!             "capabilities": { "tools": {} },
//!             "serverInfo": { "name": "demo", "version": "1.0.0" },
//!         })),
//!         "ping" => McpResponse::empty(),
//!         other => McpResponse::method_not_found(other),
//!     })
//! }
//! let handler = tower::service_fn(handle);
//! # let _ = handler;
//! ```

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::jsonrpc::{code, outgoing_bytes, ErrorObject, RequestId};
use crate::mrtr::{InputRequired, Round};
use crate::outbox::Outbox;
use crate::protocol::ProtocolVersion;
use crate::protocol::META_LOG_LEVEL;
use crate::session::{ClientRequestError, Delivery, RequestOptions, Session};

/// One JSON-RPC request or notification from a client, with its [`RequestContext`].
///
/// `params` are handed over by value, parsed once by the transport.
pub struct McpRequest {
    id: Option<RequestId>,
    method: String,
    params: Option<Value>,
    ctx: RequestContext,
}

impl McpRequest {
    pub(crate) fn from_parts(
        id: Option<RequestId>,
        method: String,
        params: Option<Value>,
        ctx: RequestContext,
    ) -> Self {
        Self {
            id,
            method,
            params,
            ctx,
        }
    }

    /// A request outside any transport, for calling a handler directly in tests and benchmarks.
    /// It has no session, an empty HTTP head, the newest session-era protocol version
    /// ([`ProtocolVersion::LATEST_SESSION`]), and its related messages go nowhere.
    ///
    /// ```
    /// use mcp_tower::McpRequest;
    ///
    /// let req = McpRequest::new(1, "tools/list", None);
    /// assert_eq!(req.method(), "tools/list");
    /// assert!(!req.is_notification());
    /// ```
    pub fn new(id: impl Into<RequestId>, method: impl Into<String>, params: Option<Value>) -> Self {
        Self::from_parts(
            Some(id.into()),
            method.into(),
            params,
            RequestContext::detached(ProtocolVersion::LATEST_SESSION),
        )
    }

    /// The request id; `None` for a notification.
    #[must_use]
    pub fn id(&self) -> Option<&RequestId> {
        self.id.as_ref()
    }

    /// Whether this is a notification: the response the handler returns is discarded.
    #[must_use]
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    /// The method name.
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The params, if the client sent any.
    #[must_use]
    pub fn params(&self) -> Option<&Value> {
        self.params.as_ref()
    }

    /// Takes the params out, leaving `None`.
    pub fn take_params(&mut self) -> Option<Value> {
        self.params.take()
    }

    /// Deserializes the params into `T` (missing params read as `{}`).
    ///
    /// # Errors
    ///
    /// An "invalid params" (−32602) error object that names what is wrong; it converts into an
    /// [`McpResponse`] with `.into()`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use mcp_tower::{McpRequest, McpResponse};
    /// use serde::Deserialize;
    /// use serde_json::json;
    ///
    /// #[derive(Deserialize)]
    /// struct Add {
    ///     a: i64,
    ///     b: i64,
    /// }
    ///
    /// async fn add(req: McpRequest) -> Result<McpResponse, Infallible> {
    ///     let Add { a, b } = match req.parse_params() {
    ///         Ok(params) => params,
    ///         // The client sees -32602 with what was wrong.
    ///         Err(invalid) => return Ok(invalid.into()),
    ///     };
    ///     Ok(json!({ "sum": a + b }).into())
    /// }
    /// # let _ = tower::service_fn(add);
    /// ```
    pub fn parse_params<T: DeserializeOwned>(&self) -> Result<T, ErrorObject> {
        // Straight from the borrowed value: no copy of the params.
        let empty = Value::Object(serde_json::Map::new());
        T::deserialize(self.params.as_ref().unwrap_or(&empty)).map_err(|e| {
            ErrorObject::new(
                code::INVALID_PARAMS,
                format!("invalid params for {}: {e}", self.method),
            )
        })
    }

    /// The protocol revision this request speaks.
    #[must_use]
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.ctx.protocol_version()
    }

    /// The session, if the request belongs to one.
    #[must_use]
    pub fn session(&self) -> Option<&Session> {
        self.ctx.session()
    }

    /// The context: session, HTTP head, and ways to send related messages.
    #[must_use]
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    /// The HTTP request head this message arrived in (headers, URI, and the extensions that
    /// outer layers such as authentication put there).
    #[must_use]
    pub fn head(&self) -> &http::request::Parts {
        self.ctx.head()
    }

    /// The HTTP request's extensions (shorthand for `head().extensions`).
    #[must_use]
    pub fn extensions(&self) -> &http::Extensions {
        &self.ctx.head().extensions
    }
}

impl fmt::Debug for McpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpRequest")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// The handler's answer to one request: a JSON-RPC result or error.
///
/// For a notification the transport discards it (reply with [`McpResponse::empty`]).
#[derive(Debug, Clone, PartialEq)]
pub struct McpResponse {
    outcome: Result<Value, ErrorObject>,
}

impl McpResponse {
    /// A successful result.
    #[must_use]
    pub fn result(value: Value) -> Self {
        Self { outcome: Ok(value) }
    }

    /// The empty result `{}` (the answer to `ping`, `logging/setLevel`, …).
    #[must_use]
    pub fn empty() -> Self {
        Self::result(Value::Object(serde_json::Map::new()))
    }

    /// An error.
    #[must_use]
    pub fn error(error: ErrorObject) -> Self {
        Self {
            outcome: Err(error),
        }
    }

    /// "Method not found" (−32601) naming the method.
    #[must_use]
    pub fn method_not_found(method: &str) -> Self {
        Self::error(ErrorObject::new(
            code::METHOD_NOT_FOUND,
            format!("method not found: {method}"),
        ))
    }

    /// "Invalid params" (−32602) with a message.
    #[must_use]
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::error(ErrorObject::new(code::INVALID_PARAMS, message))
    }

    /// The result or the error.
    pub fn outcome(&self) -> &Result<Value, ErrorObject> {
        &self.outcome
    }

    /// Consumes the response into its result or error.
    pub fn into_outcome(self) -> Result<Value, ErrorObject> {
        self.outcome
    }
}

impl From<ErrorObject> for McpResponse {
    fn from(error: ErrorObject) -> Self {
        Self::error(error)
    }
}

impl From<InputRequired> for McpResponse {
    fn from(result: InputRequired) -> Self {
        Self::result(result.into_value())
    }
}

impl From<Value> for McpResponse {
    fn from(value: Value) -> Self {
        Self::result(value)
    }
}

/// Severity of a `notifications/message` log entry (RFC 5424 levels, as MCP names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Detailed information for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Normal but significant.
    Notice,
    /// Something unexpected that did not stop the work.
    Warning,
    /// An operation failed.
    Error,
    /// A component failed.
    Critical,
    /// Someone must act now.
    Alert,
    /// The system is unusable.
    Emergency,
}

impl LogLevel {
    /// The level's wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }

    /// Parses a wire name (`"debug"`, `"info"`, …).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Debug,
            Self::Info,
            Self::Notice,
            Self::Warning,
            Self::Error,
            Self::Critical,
            Self::Alert,
            Self::Emergency,
        ]
        .into_iter()
        .find(|l| l.as_str() == name)
    }
}

/// What a handler knows about the request it serves, and its way to send messages related to
/// it: they travel on the request's own SSE stream, before the response.
///
/// When the reply is plain JSON (forced with [`ResponseMode::Json`](crate::ResponseMode::Json),
/// or for a batch), related messages cannot travel with it: they go to the session's
/// standalone stream instead, and are dropped where there is no session.
///
/// Sending never waits; the returned [`Delivery`] says where the message went.
#[derive(Clone)]
pub struct RequestContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    version: ProtocolVersion,
    session: Option<Session>,
    head: Arc<http::request::Parts>,
    progress_token: Option<Value>,
    /// Stateless era: the least severe level the request asked logs for
    /// (`_meta["io.modelcontextprotocol/logLevel"]`); `None` means no logs at all.
    log_level: Option<LogLevel>,
    outbox: Option<Arc<Outbox>>,
    /// 2026-07-28 `tools/call`, `prompts/get`, `resources/read`: the answers this call has and
    /// the questions it asks (multi-round-trip requests).
    round: Option<Arc<Round>>,
}

impl RequestContext {
    pub(crate) fn new(
        version: ProtocolVersion,
        session: Option<Session>,
        head: Arc<http::request::Parts>,
        params: Option<&Value>,
        outbox: Option<Arc<Outbox>>,
    ) -> Self {
        let meta = params.and_then(|p| p.get("_meta"));
        let progress_token = meta
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
            .cloned();
        let log_level = meta
            .and_then(|m| m.get(META_LOG_LEVEL))
            .and_then(Value::as_str)
            .and_then(LogLevel::parse);
        Self {
            inner: Arc::new(ContextInner {
                version,
                session,
                head,
                progress_token,
                log_level,
                outbox,
                round: None,
            }),
        }
    }

    /// This context, asking for input through `round` (a context fresh from [`new`](Self::new)).
    pub(crate) fn with_round(mut self, round: Option<Arc<Round>>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.round = round;
        }
        self
    }

    fn detached(version: ProtocolVersion) -> Self {
        let (head, ()) = http::Request::new(()).into_parts();
        Self::new(version, None, Arc::new(head), None, None)
    }

    /// The protocol revision of the request.
    #[must_use]
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.version
    }

    /// The session the request belongs to (`None` in stateless mode).
    #[must_use]
    pub fn session(&self) -> Option<&Session> {
        self.inner.session.as_ref()
    }

    /// The HTTP request head the message arrived in.
    #[must_use]
    pub fn head(&self) -> &http::request::Parts {
        &self.inner.head
    }

    /// The request's `_meta.progressToken`, if the client asked for progress.
    #[must_use]
    pub fn progress_token(&self) -> Option<&Value> {
        self.inner.progress_token.as_ref()
    }

    /// The least severe log level the request asked for with
    /// `_meta["io.modelcontextprotocol/logLevel"]` (stateless era, 2026-07-28). Such a request
    /// gets only `notifications/message` entries at this level or above, and none when it set no
    /// level: [`log`](Self::log) and [`notify`](Self::notify) drop the others.
    ///
    /// ```
    /// # async fn demo(req: mcp_tower::McpRequest) {
    /// use mcp_tower::LogLevel;
    ///
    /// if req.context().log_level().is_some_and(|l| l <= LogLevel::Debug) {
    ///     // Worth computing the expensive debug details.
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn log_level(&self) -> Option<LogLevel> {
        self.inner.log_level
    }

    /// Sends any notification related to this request.
    ///
    /// On a stateless-era request, `notifications/message` is sent only at or above the level
    /// the request asked for (see [`log_level`](Self::log_level)); otherwise it is dropped.
    // Owned params keep call sites simple: `Some(json!({ .. }))`.
    #[allow(clippy::needless_pass_by_value)]
    pub fn notify(&self, method: &str, params: Option<Value>) -> Delivery {
        if method == "notifications/message" && self.inner.version.is_stateless() {
            let level = params
                .as_ref()
                .and_then(|p| p.get("level"))
                .and_then(Value::as_str)
                .and_then(LogLevel::parse);
            let wanted = match (self.inner.log_level, level) {
                (Some(min), Some(level)) => level >= min,
                _ => false,
            };
            if !wanted {
                return Delivery::Dropped;
            }
        }
        match &self.inner.outbox {
            Some(outbox) => outbox.send(&outgoing_bytes(None, method, params.as_ref())),
            None => Delivery::Dropped,
        }
    }

    /// Sends `notifications/progress` for this request. Does nothing (and returns
    /// [`Delivery::Dropped`]) when the client did not ask for progress.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> Delivery {
        let Some(token) = &self.inner.progress_token else {
            return Delivery::Dropped;
        };
        let mut params = json!({ "progressToken": token, "progress": progress });
        if let Some(total) = total {
            params["total"] = json!(total);
        }
        if let Some(message) = message {
            params["message"] = json!(message);
        }
        self.notify("notifications/progress", Some(params))
    }

    /// Sends a request to the client related to this request (`sampling/createMessage`,
    /// `elicitation/create`, `roots/list`, `ping`) on this request's stream, and waits for the
    /// client's answer, with the layer's default timeout.
    ///
    /// If the future is dropped before the answer (the handler gave up or was cancelled), the
    /// client is sent `notifications/cancelled`.
    ///
    /// On a 2026-07-28 `tools/call`, `prompts/get` or `resources/read`, which cannot carry
    /// requests to the client, the same call works through multi-round-trip requests (see
    /// [`mrtr`](crate::mrtr)): it returns the answer the client sent in its retry, or, when
    /// there is none yet, never returns and the call ends with an `InputRequiredResult` asking
    /// for it. The client retries, the handler runs again, and this time the answer is there. A
    /// capability the request did not declare ends the call with −32021.
    ///
    /// ```no_run
    /// # async fn demo(ctx: &mcp_tower::RequestContext) -> Result<(), mcp_tower::ClientRequestError> {
    /// use serde_json::json;
    ///
    /// let answer = ctx
    ///     .request("sampling/createMessage", Some(json!({
    ///         "messages": [{ "role": "user", "content": { "type": "text", "text": "Hi" } }],
    ///         "maxTokens": 100,
    ///     })))
    ///     .await?;
    /// println!("the model said {}", answer["content"]["text"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientRequestError`]: the client lacks the capability the method needs (checked
    /// before anything is sent), there is no session (stateless mode), too many requests are
    /// waiting, the answer did not come in time (`notifications/cancelled` is sent), the
    /// session ended, or the client answered with an error.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, ClientRequestError> {
        self.request_with(method, params, RequestOptions::new())
            .await
    }

    /// [`request`](Self::request) with per-call options (timeout, reset on progress).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn request_with(
        &self,
        method: &str,
        params: Option<Value>,
        options: RequestOptions,
    ) -> Result<Value, ClientRequestError> {
        if let Some(round) = &self.inner.round {
            return round.ask(method, params, None).await;
        }
        self.send_request(method, params, options).await
    }

    /// [`request`](Self::request), naming the key the question travels under when a
    /// 2026-07-28 request asks for it in an `InputRequiredResult` (see [`mrtr`](crate::mrtr));
    /// the default key is the capability and the call's position, such as `elicitation_0`. In a
    /// session the key is not used: a real request is sent.
    ///
    /// ```no_run
    /// # async fn demo(ctx: &mcp_tower::RequestContext) -> Result<(), mcp_tower::ClientRequestError> {
    /// use serde_json::json;
    ///
    /// let answer = ctx
    ///     .request_as("user_name", "elicitation/create", Some(json!({
    ///         "message": "What is your name?",
    ///         "requestedSchema": { "type": "object", "properties": { "name": { "type": "string" } } },
    ///     })))
    ///     .await?;
    /// println!("hello {}", answer["content"]["name"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn request_as(
        &self,
        key: &str,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, ClientRequestError> {
        if let Some(round) = &self.inner.round {
            return round.ask(method, params, Some(key)).await;
        }
        self.send_request(method, params, RequestOptions::new())
            .await
    }

    /// On a 2026-07-28 retry, the client's answer under `key`: from this request's
    /// `inputResponses`, or carried from an earlier round in the verified `requestState`.
    /// For handlers that build their [`InputRequired`](crate::mrtr::InputRequired) results
    /// themselves.
    ///
    /// ```
    /// # fn demo(ctx: &mcp_tower::RequestContext) {
    /// match ctx.input_response("confirm") {
    ///     Some(answer) if answer["action"] == "accept" => { /* go on */ }
    ///     _ => { /* ask (again) */ }
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn input_response(&self, key: &str) -> Option<&Value> {
        self.inner.round.as_ref()?.answer(key)
    }

    /// On a 2026-07-28 retry, the `requestState` the handler set on its previous
    /// [`InputRequired`](crate::mrtr::InputRequired) result, verified by the transport (the
    /// client cannot have changed it).
    ///
    /// ```
    /// # fn demo(ctx: &mcp_tower::RequestContext) {
    /// let step = ctx.request_state().unwrap_or("start");
    /// # let _ = step;
    /// # }
    /// ```
    #[must_use]
    pub fn request_state(&self) -> Option<&str> {
        self.inner.round.as_ref()?.handler_state()
    }

    /// A real request to the client, in a session.
    async fn send_request(
        &self,
        method: &str,
        params: Option<Value>,
        options: RequestOptions,
    ) -> Result<Value, ClientRequestError> {
        let outbox = self.inner.outbox.clone();
        let session = outbox
            .as_ref()
            .and_then(|o| o.session().cloned())
            .or_else(|| self.inner.session.as_ref().and_then(Session::live))
            .ok_or(ClientRequestError::NoSession)?;
        let send = |json: &[u8]| match &outbox {
            Some(outbox) => outbox.send(json),
            None => session.send_unrelated(json),
        };
        session.request_client(method, params, options, &send).await
    }

    /// Closes the client's current connection to this request's SSE stream without ending the
    /// stream (SEP-1699 polling): the client waits for the `retry:` hint, then resumes with
    /// `Last-Event-ID` and receives what it missed, the answer included. A reply still
    /// undecided (adaptive mode) becomes a stream at once and is closed right after its priming
    /// event.
    ///
    /// Returns false, and closes nothing, when there is no resumable stream: a JSON reply
    /// ([`ResponseMode::Json`](crate::ResponseMode::Json)), stateless mode, or a request whose
    /// protocol version is older than 2025-11-25 (such clients do not expect it).
    pub fn close_sse_stream(&self) -> bool {
        self.inner
            .outbox
            .as_ref()
            .is_some_and(|o| o.close_connection())
    }

    /// Sends a `notifications/message` log entry related to this request. In the session era,
    /// filtering by the level the client set with `logging/setLevel` is the handler's business;
    /// on a stateless-era request the transport filters by the request's own level (see
    /// [`log_level`](Self::log_level)).
    // Owned params keep call sites simple: `Some(json!({ .. }))`.
    #[allow(clippy::needless_pass_by_value)]
    pub fn log(&self, level: LogLevel, logger: Option<&str>, data: Value) -> Delivery {
        let mut params = json!({ "level": level.as_str(), "data": data });
        if let Some(logger) = logger {
            params["logger"] = json!(logger);
        }
        self.notify("notifications/message", Some(params))
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("protocol_version", &self.inner.version)
            .field("session", &self.inner.session)
            .field("progress_token", &self.inner.progress_token)
            .finish_non_exhaustive()
    }
}
