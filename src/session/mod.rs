//! Sessions of the Streamable HTTP session era: the store, the [`Session`] handle handed to
//! handlers and applications, and the [`Sessions`] registry.
//!
//! A session starts when a client's `initialize` succeeds and ends on `DELETE`, on
//! [`Session::close`], when it is idle for longer than the configured timeout, or when the layer
//! is dropped. Handles are weak: holding a [`Session`] never keeps an ended session alive.

mod id;
mod store;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

pub use id::SessionId;
pub(crate) use id::{is_visible_ascii, IdParts};
pub(crate) use store::{Lookup, SessionStore};

use crate::jsonrpc::outgoing_bytes;
use crate::protocol::ProtocolVersion;
use crate::sse::{channel, message_event, SseBody, SseSender, TrySendError};

/// Where a message sent to a client went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Written to an open stream.
    Sent,
    /// Kept in the session's bounded queue until the client opens a stream.
    Queued,
    /// Not delivered: the session is gone, or its queue is full (see the layer's
    /// `max_queued_events`), or the request has no stream to carry it.
    Dropped,
}

/// Session state shared by the store, the transport and the handles.
pub(crate) struct SessionInner {
    pub(crate) id: SessionId,
    parts: IdParts,
    store: Weak<SessionStore>,
    version: OnceLock<ProtocolVersion>,
    last_active: AtomicU64,
    in_flight: AtomicUsize,
    closed: AtomicBool,
    max_queued: usize,
    state: Mutex<State>,
    extensions: Mutex<http::Extensions>,
}

#[derive(Default)]
struct State {
    client_capabilities: Option<Value>,
    standalone: Option<Standalone>,
    next_conn: u64,
    /// Unrelated messages waiting for a standalone stream.
    queue: VecDeque<Bytes>,
}

struct Standalone {
    conn: u64,
    tx: SseSender,
}

