//! Limits: sessions, requests in flight, requests waiting for the client, and the timers that
//! end sessions (initialize timeout, idle expiry).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_tower::ClientRequestError;
use mcp_tower::{
    CloseReason, McpLayer, McpRequest, McpResponse, Rejection, RejectionKind, ResponseMode,
};
use serde_json::json;
use tokio::sync::Semaphore;
use tower::Layer;

use crate::support::*;

/// Records every close the layer reports.
type Closed = Arc<Mutex<Vec<(String, CloseReason)>>>;

fn recording(layer: McpLayer) -> (McpLayer, Closed) {
    let closed = Closed::default();
    let c = closed.clone();
    let layer = layer.on_session_closed(move |closed| {
        c.lock()
            .unwrap()
            .push((closed.id.as_str().to_owned(), closed.reason));
    });
    (layer, closed)
}

#[tokio::test(start_paused = true)]
async fn max_sessions_answers_503_with_retry_after() {
    let layer = McpLayer::new().max_sessions(2);
    let svc = layer.layer(plain());
    let first = initialize(&svc, V_NEW, json!({})).await;
    let _second = initialize(&svc, V_NEW, json!({})).await;
    let res = call(&svc, post_with(None, None, &init_body(V_NEW, json!({})))).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_some());
    assert!(res.headers().get("mcp-session-id").is_none());
    assert_eq!(
        res.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::TooManySessions
    );
    let body = json_body(res).await;
    assert_eq!(body["jsonrpc"], "2.0");
    assert!(body["error"]["code"].is_i64(), "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(layer.sessions().len(), 2);
    // A freed slot admits a new session.
    assert_eq!(
        call(&svc, delete_with(&first, Some(V_NEW))).await.status(),
        200
    );
    initialize(&svc, V_NEW, json!({})).await;
}

#[tokio::test(start_paused = true)]
async fn max_in_flight_answers_429() {
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let layer = McpLayer::new()
        .max_in_flight(1)
        .response_mode(ResponseMode::Sse);
    let svc = service(&layer, move |_req: McpRequest| {
        let g = g.clone();
        async move {
            g.acquire().await.unwrap().forget();
            McpResponse::result(json!({ "done": true }))
        }
    });
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let busy = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "wait", json!({}))),
        )
        .await,
    );
    let res = call(
        &svc,
        post_with(Some(&sid), Some(V_NEW), &tool_call(2, "wait", json!({}))),
    )
    .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(
        res.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::TooManyRequests
    );
    assert!(json_body(res).await["error"]["code"].is_i64());
    // Notifications do not count against the limit; another session has its own.
    assert_eq!(
        client_notify(&svc, &sid, V_NEW, "notifications/message", json!({})).await,
        202
    );
    let other = initialize(&svc, V_NEW, json!({})).await;
    let mut other_call = Sse::of(
        call(
            &svc,
            post_with(Some(&other), Some(V_NEW), &tool_call(1, "wait", json!({}))),
        )
        .await,
    );

    gate.add_permits(2);
    let mut busy = busy;
    assert_eq!(busy.next_message().await.unwrap().1["result"]["done"], true);
    assert_eq!(
        other_call.next_message().await.unwrap().1["result"]["done"],
        true
    );
    // Once the first call is done, the session takes calls again.
    let res = call(
        &svc,
        post_with(Some(&sid), Some(V_NEW), &tool_call(3, "wait", json!({}))),
    )
    .await;
    gate.add_permits(1);
    assert_eq!(reply_json(res).await["result"]["done"], true);
}

#[tokio::test(start_paused = true)]
async fn max_pending_requests_fails_with_too_many_pending() {
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let o = outcomes.clone();
    let layer = McpLayer::new().max_pending_requests(2);
    let svc = service(&layer, move |req: McpRequest| {
        let o = o.clone();
        async move {
            let ctx = req.context();
            let first = ctx.request("ping", None);
            let second = ctx.request("ping", None);
            let third = ctx.request("ping", None);
            // Start all three; the third finds two waiting already.
            let (a, b, c) = tokio::join!(first, second, third);
            o.lock().unwrap().extend([a, b, c]);
            McpResponse::empty()
        }
    });
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "three", json!({}))),
        )
        .await,
    );
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, req) = sse.next_message().await.unwrap();
        assert_eq!(req["method"], "ping");
        ids.push(req["id"].clone());
    }
    assert_ne!(ids[0], ids[1], "ids of waiting requests are distinct");
    for id in &ids {
        assert_eq!(client_answer(&svc, &sid, V_NEW, id, json!({})).await, 202);
    }
    let (_, reply) = sse.next_message().await.unwrap();
    assert_eq!(reply["id"], 1, "only two pings went out: {reply}");
    let got = outcomes.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            Ok(json!({})),
            Ok(json!({})),
            Err(ClientRequestError::TooManyPending)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_session_that_never_sends_initialized_is_reaped() {
    let (layer, closed) = recording(
        McpLayer::new()
            .initialize_timeout(Duration::from_secs(5))
            .session_idle_timeout(Duration::from_secs(3600)),
    );
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let lazy = initialize_only(&svc, V_NEW, json!({})).await;
    let polite = initialize(&svc, V_NEW, json!({})).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(sessions.len(), 2, "not yet");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        *closed.lock().unwrap(),
        [(lazy.clone(), CloseReason::InitializeTimeout)]
    );
    assert!(sessions.get(&lazy).is_none());
    assert_eq!(call(&svc, get(&lazy, V_NEW, None)).await.status(), 404);
    assert!(sessions.get(&polite).is_some());
}

#[tokio::test(start_paused = true)]
async fn idle_sessions_expire_but_not_one_with_an_open_stream() {
    let (layer, closed) = recording(McpLayer::new().session_idle_timeout(Duration::from_secs(60)));
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let idle = initialize(&svc, V_NEW, json!({})).await;
    let busy = initialize(&svc, V_NEW, json!({})).await;
    let listening = initialize(&svc, V_NEW, json!({})).await;
    let _stream = Sse::of(call(&svc, get(&listening, V_NEW, None)).await);
    // `busy` keeps talking (a ping every 30 s); `idle` says nothing.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let res = call(
            &svc,
            post_with(
                Some(&busy),
                Some(V_NEW),
                &json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }),
            ),
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        *closed.lock().unwrap(),
        [(idle.clone(), CloseReason::Expired)]
    );
    assert_eq!(
        call(
            &svc,
            post_with(
                Some(&idle),
                Some(V_NEW),
                &json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" })
            )
        )
        .await
        .status(),
        404
    );
    assert!(sessions.get(&busy).is_some());
    assert!(
        sessions.get(&listening).is_some(),
        "an open GET stream keeps a session alive"
    );
}
