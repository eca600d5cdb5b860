//! Client tests against scripted in-memory HTTP services, on a paused clock.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{stream, FutureExt as _, StreamExt as _};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, StreamBody};
use tokio::time::Instant;

use super::*;
use crate::BoxError;

pub(crate) type TestBody = BoxBody<Bytes, BoxError>;

/// One scripted answer.
pub(crate) enum Reply {
    /// A status with headers and an empty body.
    Status(u16, Vec<(&'static str, String)>),
    /// `200 text/event-stream` with these chunks, then a clean end.
    Sse(Vec<&'static str>),
    /// `200 text/event-stream` with these chunks, then silence for ever.
    SseThenHang(Vec<&'static str>),
    /// `200` with a body of another type.
    Json(u16, String),
    /// A ready-made response.
    Custom(Response<TestBody>),
    /// The service fails (connection refused).
    Fail,
    /// The service never answers.
    Hang,
}

/// What the server saw: when each request came and what it carried.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) at: Instant,
    pub(crate) method: http::Method,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

type MakeReply = fn() -> Reply;

#[derive(Clone, Default)]
pub(crate) struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    /// Served when the script has run out.
    fallback: Arc<Mutex<Option<MakeReply>>>,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

fn body_of(chunks: Vec<&'static str>, hang: bool) -> TestBody {
    let chunks = stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(c.as_bytes())))),
    );
    if hang {
        BodyExt::boxed(StreamBody::new(chunks.chain(stream::pending())))
    } else {
        BodyExt::boxed(StreamBody::new(chunks))
    }
}

pub(crate) fn sse_response(body: TestBody) -> Response<TestBody> {
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap()
}

impl Script {
    pub(crate) fn new(replies: impl IntoIterator<Item = Reply>) -> Self {
        let s = Self::default();
        s.replies.lock().unwrap().extend(replies);
        s
    }

    pub(crate) fn then_always(self, reply: MakeReply) -> Self {
        *self.fallback.lock().unwrap() = Some(reply);
        self
    }

    pub(crate) fn push(&self, reply: Reply) {
        self.replies.lock().unwrap().push_back(reply);
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Gaps between consecutive requests, in whole milliseconds.
    pub(crate) fn gaps_ms(&self) -> Vec<u128> {
        let seen = self.seen();
        seen.windows(2)
            .map(|w| (w[1].at - w[0].at).as_millis())
            .collect()
    }

    pub(crate) fn service(
        &self,
    ) -> impl tower::Service<
        Request<ClientBody>,
        Response = Response<TestBody>,
        Error = BoxError,
        Future = BoxFuture<'static, Result<Response<TestBody>, BoxError>>,
    > + Clone
           + Send
           + 'static {
        let script = self.clone();
        tower::service_fn(move |req: Request<ClientBody>| {
            let script = script.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                script.seen.lock().unwrap().push(Seen {
                    at: Instant::now(),
                    method: parts.method,
                    headers: parts.headers,
                    body,
                });
                let next = script.replies.lock().unwrap().pop_front();
                let reply = match next {
                    Some(r) => r,
                    None => match *script.fallback.lock().unwrap() {
                        Some(f) => f(),
                        None => Reply::Status(500, vec![]),
                    },
                };
                match reply {
                    Reply::Status(code, headers) => {
                        let mut res = Response::new(body_of(vec![], false));
                        *res.status_mut() = StatusCode::from_u16(code).unwrap();
                        for (k, v) in headers {
                            res.headers_mut().insert(k, v.parse().unwrap());
                        }
                        Ok(res)
                    }
                    Reply::Sse(chunks) => Ok(sse_response(body_of(chunks, false))),
                    Reply::SseThenHang(chunks) => Ok(sse_response(body_of(chunks, true))),
                    Reply::Json(code, json) => {
                        let body = http_body_util::Full::new(Bytes::from(json))
                            .map_err(|e: Infallible| match e {})
                            .boxed();
                        Ok(Response::builder()
                            .status(code)
                            .header("content-type", "application/json")
                            .body(body)
                            .unwrap())
                    }
                    Reply::Custom(res) => Ok(res),
                    Reply::Fail => Err("connection refused".into()),
                    Reply::Hang => std::future::pending().await,
                }
            }
            .boxed()
        })
    }
}

fn uri() -> http::Uri {
    "http://mcp.test/mcp".parse().unwrap()
}

fn no_jitter() -> Backoff {
    Backoff::new().jitter(false)
}

async fn data<S, B>(events: &mut EventSource<S>) -> String
where
    S: tower::Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    events.next().await.unwrap().unwrap().into_data()
}

