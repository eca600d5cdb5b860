//! The client in the 2026-07-28 era against the real server (`McpLayer`), in memory and over a
//! socket: the headers and `_meta` of every request, the multi-round-trip loop, re-opening a
//! dropped `subscriptions/listen` stream, and the auto mode's fallback to a session.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_tower::client::{
    Backoff, ClientBody, ErrorKind, ServerMessage, StreamableHttpClient, Subscription,
};
use mcp_tower::{BoxError, Change, McpBody, McpLayer, McpRequest, McpResponse, ProtocolVersion};
use serde_json::{json, Value};
use tower::{Layer, Service};

use crate::example;
use crate::support::{serve, PATIENCE};

fn uri() -> http::Uri {
    "http://localhost/mcp".parse().unwrap()
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// A client whose handler answers sampling with a fixed text.
fn sampling_client<S>(service: S, url: http::Uri) -> StreamableHttpClient<S> {
    StreamableHttpClient::builder(service, url)
        .capabilities(json!({ "sampling": {}, "elicitation": {} }))
        .request_handler(|request| async move {
            match request.method() {
                "sampling/createMessage" => Ok(json!({
                    "role": "assistant",
                    "content": { "type": "text", "text": "forty-two" },
                    "model": "test",
                })),
                "elicitation/create" => Ok(json!({
                    "action": "accept",
                    "content": { "name": "Ada" },
                })),
                other => Err(mcp_tower::ErrorObject::new(-32601, other.to_owned())),
            }
        })
        .build()
}

#[tokio::test]
async fn auto_mode_lands_on_2026_and_calls_tools_over_a_socket() {
    let layer = McpLayer::new().server_info(json!({ "name": "example", "version": "1" }));
    let sessions = layer.sessions();
    let served = serve(layer.layer(tower::service_fn(example::handle))).await;
    let http = Client::builder(TokioExecutor::new()).build_http::<ClientBody>();
    let client = sampling_client(http, served.url.parse().unwrap());

    let discovered = client.connect().await.unwrap();
    assert_eq!(
        client.protocol_version(),
        Some(ProtocolVersion::V2026_07_28)
    );
    assert_eq!(client.session_id(), None);
    assert!(discovered["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));
    assert_eq!(client.server_info().unwrap(), discovered);

    let tools = client.request("tools/list", None).await.unwrap();
    assert_eq!(tools["tools"], example::tools());
    assert_eq!(tools["resultType"], "complete");
    assert_eq!(
        tools["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "example"
    );

    let echo = json!({ "name": "echo", "arguments": { "text": "héllo" } });
    let result = client.request("tools/call", Some(echo)).await.unwrap();
    assert_eq!(text(&result), "héllo");

    // `ask_llm` asks for sampling: one input_required round, answered by the handler.
    let ask = json!({ "name": "ask_llm", "arguments": { "question": "why?" } });
    let result = client.request("tools/call", Some(ask)).await.unwrap();
    assert_eq!(text(&result), "The model says: forty-two");
    assert_eq!(result["resultType"], "complete");

    assert!(sessions.is_empty(), "the 2026 era creates no session");
    client.close().await.unwrap();
}

/// Records the head of every request it forwards.
#[derive(Clone)]
struct Recorder<S> {
    inner: S,
    seen: Arc<Mutex<Vec<http::HeaderMap>>>,
}

impl<S: Service<http::Request<ClientBody>>> Service<http::Request<ClientBody>> for Recorder<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ClientBody>) -> Self::Future {
        self.seen.lock().unwrap().push(req.headers().clone());
        self.inner.call(req)
    }
}

#[tokio::test]
async fn requests_carry_the_era_headers_and_meta() {
    // The server checks `Mcp-Param-Region` against the tool's schema: a client that left it
    // out (or got it wrong) would get 400 with -32020.
    let schema = Arc::new(json!({ "type": "object", "properties": {
        "region": { "type": "string", "x-mcp-header": "Region" },
        "size": { "type": "integer", "x-mcp-header": "Size" },
    } }));
    let schemas = HashMap::from([("deploy".to_owned(), schema.clone())]);
    let metas = Arc::new(Mutex::new(Vec::new()));
    let seen_meta = metas.clone();
    let server = McpLayer::new()
        .tool_schemas(move |tool| schemas.get(tool).cloned())
        .layer(tower::service_fn(move |req: McpRequest| {
            let schema = schema.clone();
            let metas = seen_meta.clone();
            async move {
                metas.lock().unwrap().push(req.params().cloned());
                Ok::<_, Infallible>(match req.method() {
                    "server/discover" => McpResponse::result(
                        json!({ "supportedVersions": ["2026-07-28"], "capabilities": {} }),
                    ),
                    "tools/list" => McpResponse::result(json!({ "tools": [
                        { "name": "deploy", "inputSchema": *schema },
                    ] })),
                    "tools/call" => McpResponse::result(json!({ "content": [] })),
                    "notifications/roots/list_changed" => McpResponse::empty(),
                    other => McpResponse::method_not_found(other),
                })
            }
        }));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        inner: server,
        seen: seen.clone(),
    };
    let client = StreamableHttpClient::builder(recorder, uri())
        .client_info("probe", "9")
        .capabilities(json!({ "roots": {} }))
        .build();
    client.discover().await.unwrap();
    client.request("tools/list", None).await.unwrap();
    let call = json!({
        "name": "deploy",
        "arguments": { "region": "Zürich", "size": 3 },
        "_meta": { "progressToken": "p" },
    });
    client.request("tools/call", Some(call)).await.unwrap();
    client
        .notify("notifications/roots/list_changed", None)
        .await
        .unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    for (headers, method) in seen.iter().zip([
        "server/discover",
        "tools/list",
        "tools/call",
        "notifications/roots/list_changed",
    ]) {
        assert_eq!(headers["mcp-protocol-version"], "2026-07-28");
        assert_eq!(headers["mcp-method"], method);
        assert!(!headers.contains_key("mcp-session-id"));
    }
    let call = &seen[2];
    assert_eq!(call["mcp-name"], "deploy");
    assert_eq!(call["mcp-param-region"], "=?base64?WsO8cmljaA==?=");
    assert_eq!(call["mcp-param-size"], "3");
    assert!(!seen[1].contains_key("mcp-name"));

    let metas = metas.lock().unwrap();
    let call_meta = &metas[2].as_ref().unwrap()["_meta"];
    assert_eq!(
        call_meta["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert_eq!(
        call_meta["io.modelcontextprotocol/clientCapabilities"],
        json!({ "roots": {} })
    );
    assert_eq!(
        call_meta["io.modelcontextprotocol/clientInfo"],
        json!({ "name": "probe", "version": "9" })
    );
    assert_eq!(
        call_meta["progressToken"], "p",
        "the caller's _meta is kept"
    );
}

#[tokio::test]
async fn input_required_is_answered_over_two_rounds_and_bounded() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let handler = tower::service_fn(move |req: McpRequest| {
        let runs = counted.clone();
        async move {
            Ok::<_, Infallible>(match req.method() {
                "server/discover" => McpResponse::result(
                    json!({ "supportedVersions": ["2026-07-28"], "capabilities": {} }),
                ),
                "tools/call" => {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let ctx = req.context();
                    // Two questions one after the other: two input_required rounds.
                    let who = ctx
                        .request(
                            "elicitation/create",
                            Some(json!({
                                "message": "name?",
                                "requestedSchema": { "type": "object", "properties": {
                                    "name": { "type": "string" } } },
                            })),
                        )
                        .await;
                    let said = ctx
                        .request(
                            "sampling/createMessage",
                            Some(json!({
                                "messages": [], "maxTokens": 5,
                            })),
                        )
                        .await;
                    match (who, said) {
                        (Ok(who), Ok(said)) => McpResponse::result(json!({ "content": [{
                            "type": "text",
                            "text": format!("{} / {}", who["content"]["name"], said["content"]["text"]),
                        }] })),
                        (who, said) => McpResponse::result(json!({
                            "content": [{ "type": "text", "text": format!("{who:?} {said:?}") }],
                            "isError": true,
                        })),
                    }
                }
                other => McpResponse::method_not_found(other),
            })
        }
    });
    let server = McpLayer::new().layer(handler);
    let client = sampling_client(server.clone(), uri());
    client.connect().await.unwrap();
    let call = json!({ "name": "two_questions", "arguments": {} });
    let result = client
        .request("tools/call", Some(call.clone()))
        .await
        .unwrap();
    assert_eq!(text(&result), r#""Ada" / "forty-two""#);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "asked, asked again, then done"
    );

    // One round allowed: the second input_required fails the request.
    let bounded = StreamableHttpClient::builder(server, uri())
        .capabilities(json!({ "sampling": {}, "elicitation": {} }))
        .request_handler(|_| async { Ok(json!({ "action": "accept", "content": {} })) })
        .max_input_rounds(1)
        .build();
    bounded.discover().await.unwrap();
    let err = bounded.request("tools/call", Some(call)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InputRounds, "{err}");
}

/// A body that ends (cleanly, as a closed connection would look) after its first frame when
/// `cut` is set; otherwise the whole body.
struct CutAfterFirst {
    inner: McpBody,
    cut: bool,
    done: bool,
}

impl Body for CutAfterFirst {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        self.done = self.cut;
        Poll::Ready(frame.map(|f| f.map_err(Into::into)))
    }
}

