//! [`LiveSession`]: what one node holds of a session it serves: the cached record, the open
//! streams and their connections, running handler calls, requests waiting for the client's
//! answer, the session's typed storage, and the counters that decide its idle expiry.
//!
//! None of this can leave the process; a cluster backend forwards operations on it to the
//! node that holds it (see the registry).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::AbortHandle;
use serde_json::{json, Value};
// tokio's clock, so idle expiry and timeouts follow a paused clock in tests.
use tokio::time::Instant;

use super::config::SessionConfig;
use super::delivery::{CloseReason, Delivery, SessionClosed};
use super::id::{random_bytes, IdParts, SessionId};
use super::pending::{required_capability, Answer, ClientRequestError, Pending, RequestOptions};
use super::record::SessionRecord;
use super::slots::{SlotKey, Slots};
use super::stream::{retry_hint, Conn, Outgoing, ResumeError, Streams};
use super::stream_map::STANDALONE;
use super::transport::Transport;
use crate::jsonrpc::{outgoing_bytes, RequestId};
use crate::protocol::ProtocolVersion;
use crate::sse::{DropHook, SseBody};
use crate::telemetry::{self, StreamKind, StreamWatch};
use crate::time;

/// The node-local state of one session.
///
/// `repr(C)`: what sending an event reads (the closed flag, the transport, the config, the lock
/// and, inside it, the log and the standalone stream) is declared first, so it shares as few
/// cache lines as possible. A broadcast visits every session, mostly cold in memory, and each line is a
/// miss.
#[repr(C)]
pub(crate) struct LiveSession {
    closed: AtomicBool,
    /// What only a legacy (2024-11-05) session needs; `None` for Streamable HTTP (one pointer
    /// per session, beside `closed`: every send reads it).
    legacy: Option<Box<Legacy>>,
    pub(crate) config: Arc<SessionConfig>,
    state: Mutex<State>,
    pub(crate) id: SessionId,
    slot: SlotKey,
    slots: Weak<Slots<Self>>,
    /// Set once `initialize` succeeded; a reserved session has none yet. Kept inline: one
    /// allocation less per session.
    record: OnceLock<SessionRecord>,
    opened_at: AtomicU64,
    initialized: AtomicBool,
    last_active: AtomicU64,
    in_flight: AtomicUsize,
    extensions: Mutex<http::Extensions>,
}

/// The state of a legacy (2024-11-05) session beyond what every session has.
pub(crate) struct Legacy {
    /// The session itself, to end it from a timer when its stream is lost.
    me: Weak<LiveSession>,
    /// The principal of the connect GET: the session is bound to it before `initialize`.
    principal: Option<String>,
    /// Set while (or once) an `initialize` runs: a second one is refused.
    initializing: AtomicBool,
    /// Messages this session's stream could not take.
    lost: AtomicU64,
    /// The same, summed over every session of the registry.
    lost_total: Arc<AtomicU64>,
}

/// `repr(C)`: the streams (and their log) first (see [`LiveSession`]).
#[repr(C)]
struct State {
    streams: Streams,
    pending: Pending,
    /// Handler calls that `notifications/cancelled` can abort, with a token so a finished call
    /// never unregisters a newer one that reused its id.
    running: HashMap<RequestId, (AbortHandle, u64)>,
    next_token: u64,
}

impl LiveSession {
    /// A reserved session in slot `parts` of `slots`, not visible to lookups until
    /// [`open`](Self::open).
    pub(crate) fn new(
        parts: IdParts,
        slots: &Arc<Slots<Self>>,
        config: Arc<SessionConfig>,
    ) -> Arc<Self> {
        Self::build(parts, slots, config, None)
    }

    /// A reserved legacy (2024-11-05) session bound to `principal`, whose lost messages are
    /// also counted in `lost_total`; visible to lookups once [`commit`](Self::commit)ted.
    pub(crate) fn new_legacy(
        parts: IdParts,
        slots: &Arc<Slots<Self>>,
        config: Arc<SessionConfig>,
        principal: Option<String>,
        lost_total: Arc<AtomicU64>,
    ) -> Arc<Self> {
        Self::build(parts, slots, config, Some((principal, lost_total)))
    }

