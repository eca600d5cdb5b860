//! Messages not tied to a client request: `Session::notify`, `Session::request` and
//! `Sessions::broadcast`, with and without an open GET stream.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use mcp_tower::session::RequestOptions;
use mcp_tower::{Delivery, McpBody, McpLayer};
use serde_json::{json, Value};
use tower::Layer;

use crate::support::*;

fn log(i: usize) -> Option<Value> {
    Some(json!({ "level": "info", "data": i }))
}

#[tokio::test(start_paused = true)]
async fn notify_without_a_stream_queues_and_delivers_in_order() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    assert!(!session.has_stream());
    for i in 0..5 {
        assert_eq!(
            session.notify("notifications/message", log(i)),
            Delivery::Queued
        );
    }

    let mut sse = Sse::of(call(&svc, get(&sid, V_NEW, None)).await);
    assert!(session.has_stream());
    for i in 0..5 {
        let (id, msg) = sse.next_message().await.unwrap();
        assert!(id.is_some());
        assert_eq!(msg["method"], "notifications/message");
        assert_eq!(msg["params"]["data"], i, "queued messages arrive in order");
    }
    assert_eq!(
        session.notify("notifications/message", log(5)),
        Delivery::Sent
    );
    let (_, msg) = sse.next_message().await.unwrap();
    assert_eq!(msg["params"]["data"], 5);
}

#[tokio::test(start_paused = true)]
async fn the_queue_is_bounded() {
    let layer = McpLayer::new().max_queued_events(3);
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_OLD, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    let got: Vec<Delivery> = (0..5)
        .map(|i| session.notify("notifications/message", log(i)))
        .collect();
    assert_eq!(
        got,
        [
            Delivery::Queued,
            Delivery::Queued,
            Delivery::Queued,
            Delivery::Dropped,
            Delivery::Dropped
        ]
    );
    let mut sse = Sse::of(call(&svc, get(&sid, V_OLD, None)).await);
    for i in 0..3 {
        assert_eq!(sse.next_message().await.unwrap().1["params"]["data"], i);
    }
    // Nothing else is waiting: the next message is a new one.
    assert_eq!(
        session.notify("notifications/message", log(9)),
        Delivery::Sent
    );
    assert_eq!(sse.next_message().await.unwrap().1["params"]["data"], 9);
}

#[tokio::test(start_paused = true)]
async fn notify_on_an_ended_session_is_dropped() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    assert_eq!(
        call(&svc, delete_with(&sid, Some(V_NEW))).await.status(),
        200
    );
    assert!(session.is_closed());
    assert_eq!(
        session.notify("notifications/message", log(0)),
        Delivery::Dropped
    );
}

/// Counts how often a future is polled.
struct Polls<F> {
    inner: Pin<Box<F>>,
    count: Arc<AtomicUsize>,
}

impl<F: Future> Future for Polls<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn session_request_waits_for_a_stream_without_polling() {
    let layer = McpLayer::new().client_request_timeout(Duration::from_secs(600));
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_NEW, json!({ "roots": { "listChanged": true } })).await;
    let session = sessions.get(&sid).unwrap();

    let count = Arc::new(AtomicUsize::new(0));
    let s = session.clone();
    let waiting = tokio::spawn(Polls {
        inner: Box::pin(async move { s.request("roots/list", None, RequestOptions::new()).await }),
        count: count.clone(),
    });
    // Five minutes with no stream: the request waits, and nothing wakes it.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(!waiting.is_finished());
    let polls_while_waiting = count.load(Ordering::SeqCst);
    assert!(
        polls_while_waiting <= 2,
        "polled {polls_while_waiting} times while waiting"
    );

    let mut sse = Sse::of(call(&svc, get(&sid, V_NEW, None)).await);
    let (_, req) = sse.next_message().await.unwrap();
    assert_eq!(req["method"], "roots/list");
    let roots = json!({ "roots": [{ "uri": "file:///work", "name": "work" }] });
    assert_eq!(
        client_answer(&svc, &sid, V_NEW, &req["id"], roots.clone()).await,
        202
    );
    assert_eq!(within(waiting).await.unwrap(), Ok(roots));
    assert!(count.load(Ordering::SeqCst) <= polls_while_waiting + 2);
}

