//! `StreamableHttpClient`: an MCP client over the Streamable HTTP transport.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use serde_json::{json, Map, Value};
use tokio::time::Instant;
use tower::{Service, ServiceExt as _};

use super::backoff::Backoff;
use super::body::{byte_stream, read_to_end, ClientBody};
use super::config::Config;
use super::error::{ClientError, ErrorKind};
use super::event_source::{is_event_stream, EventSource};
use super::message::{ServerMessage, ServerRequest};
use super::modern::{self, ParamHeaders};
use super::shared::{
    error_status, handle_server_request, initialize_params, outgoing, post_request, response,
    response_outcome,
};
use crate::jsonrpc::ErrorObject;
use crate::mrtr::is_input_required;
use crate::protocol::{ProtocolVersion, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use crate::session::is_visible_ascii;
use crate::sse::SseEvent;
use crate::BoxError;

const ACCEPT_POST: &str = "application/json, text/event-stream";

/// Builds a [`StreamableHttpClient`]. See the [module docs](crate::client) for an example.
#[must_use]
pub struct StreamableHttpClientBuilder<S> {
    pub(super) service: S,
    pub(super) uri: Uri,
    pub(super) config: Config,
}

impl<S> StreamableHttpClientBuilder<S> {
    /// Adds a header sent on every request (POST, GET and DELETE, reconnections included),
    /// such as `Authorization: Bearer …`.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.config.headers.append(name, value);
        self
    }

    /// The protocol version offered in `initialize` (default [`ProtocolVersion::LATEST_SESSION`]).
    /// The server may answer with another one; every [`ProtocolVersion`] is accepted.
    pub fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.config.protocol_version = version;
        self
    }

    /// The `clientInfo` sent in `initialize` (default: this crate's name and version).
    pub fn client_info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.config.client_info = json!({ "name": name.into(), "version": version.into() });
        self
    }

    /// The `capabilities` sent in `initialize` (default `{}`). Declare `sampling`, `roots` or
    /// `elicitation` here when the [request handler](Self::request_handler) serves them.
    pub fn capabilities(mut self, capabilities: Value) -> Self {
        self.config.capabilities = capabilities;
        self
    }

    /// The reconnection policy for resuming broken streams (default [`Backoff::new`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Limits the wait for response headers when (re)opening a `GET` stream (default 30 s).
    /// POSTs have no such limit: a server may take its time before it answers a tool call.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// The watchdog for SSE streams: no byte for `timeout` and the connection is resumed
    /// (default off). See [`EventSource::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// The largest event or JSON response accepted (default 16 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_event_size = bytes;
        self
    }

    /// When the server answers `404` to a request in a session (the session expired), start
    /// a new session and send the request again, once (default off: the request fails with
    /// [`ErrorKind::SessionExpired`]).
    pub fn reinitialize_on_expiry(mut self, on: bool) -> Self {
        self.config.reinitialize = on;
        self
    }

    /// Bounds each [`request`](StreamableHttpClient::request), from sending it to its response
    /// (default: none). When the time is up the client POSTs `notifications/cancelled` for it
    /// (best effort) and returns [`ErrorKind::Timeout`]. [`call`](StreamableHttpClient::call)
    /// is not bounded: wrap its reading in `tokio::time::timeout` and use [`Call::cancel`].
    ///
    /// The handshake ([`initialize`](StreamableHttpClient::initialize), and re-initialization)
    /// is bounded by the same time, as a whole; it fails with [`ErrorKind::Timeout`] but is
    /// not cancelled, since MCP forbids cancelling `initialize`.
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Answers requests from the server. The handler's result (or error) is POSTed back as the
    /// JSON-RPC response. Without a handler, `ping` is answered with `{}` and everything else
    /// with `-32601` (method not found).
    ///
    /// ```
    /// # use mcp_tower::client::{StreamableHttpClient, ClientBody};
    /// # use mcp_tower::{code, ErrorObject};
    /// # let service = tower::service_fn(|_: http::Request<ClientBody>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// let client = StreamableHttpClient::builder(service, "http://localhost:3000/mcp".parse().unwrap())
    ///     .capabilities(serde_json::json!({ "sampling": {} }))
    ///     .request_handler(|request| async move {
    ///         match request.method() {
    ///             "sampling/createMessage" => Ok(serde_json::json!({
    ///                 "role": "assistant",
    ///                 "content": { "type": "text", "text": "hi" },
    ///                 "model": "none",
    ///             })),
    ///             "ping" => Ok(serde_json::json!({})),
    ///             _ => Err(ErrorObject::new(code::METHOD_NOT_FOUND, "method not found")),
    ///         }
    ///     })
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn request_handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(ServerRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.config.handler = Some(Arc::new(move |req| Box::pin(handler(req))));
        self
    }

    /// Receives the server messages nobody read: those of a call whose
    /// [`result`](Call::result) was awaited without reading [`Call::next_message`] first.
    pub fn message_listener<F>(mut self, listener: F) -> Self
    where
        F: Fn(ServerMessage) + Send + Sync + 'static,
    {
        self.config.listener = Some(Arc::new(listener));
        self
    }

    /// How many times one 2026-07-28 [`request`](StreamableHttpClient::request) may be
    /// answered with `input_required` (default 8). Each time, the client answers the server's
    /// `inputRequests` through the [request handler](Self::request_handler) and sends the
    /// request again with `inputResponses` and the `requestState`; one more `input_required`
    /// than this fails the request with [`ErrorKind::InputRounds`].
    ///
    /// ```
    /// # let service = tower::service_fn(|_: http::Request<mcp_tower::client::ClientBody>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// let client = mcp_tower::client::StreamableHttpClient::builder(service, "http://localhost/mcp".parse().unwrap())
    ///     .max_input_rounds(3)
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn max_input_rounds(mut self, rounds: u32) -> Self {
        self.config.max_input_rounds = rounds;
        self
    }

    /// Builds the client without contacting the server; call
    /// [`initialize`](StreamableHttpClient::initialize) next.
    pub fn build(self) -> StreamableHttpClient<S> {
        StreamableHttpClient {
            inner: Arc::new(Inner {
                service: Mutex::new(self.service),
                uri: self.uri,
                config: self.config,
                next_id: AtomicI64::new(0),
                session: Mutex::new(Session::default()),
                init_lock: tokio::sync::Mutex::new(()),
                param_headers: Mutex::new(ParamHeaders::new()),
            }),
        }
    }
}