    fn build(
        parts: IdParts,
        slots: &Arc<Slots<Self>>,
        config: Arc<SessionConfig>,
        legacy: Option<(Option<String>, Arc<AtomicU64>)>,
    ) -> Arc<Self> {
        let now = slots.millis(Instant::now());
        let id = parts.encode();
        let log = config.event_store.open(&id);
        Arc::new_cyclic(|me| Self {
            legacy: legacy.map(|(principal, lost_total)| {
                Box::new(Legacy {
                    me: me.clone(),
                    principal,
                    initializing: AtomicBool::new(false),
                    lost: AtomicU64::new(0),
                    lost_total,
                })
            }),
            id,
            slot: SlotKey::from(&parts),
            slots: Arc::downgrade(slots),
            config,
            record: OnceLock::new(),
            opened_at: AtomicU64::new(now),
            initialized: AtomicBool::new(false),
            last_active: AtomicU64::new(now),
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            state: Mutex::new(State {
                streams: Streams::new(log, random_bytes()),
                pending: Pending::default(),
                running: HashMap::new(),
                next_token: 0,
            }),
            extensions: Mutex::new(http::Extensions::new()),
        })
    }

    /// The typed per-session storage.
    pub(crate) fn extensions(&self) -> MutexGuard<'_, http::Extensions> {
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

    /// The record, once `initialize` succeeded.
    pub(crate) fn record(&self) -> Option<&SessionRecord> {
        self.record.get()
    }

    /// A record for this session as `initialize` negotiated it.
    pub(crate) fn make_record(
        &self,
        principal: Option<String>,
        protocol_version: ProtocolVersion,
        client_capabilities: Option<Box<str>>,
        client_info: Option<Box<str>>,
    ) -> SessionRecord {
        SessionRecord {
            id: self.id.clone(),
            principal,
            protocol_version,
            client_capabilities,
            client_info,
            created_at: std::time::SystemTime::now(),
            event_tag: self.state().streams.tag(),
        }
    }

    /// Makes the session visible to lookups once `initialize` succeeded, with its record.
    pub(crate) fn open(&self, record: SessionRecord) {
        let _ = self.record.set(record);
        if let Some(slots) = self.slots.upgrade() {
            self.opened_at
                .store(slots.millis(Instant::now()), Ordering::Relaxed);
            slots.commit(self.slot);
        }
    }

    pub(crate) fn mark_initialized(&self) {
        self.initialized.store(true, Ordering::Release);
    }

    /// The client's capabilities, parsed (rarely needed: before a request to the client).
    pub(crate) fn client_capabilities(&self) -> Option<Value> {
        parse(self.record()?.client_capabilities.as_deref())
    }

    /// The client's `clientInfo`, parsed.
    pub(crate) fn client_info(&self) -> Option<Value> {
        parse(self.record()?.client_info.as_deref())
    }

