//! `EventSource`: a reconnecting `text/event-stream` reader over any tower HTTP service.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::{Service, ServiceExt as _};

use super::backoff::{Backoff, Jitter, RetryState};
use super::body::{byte_stream, ByteStream, ClientBody};
use super::error::{ClientError, ErrorKind};
use crate::protocol::{LAST_EVENT_ID, MCP_SESSION_ID};
use crate::sse::{SseDecoder, SseEvent};
use crate::BoxError;

/// Default time allowed for the response headers of one connection attempt: 30 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A server-sent event stream that reconnects by itself, over any tower HTTP service.
///
/// Each connection is a `GET` with `Accept: text/event-stream`, the extra
/// [headers](Self::header) (for example `Authorization`, sent on every attempt) and, once an
/// event id is known, `Last-Event-ID`. Events come out of [`next`](Self::next); breaks are
/// repaired out of sight:
///
/// - a network error, an idle connection (see [`idle_timeout`](Self::idle_timeout)), a
///   connection that takes longer than the [`connect_timeout`](Self::connect_timeout), a
///   `408`/`429`/`500`/`502`/`503`/`504`, and a clean close are all retried after a delay from
///   the [`Backoff`] policy, never below the server's `retry:` field or `Retry-After` header
///   (themselves capped: see [`Backoff`]);
/// - `405` means the server offers no stream: [`ErrorKind::StreamNotOffered`], not retried;
/// - another `4xx` ends the stream with an error: [`ErrorKind::ResumeRefused`] when resuming
///   from an event id (events may have been lost), [`ErrorKind::SessionExpired`] for a `404`
///   to a request carrying `Mcp-Session-Id`, [`ErrorKind::Status`] otherwise (`401` and `403`
///   included: credentials are the caller's business);
/// - `204 No Content` ends the stream without an error (the WHATWG way to say "stop");
/// - when the policy gives up: [`ErrorKind::RetriesExhausted`], with the last failure as the
///   error's source.
///
/// The attempt counter is reset only by progress (an event delivered or a new event id seen),
/// never by a connection that was merely accepted; so a server that answers `200` and closes
/// at once gets ever longer delays, not a tight loop.
///
/// After an error or `None`, the stream is over.
///
/// TLS, proxies and connection pooling are the HTTP service's business: pass hyper-util's
/// client with an HTTPS connector to reach `https://` URLs (see the
/// [module docs](crate::client)).
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use mcp_tower::client::{ClientBody, EventSource};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Any tower service will do; this one answers every GET with the same two events.
/// let server = tower::service_fn(|_req: http::Request<ClientBody>| async {
///     let body = Full::new(Bytes::from_static(b"id: 1\ndata: hello\n\nid: 2\ndata: world\n\n"));
///     let res = http::Response::builder()
///         .header("content-type", "text/event-stream")
///         .body(body)?;
///     Ok::<_, http::Error>(res)
/// });
///
/// let mut events = EventSource::new(server, "http://localhost/events".parse()?)
///     .header(http::header::AUTHORIZATION, "Bearer token".parse()?);
/// assert_eq!(events.next().await.transpose()?.unwrap().data(), "hello");
/// assert_eq!(events.next().await.transpose()?.unwrap().data(), "world");
/// assert_eq!(events.last_event_id(), Some("2"));
/// events.close();
/// assert!(events.next().await.is_none());
/// # Ok(()) }
/// ```
pub struct EventSource<S> {
    service: S,
    uri: Uri,
    headers: HeaderMap,
    backoff: Backoff,
    connect_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    decoder: SseDecoder,
    state: State,
    retry: RetryState,
    rng: Jitter,
    /// The event id at the last progress, to tell a new id from an old one.
    progress_id: Option<String>,
    /// A stream that began as a POST response can only come back through `Last-Event-ID`.
    resume_only: bool,
    close_tx: Arc<watch::Sender<bool>>,
    close_rx: watch::Receiver<bool>,
    connects: u64,
}

enum State {
    /// Connect now (first connection, or the wait after a failure is over).
    Connect,
    Open(ByteStream),
    /// The connection failed or ended; wait (at least `retry_after`, the refusal's
    /// `Retry-After`), then connect again.
    Broken {
        failure: ClientError,
        retry_after: Option<Duration>,
    },
    Done,
}

