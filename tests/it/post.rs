//! POST framing: Accept, Content-Type, the size limit, JSON and JSON-RPC parsing, 202 for
//! notifications and responses, errors inside valid requests. SPEC.md §1.3, §2.1 and §6 rows 8,
//! 10, 11, 12, 24, 28 and 29.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{Request, StatusCode};
use http_body::Frame;
use http_body_util::StreamBody;
use mcp_tower::{McpLayer, RejectionKind};
use serde_json::json;
use tower::{Layer, ServiceExt};

use crate::example;
use crate::support::*;

fn init_with_accept(accept: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/mcp")
        .header(HOST, LOCAL_HOST)
        .header(CONTENT_TYPE, "application/json");
    if let Some(accept) = accept {
        builder = builder.header(ACCEPT, accept);
    }
    builder
        .body(raw(init_request("2025-11-25").to_string()))
        .unwrap()
}

#[tokio::test]
async fn accept_must_list_both_media_types() {
    let server = Server::example(McpLayer::new());
    for accept in [
        None,
        Some("application/json"),
        Some("text/event-stream"),
        Some("text/html"),
        Some("application/json, text/event-stream;q=0"),
    ] {
        let (_, message) = rejection(
            server.send(init_with_accept(accept)).await,
            StatusCode::NOT_ACCEPTABLE,
            RejectionKind::NotAcceptable,
            -32000,
        )
        .await;
        assert!(message.contains("application/json"), "{message}");
        assert!(message.contains("text/event-stream"), "{message}");
    }
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn wildcard_and_parameterised_accept_are_enough() {
    let server = Server::example(McpLayer::new());
    for accept in [
        "*/*",
        "application/*, text/*",
        "text/event-stream;q=0.5, application/json;q=0.9",
        "application/json, text/event-stream, text/html",
    ] {
        let res = server.send(init_with_accept(Some(accept))).await;
        assert_eq!(res.status(), StatusCode::OK, "{accept}");
    }
    // Two separate Accept headers count together.
    let mut req = init_with_accept(Some("application/json"));
    req.headers_mut()
        .append(ACCEPT, "text/event-stream".parse().unwrap());
    assert_eq!(server.send(req).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn content_type_must_be_json() {
    let server = Server::example(McpLayer::new());
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut builder = Request::post("/mcp")
            .header(HOST, LOCAL_HOST)
            .header(ACCEPT, ACCEPT_BOTH);
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        let req = builder
            .body(raw(init_request("2025-11-25").to_string()))
            .unwrap();
        rejection(
            server.send(req).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectionKind::UnsupportedMediaType,
            -32000,
        )
        .await;
    }
    // Replaced, not appended: two different Content-Type values are refused (hostile_headers).
    let mut req = post(&init_request("2025-11-25"));
    req.headers_mut().insert(
        CONTENT_TYPE,
        "Application/JSON; charset=utf-8".parse().unwrap(),
    );
    assert_eq!(server.send(req).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn declared_length_over_the_limit_is_413() {
    let server = Server::example(McpLayer::new().max_body_bytes(64));
    let body = init_request("2025-11-25").to_string();
    assert!(body.len() > 64);
    let req = post_builder()
        .header(CONTENT_LENGTH, body.len())
        .body(raw(body))
        .unwrap();
    rejection(
        server.send(req).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        RejectionKind::PayloadTooLarge,
        -32000,
    )
    .await;
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn streamed_body_over_the_limit_is_413() {
    let layer = McpLayer::new().max_body_bytes(64);
    let sessions = layer.sessions();
    let svc = layer.layer(tower::service_fn(example::handle));
    // Three 40-byte chunks and no Content-Length: only counting while reading can catch it.
    let chunks = (0..3).map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b' '; 40]))));
    let req = post_builder()
        .body(StreamBody::new(stream::iter(chunks)))
        .unwrap();
    assert!(req.headers().get(CONTENT_LENGTH).is_none());
    let res = within(svc.oneshot(req)).await.unwrap();
    rejection(
        res,
        StatusCode::PAYLOAD_TOO_LARGE,
        RejectionKind::PayloadTooLarge,
        -32000,
    )
    .await;
    assert!(sessions.is_empty());
}