    pub(crate) fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.record().map(|r| r.protocol_version)
    }

    /// The principal the session is bound to: the record's; for a legacy session before
    /// `initialize`, its connect's.
    pub(crate) fn principal(&self) -> Option<&str> {
        match (self.record(), &self.legacy) {
            (Some(record), _) => record.principal.as_deref(),
            (None, Some(legacy)) => legacy.principal.as_deref(),
            (None, None) => None,
        }
    }

    /// Which transport the session speaks.
    pub(crate) fn transport(&self) -> Transport {
        if self.legacy.is_some() {
            Transport::LegacySse
        } else {
            Transport::StreamableHttp
        }
    }

    /// Messages a legacy session's stream could not take (always 0 for Streamable HTTP, whose
    /// replay log keeps them).
    pub(crate) fn lost(&self) -> u64 {
        self.legacy
            .as_ref()
            .map_or(0, |l| l.lost.load(Ordering::Relaxed))
    }

    /// Claims the right to run this legacy session's `initialize`: false if one already ran or
    /// runs (or the session is not a legacy one).
    pub(crate) fn claim_legacy_initialize(&self) -> bool {
        self.legacy
            .as_ref()
            .is_some_and(|l| !l.initializing.swap(true, Ordering::AcqRel))
    }

    /// A legacy `initialize` failed: another may be tried.
    pub(crate) fn release_legacy_initialize(&self) {
        if let Some(legacy) = &self.legacy {
            legacy.initializing.store(false, Ordering::Release);
        }
    }

    /// Makes a reserved legacy session visible to lookups before its `initialize`: the client
    /// POSTs that to the URL its stream named.
    pub(crate) fn commit(&self) {
        if let Some(slots) = self.slots.upgrade() {
            slots.commit(self.slot);
        }
    }

    /// Attaches a legacy session's stream, whose first event is `endpoint`; a stream already
    /// attached is ended (the newer connection takes over).
    pub(crate) fn attach_legacy(self: &Arc<Self>, endpoint: Bytes) -> SseBody {
        let on_drop = self.on_drop();
        let (body, older) = self
            .state()
            .streams
            .attach_legacy(&self.config, &on_drop, endpoint);
        end_older(older);
        body.watched(StreamWatch::open(StreamKind::Legacy, Some(&self.id), false))
    }

    /// A legacy session lost its stream: it ends after the grace period unless a connect takes
    /// the stream over meanwhile.
    fn legacy_stream_lost(&self) {
        let Some(legacy) = &self.legacy else {
            return;
        };
        // Always from a task, even with no grace: this may run inside a broadcast's walk of the
        // registry, which closing would lock again. Without a runtime nothing is served, and
        // idle expiry ends the session.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let grace = self.config.legacy_grace;
        let weak = legacy.me.clone();
        runtime.spawn(async move {
            tokio::time::sleep(grace).await;
            if let Some(session) = weak.upgrade() {
                if !session.has_connection(STANDALONE) {
                    session.close(CloseReason::Disconnected);
                }
            }
        });
    }

    fn count_lost(&self) {
        if let Some(legacy) = &self.legacy {
            legacy.lost.fetch_add(1, Ordering::Relaxed);
            legacy.lost_total.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn touch(&self) {
        if let Some(slots) = self.slots.upgrade() {
            self.last_active
                .store(slots.millis(Instant::now()), Ordering::Relaxed);
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

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub(crate) fn is_idle_since(&self, now: u64, idle: u64) -> bool {
        self.in_flight() == 0
            && now.saturating_sub(self.last_active.load(Ordering::Relaxed)) >= idle
    }

    pub(crate) fn missed_initialized(&self, now: u64, timeout: u64) -> bool {
        !self.initialized.load(Ordering::Acquire)
            && now.saturating_sub(self.opened_at.load(Ordering::Relaxed)) >= timeout
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Ends the session on this node: removes it from the registry, ends its streams, aborts
    /// its running handlers, fails the requests it awaits from the client, and drops its state.
    /// Returns false if it had already ended.
    pub(crate) fn close(&self, reason: CloseReason) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        // The registry's lock is never taken while holding the session's (a broadcast holds
        // the registry's while it locks sessions).
        if let Some(slots) = self.slots.upgrade() {
            slots.remove(self.slot);
        }
        let (streams, running) = {
            let mut state = self.state();
            state.pending.fail_all();
            let streams = state.streams.take_all();
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
        if self.record().is_some() {
            telemetry::session_closed(&self.id, self.transport(), reason);
            if let Some(hook) = &self.config.on_session_closed {
                hook(&SessionClosed {
                    id: self.id.clone(),
                    reason,
                    transport: self.transport(),
                });
            }
        }
        true
    }

    /// Fails every request waiting for the client's answer; how many there were.
    pub(crate) fn fail_pending(&self) -> usize {
        self.state().pending.fail_all()
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
    /// A legacy session is reached only once its `initialize` succeeded.
    pub(crate) fn send_unrelated_event(&self, event: &Bytes, at: Instant) -> Delivery {
        if self.legacy.is_some() && self.record().is_none() {
            return Delivery::Dropped;
        }
        self.send_on(STANDALONE, Outgoing::Shared(event), at, false, true)
    }

    fn send_on(
        &self,
        stream: u32,
        message: Outgoing<'_>,
        at: Instant,
        last: bool,
        create: bool,
    ) -> Delivery {
        if self.is_closed() {
            return Delivery::Dropped;
        }
        if self.legacy.is_some() {
            // One stream carries everything a legacy session receives.
            let (delivery, cut) = self.state().streams.send_legacy(message);
            if delivery == Delivery::Dropped {
                self.count_lost();
            }
            if let Some(cut) = cut {
                // Outside the lock: the reader was too slow, and cannot resume.
                cut.close(Bytes::new());
                self.legacy_stream_lost();
            }
            return delivery;
        }
        self.state()
            .streams
            .send(&self.config, stream, message, at.into_std(), last, create)
    }

    /// Records and sends one message on `stream`; `last` marks the request's answer, after which
    /// the stream ends. Never waits.
    pub(crate) fn stream_send(&self, stream: u32, json: &[u8], last: bool) -> Delivery {
        self.send_on(stream, Outgoing::Json(json), Instant::now(), last, false)
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
    ///
    /// A legacy session's stream stays open (its client cannot reconnect to it): the answers of
    /// calls that finish during the drain still reach it, and it ends with the session.
    pub(crate) fn close_connections(&self) -> usize {
        if self.legacy.is_some() {
            return 0;
        }
        let streams = self.state().streams.numbers();
        streams
            .into_iter()
            .filter(|s| self.close_connection(*s))
            .count()
    }

    /// The hook each connection's body runs when dropped: forget the connection.
    fn on_drop(self: &Arc<Self>) -> impl Fn(u32, u64) -> DropHook {
        let weak = Arc::downgrade(self);
        move |stream, conn| {
            let weak = weak.clone();
            Box::new(move || {
                if let Some(session) = weak.upgrade() {
                    session.detach(stream, conn);
                }
            })
        }
    }

    /// Opens the SSE stream that answers one POST speaking `version`. `buffered` holds the
    /// related messages the handler sent before the reply took its form.
    pub(crate) fn open_request_stream(
        self: &Arc<Self>,
        request: Option<RequestId>,
        buffered: Vec<Bytes>,
        version: ProtocolVersion,
    ) -> (u32, SseBody) {
        let on_drop = self.on_drop();
        let opened = self.state().streams.open_request_stream(
            &self.config,
            &on_drop,
            request,
            buffered,
            version,
        );
        if self.config.polling == super::config::PollingPolicy::AfterPriming {
            self.poll_close(opened.0);
        }
        let (stream, body) = opened;
        let watch = StreamWatch::open(StreamKind::Post, Some(&self.id), false);
        (stream, body.watched(watch))
    }

    /// SEP-1699: closes the stream's connection (after what is queued, the priming event
    /// included) without ending the stream, if its client speaks 2025-11-25 or later. Older
    /// clients do not expect it, so their connections stay open: returns false.
    pub(crate) fn poll_close(&self, stream: u32) -> bool {
        let polls = self.state().streams.polls(stream);
        polls && self.close_connection(stream)
    }

    /// Ends a stream without an answer (the request was cancelled).
    pub(crate) fn abandon_stream(&self, stream: u32) {
        let conn = self.state().streams.abandon(stream);
        drop(conn);
    }

    /// Closes the stream's current connection without ending the stream (SEP-1699 polling):
    /// the client reconnects after the `retry:` hint and resumes with `Last-Event-ID`.
    pub(crate) fn close_connection(&self, stream: u32) -> bool {
        let conn = self.state().streams.take_connection(stream);
        match conn {
            Some(conn) => {
                conn.close(retry_hint(&self.config));
                true
            }
            None => false,
        }
    }

    /// A connection's body was dropped: forget the connection if it is still the current one.
    fn detach(self: &Arc<Self>, stream: u32, conn: u64) {
        let (detached, request) = self.state().streams.detach(stream, conn);
        drop(detached);
        self.touch();
        if self.legacy.is_some() && !self.is_closed() && !self.has_connection(STANDALONE) {
            self.legacy_stream_lost();
        }
        if let (Some(request), Some(grace)) = (request, self.config.disconnect_grace) {
            self.cancel_if_not_resumed(stream, request, grace);
        }
    }

    /// Whether any stream of the session has a live connection.
    pub(crate) fn has_any_connection(&self) -> bool {
        self.state().streams.has_any_connection()
    }

    /// Whether `stream` has a live connection.
    pub(crate) fn has_connection(&self, stream: u32) -> bool {
        self.state().streams.has_connection(stream)
    }

    /// Opens the standalone stream for a GET without `Last-Event-ID`; a newer connection takes
    /// over from an older one, which is ended.
    pub(crate) fn attach_standalone(self: &Arc<Self>, version: ProtocolVersion) -> SseBody {
        let on_drop = self.on_drop();
        let (body, older) = self
            .state()
            .streams
            .attach_standalone(&self.config, &on_drop, version);
        end_older(older);
        body.watched(StreamWatch::open(StreamKind::Get, Some(&self.id), false))
    }

    /// Resumes a stream after `last_event_id` (see [`Streams::resume`]).
    pub(crate) fn resume(
        self: &Arc<Self>,
        last_event_id: &[u8],
        version: ProtocolVersion,
    ) -> Result<SseBody, ResumeError> {
        let on_drop = self.on_drop();
        let resumed = self
            .state()
            .streams
            .resume(&self.config, &on_drop, last_event_id, version);
        let (body, older, stream) = resumed?;
        end_older(older);
        let kind = if stream == STANDALONE {
            StreamKind::Get
        } else {
            StreamKind::Post
        };
        Ok(body.watched(StreamWatch::open(kind, Some(&self.id), true)))
    }
}

/// Parses JSON text kept in a record (it was JSON when stored).
fn parse(text: Option<&str>) -> Option<Value> {
    serde_json::from_str(text?).ok()
}

/// Ends a connection that a newer one took over from, outside the session's lock (dropping its
/// body runs a hook that takes the lock).
fn end_older(older: Option<Conn>) {
    if let Some(older) = older {
        older.close(Bytes::new());
    }
}

/// Marks requests in flight for their session.
pub(crate) struct InFlight {
    session: Arc<LiveSession>,
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
            if let Some(slots) = self.session.slots.upgrade() {
                slots.idle.notify_waiters();
            }
        }
    }
}

/// Removes the waiting entry and tells the client to stop, unless the answer came.
struct CancelOnDrop<'a> {
    session: &'a LiveSession,
    id: i64,
    send: &'a (dyn Fn(&[u8]) -> Delivery + Send + Sync),
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let removed = self.session.state().pending.take(self.id).is_some();
        if removed {
            let params =
                json!({ "requestId": self.id, "reason": "the server no longer needs the answer" });
            (self.send)(&outgoing_bytes(
                None,
                "notifications/cancelled",
                Some(&params),
            ));
        }
    }
}

impl LiveSession {
    /// Sends `method` to the client through `send` and waits for its answer.
    pub(crate) async fn request_client(
        &self,
        method: &str,
        params: Option<Value>,
        options: RequestOptions,
        send: &(dyn Fn(&[u8]) -> Delivery + Send + Sync),
    ) -> Result<Value, ClientRequestError> {
        if let Some(capability) = required_capability(method) {
            let declared = self
                .client_capabilities()
                .and_then(|c| c.get(capability).cloned())
                .is_some_and(|c| !c.is_null());
            if !declared {
                return Err(ClientRequestError::CapabilityMissing {
                    method: method.to_owned(),
                    capability,
                });
            }
        }
        if self.is_closed() {
            return Err(ClientRequestError::SessionClosed);
        }
        let (id, rx, progress) = self
            .state()
            .pending
            .insert(self.config.max_pending_requests)
            .ok_or(ClientRequestError::TooManyPending)?;
        let mut params = params.unwrap_or_else(|| json!({}));
        if options.max_total.is_some() {
            if let Some(obj) = params.as_object_mut() {
                let meta = obj.entry("_meta").or_insert_with(|| json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("progressToken".into(), json!(id));
                }
            }
        }
        let mut guard = CancelOnDrop {
            session: self,
            id,
            send,
            armed: true,
        };
        let request = outgoing_bytes(Some(&RequestId::Number(id)), method, Some(&params));
        if send(&request) == Delivery::Dropped {
            guard.armed = false;
            self.state().pending.take(id);
            return Err(if self.is_closed() {
                ClientRequestError::SessionClosed
            } else {
                ClientRequestError::Undeliverable
            });
        }

        let timeout = options
            .timeout
            .unwrap_or(self.config.client_request_timeout);
        let start = Instant::now();
        let hard_stop = options.max_total.map(|max| time::deadline(start, max));
        let mut deadline = time::deadline(start, timeout);
        let mut rx = rx;
        loop {
            let cap = hard_stop.map_or(deadline, |h| deadline.min(h));
            tokio::select! {
                answer = &mut rx => {
                    guard.armed = false;
                    return match answer {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(error)) => Err(ClientRequestError::Client(error)),
                        Err(_) => Err(ClientRequestError::SessionClosed),
                    };
                }
                () = progress.notified(), if hard_stop.is_some() => {
                    deadline = time::deadline(Instant::now(), timeout);
                }
                () = tokio::time::sleep_until(cap) => {
                    // The guard removes the entry and sends notifications/cancelled.
                    drop(guard);
                    telemetry::client_request_timeout(&self.id, method, start.elapsed());
                    return Err(ClientRequestError::Timeout(start.elapsed()));
                }
            }
        }
    }

    /// The client answered request `id`. Returns false for an id nobody waits for.
    pub(crate) fn complete_client_request(&self, id: &RequestId, answer: Answer) -> bool {
        let RequestId::Number(n) = id else {
            return false;
        };
        let waiting = self.state().pending.take(*n);
        match waiting {
            Some(w) => w.tx.send(answer).is_ok(),
            None => false,
        }
    }

    /// The client reported progress on one of our requests: restart its timeout.
    pub(crate) fn client_progress(&self, token: &Value) {
        if let Some(id) = token.as_i64() {
            if let Some(w) = self.state().pending.get(id) {
                w.progress.notify_one();
            }
        }
    }
}
