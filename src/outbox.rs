//! Where the messages a handler sends about one request go, while the transport decides
//! between a JSON and an SSE reply, and after.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::jsonrpc::RequestId;
use crate::protocol::ProtocolVersion;
use crate::session::{Delivery, LiveSession};
use crate::sse::{channel, message_event, SseBody, SseSender, TrySendError};
use crate::telemetry::{self, StreamKind, StreamWatch};

/// The related-message channel of one request (or of one batch).
pub(crate) struct Outbox {
    state: Mutex<State>,
    wake: Notify,
    session: Option<Arc<LiveSession>>,
    /// The request a session stream answers, so `notifications/cancelled` and
    /// `disconnect_grace` can find its handler.
    request: Option<RequestId>,
    /// The protocol version of the request: it decides priming and polling.
    version: ProtocolVersion,
    /// The handler asked to close the connection before the reply took a form: turn it into
    /// a stream now, and close the connection right after priming.
    close_requested: AtomicBool,
}

enum State {
    /// Adaptive mode, form not decided yet: messages (JSON) wait here.
    Buffered(Vec<Bytes>),
    /// Streaming on a session stream: numbered, recorded for replay, resumable.
    Session(u32),
    /// Streaming without a session (stateless): written directly, not resumable.
    Direct(SseSender),
    /// The reply is JSON: messages become unrelated ones on the session's standalone stream.
    Detached,
    /// The request is answered or abandoned.
    Closed,
}

impl Outbox {
    pub(crate) fn buffered(
        session: Option<Arc<LiveSession>>,
        request: Option<RequestId>,
        version: ProtocolVersion,
    ) -> Arc<Self> {
        Self::with_state(State::Buffered(Vec::new()), session, request, version)
    }

    pub(crate) fn detached(session: Option<Arc<LiveSession>>) -> Arc<Self> {
        Self::with_state(State::Detached, session, None, ProtocolVersion::ASSUMED)
    }

