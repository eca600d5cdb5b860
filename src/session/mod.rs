//! Sessions of the Streamable HTTP session era: the store, the [`Session`] handle handed to
//! handlers and applications, and the [`Sessions`] registry.
//!
//! A session starts when a client's `initialize` succeeds and ends on `DELETE`, on
//! [`Session::close`], when it is idle for longer than the configured timeout, or when the layer
//! is dropped. Handles are weak: holding a [`Session`] never keeps an ended session alive.

mod id;
mod pending;
mod replay;
mod store;
mod stream;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

// tokio's clock, so idle expiry follows a paused clock in tests.
use tokio::time::Instant;

use bytes::Bytes;
use futures_util::future::AbortHandle;
use serde_json::Value;

pub use id::SessionId;
pub(crate) use id::{is_visible_ascii, IdParts};
pub use pending::{ClientRequestError, RequestOptions};
pub use replay::{
    EventStore, MemoryEventStore, Replay, SessionEventLog, DEFAULT_REPLAY_AGE,
    DEFAULT_REPLAY_BYTES, DEFAULT_REPLAY_EVENTS,
};
pub(crate) use store::{Lookup, SessionStore};
use stream::Outgoing;
pub(crate) use stream::{ResumeError, STANDALONE};

use crate::jsonrpc::{outgoing_bytes, RequestId};
use crate::layer::Config;
use crate::protocol::ProtocolVersion;
use crate::sse::message_event;

/// Where a message sent to a client went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Written to an open stream.
    Sent,
    /// Recorded for the stream, to be written when the client (re)connects: either no
    /// connection is open, or the open one was too slow and has been told to reconnect.
    Queued,
    /// Not delivered: the session is gone, the stream has ended, its queue is full (see the
    /// layer's `max_queued_events`), or the request has nowhere to send it.
    Dropped,
}

/// Why a session ended, as told to [`McpLayer::on_session_closed`](crate::McpLayer::on_session_closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent `DELETE`.
    Deleted,
    /// Idle for longer than the idle timeout.
    Expired,
    /// The client never sent `notifications/initialized` in time.
    InitializeTimeout,
    /// The application closed it ([`Session::close`] or [`Sessions::close`]).
    Closed,
    /// [`Sessions::shutdown`].
    Shutdown,
}

/// Session state shared by the store, the transport and the handles.
///
/// `repr(C)`: what sending an event reads (the closed flag, the event tag, the config, the
/// lock and, inside it, the log and the standalone stream) is declared first, so it shares as
/// few cache lines as possible. A broadcast visits every session, mostly cold in memory, and
/// each line is a miss.
#[repr(C)]
pub(crate) struct SessionInner {
    closed: AtomicBool,
    /// Random tag in every event id, so one session's ids mean nothing to another.
    event_tag: [u8; 8],
    pub(crate) config: Arc<Config>,
    state: Mutex<State>,
    pub(crate) id: SessionId,
    parts: IdParts,
    store: Weak<SessionStore>,
    version: OnceLock<ProtocolVersion>,
    pub(crate) principal: Option<String>,
    opened_at: AtomicU64,
    initialized: AtomicBool,
    last_active: AtomicU64,
    in_flight: AtomicUsize,
    extensions: Mutex<http::Extensions>,
}

/// `repr(C)`: the log and the streams first (see [`SessionInner`]).
#[repr(C)]
struct State {
    log: Box<dyn SessionEventLog>,
    streams: stream::Streams,
    client_capabilities: Option<Value>,
    pending: pending::Pending,
    /// Handler calls that `notifications/cancelled` can abort, with a token so a finished call
    /// never unregisters a newer one that reused its id.
    running: HashMap<RequestId, (AbortHandle, u64)>,
    next_token: u64,
}

impl SessionInner {
    pub(crate) fn new(
        parts: IdParts,
        store: &Arc<SessionStore>,
        config: Arc<Config>,
        principal: Option<String>,
    ) -> Arc<Self> {
        let now = store.millis(Instant::now());
        let id = parts.encode();
        let log = config.event_store.open(&id);
        Arc::new(Self {
            id,
            parts,
            store: Arc::downgrade(store),
            config,
            event_tag: id::random_bytes(),
            version: OnceLock::new(),
            principal,
            opened_at: AtomicU64::new(now),
            initialized: AtomicBool::new(false),
            last_active: AtomicU64::new(now),
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            state: Mutex::new(State {
                client_capabilities: None,
                streams: stream::Streams::default(),
                log,
                pending: pending::Pending::default(),
                running: HashMap::new(),
                next_token: 0,
            }),
            extensions: Mutex::new(http::Extensions::new()),
        })
    }

