//! The client against the real server: `McpService` in memory and over a socket.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_tower::client::{
    Backoff, Call, ClientBody, ErrorKind, EventSource, ServerMessage, StreamableHttpClient,
};
use mcp_tower::{
    BoxError, McpBody, McpLayer, McpRequest, McpResponse, PollingPolicy, ProtocolVersion,
    ResponseMode,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};

// The example handler, included once for the whole binary (see main.rs).
use crate::example as common;

fn uri() -> http::Uri {
    "http://localhost/mcp".parse().unwrap()
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// The whole life of a session: handshake, tools, a call with progress (when the reply is a
/// stream: a plain JSON reply cannot carry it), DELETE.
async fn session_round_trip<S, B>(client: &StreamableHttpClient<S>, streamed: bool)
where
    S: Service<http::Request<ClientBody>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let info = client.initialize().await.unwrap();
    assert_eq!(info["serverInfo"]["name"], "mcp-tower-example");
    assert_eq!(
        client.protocol_version(),
        Some(ProtocolVersion::LATEST_SESSION)
    );

    let tools = client.request("tools/list", None).await.unwrap();
    let names: Vec<_> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let expected: Vec<_> = common::tools()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, expected);

    let echo = json!({ "name": "echo", "arguments": { "text": "héllo" } });
    let result = client.request("tools/call", Some(echo)).await.unwrap();
    assert_eq!(text(&result), "héllo");

    let countdown = json!({
        "name": "countdown",
        "arguments": { "from": 3, "delay_ms": 1 },
        "_meta": { "progressToken": 7 },
    });
    let mut call = client.call("tools/call", Some(countdown)).await.unwrap();
    let mut progress = Vec::new();
    while let Some(message) = call.next_message().await {
        let ServerMessage::Notification(n) = message else {
            panic!("unexpected {message:?}");
        };
        assert_eq!(n["method"], "notifications/progress");
        assert_eq!(n["params"]["progressToken"], 7);
        progress.push(n["params"]["progress"].as_f64().unwrap());
    }
    let want: &[f64] = if streamed { &[0.0, 1.0, 2.0, 3.0] } else { &[] };
    assert_eq!(progress, want);
    assert_eq!(text(&call.result().await.unwrap()), "counted down from 3");

    let err = client
        .request("tools/call", Some(json!({ "name": "nope" })))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rpc);
    assert_eq!(err.rpc_error().unwrap().code, -32602);

    client.close().await.unwrap();
}

#[tokio::test]
async fn in_memory_session_in_every_response_mode() {
    for mode in [
        ResponseMode::Adaptive,
        ResponseMode::Json,
        ResponseMode::Sse,
    ] {
        let server = McpLayer::new()
            .response_mode(mode)
            .layer(tower::service_fn(common::handle));
        let client = StreamableHttpClient::builder(server, uri()).build();
        session_round_trip(&client, mode != ResponseMode::Json).await;
    }
}