/// What one connection attempt came to.
enum Attempt {
    Open(ByteStream),
    /// Try again later, after at least `retry_after`.
    Retry(ClientError, Option<Duration>),
    Fatal(ClientError),
    /// `204`: the server wants the client to stop.
    Stop,
}

impl<S> EventSource<S> {
    /// A stream reading `uri` through `service`. Nothing is sent before the first
    /// [`next`](Self::next).
    #[must_use]
    pub fn new(service: S, uri: Uri) -> Self {
        let (close_tx, close_rx) = watch::channel(false);
        Self {
            service,
            uri,
            headers: HeaderMap::new(),
            backoff: Backoff::new(),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            idle_timeout: None,
            decoder: SseDecoder::new(),
            state: State::Connect,
            retry: RetryState::default(),
            rng: Jitter::new(),
            progress_id: None,
            resume_only: false,
            close_tx: Arc::new(close_tx),
            close_rx,
            connects: 0,
        }
    }

    /// Adds a header sent on every connection attempt, such as `Authorization`.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Adds every header in `headers` to each connection attempt.
    #[must_use]
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Sets the reconnection policy (default [`Backoff::new`]).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Limits the wait for the response headers of each attempt (default 30 s); `None` waits
    /// as long as the service does. A timeout is retried like a network error.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The watchdog: a connection on which no byte arrives for `timeout` is presumed dead,
    /// dropped and resumed (default off). Keep-alive comments count as bytes, so pick a value
    /// comfortably above the server's keep-alive interval.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets the largest event accepted (default 16 MiB); a larger one ends the stream with
    /// [`ErrorKind::EventTooLarge`].
    #[must_use]
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.decoder = std::mem::take(&mut self.decoder).max_event_size(bytes);
        self
    }

    /// Starts from a known event id: the first request already carries `Last-Event-ID`.
    #[must_use]
    pub fn resume_from(mut self, last_event_id: impl Into<String>) -> Self {
        let id = last_event_id.into();
        self.decoder = std::mem::take(&mut self.decoder).with_last_event_id(id);
        self.progress_id = self.decoder.last_event_id().map(str::to_owned);
        self
    }

    /// Takes over a response body already open (the SSE answer to a POST). Such a stream can
    /// only be resumed from an event id: if it breaks before any id was seen, it ends with
    /// [`ErrorKind::Protocol`].
    pub(crate) fn attach(mut self, body: ByteStream) -> Self {
        self.state = State::Open(body);
        self.resume_only = true;
        self.connects = 1;
        self
    }

    /// The last event id seen (dispatched or priming event), sent as `Last-Event-ID` on the
    /// next reconnection.
    #[must_use]
    pub fn last_event_id(&self) -> Option<&str> {
        self.decoder.last_event_id()
    }

    /// The server's reconnection time from its last `retry:` field.
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.decoder.retry()
    }

    /// How many connections were opened so far (accepted or not).
    #[must_use]
    pub fn connection_attempts(&self) -> u64 {
        self.connects
    }

    /// Ends the stream now: the connection is dropped and [`next`](Self::next) returns `None`.
    pub fn close(&mut self) {
        self.close_tx.send_replace(true);
        self.state = State::Done;
    }

    /// A handle that closes this stream from elsewhere (another task), waking a pending
    /// [`next`](Self::next), which then returns `None`.
    #[must_use]
    pub fn close_handle(&self) -> CloseHandle {
        CloseHandle {
            tx: Arc::clone(&self.close_tx),
        }
    }

    fn broken(&mut self, failure: ClientError, retry_after: Option<Duration>) {
        self.state = State::Broken {
            failure,
            retry_after,
        };
    }

    fn finish(&mut self, err: ClientError) -> Option<Result<SseEvent, ClientError>> {
        self.state = State::Done;
        Some(Err(err))
    }

    /// Ends a broken stream with `err`, whose source is the failure that broke it.
    fn give_up(&mut self, err: ClientError) -> Option<Result<SseEvent, ClientError>> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Broken { failure, .. } => Some(Err(err.with_source(failure))),
            _ => Some(Err(err)),
        }
    }
}

