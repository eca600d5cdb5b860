//! Headers the transport reads as one value are refused when sent twice with different
//! values, whichever copy comes first; `Accept` is a list and may be split over several
//! headers. SPEC.md §6 rows 1, 2, 10, 19, 20 and 26.

use http::header::{ACCEPT, CONTENT_TYPE, HOST, ORIGIN};
use http::{HeaderName, Request, StatusCode};
use mcp_tower::{McpLayer, RejectionKind};

use crate::support::*;

/// `req` with `values` appended as copies of `name`.
fn with_copies(mut req: Request<Body>, name: &HeaderName, values: &[&str]) -> Request<Body> {
    req.headers_mut().remove(name);
    for value in values {
        req.headers_mut().append(name, value.parse().unwrap());
    }
    req
}

fn initialize() -> Request<Body> {
    post(&init_request(V_NEW))
}

#[tokio::test]
async fn a_second_origin_that_is_not_allowed_is_403_whichever_comes_first() {
    let server = Server::example(McpLayer::new());
    for values in [
        ["http://localhost:3000", "https://evil.example.com"],
        ["https://evil.example.com", "http://localhost:3000"],
    ] {
        let res = server
            .send(with_copies(initialize(), &ORIGIN, &values))
            .await;
        rejection(
            res,
            StatusCode::FORBIDDEN,
            RejectionKind::ForbiddenOrigin,
            -32000,
        )
        .await;
    }
    assert!(server.sessions.is_empty());
    // Two copies of one allowed value are one value.
    let same = ["http://localhost:3000", "http://localhost:3000"];
    let res = server.send(with_copies(initialize(), &ORIGIN, &same)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_second_host_that_differs_is_403_whichever_comes_first() {
    let server = Server::example(McpLayer::new());
    for values in [
        ["localhost:3000", "evil.example.com"],
        ["evil.example.com", "localhost:3000"],
        // Both allowed, but a proxy and this server could still disagree on which one counts.
        ["localhost:3000", "127.0.0.1:3000"],
    ] {
        let res = server.send(with_copies(initialize(), &HOST, &values)).await;
        rejection(
            res,
            StatusCode::FORBIDDEN,
            RejectionKind::ForbiddenHost,
            -32000,
        )
        .await;
    }
    let same = ["localhost:3000", "localhost:3000"];
    let res = server.send(with_copies(initialize(), &HOST, &same)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_authority_and_a_host_header_must_both_be_allowed() {
    let server = Server::example(McpLayer::new());
    let mut req = initialize();
    *req.uri_mut() = "http://evil.example.com/mcp".parse().unwrap();
    let res = server.send(req).await;
    rejection(
        res,
        StatusCode::FORBIDDEN,
        RejectionKind::ForbiddenHost,
        -32000,
    )
    .await;
}

#[tokio::test]
async fn a_second_content_type_that_differs_is_400() {
    let server = Server::example(McpLayer::new());
    let values = ["application/json", "text/plain"];
    let res = server
        .send(with_copies(initialize(), &CONTENT_TYPE, &values))
        .await;
    let (_, message) = rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::ConflictingHeader,
        -32000,
    )
    .await;
    assert!(message.contains("Content-Type"), "{message}");
    let same = ["application/json", "application/json"];
    let res = server
        .send(with_copies(initialize(), &CONTENT_TYPE, &same))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_second_last_event_id_that_differs_is_400() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session(V_NEW).await;
    let req = with_copies(
        get_stream(&id),
        &HeaderName::from_static("last-event-id"),
        &["abc", "def"],
    );
    let res = server.send(req).await;
    let (_, message) = rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::ConflictingHeader,
        -32000,
    )
    .await;
    assert!(message.contains("Last-Event-ID"), "{message}");
}

#[tokio::test]
async fn repeated_session_ids_and_versions_are_400_even_when_equal() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session(V_NEW).await;
    let req = with_copies(
        post_in(&id, &echo(1, "hi")),
        &HeaderName::from_static("mcp-session-id"),
        &[&id, &id],
    );
    let res = server.send(req).await;
    rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidSessionId,
        -32000,
    )
    .await;
    let req = with_copies(
        post_in(&id, &echo(1, "hi")),
        &HeaderName::from_static("mcp-protocol-version"),
        &[V_NEW, V_OLD],
    );
    let res = server.send(req).await;
    rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::UnsupportedProtocolVersion,
        -32000,
    )
    .await;
}

#[tokio::test]
async fn accept_is_a_list_and_may_be_split_over_several_headers() {
    let server = Server::example(McpLayer::new());
    let values = ["application/json", "text/event-stream"];
    let res = server
        .send(with_copies(initialize(), &ACCEPT, &values))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "the copies make one list");
    // A refusal (q=0) in one copy still counts.
    let values = ["application/json", "text/event-stream;q=0"];
    let res = server
        .send(with_copies(initialize(), &ACCEPT, &values))
        .await;
    rejection(
        res,
        StatusCode::NOT_ACCEPTABLE,
        RejectionKind::NotAcceptable,
        -32000,
    )
    .await;
}
