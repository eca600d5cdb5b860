//! What the transport tells operators: `tracing` spans and events (feature `tracing`) and
//! counters, gauges and histograms through the `metrics` facade (feature `metrics`).
//!
//! Every item here compiles to nothing when both features are off. With them on and no
//! subscriber or recorder installed, each costs a load of a global and a branch.
//!
//! Nothing secret goes into a field or a label: a session appears by its public label (slab
//! key and generation, [`SessionId::label`](crate::SessionId::label)), never by the id that
//! grants access; JSON-RPC methods become metric labels only when they are MCP's own, so a
//! client cannot grow the label set.
//!
//! # Spans and events (`tracing`)
//!
//! | name | level | fields |
//! |---|---|---|
//! | span `mcp.request` | INFO | `route`, `http.method`, `session`, `mcp.method`, `mcp.id`, `http.status`, `rejection` |
//! | `session created` | INFO | `session`, `transport` |
//! | `session closed` | INFO | `session`, `transport`, `reason` |
//! | `stream opened` / `stream resumed` | DEBUG | `session`, `kind` |
//! | `stream closed` | DEBUG | `session`, `kind`, `reason` (`ended`, `client_gone`) |
//! | `slow consumer cut off` | WARN | `session`, `kind` |
//! | `client request timed out` | WARN | `session`, `method`, `after_ms` |
//!
//! Events carry the target `mcp_tower`.
//!
//! # Metrics (`metrics`)
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `mcp_sessions_open` | gauge | |
//! | `mcp_sessions_created_total` | counter | `transport` |
//! | `mcp_sessions_closed_total` | counter | `reason` |
//! | `mcp_streams_open` | gauge | `kind` (`post`, `get`, `legacy`, `listen`) |
//! | `mcp_events_sent_total` | counter | `kind` |
//! | `mcp_replays_total`, `mcp_replay_misses_total` | counter | |
//! | `mcp_slow_consumer_closes_total` | counter | `kind` |
//! | `mcp_client_requests_pending` | gauge | |
//! | `mcp_client_request_timeouts_total` | counter | |
//! | `mcp_rejections_total` | counter | `kind` ([`RejectionKind::name`](crate::RejectionKind::name)) |
//! | `mcp_handler_duration_seconds` | histogram | `method` (MCP's methods; anything else is `other`) |

#[cfg(feature = "metrics")]
use std::time::Instant;

use http::StatusCode;

use crate::session::delivery::CloseReason;
use crate::session::id::SessionId;
use crate::session::transport::Transport;

/// The kinds of SSE stream the transport serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// A POST answered with SSE (either era).
    Post,
    /// A session's standalone GET stream.
    Get,
    /// A legacy (2024-11-05) HTTP+SSE connection.
    Legacy,
    /// A 2026-07-28 `subscriptions/listen` stream.
    Listen,
}

/// A `metrics` call whose `kind` label is one of the stream kinds, as literals: the key is
/// then built at compile time and recording allocates nothing.
#[cfg(feature = "metrics")]
macro_rules! by_kind {
    ($macro:ident, $name:literal, $kind:expr, $op:ident($arg:expr)) => {
        match $kind {
            StreamKind::Post => metrics::$macro!($name, "kind" => "post").$op($arg),
            StreamKind::Get => metrics::$macro!($name, "kind" => "get").$op($arg),
            StreamKind::Legacy => metrics::$macro!($name, "kind" => "legacy").$op($arg),
            StreamKind::Listen => metrics::$macro!($name, "kind" => "listen").$op($arg),
        }
    };
}

impl StreamKind {
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    fn name(self) -> &'static str {
        match self {
            Self::Post => "post",
            Self::Get => "get",
            Self::Legacy => "legacy",
            Self::Listen => "listen",
        }
    }
}

