//! What a session needs to know of the layer's configuration: stream, replay, polling and
//! client-request settings, and the close hook. The transport's own options (hosts, bodies,
//! versions, reply form) live in the service.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::delivery::CloseReason;
use super::id::SessionId;
use super::replay::{EventStore, MemoryEventStore};

/// Default interval of SSE keep-alive comments on a silent stream.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Default time a session may stay idle (no request in flight, no open stream) before it ends.
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default number of events one SSE connection may hold while its client reads slowly.
pub const DEFAULT_STREAM_CAPACITY: usize = 64;
/// Default number of unrelated messages a session keeps while it has no open stream.
pub const DEFAULT_MAX_QUEUED_EVENTS: usize = 128;
/// Default `retry:` hint sent before the server closes a connection on purpose.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Default time a request to the client waits for its answer.
pub const DEFAULT_CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default number of requests to the client one session may have waiting.
pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 64;
/// Default number of requests one session may have in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// Default time a new session has to send `notifications/initialized`.
pub const DEFAULT_INITIALIZE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time a legacy (2024-11-05) session outlives its lost SSE stream, so that a client
/// can take the stream over again (see `McpLayer::legacy_grace`).
pub const DEFAULT_LEGACY_GRACE: Duration = Duration::from_secs(5);

/// When the server closes an SSE connection early without ending the stream, so that long
/// calls become polls (SEP-1699; protocol 2025-11-25 and later only, since older clients do not
/// expect it). The client reconnects after the `retry:` hint and resumes with `Last-Event-ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PollingPolicy {
    /// Keep connections open until the stream ends.
    #[default]
    Off,
    /// Close right after the priming event.
    AfterPriming,
    /// Close each connection after it has been open this long.
    After(Duration),
}

pub(crate) type CloseHook = Arc<dyn Fn(&SessionId, CloseReason) + Send + Sync>;

/// The session part of the layer's frozen configuration; see the setters of `McpLayer`.
#[derive(Clone)]
pub(crate) struct SessionConfig {
    pub(crate) retry_interval: Duration,
    pub(crate) polling: PollingPolicy,
    pub(crate) disconnect_grace: Option<Duration>,
    pub(crate) client_request_timeout: Duration,
    pub(crate) max_pending_requests: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) initialize_timeout: Duration,
    pub(crate) event_store: Arc<dyn EventStore>,
    pub(crate) on_session_closed: Option<CloseHook>,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) session_idle_timeout: Duration,
    pub(crate) stream_capacity: usize,
    pub(crate) max_queued_events: usize,
    pub(crate) legacy_grace: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            retry_interval: DEFAULT_RETRY_INTERVAL,
            polling: PollingPolicy::Off,
            disconnect_grace: None,
            client_request_timeout: DEFAULT_CLIENT_REQUEST_TIMEOUT,
            max_pending_requests: DEFAULT_MAX_PENDING_REQUESTS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            initialize_timeout: DEFAULT_INITIALIZE_TIMEOUT,
            event_store: Arc::new(MemoryEventStore::new()),
            on_session_closed: None,
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            session_idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
            stream_capacity: DEFAULT_STREAM_CAPACITY,
            max_queued_events: DEFAULT_MAX_QUEUED_EVENTS,
            legacy_grace: DEFAULT_LEGACY_GRACE,
        }
    }
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("keep_alive", &self.keep_alive)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("stream_capacity", &self.stream_capacity)
            .field("max_queued_events", &self.max_queued_events)
            .field("retry_interval", &self.retry_interval)
            .field("polling", &self.polling)
            .field("disconnect_grace", &self.disconnect_grace)
            .field("client_request_timeout", &self.client_request_timeout)
            .field("max_pending_requests", &self.max_pending_requests)
            .field("max_in_flight", &self.max_in_flight)
            .field("initialize_timeout", &self.initialize_timeout)
            .field("legacy_grace", &self.legacy_grace)
            .finish_non_exhaustive()
    }
}