#[tokio::test]
async fn stateless_server_needs_no_session() {
    let server = McpLayer::new()
        .stateless(true)
        .layer(tower::service_fn(common::handle));
    let client = StreamableHttpClient::builder(server, uri()).build();
    client.initialize().await.unwrap();
    assert_eq!(client.session_id(), None);
    let echo = json!({ "name": "echo", "arguments": { "text": "x" } });
    assert_eq!(
        text(&client.request("tools/call", Some(echo)).await.unwrap()),
        "x"
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn deleted_session_is_reported_or_renewed() {
    // The server forgets the session (as after DELETE or expiry): 404 from now on.
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let server = layer.layer(tower::service_fn(common::handle));
    let client = StreamableHttpClient::builder(server, uri()).build();
    client.initialize().await.unwrap();
    assert!(sessions.close(&client.session_id().unwrap()));
    let err = client.request("tools/list", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionExpired);

    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let server = layer.layer(tower::service_fn(common::handle));
    let client = StreamableHttpClient::builder(server, uri())
        .reinitialize_on_expiry(true)
        .build();
    client.initialize().await.unwrap();
    let first = client.session_id().unwrap();
    assert!(sessions.close(&first));
    let tools = client.request("tools/list", None).await.unwrap();
    assert_eq!(tools["tools"], common::tools());
    let second = client.session_id().unwrap();
    assert_ne!(first, second);
}

#[tokio::test]
async fn standalone_stream_receives_broadcasts() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let server = layer.layer(tower::service_fn(common::handle));
    let client = StreamableHttpClient::builder(server, uri()).build();
    client.initialize().await.unwrap();
    // Queued for the session until its GET stream opens.
    let report = sessions.broadcast("notifications/tools/list_changed", None);
    assert_eq!(report.queued, 1);
    let mut stream = client.listen();
    let message = stream.next().await.unwrap().unwrap();
    assert_eq!(message.method(), Some("notifications/tools/list_changed"));
    assert!(matches!(message, ServerMessage::Notification(_)));
    // And live, once the stream is open.
    let report = sessions.broadcast(
        "notifications/message",
        Some(json!({ "level": "info", "data": "hi" })),
    );
    assert_eq!(report.delivered, 1);
    let message = stream.next().await.unwrap().unwrap();
    assert_eq!(message.as_value()["params"]["data"], "hi");
    stream.close();
    assert!(stream.next().await.is_none());
    client.close().await.unwrap();
}

/// A response body that ends (cleanly) after `frames` data frames: a connection cut mid-way.
struct Cut<B> {
    inner: B,
    frames: usize,
}

impl<B: Body<Data = Bytes> + Unpin> Body for Cut<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if self.frames == 0 {
            return Poll::Ready(None);
        }
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if matches!(&frame, Some(Ok(f)) if f.is_data()) {
            self.frames -= 1;
        }
        Poll::Ready(frame)
    }
}

/// Wraps a server so that the SSE answer to every POST is cut after `frames` data frames, and
/// counts the GETs that come back to resume.
fn cutting<S>(
    server: S,
    frames: usize,
    resumes: Arc<AtomicUsize>,
) -> impl Service<
    http::Request<ClientBody>,
    Response = http::Response<Cut<McpBody>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static
where
    S: Service<http::Request<ClientBody>, Response = http::Response<McpBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    tower::service_fn(move |req: http::Request<ClientBody>| {
        let server = server.clone();
        let resumes = resumes.clone();
        async move {
            let post = req.method() == http::Method::POST;
            if req.headers().contains_key("last-event-id") {
                resumes.fetch_add(1, Ordering::SeqCst);
            }
            let res = server.oneshot(req).await?;
            let frames = if post { frames } else { usize::MAX };
            Ok::<_, Infallible>(res.map(|inner| Cut { inner, frames }))
        }
    })
}

fn countdown(from: u32, delay_ms: u64) -> Value {
    json!({
        "name": "countdown",
        "arguments": { "from": from, "delay_ms": delay_ms },
        "_meta": { "progressToken": "t" },
    })
}

/// Reads a call to the end: the progress values in order, and the result's text.
async fn progress_and_result<S, B>(mut call: Call<S>) -> (Vec<f64>, String)
where
    S: Service<http::Request<ClientBody>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut progress = Vec::new();
    while let Some(message) = call.next_message().await {
        assert_eq!(
            message.method(),
            Some("notifications/progress"),
            "{message:?}"
        );
        progress.push(message.as_value()["params"]["progress"].as_f64().unwrap());
    }
    let result = call.result().await.unwrap();
    (progress, text(&result).to_owned())
}

fn fast_backoff() -> Backoff {
    Backoff::new()
        .initial_delay(Duration::from_millis(20))
        .max_attempts(5)
}

