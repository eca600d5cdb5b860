//! `McpLayer`: the builder of every transport option, and the [`Layer`] that applies them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::listen::Publisher;
use crate::mrtr::RequestStateKeys;
use crate::protocol::ProtocolVersion;
use crate::service::{
    Allow, Config, LegacyPaths, McpService, PrincipalFn, ResponseMode, SessionHook, Shared,
    ToolSchemaFn,
};
use crate::session::{
    CloseHook, EventStore, PollingPolicy, Session, SessionClosed, SessionConfig, Sessions,
};

/// Turns an inner MCP handler into an HTTP service speaking MCP's Streamable HTTP transport.
///
/// Every option has a documented default; the defaults are safe for a server on the local
/// machine. A server reachable from elsewhere must name its hosts and origins
/// ([`allowed_hosts`](Self::allowed_hosts), [`allowed_origins`](Self::allowed_origins)).
///
/// | option | default |
/// |---|---|
/// | [`max_body_bytes`](Self::max_body_bytes) | 4 MiB |
/// | [`body_read_timeout`](Self::body_read_timeout) | 30 s |
/// | [`oversize_drain`](Self::oversize_drain) | 4 MiB, 5 s |
/// | [`max_batch_len`](Self::max_batch_len) | 64 messages |
/// | [`keep_alive`](Self::keep_alive) | 15 s |
/// | [`session_idle_timeout`](Self::session_idle_timeout) | 30 min |
/// | [`max_sessions`](Self::max_sessions) | 10,000 |
/// | [`allowed_hosts`](Self::allowed_hosts) | `localhost`, `127.0.0.1`, `[::1]` |
/// | [`allowed_origins`](Self::allowed_origins) | the same names, `http` or `https`, any port; requests without `Origin` pass |
/// | [`response_mode`](Self::response_mode) | [`ResponseMode::Adaptive`] |
/// | [`sse_after`](Self::sse_after) | 1 s |
/// | [`protocol_versions`](Self::protocol_versions) | every [`ProtocolVersion`] |
/// | [`stateless`](Self::stateless) | off |
/// | [`server_info`](Self::server_info) | none |
/// | [`tool_schemas`](Self::tool_schemas) | none: `Mcp-Param-*` headers are not checked |
/// | [`max_listen_streams`](Self::max_listen_streams) | 10,000 |
/// | [`stream_capacity`](Self::stream_capacity) | 64 events |
/// | [`max_queued_events`](Self::max_queued_events) | 128 events |
/// | [`event_store`](Self::event_store) | [`MemoryEventStore`](crate::session::MemoryEventStore): 256 events, 1 MiB, 5 min per stream |
/// | [`retry_interval`](Self::retry_interval) | 1 s |
/// | [`polling`](Self::polling) | [`PollingPolicy::Off`] |
/// | [`disconnect_grace`](Self::disconnect_grace) | off: a disconnect is not a cancellation |
/// | [`client_request_timeout`](Self::client_request_timeout) | 60 s |
/// | [`max_pending_requests`](Self::max_pending_requests) | 64 per session |
/// | [`max_in_flight`](Self::max_in_flight) | 64 per session |
/// | [`initialize_timeout`](Self::initialize_timeout) | 60 s |
/// | [`request_state_keys`](Self::request_state_keys) | a random key made when the layer is built |
/// | [`request_state_ttl`](Self::request_state_ttl) | 10 min |
/// | [`max_request_state_bytes`](Self::max_request_state_bytes) | 64 KiB |
/// | [`legacy_sse`](Self::legacy_sse) | off |
/// | [`legacy_grace`](Self::legacy_grace) | 5 s |
///
/// No setter panics: each takes any value, and one that cannot work is replaced by the
/// nearest one that can, as its docs say (a capacity of 0 becomes 1, a zero interval turns its
/// feature off, an empty version list leaves the setting as it was).
///
/// # Example
///
/// ```
/// use mcp_tower::{McpLayer, McpRequest, McpResponse};
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mcp = McpLayer::new().session_idle_timeout(Duration::from_secs(600));
/// let sessions = mcp.sessions(); // the registry: broadcast, close
/// let svc = ServiceBuilder::new()
///     .layer(mcp)
///     .service_fn(|_req: McpRequest| async { Ok::<_, std::convert::Infallible>(McpResponse::empty()) });
///
/// // Without a session, only `initialize` is served.
/// let req = http::Request::post("/mcp")
///     .header("host", "localhost:3000")
///     .header("accept", "application/json, text/event-stream")
///     .header("content-type", "application/json")
///     .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_string())
///     .unwrap();
/// let res = svc.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), 400);
/// assert!(sessions.is_empty());
/// # }
/// ```
#[must_use]
#[derive(Clone)]
pub struct McpLayer {
    shared: Arc<Shared>,
}

