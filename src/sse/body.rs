//! `SseBody`: an `http_body::Body` fed by a bounded channel of encoded events.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::event::{with_id, EVENT_ID_LEN, KEEP_ALIVE};
use crate::telemetry::StreamWatch;

/// Creates a bounded event channel: the [`SseSender`] half pushes encoded events, the [`SseBody`]
/// half is the response body that writes them.
///
/// The body ends when the sender is dropped and every queued event is written, or, after
/// [`SseSender::close`], once the queue and the last event are written. Nothing in it blocks: a
/// full channel is reported to the sender, which decides what to do (the MCP transport closes
/// the connection so the client resumes).
///
/// # Panics
///
/// Panics if `capacity` is zero.
///
/// # Example
///
/// ```
/// use http_body_util::BodyExt;
/// use mcp_tower::sse::{channel, Event};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, body) = channel(8);
/// tx.try_send(Event::new().data("hello").finish()).unwrap();
/// drop(tx);
/// let bytes = body.collect().await.unwrap().to_bytes();
/// assert_eq!(&bytes[..], b"data: hello\n\n");
/// # }
/// ```
pub fn channel(capacity: usize) -> (SseSender, SseBody) {
    assert!(
        capacity > 0,
        "an SSE channel needs a capacity of at least one event"
    );
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: Queue::default(),
            capacity,
            last: None,
            senders: 1,
            closed: false,
            reader: None,
            waiting: Vec::new(),
        }),
    });
    let sender = SseSender {
        shared: shared.clone(),
    };
    let body = SseBody {
        shared,
        keep_alive: None,
        deadline: None,
        on_drop: None,
        done: false,
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        watch: None,
    };
    (sender, body)
}

/// The channel between [`SseSender`]s and their [`SseBody`]: a queue under a mutex. An idle
/// stream holds one small allocation here, where a tokio `mpsc` + `oneshot` pair holds about
/// 1.6 KB.
struct Shared {
    state: Mutex<State>,
}

/// One queued event.
pub(crate) enum Queued {
    /// Encoded whole.
    Whole(Bytes),
    /// An encoded event without an `id:` line, shared by every stream it goes to (one
    /// broadcast encodes it once), and this stream's id for it. The two are joined when the
    /// body writes the event, on the reader's side, so the sender neither allocates nor copies.
    Tagged {
        id: [u8; EVENT_ID_LEN],
        event: Bytes,
    },
}

impl Queued {
    fn into_frame(self) -> Bytes {
        match self {
            Self::Whole(bytes) => bytes,
            Self::Tagged { id, event } => with_id(&id, &event),
        }
    }
}

/// Why the channel refused an event (the crate's own senders need no event handed back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The reader is not keeping up.
    Full,
    /// The body is gone.
    Closed,
}

/// A FIFO that holds its first event inline: a stream rarely holds more than one event at a
/// time, so most never allocate the deque.
#[derive(Default)]
#[repr(C)]
struct Queue {
    head: Option<Queued>,
    rest: VecDeque<Queued>,
}

impl Queue {
    fn len(&self) -> usize {
        usize::from(self.head.is_some()) + self.rest.len()
    }

    fn push_back(&mut self, event: Queued) {
        if self.head.is_none() && self.rest.is_empty() {
            self.head = Some(event);
        } else {
            self.rest.push_back(event);
        }
    }

    fn pop_front(&mut self) -> Option<Queued> {
        self.head.take().or_else(|| self.rest.pop_front())
    }
}