fn stream_of(chunks: &[&'static str]) -> body::ByteStream {
    body::byte_stream(body_of(chunks.to_vec(), false))
}

// ===== EventSource: reconnect policy =====

#[tokio::test(start_paused = true)]
async fn delay_sequence_doubles_to_the_cap_then_gives_up() {
    let script = Script::default().then_always(|| Reply::Status(503, vec![]));
    let mut events = EventSource::new(script.service(), uri()).backoff(no_jitter().max_attempts(7));
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RetriesExhausted);
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("503"), "{cause}");
    assert_eq!(
        script.gaps_ms(),
        [1000, 2000, 4000, 8000, 16000, 30000, 30000]
    );
    assert!(events.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_stay_within_their_ceilings() {
    let script = Script::default().then_always(|| Reply::Fail);
    let backoff = Backoff::new().max_attempts(40);
    let mut events = EventSource::new(script.service(), uri()).backoff(backoff);
    assert_eq!(
        events.next().await.unwrap().unwrap_err().kind(),
        ErrorKind::RetriesExhausted
    );
    let gaps = script.gaps_ms();
    assert_eq!(gaps.len(), 40);
    for (n, gap) in gaps.iter().enumerate() {
        assert!(*gap <= backoff.ceiling(n as u32).as_millis(), "{n}: {gap}");
    }
    // Full jitter: at the 30 s cap, delays are spread over the whole range.
    assert!(gaps[5..].iter().any(|g| *g < 10_000), "{gaps:?}");
    assert!(gaps[5..].iter().any(|g| *g > 20_000), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_field_is_a_floor_under_the_backoff() {
    let script = Script::new([Reply::Sse(vec!["retry: 5000\ndata: a\n\n"])])
        .then_always(|| Reply::Sse(vec![]));
    let mut events = EventSource::new(script.service(), uri()).backoff(no_jitter().max_attempts(4));
    assert_eq!(data(&mut events).await, "a");
    assert_eq!(events.retry(), Some(Duration::from_secs(5)));
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RetriesExhausted);
    // Floor 5 s over ceilings 1, 2, 4, 8 s: the backoff wins once it is higher.
    assert_eq!(script.gaps_ms(), [5000, 5000, 5000, 8000]);
}

#[tokio::test(start_paused = true)]
async fn retry_floor_applies_with_jitter_too() {
    let script = Script::new([Reply::Sse(vec!["retry: 3000\ndata: a\n\n"])])
        .then_always(|| Reply::Sse(vec![]));
    let mut events =
        EventSource::new(script.service(), uri()).backoff(Backoff::new().max_attempts(6));
    assert_eq!(data(&mut events).await, "a");
    assert!(events.next().await.unwrap().is_err());
    let gaps = script.gaps_ms();
    assert!(gaps.iter().all(|g| *g >= 3000), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_in_seconds_and_as_a_date() {
    let script = Script::new([
        Reply::Status(503, vec![("retry-after", "7".into())]),
        Reply::Status(429, vec![("retry-after", "12".into())]),
        Reply::Sse(vec!["data: ok\n\n"]),
    ]);
    let mut events = EventSource::new(script.service(), uri()).backoff(no_jitter());
    assert_eq!(data(&mut events).await, "ok");
    assert_eq!(script.gaps_ms(), [7000, 12000]);

    let now = std::time::SystemTime::now();
    let mut headers = HeaderMap::new();
    let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
    headers.insert(http::header::RETRY_AFTER, later.parse().unwrap());
    let wait = event_source::retry_after(&headers, now).unwrap();
    assert!(
        wait > Duration::from_secs(88) && wait <= Duration::from_secs(90),
        "{wait:?}"
    );
    headers.insert(
        http::header::RETRY_AFTER,
        "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
    );
    assert_eq!(
        event_source::retry_after(&headers, now),
        Some(Duration::ZERO)
    );
    headers.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
    assert_eq!(event_source::retry_after(&headers, now), None);
}

#[tokio::test(start_paused = true)]
async fn elapsed_cap_gives_up_in_time() {
    let script = Script::default().then_always(|| Reply::Fail);
    let start = Instant::now();
    let backoff = no_jitter().max_elapsed(Duration::from_secs(10));
    let mut events = EventSource::new(script.service(), uri()).backoff(backoff);
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RetriesExhausted);
    // Waits of 1, 2 and 4 s; the next (8 s) would end 15 s after the first failure.
    assert_eq!(script.gaps_ms(), [1000, 2000, 4000]);
    assert_eq!(start.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn clean_close_without_events_backs_off_instead_of_looping() {
    // The loop that bit other SDKs: `200 OK`, then a clean close, over and over.
    let script = Script::default().then_always(|| Reply::Sse(vec![": hi\n\n"]));
    let mut events = EventSource::new(script.service(), uri()).backoff(no_jitter());
    let handle = events.close_handle();
    let run = tokio::time::timeout(Duration::from_secs(120), events.next()).await;
    assert!(run.is_err(), "still retrying, no event, no error");
    handle.close();
    assert!(events.next().await.is_none());
    assert_eq!(
        script.gaps_ms(),
        [1000, 2000, 4000, 8000, 16000, 30000, 30000]
    );

    // With the default full jitter, 10 minutes hold few attempts, not thousands.
    let script = Script::default().then_always(|| Reply::Sse(vec![]));
    let mut events = EventSource::new(script.service(), uri());
    let _ = tokio::time::timeout(Duration::from_secs(600), events.next()).await;
    let n = script.seen().len();
    assert!((10..=80).contains(&n), "{n} attempts in 10 minutes");
}

#[tokio::test(start_paused = true)]
async fn an_event_resets_the_attempt_counter() {
    let script = Script::default().then_always(|| Reply::Sse(vec!["data: x\n\n"]));
    let mut events = EventSource::new(script.service(), uri()).backoff(no_jitter());
    for _ in 0..5 {
        assert_eq!(data(&mut events).await, "x");
    }
    assert_eq!(script.gaps_ms(), [1000, 1000, 1000, 1000]);
}

#[tokio::test(start_paused = true)]
async fn a_new_priming_id_is_progress_the_same_id_is_not() {
    // A polling server: every connection primes a new id, then closes.
    let counter = Arc::new(Mutex::new(0u32));
    let c = counter.clone();
    let service = tower::service_fn(move |_req: Request<ClientBody>| {
        let n = {
            let mut n = c.lock().unwrap();
            *n += 1;
            *n
        };
        let text = format!("id: p{n}\nretry: 500\ndata:\n\n");
        async move {
            let body: TestBody = http_body_util::Full::new(Bytes::from(text))
                .map_err(|e: Infallible| match e {})
                .boxed();
            Ok::<_, BoxError>(sse_response(body))
        }
    });
    let mut events = EventSource::new(service, uri()).backoff(no_jitter());
    let _ = tokio::time::timeout(Duration::from_millis(9500), events.next()).await;
    // 1 s apart each time (ceiling 1 s over the 500 ms floor): ten connections in ten seconds.
    assert_eq!(*counter.lock().unwrap(), 10);
    assert_eq!(events.last_event_id(), Some("p10"));

    // The same priming id again and again makes no progress: delays grow.
    let script =
        Script::default().then_always(|| Reply::Sse(vec!["id: same\nretry: 500\ndata:\n\n"]));
    let mut events = EventSource::new(script.service(), uri()).backoff(no_jitter());
    let _ = tokio::time::timeout(Duration::from_secs(40), events.next()).await;
    assert_eq!(script.gaps_ms(), [1000, 2000, 4000, 8000, 16000]);
}

#[tokio::test(start_paused = true)]
async fn watchdog_resumes_a_silent_connection() {
    // The second connection sends `b`, then a keep-alive 6 s later, then nothing.
    let chunk = |c: &'static str| {
        Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(c.as_bytes())))
    };
    let keep_alive = stream::once(async move {
        tokio::time::sleep(Duration::from_secs(6)).await;
        chunk(":\n\n")
    });
    let body = stream::iter([chunk("id: 2\ndata: b\n\n")])
        .chain(keep_alive)
        .chain(stream::pending());
    let script = Script::new([
        Reply::SseThenHang(vec!["id: 1\ndata: a\n\n"]),
        Reply::Custom(sse_response(BodyExt::boxed(StreamBody::new(body)))),
    ]);
    let mut events = EventSource::new(script.service(), uri())
        .backoff(no_jitter())
        .idle_timeout(Some(Duration::from_secs(10)));
    let start = Instant::now();
    assert_eq!(data(&mut events).await, "a");
    assert_eq!(data(&mut events).await, "b");
    // 10 s of silence, then the 1 s backoff.
    assert_eq!(start.elapsed(), Duration::from_secs(11));
    let seen = script.seen();
    assert!(seen[0].headers.get("last-event-id").is_none());
    assert_eq!(seen[1].headers["last-event-id"], "1");
    // Without the keep-alive (at 17 s) the watchdog would trip at 21 s and reconnect at 22 s;
    // with it, the next trip is due at 27 s. Close in between, at 24 s.
    let handle = events.close_handle();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(13)).await;
        handle.close();
    });
    assert!(
        events.next().await.is_none(),
        "closed while waiting for bytes"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(24));
    assert_eq!(script.seen().len(), 2, "the keep-alive fed the watchdog");
}

