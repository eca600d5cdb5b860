//! The example handler on a real socket: hyper (hyper-util's `TowerToHyperService` and `auto`
//! connection builder) serving, reqwest as the client.

use futures_util::StreamExt;
use mcp_tower::{McpLayer, Sessions};
use serde_json::{json, Value};
use tower::Layer;

use crate::example;
use crate::support::*;

/// The example handler behind `layer`, served on loopback until the [`Served`] is dropped; and
/// its session registry.
async fn serve_example(layer: McpLayer) -> (Served, Sessions) {
    let sessions = layer.sessions();
    let served = serve(layer.layer(tower::service_fn(example::handle))).await;
    (served, sessions)
}

/// A POST of `message` to the served endpoint, in a session when given.
fn post_to(
    client: &reqwest::Client,
    server: &Served,
    session: Option<&str>,
    message: &Value,
) -> reqwest::RequestBuilder {
    http_post_builder(client, &server.url, session, None, message)
}

/// Reads a streamed SSE body chunk by chunk; returns every message, and how many messages had
/// arrived complete in the chunks before the one that completed the final answer (a message
/// with an `id`). Each event the server writes is its own HTTP chunk, and the client never
/// merges chunks, so a server that held the body back and wrote it in one piece would show 0.
async fn read_sse(res: reqwest::Response) -> (Vec<Value>, usize) {
    let mut chunks = res.bytes_stream();
    let mut reader = EventReader::new();
    let mut messages = Vec::new();
    let mut before_answer = None;
    let mut last_chunk = bytes::Bytes::new();
    while let Some(chunk) = within(chunks.next()).await {
        let in_earlier_chunks = messages.len();
        last_chunk = chunk.unwrap();
        for message in reader.push(&last_chunk).iter().filter_map(Event::json) {
            if message.get("id").is_some() && before_answer.is_none() {
                before_answer = Some(in_earlier_chunks);
            }
            messages.push(message);
        }
    }
    assert!(
        last_chunk.ends_with(b"\n\n"),
        "the stream ended mid-event: {last_chunk:?}"
    );
    (messages, before_answer.expect("no answer on the stream"))
}

#[tokio::test]
async fn the_example_server_over_http1() {
    let (server, sessions) = serve_example(McpLayer::new()).await;
    let client = client();

    // initialize: plain JSON, with Content-Length written from the exact size hint.
    let res = post_to(&client, &server, None, &init_request("2025-11-25"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let id = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let length: usize = res.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = res.bytes().await.unwrap();
    assert_eq!(body.len(), length);
    let reply: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(reply["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(sessions.len(), 1);

    let res = post_to(
        &client,
        &server,
        Some(&id),
        &notification("notifications/initialized"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    assert!(res.bytes().await.unwrap().is_empty());

    let res = post_to(&client, &server, Some(&id), &echo(1, "over the wire"))
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    let reply: Value = res.json().await.unwrap();
    assert_eq!(tool_text(&reply), "over the wire");

    // A call with progress: an SSE stream, chunked, whose events arrive one by one.
    let res = post_to(
        &client,
        &server,
        Some(&id),
        &countdown(2, 3, 30, Some(json!("wire"))),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    assert!(res.headers().get("content-length").is_none());
    assert_eq!(res.headers()["transfer-encoding"], "chunked");
    let (messages, before_answer) = read_sse(res).await;
    assert_eq!(messages.len(), 5, "{messages:?}");
    assert_eq!(before_answer, 4, "the progress came first, chunk by chunk");
    for (step, message) in messages[..4].iter().enumerate() {
        assert_eq!(message["method"], "notifications/progress");
        assert_eq!(message["params"]["progressToken"], "wire");
        assert_eq!(message["params"]["progress"], step as f64);
    }
    assert_eq!(messages[4]["id"], 2);
    assert_eq!(tool_text(&messages[4]), "counted down from 3");

    let res = client
        .delete(&server.url)
        .header("mcp-session-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(sessions.is_empty());

    let res = post_to(&client, &server, Some(&id), &echo(3, "gone"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_error_body(&body, -32001);
}

#[tokio::test]
async fn progress_events_are_flushed_as_they_happen() {
    let (server, _sessions) = serve_example(McpLayer::new()).await;
    let client = client();
    let res = post_to(&client, &server, None, &init_request("2025-11-25"))
        .send()
        .await
        .unwrap();
    let id = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    // 3 steps of 150 ms: the first progress event must be readable long before the answer.
    let res = post_to(
        &client,
        &server,
        Some(&id),
        &countdown(1, 3, 150, Some(json!(1))),
    )
    .send()
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut chunks = res.bytes_stream();
    // Skip the priming event: wait for the first message.
    let mut reader = EventReader::new();
    let first = loop {
        let chunk = within(chunks.next()).await.unwrap().unwrap();
        if let Some(message) = reader.push(&chunk).iter().find_map(Event::json) {
            break message;
        }
    };
    let first_at = started.elapsed();
    assert_eq!(first["method"], "notifications/progress");
    while let Some(chunk) = within(chunks.next()).await {
        chunk.unwrap();
    }
    let total = started.elapsed();
    assert!(
        total >= std::time::Duration::from_millis(300) && first_at < total / 2,
        "first event after {first_at:?}, stream done after {total:?}"
    );
}

#[tokio::test]
async fn the_get_stream_over_http1_receives_broadcasts() {
    let (server, sessions) = serve_example(McpLayer::new()).await;
    let client = client();
    let res = post_to(&client, &server, None, &init_request("2025-06-18"))
        .send()
        .await
        .unwrap();
    let id = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();

    let res = client
        .get(&server.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let session = sessions.get(&id).unwrap();
    assert!(session.has_stream());
    let report = sessions.broadcast("notifications/tools/list_changed", None);
    assert_eq!(report.delivered, 1);
    let mut chunks = res.bytes_stream();
    let chunk = within(chunks.next()).await.unwrap().unwrap();
    let events = messages(&decode(&chunk));
    assert_eq!(
        events[0].1,
        json!({ "jsonrpc": "2.0", "method": "notifications/tools/list_changed" })
    );
    // The client hangs up: the session notices and queues again.
    drop(chunks);
    within(async {
        while session.has_stream() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_foreign_host_is_refused_over_the_wire() {
    let (server, sessions) = serve_example(McpLayer::new()).await;
    let res = post_to(&client(), &server, None, &init_request("2025-11-25"))
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_error_body(&body, -32000);
    assert!(sessions.is_empty());
}
