//! No `McpLayer` setter panics: a value that cannot work is replaced by the nearest one that
//! can, as each setter documents.

use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use mcp_tower::{McpLayer, ProtocolVersion};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_stream_capacity_of_zero_is_one() {
    let server = Server::example(McpLayer::new().stream_capacity(0));
    let id = server.open_session("2025-06-18").await;
    let session = server.sessions.get(&id).unwrap();
    let mut stream = server.send(get_stream(&id)).await.into_body();
    session.notify("notifications/message", Some(json!({ "n": 1 })));
    assert_eq!(next_message(&mut stream).await["params"]["n"], 1);
    session.notify("notifications/message", Some(json!({ "n": 2 })));
    assert_eq!(next_message(&mut stream).await["params"]["n"], 2);
}

#[tokio::test]
async fn a_max_in_flight_of_zero_is_one() {
    let server = Server::example(McpLayer::new().max_in_flight(0));
    let id = server.open_session("2025-06-18").await;
    let res = server.send(post_in(&id, &echo(1, "hi"))).await;
    assert_eq!(res.status(), StatusCode::OK, "one request may always run");
    assert_eq!(tool_text(&json_reply(res).await), "hi");
}

#[tokio::test(start_paused = true)]
async fn a_zero_keep_alive_turns_keep_alives_off() {
    let server = Server::example(McpLayer::new().keep_alive(Some(Duration::ZERO)));
    let id = server.open_session("2025-06-18").await;
    let mut stream = server.send(get_stream(&id)).await.into_body();
    // On a paused clock a minute passes at once: no comment may come in it.
    let frame = tokio::time::timeout(Duration::from_secs(60), stream.frame()).await;
    assert!(frame.is_err(), "a keep-alive was written: {frame:?}");
}

#[tokio::test]
async fn an_empty_version_list_leaves_every_version_served() {
    let server = Server::example(McpLayer::new().protocol_versions([]));
    for version in ProtocolVersion::ALL.iter().filter(|v| !v.is_stateless()) {
        let id = server.open_session(version.as_str()).await;
        assert_eq!(negotiated(&server, &id), Some(*version));
    }
}

#[tokio::test]
async fn an_empty_version_list_keeps_an_earlier_choice() {
    let layer = McpLayer::new()
        .protocol_versions([ProtocolVersion::V2025_06_18])
        .protocol_versions([]);
    let server = Server::example(layer);
    let res = server.send(post(&init_request("2025-03-26"))).await;
    let reply = json_reply(res).await;
    assert_eq!(reply["result"]["protocolVersion"], "2025-06-18", "{reply}");
}