/// `repr(C)`: what a send reads and writes (the flag, the counts, the reader to wake, the
/// first queue slot) is declared first, so it sits next to the lock word on as few cache lines
/// as possible. A broadcast touches thousands of these, most of them cold.
#[repr(C)]
struct State {
    /// The body is gone or finished, or a sender closed it: sends fail.
    closed: bool,
    /// Live senders; the body ends once none is left and the queue is drained.
    senders: usize,
    capacity: usize,
    /// The body, waiting for an event.
    reader: Option<Waker>,
    queue: Queue,
    /// Set by [`SseSender::close`]: written once the queue is drained, then the body ends.
    last: Option<Bytes>,
    /// Senders waiting for room.
    waiting: Vec<Waker>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section finishes its edit before anything can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Queues `event` if there is room; returns the reader to wake (outside the lock), or the
    /// event with the reason it was refused.
    fn push(&mut self, event: Queued) -> Result<Option<Waker>, (Refused, Queued)> {
        if self.closed {
            Err((Refused::Closed, event))
        } else if self.queue.len() >= self.capacity {
            Err((Refused::Full, event))
        } else {
            self.queue.push_back(event);
            Ok(self.reader.take())
        }
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The sending half of [`channel`].
pub struct SseSender {
    shared: Arc<Shared>,
}

impl SseSender {
    /// Queues one encoded event (see [`Event::finish`](super::Event::finish)) without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when the reader is too slow to keep up and the channel is full;
    /// [`TrySendError::Closed`] when the body is gone (the client disconnected). The event is
    /// handed back in both cases.
    pub fn try_send(&self, event: Bytes) -> Result<(), TrySendError> {
        let reader = self
            .shared
            .state()
            .push(Queued::Whole(event))
            .map_err(TrySendError::new)?;
        wake(reader);
        Ok(())
    }

    /// Queues `event` (for a [`Queued::Tagged`] one, without copying the shared bytes) without
    /// waiting.
    pub(crate) fn try_queue(&self, event: Queued) -> Result<(), Refused> {
        let pushed = self.shared.state().push(event);
        match pushed {
            Ok(reader) => {
                wake(reader);
                Ok(())
            }
            Err((refused, _)) => Err(refused),
        }
    }

    /// Queues one encoded event, waiting for room while the channel is full.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Closed`] when the body is gone; the event is handed back.
    pub async fn send(&self, event: Bytes) -> Result<(), TrySendError> {
        let mut event = Some(event);
        std::future::poll_fn(|cx| {
            let Some(ev) = event.take() else {
                return Poll::Ready(Ok(()));
            };
            let mut state = self.shared.state();
            match state.push(Queued::Whole(ev)) {
                Ok(reader) => {
                    drop(state);
                    wake(reader);
                    Poll::Ready(Ok(()))
                }
                Err((Refused::Full, ev)) => {
                    // Whole, as queued above: handing it back copies nothing.
                    event = Some(ev.into_frame());
                    if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                        state.waiting.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
                Err(closed) => Poll::Ready(Err(TrySendError::new(closed))),
            }
        })
        .await
    }

    /// Another sender of the same channel, to wait for room without holding a lock. The body
    /// ends once every sender is gone.
    pub(crate) fn raw_sender(&self) -> Self {
        self.shared.state().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }

    /// Whether the body has been dropped (the client went away) or has ended.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.state().closed
    }

    /// Ends the body: the events already queued are written, then `last` (for example an event
    /// carrying only `retry:`; empty for none), then the body ends.
    pub fn close(self, last: Bytes) {
        let reader = {
            let mut state = self.shared.state();
            if !state.closed {
                state.closed = true;
                state.last = Some(last);
            }
            state.reader.take()
        };
        wake(reader);
    }
}

impl Drop for SseSender {
    fn drop(&mut self) {
        let reader = {
            let mut state = self.shared.state();
            state.senders -= 1;
            if state.senders > 0 {
                return;
            }
            state.reader.take()
        };
        wake(reader);
    }
}

impl fmt::Debug for SseSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state();
        f.debug_struct("SseSender")
            .field("capacity", &state.capacity)
            .field("closed", &state.closed)
            .finish()
    }
}

/// Why [`SseSender::try_send`] could not queue an event; the event is handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrySendError {
    /// The channel is full: the reader is not keeping up.
    Full(Bytes),
    /// The body was dropped: the client is gone.
    Closed(Bytes),
}

impl TrySendError {
    fn new((refused, event): (Refused, Queued)) -> Self {
        let event = event.into_frame();
        match refused {
            Refused::Full => Self::Full(event),
            Refused::Closed => Self::Closed(event),
        }
    }
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("sse channel is full"),
            Self::Closed(_) => f.write_str("sse stream is closed"),
        }
    }
}

impl std::error::Error for TrySendError {}

/// What a body runs when it is dropped (boxed once, by whoever makes it).
pub(crate) type DropHook = Box<dyn FnOnce() + Send + Sync>;

/// A `text/event-stream` response body fed by [`channel`].
///
/// It reports an unknown size (so HTTP/1.1 uses chunked encoding) and is not at its end until
/// the stream is over. With [`keep_alive`](Self::keep_alive) it writes a `:` comment after each
/// stretch of silence, so proxies and clients do not time an idle stream out.
pub struct SseBody {
    shared: Arc<Shared>,
    keep_alive: Option<KeepAlive>,
    /// Boxed: few streams have one, and every open stream's body is smaller without it.
    deadline: Option<Box<Deadline>>,
    on_drop: Option<DropHook>,
    done: bool,
    /// What the transport reports about the streams it serves (none on a user's own channel).
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    watch: Option<StreamWatch>,
}

/// [`SseBody::close_after`]: when, and what to write then.
struct Deadline {
    sleep: Pin<Box<Sleep>>,
    last: Bytes,
}

struct KeepAlive {
    interval: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl SseBody {
    /// Writes a keep-alive comment after every `interval` without an event. The timer restarts
    /// after each event, so a busy stream never carries keep-alives.
    #[must_use]
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = Some(KeepAlive {
            interval,
            sleep: None,
        });
        self
    }

