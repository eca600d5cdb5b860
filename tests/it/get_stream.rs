//! GET: the session's standalone stream for server-initiated messages, its queue, the
//! take-over by a newer GET, and keep-alives. SPEC.md §1.4, §1.5 and §6 rows 9 and 18.

use std::time::Duration;

use bytes::Bytes;

use http::header::{ACCEPT, HOST};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use mcp_tower::{Delivery, McpBody, McpLayer, RejectionKind};
use serde_json::json;
use tokio::time::Instant;

use crate::support::*;

fn get_with_accept(session: &str, accept: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/mcp")
        .header(HOST, LOCAL_HOST)
        .header("mcp-session-id", session);
    if let Some(accept) = accept {
        builder = builder.header(ACCEPT, accept);
    }
    builder.body(Body::default()).unwrap()
}

#[tokio::test]
async fn get_without_event_stream_in_accept_is_406() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    for accept in [
        None,
        Some("application/json"),
        Some("text/html"),
        Some("text/event-stream;q=0"),
    ] {
        let (_, message) = rejection(
            server.send(get_with_accept(&id, accept)).await,
            StatusCode::NOT_ACCEPTABLE,
            RejectionKind::NotAcceptable,
            -32000,
        )
        .await;
        assert!(message.contains("text/event-stream"), "{message}");
    }
    let handle = server.sessions.get(&id).unwrap();
    assert!(!handle.has_stream());
}

#[tokio::test]
async fn get_with_both_media_types_opens_the_stream() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    for accept in [ACCEPT_BOTH, "text/event-stream", "*/*"] {
        let res = server.send(get_with_accept(&id, Some(accept))).await;
        assert_sse_headers(&res);
        assert!(res.headers().get("mcp-session-id").is_none());
    }
}

#[tokio::test]
async fn session_notify_arrives_on_the_open_stream() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let session = server.sessions.get(&id).unwrap();
    let mut stream = server.send(get_stream(&id)).await.into_body();
    assert!(session.has_stream());
    assert_eq!(
        session.notify("notifications/tools/list_changed", None),
        Delivery::Sent
    );
    assert_eq!(
        session.notify(
            "notifications/resources/updated",
            Some(json!({ "uri": "file:///a" }))
        ),
        Delivery::Sent
    );
    assert_eq!(
        next_message(&mut stream).await,
        json!({ "jsonrpc": "2.0", "method": "notifications/tools/list_changed" })
    );
    assert_eq!(
        next_message(&mut stream).await,
        json!({ "jsonrpc": "2.0", "method": "notifications/resources/updated", "params": { "uri": "file:///a" } })
    );
}

#[tokio::test]
async fn the_stream_writes_one_message_event_per_frame() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-06-18").await;
    let session = server.sessions.get(&id).unwrap();
    let mut stream = server.send(get_stream(&id)).await.into_body();
    session.notify("notifications/tools/list_changed", None);
    session.notify("notifications/tools/list_changed", None);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let frame = next_frame(&mut stream).await.unwrap();
        let text = std::str::from_utf8(&frame).unwrap();
        let (id_line, rest) = text.split_once('\n').unwrap();
        let event_id = id_line.strip_prefix("id: ").expect("every event has an id");
        assert!(
            event_id.bytes().all(|b| b.is_ascii_graphic()),
            "{event_id:?}"
        );
        assert_eq!(
            rest,
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n"
        );
        ids.push(event_id.to_owned());
    }
    assert_ne!(ids[0], ids[1], "event ids are unique");
}

