//! Duration options: every one takes `Duration::MAX` to mean "never", without overflowing a
//! clock, and each layer's timeouts apply to the sessions it created.

use std::time::Duration;

use http_body_util::BodyExt;
use mcp_tower::session::RequestOptions;
use mcp_tower::McpLayer;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_keep_alive_of_duration_max_never_fires_and_never_overflows() {
    let server = Server::example(McpLayer::new().keep_alive(Some(Duration::MAX)));
    let id = server.open_session("2025-06-18").await;
    let session = server.sessions.get(&id).unwrap();
    let mut stream = server.send(get_stream(&id)).await.into_body();
    // Polled while empty: the keep-alive timer starts.
    assert!(
        tokio::time::timeout(Duration::from_millis(20), stream.frame())
            .await
            .is_err(),
        "nothing to write yet"
    );
    // An event restarts the timer from now.
    session.notify("notifications/message", Some(json!({ "n": 1 })));
    assert_eq!(next_message(&mut stream).await["params"]["n"], 1);
    session.notify("notifications/message", Some(json!({ "n": 2 })));
    assert_eq!(next_message(&mut stream).await["params"]["n"], 2);
}

#[tokio::test]
async fn a_client_request_timeout_of_duration_max_waits_for_the_answer() {
    let server = Server::example(McpLayer::new().client_request_timeout(Duration::MAX));
    let id = server.open_session("2025-06-18").await;
    let session = server.sessions.get(&id).unwrap();
    let mut stream = server.send(get_stream(&id)).await.into_body();
    let asking = tokio::spawn(async move {
        session
            .request(
                "ping",
                None,
                RequestOptions::new().reset_on_progress(Duration::MAX),
            )
            .await
    });
    let ping = next_message(&mut stream).await;
    assert_eq!(ping["method"], "ping");
    let answer = json!({ "jsonrpc": "2.0", "id": ping["id"], "result": {} });
    assert_eq!(server.send(post_in(&id, &answer)).await.status(), 202);
    assert_eq!(within(asking).await.unwrap(), Ok(json!({})));
}

#[tokio::test]
async fn a_shutdown_deadline_of_duration_max_returns_once_nothing_runs() {
    let server = Server::example(McpLayer::new());
    server.open_session("2025-06-18").await;
    let report = within(server.sessions.shutdown(Duration::MAX)).await;
    assert_eq!(report.sessions_closed, 1);
}

#[tokio::test(start_paused = true)]
async fn clones_of_a_layer_share_sessions_but_keep_their_own_idle_timeouts() {
    let base = McpLayer::new().session_idle_timeout(Duration::from_secs(1));
    let patient = Server::example(base.clone().session_idle_timeout(Duration::from_secs(3600)));
    let hasty = Server::example(base);
    // The patient layer starts the shared reaper, at its own pace.
    let kept = patient.open_session("2025-06-18").await;
    let expires = hasty.open_session("2025-06-18").await;
    assert_eq!(patient.sessions.len(), 2, "one registry for both");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(hasty.sessions.get(&expires).is_none(), "idle past its 1 s");
    assert!(
        patient.sessions.get(&kept).is_some(),
        "its hour is not over"
    );
}