#[tokio::test]
async fn cut_post_stream_resumes_and_delivers_every_event_exactly_once() {
    let server = McpLayer::new()
        .response_mode(ResponseMode::Sse)
        .retry_interval(Duration::from_millis(30))
        .layer(tower::service_fn(common::handle));
    let resumes = Arc::new(AtomicUsize::new(0));
    // Priming event, then two progress events, then the connection is gone.
    let service = cutting(server, 3, resumes.clone());
    let client = StreamableHttpClient::builder(service, uri())
        .backoff(fast_backoff())
        .build();
    client.initialize().await.unwrap();
    let call = client
        .call("tools/call", Some(countdown(5, 20)))
        .await
        .unwrap();
    let (progress, result) = progress_and_result(call).await;
    assert_eq!(progress, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(result, "counted down from 5");
    assert_eq!(resumes.load(Ordering::SeqCst), 1);
    client.close().await.unwrap();
}

#[tokio::test]
async fn cut_stream_without_event_ids_fails_clearly() {
    // Before 2025-11-25 the server writes no priming event: a stream cut before its first id
    // cannot be resumed, and the client must say so instead of hanging or looping.
    let server = McpLayer::new()
        .response_mode(ResponseMode::Sse)
        .layer(tower::service_fn(common::handle));
    let resumes = Arc::new(AtomicUsize::new(0));
    let service = cutting(server, 0, resumes.clone());
    let client = StreamableHttpClient::builder(service.clone(), uri())
        .protocol_version(ProtocolVersion::V2025_03_26)
        .build();
    let err = client.initialize().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(
        err.to_string().contains("no event id to resume from"),
        "{err}"
    );
    assert_eq!(resumes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unknown_last_event_id_is_a_refusal_the_caller_sees() {
    let server = McpLayer::new().layer(tower::service_fn(common::handle));
    let client = StreamableHttpClient::builder(server.clone(), uri()).build();
    client.initialize().await.unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "mcp-session-id",
        client.session_id().unwrap().parse().unwrap(),
    );
    headers.insert("mcp-protocol-version", "2025-11-25".parse().unwrap());
    let mut events = EventSource::new(server, uri())
        .headers(headers)
        .resume_from("no-such-event");
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResumeRefused);
    assert!(err.status().unwrap().is_client_error(), "{err}");
    assert!(events.next().await.is_none(), "not retried");
}

/// The example handler, plus a tool `ask` that asks the client's model through sampling.
async fn with_sampling(req: McpRequest) -> Result<McpResponse, Infallible> {
    let is_ask = req.method() == "tools/call" && req.params().is_some_and(|p| p["name"] == "ask");
    if !is_ask {
        return common::handle(req).await;
    }
    let question = req.params().map(|p| p["arguments"]["question"].clone());
    let params = json!({
        "messages": [{ "role": "user", "content": { "type": "text", "text": question } }],
        "maxTokens": 50,
    });
    let reply = match req
        .context()
        .request("sampling/createMessage", Some(params))
        .await
    {
        Ok(answer) => json!({ "content": [{ "type": "text", "text": answer["content"]["text"] }] }),
        Err(e) => {
            json!({ "content": [{ "type": "text", "text": e.to_string() }], "isError": true })
        }
    };
    Ok(McpResponse::result(reply))
}

#[tokio::test]
async fn server_requests_are_answered_through_the_client() {
    let server = McpLayer::new().layer(tower::service_fn(with_sampling));
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let client = StreamableHttpClient::builder(server, uri())
        .capabilities(json!({ "sampling": {} }))
        .request_handler(move |req| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                assert_eq!(req.method(), "sampling/createMessage");
                let question = req.params().unwrap()["messages"][0]["content"]["text"].clone();
                Ok(json!({
                    "role": "assistant",
                    "content": { "type": "text", "text": format!("you asked {question}") },
                    "model": "test-model",
                }))
            }
        })
        .build();
    client.initialize().await.unwrap();
    let params = json!({ "name": "ask", "arguments": { "question": "why?" } });
    let mut call = client.call("tools/call", Some(params)).await.unwrap();
    let Some(message) = call.next_message().await else {
        panic!("no request before the response: {:?}", call.result().await);
    };
    assert!(matches!(message, ServerMessage::Request(_)), "{message:?}");
    assert_eq!(message.method(), Some("sampling/createMessage"));
    assert!(call.next_message().await.is_none());
    let result = call.result().await.unwrap();
    assert_eq!(text(&result), r#"you asked "why?""#);
    assert_eq!(asked.load(Ordering::SeqCst), 1);

    // Refusals travel back too: without the handler the client answers -32601.
    let server = McpLayer::new().layer(tower::service_fn(with_sampling));
    let client = StreamableHttpClient::builder(server, uri())
        .capabilities(json!({ "sampling": {} }))
        .build();
    client.initialize().await.unwrap();
    let params = json!({ "name": "ask", "arguments": { "question": "why?" } });
    let result = client.request("tools/call", Some(params)).await.unwrap();
    assert_eq!(result["isError"], true);
    assert!(text(&result).contains("-32601"), "{result}");
}