impl McpLayer {
    /// A layer with every default.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared::new(Config::default())),
        }
    }

    fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut Arc::make_mut(&mut self.shared).config));
        self
    }

    fn session_config(self, f: impl FnOnce(&mut SessionConfig)) -> Self {
        self.config(|c| f(Arc::make_mut(&mut c.session)))
    }

    /// The registry of this layer's sessions. Every service the layer builds shares it, and so
    /// do clones of the layer, even one configured further after cloning (each session keeps
    /// the settings of the layer that created it; `max_sessions` counts all of them).
    #[must_use]
    pub fn sessions(&self) -> Sessions {
        Sessions::new(self.shared.registry.clone())
    }

    /// Announces changes to clients of both eras: session-era sessions and 2026-07-28
    /// `subscriptions/listen` streams. Every service the layer builds shares it, as with
    /// [`sessions`](Self::sessions).
    ///
    /// ```
    /// use mcp_tower::{Change, McpLayer};
    ///
    /// let layer = McpLayer::new();
    /// let publisher = layer.publisher();
    /// // Later, when the tool list changes:
    /// let _report = publisher.publish(&Change::ToolsListChanged);
    /// ```
    #[must_use]
    pub fn publisher(&self) -> Publisher {
        Publisher::new(self.sessions(), self.shared.listeners.clone())
    }

    /// `subscriptions/listen` streams (2026-07-28) open at once on this node, at most (default
    /// 10,000; 0 is taken as 1). One more is refused with 503 and `Retry-After`. Each stream
    /// holds at most [`stream_capacity`](Self::stream_capacity) events for a slow reader; one
    /// that falls further behind is ended with a JSON-RPC error.
    pub fn max_listen_streams(self, max: usize) -> Self {
        self.config(|c| c.max_listen_streams = max.max(1))
    }

    /// Largest accepted request body, in bytes (default 4 MiB); larger ones get 413.
    pub fn max_body_bytes(self, limit: usize) -> Self {
        self.config(|c| c.max_body_bytes = limit)
    }

    /// How long a request body may take to arrive in full (default 30 s). A body that trickles
    /// in slower is cut with 408, so a stalled upload holds nothing for long (no in-flight
    /// slot is taken before the body is read). A zero duration is taken as the default.
    pub fn body_read_timeout(self, timeout: Duration) -> Self {
        let timeout = if timeout.is_zero() {
            crate::service::DEFAULT_BODY_READ_TIMEOUT
        } else {
            timeout
        };
        self.config(|c| c.body_read_timeout = timeout)
    }

    /// Most messages one JSON-RPC batch (protocol 2025-03-26 only) may hold (default 64; 0 is
    /// taken as 1); a larger batch gets 400 with −32600. Each request in it still takes an
    /// in-flight slot of its own.
    pub fn max_batch_len(self, messages: usize) -> Self {
        self.config(|c| c.max_batch_len = messages.max(1))
    }

    /// How much of a body over [`max_body_bytes`](Self::max_body_bytes) is read and thrown
    /// away, at most `bytes` and for at most `time`, before the 413 goes out (default 4 MiB and
    /// 5 s). Many clients (Python's `http.client`, for one) write the whole body before they
    /// read: closing the connection under them gives them a broken pipe instead of the 413. A
    /// body declared (`Content-Length`) larger than the limit plus `bytes` is refused at once.
    /// `(0, _)` turns draining off.
    pub fn oversize_drain(self, bytes: usize, time: Duration) -> Self {
        self.config(|c| {
            c.drain_bytes = bytes;
            c.drain_time = time;
        })
    }

    /// Interval of `:` keep-alive comments on silent SSE streams (default 15 s); `None`, or a
    /// zero interval, turns them off.
    pub fn keep_alive(self, interval: Option<Duration>) -> Self {
        self.session_config(|c| c.keep_alive = interval.filter(|d| !d.is_zero()))
    }

    /// How long a session may stay idle, with no request in flight and no open stream, before
    /// it ends (default 30 min). `Duration::MAX` keeps sessions until they are deleted.
    pub fn session_idle_timeout(self, timeout: Duration) -> Self {
        self.session_config(|c| c.session_idle_timeout = timeout)
    }

    /// Most sessions alive at once (default 10,000). An `initialize` beyond it gets 503 with
    /// `Retry-After`.
    pub fn max_sessions(self, max: usize) -> Self {
        self.config(|c| c.max_sessions = max)
    }

    /// Accepts requests whose `Host` is one of `hosts` (`"example.com"` matches any port,
    /// `"example.com:8443"` only that port). Replaces the loopback default. A request without
    /// `Host` passes: it cannot come from a browser, the only DNS-rebinding vector.
    pub fn allowed_hosts<I, T>(self, hosts: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let list = hosts
            .into_iter()
            .map(|h| h.into().to_ascii_lowercase())
            .collect();
        self.config(|c| c.hosts = Allow::List(list))
    }

    /// Accepts any `Host`. Only for servers behind a proxy that checks it, or not reachable by
    /// browsers: this turns off the DNS-rebinding defence.
    pub fn allow_any_host(self) -> Self {
        self.config(|c| c.hosts = Allow::Any)
    }

    /// Accepts browser requests whose `Origin` is one of `origins` (e.g.
    /// `"https://app.example.com"`). Replaces the loopback default. Requests without `Origin`
    /// (non-browser clients) always pass.
    pub fn allowed_origins<I, T>(self, origins: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let list = normalize_origins(origins);
        self.config(|c| c.origins = Allow::List(list))
    }

    /// Accepts any `Origin`.
    pub fn allow_any_origin(self) -> Self {
        self.config(|c| c.origins = Allow::Any)
    }

    /// How replies are written (default [`ResponseMode::Adaptive`]).
    pub fn response_mode(self, mode: ResponseMode) -> Self {
        self.config(|c| c.response_mode = mode)
    }

    /// In [`ResponseMode::Adaptive`], how long a handler may run silently before its reply
    /// turns into an SSE stream (default 1 s).
    pub fn sse_after(self, delay: Duration) -> Self {
        self.config(|c| c.sse_after = delay)
    }

    /// The protocol revisions served (default: all of [`ProtocolVersion::ALL`]). A request
    /// naming another one in `MCP-Protocol-Version` gets 400. An empty list would answer
    /// nothing, so it leaves the setting as it was.
    ///
    /// Session-era revisions are negotiated by `initialize`; stateless-era ones
    /// ([`ProtocolVersion::is_stateless`]) are named by each request. A list of stateless-era
    /// revisions only makes a modern-only server: GET and DELETE get 405, and an `initialize`
    /// gets 400 (−32022) listing the versions served.
    ///
    /// ```
    /// use mcp_tower::{McpLayer, ProtocolVersion};
    ///
    /// // Serve the 2026-07-28 era only.
    /// let layer = McpLayer::new().protocol_versions([ProtocolVersion::V2026_07_28]);
    /// # let _ = layer;
    /// ```
    pub fn protocol_versions(self, versions: impl IntoIterator<Item = ProtocolVersion>) -> Self {
        let mut list: Vec<ProtocolVersion> = versions.into_iter().collect();
        if list.is_empty() {
            return self;
        }
        list.sort();
        list.dedup();
        self.config(|c| c.versions = list)
    }

    /// Serves without sessions: no `Mcp-Session-Id` is issued or required, every request is
    /// handled on its own, and GET and DELETE get 405 (default off).
    pub fn stateless(self, on: bool) -> Self {
        self.config(|c| c.stateless = on)
    }

    /// The server's `Implementation` object (`{"name", "version", ..}`), stamped as
    /// `_meta["io.modelcontextprotocol/serverInfo"]` on every stateless-era (2026-07-28) result
    /// that does not carry one (default none). Such results also get `resultType: "complete"`
    /// when the handler left it out, whether or not this is set; and the results of
    /// `server/discover`, the list methods and `resources/read` get the caching fields the
    /// schema requires, `ttlMs: 0` and `cacheScope: "private"` (cache nothing), unless the
    /// handler set its own.
    ///
    /// ```
    /// use mcp_tower::McpLayer;
    /// use serde_json::json;
    ///
    /// let layer = McpLayer::new().server_info(json!({ "name": "demo", "version": "1.0.0" }));
    /// # let _ = layer;
    /// ```
    pub fn server_info(self, info: serde_json::Value) -> Self {
        self.config(|c| c.server_info = Some(Arc::new(info)))
    }

    /// How the transport finds a tool's `inputSchema` by name, to check the `Mcp-Param-*`
    /// headers of a 2026-07-28 `tools/call` (default none: they are not checked).
    ///
    /// Each top-level property marked `"x-mcp-header": "Name"` (string, integer, number or
    /// boolean) must then be mirrored in the header `Mcp-Param-Name`, in plain text or as
    /// `=?base64?…?=`: a header missing while the argument is present, present while it is
    /// absent, malformed, or unequal (numbers compare numerically) is refused with 400 and
    /// −32020 before the handler runs. Return `None` for an unknown tool: the handler answers.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::Arc;
    ///
    /// use mcp_tower::McpLayer;
    /// use serde_json::json;
    ///
    /// let schemas: HashMap<String, Arc<serde_json::Value>> = HashMap::from([(
    ///     "deploy".to_string(),
    ///     Arc::new(json!({ "type": "object", "properties": {
    ///         "region": { "type": "string", "x-mcp-header": "Region" },
    ///     } })),
    /// )]);
    /// let layer = McpLayer::new().tool_schemas(move |tool| schemas.get(tool).cloned());
    /// # let _ = layer;
    /// ```
    pub fn tool_schemas(
        self,
        lookup: impl Fn(&str) -> Option<Arc<serde_json::Value>> + Send + Sync + 'static,
    ) -> Self {
        let lookup: ToolSchemaFn = Arc::new(lookup);
        self.config(|c| c.tool_schema = Some(lookup))
    }

    /// Events one SSE connection may hold for a slow reader (default 64; 0 is taken as 1). A
    /// connection whose reader falls further behind is closed rather than buffered without
    /// bound.
    pub fn stream_capacity(self, events: usize) -> Self {
        self.session_config(|c| c.stream_capacity = events.max(1))
    }

    /// Unrelated messages (see [`Session::notify`](crate::Session::notify)) a session keeps
    /// while it has no open stream (default 128); beyond that they are dropped.
    pub fn max_queued_events(self, events: usize) -> Self {
        self.session_config(|c| c.max_queued_events = events)
    }
}

