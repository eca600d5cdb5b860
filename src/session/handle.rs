//! The handles applications and handlers hold: [`Session`] (one session, weak) and
//! [`Sessions`] (the registry: get, list, broadcast, close, shutdown).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;
// tokio's clock, so shutdown deadlines follow a paused clock in tests.
use tokio::time::Instant;

use super::delivery::{CloseReason, Delivery};
use super::id::SessionId;
use super::live::LiveSession;
use super::pending::{ClientRequestError, RequestOptions};
use super::registry::Registry;
use super::stream_map::STANDALONE;
use super::transport::Transport;
use crate::jsonrpc::outgoing_bytes;
use crate::protocol::ProtocolVersion;
use crate::sse::message_event;
use crate::time;

/// A handle to one session, given to handlers (through
/// [`RequestContext::session`](crate::RequestContext::session)) and to applications (through
/// [`Sessions`]).
///
/// Cheap to clone and weak: once the session ends, its methods report it as gone.
///
/// # Per-session state
///
/// A session carries typed storage, like [`http::Extensions`], available from `initialize` on
/// and dropped when the session ends:
///
/// ```
/// # fn demo(session: &mcp_tower::Session) {
/// #[derive(Clone, Default)]
/// struct Subscriptions(Vec<String>);
///
/// session.insert(Subscriptions::default());
/// session.update(|subs: &mut Subscriptions| subs.0.push("test://watched".into()));
/// assert_eq!(session.get::<Subscriptions>().map(|s| s.0.len()), Some(1));
/// # }
/// ```
#[derive(Clone)]
pub struct Session {
    id: SessionId,
    inner: Weak<LiveSession>,
    transport: Transport,
}

impl Session {
    /// A handle to `session`.
    pub(crate) fn of(session: &Arc<LiveSession>) -> Self {
        Self {
            id: session.id.clone(),
            inner: Arc::downgrade(session),
            transport: session.transport(),
        }
    }

    /// The session's id.
    #[must_use]
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// Which transport the session speaks (known even after it ended).
    ///
    /// ```
    /// use mcp_tower::{McpLayer, Transport};
    ///
    /// let layer = McpLayer::new().on_session_created(|session| {
    ///     println!("session {} opened over {}", session.id(), session.transport().as_str());
    /// });
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Messages this session could not be sent because its stream could not take them: for a
    /// [`Transport::LegacySse`] session, whose client cannot resume, those sent while its
    /// stream was gone or after a too-slow reader was cut off. Always 0 for Streamable HTTP,
    /// whose replay log keeps what a connection could not take; and 0 once the session ended
    /// (see [`Sessions::messages_lost`] for the running total).
    #[must_use]
    pub fn messages_lost(&self) -> u64 {
        self.live().map_or(0, |s| s.lost())
    }

    /// The session's state while it is open.
    pub(crate) fn live(&self) -> Option<Arc<LiveSession>> {
        self.inner.upgrade().filter(|s| !s.is_closed())
    }

    /// Whether the session has ended.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.live().is_none()
    }

    /// The protocol revision negotiated at `initialize` (`None` while `initialize` is still
    /// running, or once the session has ended).
    #[must_use]
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.live()?.protocol_version()
    }

    /// The `capabilities` the client declared in `initialize`.
    #[must_use]
    pub fn client_capabilities(&self) -> Option<Value> {
        self.live()?.client_capabilities()
    }

    /// The `clientInfo` (name, version, …) the client sent in `initialize`.
    #[must_use]
    pub fn client_info(&self) -> Option<Value> {
        self.live()?.client_info()
    }

    /// Whether the client has a standalone (GET) stream open; for a legacy session, whether its
    /// one SSE stream is.
    #[must_use]
    pub fn has_stream(&self) -> bool {
        self.live().is_some_and(|s| s.has_stream())
    }

    /// Sends a notification that is not tied to any request (for example
    /// `notifications/tools/list_changed`) on the session's standalone stream. With no stream
    /// open it waits in a bounded queue and is written when the client opens one.
    // Owned params keep call sites simple: `Some(json!({ .. }))`.
    #[allow(clippy::needless_pass_by_value)]
    pub fn notify(&self, method: &str, params: Option<Value>) -> Delivery {
        match self.live() {
            Some(s) => s.send_unrelated(&outgoing_bytes(None, method, params.as_ref())),
            None => Delivery::Dropped,
        }
    }

    /// Sends a request that is not tied to any client request (e.g. `roots/list` after a
    /// `notifications/roots/list_changed`) on the standalone stream, and waits for the answer.
    /// With no stream open, the request waits (without polling) for the client to open one, up
    /// to its timeout.
    ///
    /// # Errors
    ///
    /// See [`ClientRequestError`]: a missing client capability fails at once; no answer in time
    /// sends `notifications/cancelled` and fails with a timeout.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        options: RequestOptions,
    ) -> Result<Value, ClientRequestError> {
        let session = self.live().ok_or(ClientRequestError::SessionClosed)?;
        let send = |json: &[u8]| session.send_unrelated(json);
        session.request_client(method, params, options, &send).await
    }

    /// Ends the session, as a `DELETE` would. Returns false if it had already ended.
    pub fn close(&self) -> bool {
        self.inner
            .upgrade()
            .is_some_and(|s| s.close(CloseReason::Closed))
    }

    /// Stores a value of type `T`, returning the one it replaces. Does nothing (and returns
    /// `None`) once the session has ended.
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        let session = self.live()?;
        let mut ext = session.extensions();
        ext.insert(value)
    }

    /// A clone of the stored value of type `T`.
    #[must_use]
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        let session = self.live()?;
        let ext = session.extensions();
        ext.get::<T>().cloned()
    }

    /// Changes the stored value of type `T` in place (inserting `T::default()` first if there is
    /// none) and returns what `f` returns. The storage is locked while `f` runs: keep it short,
    /// and do not call other storage methods of this session from inside it.
    pub fn update<T, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R>
    where
        T: Clone + Default + Send + Sync + 'static,
    {
        let session = self.live()?;
        let mut ext = session.extensions();
        Some(f(ext.get_or_insert_default::<T>()))
    }

    /// Removes and returns the stored value of type `T`.
    pub fn remove<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        let session = self.live()?;
        let mut ext = session.extensions();
        ext.remove::<T>()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// The registry of live sessions, obtained from