/// The span of one HTTP request (a zero-sized nothing without the `tracing` feature).
#[derive(Debug)]
pub(crate) struct RequestSpan {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl RequestSpan {
    /// Opens the span of a request that took `route`.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn new(method: &http::Method, route: &'static str) -> Self {
        Self {
            #[cfg(feature = "tracing")]
            span: tracing::info_span!(
                target: "mcp_tower",
                "mcp.request",
                route,
                http.method = %method,
                session = tracing::field::Empty,
                mcp.method = tracing::field::Empty,
                mcp.id = tracing::field::Empty,
                http.status = tracing::field::Empty,
                rejection = tracing::field::Empty,
            ),
        }
    }

    /// Names the request's session by its public label.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn session(&self, id: &SessionId) {
        #[cfg(feature = "tracing")]
        if !self.span.is_disabled() {
            self.span
                .record("session", tracing::field::display(id.label()));
        }
    }

    /// Runs `f` inside the span (so that events and [`message`] find it).
    #[inline]
    pub(crate) fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        #[cfg(feature = "tracing")]
        let _entered = self.span.enter();
        f()
    }

    /// Records how the request was answered: its status and, for a rejection, the name of its
    /// kind (counted by kind, with `metrics`).
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn finish(&self, status: StatusCode, rejection: Option<&'static str>) {
        #[cfg(feature = "metrics")]
        if let Some(kind) = rejection {
            metrics::counter!("mcp_rejections_total", "kind" => kind).increment(1);
        }
        #[cfg(feature = "tracing")]
        if !self.span.is_disabled() {
            self.span.record("http.status", status.as_u16());
            if let Some(kind) = rejection {
                self.span.record("rejection", kind);
            }
        }
    }

    /// Whether anything listens: when not, the caller need not work out what to record.
    #[inline]
    pub(crate) fn is_recording(&self) -> bool {
        #[cfg(feature = "tracing")]
        if !self.span.is_disabled() {
            return true;
        }
        cfg!(feature = "metrics")
    }
}

/// Records the JSON-RPC method and id of the message being served on the current request span.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn message(method: &str, id: Option<&crate::RequestId>) {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("mcp.method", method);
            if let Some(id) = id {
                span.record("mcp.id", tracing::field::display(id));
            }
        }
    }
}

/// A session opened.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn session_created(id: &SessionId, transport: Transport) {
    #[cfg(feature = "tracing")]
    tracing::info!(target: "mcp_tower", session = %id.label(), transport = transport.as_str(), "session created");
    #[cfg(feature = "metrics")]
    {
        metrics::gauge!("mcp_sessions_open").increment(1.0);
        metrics::counter!("mcp_sessions_created_total", "transport" => transport.as_str())
            .increment(1);
    }
}

/// An opened session ended.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn session_closed(id: &SessionId, transport: Transport, reason: CloseReason) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "mcp_tower",
        session = %id.label(),
        transport = transport.as_str(),
        reason = reason.as_str(),
        "session closed"
    );
    #[cfg(feature = "metrics")]
    {
        metrics::gauge!("mcp_sessions_open").decrement(1.0);
        metrics::counter!("mcp_sessions_closed_total", "reason" => reason.as_str()).increment(1);
    }
}

/// Watches one SSE stream from the moment it is handed to a client until its body is dropped:
/// the open-streams gauge, the events it writes, and why it closed.
#[derive(Debug)]
pub(crate) struct StreamWatch {
    #[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(dead_code))]
    kind: StreamKind,
    #[cfg(feature = "tracing")]
    session: Option<crate::session::id::SessionLabel>,
}

