//! The client's fallback to the legacy HTTP+SSE transport (SPEC.md §4.3): against our own
//! legacy server, against a server that only speaks legacy, and a Streamable HTTP server that
//! needs no fallback; the `endpoint` URL's origin check; a lost stream fails waiting requests.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use mcp_tower::client::{ClientBody, ErrorKind, McpClient, StreamableHttpClient};
use mcp_tower::{McpLayer, McpService};
use serde_json::json;
use tower::util::BoxCloneSyncService;
use tower::{service_fn, Layer, ServiceExt};

use crate::example;
use crate::support::*;

type Http = BoxCloneSyncService<Request<ClientBody>, Response<mcp_tower::McpBody>, Infallible>;

fn server(layer: &McpLayer) -> McpService<Handler> {
    layer.layer(boxed(example::handle))
}

#[tokio::test]
async fn falls_back_to_our_legacy_server_and_serves_sampling() {
    let layer = McpLayer::new()
        .legacy_sse("/sse", "/messages")
        .legacy_grace(Duration::from_millis(20));
    let sessions = layer.sessions();
    let http = server(&layer);
    let client = StreamableHttpClient::builder(http, "http://localhost/sse".parse().unwrap())
        .capabilities(json!({ "sampling": {} }))
        .request_handler(|request| async move {
            assert_eq!(request.method(), "sampling/createMessage");
            Ok(json!({
                "role": "assistant",
                "content": { "type": "text", "text": "four" },
                "model": "m",
            }))
        })
        .connect_with_fallback();
    let client = within(client).await.unwrap();
    let McpClient::Legacy(legacy) = &client else {
        panic!("POST /sse gets 405: the client must fall back");
    };
    assert_eq!(legacy.endpoint().path(), "/messages");
    assert_eq!(
        client.server_info().unwrap()["serverInfo"]["name"],
        "mcp-tower-example"
    );
    assert_eq!(sessions.len(), 1);
    let echoed = within(client.request(
        "tools/call",
        Some(json!({ "name": "echo", "arguments": { "text": "old" } })),
    ))
    .await
    .unwrap();
    assert_eq!(echoed["content"][0]["text"], "old");
    let asked = within(client.request(
        "tools/call",
        Some(json!({ "name": "ask_llm", "arguments": { "question": "2+2?" } })),
    ))
    .await
    .unwrap();
    assert_eq!(asked["content"][0]["text"], "The model says: four");

    // Closing drops the stream: the session ends on the server after its grace.
    within(client.close()).await.unwrap();
    assert!(eventually(PATIENCE, || sessions.is_empty()).await);
    let err = within(legacy.request("ping", None)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
}

#[tokio::test]
async fn falls_back_on_a_server_that_only_speaks_legacy_on_one_url() {
    // POST /mcp gets 404, as from a 2024-11-05 server; GET /mcp is our one-endpoint connect.
    let mcp = server(&McpLayer::new().legacy_sse("/sse", "/messages"));
    let only_legacy: Http =
        BoxCloneSyncService::new(service_fn(move |req: Request<ClientBody>| {
            let mcp = mcp.clone();
            async move {
                if req.method() == http::Method::POST && req.uri().path() == "/mcp" {
                    let mut res = Response::new(mcp_tower::McpBody::empty());
                    *res.status_mut() = StatusCode::NOT_FOUND;
                    return Ok::<_, Infallible>(res);
                }
                mcp.oneshot(req).await
            }
        }));
    let client =
        StreamableHttpClient::builder(only_legacy, "http://localhost/mcp".parse().unwrap())
            .connect_with_fallback();
    let client = within(client).await.unwrap();
    assert!(matches!(client, McpClient::Legacy(_)));
    assert_eq!(
        within(client.request("ping", None)).await.unwrap(),
        json!({})
    );
}

#[tokio::test]
async fn a_lost_stream_fails_the_requests_waiting_on_it() {
    let layer = McpLayer::new().legacy_sse("/sse", "/messages");
    let sessions = layer.sessions();
    let client =
        StreamableHttpClient::builder(server(&layer), "http://localhost/sse".parse().unwrap())
            .connect_with_fallback();
    let client = within(client).await.unwrap();
    let slow = json!({ "name": "countdown", "arguments": { "from": 3, "delay_ms": 10000 } });
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.request("tools/call", Some(slow)).await }
    });
    assert!(eventually(PATIENCE, || sessions.list().iter().all(|s| s.has_stream())).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The server ends the session: its stream ends, and the call cannot be answered any more.
    for session in sessions.list() {
        assert!(session.close());
    }
    let err = within(waiting).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
}

#[tokio::test]
async fn a_streamable_server_needs_no_fallback() {
    let http = server(&McpLayer::new().legacy_sse("/sse", "/messages"));
    let client = StreamableHttpClient::builder(http, "http://localhost/mcp".parse().unwrap())
        .connect_with_fallback();
    let client = within(client).await.unwrap();
    assert!(matches!(client, McpClient::Streamable(_)));
    within(client.close()).await.unwrap();
}

/// A server whose POSTs get 405 and whose GET stream is `stream`, then ends.
fn fake(stream: &'static str) -> Fake {
    BoxCloneSyncService::new(service_fn(move |req: Request<ClientBody>| async move {
        let mut res = Response::new(Full::new(Bytes::from_static(stream.as_bytes())));
        if req.method() == http::Method::POST {
            *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        } else {
            res.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
        }
        Ok::<_, Infallible>(res)
    }))
}

type Fake = BoxCloneSyncService<Request<ClientBody>, Response<Full<Bytes>>, Infallible>;

#[tokio::test]
async fn an_endpoint_on_another_origin_is_refused() {
    let http = fake("event: endpoint\ndata: http://evil.example/messages?sessionId=x\n\n");
    let client = StreamableHttpClient::builder(http, "http://localhost/sse".parse().unwrap())
        .connect_with_fallback();
    let err = within(client).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("another origin"), "{err}");
}

#[tokio::test]
async fn a_stream_that_does_not_start_with_endpoint_is_refused() {
    let http = fake("event: message\ndata: {}\n\n");
    let client = StreamableHttpClient::builder(http, "http://localhost/sse".parse().unwrap())
        .connect_timeout(Some(Duration::from_secs(5)))
        .connect_with_fallback();
    let err = within(client).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
}
