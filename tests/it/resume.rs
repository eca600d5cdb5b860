//! Resumability and polling (SEP-1699): priming events, event ids, `Last-Event-ID` on GET,
//! and connections the server closes early. SPEC.md §1.6 and §6 rows 26 and 27.

use std::time::Duration;

use http::StatusCode;
use mcp_tower::{McpLayer, PollingPolicy, RejectionKind};
use serde_json::json;

use crate::support::*;

fn resume(session: &str, cursor: &str) -> http::Request<Body> {
    get_with(session, None, Some(cursor))
}

#[tokio::test]
async fn an_unknown_last_event_id_is_400() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let other = server.open_session("2025-11-25").await;
    // A real event id of the other session: its priming event.
    let mut foreign = server.send(get_stream(&other)).await.into_body();
    let priming = decode(&next_frame(&mut foreign).await.unwrap());
    let foreign_id = priming[0].id.clone().unwrap();
    for cursor in ["s1-7", "0", "not an id at all", &foreign_id] {
        rejection(
            server.send(resume(&id, cursor)).await,
            StatusCode::BAD_REQUEST,
            RejectionKind::InvalidEventId,
            -32000,
        )
        .await;
    }
}

#[tokio::test]
async fn get_streams_are_primed_from_2025_11_25_on() {
    let server = Server::example(McpLayer::new());
    let new = server.open_session("2025-11-25").await;
    let mut stream = server.send(get_stream(&new)).await.into_body();
    let frame = next_frame(&mut stream).await.unwrap();
    let events = decode(&frame);
    assert_eq!(events.len(), 1, "{frame:?}");
    assert!(events[0].is_priming(), "{frame:?}");
    assert_eq!(events[0].retry, Some(1000));

    // Older clients may choke on an empty event: none for them.
    let old = server.open_session("2025-06-18").await;
    let session = server.sessions.get(&old).unwrap();
    let mut stream = server.send(get_stream(&old)).await.into_body();
    session.notify("notifications/message", None);
    let events = decode(&next_frame(&mut stream).await.unwrap());
    assert_eq!(events.len(), 1);
    assert!(!events[0].is_priming());
    assert_eq!(events[0].json().unwrap()["method"], "notifications/message");
}

#[tokio::test(start_paused = true)]
async fn a_broken_post_stream_resumes_with_last_event_id() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let res = server
        .send(post_in(&id, &countdown(1, 3, 10, Some(json!("r")))))
        .await;
    assert_sse_headers(&res);
    let mut body = res.into_body();
    // The priming event, then the first progress event; then the connection breaks.
    let priming = decode(&next_frame(&mut body).await.unwrap());
    assert!(priming[0].is_priming(), "{priming:?}");
    let first = decode(&next_frame(&mut body).await.unwrap());
    assert_eq!(first[0].json().unwrap()["params"]["progress"], 0.0);
    let cursor = first[0].id.clone().expect("events carry ids");
    drop(body);
    // The handler finishes meanwhile; nothing it sends is lost.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let res = server.send(resume(&id, &cursor)).await;
    assert_sse_headers(&res);
    let events = messages(&decode(&body_bytes(res).await));
    let progress: Vec<f64> = events[..3]
        .iter()
        .map(|(_, m)| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, [1.0, 2.0, 3.0]);
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[3].1["id"], 1);
    assert_eq!(tool_text(&events[3].1), "counted down from 3");
    let ids: std::collections::HashSet<_> =
        events.iter().map(|(id, _)| id.clone().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    assert!(!ids.contains(&cursor));
}

#[tokio::test(start_paused = true)]
async fn resuming_the_standalone_stream_replays_only_what_followed() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let session = server.sessions.get(&id).unwrap();
    let mut stream = server.send(get_stream(&id)).await.into_body();
    let priming = decode(&next_frame(&mut stream).await.unwrap());
    assert!(priming[0].is_priming());
    session.notify("notifications/message", Some(json!({ "n": 1 })));
    let one = decode(&next_frame(&mut stream).await.unwrap());
    let cursor = one[0].id.clone().unwrap();
    session.notify("notifications/message", Some(json!({ "n": 2 })));
    drop(stream);
    session.notify("notifications/message", Some(json!({ "n": 3 })));

    let mut resumed = server.send(resume(&id, &cursor)).await.into_body();
    assert_eq!(next_message(&mut resumed).await["params"]["n"], 2);
    assert_eq!(next_message(&mut resumed).await["params"]["n"], 3);
    // And it goes on live.
    session.notify("notifications/message", Some(json!({ "n": 4 })));
    assert_eq!(next_message(&mut resumed).await["params"]["n"], 4);
}