impl<S> fmt::Debug for StreamableHttpClientBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamableHttpClientBuilder")
            .field("service", &std::any::type_name::<S>())
            .field("uri", &self.uri)
            .field("config", &self.config)
            .finish()
    }
}

/// An MCP client over Streamable HTTP, on top of any tower HTTP service. Cheap to clone; the
/// clones share the session.
///
/// See the [module docs](crate::client) for an example and the list of what it does.
pub struct StreamableHttpClient<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    /// Cloned for each request (tower's `oneshot` drives the clone ready, then calls it).
    service: Mutex<S>,
    uri: Uri,
    config: Config,
    next_id: AtomicI64,
    session: Mutex<Session>,
    /// Serializes (re-)initialization; a tokio mutex, held across the handshake.
    init_lock: tokio::sync::Mutex<()>,
    /// The `x-mcp-header` arguments of the tools listed so far (2026-07-28).
    param_headers: Mutex<ParamHeaders>,
}

#[derive(Debug, Clone, Default)]
struct Session {
    id: Option<HeaderValue>,
    version: Option<ProtocolVersion>,
    init_result: Option<Value>,
    /// Bumped by every successful `initialize`, so concurrent `404`s re-initialize once.
    generation: u64,
}

impl Session {
    /// The 2026-07-28 era (or later): no session, every request stands alone.
    fn modern(&self) -> Option<ProtocolVersion> {
        self.version.filter(|v| v.is_stateless())
    }
}

