//! The SSE streams of one session: event ids, the live connection of each stream, priming,
//! replay on `Last-Event-ID`, and what happens when a reader is too slow.
//!
//! Stream 0 is the standalone (GET) stream; every POST answered with SSE opens a new one. An
//! event is numbered and recorded in the replay log when it is *produced*; it is written to the
//! stream's connection if one is attached. A connection that cannot keep up is closed (after a
//! `retry:` hint) and the client resumes from the log, so nothing is lost and nothing blocks.
//!
//! [`Streams`] is plain node-local state: the live session keeps it under its lock and hands
//! each method the configuration and a way to learn when a connection's body is dropped.

use std::time::Instant;

use bytes::Bytes;

use super::config::{PollingPolicy, SessionConfig};
use super::delivery::Delivery;
use super::id::{b64_decode, b64_encode_array, secrets_match};
use super::replay::{Replay, SessionEventLog};
use super::stream_map::{StreamMap, STANDALONE};
use crate::jsonrpc::RequestId;
use crate::protocol::ProtocolVersion;
use crate::sse::{
    channel, message_event, DropHook, Event, Queued, Refused, SseBody, SseSender, EVENT_ID_LEN,
    ID_LINE_LEN,
};
use crate::telemetry::{self, StreamKind};

/// Finished request streams a session keeps for late resumption (the log's age bound applies
/// too); older ones are forgotten.
const FINISHED_STREAMS_KEPT: usize = 16;

/// Raw event id: session tag (8) + stream (4) + sequence (6) = 18 bytes → 24 characters.
const EVENT_ID_RAW: usize = 18;
const _: () = assert!(EVENT_ID_RAW / 3 * 4 == EVENT_ID_LEN);

/// An event id, on the stack.
struct EventId([u8; EVENT_ID_LEN]);