#[tokio::test(start_paused = true)]
async fn a_huge_retry_after_is_capped_and_does_not_panic() {
    let script = Script::new([
        Reply::Status(503, vec![]),
        Reply::Status(503, vec![("retry-after", u64::MAX.to_string())]),
        Reply::Sse(vec!["data: ok\n\n"]),
    ]);
    let mut events = EventSource::new(script.service(), uri()).backoff(no_jitter());
    assert_eq!(data(&mut events).await, "ok");
    // One header cannot park the client for ever: the floor is capped at an hour.
    assert_eq!(script.gaps_ms(), [1000, 3_600_000]);

    // A cap above an hour is the limit instead.
    let script = Script::new([
        Reply::Status(503, vec![]),
        Reply::Sse(vec!["retry: 99999999999\ndata: a\n\n"]),
        Reply::Sse(vec!["data: b\n\n"]),
    ]);
    let backoff = no_jitter().max_delay(Duration::from_secs(7200));
    let mut events = EventSource::new(script.service(), uri()).backoff(backoff);
    assert_eq!(data(&mut events).await, "a");
    assert_eq!(data(&mut events).await, "b");
    assert_eq!(script.gaps_ms(), [1000, 7_200_000]);
}

#[tokio::test(start_paused = true)]
async fn method_not_allowed_stops_without_retrying() {
    let script = Script::default().then_always(|| Reply::Status(405, vec![]));
    let mut events = EventSource::new(script.service(), uri());
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamNotOffered);
    assert_eq!(err.status(), Some(StatusCode::METHOD_NOT_ALLOWED));
    assert!(events.next().await.is_none());
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn refused_resumption_is_an_error_the_caller_sees() {
    let script = Script::new([
        Reply::Sse(vec!["id: 7\ndata: a\n\n"]),
        Reply::Status(400, vec![]),
    ]);
    let mut events = EventSource::new(script.service(), uri()).backoff(no_jitter());
    assert_eq!(data(&mut events).await, "a");
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResumeRefused);
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(script.seen()[1].headers["last-event-id"], "7");
    assert!(events.next().await.is_none());

    // Credentials, not the resumption, are the problem here.
    let script = Script::new([Reply::Status(401, vec![])]);
    let mut events = EventSource::new(script.service(), uri()).resume_from("7");
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Status);
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
}