impl McpLayer {
    /// Where every session-era SSE event is recorded for replay after a lost connection
    /// (default: a [`MemoryEventStore`](crate::session::MemoryEventStore) with its default bounds).
    pub fn event_store(self, store: impl EventStore) -> Self {
        let store: Arc<dyn EventStore> = Arc::new(store);
        self.session_config(|c| c.event_store = store)
    }

    /// The `retry:` hint sent before the server closes a connection on purpose, and in priming
    /// events (default 1 s).
    pub fn retry_interval(self, interval: Duration) -> Self {
        self.session_config(|c| c.retry_interval = interval)
    }

    /// When to close SSE connections early so long calls become polls (default
    /// [`PollingPolicy::Off`]).
    pub fn polling(self, policy: PollingPolicy) -> Self {
        self.session_config(|c| c.polling = policy)
    }

    /// Cancels a request whose SSE connection vanished and was not resumed within `grace`
    /// (default off: before protocol 2026-07-28 a disconnect is not a cancellation).
    pub fn disconnect_grace(self, grace: Option<Duration>) -> Self {
        self.session_config(|c| c.disconnect_grace = grace)
    }

    /// How long a request to the client (sampling, elicitation, roots) waits for its answer by
    /// default (60 s); per call, see [`RequestOptions`](crate::session::RequestOptions).
    pub fn client_request_timeout(self, timeout: Duration) -> Self {
        self.session_config(|c| c.client_request_timeout = timeout)
    }

