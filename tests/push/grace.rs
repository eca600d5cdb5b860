//! `disconnect_grace`: a request whose SSE connection vanished and was not resumed in time is
//! cancelled; one resumed in time goes on. Without it, a disconnect is not a cancellation.

use std::sync::Arc;
use std::time::Duration;

use mcp_tower::{McpLayer, McpRequest, McpResponse};
use serde_json::json;
use tokio::sync::{oneshot, Semaphore};
use tokio::time::timeout;

use crate::support::*;

struct DropGuard(Option<oneshot::Sender<()>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A tool that sends progress, then waits for a permit (holding a drop guard) and answers.
fn waiting(
    layer: &McpLayer,
) -> (
    Svc,
    Arc<Semaphore>,
    tokio::sync::mpsc::UnboundedReceiver<oneshot::Receiver<()>>,
) {
    let gate = Arc::new(Semaphore::new(0));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let g = gate.clone();
    let svc = service(layer, move |req: McpRequest| {
        let (g, tx) = (g.clone(), tx.clone());
        async move {
            let (guard_tx, guard_rx) = oneshot::channel();
            let _guard = DropGuard(Some(guard_tx));
            let _ = tx.send(guard_rx);
            req.context().progress(1.0, None, None);
            g.acquire().await.unwrap().forget();
            McpResponse::result(json!({ "done": true }))
        }
    });
    (svc, gate, rx)
}

/// A call to the [`waiting`] tool whose connection the client dropped after its first event.
struct HungUp {
    svc: Svc,
    sid: String,
    /// Lets the tool answer.
    gate: Arc<Semaphore>,
    /// Fires when the handler is dropped (cancelled, or done).
    dropped: oneshot::Receiver<()>,
    /// The id of the progress event the client read: where it resumes.
    cursor: Option<String>,
}

/// Opens a session behind `layer`, calls the [`waiting`] tool, reads its progress event and
/// drops the connection.
async fn call_and_hang_up(layer: &McpLayer) -> HungUp {
    let (svc, gate, mut started) = waiting(layer);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "wait", json!({}))),
        )
        .await,
    );
    let dropped = within(started.recv()).await.unwrap();
    let (cursor, progress) = sse.next_message().await.unwrap();
    assert_eq!(progress["method"], "notifications/progress", "{progress}");
    drop(sse);
    HungUp {
        svc,
        sid,
        gate,
        dropped,
        cursor,
    }
}

#[tokio::test(start_paused = true)]
async fn a_vanished_connection_is_cancelled_after_the_grace() {
    let layer = McpLayer::new().disconnect_grace(Some(Duration::from_secs(2)));
    let HungUp {
        svc,
        sid,
        mut dropped,
        cursor,
        ..
    } = call_and_hang_up(&layer).await;
    assert!(
        timeout(Duration::from_millis(1900), &mut dropped)
            .await
            .is_err(),
        "cancelled before the grace ended"
    );
    timeout(Duration::from_millis(200), dropped)
        .await
        .expect("cancelled once the grace ended")
        .unwrap();
    // The stream ends without an answer.
    let rest = Sse::of(call(&svc, get(&sid, V_NEW, cursor.as_deref())).await)
        .rest()
        .await;
    assert!(messages(&rest).is_empty(), "{rest:?}");
}

#[tokio::test(start_paused = true)]
async fn a_connection_resumed_within_the_grace_goes_on() {
    let layer = McpLayer::new().disconnect_grace(Some(Duration::from_secs(2)));
    let HungUp {
        svc,
        sid,
        gate,
        mut dropped,
        cursor,
    } = call_and_hang_up(&layer).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut resumed = Sse::of(call(&svc, get(&sid, V_NEW, cursor.as_deref())).await);
    assert!(
        timeout(Duration::from_secs(10), &mut dropped)
            .await
            .is_err(),
        "a resumed call must not be cancelled"
    );
    gate.add_permits(1);
    let (_, reply) = resumed.next_message().await.unwrap();
    assert_eq!(reply["result"]["done"], true);
}

#[tokio::test(start_paused = true)]
async fn without_a_grace_a_disconnect_is_not_a_cancellation() {
    let HungUp {
        svc,
        sid,
        gate,
        mut dropped,
        cursor,
    } = call_and_hang_up(&McpLayer::new()).await;
    assert!(timeout(Duration::from_secs(3600), &mut dropped)
        .await
        .is_err());
    gate.add_permits(1);
    let rest = messages(
        &Sse::of(call(&svc, get(&sid, V_NEW, cursor.as_deref())).await)
            .rest()
            .await,
    );
    assert_eq!(rest.last().unwrap().1["result"]["done"], true);
}