impl EventId {
    fn as_str(&self) -> &str {
        // Base64url: ASCII only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A message to record and send on one stream.
#[derive(Clone, Copy)]
pub(crate) enum Outgoing<'a> {
    /// JSON for this session only: encoded once, with its id; the log keeps the bytes after
    /// the id line.
    Json(&'a [u8]),
    /// An event encoded once for many sessions (a broadcast), without an id line: the stream
    /// queues its id beside it.
    Shared(&'a Bytes),
}

/// Per-stream delivery state (the events themselves live in the replay log).
/// `repr(C)`, like the session: what a send touches comes first, the request id last.
#[derive(Default)]
#[repr(C)]
pub(crate) struct StreamState {
    next_seq: u64,
    /// Highest sequence number handed to a connection.
    delivered: u64,
    conn: Option<Conn>,
    /// The request's answer was produced: nothing follows.
    done: bool,
    /// Whether the client of this stream speaks 2025-11-25 or later (by the version of the
    /// request that opened or resumed it): only such clients get priming events and
    /// server-side closes (SEP-1699).
    polls: bool,
    /// The request this stream answers (POST streams), for cancellation.
    request: Option<RequestId>,
}

/// The connection currently attached to a stream.
pub(crate) struct Conn {
    id: u64,
    tx: SseSender,
}

impl Conn {
    /// Ends the connection after what is queued, writing `last` (a `retry:` hint, or nothing).
    pub(crate) fn close(self, last: Bytes) {
        self.tx.close(last);
    }
}

/// Why a `Last-Event-ID` cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResumeError {
    /// Not an id this server made, or made for another session.
    Malformed,
    /// The events after the cursor are no longer kept, or the stream is forgotten.
    Gone,
}

/// Makes the hook a connection's body runs when it is dropped, from the stream and connection
/// ids: the session forgets the connection then (and may cancel its request).
pub(crate) type OnDrop<'a> = &'a dyn Fn(u32, u64) -> DropHook;

/// Every stream of a session, with its replay log.
///
/// `repr(C)`: the log and the tag first, then the standalone stream (what a broadcast touches).
#[repr(C)]
pub(crate) struct Streams {
    log: Box<dyn SessionEventLog>,
    /// Random tag in every event id, so one session's ids mean nothing to another.
    tag: [u8; 8],
    map: StreamMap<StreamState>,
    next_stream: u32,
    next_conn: u64,
}

impl Streams {
    pub(crate) fn new(log: Box<dyn SessionEventLog>, tag: [u8; 8]) -> Self {
        Self {
            log,
            tag,
            map: StreamMap::default(),
            next_stream: 0,
            next_conn: 0,
        }
    }

    /// The random tag in every event id of the session.
    pub(crate) fn tag(&self) -> [u8; 8] {
        self.tag
    }

    fn event_id(&self, stream: u32, seq: u64) -> EventId {
        event_id(&self.tag, stream, seq)
    }

    fn parse_event_id(&self, text: &[u8]) -> Option<(u32, u64)> {
        let raw: [u8; EVENT_ID_RAW] = b64_decode(text)?;
        if !secrets_match(&raw[..8], &self.tag) {
            return None;
        }
        let stream = u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
        let mut seq = [0u8; 8];
        seq[2..].copy_from_slice(&raw[12..]);
        Some((stream, u64::from_be_bytes(seq)))
    }

    /// Encodes `json` as event `seq` of `stream`: the frame to write, and for the log the same
    /// bytes after the id line (one allocation for both).
    fn encode(&self, stream: u32, seq: u64, json: &[u8]) -> (Bytes, Bytes) {
        let frame = message_event(Some(self.event_id(stream, seq).as_str()), json);
        let kept = frame.slice(ID_LINE_LEN..);
        (frame, kept)
    }

    /// Event `seq` of `stream` whose bytes (without an id line) are shared, as queued.
    fn tagged(&self, stream: u32, seq: u64, event: Bytes) -> Queued {
        Queued::Tagged {
            id: self.event_id(stream, seq).0,
            event,
        }
    }

    /// A new connection for `stream`: its channel, the body (with keep-alive and the hook that
    /// detaches it when the client goes away), and its id.
    fn connect(
        &mut self,
        config: &SessionConfig,
        on_drop: OnDrop<'_>,
        stream: u32,
        queued: usize,
        polls: bool,
    ) -> (SseSender, SseBody, u64) {
        let (tx, mut body) = channel(config.stream_capacity.max(queued + 2));
        if let Some(interval) = config.keep_alive {
            body = body.keep_alive(interval);
        }
        if let (PollingPolicy::After(open_for), true) = (config.polling, polls) {
            body = body.close_after(open_for, retry_hint(config));
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        let body = body.on_drop(on_drop(stream, conn));
        (tx, body, conn)
    }

    /// Writes a priming event (an id and empty data, plus `retry:`) on protocol versions that
    /// expect one, so the client holds a cursor before anything else arrives.
    ///
    /// `before`: the sequence number of the first event queued after the priming event, if it
    /// is an older one (messages waiting for the standalone stream). The priming id then points
    /// just before it, so a client that resumes from the priming id still gets them; otherwise
    /// the priming event takes a new number.
    fn prime(
        &self,
        config: &SessionConfig,
        state: &mut StreamState,
        stream: u32,
        tx: &SseSender,
        before: Option<u64>,
    ) {
        if !state.polls {
            return;
        }
        let seq = match before {
            Some(first) => first.saturating_sub(1),
            None => {
                state.next_seq += 1;
                state.next_seq
            }
        };
        let event = Event::new()
            .id(self.event_id(stream, seq).as_str())
            .map(|e| e.retry(config.retry_interval).data("").finish());
        if let Ok(event) = event {
            let _ = tx.try_send(event);
            state.delivered = state.delivered.max(seq);
        }
    }

    /// Opens the SSE stream that answers one POST speaking `version`. `buffered` holds the
    /// related messages the handler sent before the reply took its form.
    pub(crate) fn open_request_stream(
        &mut self,
        config: &SessionConfig,
        on_drop: OnDrop<'_>,
        request: Option<RequestId>,
        buffered: Vec<Bytes>,
        version: ProtocolVersion,
    ) -> (u32, SseBody) {
        let polls = version.primes_streams();
        self.prune(FINISHED_STREAMS_KEPT);
        // Stream 0 is the standalone stream: request streams count from 1.
        self.next_stream += 1;
        let stream = self.next_stream;
        let (tx, body, conn) = self.connect(config, on_drop, stream, buffered.len(), polls);
        let mut st = StreamState {
            request,
            polls,
            ..StreamState::default()
        };
        self.prime(config, &mut st, stream, &tx, None);
        let now = tokio::time::Instant::now().into_std();
        for json in buffered {
            st.next_seq += 1;
            let (frame, kept) = self.encode(stream, st.next_seq, &json);
            self.log.record(stream, st.next_seq, kept, now);
            // The channel has room for everything buffered.
            let _ = tx.try_queue(Queued::Whole(frame));
            st.delivered = st.next_seq;
        }
        st.conn = Some(Conn { id: conn, tx });
        self.map.insert(stream, st);
        (stream, body)
    }

    /// Whether the client of `stream` expects server-side closes (SEP-1699).
    pub(crate) fn polls(&self, stream: u32) -> bool {
        self.map.get(&stream).is_some_and(|st| st.polls)
    }

    /// Records `message`, produced `at`, on `stream`, and sends it to the stream's connection
    /// if one is attached; `last` marks the request's answer, after which the stream ends.
    /// With `create`, a stream not known yet is created (the standalone stream, before its
    /// first GET). Never waits.
    pub(crate) fn send(
        &mut self,
        config: &SessionConfig,
        stream: u32,
        message: Outgoing<'_>,
        at: Instant,
        last: bool,
        create: bool,
    ) -> Delivery {
        let tag = self.tag;
        let st = if create {
            self.map.get_or_default(stream)
        } else {
            let Some(st) = self.map.get_mut(&stream) else {
                return Delivery::Dropped;
            };
            st
        };
        if st.done {
            return Delivery::Dropped;
        }
        if stream == STANDALONE && st.conn.is_none() {
            let waiting =
                usize::try_from(st.next_seq.saturating_sub(st.delivered)).unwrap_or(usize::MAX);
            if waiting >= config.max_queued_events {
                return Delivery::Dropped;
            }
        }
        st.next_seq += 1;
        let seq = st.next_seq;
        let (queued, kept) = match message {
            Outgoing::Json(json) => {
                let frame = message_event(Some(event_id(&tag, stream, seq).as_str()), json);
                let kept = frame.slice(ID_LINE_LEN..);
                (Queued::Whole(frame), kept)
            }
            Outgoing::Shared(event) => (
                Queued::Tagged {
                    id: event_id(&tag, stream, seq).0,
                    event: event.clone(),
                },
                event.clone(),
            ),
        };
        self.log.record(stream, seq, kept, at);
        st.done = last;
        let sent = st.conn.as_ref().map(|c| c.tx.try_queue(queued));
        let delivery = match sent {
            Some(Ok(())) => {
                st.delivered = seq;
                Delivery::Sent
            }
            Some(Err(Refused::Full)) => {
                // Too slow a reader: end its connection with a retry hint; it resumes from the
                // log and gets this event then.
                let kind = if stream == STANDALONE {
                    StreamKind::Get
                } else {
                    StreamKind::Post
                };
                telemetry::slow_consumer(kind, None);
                if let Some(conn) = st.conn.take() {
                    conn.close(retry_hint(config));
                }
                Delivery::Queued
            }
            Some(Err(Refused::Closed)) => {
                st.conn = None;
                Delivery::Queued
            }
            None => Delivery::Queued,
        };
        if last {
            // Dropping the sender ends the body once the answer is written.
            st.conn = None;
        }
        delivery
    }

    /// Ends a stream without an answer (the request was cancelled): its connection, to drop
    /// outside the session's lock.
    pub(crate) fn abandon(&mut self, stream: u32) -> Option<Conn> {
        let st = self.map.get_mut(&stream)?;
        st.done = true;
        st.conn.take()
    }

    /// Detaches the stream's current connection without ending the stream, to close outside
    /// the session's lock.
    pub(crate) fn take_connection(&mut self, stream: u32) -> Option<Conn> {
        self.map.get_mut(&stream).and_then(|st| st.conn.take())
    }

    /// A connection's body was dropped: forgets the connection if it is still the stream's
    /// current one. Returns it (to drop outside the lock) and, for a request stream whose
    /// answer is not written yet, the request it answers.
    pub(crate) fn detach(&mut self, stream: u32, conn: u64) -> (Option<Conn>, Option<RequestId>) {
        match self.map.get_mut(&stream) {
            Some(st) if st.conn.as_ref().is_some_and(|c| c.id == conn) => {
                let request = (!st.done).then(|| st.request.clone()).flatten();
                (st.conn.take(), request)
            }
            _ => (None, None),
        }
    }

    /// Whether any stream has a live connection.
    pub(crate) fn has_any_connection(&self) -> bool {
        self.map
            .values()
            .any(|st| st.conn.as_ref().is_some_and(|c| !c.tx.is_closed()))
    }

    /// Whether `stream` has a live connection.
    pub(crate) fn has_connection(&self, stream: u32) -> bool {
        self.map
            .get(&stream)
            .and_then(|st| st.conn.as_ref())
            .is_some_and(|c| !c.tx.is_closed())
    }

    /// Every stream number.
    pub(crate) fn numbers(&self) -> Vec<u32> {
        self.map.keys().copied().collect()
    }

    /// Takes every stream's state (the session is closing): dropping it ends the connections.
    pub(crate) fn take_all(&mut self) -> StreamMap<StreamState> {
        std::mem::take(&mut self.map)
    }

    /// Opens the standalone stream for a GET without `Last-Event-ID`. A session has one: the new
    /// connection takes over, and the older one is returned to be ended outside the lock.
    /// Messages that never reached any connection are written first.
    pub(crate) fn attach_standalone(
        &mut self,
        config: &SessionConfig,
        on_drop: OnDrop<'_>,
        version: ProtocolVersion,
    ) -> (SseBody, Option<Conn>) {
        let polls = version.primes_streams();
        let delivered = self.map.get_or_default(STANDALONE).delivered;
        // A fresh connection gets every message no connection took yet, or those of them the
        // log still keeps.
        let pending = match self.log.replay(STANDALONE, delivered) {
            Replay::Events(events) | Replay::Expired(events) => events,
            Replay::Unknown => Vec::new(),
        };
        let (tx, body, conn) = self.connect(config, on_drop, STANDALONE, pending.len(), polls);
        let mut st = self.map.remove(&STANDALONE).unwrap_or_default();
        st.polls = polls;
        self.prime(
            config,
            &mut st,
            STANDALONE,
            &tx,
            pending.first().map(|(seq, _)| *seq),
        );
        for (seq, event) in pending {
            let _ = tx.try_queue(self.tagged(STANDALONE, seq, event));
        }
        st.delivered = st.next_seq;
        let older = st.conn.replace(Conn { id: conn, tx });
        self.map.insert(STANDALONE, st);
        (body, older)
    }

    /// Attaches the stream of a legacy (2024-11-05) session, as stream 0: `first` (its
    /// `endpoint` event) goes out at once. A connection already attached is returned, to be
    /// ended outside the lock: the newer one takes over.
    pub(crate) fn attach_legacy(
        &mut self,
        config: &SessionConfig,
        on_drop: OnDrop<'_>,
        first: Bytes,
    ) -> (SseBody, Option<Conn>) {
        let (tx, body, conn) = self.connect(config, on_drop, STANDALONE, 1, false);
        // A fresh channel has room for one event.
        let _ = tx.try_send(first);
        let st = self.map.get_or_default(STANDALONE);
        let older = st.conn.replace(Conn { id: conn, tx });
        (body, older)
    }

    /// Sends one message on a legacy session's stream, as `event: message` without an id.
    /// Nothing is recorded: a legacy client cannot resume, so what its connection cannot take
    /// is lost (`Dropped`). A reader too slow to keep `stream_capacity` events is cut off: its
    /// connection is returned, to be closed outside the lock.
    pub(crate) fn send_legacy(&mut self, message: Outgoing<'_>) -> (Delivery, Option<Conn>) {
        let Some(st) = self.map.get_mut(&STANDALONE) else {
            return (Delivery::Dropped, None);
        };
        let Some(conn) = st.conn.as_ref() else {
            return (Delivery::Dropped, None);
        };
        let queued = match message {
            Outgoing::Json(json) => Queued::Whole(message_event(None, json)),
            // A broadcast's event has no id line: it is written as it is.
            Outgoing::Shared(event) => Queued::Whole(event.clone()),
        };
        match conn.tx.try_queue(queued) {
            Ok(()) => (Delivery::Sent, None),
            Err(Refused::Full) => {
                telemetry::slow_consumer(StreamKind::Legacy, None);
                (Delivery::Dropped, st.conn.take())
            }
            Err(Refused::Closed) => {
                st.conn = None;
                (Delivery::Dropped, None)
            }
        }
    }

    /// Resumes a stream after `last_event_id`: replays what followed on that stream only, then
    /// continues it live (or ends, if its answer was already produced). A live connection of
    /// that stream is returned, to be ended outside the lock.
    pub(crate) fn resume(
        &mut self,
        config: &SessionConfig,
        on_drop: OnDrop<'_>,
        last_event_id: &[u8],
        version: ProtocolVersion,
    ) -> Result<(SseBody, Option<Conn>, u32), ResumeError> {
        let polls = version.primes_streams();
        let (stream, after) = self
            .parse_event_id(last_event_id)
            .ok_or(ResumeError::Malformed)?;
        match self.map.get(&stream) {
            None => {
                telemetry::replay_miss();
                return Err(ResumeError::Gone);
            }
            Some(st) if after > st.next_seq => return Err(ResumeError::Malformed),
            Some(_) => {}
        }
        let events = match self.log.replay(stream, after) {
            Replay::Events(events) => events,
            // Nothing was ever recorded (only a priming event went out): nothing to replay.
            Replay::Unknown => Vec::new(),
            Replay::Expired(_) => {
                telemetry::replay_miss();
                return Err(ResumeError::Gone);
            }
        };
        let (tx, body, conn) = self.connect(config, on_drop, stream, events.len(), polls);
        for (seq, event) in events {
            let _ = tx.try_queue(self.tagged(stream, seq, event));
        }
        let st = self.map.get_or_default(stream);
        st.polls = polls;
        st.delivered = st.next_seq;
        let older = if st.done {
            // Dropping `tx` ends this connection once the replay is written.
            st.conn.take()
        } else {
            st.conn.replace(Conn { id: conn, tx })
        };
        Ok((body, older, stream))
    }

    /// Forgets finished request streams beyond the newest `keep`.
    fn prune(&mut self, keep: usize) {
        let mut done: Vec<u32> = self
            .map
            .iter()
            .filter(|(k, st)| **k != STANDALONE && st.done && st.conn.is_none())
            .map(|(k, _)| *k)
            .collect();
        if done.len() <= keep {
            return;
        }
        done.sort_unstable();
        for stream in &done[..done.len() - keep] {
            self.map.remove(stream);
            self.log.forget(*stream);
        }
    }
}

/// The id of event `seq` of `stream`, in the session tagged `tag`.
fn event_id(tag: &[u8; 8], stream: u32, seq: u64) -> EventId {
    let mut raw = [0u8; EVENT_ID_RAW];
    raw[..8].copy_from_slice(tag);
    raw[8..12].copy_from_slice(&stream.to_be_bytes());
    raw[12..].copy_from_slice(&seq.to_be_bytes()[2..]);
    EventId(b64_encode_array(&raw))
}

/// The `retry:` event written before the server closes a connection on purpose.
pub(crate) fn retry_hint(config: &SessionConfig) -> Bytes {
    Event::new().retry(config.retry_interval).finish()
}