    /// Requests to the client one session may have waiting (default 64).
    pub fn max_pending_requests(self, max: usize) -> Self {
        self.session_config(|c| c.max_pending_requests = max)
    }

    /// Requests one session may have in flight (default 64; 0 is taken as 1); beyond it a POST
    /// gets 429.
    pub fn max_in_flight(self, max: usize) -> Self {
        self.session_config(|c| c.max_in_flight = max.max(1))
    }

    /// How long a new session has to send `notifications/initialized` before it is ended
    /// (default 60 s).
    pub fn initialize_timeout(self, timeout: Duration) -> Self {
        self.session_config(|c| c.initialize_timeout = timeout)
    }

    /// Runs `hook` for every session opened (after its `initialize` succeeded).
    pub fn on_session_created(self, hook: impl Fn(&Session) + Send + Sync + 'static) -> Self {
        let hook: SessionHook = Arc::new(hook);
        self.config(|c| c.on_session_created = Some(hook))
    }

    /// Runs `hook` for every session that ends (after its `initialize` succeeded): its id, why
    /// it ended, and its transport.
    pub fn on_session_closed(self, hook: impl Fn(&SessionClosed) + Send + Sync + 'static) -> Self {
        let hook: CloseHook = Arc::new(hook);
        self.session_config(|c| c.on_session_closed = Some(hook))
    }

