//! Stateless mode: no sessions at all, POST only. SPEC.md §1.7 ("Stateless servers") and §6
//! rows 6 and 7.

use http::header::ALLOW;
use http::{Method, Request, StatusCode};
use mcp_tower::{McpLayer, RejectionKind};
use serde_json::json;

use crate::support::*;

fn stateless() -> Server {
    Server::example(McpLayer::new().stateless(true))
}

#[tokio::test]
async fn initialize_issues_no_session_id() {
    let server = stateless();
    let res = server.send(post(&init_request("2025-06-18"))).await;
    assert!(res.headers().get("mcp-session-id").is_none());
    let reply = json_reply(res).await;
    assert_eq!(reply["result"]["protocolVersion"], "2025-06-18");
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn requests_are_served_without_a_session() {
    let server = stateless();
    let reply = json_reply(server.send(post(&echo(1, "no session"))).await).await;
    assert_eq!(tool_text(&reply), "no session");
    let reply = json_reply(
        server
            .send(post(&request(2, "tools/list", json!({}))))
            .await,
    )
    .await;
    assert_eq!(reply["result"]["tools"][0]["name"], "echo");
    let res = server
        .send(post(&notification("notifications/initialized")))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // A stray session id is ignored, not looked up.
    let reply = json_reply(server.send(post_in("whatever", &echo(3, "ignored"))).await).await;
    assert_eq!(tool_text(&reply), "ignored");
    assert!(server.sessions.is_empty());
}

#[tokio::test(start_paused = true)]
async fn progress_still_streams_without_a_session() {
    let server = stateless();
    let messages = sse_reply(
        server
            .send(post(&countdown(1, 3, 10, Some(json!("s")))))
            .await,
    )
    .await;
    assert_eq!(messages.len(), 5);
    assert_eq!(messages[0]["params"]["progressToken"], "s");
    assert_eq!(tool_text(&messages[4]), "counted down from 3");
}

#[tokio::test]
async fn get_delete_and_others_are_405_allow_post() {
    let server = stateless();
    for method in [Method::GET, Method::DELETE, Method::PUT, Method::PATCH] {
        let req = Request::builder()
            .method(method.clone())
            .uri("/mcp")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", "anything")
            .body(Body::default())
            .unwrap();
        let (headers, _) = rejection(
            server.send(req).await,
            StatusCode::METHOD_NOT_ALLOWED,
            RejectionKind::MethodNotAllowed,
            -32000,
        )
        .await;
        assert_eq!(headers[ALLOW], "POST", "{method}");
    }
}

#[tokio::test]
async fn the_guards_still_apply() {
    let server = stateless();
    let mut req = post(&echo(1, "x"));
    req.headers_mut()
        .insert("host", "evil.example.com".parse().unwrap());
    assert_eq!(server.send(req).await.status(), StatusCode::FORBIDDEN);
    let mut req = post(&echo(1, "x"));
    req.headers_mut()
        .insert("mcp-protocol-version", "2099-01-01".parse().unwrap());
    assert_eq!(server.send(req).await.status(), StatusCode::BAD_REQUEST);
    let req = post_builder().body(raw("{")).unwrap();
    assert_eq!(server.send(req).await.status(), StatusCode::BAD_REQUEST);
}