#[tokio::test(start_paused = true)]
async fn headers_go_on_every_attempt_and_resume_from_sends_the_id() {
    let script = Script::new([
        Reply::Fail,
        Reply::Status(502, vec![]),
        Reply::Sse(vec!["data: x\n\n"]),
    ]);
    let mut events = EventSource::new(script.service(), uri())
        .backoff(no_jitter())
        .header(http::header::AUTHORIZATION, "Bearer t".parse().unwrap())
        .resume_from("41");
    assert_eq!(data(&mut events).await, "x");
    let seen = script.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.method, http::Method::GET);
        assert_eq!(s.headers["authorization"], "Bearer t");
        assert_eq!(s.headers["accept"], "text/event-stream");
        assert_eq!(s.headers["last-event-id"], "41");
    }
    assert_eq!(events.connection_attempts(), 3);
}

#[tokio::test(start_paused = true)]
async fn connect_timeout_is_retried() {
    let script = Script::new([Reply::Hang, Reply::Sse(vec!["data: x\n\n"])]);
    let mut events = EventSource::new(script.service(), uri())
        .backoff(no_jitter())
        .connect_timeout(Some(Duration::from_secs(5)));
    let start = Instant::now();
    assert_eq!(data(&mut events).await, "x");
    assert_eq!(start.elapsed(), Duration::from_secs(6));
}

#[tokio::test(start_paused = true)]
async fn no_content_ends_and_wrong_content_type_is_fatal() {
    let script = Script::new([Reply::Status(204, vec![])]);
    let mut events = EventSource::new(script.service(), uri());
    assert!(events.next().await.is_none());

    let script = Script::new([Reply::Json(200, "{}".into())]);
    let mut events = EventSource::new(script.service(), uri());
    assert_eq!(
        events.next().await.unwrap().unwrap_err().kind(),
        ErrorKind::Protocol
    );
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn oversized_event_ends_the_stream() {
    let script = Script::new([Reply::Sse(vec!["data: 0123456789\n\n"])]);
    let mut events = EventSource::new(script.service(), uri()).max_event_size(8);
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EventTooLarge);
    assert!(err.to_string().contains("event too large"), "{err}");
    assert!(events.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn attached_post_stream_resumes_only_from_an_id() {
    // Broken after a priming id: resumed by GET with Last-Event-ID.
    let script = Script::new([Reply::Sse(vec!["id: 3\ndata: rest\n\n"])]);
    let first = stream_of(&["id: 2\ndata:\n\n"]);
    let mut events = EventSource::new(script.service(), uri())
        .backoff(no_jitter())
        .attach(first);
    assert_eq!(data(&mut events).await, "rest");
    assert_eq!(script.seen()[0].headers["last-event-id"], "2");

    // Broken before any id: nothing to resume from.
    let script = Script::default();
    let first = stream_of(&["data: a\n\n"]);
    let mut events = EventSource::new(script.service(), uri()).attach(first);
    assert_eq!(data(&mut events).await, "a");
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(script.seen().is_empty());
}

#[tokio::test]
async fn event_source_and_its_parts_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let script = Script::default();
    let mut events = EventSource::new(script.service(), uri());
    assert_send(&events);
    assert_send(&events.next());
    assert_send(&events.close_handle());
}

// ===== StreamableHttpClient =====

const INIT_RESULT: &str = r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"1"}}}"#;