impl StreamWatch {
    /// A stream of `kind` opened (or, with `resumed`, reopened after `Last-Event-ID`).
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn open(kind: StreamKind, session: Option<&SessionId>, resumed: bool) -> Self {
        #[cfg(feature = "tracing")]
        let session = session.map(SessionId::label);
        #[cfg(feature = "tracing")]
        if resumed {
            tracing::debug!(target: "mcp_tower", session = session.map(tracing::field::display), kind = kind.name(), "stream resumed");
        } else {
            tracing::debug!(target: "mcp_tower", session = session.map(tracing::field::display), kind = kind.name(), "stream opened");
        }
        #[cfg(feature = "metrics")]
        {
            by_kind!(gauge, "mcp_streams_open", kind, increment(1.0));
            if resumed {
                metrics::counter!("mcp_replays_total").increment(1);
            }
        }
        Self {
            kind,
            #[cfg(feature = "tracing")]
            session,
        }
    }

    /// The stream wrote one event (not a keep-alive comment).
    #[inline]
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    pub(crate) fn event_sent(&self) {
        #[cfg(feature = "metrics")]
        by_kind!(counter, "mcp_events_sent_total", self.kind, increment(1));
    }

    /// The body is dropped: `ended` when it wrote its last event, else the client went away.
    #[inline]
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn closed(&self, ended: bool) {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "mcp_tower",
            session = self.session.map(tracing::field::display),
            kind = self.kind.name(),
            reason = if ended { "ended" } else { "client_gone" },
            "stream closed"
        );
        #[cfg(feature = "metrics")]
        by_kind!(gauge, "mcp_streams_open", self.kind, decrement(1.0));
    }
}

/// A reader too slow to keep its stream's capacity was cut off (it resumes from the replay log
/// where there is one).
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn slow_consumer(kind: StreamKind, session: Option<&SessionId>) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "mcp_tower",
        session = session.map(|id| tracing::field::display(id.label())),
        kind = kind.name(),
        "slow consumer cut off"
    );
    #[cfg(feature = "metrics")]
    by_kind!(
        counter,
        "mcp_slow_consumer_closes_total",
        kind,
        increment(1)
    );
}

/// A resume asked for events the replay log no longer holds.
#[inline]
pub(crate) fn replay_miss() {
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_replay_misses_total").increment(1);
}

/// Counts one server→client request while it waits for the client's answer.
#[derive(Debug)]
pub(crate) struct PendingWatch(());

impl PendingWatch {
    #[inline]
    pub(crate) fn start() -> Self {
        #[cfg(feature = "metrics")]
        metrics::gauge!("mcp_client_requests_pending").increment(1.0);
        Self(())
    }
}

impl Drop for PendingWatch {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        metrics::gauge!("mcp_client_requests_pending").decrement(1.0);
    }
}

/// A server→client request got no answer in time.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn client_request_timeout(
    session: &SessionId,
    method: &str,
    after: std::time::Duration,
) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "mcp_tower",
        session = %session.label(),
        method,
        after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
        "client request timed out"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_client_request_timeouts_total").increment(1);
}

/// Times one handler call, for the latency histogram by method.
#[derive(Debug)]
pub(crate) struct HandlerTimer {
    #[cfg(feature = "metrics")]
    started: (Instant, metrics::Histogram),
}

impl HandlerTimer {
    /// Starts timing a call of `method`.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn start(method: &str) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            started: (Instant::now(), handler_histogram(method)),
        }
    }

    /// The call ended.
    #[inline]
    pub(crate) fn stop(self) {
        #[cfg(feature = "metrics")]
        {
            let (start, histogram) = self.started;
            histogram.record(start.elapsed().as_secs_f64());
        }
    }
}

/// The handler latency histogram of `method`: MCP's own methods by name, anything else as
/// `other`. Every label is a literal, so the keys are built at compile time.
macro_rules! handler_histogram {
    ($($method:literal),* $(,)?) => {
        #[cfg(feature = "metrics")]
        fn handler_histogram(method: &str) -> metrics::Histogram {
            match method {
                $($method => metrics::histogram!("mcp_handler_duration_seconds", "method" => $method),)*
                _ => metrics::histogram!("mcp_handler_duration_seconds", "method" => "other"),
            }
        }
    };
}

handler_histogram!(
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "subscriptions/listen",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
);