/// Cuts the first `subscriptions/listen` stream after its first frame (the acknowledgement).
#[derive(Clone)]
struct DropFirstListen<S> {
    inner: S,
    listens: Arc<AtomicUsize>,
}

impl<S> Service<http::Request<ClientBody>> for DropFirstListen<S>
where
    S: Service<http::Request<ClientBody>, Response = http::Response<McpBody>> + Send,
    S::Future: Send + 'static,
{
    type Response = http::Response<CutAfterFirst>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ClientBody>) -> Self::Future {
        let listen = req
            .headers()
            .get("mcp-method")
            .is_some_and(|m| m == "subscriptions/listen");
        let cut = listen && self.listens.fetch_add(1, Ordering::SeqCst) == 0;
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|inner| CutAfterFirst {
                inner,
                cut,
                done: false,
            }))
        })
    }
}

/// The next notification of a subscription, within the test's patience.
async fn next<S, B>(changes: &mut Subscription<S>) -> ServerMessage
where
    S: Service<http::Request<ClientBody>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    tokio::time::timeout(PATIENCE, changes.next())
        .await
        .expect("a notification in time")
        .expect("the subscription goes on")
        .expect("no error")
}

#[tokio::test]
async fn a_dropped_listen_stream_is_reopened() {
    let layer = McpLayer::new();
    let publisher = layer.publisher();
    let server = layer.layer(tower::service_fn(example::handle));
    let listens = Arc::new(AtomicUsize::new(0));
    let service = DropFirstListen {
        inner: server,
        listens: listens.clone(),
    };
    let client = StreamableHttpClient::builder(service, uri())
        .backoff(Backoff::new().initial_delay(Duration::from_millis(5)))
        .build();
    client.connect().await.unwrap();
    assert_eq!(
        client.protocol_version(),
        Some(ProtocolVersion::V2026_07_28)
    );

    let mut changes = client.subscribe(json!({ "toolsListChanged": true }));
    let first = next(&mut changes).await;
    assert_eq!(
        first.method(),
        Some("notifications/subscriptions/acknowledged")
    );
    assert_eq!(changes.opened(), 1);

    // The first stream is cut after its acknowledgement: the next read re-opens it, and the
    // new stream acknowledges again.
    let again = next(&mut changes).await;
    assert_eq!(
        again.method(),
        Some("notifications/subscriptions/acknowledged")
    );
    assert_eq!(changes.reopened(), 1);
    assert_eq!(listens.load(Ordering::SeqCst), 2);
    assert_eq!(changes.acknowledged().unwrap()["toolsListChanged"], true);

    let report = publisher.publish(&Change::ToolsListChanged);
    assert_eq!(report.listen_streams, 1, "{report:?}");
    let change = next(&mut changes).await;
    assert_eq!(change.method(), Some("notifications/tools/list_changed"));
    assert!(
        change.as_value()["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"].is_string()
            || change.as_value()["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
                .is_number()
    );

    // The server's own end (its completion result) ends the subscription: no re-open.
    assert_eq!(publisher.close_listen_streams(), 1);
    let end = tokio::time::timeout(PATIENCE, changes.next())
        .await
        .unwrap();
    assert!(end.is_none(), "{end:?}");
    assert_eq!(listens.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn auto_mode_falls_back_to_a_session_on_a_session_only_server() {
    // A server configured for the session era only answers the probe 400 with -32022.
    let layer = McpLayer::new().protocol_versions([
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
    ]);
    let sessions = layer.sessions();
    let served = serve(layer.layer(tower::service_fn(example::handle))).await;
    let http = Client::builder(TokioExecutor::new()).build_http::<ClientBody>();
    let client = sampling_client(http, served.url.parse().unwrap());
    let info = client.connect().await.unwrap();
    assert_eq!(info["serverInfo"]["name"], "mcp-tower-example");
    assert_eq!(
        client.protocol_version(),
        Some(ProtocolVersion::V2025_11_25)
    );
    assert!(client.session_id().is_some());
    assert_eq!(sessions.len(), 1);
    // The same handler asks for sampling with a real request in the session.
    let ask = json!({ "name": "ask_llm", "arguments": { "question": "why?" } });
    let result = client.request("tools/call", Some(ask)).await.unwrap();
    assert_eq!(text(&result), "The model says: forty-two");
    client.close().await.unwrap();

    // A dual-era server whose application does not know `server/discover` (404, -32601).
    let server = McpLayer::new().layer(tower::service_fn(|req: McpRequest| async move {
        if req.method() == "server/discover" {
            return Ok(McpResponse::method_not_found(req.method()));
        }
        example::handle(req).await
    }));
    let client = StreamableHttpClient::builder(server, uri()).build();
    client.connect().await.unwrap();
    assert_eq!(
        client.protocol_version(),
        Some(ProtocolVersion::V2025_11_25)
    );
    assert!(client.session_id().is_some());

    // A server error is not a legacy answer: no fallback.
    let broken = tower::service_fn(|_: http::Request<ClientBody>| async {
        let mut res = http::Response::new(http_body_util::Full::new(Bytes::new()));
        *res.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        Ok::<_, Infallible>(res)
    });
    let client = StreamableHttpClient::builder(broken, uri()).build();
    let err = client.connect().await.unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(client.protocol_version(), None);
}
