//! `SseBody`: an `http_body::Body` fed by a bounded channel of encoded events.

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};

use super::event::KEEP_ALIVE;

/// Creates a bounded event channel: the [`SseSender`] half pushes encoded events, the [`SseBody`]
/// half is the response body that writes them.
///
/// The body ends when the sender is dropped and every queued event is written, or at once when
/// [`SseSender::close`] is called. Nothing in it blocks: a full channel is reported to the sender,
/// which decides what to do (the MCP transport closes the connection so the client resumes).
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
    let (tx, rx) = mpsc::channel(capacity);
    let (close_tx, close_rx) = oneshot::channel();
    let sender = SseSender {
        tx,
        close: close_tx,
    };
    let body = SseBody {
        rx,
        close: Some(close_rx),
        last: None,
        keep_alive: None,
        deadline: None,
        on_drop: None,
        done: false,
    };
    (sender, body)
}

/// The sending half of [`channel`].
pub struct SseSender {
    tx: mpsc::Sender<Bytes>,
    close: oneshot::Sender<Bytes>,
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
        self.tx.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(b) => TrySendError::Full(b),
            mpsc::error::TrySendError::Closed(b) => TrySendError::Closed(b),
        })
    }

    /// Queues one encoded event, waiting for room while the channel is full.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Closed`] when the body is gone; the event is handed back.
    pub async fn send(&self, event: Bytes) -> Result<(), TrySendError> {
        self.tx
            .send(event)
            .await
            .map_err(|e| TrySendError::Closed(e.0))
    }

    /// A clone of the underlying channel sender, to wait for room without holding a lock.
    pub(crate) fn raw_sender(&self) -> mpsc::Sender<Bytes> {
        self.tx.clone()
    }

    /// Whether the body has been dropped, which means the client went away.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ends the body: the events already queued are written, then `last` (for example an event
    /// carrying only `retry:`; empty for none), then the body ends.
    pub fn close(self, last: Bytes) {
        let _ = self.close.send(last);
    }
}

impl fmt::Debug for SseSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseSender")
            .field("capacity", &self.tx.max_capacity())
            .field("closed", &self.tx.is_closed())
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

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("sse channel is full"),
            Self::Closed(_) => f.write_str("sse stream is closed"),
        }
    }
}

impl std::error::Error for TrySendError {}

type DropHook = Box<dyn FnOnce() + Send + Sync>;

/// A `text/event-stream` response body fed by [`channel`].
///
/// It reports an unknown size (so HTTP/1.1 uses chunked encoding) and is not at its end until
/// the stream is over. With [`keep_alive`](Self::keep_alive) it writes a `:` comment after each
/// stretch of silence, so proxies and clients do not time an idle stream out.
pub struct SseBody {
    rx: mpsc::Receiver<Bytes>,
    close: Option<oneshot::Receiver<Bytes>>,
    /// Set by [`SseSender::close`]: written once the queue is drained.
    last: Option<Bytes>,
    keep_alive: Option<KeepAlive>,
    deadline: Option<(Pin<Box<Sleep>>, Bytes)>,
    on_drop: Option<DropHook>,
    done: bool,
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

    /// Ends the body after it has been open for `open_for`, writing `last` (e.g. a `retry:`
    /// hint) first. Used to turn long streams into polls.
    pub(crate) fn close_after(mut self, open_for: Duration, last: Bytes) -> Self {
        self.deadline = Some((Box::pin(tokio::time::sleep(open_for)), last));
        self
    }

    /// Runs `hook` once when the body is dropped: the connection is finished or the client went
    /// away.
    pub(crate) fn on_drop(mut self, hook: impl FnOnce() + Send + Sync + 'static) -> Self {
        self.on_drop = Some(Box::new(hook));
        self
    }

    fn finish(&mut self) -> Poll<Option<Result<Frame<Bytes>, std::convert::Infallible>>> {
        self.done = true;
        self.keep_alive = None;
        self.deadline = None;
        self.rx.close();
        Poll::Ready(None)
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
        if let Some((sleep, _)) = this.deadline.as_mut() {
            if sleep.as_mut().poll(cx).is_ready() {
                let last = this
                    .deadline
                    .take()
                    .map(|(_, last)| last)
                    .unwrap_or_default();
                let _ = this.finish();
                return Poll::Ready((!last.is_empty()).then(|| Ok(Frame::data(last))));
            }
        }
        if let Some(close) = this.close.as_mut() {
            match Pin::new(close).poll(cx) {
                // Closed on purpose: drain what is queued, then write `last`.
                Poll::Ready(Ok(last)) => {
                    this.close = None;
                    this.last = Some(last);
                    this.rx.close();
                }
                // The sender was dropped without `close`: drain the channel as usual.
                Poll::Ready(Err(_)) => this.close = None,
                Poll::Pending => {}
            }
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                if let Some(ka) = this.keep_alive.as_mut() {
                    if let Some(sleep) = ka.sleep.as_mut() {
                        sleep.as_mut().reset(Instant::now() + ka.interval);
                    }
                }
                Poll::Ready(Some(Ok(Frame::data(event))))
            }
            Poll::Ready(None) => {
                let last = this.last.take().filter(|l| !l.is_empty());
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
                        sleep.as_mut().reset(Instant::now() + interval);
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
    async fn full_and_closed_are_reported_not_blocked_on() {
        let (tx, body) = channel(1);
        tx.try_send(Bytes::from_static(b"1")).unwrap();
        assert!(matches!(
            tx.try_send(Bytes::from_static(b"2")),
            Err(TrySendError::Full(_))
        ));
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        let body = body.on_drop(move || flag.store(true, Ordering::SeqCst));
        drop(body);
        assert!(dropped.load(Ordering::SeqCst));
        assert!(tx.is_closed());
        assert!(matches!(
            tx.try_send(Bytes::from_static(b"3")),
            Err(TrySendError::Closed(_))
        ));
    }
}