    /// The typed per-session storage ([`Session::insert`] and its siblings).
    fn extensions(&self) -> MutexGuard<'_, http::Extensions> {
        // A panicking `update` closure leaves the map itself intact: poisoning is ignored.
        self.extensions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section finishes its edit before anything can panic, so the data
        // behind a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn handle(self: &Arc<Self>) -> Session {
        Session {
            id: self.id.clone(),
            inner: Arc::downgrade(self),
        }
    }

    /// Makes the session visible once `initialize` succeeded with `version`.
    pub(crate) fn open(
        self: &Arc<Self>,
        version: ProtocolVersion,
        client_capabilities: Option<Value>,
    ) {
        let _ = self.version.set(version);
        self.state().client_capabilities = client_capabilities;
        if let Some(store) = self.store.upgrade() {
            self.opened_at
                .store(store.millis(Instant::now()), Ordering::Relaxed);
            store.commit(&self.parts);
        }
        if let Some(hook) = &self.config.on_session_created {
            hook(&self.handle());
        }
    }

    pub(crate) fn mark_initialized(&self) {
        self.initialized.store(true, Ordering::Release);
    }

    pub(crate) fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.version.get().copied()
    }

    pub(crate) fn touch(&self) {
        if let Some(store) = self.store.upgrade() {
            self.last_active
                .store(store.millis(Instant::now()), Ordering::Relaxed);
        }
    }

    /// Counts `count` requests (a batch holds several) as in flight until the guard drops (an
    /// in-flight request keeps the session from expiring); `None` when they would take the
    /// session past its maximum.
    pub(crate) fn begin_requests(self: &Arc<Self>, count: usize) -> Option<InFlight> {
        let max = self.config.max_in_flight;
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                n.checked_add(count).filter(|total| *total <= max)
            })
            .ok()?;
        Some(InFlight {
            session: self.clone(),
            count,
        })
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    fn is_idle_since(&self, now: u64, idle: u64) -> bool {
        self.in_flight() == 0
            && now.saturating_sub(self.last_active.load(Ordering::Relaxed)) >= idle
    }

    fn missed_initialized(&self, now: u64, timeout: u64) -> bool {
        !self.initialized.load(Ordering::Acquire)
            && now.saturating_sub(self.opened_at.load(Ordering::Relaxed)) >= timeout
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Ends the session: removes it from the store, ends its streams, aborts its running
    /// handlers, fails the requests it awaits from the client, and drops its state. Returns
    /// false if it had already ended.
    pub(crate) fn close(&self, reason: CloseReason) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        // The store's lock is never taken while holding the session's (a broadcast holds the
        // store's while it locks sessions).
        if let Some(store) = self.store.upgrade() {
            store.remove(&self.parts);
        }
        let (streams, running) = {
            let mut state = self.state();
            state.pending.fail_all();
            let streams = std::mem::take(&mut state.streams);
            let running = std::mem::take(&mut state.running);
            (streams, running)
        };
        // Outside the lock: dropping a connection's sender or aborting a task may run code that
        // takes it again.
        for (handle, _) in running.into_values() {
            handle.abort();
        }
        drop(streams);
        let extensions = std::mem::take(&mut *self.extensions());
        drop(extensions);
        if self.version.get().is_some() {
            if let Some(hook) = &self.config.on_session_closed {
                hook(&self.id, reason);
            }
        }
        true
    }

    /// Sends a message that is not tied to a request on the standalone stream (recorded and
    /// written when the client opens one, if none is open).
    pub(crate) fn send_unrelated(&self, json: &[u8]) -> Delivery {
        self.send_on(
            STANDALONE,
            Outgoing::Json(json),
            Instant::now(),
            false,
            true,
        )
    }

    /// [`send_unrelated`](Self::send_unrelated) of an event encoded once for many sessions,
    /// without an `id:` line, produced `at`.
    fn send_unrelated_event(&self, event: &Bytes, at: Instant) -> Delivery {
        self.send_on(STANDALONE, Outgoing::Shared(event), at, false, true)
    }

    pub(crate) fn has_stream(&self) -> bool {
        self.has_connection(STANDALONE)
    }

    /// Registers a running handler call so `notifications/cancelled` can abort it.
    pub(crate) fn register_running(&self, id: RequestId, handle: AbortHandle) -> u64 {
        let mut state = self.state();
        state.next_token += 1;
        let token = state.next_token;
        state.running.insert(id, (handle, token));
        token
    }

    pub(crate) fn finish_running(&self, id: &RequestId, token: u64) {
        let mut state = self.state();
        if state.running.get(id).is_some_and(|(_, t)| *t == token) {
            state.running.remove(id);
        }
    }

    /// Aborts the handler call for `id`, if it is still running.
    pub(crate) fn cancel_running(&self, id: &RequestId) -> bool {
        let handle = self.state().running.remove(id);
        match handle {
            Some((handle, _)) => {
                handle.abort();
                true
            }
            None => false,
        }
    }

    /// With `disconnect_grace`: cancels the request whose stream lost its connection unless the
    /// client resumes it in time.
    fn cancel_if_not_resumed(self: &Arc<Self>, stream: u32, request: RequestId, grace: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            tokio::time::sleep(grace).await;
            let Some(session) = weak.upgrade() else {
                return;
            };
            if !session.has_connection(stream) && session.cancel_running(&request) {
                session.abandon_stream(stream);
            }
        });
    }

    /// For shutdown: asks every open connection to reconnect later, and closes it.
    fn close_connections(&self) -> usize {
        let streams: Vec<u32> = self.state().streams.map.keys().copied().collect();
        streams
            .into_iter()
            .filter(|s| self.close_connection(*s))
            .count()
    }
}

