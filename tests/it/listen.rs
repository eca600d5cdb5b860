//! `subscriptions/listen` (2026-07-28) and the [`Publisher`] that feeds both eras: the
//! acknowledgement first, every frame tagged, the filter honoured, the completion result on
//! shutdown, and the bounds (streams, slow readers).

use std::time::Duration;

use http::{Request, StatusCode};
use mcp_tower::{Change, McpBody, McpLayer, Rejection, RejectionKind};
use serde_json::{json, Value};

use crate::support::*;

const V26: &str = "2026-07-28";

/// A `subscriptions/listen` POST with id `id` and this filter.
// Owned filters keep call sites short: `listen(1, json!({ .. }))`.
#[allow(clippy::needless_pass_by_value)]
fn listen(id: i64, notifications: Value) -> Request<Body> {
    let params = json!({
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": V26,
            "io.modelcontextprotocol/clientCapabilities": {},
        },
        "notifications": notifications,
    });
    post_builder()
        .header("mcp-protocol-version", V26)
        .header("mcp-method", "subscriptions/listen")
        .body(raw(request(id, "subscriptions/listen", params).to_string()))
        .unwrap()
}

fn tag(message: &Value) -> &Value {
    &message["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
}

#[allow(clippy::needless_pass_by_value)]
async fn open(server: &Server, id: i64, notifications: Value) -> McpBody {
    let res = server.send(listen(id, notifications)).await;
    assert_sse_headers(&res);
    assert!(res.headers().get("mcp-session-id").is_none());
    res.into_body()
}

#[tokio::test]
async fn the_acknowledgement_comes_first_and_every_frame_is_tagged() {
    let layer = McpLayer::new();
    let publisher = layer.publisher();
    let server = Server::example(layer);
    let mut tools = open(
        &server,
        5,
        json!({ "toolsListChanged": true, "resourceSubscriptions": ["a://x"] }),
    )
    .await;
    let mut prompts = open(&server, 11, json!({ "promptsListChanged": true })).await;
    let ack = next_message(&mut tools).await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(tag(&ack), 5);
    assert_eq!(
        ack["params"]["notifications"],
        json!({ "toolsListChanged": true, "resourceSubscriptions": ["a://x"] })
    );
    let ack = next_message(&mut prompts).await;
    assert_eq!(tag(&ack), 11);
    assert_eq!(publisher.listen_streams(), 2);

    // A session-era client on the same endpoint, with its GET stream open.
    let sid = server.open_session(V_NEW).await;
    let mut get = server.send(get_stream(&sid)).await.into_body();

    let report = publisher.publish(&Change::ToolsListChanged);
    assert_eq!(report.listen_streams, 1, "only the stream that asked");
    assert_eq!(report.sessions, 1);
    let note = next_message(&mut tools).await;
    assert_eq!(note["method"], "notifications/tools/list_changed");
    assert_eq!(tag(&note), 5);
    let classic = next_message(&mut get).await;
    assert_eq!(classic["method"], "notifications/tools/list_changed");
    assert!(
        classic["params"]["_meta"].is_null(),
        "no tag in the session era: {classic}"
    );

    let report = publisher.publish(&Change::ResourceUpdated("a://x".into()));
    assert_eq!(report.listen_streams, 1);
    let note = next_message(&mut tools).await;
    assert_eq!(note["method"], "notifications/resources/updated");
    assert_eq!(note["params"]["uri"], "a://x");
    assert_eq!(tag(&note), 5);
    assert_eq!(
        publisher
            .publish(&Change::ResourceUpdated("a://y".into()))
            .listen_streams,
        0
    );

    // The prompts stream got nothing it did not ask for: the next message is its own change.
    let _ = publisher.publish(&Change::PromptsListChanged);
    let note = next_message(&mut prompts).await;
    assert_eq!(note["method"], "notifications/prompts/list_changed");
    assert_eq!(tag(&note), 11);

    // A closed stream leaves the registry.
    drop(prompts);
    assert_eq!(publisher.listen_streams(), 1);
}

#[tokio::test]
async fn shutdown_sends_the_completion_result_then_closes() {
    let layer = McpLayer::new();
    let publisher = layer.publisher();
    let server = Server::example(layer);
    let mut body = open(&server, 3, json!({ "toolsListChanged": true })).await;
    let _ack = next_message(&mut body).await;
    assert_eq!(publisher.close_listen_streams(), 1);
    let done = next_message(&mut body).await;
    assert_eq!(done["id"], 3);
    assert_eq!(done["result"]["resultType"], "complete");
    assert!(ends(&mut body).await);
    assert_eq!(publisher.listen_streams(), 0);
}

#[tokio::test]
async fn listen_streams_are_bounded() {
    let layer = McpLayer::new().max_listen_streams(1).stream_capacity(2);
    let publisher = layer.publisher();
    let server = Server::example(layer);
    let mut first = open(&server, 1, json!({ "toolsListChanged": true })).await;
    let res = server.send(listen(2, json!({}))).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(
        res.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::TooManyListenStreams
    );
    assert_eq!(json_body(res).await["id"], 2);
    // A reader that does not keep up loses its stream, with an error that says so.
    for _ in 0..4 {
        let _ = publisher.publish(&Change::ToolsListChanged);
    }
    assert_eq!(publisher.listen_streams(), 0);
    let mut messages = Vec::new();
    let mut sse = Sse::new(&mut first);
    while let Some((_, message)) = within(sse.next_message()).await {
        messages.push(message);
    }
    let last = messages.last().unwrap();
    assert_eq!(last["id"], 1);
    assert_eq!(last["error"]["code"], -32000, "{last}");
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("behind"));
}

#[tokio::test]
async fn a_malformed_filter_is_invalid_params() {
    let server = Server::example(McpLayer::new());
    let res = server
        .send(listen(4, json!({ "toolsListChanged": "yes" })))
        .await;
    let reply = json_reply(res).await;
    assert_eq!(reply["id"], 4);
    assert_eq!(reply["error"]["code"], -32602);
}

#[tokio::test(start_paused = true)]
async fn an_idle_listen_stream_sends_keep_alives() {
    let server = Server::example(McpLayer::new().keep_alive(Some(Duration::from_secs(5))));
    let mut body = open(&server, 1, json!({ "toolsListChanged": true })).await;
    let _ack = next_message(&mut body).await;
    let frame = within(next_frame(&mut body)).await.unwrap();
    assert!(frame.starts_with(b":"), "a keep-alive comment: {frame:?}");
}