/// Serves `McpService` with hyper on 127.0.0.1:0; the server stops with the test's runtime.
async fn serve(layer: McpLayer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mcp = layer.layer(tower::service_fn(common::handle));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(mcp.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn over_a_socket_with_hyper_util() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let addr = serve(layer).await;
    let http = Client::builder(TokioExecutor::new()).build_http::<ClientBody>();
    let url: http::Uri = format!("http://{addr}/mcp").parse().unwrap();
    let client = StreamableHttpClient::builder(http, url)
        .header(
            http::header::AUTHORIZATION,
            "Bearer secret".parse().unwrap(),
        )
        .build();
    session_round_trip(&client, true).await;
    assert!(sessions.is_empty(), "DELETE ended the session");

    // The standalone stream over a real connection.
    client.initialize().await.unwrap();
    let mut stream = client.listen();
    sessions.broadcast("notifications/resources/list_changed", None);
    let message = stream.next().await.unwrap().unwrap();
    assert_eq!(
        message.method(),
        Some("notifications/resources/list_changed")
    );
    stream.close();
    client.close().await.unwrap();
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let http = Client::builder(TokioExecutor::new()).build_http::<ClientBody>();
    let client =
        StreamableHttpClient::builder(http, format!("http://{addr}/mcp").parse().unwrap()).build();
    let err = client.initialize().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
}

#[tokio::test]
async fn polling_server_over_a_socket_loses_nothing() {
    // The server closes every connection shortly after it opens (SEP-1699 polling); the client
    // waits the `retry:` hint each time and resumes with Last-Event-ID.
    let layer = McpLayer::new()
        .polling(PollingPolicy::After(Duration::from_millis(40)))
        .retry_interval(Duration::from_millis(25));
    let addr = serve(layer).await;
    let http = Client::builder(TokioExecutor::new()).build_http::<ClientBody>();
    // Counts the client's resumptions on their way to the socket.
    let resumes = Arc::new(AtomicUsize::new(0));
    let counter = resumes.clone();
    let http = tower::service_fn(move |req: http::Request<ClientBody>| {
        if req.headers().contains_key("last-event-id") {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        http.request(req)
    });
    let client = StreamableHttpClient::builder(http, format!("http://{addr}/mcp").parse().unwrap())
        .backoff(fast_backoff())
        .build();
    client.initialize().await.unwrap();
    let call = client
        .call("tools/call", Some(countdown(6, 25)))
        .await
        .unwrap();
    let (progress, result) = progress_and_result(call).await;
    assert_eq!(progress, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(result, "counted down from 6");
    // Six steps of 25 ms outlast a 40 ms connection: the call went through resumptions.
    assert!(
        resumes.load(Ordering::SeqCst) >= 1,
        "the server never cut the stream"
    );
    client.close().await.unwrap();
}