    fn with_state(
        state: State,
        session: Option<Arc<LiveSession>>,
        request: Option<RequestId>,
        version: ProtocolVersion,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(state),
            wake: Notify::new(),
            session,
            request,
            version,
            close_requested: AtomicBool::new(false),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session this request belongs to.
    pub(crate) fn session(&self) -> Option<&Arc<LiveSession>> {
        self.session.as_ref()
    }

    /// Sends one message related to the request. Never waits.
    pub(crate) fn send(&self, json: &[u8]) -> Delivery {
        let mut state = self.state();
        match &mut *state {
            State::Buffered(buf) => {
                buf.push(Bytes::copy_from_slice(json));
                drop(state);
                self.wake.notify_one();
                Delivery::Sent
            }
            State::Session(stream) => {
                let stream = *stream;
                drop(state);
                self.session
                    .as_ref()
                    .map_or(Delivery::Dropped, |s| s.stream_send(stream, json, false))
            }
            State::Direct(tx) => match tx.try_send(message_event(None, json)) {
                Ok(()) => Delivery::Sent,
                Err(TrySendError::Full(_)) => {
                    // Without a session there is no replay log: the slow reader loses its
                    // connection rather than making us buffer without bound.
                    telemetry::slow_consumer(StreamKind::Post, None);
                    if let State::Direct(tx) = std::mem::replace(&mut *state, State::Closed) {
                        tx.close(Bytes::new());
                    }
                    Delivery::Dropped
                }
                Err(TrySendError::Closed(_)) => {
                    *state = State::Closed;
                    Delivery::Dropped
                }
            },
            State::Detached => {
                drop(state);
                self.session
                    .as_ref()
                    .map_or(Delivery::Dropped, |s| s.send_unrelated(json))
            }
            State::Closed => Delivery::Dropped,
        }
    }

    /// Resolves once the reply must become a stream (adaptive mode): a message is buffered,
    /// the handler asked to close the connection, or the outbox left that mode.
    pub(crate) async fn first_message(&self) {
        loop {
            let notified = self.wake.notified();
            match &*self.state() {
                State::Buffered(buf)
                    if buf.is_empty() && !self.close_requested.load(Ordering::Acquire) => {}
                _ => return,
            }
            notified.await;
        }
    }

    pub(crate) fn has_buffered(&self) -> bool {
        matches!(&*self.state(), State::Buffered(buf) if !buf.is_empty())
    }

    /// Turns the reply into an SSE stream; messages buffered so far go first.
    pub(crate) fn stream(
        &self,
        capacity: usize,
        keep_alive: Option<std::time::Duration>,
    ) -> SseBody {
        let mut state = self.state();
        let buffered = match std::mem::replace(&mut *state, State::Closed) {
            State::Buffered(buf) => buf,
            _ => Vec::new(),
        };
        if let Some(session) = &self.session {
            let (stream, body) =
                session.open_request_stream(self.request.clone(), buffered, self.version);
            *state = State::Session(stream);
            drop(state);
            if self.close_requested.load(Ordering::Acquire) {
                session.poll_close(stream);
            }
            return body;
        }
        let (tx, mut body) = channel(capacity.max(buffered.len() + 2));
        for json in buffered {
            // The channel has room for everything buffered.
            let _ = tx.try_send(message_event(None, &json));
        }
        if let Some(interval) = keep_alive {
            body = body.keep_alive(interval);
        }
        *state = State::Direct(tx);
        body.watched(StreamWatch::open(StreamKind::Post, None, false))
    }

    /// The reply is JSON: later messages go to the session's standalone stream.
    pub(crate) fn detach(&self) {
        let mut state = self.state();
        if let State::Buffered(buf) = std::mem::replace(&mut *state, State::Detached) {
            drop(state);
            // Anything buffered still goes somewhere rather than vanishing.
            if let Some(session) = &self.session {
                for json in buf {
                    session.send_unrelated(&json);
                }
            }
        }
    }

    /// Writes a response on the stream; `last` ends the stream after it. A session stream
    /// never waits (the replay log keeps what a slow reader has not taken); a direct stream
    /// waits for room, which holds only this request's task.
    pub(crate) async fn respond(&self, json: &[u8], last: bool) {
        let direct = {
            let mut state = self.state();
            match &*state {
                State::Session(stream) => {
                    let stream = *stream;
                    if last {
                        *state = State::Closed;
                    }
                    drop(state);
                    if let Some(session) = &self.session {
                        session.stream_send(stream, json, last);
                    }
                    return;
                }
                State::Direct(tx) => {
                    let raw = tx.raw_sender();
                    if last {
                        *state = State::Closed;
                    }
                    raw
                }
                _ => return,
            }
        };
        let _ = direct.send(message_event(None, json)).await;
    }

    /// Writes the request's answer and ends the stream, if that needs no waiting: always on a
    /// session stream; on a stateless one, when its channel has room. False when the answer
    /// must wait for room: [`respond`](Self::respond) then.
    pub(crate) fn try_finish(&self, json: &[u8]) -> bool {
        let mut state = self.state();
        match &*state {
            State::Session(stream) => {
                let stream = *stream;
                *state = State::Closed;
                drop(state);
                if let Some(session) = &self.session {
                    session.stream_send(stream, json, true);
                }
                true
            }
            State::Direct(tx) => match tx.try_send(message_event(None, json)) {
                Ok(()) | Err(TrySendError::Closed(_)) => {
                    *state = State::Closed;
                    true
                }
                Err(TrySendError::Full(_)) => false,
            },
            _ => true,
        }
    }

    /// Ends the stream without (further) answers: the request was cancelled, or a batch is done.
    pub(crate) fn abandon(&self) {
        let previous = std::mem::replace(&mut *self.state(), State::Closed);
        if let (State::Session(stream), Some(session)) = (previous, &self.session) {
            session.abandon_stream(stream);
        }
    }

    /// Closes the client's current connection to this request's stream without ending the
    /// stream (SEP-1699). A reply still undecided becomes a stream first, closed right after
    /// its priming event. Returns false when there is no resumable stream to close: JSON or
    /// stateless replies, and clients older than 2025-11-25.
    pub(crate) fn close_connection(&self) -> bool {
        let Some(session) = &self.session else {
            return false;
        };
        let stream = match &*self.state() {
            State::Session(stream) => *stream,
            State::Buffered(_) if self.version.primes_streams() => {
                self.close_requested.store(true, Ordering::Release);
                self.wake.notify_one();
                return true;
            }
            _ => return false,
        };
        session.poll_close(stream)
    }
}