impl<S, B> EventSource<S>
where
    S: Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// The next event, reconnecting as needed; `None` once the stream is over (closed, or the
    /// server answered `204`).
    ///
    /// # Errors
    ///
    /// An error ends the stream (see the type's docs for which failures are retried and which
    /// are not).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future loses no event that was already received: bytes read stay in the
    /// decoder. A connection attempt or wait that was in progress starts over.
    pub async fn next(&mut self) -> Option<Result<SseEvent, ClientError>> {
        loop {
            if *self.close_rx.borrow() {
                self.state = State::Done;
            }
            match &mut self.state {
                State::Done => return None,
                State::Open(body) => {
                    match self.decoder.next_event() {
                        Ok(Some(event)) => {
                            self.retry.progress();
                            self.progress_id = event.id().map(str::to_owned);
                            return Some(Ok(event));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let err = ClientError::new(ErrorKind::EventTooLarge).with_source(e);
                            return self.finish(err);
                        }
                    }
                    if self.decoder.last_event_id() != self.progress_id.as_deref() {
                        // A priming event: the server told us where to resume from.
                        self.retry.progress();
                        self.progress_id = self.decoder.last_event_id().map(str::to_owned);
                    }
                    let read = idle(self.idle_timeout, body.next());
                    let Some(read) = unless_closed(&mut self.close_rx, read).await else {
                        continue;
                    };
                    match read {
                        Ok(Some(Ok(chunk))) => self.decoder.push(&chunk),
                        Ok(Some(Err(e))) => self.broken(
                            ClientError::msg(ErrorKind::Transport, "stream broke").with_source(e),
                            None,
                        ),
                        Ok(None) => self.broken(
                            ClientError::msg(ErrorKind::Transport, "server closed the stream"),
                            None,
                        ),
                        Err(silence) => self.broken(
                            ClientError::msg(
                                ErrorKind::Timeout,
                                format!("no data for {silence:?}, connection presumed dead"),
                            ),
                            None,
                        ),
                    }
                }
                State::Broken { retry_after, .. } => {
                    if self.resume_only && self.decoder.last_event_id().is_none() {
                        return self.give_up(ClientError::msg(
                            ErrorKind::Protocol,
                            "stream ended before the response and no event id to resume from",
                        ));
                    }
                    let floor = self.decoder.retry().max(*retry_after);
                    let delay =
                        self.retry
                            .next_delay(&self.backoff, Instant::now(), floor, &mut self.rng);
                    let Some(delay) = delay else {
                        let failures = self.retry.failures().saturating_sub(1);
                        return self.give_up(ClientError::msg(
                            ErrorKind::RetriesExhausted,
                            format!("{failures} reconnection attempts without progress"),
                        ));
                    };
                    let sleep = tokio::time::sleep(delay);
                    if unless_closed(&mut self.close_rx, sleep).await.is_some() {
                        self.state = State::Connect;
                    }
                }
                State::Connect => {
                    let attempt = self.attempt();
                    let Some(attempt) = unless_closed(&mut self.close_rx, attempt).await else {
                        continue;
                    };
                    match attempt {
                        Attempt::Open(body) => {
                            self.decoder.reset();
                            self.state = State::Open(body);
                        }
                        Attempt::Retry(err, retry_after) => self.broken(err, retry_after),
                        Attempt::Fatal(err) => return self.finish(err),
                        Attempt::Stop => {
                            self.state = State::Done;
                            return None;
                        }
                    }
                }
            }
        }
    }

    /// One `GET`: sends it and sorts the answer into open, retry later, or stop.
    fn attempt(&mut self) -> impl Future<Output = Attempt> + Send + 'static {
        self.connects += 1;
        let request = self.request();
        let service = self.service.clone();
        let timeout = self.connect_timeout;
        let resuming = self.decoder.last_event_id().is_some();
        async move {
            let request = match request {
                Ok(r) => r,
                Err(e) => return Attempt::Fatal(e),
            };
            let with_session = request.headers().contains_key(MCP_SESSION_ID);
            let call = service.oneshot(request);
            let response = match timeout {
                Some(t) => match tokio::time::timeout(t, call).await {
                    Ok(r) => r,
                    Err(_) => {
                        let err = ClientError::msg(
                            ErrorKind::Timeout,
                            format!("no response within {t:?}"),
                        );
                        return Attempt::Retry(err, None);
                    }
                },
                None => call.await,
            };
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    let err = ClientError::new(ErrorKind::Transport).with_source(e);
                    return Attempt::Retry(err, None);
                }
            };
            classify(response, resuming, with_session)
        }
    }

    fn request(&self) -> Result<Request<ClientBody>, ClientError> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(self.uri.clone())
            .body(ClientBody::empty())
            .map_err(|e| ClientError::new(ErrorKind::InvalidRequest).with_source(e))?;
        let headers = request.headers_mut();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        if let Some(id) = self.decoder.last_event_id() {
            let value = HeaderValue::from_str(id).map_err(|e| {
                ClientError::msg(
                    ErrorKind::Protocol,
                    "the server's event id cannot be sent back as a header",
                )
                .with_source(e)
            })?;
            headers.insert(LAST_EVENT_ID, value);
        }
        Ok(request)
    }
}