/// [`McpLayer::sessions`](crate::McpLayer::sessions) before or while serving.
///
/// ```
/// use mcp_tower::McpLayer;
///
/// let layer = McpLayer::new();
/// let sessions = layer.sessions();
/// assert!(sessions.is_empty());
/// let report = sessions.broadcast("notifications/tools/list_changed", None);
/// assert_eq!(report.delivered + report.queued + report.dropped, 0);
/// ```
#[derive(Clone)]
pub struct Sessions {
    registry: Arc<Registry>,
}

/// What [`Sessions::broadcast`] did, session by session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Sessions whose open stream took the message.
    pub delivered: usize,
    /// Sessions with no open stream, whose queue keeps the message.
    pub queued: usize,
    /// Sessions that could not take it (queue full, or ended meanwhile).
    pub dropped: usize,
}

impl Sessions {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    /// The live session with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Session> {
        self.registry.lookup(id.as_bytes()).map(|s| Session::of(&s))
    }

    /// How many sessions are live.
    #[must_use]
    pub fn len(&self) -> usize {
        self.registry.slots.len()
    }

    /// Whether no session is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Handles to every live session, taken at one instant.
    #[must_use]
    pub fn list(&self) -> Vec<Session> {
        self.registry.slots.live().iter().map(Session::of).collect()
    }

    /// Messages that the streams of legacy (2024-11-05) sessions could not take, summed over
    /// every session this registry ever held (see [`Session::messages_lost`]). A metric: it only
    /// grows.
    ///
    /// ```
    /// let sessions = mcp_tower::McpLayer::new().legacy_sse("/sse", "/messages").sessions();
    /// assert_eq!(sessions.messages_lost(), 0);
    /// ```
    #[must_use]
    pub fn messages_lost(&self) -> u64 {
        self.registry.legacy_lost.load(Ordering::Relaxed)
    }

    /// Ends the session with this id. Returns false if there is none.
    pub fn close(&self, id: &str) -> bool {
        self.registry
            .lookup(id.as_bytes())
            .is_some_and(|s| self.registry.close(&s, CloseReason::Closed))
    }

    /// Drains the server gracefully: stops admitting new sessions (`initialize` gets 503), asks
    /// every open stream to reconnect later (a `retry:` hint) and closes it, fails the requests
    /// waiting for client answers, waits for running handlers up to `deadline`, aborts those
    /// still running, and ends every session.
    ///
    /// A legacy (2024-11-05) session's stream is not asked to reconnect (its client cannot come
    /// back to it): it stays open through the drain, so the answers of calls that finish in time
    /// still reach the client, and ends with its session (counted in `streams_closed` then).
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let stop_at = time::deadline(Instant::now(), deadline);
        self.registry.draining.store(true, Ordering::Release);
        let mut report = ShutdownReport::default();
        for session in self.registry.slots.all() {
            report.streams_closed += session.close_connections();
            report.client_requests_failed += session.fail_pending();
        }
        loop {
            let idle = self.registry.slots.idle.notified();
            let busy: usize = self
                .registry
                .slots
                .all()
                .iter()
                .map(|s| s.in_flight())
                .sum();
            if busy == 0 {
                break;
            }
            tokio::select! {
                () = idle => {}
                () = tokio::time::sleep_until(stop_at) => {
                    report.handlers_cut = busy;
                    break;
                }
            }
        }
        for session in self.registry.slots.all() {
            let legacy_stream =
                session.transport() == Transport::LegacySse && session.has_connection(STANDALONE);
            if session.close(CloseReason::Shutdown) {
                report.streams_closed += usize::from(legacy_stream);
                report.sessions_closed += 1;
            }
        }
        report
    }

    /// Sends one notification to every live session (see [`Session::notify`]). The message is
    /// serialized once; a slow or stalled client never holds up the others (its connection is
    /// told to reconnect, and the message waits in its replay log).
    // Owned params keep call sites simple: `Some(json!({ .. }))`.
    #[allow(clippy::needless_pass_by_value)]
    pub fn broadcast(&self, method: &str, params: Option<Value>) -> BroadcastReport {
        // Encoded once: every session's stream and replay log share these bytes, and each
        // stream's own `id:` line is joined to them when the stream writes the event.
        let event = message_event(None, &outgoing_bytes(None, method, params.as_ref()));
        let now = Instant::now();
        let mut report = BroadcastReport::default();
        // Without a handle per session: cloning 10,000 of them costs as much as sending.
        self.registry.slots.for_each_live(|session| {
            match session.send_unrelated_event(&event, now) {
                Delivery::Sent => report.delivered += 1,
                Delivery::Queued => report.queued += 1,
                Delivery::Dropped => report.dropped += 1,
            }
        });
        report
    }
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("len", &self.len())
            .finish()
    }
}

/// What [`Sessions::shutdown`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Sessions ended.
    pub sessions_closed: usize,
    /// Open connections told to reconnect later and closed.
    pub streams_closed: usize,
    /// Requests to clients that were waiting for an answer and failed.
    pub client_requests_failed: usize,
    /// Handler calls still running at the deadline, aborted.
    pub handlers_cut: usize,
}