impl<S> Clone for StreamableHttpClient<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> fmt::Debug for StreamableHttpClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let session = self.session();
        f.debug_struct("StreamableHttpClient")
            .field("service", &std::any::type_name::<S>())
            .field("uri", &self.inner.uri)
            .field("session_id", &session.id)
            .field("protocol_version", &session.version)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl<S> StreamableHttpClient<S> {
    /// Starts building a client that sends its requests to `uri` through `service`.
    pub fn builder(service: S, uri: Uri) -> StreamableHttpClientBuilder<S> {
        StreamableHttpClientBuilder {
            service,
            uri,
            config: Config::new(),
        }
    }

    /// The session id the server assigned, if any.
    #[must_use]
    pub fn session_id(&self) -> Option<String> {
        self.session()
            .id
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    /// The negotiated protocol version, once initialized.
    #[must_use]
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.session().version
    }

    /// The server's `InitializeResult` (`serverInfo`, `capabilities`, `instructions`, ...),
    /// once initialized.
    #[must_use]
    pub fn server_info(&self) -> Option<Value> {
        self.session().init_result
    }

    fn session(&self) -> Session {
        self.inner
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_session(&self, session: Session) {
        *self
            .inner
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = session;
    }

    pub(super) fn max_message_size(&self) -> usize {
        self.inner.config.max_event_size
    }

    pub(super) fn backoff(&self) -> Backoff {
        self.inner.config.backoff
    }

    fn next_id(&self) -> i64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The headers every request of the session carries.
    fn session_headers(&self, session: &Session) -> HeaderMap {
        let mut headers = self.inner.config.headers.clone();
        if let Some(id) = &session.id {
            headers.insert(MCP_SESSION_ID, id.clone());
        }
        if let Some(version) = session.version {
            headers.insert(
                MCP_PROTOCOL_VERSION,
                HeaderValue::from_static(version.as_str()),
            );
        }
        headers
    }
}

impl<S, B> StreamableHttpClient<S>
where
    S: Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Runs the handshake: `initialize` (offering the configured protocol version, capturing
    /// the session id), then `notifications/initialized`. Returns the server's
    /// `InitializeResult`. Calling it again starts a new session.
    ///
    /// The whole handshake is bounded by the
    /// [request timeout](StreamableHttpClientBuilder::request_timeout), if one is set.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnsupportedVersion`] when the server picks a version that is not a
    /// [`ProtocolVersion`]; [`ErrorKind::Timeout`] when the handshake outlasts the request
    /// timeout; otherwise as for [`request`](Self::request).
    pub async fn initialize(&self) -> Result<Value, ClientError> {
        let _guard = self.inner.init_lock.lock().await;
        self.handshake().await
    }

    /// Runs the handshake; the caller holds `init_lock`.
    async fn handshake(&self) -> Result<Value, ClientError> {
        let config = &self.inner.config;
        let id = self.next_id();
        let params = initialize_params(config);
        let message = outgoing(Some(id), "initialize", Some(&params));
        // The init lock is held throughout, so a silent server must not hold it for ever.
        let deadline = config.request_timeout.map(|limit| Instant::now() + limit);
        // A new session: no session id, no version header.
        let previous = self.session();
        let fresh = Session {
            generation: previous.generation,
            ..Session::default()
        };
        let headers = self.session_headers(&fresh);
        let response = by_deadline(deadline, self.post(&message, &headers)).await?;
        let session_id = response.headers().get(MCP_SESSION_ID).cloned();
        if session_id
            .as_ref()
            .is_some_and(|id| !is_visible_ascii(id.as_bytes()))
        {
            return Err(ClientError::msg(
                ErrorKind::Protocol,
                "session id must be visible ASCII and not empty",
            ));
        }
        let pending = Session {
            id: session_id,
            ..fresh.clone()
        };
        // Requests the server makes before its answer are answered within the new session.
        self.set_session(pending.clone());
        let answer = async {
            let call = self.call_with(id, response, &pending, None).await?;
            call.result().await
        };
        let result = by_deadline(deadline, answer)
            .await
            .inspect_err(|_| self.set_session(fresh.clone()))?;
        let chosen = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Ok(version) = chosen.parse::<ProtocolVersion>() else {
            self.set_session(fresh);
            return Err(ClientError::msg(
                ErrorKind::UnsupportedVersion,
                format!("server chose {chosen:?}"),
            ));
        };
        let session = Session {
            version: Some(version),
            init_result: Some(result.clone()),
            generation: pending.generation.wrapping_add(1),
            ..pending
        };
        self.set_session(session.clone());
        let initialized = outgoing(None, "notifications/initialized", None);
        let headers = self.session_headers(&session);
        by_deadline(deadline, self.send(&initialized, &headers)).await?;
        Ok(result)
    }

    /// Sends a request and returns its `result`.
    ///
    /// Messages the server sends before the response (progress, logging) go to the
    /// [message listener](StreamableHttpClientBuilder::message_listener); use
    /// [`call`](Self::call) to read them yourself.
    ///
    /// With the default settings (no
    /// [request timeout](StreamableHttpClientBuilder::request_timeout), a [`Backoff`] without
    /// attempt or time limits) a request whose SSE stream broke may wait indefinitely: the
    /// stream is resumed for as long as reconnecting fails, or the resumed stream stays silent.
    /// Bound the wait with a request timeout; [`Backoff::max_attempts`] or
    /// [`Backoff::max_elapsed`] bound the reconnecting only.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Rpc`] when the server answers with a JSON-RPC error; transport, status and
    /// protocol errors otherwise.
    pub async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ClientError> {
        let id = self.next_id();
        let modern = self.session().modern().is_some();
        let work = async {
            if modern {
                self.rounds(id, method, params).await
            } else {
                self.call_id(id, method, params).await?.result().await
            }
        };
        let Some(limit) = self.inner.config.request_timeout else {
            return work.await;
        };
        match tokio::time::timeout(limit, work).await {
            Ok(outcome) => outcome,
            Err(_) => {
                let reason = format!("no response within {limit:?}");
                if !modern {
                    let params = json!({ "requestId": id, "reason": reason });
                    // Best effort: the caller learns about the timeout either way.
                    let _ = self.notify("notifications/cancelled", Some(params)).await;
                }
                // In 2026-07-28, dropping the call closed its stream: that is the cancellation.
                Err(ClientError::msg(ErrorKind::Timeout, reason))
            }
        }
    }

    /// A 2026-07-28 request with its multi-round-trip loop: while the result is
    /// `input_required`, answer its `inputRequests` through the handler and send the request
    /// again (a new id) with `inputResponses` and the `requestState`.
    async fn rounds(
        &self,
        mut id: i64,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, ClientError> {
        let mut params = params.unwrap_or_else(|| json!({}));
        let mut round = 0;
        loop {
            let result = self
                .call_id(id, method, Some(params.clone()))
                .await?
                .result()
                .await?;
            if !is_input_required(&result) {
                if method == "tools/list" {
                    modern::learn_tools(&result, &mut lock(&self.inner.param_headers));
                }
                return Ok(result);
            }
            round += 1;
            if round > self.inner.config.max_input_rounds {
                return Err(ClientError::msg(
                    ErrorKind::InputRounds,
                    format!(
                        "{method} asked for input {round} times; the limit is {}",
                        self.inner.config.max_input_rounds
                    ),
                ));
            }
            let responses = self.answer_inputs(&result).await?;
            if let Value::Object(map) = &mut params {
                map.insert("inputResponses".into(), Value::Object(responses));
                match result.get("requestState") {
                    Some(state) => map.insert("requestState".into(), state.clone()),
                    None => map.remove("requestState"),
                };
            }
            id = self.next_id();
        }
    }

    /// Answers every input request of an `InputRequiredResult` through the request handler,
    /// concurrently; the answers, by key.
    async fn answer_inputs(&self, result: &Value) -> Result<Map<String, Value>, ClientError> {
        let empty = Map::new();
        let requests = result
            .get("inputRequests")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let config = &self.inner.config;
        let answers = requests.iter().map(|(key, request)| async move {
            let method = request.get("method").and_then(Value::as_str).unwrap_or("");
            let asked = ServerRequest::input(key, method, request.get("params").cloned());
            let answer = handle_server_request(config, asked).await.map_err(|e| {
                ClientError::msg(
                    ErrorKind::Rpc,
                    format!("the request handler failed input request {key:?} ({method})"),
                )
                .with_rpc(e)
            })?;
            Ok::<_, ClientError>((key.clone(), answer))
        });
        futures_util::future::join_all(answers)
            .await
            .into_iter()
            .collect()
    }

    /// Probes the server for the 2026-07-28 era: `server/discover`, without a session. When the
    /// server lists 2026-07-28, every request from then on is a 2026-07-28 one (headers and
    /// `_meta`, no session). Returns the `DiscoverResult` (also kept as
    /// [`server_info`](Self::server_info)).
    ///
    /// ```
    /// use mcp_tower::client::{ErrorKind, StreamableHttpClient};
    /// use mcp_tower::{McpLayer, McpRequest, McpResponse, ProtocolVersion};
    /// use serde_json::json;
    /// use tower::Layer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_tower::client::ClientError> {
    /// let app = |sessions_only: bool| {
    ///     tower::service_fn(move |req: McpRequest| async move {
    ///         Ok::<_, std::convert::Infallible>(match req.method() {
    ///             "server/discover" if !sessions_only => McpResponse::result(json!({
    ///                 "supportedVersions": ["2026-07-28"], "capabilities": {},
    ///             })),
    ///             other => McpResponse::method_not_found(other),
    ///         })
    ///     })
    /// };
    /// let url: http::Uri = "http://localhost/mcp".parse().unwrap();
    /// let modern = StreamableHttpClient::builder(McpLayer::new().layer(app(false)), url.clone()).build();
    /// let found = modern.discover().await?;
    /// assert_eq!(found["supportedVersions"][0], "2026-07-28");
    /// assert_eq!(modern.protocol_version(), Some(ProtocolVersion::V2026_07_28));
    ///
    /// // An application that does not know the method: 404 with -32601, a session-era answer.
    /// let old = StreamableHttpClient::builder(McpLayer::new().layer(app(true)), url).build();
    /// let err = old.discover().await.unwrap_err();
    /// assert_eq!(err.status(), Some(http::StatusCode::NOT_FOUND));
    /// assert_eq!(old.protocol_version(), None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnsupportedVersion`] when the server does not list 2026-07-28; otherwise
    /// as for [`request`](Self::request) (a session-era server answers 400, 404 or 405, or a
    /// JSON-RPC error).
    pub async fn discover(&self) -> Result<Value, ClientError> {
        let version = ProtocolVersion::V2026_07_28;
        let probe = Session {
            version: Some(version),
            ..Session::default()
        };
        let id = self.next_id();
        let discover = async {
            let (message, headers) =
                self.modern_message(Some(id), "server/discover", None, version)?;
            let response = self.post(&message, &headers).await?;
            self.call_with(id, response, &probe, Some("server/discover"))
                .await?
                .result()
                .await
        };
        let result = match self.inner.config.request_timeout {
            Some(limit) => tokio::time::timeout(limit, discover).await.map_err(|_| {
                ClientError::msg(ErrorKind::Timeout, "no answer to server/discover in time")
            })??,
            None => discover.await?,
        };
        let listed = result
            .get("supportedVersions")
            .and_then(Value::as_array)
            .is_some_and(|versions| versions.iter().any(|v| v == version.as_str()));
        if !listed {
            return Err(ClientError::msg(
                ErrorKind::UnsupportedVersion,
                format!(
                    "server/discover does not list {}: {}",
                    version.as_str(),
                    result.get("supportedVersions").unwrap_or(&Value::Null)
                ),
            ));
        }
        let previous = self.session();
        self.set_session(Session {
            version: Some(version),
            init_result: Some(result.clone()),
            generation: previous.generation.wrapping_add(1),
            id: None,
        });
        Ok(result)
    }

    /// Connects in whichever era the server speaks, newest first: [`discover`](Self::discover)
    /// (2026-07-28, stateless), and on an answer that means a session-era server (400, 404 or
    /// 405, a JSON-RPC error such as −32601 or −32022, or no 2026-07-28 in the list) the
    /// session handshake, [`initialize`](Self::initialize). Returns the `DiscoverResult` or the
    /// `InitializeResult`; [`protocol_version`](Self::protocol_version) says which era won.
    ///
    /// ```
    /// use mcp_tower::client::StreamableHttpClient;
    /// use mcp_tower::{McpLayer, McpRequest, McpResponse, ProtocolVersion};
    /// use serde_json::json;
    /// use tower::Layer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_tower::client::ClientError> {
    /// let server = McpLayer::new().layer(tower::service_fn(|req: McpRequest| async move {
    ///     Ok::<_, std::convert::Infallible>(match req.method() {
    ///         "server/discover" => McpResponse::result(json!({
    ///             "supportedVersions": ["2025-11-25", "2026-07-28"],
    ///             "capabilities": { "tools": {} },
    ///         })),
    ///         "tools/list" => McpResponse::result(json!({ "tools": [] })),
    ///         other => McpResponse::method_not_found(other),
    ///     })
    /// }));
    /// let client = StreamableHttpClient::builder(server, "http://localhost/mcp".parse().unwrap()).build();
    /// client.connect().await?;
    /// assert_eq!(client.protocol_version(), Some(ProtocolVersion::V2026_07_28));
    /// assert!(client.session_id().is_none());
    /// let tools = client.request("tools/list", None).await?;
    /// assert_eq!(tools["resultType"], "complete");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The `server/discover` error when it does not mean a session-era server (401, 403, 5xx,
    /// transport); otherwise as for [`initialize`](Self::initialize).
    pub async fn connect(&self) -> Result<Value, ClientError> {
        match self.discover().await {
            Ok(result) => Ok(result),
            Err(e) if modern::is_legacy_answer(&e) || modern::is_unsupported_version(&e) => {
                self.initialize().await
            }
            Err(e) => Err(e),
        }
    }

    /// POSTs a `subscriptions/listen` request; its id and the `2xx` answer.
    pub(super) async fn post_listen(
        &self,
        params: Value,
    ) -> Result<(i64, Response<B>), ClientError> {
        let Some(version) = self.session().modern() else {
            return Err(ClientError::msg(
                ErrorKind::Protocol,
                "subscriptions/listen needs a 2026-07-28 connection: call discover or connect                  first",
            ));
        };
        let id = self.next_id();
        let (message, headers) =
            self.modern_message(Some(id), "subscriptions/listen", Some(params), version)?;
        Ok((id, self.post(&message, &headers).await?))
    }

    /// Reads a `2xx` answer to request `id` as a [`Call`].
    pub(super) async fn read_answer(
        &self,
        id: i64,
        response: Response<B>,
    ) -> Result<Call<S>, ClientError> {
        let session = self.session();
        self.call_with(id, response, &session, None).await
    }

    /// A 2026-07-28 message and its headers.
    fn modern_message(
        &self,
        id: Option<i64>,
        method: &str,
        params: Option<Value>,
        version: ProtocolVersion,
    ) -> Result<(Bytes, HeaderMap), ClientError> {
        let params = modern::with_meta(&self.inner.config, version, params);
        let mut headers = self.inner.config.headers.clone();
        let era = modern::headers(version, method, &params, &lock(&self.inner.param_headers))?;
        for (name, value) in &era {
            headers.insert(name, value.clone());
        }
        Ok((outgoing(id, method, Some(&params)), headers))
    }

    /// Sends a request and returns a [`Call`] that yields what the server sends before the
    /// response, then the response.
    ///
    /// On a 2026-07-28 connection a call is one round: an `input_required` result is returned
    /// as it is (answer it and call again with `inputResponses` and `requestState`, or use
    /// [`request`](Self::request), which runs the rounds), and [`Call::cancel`] closes the
    /// stream, which is that era's cancellation.
    ///
    /// # Errors
    ///
    /// Fails when the request could not be sent or the server refused it before answering
    /// (an HTTP error status; [`ErrorKind::SessionExpired`] for a `404` in a session unless
    /// [re-initialization](StreamableHttpClientBuilder::reinitialize_on_expiry) is on).
    pub async fn call(&self, method: &str, params: Option<Value>) -> Result<Call<S>, ClientError> {
        self.call_id(self.next_id(), method, params).await
    }

    async fn call_id(
        &self,
        id: i64,
        method: &str,
        params: Option<Value>,
    ) -> Result<Call<S>, ClientError> {
        let session = self.session();
        if let Some(version) = session.modern() {
            let (message, headers) = self.modern_message(Some(id), method, params, version)?;
            let response = self.post(&message, &headers).await?;
            return self.call_with(id, response, &session, Some(method)).await;
        }
        let message = outgoing(Some(id), method, params.as_ref());
        let (response, session) = self.post_in_session(&message).await?;
        self.call_with(id, response, &session, Some(method)).await
    }

    /// Sends a notification (no response expected; the server answers `202 Accepted`).
    ///
    /// # Errors
    ///
    /// Fails on a transport error or a non-`2xx` status.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), ClientError> {
        if let Some(version) = self.session().modern() {
            let (message, headers) = self.modern_message(None, method, params, version)?;
            return self.send(&message, &headers).await;
        }
        let message = outgoing(None, method, params.as_ref());
        self.post_in_session(&message).await.map(drop)
    }

    /// Opens the standalone `GET` stream on which the server sends requests and notifications
    /// unrelated to any call. It reconnects by itself (see [`EventSource`]); requests on it are
    /// answered through the request handler.
    ///
    /// Nothing is sent before the first [`ServerStream::next`]. A server without such a stream
    /// answers `405`: the first `next` then returns [`ErrorKind::StreamNotOffered`].
    ///
    /// The stream keeps the session id and protocol version of the moment `listen` is called:
    /// called before [`initialize`](Self::initialize) it sends no session id; after a
    /// re-initialization it still carries the old id, so it ends with
    /// [`ErrorKind::SessionExpired`] (call `listen` again).
    #[must_use]
    pub fn listen(&self) -> ServerStream<S> {
        let session = self.session();
        ServerStream {
            client: self.clone(),
            events: self.event_source(&session),
            pending: VecDeque::new(),
        }
    }

    /// Ends the session: `DELETE` with the session id. A `405` (the server does not let
    /// clients end sessions) and a `404` (already gone) count as success. Without a session id
    /// nothing is sent.
    ///
    /// # Errors
    ///
    /// Fails on a transport error or another error status.
    pub async fn close(&self) -> Result<(), ClientError> {
        let session = self.session();
        if session.id.is_none() {
            return Ok(());
        }
        let mut request = Request::builder()
            .method(Method::DELETE)
            .uri(self.inner.uri.clone())
            .body(ClientBody::empty())
            .map_err(|e| ClientError::new(ErrorKind::InvalidRequest).with_source(e))?;
        request.headers_mut().extend(self.session_headers(&session));
        let response = self.send_request(request).await?;
        let status = response.status();
        if status.is_success()
            || status == StatusCode::METHOD_NOT_ALLOWED
            || status == StatusCode::NOT_FOUND
        {
            self.set_session(Session {
                generation: session.generation,
                ..Session::default()
            });
            Ok(())
        } else {
            // The session may live on: keep it, so that `close` can be tried again.
            Err(error_status(response, self.inner.config.max_event_size).await)
        }
    }

    /// POSTs `message` in the current session. When the session expired and
    /// [re-initialization](StreamableHttpClientBuilder::reinitialize_on_expiry) is on, starts
    /// a new session and POSTs it again, once. Returns the session the answer belongs to.
    async fn post_in_session(
        &self,
        message: &Bytes,
    ) -> Result<(Response<B>, Session), ClientError> {
        let session = self.session();
        match self.post(message, &self.session_headers(&session)).await {
            Err(e) if self.expired(&e, &session) => {
                self.reinitialize(session.generation).await?;
                let session = self.session();
                let response = self.post(message, &self.session_headers(&session)).await?;
                Ok((response, session))
            }
            other => other.map(|response| (response, session)),
        }
    }

    fn expired(&self, err: &ClientError, session: &Session) -> bool {
        self.inner.config.reinitialize
            && err.kind() == ErrorKind::SessionExpired
            && session.id.is_some()
    }

    async fn reinitialize(&self, failed_generation: u64) -> Result<(), ClientError> {
        let _guard = self.inner.init_lock.lock().await;
        if self.session().generation != failed_generation {
            return Ok(()); // another caller already started a new session
        }
        self.handshake().await.map(drop)
    }

    fn event_source(&self, session: &Session) -> EventSource<S> {
        let config = &self.inner.config;
        EventSource::new(self.service(), self.inner.uri.clone())
            .headers(self.session_headers(session))
            .backoff(config.backoff)
            .connect_timeout(config.connect_timeout)
            .idle_timeout(config.idle_timeout)
            .max_event_size(config.max_event_size)
    }

    fn service(&self) -> S {
        self.inner
            .service
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn send_request(&self, request: Request<ClientBody>) -> Result<Response<B>, ClientError> {
        self.service()
            .oneshot(request)
            .await
            .map_err(|e| ClientError::new(ErrorKind::Transport).with_source(e))
    }

    /// POSTs one serialized message and returns the response if its status is `2xx`.
    async fn post(&self, message: &Bytes, headers: &HeaderMap) -> Result<Response<B>, ClientError> {
        // The builder's headers are in `headers` already (see `session_headers`).
        let request = post_request(
            &self.inner.uri,
            Some(ACCEPT_POST),
            &HeaderMap::new(),
            headers,
            message.clone(),
        )?;
        let response = self.send_request(request).await?;
        if response.status().is_success() {
            Ok(response)
        } else if response.status() == StatusCode::NOT_FOUND && headers.contains_key(MCP_SESSION_ID)
        {
            Err(ClientError::new(ErrorKind::SessionExpired).with_status(StatusCode::NOT_FOUND))
        } else {
            Err(error_status(response, self.inner.config.max_event_size).await)
        }
    }

    /// POSTs a notification or a response; any `2xx` will do.
    async fn send(&self, message: &Bytes, headers: &HeaderMap) -> Result<(), ClientError> {
        self.post(message, headers).await.map(drop)
    }

    /// Turns the `2xx` answer to a POSTed request into a [`Call`].
    async fn call_with(
        &self,
        id: i64,
        response: Response<B>,
        session: &Session,
        method: Option<&str>,
    ) -> Result<Call<S>, ClientError> {
        let status = response.status();
        let source = if is_event_stream(response.headers()) {
            let body = byte_stream(response.into_body());
            Source::Sse(Box::new(self.event_source(session).attach(body)))
        } else if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            return Err(ClientError::msg(
                ErrorKind::Protocol,
                format!("server answered {status} to a request, with no response"),
            )
            .with_status(status));
        } else {
            // JSON, whether or not the content type says so: the body is checked below.
            let body = read_to_end(
                byte_stream(response.into_body()),
                self.inner.config.max_event_size,
            )
            .await
            .map_err(|e| ClientError::new(ErrorKind::Transport).with_source(e))?;
            Source::Json(Some(body))
        };
        Ok(Call {
            client: self.clone(),
            id,
            method: method.map(str::to_owned),
            source,
            pending: VecDeque::new(),
            outcome: None,
        })
    }

    /// Answers a request from the server through the handler and POSTs the answer back.
    async fn answer(&self, request: &Value) -> Result<(), ClientError> {
        let Some(request) = ServerRequest::from_message(request) else {
            return Ok(()); // an id that is neither string nor integer: nothing to answer to
        };
        if self.session().modern().is_some() {
            // 2026-07-28 has no server→client requests and forbids client responses: a request
            // on a stream breaks the protocol; it is handed out, unanswered.
            return Ok(());
        }
        let id = request.id().clone();
        let outcome = handle_server_request(&self.inner.config, request).await;
        let reply = response(&id, &outcome);
        let session = self.session();
        self.send(&reply, &self.session_headers(&session)).await
    }
}

/// Runs one step of the handshake, failing with [`ErrorKind::Timeout`] at `deadline`.
async fn by_deadline<T>(
    deadline: Option<Instant>,
    step: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let Some(deadline) = deadline else {
        return step.await;
    };
    tokio::time::timeout_at(deadline, step)
        .await
        .unwrap_or_else(|_| {
            Err(ClientError::msg(
                ErrorKind::Timeout,
                "initialize did not complete within the request timeout",
            ))
        })
}

/// One request in flight: read what the server sends before the response with
/// [`next_message`](Self::next_message), then take the response with
/// [`result`](Self::result), or [`cancel`](Self::cancel) it.
///
/// If the response comes as an SSE stream that breaks, the call resumes it with a `GET` and
/// `Last-Event-ID` (when the server gave event ids), so each message arrives exactly once.
///
/// Dropping a call sends nothing; the server goes on with the work. Use
/// [`cancel`](Self::cancel) to stop it.
pub struct Call<S> {
    client: StreamableHttpClient<S>,
    id: i64,
    method: Option<String>,
    source: Source<S>,
    pending: VecDeque<ServerMessage>,
    outcome: Option<Result<Value, ClientError>>,
}

enum Source<S> {
    /// The whole JSON body, parsed on first read.
    Json(Option<Bytes>),
    Sse(Box<EventSource<S>>),
    Finished,
}

impl<S> fmt::Debug for Call<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Json(_) => "json",
            Source::Sse(_) => "sse",
            Source::Finished => "finished",
        };
        f.debug_struct("Call")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("source", &source)
            .field("queued", &self.pending.len())
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl<S, B> Call<S>
where
    S: Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// The JSON-RPC id of the request.
    #[must_use]
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The next message the server sent before the response (a progress notification, a
    /// request it made of the client, ...), or `None` once the response (or a failure) has
    /// arrived; then call [`result`](Self::result).
    ///
    /// Requests from the server are answered through the request handler before they are
    /// returned here.
    pub async fn next_message(&mut self) -> Option<ServerMessage> {
        loop {
            if let Some(msg) = self.pending.pop_front() {
                return Some(msg);
            }
            match &mut self.source {
                Source::Finished => return None,
                Source::Json(body) => {
                    let body = body.take().unwrap_or_default();
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(value) => self.accept(value),
                        Err(e) => self.fail(
                            ClientError::msg(ErrorKind::Protocol, "response is not JSON")
                                .with_source(e),
                        ),
                    }
                    if self.outcome.is_none() {
                        self.fail(ClientError::msg(
                            ErrorKind::Protocol,
                            "json reply holds no response to the request",
                        ));
                    }
                }
                Source::Sse(events) => match events.next().await {
                    None => self.fail(ClientError::msg(
                        ErrorKind::Protocol,
                        "stream ended without a response",
                    )),
                    Some(Err(e)) => self.fail(e),
                    Some(Ok(event)) => match event_json(&event) {
                        None => continue,
                        Some(Ok(value)) => self.accept(value),
                        Some(Err(e)) => self.fail(e),
                    },
                },
            }
            if self.outcome.is_some() {
                self.source = Source::Finished;
            }
            // Answer the server's requests in order, before handing them out.
            let mut failed = None;
            for (n, msg) in self.pending.iter().enumerate() {
                if let ServerMessage::Request(request) = msg {
                    if let Err(e) = self.client.answer(request).await {
                        failed = Some((n, e));
                        break;
                    }
                }
            }
            if let Some((n, e)) = failed {
                // A `Request` handed out has been answered: drop the rest unread.
                self.pending.truncate(n);
                self.source = Source::Finished;
                self.fail(e);
            }
        }
    }

    /// Waits for the response and returns its `result`. Messages not yet read go to the
    /// client's [message listener](StreamableHttpClientBuilder::message_listener), if any.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Rpc`] for a JSON-RPC error response; [`ErrorKind::Protocol`] when the
    /// stream ended without a response and could not be resumed; other kinds for transport
    /// failures.
    pub async fn result(mut self) -> Result<Value, ClientError> {
        while let Some(msg) = self.next_message().await {
            if let Some(listener) = &self.client.inner.config.listener {
                listener(msg);
            }
        }
        self.outcome
            .take()
            .unwrap_or_else(|| Err(ClientError::msg(ErrorKind::Protocol, "no response")))
    }

    /// Cancels the request: POSTs `notifications/cancelled` with its id and `reason`, and
    /// stops reading its stream.
    ///
    /// # Errors
    ///
    /// Fails when the notification could not be delivered.
    pub async fn cancel(mut self, reason: Option<&str>) -> Result<(), ClientError> {
        if let Source::Sse(events) = &mut self.source {
            events.close();
        }
        if self.client.session().modern().is_some() {
            // 2026-07-28: closing the response stream is the cancellation.
            return Ok(());
        }
        let mut params = json!({ "requestId": self.id });
        if let Some(reason) = reason {
            params["reason"] = json!(reason);
        }
        self.client
            .notify("notifications/cancelled", Some(params))
            .await
    }

    fn fail(&mut self, err: ClientError) {
        if self.outcome.is_none() {
            self.outcome = Some(Err(err));
        }
    }

    /// Sorts one JSON value (a message, or a 2025-03-26 batch) into the response or the queue.
    fn accept(&mut self, value: Value) {
        for value in messages(value) {
            let ours = value.get("id").and_then(Value::as_i64) == Some(self.id)
                && value.get("method").is_none();
            if ours && self.outcome.is_none() {
                self.outcome = Some(response_outcome(&value));
            } else {
                self.pending.push_back(ServerMessage::classify(value));
            }
        }
    }
}