impl SessionInner {
    pub(crate) fn new(parts: IdParts, store: &Arc<SessionStore>, max_queued: usize) -> Arc<Self> {
        let now = store.millis(Instant::now());
        Arc::new(Self {
            id: parts.encode(),
            parts,
            store: Arc::downgrade(store),
            version: OnceLock::new(),
            last_active: AtomicU64::new(now),
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            max_queued,
            state: Mutex::new(State::default()),
            extensions: Mutex::new(http::Extensions::new()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn handle(self: &Arc<Self>) -> Session {
        Session {
            id: self.id.clone(),
            inner: Arc::downgrade(self),
        }
    }

    /// Makes the session visible once `initialize` succeeded with `version`.
    pub(crate) fn open(&self, version: ProtocolVersion, client_capabilities: Option<Value>) {
        let _ = self.version.set(version);
        self.state().client_capabilities = client_capabilities;
        if let Some(store) = self.store.upgrade() {
            store.commit(&self.parts);
        }
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

    /// Counts a request as in flight until the guard drops; an in-flight request keeps the
    /// session from expiring.
    pub(crate) fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn is_idle_since(&self, now: u64, idle: u64) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
            && now.saturating_sub(self.last_active.load(Ordering::Relaxed)) >= idle
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Ends the session: removes it from the store, ends its stream, drops its state.
    /// Returns false if it had already ended.
    pub(crate) fn close(&self) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Some(store) = self.store.upgrade() {
            store.remove(&self.parts);
        }
        let standalone = {
            let mut state = self.state();
            state.queue.clear();
            state.standalone.take()
        };
        drop(standalone);
        // Drop user state outside any lock: its destructors may do anything.
        let extensions = std::mem::take(
            &mut *self
                .extensions
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        drop(extensions);
        true
    }

    /// Sends a message that is not tied to a request: on the standalone stream if one is open,
    /// else into the bounded queue.
    pub(crate) fn send_unrelated(&self, json: &[u8]) -> Delivery {
        if self.is_closed() {
            return Delivery::Dropped;
        }
        let event = message_event(None, json);
        let mut state = self.state();
        if let Some(standalone) = &state.standalone {
            match standalone.tx.try_send(event) {
                Ok(()) => return Delivery::Sent,
                Err(TrySendError::Full(event)) => {
                    // A reader this slow would make us buffer without bound: end its connection
                    // (the client reconnects) and keep the message for the next stream.
                    if let Some(slow) = state.standalone.take() {
                        slow.tx.close(Bytes::new());
                    }
                    return state.enqueue(event, self.max_queued);
                }
                Err(TrySendError::Closed(event)) => {
                    state.standalone = None;
                    return state.enqueue(event, self.max_queued);
                }
            }
        }
        state.enqueue(event, self.max_queued)
    }

    /// Opens the standalone stream, taking over from any older connection (which is ended), and
    /// flushes the queue into it first.
    pub(crate) fn attach_standalone(self: &Arc<Self>, capacity: usize) -> SseBody {
        let mut state = self.state();
        let (tx, body) = channel(capacity.max(state.queue.len()).max(1));
        for event in state.queue.drain(..) {
            // Capacity covers the whole queue, so this cannot fail.
            let _ = tx.try_send(event);
        }
        let conn = state.next_conn;
        state.next_conn += 1;
        let older = state.standalone.replace(Standalone { conn, tx });
        drop(state);
        if let Some(older) = older {
            older.tx.close(Bytes::new());
        }
        let weak = Arc::downgrade(self);
        body.on_drop(move || {
            if let Some(session) = weak.upgrade() {
                session.detach_standalone(conn);
            }
        })
    }

    fn detach_standalone(&self, conn: u64) {
        let detached = {
            let mut state = self.state();
            match &state.standalone {
                Some(s) if s.conn == conn => state.standalone.take(),
                _ => None,
            }
        };
        drop(detached);
        self.touch();
    }

    pub(crate) fn has_stream(&self) -> bool {
        self.state()
            .standalone
            .as_ref()
            .is_some_and(|s| !s.tx.is_closed())
    }
}

impl State {
    fn enqueue(&mut self, event: Bytes, max: usize) -> Delivery {
        if self.queue.len() < max {
            self.queue.push_back(event);
            Delivery::Queued
        } else {
            Delivery::Dropped
        }
    }
}

/// Marks one request in flight for its session.
pub(crate) struct InFlight(Arc<SessionInner>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
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

    fn live(&self) -> Option<Arc<SessionInner>> {
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
    pub fn notify(&self, method: &str, params: Option<Value>) -> Delivery {
        match self.live() {
            Some(s) => s.send_unrelated(&outgoing_bytes(None, method, params.as_ref())),
            None => Delivery::Dropped,
        }
    }

    /// Ends the session, as a `DELETE` would. Returns false if it had already ended.
    pub fn close(&self) -> bool {
        self.inner.upgrade().is_some_and(|s| s.close())
    }

    /// Stores a value of type `T`, returning the one it replaces. Does nothing (and returns
    /// `None`) once the session has ended.
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        let session = self.live()?;
        let mut ext = session
            .extensions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ext.insert(value)
    }

    /// A clone of the stored value of type `T`.
    #[must_use]
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        let session = self.live()?;
        let ext = session
            .extensions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
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
        let mut ext = session
            .extensions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some(f(ext.get_or_insert_default::<T>()))
    }

    /// Removes and returns the stored value of type `T`.
    pub fn remove<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        let session = self.live()?;
        let mut ext = session
            .extensions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
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
            Lookup::Live(s) => s.close(),
            Lookup::NotFound => false,
        }
    }

    /// Sends one notification to every live session (see [`Session::notify`]). The message is
    /// serialized once; a slow or stalled client never holds up the others.
    pub fn broadcast(&self, method: &str, params: Option<Value>) -> BroadcastReport {
        let json = outgoing_bytes(None, method, params.as_ref());
        let mut report = BroadcastReport::default();
        for session in self.store.live() {
            match session.send_unrelated(&json) {
                Delivery::Sent => report.delivered += 1,
                Delivery::Queued => report.queued += 1,
                Delivery::Dropped => report.dropped += 1,
            }
        }
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

/// Starts the idle reaper once per store, if a tokio runtime is running. It holds the store
/// weakly and stops when the layer and every service built from it are dropped.
pub(crate) fn start_reaper(store: &Arc<SessionStore>, idle: Duration) {
    if idle == Duration::MAX || !store.claim_reaper() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let period = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    let weak = Arc::downgrade(store);
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(store) = weak.upgrade() else { return };
            let candidates = store.idle_candidates(idle);
            drop(store);
            for session in candidates {
                // An open standalone stream counts as activity.
                if session.has_stream() {
                    session.touch();
                } else {
                    session.close();
                }
            }
        }
    });
}
