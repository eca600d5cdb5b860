//! Mounting the service in axum, and stacking tower layers above and below it.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body as AxumBody;
use http::header::{ACCEPT, ALLOW, CONTENT_TYPE, HOST};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use mcp_tower::{McpBody, McpLayer, McpRequest, McpResponse};
use serde_json::{json, Value};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_http::validate_request::ValidateRequestHeaderLayer;

use crate::example;
use crate::support::*;

fn axum_post(session: Option<&str>, message: &Value) -> Request<AxumBody> {
    let mut builder = Request::post("/mcp")
        .header(HOST, LOCAL_HOST)
        .header(ACCEPT, ACCEPT_BOTH)
        .header(CONTENT_TYPE, "application/json");
    if let Some(session) = session {
        builder = builder.header("mcp-session-id", session);
    }
    builder.body(AxumBody::from(message.to_string())).unwrap()
}

async fn axum_body(res: http::Response<AxumBody>) -> Vec<u8> {
    within(res.into_body().collect())
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

#[tokio::test]
async fn route_service_mounts_the_endpoint() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let mcp = layer.layer(tower::service_fn(example::handle));
    let app = axum::Router::new().route_service("/mcp", mcp);

    let res = app
        .clone()
        .oneshot(axum_post(None, &init_request("2025-11-25")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
    let id = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let reply: Value = serde_json::from_slice(&axum_body(res).await).unwrap();
    assert_eq!(reply["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(sessions.len(), 1);

    let res = app
        .clone()
        .oneshot(axum_post(Some(&id), &echo(1, "via axum")))
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&axum_body(res).await).unwrap();
    assert_eq!(tool_text(&reply), "via axum");

    // Progress streams through axum too.
    let res = app
        .clone()
        .oneshot(axum_post(Some(&id), &countdown(2, 2, 1, Some(json!("ax")))))
        .await
        .unwrap();
    assert_eq!(res.headers()[CONTENT_TYPE], "text/event-stream");
    let events = messages(&decode(&axum_body(res).await));
    assert_eq!(events.len(), 4);
    assert_eq!(tool_text(&events[3].1), "counted down from 2");

    // Every method reaches the service: its own 405, not axum's.
    let put = Request::put("/mcp")
        .header(HOST, LOCAL_HOST)
        .body(AxumBody::empty())
        .unwrap();
    let res = app.clone().oneshot(put).await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()[ALLOW], "GET, POST, DELETE");

    let other = Request::post("/elsewhere").body(AxumBody::empty()).unwrap();
    assert_eq!(
        app.clone().oneshot(other).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let delete = Request::delete("/mcp")
        .header(HOST, LOCAL_HOST)
        .header("mcp-session-id", &id)
        .body(AxumBody::empty())
        .unwrap();
    assert_eq!(app.oneshot(delete).await.unwrap().status(), StatusCode::OK);
    assert!(sessions.is_empty());
}

/// An auth check above the transport: 401 unless `Authorization: Bearer s3cret`.
#[allow(clippy::result_large_err)] // the shape tower-http's `ValidateRequest` asks for
fn bearer_s3cret<B>(req: &mut Request<B>) -> Result<(), http::Response<McpBody>> {
    if req
        .headers()
        .get("authorization")
        .is_some_and(|v| v == "Bearer s3cret")
    {
        return Ok(());
    }
    let mut res = http::Response::new(McpBody::empty());
    *res.status_mut() = StatusCode::UNAUTHORIZED;
    Err(res)
}

#[tokio::test]
async fn an_auth_layer_above_answers_before_the_transport() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let svc = ServiceBuilder::new()
        .layer(ValidateRequestHeaderLayer::custom(bearer_s3cret))
        .layer(layer)
        .service_fn(example::handle);

    let res = svc
        .clone()
        .oneshot(post(&init_request("2025-11-25")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(sessions.is_empty());

    let mut req = post(&init_request("2025-11-25"));
    req.headers_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(sessions.len(), 1);
}

async fn slow(req: McpRequest) -> Result<McpResponse, Infallible> {
    if req.method() == "tools/call" {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    example::handle(req).await
}

#[tokio::test(start_paused = true)]
async fn a_timeout_layer_below_turns_into_a_json_rpc_error() {
    let server = Server::with_handler(
        McpLayer::new().sse_after(Duration::from_secs(120)),
        ServiceBuilder::new()
            .timeout(Duration::from_secs(5))
            .service_fn(slow),
    );
    let id = server.open_session("2025-11-25").await;
    let reply = json_reply(server.send(post_in(&id, &echo(4, "late"))).await).await;
    assert_eq!(reply["id"], 4);
    assert_eq!(reply["error"]["code"], -32603);
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("timed out"));
    // The session is fine.
    let reply = json_reply(
        server
            .send(post_in(&id, &request(5, "ping", json!({}))))
            .await,
    )
    .await;
    assert_eq!(reply["result"], json!({}));
}