#[tokio::test]
async fn a_body_that_fails_mid_read_is_400() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let svc = layer.layer(tower::service_fn(example::handle));
    let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
        Ok(Frame::data(Bytes::from_static(b"{\"jsonrpc\":"))),
        Err(std::io::Error::other("connection reset")),
    ];
    let req = post_builder()
        .body(StreamBody::new(stream::iter(chunks)))
        .unwrap();
    let res = within(svc.oneshot(req)).await.unwrap();
    let (_, message) = rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::BodyRead,
        -32000,
    )
    .await;
    assert!(message.contains("connection reset"), "{message}");
    assert!(sessions.is_empty());
}

#[tokio::test]
async fn streamed_body_within_the_limit_is_read_whole() {
    let text = init_request("2025-11-25").to_string();
    let layer = McpLayer::new().max_body_bytes(text.len());
    let svc = layer.layer(tower::service_fn(example::handle));
    let chunks: Vec<_> = text
        .as_bytes()
        .chunks(7)
        .map(|c| Ok::<_, Infallible>(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let req = post_builder()
        .body(StreamBody::new(stream::iter(chunks)))
        .unwrap();
    let res = within(svc.oneshot(req)).await.unwrap();
    let reply = json_reply(res).await;
    assert_eq!(reply["id"], 0);
    assert_eq!(reply["result"]["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn a_body_exactly_at_the_limit_passes() {
    let text = init_request("2025-11-25").to_string();
    let server = Server::example(McpLayer::new().max_body_bytes(text.len()));
    let req = post_builder()
        .header(CONTENT_LENGTH, text.len())
        .body(raw(text.clone()))
        .unwrap();
    assert_eq!(server.send(req).await.status(), StatusCode::OK);
    let server = Server::example(McpLayer::new().max_body_bytes(text.len() - 1));
    let res = server.send(post_builder().body(raw(text)).unwrap()).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// POSTs of `body`: outside any session, and in `session`.
fn with_and_without(session: &str, body: &'static [u8]) -> [Request<Body>; 2] {
    [
        post_builder().body(raw(body)).unwrap(),
        post_builder()
            .header("mcp-session-id", session)
            .body(raw(body))
            .unwrap(),
    ]
}

#[tokio::test]
async fn invalid_json_is_400_parse_error() {
    let server = Server::example(McpLayer::new());
    let session = server.open_session("2025-11-25").await;
    for body in [
        &b""[..],
        b"{",
        b"not json",
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"} trailing"#,
        b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
    ] {
        for req in with_and_without(&session, body) {
            rejection(
                server.send(req).await,
                StatusCode::BAD_REQUEST,
                RejectionKind::ParseError,
                -32700,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn invalid_utf8_is_400_parse_error() {
    let server = Server::example(McpLayer::new());
    let session = server.open_session("2025-11-25").await;
    for body in [
        &b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":\"\xff\"}}"[..],
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xc3\x28\"}",
        // In a member nobody reads: still not UTF-8, still refused.
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\"\xff\"}",
        b"\xff\xfe",
    ] {
        for req in with_and_without(&session, body) {
            rejection(
                server.send(req).await,
                StatusCode::BAD_REQUEST,
                RejectionKind::ParseError,
                -32700,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn json_that_is_not_json_rpc_is_400_invalid_request() {
    let server = Server::example(McpLayer::new());
    let session = server.open_session("2025-11-25").await;
    for body in [
        json!(42),
        json!("ping"),
        json!(null),
        json!({}),
        json!({ "id": 1, "method": "ping" }),
        json!({ "jsonrpc": "1.0", "id": 1, "method": "ping" }),
        json!({ "jsonrpc": 2.0, "id": 1, "method": "ping" }),
        json!({ "jsonrpc": "2.0", "id": null, "method": "ping" }),
        json!({ "jsonrpc": "2.0", "id": 1.5, "method": "ping" }),
        json!({ "jsonrpc": "2.0", "id": [1], "method": "ping" }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": 7 }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "ping", "params": 3 }),
        json!({ "jsonrpc": "2.0", "id": 1, "result": {}, "error": { "code": 1, "message": "x" } }),
        json!({ "jsonrpc": "2.0", "result": {} }),
        json!({ "jsonrpc": "2.0", "id": 1, "error": "nope" }),
        json!({ "jsonrpc": "2.0" }),
    ] {
        let (_, message) = rejection(
            server.send(post_in(&session, &body)).await,
            StatusCode::BAD_REQUEST,
            RejectionKind::InvalidMessage,
            -32600,
        )
        .await;
        assert!(!message.is_empty(), "{body}");
    }
    // The session survives bad messages.
    let reply = json_reply(server.send(post_in(&session, &echo(1, "still here"))).await).await;
    assert_eq!(tool_text(&reply), "still here");
}

#[tokio::test]
async fn unknown_method_in_a_valid_request_is_200_method_not_found() {
    let server = Server::example(McpLayer::new());
    let session = server.open_session("2025-11-25").await;
    let res = server
        .send(post_in(&session, &request(7, "no/such/method", json!({}))))
        .await;
    let reply = json_reply(res).await;
    assert_eq!(reply["jsonrpc"], "2.0");
    assert_eq!(reply["id"], 7);
    assert_eq!(reply["error"]["code"], -32601);
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no/such/method"));
    assert!(reply.get("result").is_none());
}

#[tokio::test]
async fn bad_params_in_a_valid_request_is_200_invalid_params() {
    let server = Server::example(McpLayer::new());
    let session = server.open_session("2025-11-25").await;
    let call = request(1, "tools/call", json!({ "name": "nope", "arguments": {} }));
    let reply = json_reply(server.send(post_in(&session, &call)).await).await;
    assert_eq!(reply["id"], 1);
    assert_eq!(reply["error"]["code"], -32602);
}

#[tokio::test]
async fn string_ids_are_echoed() {
    let server = Server::example(McpLayer::new());
    let session = server.open_session("2025-11-25").await;
    let ping = json!({ "jsonrpc": "2.0", "id": "req-α", "method": "ping" });
    let reply = json_reply(server.send(post_in(&session, &ping)).await).await;
    assert_eq!(
        reply,
        json!({ "jsonrpc": "2.0", "id": "req-α", "result": {} })
    );
}

#[tokio::test]
async fn notifications_and_client_responses_get_202_and_no_body() {
    let server = Server::example(McpLayer::new());
    let session = server.open_session("2025-11-25").await;
    for message in [
        notification("notifications/initialized"),
        json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 9 } }),
        json!({ "jsonrpc": "2.0", "id": 5, "result": {} }),
        json!({ "jsonrpc": "2.0", "id": "s-1", "error": { "code": -1, "message": "user said no" } }),
    ] {
        let res = server.send(post_in(&session, &message)).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{message}");
        assert!(res.headers().get(CONTENT_TYPE).is_none());
        assert!(res.extensions().get::<mcp_tower::Rejection>().is_none());
        assert!(body_bytes(res).await.is_empty(), "{message}");
    }
}

/// A handler that panics, at once or after it has started streaming: the request still gets
/// its answer, a −32603 error, instead of a dropped connection or a stream that never ends.
#[tokio::test]
async fn a_panicking_handler_answers_internal_error() {
    let handler = tower::service_fn(|req: mcp_tower::McpRequest| async move {
        if req.method() == "stream-then-panic" {
            req.context().notify(
                "notifications/message",
                Some(json!({ "level": "info", "data": "x" })),
            );
            tokio::task::yield_now().await;
        }
        if req.method() != "ping" {
            panic!("handler bug");
        }
        Ok::<_, Infallible>(mcp_tower::McpResponse::empty())
    });
    let server = Server::with_handler(McpLayer::new().stateless(true), handler);

    let reply = json_reply(server.send(post(&request(1, "panic", json!({})))).await).await;
    assert_error_body_with_id(&reply, 1, -32603);

    let res = within(server.send(post(&request(2, "stream-then-panic", json!({}))))).await;
    let messages = within(sse_reply(res)).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_error_body_with_id(&messages[1], 2, -32603);

    // The server is still healthy.
    let ok = json_reply(server.send(post(&request(3, "ping", json!({})))).await).await;
    assert_eq!(ok["result"], json!({}));
}

fn assert_error_body_with_id(reply: &serde_json::Value, id: i64, code: i64) {
    assert_eq!(reply["id"], id, "{reply}");
    assert_eq!(reply["error"]["code"], code, "{reply}");
    assert_eq!(reply["error"]["message"], "the handler panicked", "{reply}");
}