    /// The keys that sign and verify `requestState` on 2026-07-28 multi-round-trip requests
    /// (see [`mrtr`](crate::mrtr)): the newest signs, all verify. Every node a retry may reach
    /// needs the same keys. Default: a random key made when the layer is built, so retries
    /// must reach the same process.
    ///
    /// ```
    /// use mcp_tower::{mrtr::RequestStateKeys, McpLayer};
    ///
    /// let layer = McpLayer::new()
    ///     .request_state_keys(RequestStateKeys::new("2026-08", b"32 or more random bytes........".to_vec()));
    /// # let _ = layer;
    /// ```
    pub fn request_state_keys(self, keys: RequestStateKeys) -> Self {
        self.config(|c| Arc::make_mut(&mut c.mrtr).keys = keys)
    }

    /// How long a `requestState` stays valid after it is issued (default 10 minutes); a retry
    /// with an older one is refused with −32602 and must start over.
    ///
    /// ```
    /// let layer = mcp_tower::McpLayer::new().request_state_ttl(std::time::Duration::from_secs(60));
    /// # let _ = layer;
    /// ```
    pub fn request_state_ttl(self, ttl: Duration) -> Self {
        self.config(|c| Arc::make_mut(&mut c.mrtr).ttl = ttl)
    }

    /// Largest `requestState`, in bytes, that is issued or accepted (default 64 KiB). A handler
    /// whose gathered answers would exceed it ends with −32603; a larger incoming state is
    /// refused with −32602.
    ///
    /// ```
    /// let layer = mcp_tower::McpLayer::new().max_request_state_bytes(16 * 1024);
    /// # let _ = layer;
    /// ```
    pub fn max_request_state_bytes(self, max: usize) -> Self {
        self.config(|c| Arc::make_mut(&mut c.mrtr).max_bytes = max)
    }

    /// Binds each session to the principal `extract` reads from the `initialize` request (for
    /// example a user id an authentication layer put in the extensions). A later request whose
    /// principal differs gets 404, as if the session did not exist. On 2026-07-28 requests,
    /// each `requestState` is bound the same way: another principal's state is refused.
    ///
    /// ```
    /// use mcp_tower::McpLayer;
    ///
    /// #[derive(Clone)]
    /// struct User(String);
    ///
    /// let layer = McpLayer::new().bind_sessions_to(|head| head.extensions.get::<User>().map(|u| u.0.clone()));
    /// # let _ = layer;
    /// ```
    pub fn bind_sessions_to(
        self,
        extract: impl Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        let extract: PrincipalFn = Arc::new(extract);
        self.config(|c| c.principal = Some(extract))
    }
}