#[tokio::test(start_paused = true)]
async fn session_request_goes_on_the_open_stream() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_OLD, json!({ "sampling": {} })).await;
    let mut sse = Sse::of(call(&svc, get(&sid, V_OLD, None)).await);
    let session = sessions.get(&sid).unwrap();
    let waiting = tokio::spawn(async move {
        session
            .request(
                "sampling/createMessage",
                Some(json!({ "messages": [], "maxTokens": 1 })),
                RequestOptions::new(),
            )
            .await
    });
    let (_, req) = sse.next_message().await.unwrap();
    assert_eq!(req["method"], "sampling/createMessage");
    assert_eq!(
        client_answer(&svc, &sid, V_OLD, &req["id"], json!({ "k": 1 })).await,
        202
    );
    assert_eq!(within(waiting).await.unwrap(), Ok(json!({ "k": 1 })));
}

#[tokio::test]
async fn broadcast_to_a_thousand_sessions_with_one_stalled_reader() {
    const OPEN: usize = 800; // with a GET stream; the first one is never read
    const QUEUEING: usize = 150; // no stream, room in the queue
    const FULL: usize = 50; // no stream, queue full
    let layer = McpLayer::new().stream_capacity(2).max_queued_events(4);
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let mut ids = Vec::new();
    for _ in 0..OPEN + QUEUEING + FULL {
        // 2025-06-18: no priming event takes room in the small channels.
        ids.push(initialize(&svc, V_OLD, json!({})).await);
    }
    let mut open: Vec<Sse<McpBody>> = Vec::new();
    for sid in &ids[..OPEN] {
        open.push(Sse::of(call(&svc, get(sid, V_OLD, None)).await));
    }
    // The stalled reader's channel is full.
    let stalled = sessions.get(&ids[0]).unwrap();
    for i in 0..2 {
        assert_eq!(
            stalled.notify("notifications/message", log(i)),
            Delivery::Sent
        );
    }
    for sid in &ids[OPEN + QUEUEING..] {
        let s = sessions.get(sid).unwrap();
        for i in 0..4 {
            assert_eq!(s.notify("notifications/message", log(i)), Delivery::Queued);
        }
    }

    let report = sessions.broadcast("notifications/tools/list_changed", None);
    assert_eq!(report.delivered, OPEN - 1, "{report:?}");
    assert_eq!(report.queued, QUEUEING + 1, "{report:?}");
    assert_eq!(report.dropped, FULL, "{report:?}");

    // Every live reader got it, first thing.
    for sse in &mut open[1..] {
        let (_, msg) = sse.next_message().await.unwrap();
        assert_eq!(msg["method"], "notifications/tools/list_changed");
    }
    // The stalled connection was told to reconnect and ended; the message waits in its log.
    let mut stalled_sse = open.swap_remove(0);
    let rest = stalled_sse.rest().await;
    assert!(rest.last().is_some_and(Event::is_retry_hint), "{rest:?}");
    // A queueing session gets it when it opens its stream; a full one got the older four only.
    let mut sse = Sse::of(call(&svc, get(&ids[OPEN], V_OLD, None)).await);
    assert_eq!(
        sse.next_message().await.unwrap().1["method"],
        "notifications/tools/list_changed"
    );
    let s = sessions.get(&ids[OPEN + QUEUEING]).unwrap();
    let mut sse = Sse::of(call(&svc, get(&ids[OPEN + QUEUEING], V_OLD, None)).await);
    for i in 0..4 {
        assert_eq!(sse.next_message().await.unwrap().1["params"]["data"], i);
    }
    assert_eq!(s.notify("notifications/message", log(7)), Delivery::Sent);
    assert_eq!(sse.next_message().await.unwrap().1["params"]["data"], 7);
}