/// The JSON of an SSE `message` event; `None` for events of other types.
fn event_json(event: &SseEvent) -> Option<Result<Value, ClientError>> {
    (event.event_type() == "message").then(|| {
        serde_json::from_str(event.data()).map_err(|e| {
            ClientError::msg(ErrorKind::Protocol, "event data is not JSON").with_source(e)
        })
    })
}

/// The messages in one JSON value: the items of a (2025-03-26) batch, or the value itself.
fn messages(value: Value) -> Vec<Value> {
    match value {
        Value::Array(batch) => batch,
        value => vec![value],
    }
}

/// The standalone `GET` stream of a session; see [`StreamableHttpClient::listen`].
pub struct ServerStream<S> {
    client: StreamableHttpClient<S>,
    events: EventSource<S>,
    pending: VecDeque<ServerMessage>,
}

impl<S> fmt::Debug for ServerStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerStream")
            .field("events", &self.events)
            .field("queued", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<S, B> ServerStream<S>
where
    S: Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// The next message from the server; `None` after [`close`](Self::close) or when the
    /// server ends the stream with `204`.
    ///
    /// # Errors
    ///
    /// Ends with an error as [`EventSource::next`] does ([`ErrorKind::StreamNotOffered`] for a
    /// `405`), with [`ErrorKind::Protocol`] for an event that is not JSON, or when answering a
    /// server request failed.
    pub async fn next(&mut self) -> Option<Result<ServerMessage, ClientError>> {
        loop {
            if let Some(msg) = self.pending.pop_front() {
                if let ServerMessage::Request(request) = &msg {
                    if let Err(e) = self.client.answer(request).await {
                        return Some(Err(e));
                    }
                }
                return Some(Ok(msg));
            }
            let event = match self.events.next().await? {
                Ok(event) => event,
                Err(e) => return Some(Err(e)),
            };
            match event_json(&event) {
                None => {}
                Some(Ok(value)) => self
                    .pending
                    .extend(messages(value).into_iter().map(ServerMessage::classify)),
                Some(Err(e)) => {
                    self.events.close();
                    return Some(Err(e));
                }
            }
        }
    }

    /// Closes the stream.
    pub fn close(&mut self) {
        self.events.close();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