fn json_with(code: u16, json: &str, headers: &[(&'static str, &str)]) -> Reply {
    let body = http_body_util::Full::new(Bytes::from(json.to_owned()))
        .map_err(|e: Infallible| match e {})
        .boxed();
    let mut res = Response::builder()
        .status(code)
        .header("content-type", "application/json");
    for (k, v) in headers {
        res = res.header(*k, *v);
    }
    Reply::Custom(res.body(body).unwrap())
}

fn init_replies(session: &str) -> [Reply; 2] {
    [
        json_with(200, INIT_RESULT, &[("mcp-session-id", session)]),
        Reply::Status(202, vec![]),
    ]
}

fn json_body(seen: &Seen) -> serde_json::Value {
    serde_json::from_slice(&seen.body).unwrap()
}

async fn connected(
    script: &Script,
) -> StreamableHttpClient<
    impl tower::Service<
            Request<ClientBody>,
            Response = Response<TestBody>,
            Error = BoxError,
            Future = BoxFuture<'static, Result<Response<TestBody>, BoxError>>,
        > + Clone
        + Send
        + 'static,
> {
    let client = StreamableHttpClient::builder(script.service(), uri())
        .header(http::header::AUTHORIZATION, "Bearer t".parse().unwrap())
        .backoff(no_jitter())
        .build();
    client.initialize().await.unwrap();
    client
}

#[tokio::test(start_paused = true)]
async fn handshake_negotiates_the_version_and_captures_the_session() {
    let script = Script::new(init_replies("s-1"));
    let client = StreamableHttpClient::builder(script.service(), uri())
        .client_info("tester", "0.1")
        .build();
    let result = client.initialize().await.unwrap();
    assert_eq!(result["serverInfo"]["name"], "fake");
    assert_eq!(client.session_id().as_deref(), Some("s-1"));
    assert_eq!(
        client.protocol_version(),
        Some(crate::ProtocolVersion::V2025_06_18)
    );
    let seen = script.seen();
    assert_eq!(seen.len(), 2);
    let init = &seen[0];
    assert_eq!(init.method, http::Method::POST);
    assert_eq!(
        init.headers["accept"],
        "application/json, text/event-stream"
    );
    assert_eq!(init.headers["content-type"], "application/json");
    assert!(init.headers.get("mcp-session-id").is_none());
    assert!(init.headers.get("mcp-protocol-version").is_none());
    let body = json_body(init);
    assert_eq!(body["method"], "initialize");
    assert_eq!(body["params"]["protocolVersion"], "2025-11-25");
    assert_eq!(body["params"]["clientInfo"]["name"], "tester");
    let initialized = &seen[1];
    assert_eq!(
        json_body(initialized)["method"],
        "notifications/initialized"
    );
    assert!(json_body(initialized).get("id").is_none());
    assert_eq!(initialized.headers["mcp-session-id"], "s-1");
    assert_eq!(initialized.headers["mcp-protocol-version"], "2025-06-18");
}

#[tokio::test(start_paused = true)]
async fn a_version_the_client_does_not_speak_is_refused() {
    let result = r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2099-01-01","capabilities":{},"serverInfo":{"name":"x","version":"1"}}}"#;
    let script = Script::new([json_with(200, result, &[])]);
    let client = StreamableHttpClient::builder(script.service(), uri()).build();
    let err = client.initialize().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedVersion);
    assert!(err.to_string().contains("2099-01-01"), "{err}");
    assert_eq!(script.seen().len(), 1, "no initialized notification");
}

#[tokio::test(start_paused = true)]
async fn sse_reply_delivers_progress_and_server_requests_before_the_response() {
    let script = Script::new(init_replies("s"));
    let client = StreamableHttpClient::builder(script.service(), uri())
        .request_handler(|req| async move {
            assert_eq!(req.method(), "sampling/createMessage");
            Ok(serde_json::json!({ "model": "m", "echo": req.params().cloned() }))
        })
        .build();
    client.initialize().await.unwrap();
    script.push(Reply::Sse(vec![
        "id: e1\ndata:\n\n",
        "id: e2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n",
        "id: e3\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"method\":\"sampling/createMessage\",\"params\":{\"x\":1}}\n\n",
        "id: e4\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n",
    ]));
    script.push(Reply::Status(202, vec![])); // the POSTed answer to srv-1
    let mut call = client
        .call("tools/call", Some(serde_json::json!({"name": "t"})))
        .await
        .unwrap();
    assert_eq!(call.id(), 1);
    let first = call.next_message().await.unwrap();
    assert_eq!(first.method(), Some("notifications/progress"));
    assert!(matches!(first, ServerMessage::Notification(_)));
    let second = call.next_message().await.unwrap();
    assert!(matches!(second, ServerMessage::Request(_)));
    // The answer was POSTed back before the request was handed out.
    let seen = script.seen();
    let answer = json_body(&seen[3]);
    assert_eq!(answer["id"], "srv-1");
    assert_eq!(answer["result"]["echo"], serde_json::json!({"x": 1}));
    assert_eq!(seen[3].headers["mcp-session-id"], "s");
    assert!(call.next_message().await.is_none());
    assert_eq!(
        call.result().await.unwrap(),
        serde_json::json!({"content": []})
    );
}

#[tokio::test(start_paused = true)]
async fn json_replies_and_json_rpc_errors() {
    let script = Script::new(init_replies("s"));
    let client = connected(&script).await;
    script.push(json_with(
        200,
        r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#,
        &[],
    ));
    script.push(json_with(
        200,
        r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"unknown tool"}}"#,
        &[],
    ));
    script.push(json_with(
        200,
        r#"{"jsonrpc":"2.0","id":99,"result":{}}"#,
        &[],
    ));
    script.push(json_with(
        400,
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad"}}"#,
        &[],
    ));
    assert_eq!(
        client.request("tools/list", None).await.unwrap(),
        serde_json::json!({"tools": []})
    );
    let err = client.request("tools/call", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rpc);
    assert_eq!(err.rpc_error().unwrap().code, -32602);
    let err = client.request("x", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "response to another id");
    let err = client.request("y", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Status);
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(err.rpc_error().unwrap().code, -32600);
    for seen in &script.seen()[2..] {
        assert_eq!(seen.headers["mcp-session-id"], "s");
        assert_eq!(seen.headers["mcp-protocol-version"], "2025-06-18");
        assert_eq!(seen.headers["authorization"], "Bearer t");
    }
}

