//! The SSE streams of a session: event ids, the live connection of each stream, priming,
//! replay on `Last-Event-ID`, and what happens when a reader is too slow.
//!
//! Stream 0 is the standalone (GET) stream; every POST answered with SSE opens a new one. An
//! event is numbered and recorded in the replay log when it is *produced*; it is written to the
//! stream's connection if one is attached. A connection that cannot keep up is closed (after a
//! `retry:` hint) and the client resumes from the log, so nothing is lost and nothing blocks.

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use super::id::{b64_decode, b64_encode_array, secrets_match};
use super::replay::Replay;
use super::{Delivery, SessionInner};
use crate::jsonrpc::RequestId;
use crate::layer::PollingPolicy;
use crate::protocol::ProtocolVersion;
use crate::sse::{
    channel, message_event, Event, Queued, Refused, SseBody, SseSender, EVENT_ID_LEN, ID_LINE_LEN,
};

pub(crate) const STANDALONE: u32 = 0;

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
pub(super) enum Outgoing<'a> {
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
pub(super) struct StreamState {
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
    pub(super) request: Option<RequestId>,
}

struct Conn {
    id: u64,
    tx: SseSender,
}

/// A map keyed by stream number. Stream 0, the standalone stream (the one a broadcast
/// reaches), lives inline, so reaching it touches no other allocation. The others sit in a
/// vector searched in order: a session has a few (the request streams still open or kept for
/// resumption), so a scan is as fast as hashing, and one slot (~70 B) costs less than a hash
/// table's first four (~300 B).
#[repr(C)]
pub(super) struct StreamMap<V> {
    standalone: Option<V>,
    entries: Vec<(u32, V)>,
}

impl<V> Default for StreamMap<V> {
    fn default() -> Self {
        Self {
            standalone: None,
            entries: Vec::new(),
        }
    }
}

impl<V> StreamMap<V> {
    pub(super) fn get(&self, stream: &u32) -> Option<&V> {
        if *stream == STANDALONE {
            return self.standalone.as_ref();
        }
        self.entries
            .iter()
            .find(|(k, _)| k == stream)
            .map(|(_, v)| v)
    }

    pub(super) fn get_mut(&mut self, stream: &u32) -> Option<&mut V> {
        if *stream == STANDALONE {
            return self.standalone.as_mut();
        }
        self.entries
            .iter_mut()
            .find(|(k, _)| k == stream)
            .map(|(_, v)| v)
    }

    /// The value of `stream`, inserted with `V::default()` first if there is none.
    pub(super) fn get_or_default(&mut self, stream: u32) -> &mut V
    where
        V: Default,
    {
        if stream == STANDALONE {
            return self.standalone.get_or_insert_with(V::default);
        }
        let i = match self.entries.iter().position(|(k, _)| *k == stream) {
            Some(i) => i,
            None => {
                self.push(stream, V::default());
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }

    pub(super) fn insert(&mut self, stream: u32, value: V) -> Option<V> {
        match self.get_mut(&stream) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None if stream == STANDALONE => self.standalone.replace(value),
            None => {
                self.push(stream, value);
                None
            }
        }
    }

    fn push(&mut self, stream: u32, value: V) {
        let len = self.entries.len();
        if len == self.entries.capacity() {
            // One slot at a time while small (most sessions have one or two streams), then
            // doubling.
            self.entries.reserve_exact(if len < 4 { 1 } else { len });
        }
        self.entries.push((stream, value));
    }

    pub(super) fn remove(&mut self, stream: &u32) -> Option<V> {
        if *stream == STANDALONE {
            return self.standalone.take();
        }
        let i = self.entries.iter().position(|(k, _)| k == stream)?;
        Some(self.entries.swap_remove(i).1)
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &u32> {
        self.iter().map(|(k, _)| k)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&u32, &V)> {
        const STANDALONE_KEY: &u32 = &STANDALONE;
        self.standalone
            .iter()
            .map(|v| (STANDALONE_KEY, v))
            .chain(self.entries.iter().map(|(k, v)| (k, v)))
    }
}

/// Where a stream stands, for the session's bookkeeping.
#[derive(Default)]
#[repr(C)]
pub(super) struct Streams {
    pub(super) map: StreamMap<StreamState>,
    next_stream: u32,
    next_conn: u64,
}

/// Why a `Last-Event-ID` cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResumeError {
    /// Not an id this server made, or made for another session.
    Malformed,
    /// The events after the cursor are no longer kept, or the stream is forgotten.
    Gone,
}

impl SessionInner {
    fn event_id(&self, stream: u32, seq: u64) -> EventId {
        let mut raw = [0u8; EVENT_ID_RAW];
        raw[..8].copy_from_slice(&self.event_tag);
        raw[8..12].copy_from_slice(&stream.to_be_bytes());
        raw[12..].copy_from_slice(&seq.to_be_bytes()[2..]);
        EventId(b64_encode_array(&raw))
    }

