//! The transport's frozen configuration, and what the layer and its services share.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::listen::Listeners;
use crate::mrtr::StateConfig;
use crate::protocol::ProtocolVersion;
use crate::session::{Registry, Session, SessionConfig, SessionStore};

/// Default request body limit: 4 MiB, as the official SDKs use.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default time a request body has to arrive in full (a trickling body is cut: 408).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of bytes read and thrown away past the body limit before the 413 goes out.
pub const DEFAULT_DRAIN_BYTES: usize = 4 * 1024 * 1024;
/// Default time spent throwing away an oversized body before the 413 goes out.
pub const DEFAULT_DRAIN_TIME: Duration = Duration::from_secs(5);
/// Default number of messages one 2025-03-26 batch may hold.
pub const DEFAULT_MAX_BATCH_LEN: usize = 64;
/// Default cap on live sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Default cap on open `subscriptions/listen` streams (2026-07-28).
pub const DEFAULT_MAX_LISTEN_STREAMS: usize = 10_000;
/// Default delay after which an adaptive reply turns into an SSE stream.
pub const DEFAULT_SSE_AFTER: Duration = Duration::from_secs(1);

/// How a request's reply is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseMode {
    /// Plain `application/json` when the handler finishes before it sends any related message;
    /// an SSE stream as soon as it sends one, or once it runs longer than
    /// [`McpLayer::sse_after`](crate::McpLayer::sse_after) (the stream's keep-alives then
    /// protect the connection).
    #[default]
    Adaptive,
    /// Always `application/json`. Related messages (progress, logs) cannot travel with the
    /// reply: they go to the session's standalone GET stream, or nowhere without a session. A
    /// request the client cancels gets no answer (the specification forbids one): its reply is
    /// an event stream that ends at once, as JSON has no empty form.
    Json,
    /// Always an SSE stream.
    Sse,
}

pub(crate) type SessionHook = Arc<dyn Fn(&Session) + Send + Sync>;
pub(crate) type PrincipalFn = Arc<dyn Fn(&http::request::Parts) -> Option<String> + Send + Sync>;
/// The `inputSchema` of a tool, by name, for checking `Mcp-Param-*` headers.
pub(crate) type ToolSchemaFn = Arc<dyn Fn(&str) -> Option<Arc<serde_json::Value>> + Send + Sync>;

/// Which `Host` or `Origin` values are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Allow {
    /// `localhost`, `127.0.0.1` and `[::1]`, any port (any scheme for origins).
    Loopback,
    Any,
    /// Exact values, compared case-insensitively (host entries without a port match any port).
    List(Vec<String>),
}

/// The frozen configuration; see the setters of `McpLayer` for each field.
#[derive(Clone)]
pub(crate) struct Config {
    /// What each session needs (streams, replay, polling, client requests, close hook).
    pub(crate) session: Arc<SessionConfig>,
    pub(crate) on_session_created: Option<SessionHook>,
    pub(crate) principal: Option<PrincipalFn>,
    pub(crate) max_body_bytes: usize,
    pub(crate) body_read_timeout: Duration,
    pub(crate) drain_bytes: usize,
    pub(crate) drain_time: Duration,
    pub(crate) max_batch_len: usize,
    pub(crate) max_sessions: usize,
    pub(crate) hosts: Allow,
    pub(crate) origins: Allow,
    pub(crate) response_mode: ResponseMode,
    pub(crate) sse_after: Duration,
    pub(crate) versions: Vec<ProtocolVersion>,
    pub(crate) stateless: bool,
    /// Stamped as `_meta["io.modelcontextprotocol/serverInfo"]` on stateless-era results.
    pub(crate) server_info: Option<Arc<serde_json::Value>>,
    /// Looks up a tool's `inputSchema` to check its `Mcp-Param-*` headers.
    pub(crate) tool_schema: Option<ToolSchemaFn>,
    /// `subscriptions/listen` streams open at once on this node, at most.
    pub(crate) max_listen_streams: usize,
    /// Signing and limits of `requestState` (multi-round-trip requests).
    pub(crate) mrtr: Arc<StateConfig>,
    /// The legacy (2024-11-05) HTTP+SSE transport, when enabled.
    pub(crate) legacy: Option<LegacyPaths>,
}

/// Where the legacy (2024-11-05) HTTP+SSE transport is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LegacyPaths {
    /// The path a client GETs to connect.
    pub(crate) sse: String,
    /// The URL its `endpoint` event names, where it POSTs its messages: a path, perhaps with
    /// a query.
    pub(crate) messages: String,
}

impl LegacyPaths {
    /// Both paths, each made to start with `/`.
    pub(crate) fn new(sse: String, messages: String) -> Self {
        let rooted = |p: String| {
            if p.starts_with('/') {
                p
            } else {
                format!("/{p}")
            }
        };
        Self {
            sse: rooted(sse),
            messages: rooted(messages),
        }
    }

    /// The path part of the messages URL, which requests are matched against.
    pub(crate) fn messages_path(&self) -> &str {
        self.messages.split('?').next().unwrap_or("")
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            session: Arc::new(SessionConfig::default()),
            on_session_created: None,
            principal: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            drain_bytes: DEFAULT_DRAIN_BYTES,
            drain_time: DEFAULT_DRAIN_TIME,
            max_batch_len: DEFAULT_MAX_BATCH_LEN,
            max_sessions: DEFAULT_MAX_SESSIONS,
            hosts: Allow::Loopback,
            origins: Allow::Loopback,
            response_mode: ResponseMode::Adaptive,
            sse_after: DEFAULT_SSE_AFTER,
            versions: ProtocolVersion::ALL.to_vec(),
            stateless: false,
            server_info: None,
            tool_schema: None,
            max_listen_streams: DEFAULT_MAX_LISTEN_STREAMS,
            mrtr: Arc::new(StateConfig::default()),
            legacy: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("drain_bytes", &self.drain_bytes)
            .field("drain_time", &self.drain_time)
            .field("max_batch_len", &self.max_batch_len)
            .field("max_sessions", &self.max_sessions)
            .field("hosts", &self.hosts)
            .field("origins", &self.origins)
            .field("response_mode", &self.response_mode)
            .field("sse_after", &self.sse_after)
            .field("versions", &self.versions)
            .field("stateless", &self.stateless)
            .field("legacy", &self.legacy)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub(crate) fn supports(&self, version: ProtocolVersion) -> bool {
        self.versions.contains(&version)
    }

    /// Whether any session-era version is served (else GET and DELETE have nothing to do).
    pub(crate) fn serves_sessions(&self) -> bool {
        self.versions.iter().any(|v| !v.is_stateless())
    }

    pub(crate) fn supported_list(&self) -> String {
        let names: Vec<&str> = self.versions.iter().map(|v| v.as_str()).collect();
        names.join(", ")
    }
}

/// What a layer and the services it builds share: the configuration, this node's session
/// registry, and the store that holds session records (by default, the registry itself).
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) store: Arc<dyn SessionStore>,
    /// This node's `subscriptions/listen` streams.
    pub(crate) listeners: Arc<Listeners>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        let registry = Arc::new(Registry::new());
        Self {
            config: Arc::new(config),
            store: registry.clone(),
            registry,
            listeners: Listeners::new(),
        }
    }
}