fn classify<B>(response: Response<B>, resuming: bool, with_session: bool) -> Attempt
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let status = response.status();
    match status {
        StatusCode::OK => {
            if is_event_stream(response.headers()) {
                Attempt::Open(byte_stream(response.into_body()))
            } else {
                Attempt::Fatal(
                    ClientError::msg(
                        ErrorKind::Protocol,
                        format!(
                            "expected text/event-stream, got {:?}",
                            response.headers().get(header::CONTENT_TYPE)
                        ),
                    )
                    .with_status(status),
                )
            }
        }
        StatusCode::NO_CONTENT => Attempt::Stop,
        StatusCode::METHOD_NOT_ALLOWED => {
            Attempt::Fatal(ClientError::new(ErrorKind::StreamNotOffered).with_status(status))
        }
        StatusCode::REQUEST_TIMEOUT
        | StatusCode::TOO_MANY_REQUESTS
        | StatusCode::INTERNAL_SERVER_ERROR
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => {
            let retry_after = retry_after(response.headers(), SystemTime::now());
            Attempt::Retry(
                ClientError::new(ErrorKind::Status).with_status(status),
                retry_after,
            )
        }
        StatusCode::NOT_FOUND if with_session => {
            Attempt::Fatal(ClientError::new(ErrorKind::SessionExpired).with_status(status))
        }
        // Authentication problems are not about the stream: the caller must fix credentials.
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Attempt::Fatal(ClientError::new(ErrorKind::Status).with_status(status))
        }
        s if s.is_client_error() && resuming => {
            Attempt::Fatal(ClientError::new(ErrorKind::ResumeRefused).with_status(status))
        }
        _ => Attempt::Fatal(ClientError::new(ErrorKind::Status).with_status(status)),
    }
}

/// Whether the media type, parameters aside, is `text/event-stream`.
pub(crate) fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// `Retry-After` as delta-seconds or an HTTP date; a date in the past means no wait.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Runs `fut`, or returns `None` as soon as the close flag is set.
pub(crate) async fn unless_closed<F: Future>(
    closed: &mut watch::Receiver<bool>,
    fut: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        _ = closed.wait_for(|c| *c) => None,
        out = fut => Some(out),
    }
}

/// Runs `fut` with the watchdog, if there is one; the error is the silence that tripped it.
async fn idle<F: Future>(timeout: Option<Duration>, fut: F) -> Result<F::Output, Duration> {
    match timeout {
        Some(t) => tokio::time::timeout(t, fut).await.map_err(|_| t),
        None => Ok(fut.await),
    }
}

impl<S> fmt::Debug for EventSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Connect => "connect",
            State::Open(_) => "open",
            State::Broken { .. } => "broken",
            State::Done => "done",
        };
        f.debug_struct("EventSource")
            .field("service", &std::any::type_name::<S>())
            .field("uri", &self.uri)
            .field("state", &state)
            .field("last_event_id", &self.decoder.last_event_id())
            .field("backoff", &self.backoff)
            .field("failures", &self.retry.failures())
            .finish_non_exhaustive()
    }
}

/// Closes an [`EventSource`] from another task. Cheap to clone.
///
/// # Example
///
/// ```
/// # use mcp_tower::client::{ClientBody, EventSource};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let server = tower::service_fn(|_req: http::Request<ClientBody>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// # });
/// let mut events = EventSource::new(server, "http://localhost/".parse().unwrap());
/// let handle = events.close_handle();
/// handle.close();
/// assert!(handle.is_closed());
/// assert!(events.next().await.is_none());
/// # }
/// ```
#[derive(Clone)]
pub struct CloseHandle {
    tx: Arc<watch::Sender<bool>>,
}

impl CloseHandle {
    /// Closes the stream; a pending or later [`EventSource::next`] returns `None`.
    pub fn close(&self) {
        self.tx.send_replace(true);
    }

    /// Whether the stream was closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        *self.tx.borrow()
    }
}

impl fmt::Debug for CloseHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseHandle")
            .field("closed", &self.is_closed())
            .finish()
    }
}
