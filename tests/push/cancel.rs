//! `notifications/cancelled` from the client aborts the handler; a disconnect does not.

use std::time::Duration;

use mcp_tower::{McpLayer, McpRequest, McpResponse};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tower::ServiceExt;

use crate::support::*;

/// Fires its channel when dropped: shows that a handler future was torn down.
struct DropGuard(Option<oneshot::Sender<()>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A tool that reports it started, optionally sends progress (so the reply becomes a stream),
/// then waits forever holding a drop guard.
fn stuck(layer: &McpLayer, talk: bool) -> (Svc, mpsc::UnboundedReceiver<oneshot::Receiver<()>>) {
    let (started_tx, started_rx) = mpsc::unbounded_channel();
    let svc = service(layer, move |req: McpRequest| {
        let started = started_tx.clone();
        async move {
            let (tx, rx) = oneshot::channel();
            let _guard = DropGuard(Some(tx));
            if talk {
                req.context().progress(1.0, None, Some("working"));
            }
            started.send(rx).unwrap();
            std::future::pending::<()>().await;
            McpResponse::empty()
        }
    });
    (svc, started_rx)
}

#[tokio::test(start_paused = true)]
async fn cancelled_aborts_the_handler_and_ends_the_stream_without_a_response() {
    let (svc, mut started) = stuck(&McpLayer::new(), true);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(7, "stuck", json!({}))),
        )
        .await,
    );
    let dropped = within(started.recv()).await.unwrap();
    let (_, progress) = sse.next_message().await.unwrap();
    assert_eq!(progress["method"], "notifications/progress");

    let status = client_notify(
        &svc,
        &sid,
        V_NEW,
        "notifications/cancelled",
        json!({ "requestId": 7, "reason": "user hit stop" }),
    )
    .await;
    assert_eq!(status, 202);
    timeout(Duration::from_secs(1), dropped)
        .await
        .expect("the handler future must be dropped")
        .unwrap();
    let rest = timeout(Duration::from_secs(60), sse.rest())
        .await
        .expect("the stream must end");
    assert!(
        messages(&rest).is_empty(),
        "no response after a cancellation: {rest:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelled_before_the_reply_took_its_form() {
    // A silent handler: the adaptive reply has not chosen JSON or SSE yet.
    let (svc, mut started) = stuck(&McpLayer::new().sse_after(Duration::from_secs(30)), false);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let body = json!({ "jsonrpc": "2.0", "id": "call-a", "method": "tools/call", "params": { "name": "stuck" } });
    let pending = tokio::spawn(
        svc.clone()
            .oneshot(post_with(Some(&sid), Some(V_NEW), &body)),
    );
    let dropped = within(started.recv()).await.unwrap();
    let status = client_notify(
        &svc,
        &sid,
        V_NEW,
        "notifications/cancelled",
        json!({ "requestId": "call-a" }),
    )
    .await;
    assert_eq!(status, 202);
    within(dropped).await.unwrap();
    let res = timeout(Duration::from_secs(1), pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let rest = Sse::of(res).rest().await;
    assert!(
        messages(&rest).is_empty(),
        "no response after a cancellation: {rest:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_or_foreign_cancellations_change_nothing() {
    let (svc, mut started) = stuck(&McpLayer::new(), true);
    let a = initialize(&svc, V_NEW, json!({})).await;
    let b = initialize(&svc, V_NEW, json!({})).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&a), Some(V_NEW), &tool_call(7, "stuck", json!({}))),
        )
        .await,
    );
    let mut dropped = within(started.recv()).await.unwrap();
    for (sid, params) in [
        (&a, json!({ "requestId": 8 })),
        (&a, json!({ "requestId": "7" })),
        (&a, json!({})),
        (&b, json!({ "requestId": 7 })), // the same id, another session
    ] {
        assert_eq!(
            client_notify(&svc, sid, V_NEW, "notifications/cancelled", params).await,
            202
        );
    }
    assert!(
        timeout(Duration::from_secs(5), &mut dropped).await.is_err(),
        "the handler must still run"
    );
    assert_eq!(
        sse.next_message().await.unwrap().1["method"],
        "notifications/progress"
    );
}