#[tokio::test]
async fn broadcast_reaches_every_session() {
    let server = Server::example(McpLayer::new());
    let a = server.open_session("2025-11-25").await;
    let b = server.open_session("2025-06-18").await;
    let c = server.open_session("2025-03-26").await;
    let mut stream_a = server.send(get_stream(&a)).await.into_body();
    let mut stream_b = server.send(get_stream(&b)).await.into_body();
    // `c` has no stream open: its copy is queued.
    let report = server
        .sessions
        .broadcast("notifications/tools/list_changed", None);
    assert_eq!(
        (report.delivered, report.queued, report.dropped),
        (2, 1, 0),
        "{report:?}"
    );
    let expected = json!({ "jsonrpc": "2.0", "method": "notifications/tools/list_changed" });
    assert_eq!(next_message(&mut stream_a).await, expected);
    assert_eq!(next_message(&mut stream_b).await, expected);
    let mut stream_c = server.send(get_stream(&c)).await.into_body();
    assert_eq!(next_message(&mut stream_c).await, expected);
}

#[tokio::test]
async fn messages_sent_without_a_stream_are_queued_until_one_opens() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let session = server.sessions.get(&id).unwrap();
    assert!(!session.has_stream());
    assert_eq!(
        session.notify("notifications/message", Some(json!({ "n": 1 }))),
        Delivery::Queued
    );
    let report = server
        .sessions
        .broadcast("notifications/message", Some(json!({ "n": 2 })));
    assert_eq!(report.queued, 1);
    let mut stream = server.send(get_stream(&id)).await.into_body();
    session.notify("notifications/message", Some(json!({ "n": 3 })));
    for n in 1..=3 {
        assert_eq!(next_message(&mut stream).await["params"]["n"], n);
    }
}

#[tokio::test]
async fn the_queue_is_bounded() {
    let server = Server::example(McpLayer::new().max_queued_events(2));
    let id = server.open_session("2025-11-25").await;
    let session = server.sessions.get(&id).unwrap();
    let sent: Vec<Delivery> = (1..=3)
        .map(|n| session.notify("notifications/message", Some(json!({ "n": n }))))
        .collect();
    assert_eq!(
        sent,
        [Delivery::Queued, Delivery::Queued, Delivery::Dropped]
    );
    let mut stream = server.send(get_stream(&id)).await.into_body();
    session.notify("notifications/message", Some(json!({ "n": 4 })));
    for n in [1, 2, 4] {
        assert_eq!(next_message(&mut stream).await["params"]["n"], n);
    }
}

#[tokio::test]
async fn a_stalled_reader_is_cut_off_without_holding_up_others_or_losing_messages() {
    let server = Server::example(McpLayer::new().stream_capacity(2));
    // 2025-06-18: no priming event takes a place in the channel.
    let stalled = server.open_session("2025-06-18").await;
    let reading = server.open_session("2025-06-18").await;
    let stalled_stream = server.send(get_stream(&stalled)).await.into_body();
    let mut reading_stream = server.send(get_stream(&reading)).await.into_body();
    let mut reports = Vec::new();
    for n in 1..=3 {
        let report = server
            .sessions
            .broadcast("notifications/message", Some(json!({ "n": n })));
        reports.push((report.delivered, report.queued, report.dropped));
        assert_eq!(next_message(&mut reading_stream).await["params"]["n"], n);
    }
    // The stalled connection fills up at the third message: it is ended, and the message waits
    // for the next connection.
    assert_eq!(reports, [(2, 0, 0), (2, 0, 0), (1, 1, 0)]);
    let session = server.sessions.get(&stalled).unwrap();
    assert!(!session.has_stream());
    // What it had taken is still written, then a `retry:` hint, then it ends.
    let events = decode(&within(stalled_stream.collect()).await.unwrap().to_bytes());
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0].json().unwrap()["params"]["n"], 1);
    assert_eq!(events[1].json().unwrap()["params"]["n"], 2);
    assert_eq!(events[2].retry, Some(1000));
    assert!(events[2].data.is_empty() && events[2].id.is_none());
    let mut resumed = server.send(get_stream(&stalled)).await.into_body();
    assert_eq!(next_message(&mut resumed).await["params"]["n"], 3);
}