/// Marks requests in flight for their session.
pub(crate) struct InFlight {
    session: Arc<SessionInner>,
    count: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.session.touch();
        if self
            .session
            .in_flight
            .fetch_sub(self.count, Ordering::AcqRel)
            == self.count
        {
            if let Some(store) = self.session.store.upgrade() {
                store.idle.notify_waiters();
            }
        }
    }
}

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
    inner: Weak<SessionInner>,
}

impl Session {
    /// The session's id.
    #[must_use]
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The session's state while it is open.
    pub(crate) fn live(&self) -> Option<Arc<SessionInner>> {
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
        self.live()?.state().client_capabilities.clone()
    }

    /// Whether the client has a standalone (GET) stream open.
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
    store: Arc<SessionStore>,
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
    pub(crate) fn new(store: Arc<SessionStore>) -> Self {
        Self { store }
    }

    /// The live session with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Session> {
        match self.store.lookup(id.as_bytes()) {
            Lookup::Live(s) => Some(s.handle()),
            Lookup::NotFound => None,
        }
    }

    /// How many sessions are live.
    #[must_use]
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether no session is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Handles to every live session, taken at one instant.
    #[must_use]
    pub fn list(&self) -> Vec<Session> {
        self.store.live().iter().map(SessionInner::handle).collect()
    }

    /// Ends the session with this id. Returns false if there is none.
    pub fn close(&self, id: &str) -> bool {
        match self.store.lookup(id.as_bytes()) {
            Lookup::Live(s) => s.close(CloseReason::Closed),
            Lookup::NotFound => false,
        }
    }

    /// Drains the server gracefully: stops admitting new sessions (`initialize` gets 503), asks
    /// every open stream to reconnect later (a `retry:` hint) and closes it, fails the requests
    /// waiting for client answers, waits for running handlers up to `deadline`, aborts those
    /// still running, and ends every session.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let stop_at = crate::time::deadline(Instant::now(), deadline);
        self.store.draining.store(true, Ordering::Release);
        let mut report = ShutdownReport::default();
        for session in self.store.all() {
            report.streams_closed += session.close_connections();
            report.client_requests_failed += session.state().pending.fail_all();
        }
        loop {
            let idle = self.store.idle.notified();
            let busy: usize = self.store.all().iter().map(|s| s.in_flight()).sum();
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
        for session in self.store.all() {
            if session.close(CloseReason::Shutdown) {
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
        self.store
            .for_each_live(|session| match session.send_unrelated_event(&event, now) {
                Delivery::Sent => report.delivered += 1,
                Delivery::Queued => report.queued += 1,
                Delivery::Dropped => report.dropped += 1,
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

/// Starts the reaper once per store, if a tokio runtime is running: it ends idle sessions and
/// sessions that never sent `notifications/initialized`, each by its own layer's timeouts. It
/// ticks at the pace the first layer to start it needs (a quarter of its shorter timeout,
/// 50 ms to 30 s). It holds the store weakly and stops when the layer and every service built
/// from it are dropped.
pub(crate) fn start_reaper(store: &Arc<SessionStore>, config: &Config) {
    let idle = config.session_idle_timeout;
    let init = config.initialize_timeout;
    if !store.claim_reaper() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let period = (idle.min(init) / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    let weak = Arc::downgrade(store);
    let stop = store.reaper_stop.clone();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.notified() => return,
            }
            let Some(store) = weak.upgrade() else { return };
            let (idle_ones, uninitialized) = store.reap_candidates();
            drop(store);
            for session in uninitialized {
                session.close(CloseReason::InitializeTimeout);
            }
            for session in idle_ones {
                // An open stream counts as activity.
                if session.has_any_connection() {
                    session.touch();
                } else {
                    session.close(CloseReason::Expired);
                }
            }
        }
    });
}