impl McpLayer {
    /// Also serves the HTTP+SSE transport of protocol 2024-11-05, for clients and gateways that
    /// predate Streamable HTTP (default off). Mount the service on both paths, beside the MCP
    /// endpoint:
    ///
    /// - a GET on `sse_path` opens a session and its SSE stream; the first event, `endpoint`,
    ///   names `messages_path?sessionId=…` (the connect's own query parameters are kept). A POST
    ///   there gets 405, so a Streamable HTTP client pointed at it falls back to this transport.
    /// - a POST of one JSON-RPC message to that URL is checked like any POST (Host/Origin,
    ///   Content-Type, size, JSON-RPC shape, the session's principal) and answered `202` at
    ///   once; its answer, and every notification and request the server sends the session,
    ///   arrive on the stream as `event: message`. No `sessionId` gets 400, an unknown one 404.
    /// - a GET on the MCP endpoint itself with no `Mcp-Session-Id` that accepts
    ///   `text/event-stream` connects too (the one-endpoint form of the specification's
    ///   backward-compatibility section), unless the layer is [`stateless`](Self::stateless).
    ///
    /// The session ends when its stream is gone for [`legacy_grace`](Self::legacy_grace) (the
    /// client left, or read so slowly that its stream was cut off:
    /// [`stream_capacity`](Self::stream_capacity) events at most wait for it), on
    /// [`Session::close`](crate::Session::close), on idle expiry and on shutdown. A connect
    /// whose query names a live legacy session (`?sessionId=…`) takes its stream over (the
    /// older connection ends); what was sent meanwhile is lost and counted
    /// ([`Sessions::messages_lost`](crate::Sessions::messages_lost)): this transport cannot
    /// replay. Sessions of both transports share one registry, one limit, one API
    /// ([`Session::transport`](crate::Session::transport) tells them apart).
    ///
    /// `sse_path` is a path; `messages_path` may carry a query of its own. Both are matched
    /// against the request's path exactly, and must differ from the MCP endpoint's.
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_tower::{McpLayer, McpRequest, McpResponse};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let svc = ServiceBuilder::new()
    ///     .layer(McpLayer::new().legacy_sse("/sse", "/messages"))
    ///     .service_fn(|_req: McpRequest| async {
    ///         Ok::<_, std::convert::Infallible>(McpResponse::empty())
    ///     });
    /// let connect = http::Request::get("/sse")
    ///     .header("accept", "text/event-stream")
    ///     .body(String::new())
    ///     .unwrap();
    /// let res = svc.clone().oneshot(connect).await.unwrap();
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.headers()["content-type"], "text/event-stream");
    ///
    /// // The endpoint URL needs the session id the stream names.
    /// let post = http::Request::post("/messages")
    ///     .header("content-type", "application/json")
    ///     .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_string())
    ///     .unwrap();
    /// assert_eq!(svc.oneshot(post).await.unwrap().status(), 400);
    /// # }
    /// ```
    pub fn legacy_sse(self, sse_path: impl Into<String>, messages_path: impl Into<String>) -> Self {
        let paths = LegacyPaths::new(sse_path.into(), messages_path.into());
        self.config(|c| c.legacy = Some(paths))
    }

    /// How long a legacy (2024-11-05) session outlives the loss of its SSE stream, waiting for
    /// a connect that takes the stream over (default 5 s). Zero ends it as soon as the loss is
    /// seen.
    pub fn legacy_grace(self, grace: Duration) -> Self {
        self.session_config(|c| c.legacy_grace = grace)
    }
}

impl McpLayer {
    /// The origins the Origin check allows (read by the CORS configuration).
    #[cfg_attr(not(feature = "cors"), allow(dead_code))]
    pub(crate) fn origins(&self) -> &Allow {
        &self.shared.config.origins
    }
}

/// Origins as the Origin check compares them: lower case, without a trailing `/`.
pub(crate) fn normalize_origins<I, T>(origins: I) -> Vec<String>
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    origins
        .into_iter()
        .map(|o| o.into().trim_end_matches('/').to_ascii_lowercase())
        .collect()
}

impl Default for McpLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for McpLayer {
    type Service = McpService<S>;

    fn layer(&self, inner: S) -> McpService<S> {
        McpService::from_shared(inner, self.shared.clone())
    }
}

impl fmt::Debug for McpLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}