#[tokio::test]
async fn a_second_get_takes_over_and_ends_the_first() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let session = server.sessions.get(&id).unwrap();
    let mut first = server.send(get_stream(&id)).await.into_body();
    session.notify("notifications/message", Some(json!({ "n": 1 })));
    assert_eq!(next_message(&mut first).await["params"]["n"], 1);

    let second = server.send(get_stream(&id)).await;
    assert_sse_headers(&second);
    let mut second = second.into_body();
    assert!(ends(&mut first).await, "the older connection's body ends");
    assert!(session.has_stream());
    assert_eq!(
        session.notify("notifications/message", Some(json!({ "n": 2 }))),
        Delivery::Sent
    );
    assert_eq!(next_message(&mut second).await["params"]["n"], 2);
    // Dropping the ended first body does not detach the second one.
    drop(first);
    assert!(session.has_stream());
    session.notify("notifications/message", Some(json!({ "n": 3 })));
    assert_eq!(next_message(&mut second).await["params"]["n"], 3);
}

#[tokio::test]
async fn a_dropped_stream_detaches_and_messages_queue_again() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let session = server.sessions.get(&id).unwrap();
    let stream = server.send(get_stream(&id)).await.into_body();
    assert!(session.has_stream());
    drop(stream);
    assert!(!session.has_stream());
    assert_eq!(
        session.notify("notifications/message", Some(json!({ "n": 1 }))),
        Delivery::Queued
    );
    let mut stream = server.send(get_stream(&id)).await.into_body();
    assert_eq!(next_message(&mut stream).await["params"]["n"], 1);
}

#[tokio::test]
async fn delete_ends_the_stream_and_later_messages_are_dropped() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let session = server.sessions.get(&id).unwrap();
    let mut stream = server.send(get_stream(&id)).await.into_body();
    assert_eq!(server.send(delete(&id)).await.status(), StatusCode::OK);
    assert!(ends(&mut stream).await);
    assert_eq!(
        session.notify("notifications/message", None),
        Delivery::Dropped
    );
    let report = server.sessions.broadcast("notifications/message", None);
    assert_eq!((report.delivered, report.queued, report.dropped), (0, 0, 0));
}

/// The next frame within `limit` of paused time, or `None` if nothing came.
async fn frame_within(stream: &mut McpBody, limit: Duration) -> Option<Bytes> {
    let frame = tokio::time::timeout(limit, stream.frame()).await.ok()?;
    Some(
        frame
            .expect("the stream ended")
            .unwrap()
            .into_data()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn keep_alive_comes_only_after_fifteen_seconds_of_silence() {
    // The default interval: nothing configured.
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-06-18").await; // no priming event
    let session = server.sessions.get(&id).unwrap();
    let mut stream = server.send(get_stream(&id)).await.into_body();
    let start = Instant::now();

    // Nothing at all before 15 s, then exactly one comment.
    let early = frame_within(&mut stream, Duration::from_millis(14_999)).await;
    assert_eq!(early, None, "something was written before 15 s");
    let frame = frame_within(&mut stream, Duration::from_secs(60)).await;
    assert_eq!(frame.as_deref(), Some(&b":\n\n"[..]));
    assert_eq!(start.elapsed(), Duration::from_secs(15));

    // A message 10 s later restarts the silence: the next keep-alive is 15 s after it.
    tokio::time::sleep(Duration::from_secs(10)).await;
    session.notify("notifications/message", None);
    assert_eq!(
        next_message(&mut stream).await["method"],
        "notifications/message"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(25));
    let frame = frame_within(&mut stream, Duration::from_secs(60)).await;
    assert_eq!(frame.as_deref(), Some(&b":\n\n"[..]));
    assert_eq!(start.elapsed(), Duration::from_secs(40));
}

#[tokio::test(start_paused = true)]
async fn keep_alive_none_writes_nothing() {
    let server = Server::example(McpLayer::new().keep_alive(None));
    let id = server.open_session("2025-06-18").await; // no priming event
    let mut stream = server.send(get_stream(&id)).await.into_body();
    let quiet = frame_within(&mut stream, Duration::from_secs(3600)).await;
    assert_eq!(quiet, None);
}