    /// Ends the body after it has been open for `open_for`: events queued by then are written,
    /// then `last` (e.g. a `retry:` hint); later sends are refused. Used to turn long streams
    /// into polls.
    pub(crate) fn close_after(mut self, open_for: Duration, last: Bytes) -> Self {
        self.deadline = Some(Box::new(Deadline {
            sleep: Box::pin(tokio::time::sleep(open_for)),
            last,
        }));
        self
    }

    /// Runs `hook` once when the body is dropped: the connection is finished or the client went
    /// away.
    pub(crate) fn on_drop(mut self, hook: DropHook) -> Self {
        self.on_drop = Some(hook);
        self
    }

    /// Reports this stream as one the transport serves (see `telemetry`).
    #[must_use]
    #[cfg_attr(
        not(any(feature = "tracing", feature = "metrics")),
        allow(unused_mut, unused_variables, clippy::needless_pass_by_value)
    )]
    pub(crate) fn watched(mut self, watch: StreamWatch) -> Self {
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        {
            self.watch = Some(watch);
        }
        self
    }

    fn finish(&mut self) -> Poll<Option<Result<Frame<Bytes>, std::convert::Infallible>>> {
        self.done = true;
        self.keep_alive = None;
        self.deadline = None;
        self.close_channel();
        Poll::Ready(None)
    }

    /// Refuses further events, drops the queued ones, and wakes senders waiting for room.
    fn close_channel(&self) {
        let (queue, waiting) = {
            let mut state = self.shared.state();
            state.closed = true;
            (
                std::mem::take(&mut state.queue),
                std::mem::take(&mut state.waiting),
            )
        };
        drop(queue);
        for waker in waiting {
            waker.wake();
        }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.sleep.as_mut().poll(cx).is_ready() {
                let last = this
                    .deadline
                    .take()
                    .map(|deadline| deadline.last)
                    .unwrap_or_default();
                // As `SseSender::close`: no new events; those queued (their senders count them
                // as written) go out first, then `last`.
                let mut state = this.shared.state();
                if !state.closed {
                    state.closed = true;
                    state.last = Some(last);
                }
            }
        }
        let next = {
            let mut state = this.shared.state();
            match state.queue.pop_front() {
                Some(event) => {
                    let waiting = std::mem::take(&mut state.waiting);
                    Poll::Ready(Some((event, waiting)))
                }
                // Closed on purpose, or every sender gone: the end, after `last` if any.
                None if state.last.is_some() || state.senders == 0 => Poll::Ready(None),
                None => {
                    let waker = cx.waker();
                    if !state.reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
                        state.reader = Some(waker.clone());
                    }
                    Poll::Pending
                }
            }
        };
        match next {
            Poll::Ready(Some((event, waiting))) => {
                for waker in waiting {
                    waker.wake();
                }
                if let Some(ka) = this.keep_alive.as_mut() {
                    if let Some(sleep) = ka.sleep.as_mut() {
                        sleep
                            .as_mut()
                            .reset(crate::time::deadline(Instant::now(), ka.interval));
                    }
                }
                #[cfg(any(feature = "tracing", feature = "metrics"))]
                if let Some(watch) = &this.watch {
                    watch.event_sent();
                }
                Poll::Ready(Some(Ok(Frame::data(event.into_frame()))))
            }
            Poll::Ready(None) => {
                let last = this.shared.state().last.take().filter(|l| !l.is_empty());
                let _ = this.finish();
                Poll::Ready(last.map(|l| Ok(Frame::data(l))))
            }
            Poll::Pending => {
                let Some(ka) = this.keep_alive.as_mut() else {
                    return Poll::Pending;
                };
                let interval = ka.interval;
                let sleep = ka
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        sleep
                            .as_mut()
                            .reset(crate::time::deadline(Instant::now(), interval));
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEP_ALIVE)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        if let Some(watch) = &self.watch {
            watch.closed(self.done);
        }
        self.close_channel();
        if let Some(hook) = self.on_drop.take() {
            hook();
        }
    }
}

