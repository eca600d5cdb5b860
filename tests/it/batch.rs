//! JSON-RPC batches: accepted in 2025-03-26 only. SPEC.md §1.3, §2.3 and §6 rows 13–16.

use std::sync::{Arc, Mutex};

use http::StatusCode;
use mcp_tower::{McpLayer, McpRequest, RejectionKind, ResponseMode};
use serde_json::{json, Value};

use crate::example;
use crate::support::*;

async fn send_batch(
    server: &Server,
    session: &str,
    batch: &Value,
) -> http::Response<mcp_tower::McpBody> {
    server.send(post_in(session, batch)).await
}

#[tokio::test(start_paused = true)]
async fn requests_get_one_response_each_in_order() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-03-26").await;
    // The first call is the slowest: the reply keeps the order of the batch anyway.
    let batch = json!([
        countdown(1, 2, 50, None),
        echo(2, "two"),
        { "jsonrpc": "2.0", "id": "three", "method": "ping" },
        request(4, "no/such/method", json!({})),
        notification("notifications/cancelled"),
    ]);
    let reply = json_reply(send_batch(&server, &id, &batch).await).await;
    let items = reply.as_array().expect("a batch reply is a JSON array");
    assert_eq!(items.len(), 4, "{reply}");
    let ids: Vec<&Value> = items.iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&json!(1), &json!(2), &json!("three"), &json!(4)]);
    assert_eq!(tool_text(&items[0]), "counted down from 2");
    assert_eq!(tool_text(&items[1]), "two");
    assert_eq!(
        items[2],
        json!({ "jsonrpc": "2.0", "id": "three", "result": {} })
    );
    assert_eq!(items[3]["error"]["code"], -32601);
    for item in items {
        assert_eq!(item["jsonrpc"], "2.0");
    }
}

#[tokio::test]
async fn a_single_request_batch_still_gets_an_array() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-03-26").await;
    let reply = json_reply(send_batch(&server, &id, &json!([echo(1, "solo")])).await).await;
    assert_eq!(reply.as_array().map(Vec::len), Some(1));
    assert_eq!(tool_text(&reply[0]), "solo");
}

#[tokio::test]
async fn notifications_only_batch_is_202_and_each_is_dispatched() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = Server::with_handler(
        McpLayer::new(),
        tower::service_fn(move |req: McpRequest| {
            if req.is_notification() {
                log.lock().unwrap().push(req.method().to_owned());
            }
            example::handle(req)
        }),
    );
    let id = server.open_session("2025-03-26").await;
    seen.lock().unwrap().clear();
    let batch = json!([
        notification("notifications/roots/list_changed"),
        { "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 3 } },
    ]);
    let res = send_batch(&server, &id, &batch).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(body_bytes(res).await.is_empty());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "notifications/roots/list_changed",
            "notifications/cancelled"
        ]
    );
}

#[tokio::test]
async fn responses_only_batch_is_202() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-03-26").await;
    let batch = json!([
        { "jsonrpc": "2.0", "id": 1, "result": {} },
        { "jsonrpc": "2.0", "id": 2, "error": { "code": -1, "message": "declined" } },
    ]);
    let res = send_batch(&server, &id, &batch).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(body_bytes(res).await.is_empty());
}

#[tokio::test]
async fn batch_rule_violations_are_400_invalid_request() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-03-26").await;
    for batch in [
        json!([]),
        json!([init_request("2025-03-26")]),
        json!([echo(1, "x"), init_request("2025-03-26")]),
        json!([echo(1, "x"), { "jsonrpc": "2.0", "id": 9, "result": {} }]),
        json!([{ "jsonrpc": "2.0", "id": 9, "result": {} }, request(2, "ping", json!({}))]),
        json!([echo(1, "x"), 42]),
    ] {
        rejection(
            send_batch(&server, &id, &batch).await,
            StatusCode::BAD_REQUEST,
            RejectionKind::InvalidMessage,
            -32600,
        )
        .await;
    }
    // The session is fine afterwards.
    assert_eq!(server.sessions.len(), 1);
    let reply = json_reply(send_batch(&server, &id, &json!([echo(1, "ok")])).await).await;
    assert_eq!(tool_text(&reply[0]), "ok");
}