#[tokio::test(start_paused = true)]
async fn a_broken_post_stream_is_resumed_with_get_and_last_event_id() {
    let script = Script::new(init_replies("s"));
    let client = connected(&script).await;
    script.push(Reply::Sse(vec![
        "id: e1\nretry: 2000\ndata:\n\n",
        "id: e2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n",
        // the connection drops here, before the response
    ]));
    script.push(Reply::Sse(vec![
        "id: e3\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":2}}\n\n",
        "id: e4\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"done\":true}}\n\n",
    ]));
    let start = Instant::now();
    let mut call = client.call("tools/call", None).await.unwrap();
    let mut progress = Vec::new();
    while let Some(msg) = call.next_message().await {
        progress.push(msg.as_value()["params"]["progress"].clone());
    }
    assert_eq!(progress, [1, 2], "every event exactly once");
    assert_eq!(call.result().await.unwrap()["done"], true);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "waited the retry time"
    );
    let seen = script.seen();
    let get = &seen[3];
    assert_eq!(get.method, http::Method::GET);
    assert_eq!(get.headers["last-event-id"], "e2");
    assert_eq!(get.headers["mcp-session-id"], "s");
    assert_eq!(get.headers["mcp-protocol-version"], "2025-06-18");
    assert_eq!(get.headers["authorization"], "Bearer t");
    assert_eq!(get.headers["accept"], "text/event-stream");
}

#[tokio::test(start_paused = true)]
async fn a_post_stream_broken_before_any_id_fails_clearly() {
    let script = Script::new(init_replies("s"));
    let client = connected(&script).await;
    script.push(Reply::Sse(vec![
        "data: {\"jsonrpc\":\"2.0\",\"method\":\"n\"}\n\n",
    ]));
    let err = client.request("tools/call", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("no event id"), "{err}");
    assert_eq!(script.seen().len(), 3, "no GET without an id");
}