#[tokio::test]
async fn broadcast_reaches_every_live_session_across_gaps_left_by_ended_ones() {
    // Enough sessions for the walk to take the store's lock several times, with holes.
    const N: usize = 700;
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let mut ids = Vec::new();
    for _ in 0..N {
        ids.push(initialize(&svc, V_OLD, json!({})).await);
    }
    let mut open = Vec::new();
    for (i, sid) in ids.iter().enumerate() {
        if i % 3 == 1 {
            assert_eq!(
                call(&svc, delete_with(sid, Some(V_OLD))).await.status(),
                200
            );
        } else if i % 3 == 0 {
            open.push(Sse::of(call(&svc, get(sid, V_OLD, None)).await));
        }
    }
    let report = sessions.broadcast("notifications/message", log(1));
    let (with_stream, without) = (N.div_ceil(3), N - N.div_ceil(3) - N / 3);
    assert_eq!(report.delivered, with_stream, "{report:?}");
    assert_eq!(report.queued, without, "{report:?}");
    assert_eq!(report.dropped, 0, "{report:?}");
    for sse in &mut open {
        let (_, msg) = sse.next_message().await.unwrap();
        assert_eq!(msg["params"]["data"], 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_queued_fails_at_once() {
    let layer = McpLayer::new().max_queued_events(2).max_pending_requests(1);
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    for i in 0..2 {
        assert_eq!(
            session.notify("notifications/message", log(i)),
            Delivery::Queued
        );
    }
    let start = tokio::time::Instant::now();
    let got = session.request("ping", None, RequestOptions::new()).await;
    assert_eq!(got, Err(mcp_tower::ClientRequestError::Undeliverable));
    assert_eq!(start.elapsed(), Duration::ZERO);
    // It holds no pending slot: with a stream open, a request goes out and completes.
    let mut sse = Sse::of(call(&svc, get(&sid, V_NEW, None)).await);
    let s = session.clone();
    let waiting = tokio::spawn(async move { s.request("ping", None, RequestOptions::new()).await });
    let mut req = sse.next_message().await.unwrap().1;
    while req["method"] != "ping" {
        req = sse.next_message().await.unwrap().1;
    }
    assert_eq!(
        client_answer(&svc, &sid, V_NEW, &req["id"], json!({})).await,
        202
    );
    assert_eq!(within(waiting).await.unwrap(), Ok(json!({})));
}

#[tokio::test(start_paused = true)]
async fn queued_messages_survive_the_eviction_of_older_ones() {
    // The replay log keeps two events per stream; five are queued.
    let layer =
        McpLayer::new().event_store(mcp_tower::session::MemoryEventStore::new().max_events(2));
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_OLD, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    for i in 0..5 {
        assert_eq!(
            session.notify("notifications/message", log(i)),
            Delivery::Queued
        );
    }
    let mut sse = Sse::of(call(&svc, get(&sid, V_OLD, None)).await);
    session.notify("notifications/message", log(99));
    let mut data = Vec::new();
    loop {
        let (_, msg) = sse.next_message().await.unwrap();
        data.push(msg["params"]["data"].as_u64().unwrap());
        if data.last() == Some(&99) {
            break;
        }
    }
    // At least what the log still holds is delivered, in order.
    assert!(data.ends_with(&[3, 4, 99]), "{data:?}");
}

#[tokio::test(start_paused = true)]
async fn a_recent_queued_message_is_delivered_after_a_long_absence() {
    let layer = McpLayer::new().session_idle_timeout(Duration::from_secs(3600));
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_OLD, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    assert_eq!(
        session.notify("notifications/message", log(0)),
        Delivery::Queued
    );
    // Longer than the default replay age (5 min) without a stream.
    tokio::time::sleep(Duration::from_secs(6 * 60)).await;
    assert_eq!(
        session.notify("notifications/message", log(1)),
        Delivery::Queued
    );
    let mut sse = Sse::of(call(&svc, get(&sid, V_OLD, None)).await);
    session.notify("notifications/message", log(2));
    let mut data = Vec::new();
    loop {
        let (_, msg) = sse.next_message().await.unwrap();
        data.push(msg["params"]["data"].as_u64().unwrap());
        if data.last() == Some(&2) {
            break;
        }
    }
    assert!(
        data.ends_with(&[1, 2]),
        "the message queued a moment ago is lost: {data:?}"
    );
}