    fn parse_event_id(&self, text: &[u8]) -> Option<(u32, u64)> {
        let raw: [u8; EVENT_ID_RAW] = b64_decode(text)?;
        if !secrets_match(&raw[..8], &self.event_tag) {
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

    /// The `retry:` event written before the server closes a connection on purpose.
    fn retry_hint(&self) -> Bytes {
        Event::new().retry(self.config.retry_interval).finish()
    }

    /// A new connection for `stream`: its channel, the body (with keep-alive and a hook that
    /// detaches it when the client goes away), and its id.
    fn connect(
        self: &Arc<Self>,
        streams: &mut Streams,
        stream: u32,
        queued: usize,
        polls: bool,
    ) -> (SseSender, SseBody, u64) {
        let (tx, mut body) = channel(self.config.stream_capacity.max(queued + 2));
        if let Some(interval) = self.config.keep_alive {
            body = body.keep_alive(interval);
        }
        if let (PollingPolicy::After(open_for), true) = (self.config.polling, polls) {
            body = body.close_after(open_for, self.retry_hint());
        }
        let conn = streams.next_conn;
        streams.next_conn += 1;
        let weak = Arc::downgrade(self);
        let body = body.on_drop(move || {
            if let Some(session) = weak.upgrade() {
                session.detach(stream, conn);
            }
        });
        (tx, body, conn)
    }

    /// Writes a priming event (an id and empty data, plus `retry:`) on protocol versions that
    /// expect one, so the client holds a cursor before anything else arrives.
    ///
    /// `before`: the sequence number of the first event queued after the priming event, if it
    /// is an older one (messages waiting for the standalone stream). The priming id then points
    /// just before it, so a client that resumes from the priming id still gets them; otherwise
    /// the priming event takes a new number.
    fn prime(&self, state: &mut StreamState, stream: u32, tx: &SseSender, before: Option<u64>) {
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
            .map(|e| e.retry(self.config.retry_interval).data("").finish());
        if let Ok(event) = event {
            let _ = tx.try_send(event);
            state.delivered = state.delivered.max(seq);
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
        let polls = version.primes_streams();
        let mut guard = self.state();
        let state = &mut *guard;
        Self::prune_streams(state, FINISHED_STREAMS_KEPT);
        let streams = &mut state.streams;
        // Stream 0 is the standalone stream: request streams count from 1.
        streams.next_stream += 1;
        let stream = streams.next_stream;
        let (tx, body, conn) = self.connect(streams, stream, buffered.len(), polls);
        let mut st = StreamState {
            request,
            polls,
            ..StreamState::default()
        };
        self.prime(&mut st, stream, &tx, None);
        let now = Instant::now();
        for json in buffered {
            st.next_seq += 1;
            let (frame, kept) = self.encode(stream, st.next_seq, &json);
            state.log.record(stream, st.next_seq, kept, now);
            // The channel has room for everything buffered.
            let _ = tx.try_queue(Queued::Whole(frame));
            st.delivered = st.next_seq;
        }
        st.conn = Some(Conn { id: conn, tx });
        streams.map.insert(stream, st);
        drop(guard);
        if self.config.polling == PollingPolicy::AfterPriming {
            self.poll_close(stream);
        }
        (stream, body)
    }

    /// SEP-1699: closes the stream's connection (after what is queued, the priming event
    /// included) without ending the stream, if its client speaks 2025-11-25 or later. Older
    /// clients do not expect it, so their connections stay open: returns false.
    pub(crate) fn poll_close(&self, stream: u32) -> bool {
        let polls = self
            .state()
            .streams
            .map
            .get(&stream)
            .is_some_and(|st| st.polls);
        polls && self.close_connection(stream)
    }

    /// Records and sends one message on `stream`; `last` marks the request's answer, after which
    /// the stream ends. Never waits.
    pub(crate) fn stream_send(&self, stream: u32, json: &[u8], last: bool) -> Delivery {
        self.send_on(stream, Outgoing::Json(json), Instant::now(), last, false)
    }

    /// Records and sends `message`, produced `at`, on `stream`. With `create`, a stream not
    /// known yet is created (the standalone stream, before its first GET), under the same
    /// lock.
    pub(super) fn send_on(
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
        let mut guard = self.state();
        let state = &mut *guard;
        let st = if create {
            state.streams.map.get_or_default(stream)
        } else {
            let Some(st) = state.streams.map.get_mut(&stream) else {
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
            if waiting >= self.config.max_queued_events {
                return Delivery::Dropped;
            }
        }
        st.next_seq += 1;
        let seq = st.next_seq;
        let (queued, kept) = match message {
            Outgoing::Json(json) => {
                let (frame, kept) = self.encode(stream, seq, json);
                (Queued::Whole(frame), kept)
            }
            Outgoing::Shared(event) => (self.tagged(stream, seq, event.clone()), event.clone()),
        };
        state.log.record(stream, seq, kept, at);
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
                if let Some(conn) = st.conn.take() {
                    conn.tx.close(self.retry_hint());
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

    /// Ends a stream without an answer (the request was cancelled).
    pub(crate) fn abandon_stream(&self, stream: u32) {
        let conn = {
            let mut state = self.state();
            match state.streams.map.get_mut(&stream) {
                Some(st) => {
                    st.done = true;
                    st.conn.take()
                }
                None => None,
            }
        };
        drop(conn);
    }

    /// Closes the stream's current connection without ending the stream (SEP-1699 polling):
    /// the client reconnects after the `retry:` hint and resumes with `Last-Event-ID`.
    pub(crate) fn close_connection(&self, stream: u32) -> bool {
        let conn = {
            let mut state = self.state();
            state
                .streams
                .map
                .get_mut(&stream)
                .and_then(|st| st.conn.take())
        };
        match conn {
            Some(conn) => {
                conn.tx.close(self.retry_hint());
                true
            }
            None => false,
        }
    }

    /// A connection's body was dropped: forget the connection if it is still the current one.
    fn detach(self: &Arc<Self>, stream: u32, conn: u64) {
        let (detached, request) = {
            let mut state = self.state();
            match state.streams.map.get_mut(&stream) {
                Some(st) if st.conn.as_ref().is_some_and(|c| c.id == conn) => {
                    let request = (!st.done).then(|| st.request.clone()).flatten();
                    (st.conn.take(), request)
                }
                _ => (None, None),
            }
        };
        drop(detached);
        self.touch();
        if let (Some(request), Some(grace)) = (request, self.config.disconnect_grace) {
            self.cancel_if_not_resumed(stream, request, grace);
        }
    }

    /// Whether any stream of the session has a live connection.
    pub(crate) fn has_any_connection(&self) -> bool {
        self.state()
            .streams
            .map
            .values()
            .any(|st| st.conn.as_ref().is_some_and(|c| !c.tx.is_closed()))
    }

    /// Whether `stream` has a live connection.
    pub(crate) fn has_connection(&self, stream: u32) -> bool {
        self.state()
            .streams
            .map
            .get(&stream)
            .and_then(|st| st.conn.as_ref())
            .is_some_and(|c| !c.tx.is_closed())
    }

    /// Opens the standalone stream for a GET without `Last-Event-ID`. A session has one: the new
    /// connection takes over and the older one is ended. Messages that never reached any
    /// connection are written first.
    pub(crate) fn attach_standalone(self: &Arc<Self>, version: ProtocolVersion) -> SseBody {
        let polls = version.primes_streams();
        let mut guard = self.state();
        let state = &mut *guard;
        let st = state.streams.map.get_or_default(STANDALONE);
        // A fresh connection gets every message no connection took yet, or those of them the
        // log still keeps.
        let pending = match state.log.replay(STANDALONE, st.delivered) {
            Replay::Events(events) | Replay::Expired(events) => events,
            Replay::Unknown => Vec::new(),
        };
        let streams = &mut state.streams;
        let (tx, body, conn) = self.connect(streams, STANDALONE, pending.len(), polls);
        let st = streams.map.get_or_default(STANDALONE);
        st.polls = polls;
        self.prime(st, STANDALONE, &tx, pending.first().map(|(seq, _)| *seq));
        for (seq, event) in pending {
            let _ = tx.try_queue(self.tagged(STANDALONE, seq, event));
        }
        st.delivered = st.next_seq;
        let older = st.conn.replace(Conn { id: conn, tx });
        drop(guard);
        if let Some(older) = older {
            older.tx.close(Bytes::new());
        }
        body
    }

    /// Resumes a stream after `last_event_id`: replays what followed on that stream only, then
    /// continues it live (or ends, if its answer was already produced). A live connection of that
    /// stream is ended.
    pub(crate) fn resume(
        self: &Arc<Self>,
        last_event_id: &[u8],
        version: ProtocolVersion,
    ) -> Result<SseBody, ResumeError> {
        let polls = version.primes_streams();
        let (stream, after) = self
            .parse_event_id(last_event_id)
            .ok_or(ResumeError::Malformed)?;
        let mut guard = self.state();
        let state = &mut *guard;
        match state.streams.map.get(&stream) {
            None => return Err(ResumeError::Gone),
            Some(st) if after > st.next_seq => return Err(ResumeError::Malformed),
            Some(_) => {}
        }
        let events = match state.log.replay(stream, after) {
            Replay::Events(events) => events,
            // Nothing was ever recorded (only a priming event went out): nothing to replay.
            Replay::Unknown => Vec::new(),
            Replay::Expired(_) => return Err(ResumeError::Gone),
        };
        // No early return after this point: dropping the body runs a hook that takes the lock.
        let streams = &mut state.streams;
        let (tx, body, conn) = self.connect(streams, stream, events.len(), polls);
        let st = streams.map.get_or_default(stream);
        st.polls = polls;
        for (seq, event) in events {
            let _ = tx.try_queue(self.tagged(stream, seq, event));
        }
        st.delivered = st.next_seq;
        let older = if st.done {
            // Dropping `tx` ends this connection once the replay is written.
            st.conn.take()
        } else {
            st.conn.replace(Conn { id: conn, tx })
        };
        drop(guard);
        if let Some(older) = older {
            older.tx.close(Bytes::new());
        }
        Ok(body)
    }

    /// Forgets finished request streams beyond the newest `keep`.
    pub(super) fn prune_streams(state: &mut super::State, keep: usize) {
        let mut done: Vec<u32> = state
            .streams
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
            state.streams.map.remove(stream);
            state.log.forget(*stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_map_keeps_the_standalone_stream_inline_and_the_rest_in_order() {
        let mut map = StreamMap::<&str>::default();
        assert_eq!(map.insert(3, "c"), None);
        assert_eq!(map.insert(STANDALONE, "zero"), None);
        assert_eq!(map.insert(1, "a"), None);
        assert_eq!(map.insert(STANDALONE, "0"), Some("zero"));
        assert_eq!(map.get(&STANDALONE), Some(&"0"));
        assert_eq!(map.get(&1), Some(&"a"));
        assert_eq!(map.get(&2), None);
        let all: Vec<(u32, &str)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(all, [(0, "0"), (3, "c"), (1, "a")]);
        assert_eq!(map.remove(&STANDALONE), Some("0"));
        assert_eq!(map.get(&STANDALONE), None);
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [3, 1]);
        *map.get_or_default(STANDALONE) = "new";
        *map.get_or_default(3) = "C";
        assert_eq!(map.values().copied().collect::<Vec<_>>(), ["new", "C", "a"]);
        assert_eq!(map.remove(&3), Some("C"));
        assert_eq!(map.remove(&3), None);
    }
}