#[tokio::test(start_paused = true)]
async fn expired_session_is_reinitialized_when_configured() {
    let script = Script::new(init_replies("old"));
    let client = StreamableHttpClient::builder(script.service(), uri())
        .reinitialize_on_expiry(true)
        .build();
    client.initialize().await.unwrap();
    script.push(Reply::Status(404, vec![]));
    // The new initialize is request 2; the retried tools/list keeps its id 1.
    let init = INIT_RESULT.replace(r#""id":0"#, r#""id":2"#);
    script.push(json_with(200, &init, &[("mcp-session-id", "new")]));
    script.push(Reply::Status(202, vec![]));
    script.push(json_with(
        200,
        r#"{"jsonrpc":"2.0","id":1,"result":{"ok":1}}"#,
        &[],
    ));
    assert_eq!(client.request("tools/list", None).await.unwrap()["ok"], 1);
    assert_eq!(client.session_id().as_deref(), Some("new"));
    let seen = script.seen();
    assert_eq!(seen[2].headers["mcp-session-id"], "old");
    assert_eq!(json_body(&seen[3])["method"], "initialize");
    assert!(seen[3].headers.get("mcp-session-id").is_none());
    assert_eq!(seen[4].headers["mcp-session-id"], "new");
    assert_eq!(seen[5].headers["mcp-session-id"], "new");
    assert_eq!(json_body(&seen[5])["method"], "tools/list");

    // Off (the default): the caller sees the expiry.
    let script = Script::new(init_replies("s"));
    let client = connected(&script).await;
    script.push(Reply::Status(404, vec![]));
    let err = client.request("tools/list", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionExpired);
    assert_eq!(script.seen().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn cancel_posts_notifications_cancelled() {
    let script = Script::new(init_replies("s"));
    let client = connected(&script).await;
    script.push(Reply::SseThenHang(vec!["id: a\ndata:\n\n"]));
    script.push(Reply::Status(202, vec![]));
    let call = client.call("tools/call", None).await.unwrap();
    let id = call.id();
    call.cancel(Some("user gave up")).await.unwrap();
    let seen = script.seen();
    let cancelled = json_body(&seen[3]);
    assert_eq!(cancelled["method"], "notifications/cancelled");
    assert_eq!(cancelled["params"]["requestId"], id);
    assert_eq!(cancelled["params"]["reason"], "user gave up");
    assert!(cancelled.get("id").is_none());
}

#[tokio::test(start_paused = true)]
async fn close_deletes_the_session_and_tolerates_405() {
    let script = Script::new(init_replies("s"));
    let client = connected(&script).await;
    script.push(Reply::Status(405, vec![]));
    client.close().await.unwrap();
    let seen = script.seen();
    assert_eq!(seen[2].method, http::Method::DELETE);
    assert_eq!(seen[2].headers["mcp-session-id"], "s");
    assert_eq!(seen[2].headers["authorization"], "Bearer t");
    assert_eq!(client.session_id(), None);
    client.close().await.unwrap();
    assert_eq!(script.seen().len(), 3, "nothing to delete any more");

    let script = Script::new(init_replies("s"));
    let client = connected(&script).await;
    script.push(Reply::Status(500, vec![]));
    assert_eq!(
        client.close().await.unwrap_err().status(),
        Some(StatusCode::INTERNAL_SERVER_ERROR)
    );
    // The session is still there, so closing again sends another DELETE.
    assert_eq!(client.session_id().as_deref(), Some("s"));
    script.push(Reply::Status(200, vec![]));
    client.close().await.unwrap();
    let seen = script.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[3].method, http::Method::DELETE);
    assert_eq!(seen[3].headers["mcp-session-id"], "s");
    assert_eq!(client.session_id(), None);
}

#[tokio::test(start_paused = true)]
async fn standalone_stream_answers_requests_and_405_means_none() {
    let script = Script::new(init_replies("s"));
    let client = connected(&script).await;
    script.push(Reply::Status(405, vec![]));
    let mut stream = client.listen();
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamNotOffered);
    assert!(stream.next().await.is_none());
    assert_eq!(script.seen()[2].headers["accept"], "text/event-stream");

    script.push(Reply::SseThenHang(vec![
        "id: g1\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}\n\n",
        "id: g2\ndata: {\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"roots/list\"}\n\n",
        "id: g3\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n",
    ]));
    script.push(Reply::Status(202, vec![]));
    script.push(Reply::Status(202, vec![]));
    let mut stream = client.listen();
    let ping = stream.next().await.unwrap().unwrap();
    assert_eq!(ping.method(), Some("ping"));
    let roots = stream.next().await.unwrap().unwrap();
    assert_eq!(roots.method(), Some("roots/list"));
    let changed = stream.next().await.unwrap().unwrap();
    assert!(matches!(changed, ServerMessage::Notification(_)));
    let seen = script.seen();
    let pong = json_body(&seen[4]);
    assert_eq!(
        pong,
        serde_json::json!({"jsonrpc": "2.0", "id": 5, "result": {}})
    );
    let refused = json_body(&seen[5]);
    assert_eq!(refused["id"], 6);
    assert_eq!(refused["error"]["code"], -32601);
    stream.close();
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn client_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Sync>(_: &T) {}
    let script = Script::default();
    let client = StreamableHttpClient::builder(script.service(), uri()).build();
    assert_send(&client);
    assert_sync(&client);
    assert_send(&client.initialize());
    assert_send(&client.request("x", None));
    assert_send(&client.close());
    let mut stream = client.listen();
    assert_send(&stream.next());
}

#[tokio::test(start_paused = true)]
async fn request_timeout_cancels_and_reports() {
    let script = Script::new(init_replies("s"));
    let client = StreamableHttpClient::builder(script.service(), uri())
        .request_timeout(Some(Duration::from_secs(10)))
        .build();
    client.initialize().await.unwrap();
    script.push(Reply::SseThenHang(vec!["id: a\ndata:\n\n"]));
    script.push(Reply::Status(202, vec![]));
    let start = Instant::now();
    let err = client.request("tools/call", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    let seen = script.seen();
    let cancelled = json_body(&seen[3]);
    assert_eq!(cancelled["method"], "notifications/cancelled");
    assert_eq!(cancelled["params"]["requestId"], json_body(&seen[2])["id"]);
}

#[tokio::test(start_paused = true)]
async fn a_server_request_during_initialize_is_answered_in_the_new_session() {
    let body = body_of(
        vec![
            "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}\n\n",
            "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"serverInfo\":{\"name\":\"s\",\"version\":\"1\"}}}\n\n",
        ],
        false,
    );
    let mut init = sse_response(body);
    init.headers_mut()
        .insert("mcp-session-id", "sse-session".parse().unwrap());
    let script = Script::new([
        Reply::Custom(init),
        Reply::Status(202, vec![]),
        Reply::Status(202, vec![]),
    ]);
    let client = StreamableHttpClient::builder(script.service(), uri()).build();
    client.initialize().await.unwrap();
    let seen = script.seen();
    let pong = json_body(&seen[1]);
    assert_eq!(pong["id"], "p");
    assert_eq!(pong["result"], serde_json::json!({}));
    assert_eq!(seen[1].headers["mcp-session-id"], "sse-session");
    assert_eq!(json_body(&seen[2])["method"], "notifications/initialized");

    // A failed handshake leaves no half session behind.
    let script = Script::new([json_with(200, "{}", &[("mcp-session-id", "x")])]);
    let client = StreamableHttpClient::builder(script.service(), uri()).build();
    assert_eq!(
        client.initialize().await.unwrap_err().kind(),
        ErrorKind::Protocol
    );
    assert_eq!(client.session_id(), None);
}

#[tokio::test(start_paused = true)]
async fn initialize_is_bounded_by_the_request_timeout() {
    // The server never answers, then answers with a stream that stalls.
    let mut stalled = sse_response(body_of(vec!["id: 1\ndata:\n\n"], true));
    stalled
        .headers_mut()
        .insert("mcp-session-id", "half".parse().unwrap());
    // The third handshake is request 2.
    let init = INIT_RESULT.replace(r#""id":0"#, r#""id":2"#);
    let script = Script::new([
        Reply::Hang,
        Reply::Custom(stalled),
        json_with(200, &init, &[("mcp-session-id", "s")]),
        Reply::Status(202, vec![]),
    ]);
    let client = StreamableHttpClient::builder(script.service(), uri())
        .request_timeout(Some(Duration::from_secs(10)))
        .build();
    for _ in 0..2 {
        let start = Instant::now();
        let run = tokio::time::timeout(Duration::from_secs(60), client.initialize()).await;
        let err = run.expect("the handshake must be bounded").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_eq!(client.session_id(), None, "no half session left behind");
    }
    // The lock was released: a later handshake goes through.
    client.initialize().await.unwrap();
    assert_eq!(client.session_id().as_deref(), Some("s"));
    let seen = script.seen();
    assert_eq!(seen.len(), 4, "initialize is never cancelled");
}

#[tokio::test(start_paused = true)]
async fn a_failed_answer_does_not_replace_an_arrived_result() {
    let script = Script::new(init_replies("s"));
    let client = connected(&script).await;
    // One event: a server request and the response, as a batch.
    script.push(Reply::Sse(vec![
        "id: e1\ndata: [{\"jsonrpc\":\"2.0\",\"id\":\"r\",\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ok\":true}}]\n\n",
    ]));
    script.push(Reply::Status(500, vec![])); // the POSTed answer to `r` fails
    let mut call = client.call("tools/call", None).await.unwrap();
    assert!(
        call.next_message().await.is_none(),
        "a request whose answer failed is not handed out as answered"
    );
    assert_eq!(call.result().await.unwrap()["ok"], true);
    assert_eq!(json_body(&script.seen()[3])["id"], "r");
}

#[tokio::test(start_paused = true)]
async fn an_empty_or_invisible_session_id_is_refused() {
    for id in ["", "a b"] {
        let script = Script::new([json_with(200, INIT_RESULT, &[("mcp-session-id", id)])]);
        let client = StreamableHttpClient::builder(script.service(), uri()).build();
        let err = client.initialize().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{id:?}");
        assert_eq!(client.session_id(), None);
    }
}