impl fmt::Debug for SseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseBody")
            .field("keep_alive", &self.keep_alive.as_ref().map(|k| k.interval))
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::Event;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    async fn next(body: &mut SseBody) -> Option<Bytes> {
        body.frame().await.map(|f| f.unwrap().into_data().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alive_only_after_silence() {
        let (tx, body) = channel(4);
        let mut body = body.keep_alive(Duration::from_secs(15));
        let start = Instant::now();
        tx.try_send(Event::new().data("a").finish()).unwrap();
        assert_eq!(next(&mut body).await.unwrap(), "data: a\n\n");
        assert_eq!(next(&mut body).await.unwrap(), ":\n\n");
        assert_eq!(start.elapsed(), Duration::from_secs(15));
        // An event 10 s later pushes the next keep-alive to 15 s after it.
        tokio::time::sleep(Duration::from_secs(10)).await;
        tx.try_send(Event::new().data("b").finish()).unwrap();
        assert_eq!(next(&mut body).await.unwrap(), "data: b\n\n");
        assert_eq!(next(&mut body).await.unwrap(), ":\n\n");
        assert_eq!(start.elapsed(), Duration::from_secs(40));
    }

    #[tokio::test]
    async fn a_tagged_event_is_written_with_its_id_line_first() {
        let (tx, mut body) = channel(2);
        let shared = Bytes::from_static(b"event: message\ndata: {}\n\n");
        let id = *b"AAAAAAAAAAAAAAAAAAAAAAAB";
        tx.try_queue(Queued::Tagged {
            id,
            event: shared.clone(),
        })
        .unwrap();
        tx.try_send(Bytes::from_static(b"data: whole\n\n")).unwrap();
        assert_eq!(
            tx.try_queue(Queued::Tagged {
                id,
                event: shared.clone()
            }),
            Err(Refused::Full),
            "a full channel refuses a tagged event too"
        );
        assert_eq!(
            next(&mut body).await.unwrap(),
            "id: AAAAAAAAAAAAAAAAAAAAAAAB\nevent: message\ndata: {}\n\n"
        );
        assert_eq!(next(&mut body).await.unwrap(), "data: whole\n\n");
        drop(body);
        assert_eq!(
            tx.try_queue(Queued::Tagged { id, event: shared }),
            Err(Refused::Closed)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_writes_what_is_queued_before_its_last_frame() {
        let (tx, body) = channel(4);
        let mut body = body.close_after(Duration::from_secs(1), Bytes::from_static(b"retry"));
        tx.try_send(Bytes::from_static(b"1")).unwrap();
        tx.try_send(Bytes::from_static(b"2")).unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(next(&mut body).await.unwrap(), "1");
        assert!(
            matches!(
                tx.try_send(Bytes::from_static(b"3")),
                Err(TrySendError::Closed(_))
            ),
            "sends after the deadline are refused, so the sender keeps them"
        );
        assert_eq!(next(&mut body).await.unwrap(), "2");
        assert_eq!(next(&mut body).await.unwrap(), "retry");
        assert!(next(&mut body).await.is_none());
    }

    #[tokio::test]
    async fn ends_after_drain_when_sender_dropped() {
        let (tx, mut body) = channel(4);
        tx.try_send(Bytes::from_static(b"x")).unwrap();
        assert!(!body.is_end_stream());
        assert_eq!(body.size_hint().exact(), None);
        drop(tx);
        assert_eq!(next(&mut body).await.unwrap(), "x");
        assert!(next(&mut body).await.is_none());
        assert!(body.is_end_stream());
        assert!(next(&mut body).await.is_none());
    }

    #[tokio::test]
    async fn close_writes_the_queue_then_the_last_frame() {
        let (tx, mut body) = channel(4);
        tx.try_send(Bytes::from_static(b"queued")).unwrap();
        tx.close(Bytes::from_static(b"retry: 100\n\n"));
        assert_eq!(next(&mut body).await.unwrap(), "queued");
        assert_eq!(next(&mut body).await.unwrap(), "retry: 100\n\n");
        assert!(next(&mut body).await.is_none());
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn send_waits_for_room_and_the_body_ends_with_the_last_sender() {
        let (tx, mut body) = channel(1);
        tx.try_send(Bytes::from_static(b"1")).unwrap();
        let second = tx.raw_sender();
        drop(tx);
        let send = tokio::spawn(async move { second.send(Bytes::from_static(b"2")).await });
        tokio::task::yield_now().await;
        assert!(!send.is_finished());
        assert_eq!(next(&mut body).await.unwrap(), "1");
        send.await.unwrap().unwrap();
        assert_eq!(next(&mut body).await.unwrap(), "2");
        assert!(next(&mut body).await.is_none());
    }

    #[tokio::test]
    async fn full_and_closed_are_reported_not_blocked_on() {
        let (tx, body) = channel(1);
        tx.try_send(Bytes::from_static(b"1")).unwrap();
        assert!(matches!(
            tx.try_send(Bytes::from_static(b"2")),
            Err(TrySendError::Full(_))
        ));
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        let body = body.on_drop(Box::new(move || flag.store(true, Ordering::SeqCst)));
        drop(body);
        assert!(dropped.load(Ordering::SeqCst));
        assert!(tx.is_closed());
        assert!(matches!(
            tx.try_send(Bytes::from_static(b"3")),
            Err(TrySendError::Closed(_))
        ));
    }
}