#[tokio::test]
async fn a_batch_holding_initialize_creates_no_session() {
    let batch = json!([init_request("2025-03-26"), request(1, "ping", json!({}))]);

    // Outside a session, a stateful server asks for one before it reads the batch's rules.
    let server = Server::example(McpLayer::new());
    let res = server.send(post(&batch)).await;
    assert!(res.headers().get("mcp-session-id").is_none());
    rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::SessionRequired,
        -32000,
    )
    .await;
    assert!(server.sessions.is_empty());

    // In a session, the batch rules refuse it: no second session, and the first one lives on.
    let id = server.open_session("2025-03-26").await;
    let res = send_batch(&server, &id, &batch).await;
    assert!(res.headers().get("mcp-session-id").is_none());
    let (_, message) = rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidMessage,
        -32600,
    )
    .await;
    assert!(message.contains("initialize"), "{message}");
    assert_eq!(server.sessions.len(), 1);
    let reply = json_reply(send_batch(&server, &id, &json!([echo(1, "ok")])).await).await;
    assert_eq!(tool_text(&reply[0]), "ok");

    // A stateless server reads the batch at once, and refuses it the same way.
    let stateless = Server::example(McpLayer::new().stateless(true));
    let mut req = post(&batch);
    req.headers_mut()
        .insert("mcp-protocol-version", "2025-03-26".parse().unwrap());
    let (_, message) = rejection(
        stateless.send(req).await,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidMessage,
        -32600,
    )
    .await;
    assert!(message.contains("initialize"), "{message}");
    assert!(stateless.sessions.is_empty());
}

#[tokio::test]
async fn arrays_are_refused_after_2025_03_26() {
    let server = Server::example(McpLayer::new());
    let batch = json!([echo(1, "x"), echo(2, "y")]);
    let on_0618 = server.open_session("2025-06-18").await;
    let on_1125 = server.open_session("2025-11-25").await;
    let on_0326 = server.open_session("2025-03-26").await;
    let cases = [
        // negotiated, no header
        (on_0618.as_str(), None),
        (on_1125.as_str(), None),
        // negotiated and named in the header
        (on_0618.as_str(), Some("2025-06-18")),
        (on_1125.as_str(), Some("2025-11-25")),
        // the header names a revision without batches
        (on_0326.as_str(), Some("2025-06-18")),
        (on_0326.as_str(), Some("2025-11-25")),
    ];
    for (session, header) in cases {
        let mut req = post_in(session, &batch);
        if let Some(version) = header {
            req.headers_mut()
                .insert("mcp-protocol-version", version.parse().unwrap());
        }
        // `rejection` checks for one error object, not an array.
        let (_, message) = rejection(
            server.send(req).await,
            StatusCode::BAD_REQUEST,
            RejectionKind::InvalidMessage,
            -32600,
        )
        .await;
        assert!(message.contains("2025-03-26"), "{message}");
    }
    // The same array is fine on the 2025-03-26 session.
    let reply = json_reply(server.send(post_in(&on_0326, &batch)).await).await;
    assert_eq!(reply.as_array().map(Vec::len), Some(2));
}

#[tokio::test(start_paused = true)]
async fn progress_of_a_batch_goes_to_the_standalone_stream() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-03-26").await;
    let mut stream = server.send(get_stream(&id)).await.into_body();
    let batch = json!([countdown(1, 1, 10, Some(json!("b-1"))), echo(2, "x")]);
    let reply = json_reply(send_batch(&server, &id, &batch).await).await;
    assert_eq!(tool_text(&reply[0]), "counted down from 1");
    for progress in [0.0, 1.0] {
        let message = next_message(&mut stream).await;
        assert_eq!(message["method"], "notifications/progress");
        assert_eq!(message["params"]["progressToken"], "b-1");
        assert_eq!(message["params"]["progress"], progress);
    }
}

#[tokio::test]
async fn sse_mode_streams_the_batch_responses() {
    let server = Server::example(McpLayer::new().response_mode(ResponseMode::Sse));
    let id = server.open_session("2025-03-26").await;
    let batch = json!([echo(1, "a"), echo(2, "b"), request(3, "ping", json!({}))]);
    let mut messages = sse_reply(send_batch(&server, &id, &batch).await).await;
    messages.sort_by_key(|m| m["id"].as_i64());
    let ids: Vec<i64> = messages.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(tool_text(&messages[0]), "a");
    assert_eq!(tool_text(&messages[1]), "b");
}
