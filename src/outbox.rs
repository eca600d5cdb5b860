//! Where the messages a handler sends about one request go, while the transport decides
//! between a JSON and an SSE reply.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::session::{Delivery, SessionInner};
use crate::sse::{channel, message_event, SseBody, SseSender, TrySendError};

/// The related-message channel of one request.
pub(crate) struct Outbox {
    state: Mutex<State>,
    wake: Notify,
    /// Where messages go when the reply is plain JSON.
    session: Option<Arc<SessionInner>>,
}

enum State {
    /// Adaptive mode, form not decided yet: messages (JSON) wait here.
    Buffered(Vec<Bytes>),
    /// The reply is an SSE stream.
    Streaming(SseSender),
    /// The reply is JSON: messages become unrelated ones on the session's standalone stream.
    Detached,
    /// The request is answered, or its stream is gone.
    Closed,
}

impl Outbox {
    pub(crate) fn buffered(session: Option<Arc<SessionInner>>) -> Arc<Self> {
        Self::with_state(State::Buffered(Vec::new()), session)
    }

    pub(crate) fn detached(session: Option<Arc<SessionInner>>) -> Arc<Self> {
        Self::with_state(State::Detached, session)
    }

    fn with_state(state: State, session: Option<Arc<SessionInner>>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(state),
            wake: Notify::new(),
            session,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
            State::Streaming(tx) => match tx.try_send(message_event(None, json)) {
                Ok(()) => Delivery::Sent,
                Err(TrySendError::Full(_)) => {
                    // The client reads slower than the handler writes. Ending the connection
                    // beats buffering without bound.
                    if let State::Streaming(tx) = std::mem::replace(&mut *state, State::Closed) {
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
                match &self.session {
                    Some(session) => session.send_unrelated(json),
                    None => Delivery::Dropped,
                }
            }
            State::Closed => Delivery::Dropped,
        }
    }

    /// Resolves once a message is buffered (adaptive mode).
    pub(crate) async fn first_message(&self) {
        loop {
            let notified = self.wake.notified();
            if let State::Buffered(buf) = &*self.state() {
                if buf.is_empty() {
                    // fall through to wait
                } else {
                    return;
                }
            } else {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn has_buffered(&self) -> bool {
        matches!(&*self.state(), State::Buffered(buf) if !buf.is_empty())
    }

    /// Turns the reply into an SSE stream: buffered messages go first.
    pub(crate) fn stream(&self, capacity: usize) -> SseBody {
        let mut state = self.state();
        let buffered = match std::mem::replace(&mut *state, State::Closed) {
            State::Buffered(buf) => buf,
            _ => Vec::new(),
        };
        let (tx, body) = channel(capacity.max(buffered.len() + 1));
        for json in buffered {
            // Capacity covers everything buffered, so this cannot fail.
            let _ = tx.try_send(message_event(None, &json));
        }
        *state = State::Streaming(tx);
        body
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

    /// Writes a response on the stream. Waits for room if the channel is full: the handler is
    /// done, only this request's task waits, and it ends when the client does.
    pub(crate) async fn respond(&self, json: &[u8]) {
        let tx = match &*self.state() {
            State::Streaming(tx) => tx.raw_sender(),
            _ => return,
        };
        let _ = tx.send(message_event(None, json)).await;
    }

    /// Ends the stream once what is queued is written.
    pub(crate) fn close(&self) {
        *self.state() = State::Closed;
    }

    /// Writes the final response and ends the stream.
    pub(crate) async fn finish(&self, json: &[u8]) {
        self.respond(json).await;
        self.close();
    }
}