#[tokio::test]
async fn the_priming_id_of_a_stream_opened_on_waiting_messages_still_resumes_them() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let session = server.sessions.get(&id).unwrap();
    // Sent before any GET: they wait for the standalone stream.
    for n in 1..=2 {
        session.notify("notifications/message", Some(json!({ "n": n })));
    }
    let mut first = server.send(get_stream(&id)).await.into_body();
    let priming = decode(&next_frame(&mut first).await.unwrap());
    assert!(priming[0].is_priming(), "{priming:?}");
    // The client drops right after the priming event, before the waiting messages.
    drop(first);
    let cursor = priming[0].id.clone().unwrap();
    let mut resumed = server.send(resume(&id, &cursor)).await.into_body();
    for n in 1..=2 {
        let events = decode(&next_frame(&mut resumed).await.unwrap());
        assert_eq!(events[0].json().unwrap()["params"]["n"], n, "{events:?}");
    }
}

#[tokio::test]
async fn a_cursor_past_the_end_of_its_stream_is_400() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let session = server.sessions.get(&id).unwrap();
    let mut stream = server.send(get_stream(&id)).await.into_body();
    let priming = decode(&next_frame(&mut stream).await.unwrap());
    let cursor = priming[0].id.clone().unwrap();
    // Resuming from the priming event itself is fine: nothing followed it yet.
    let mut resumed = server.send(resume(&id, &cursor)).await.into_body();
    assert!(ends(&mut stream).await, "the older connection is ended");
    session.notify("notifications/message", Some(json!({ "n": 1 })));
    assert_eq!(next_message(&mut resumed).await["params"]["n"], 1);
    // Change the last character of the cursor: another (unknown) position or a foreign id.
    let mut forged = cursor.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'Z' { 'Y' } else { 'Z' });
    rejection(
        server.send(resume(&id, &forged)).await,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidEventId,
        -32000,
    )
    .await;
}

/// Follows a POST stream the server closes early: reads each connection to its end and
/// resumes from the last id seen, until the answer arrives. Returns every message and the
/// number of connections it took.
async fn follow(
    server: &Server,
    session: &str,
    first: http::Response<mcp_tower::McpBody>,
) -> (Vec<serde_json::Value>, usize) {
    let mut messages = Vec::new();
    let mut connections = 0;
    let mut res = first;
    loop {
        connections += 1;
        assert_sse_headers(&res);
        let events = decode(&body_bytes(res).await);
        let cursor = events.iter().rev().find_map(|e| e.id.clone());
        for event in events.iter().filter_map(Event::json) {
            messages.push(event);
        }
        if messages.last().is_some_and(|m| m.get("id").is_some()) {
            return (messages, connections);
        }
        assert!(
            events.last().is_some_and(|e| e.retry.is_some()),
            "a connection closed early ends with a retry: hint: {events:?}"
        );
        assert!(
            connections < 20,
            "no answer after {connections} connections"
        );
        // Wait as asked, then resume.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cursor = cursor.expect("an event id to resume from");
        res = server.send(resume(session, &cursor)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn polling_turns_a_long_call_into_polls_without_losing_anything() {
    for policy in [
        PollingPolicy::AfterPriming,
        PollingPolicy::After(Duration::from_millis(1500)),
    ] {
        let server = Server::example(McpLayer::new().polling(policy));
        let id = server.open_session("2025-11-25").await;
        let res = server
            .send(post_in(&id, &countdown(4, 3, 1000, Some(json!("p")))))
            .await;
        let (messages, connections) = follow(&server, &id, res).await;
        assert!(
            connections >= 2,
            "{policy:?}: the first connection was not closed early"
        );
        let progress: Vec<f64> = messages
            .iter()
            .filter(|m| m["method"] == "notifications/progress")
            .map(|m| m["params"]["progress"].as_f64().unwrap())
            .collect();
        assert_eq!(progress, [0.0, 1.0, 2.0, 3.0], "{policy:?}: {messages:?}");
        assert_eq!(messages.len(), 5, "{policy:?}: {messages:?}");
        assert_eq!(tool_text(&messages[4]), "counted down from 3");
    }
}

#[tokio::test(start_paused = true)]
async fn polling_is_not_imposed_on_clients_before_2025_11_25() {
    let server = Server::example(McpLayer::new().polling(PollingPolicy::AfterPriming));
    let id = server.open_session("2025-06-18").await;
    let res = server
        .send(post_in(&id, &countdown(4, 3, 1000, Some(json!("p")))))
        .await;
    let (messages, connections) = follow(&server, &id, res).await;
    assert_eq!(connections, 1);
    assert_eq!(messages.len(), 5);
}
