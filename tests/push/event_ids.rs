//! Event ids and the replay log, through the public API: ids are opaque and unique across a
//! session, `Last-Event-ID` values that are not this session's are refused with 400 (never a
//! panic), and `MemoryEventStore` evicts by count, bytes and age.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use mcp_tower::session::{EventStore, MemoryEventStore, Replay, SessionEventLog};
use mcp_tower::{
    McpBody, McpLayer, McpRequest, McpResponse, Rejection, RejectionKind, ResponseMode, SessionId,
};
use serde_json::json;
use tokio::time::Instant;
use tower::Layer;

use crate::support::*;

/// A tool that sends two progress notifications, then answers.
fn chatty(layer: &McpLayer) -> Svc {
    service(layer, |req: McpRequest| async move {
        let ctx = req.context();
        ctx.progress(1.0, None, None);
        ctx.progress(2.0, None, None);
        McpResponse::result(json!({ "ok": true }))
    })
}

/// Every event id a session produces on its GET stream and three streamed calls.
async fn ids_of_one_session(svc: &Svc, sessions: &mcp_tower::Sessions) -> (String, Vec<String>) {
    let sid = initialize(svc, V_NEW, json!({})).await;
    let mut ids = Vec::new();
    let mut stream = Sse::of(call(svc, get(&sid, V_NEW, None)).await);
    let session = sessions.get(&sid).unwrap();
    for i in 0..3 {
        session.notify(
            "notifications/message",
            Some(json!({ "level": "info", "data": i })),
        );
    }
    for _ in 0..4 {
        ids.push(
            stream
                .next()
                .await
                .unwrap()
                .id
                .expect("every session event has an id"),
        );
    }
    for n in 1..=3 {
        let events = Sse::of(
            call(
                svc,
                post_with(Some(&sid), Some(V_NEW), &tool_call(n, "chatty", json!({}))),
            )
            .await,
        )
        .rest()
        .await;
        assert_eq!(
            events.len(),
            4,
            "priming, two progress, response: {events:?}"
        );
        ids.extend(
            events
                .into_iter()
                .map(|e| e.id.expect("every session event has an id")),
        );
    }
    (sid, ids)
}

#[tokio::test(start_paused = true)]
async fn event_ids_are_opaque_and_unique_across_the_session() {
    let layer = McpLayer::new().response_mode(ResponseMode::Sse);
    let sessions = layer.sessions();
    let svc = chatty(&layer);
    let (_, a) = ids_of_one_session(&svc, &sessions).await;
    let (_, b) = ids_of_one_session(&svc, &sessions).await;
    assert_eq!(a.len(), 16);
    let unique: HashSet<&String> = a.iter().collect();
    assert_eq!(unique.len(), a.len(), "ids repeat within a session: {a:?}");
    for id in &a {
        assert!(
            !id.is_empty() && id.bytes().all(|c| (0x21..=0x7e).contains(&c)),
            "{id:?}"
        );
        assert!(
            id.parse::<i64>().is_err(),
            "a bare counter is not opaque: {id}"
        );
    }
    // The same positions in another session have other ids.
    let b: HashSet<&String> = b.iter().collect();
    assert!(unique.is_disjoint(&b));
}

/// The kind of a GET rejection, after checking its status and JSON-RPC body.
async fn rejected(svc: &Svc, sid: &str, last_event_id: HeaderValue) -> RejectionKind {
    let mut req = get(sid, V_NEW, None);
    req.headers_mut().insert("last-event-id", last_event_id);
    let res = call(svc, req).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/json");
    let kind = res.extensions().get::<Rejection>().unwrap().kind();
    let body = json_body(res).await;
    assert_eq!(body["jsonrpc"], "2.0");
    assert!(body["error"]["code"].is_i64(), "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    kind
}

#[tokio::test(start_paused = true)]
async fn another_sessions_event_id_is_refused() {
    let layer = McpLayer::new().response_mode(ResponseMode::Sse);
    let sessions = layer.sessions();
    let svc = chatty(&layer);
    let (a, a_ids) = ids_of_one_session(&svc, &sessions).await;
    let (b, b_ids) = ids_of_one_session(&svc, &sessions).await;
    for id in &a_ids {
        let kind = rejected(&svc, &b, HeaderValue::from_str(id).unwrap()).await;
        assert_eq!(kind, RejectionKind::InvalidEventId);
    }
    // Each session still resumes its own ids.
    let res = call(&svc, get(&a, V_NEW, Some(&a_ids[1]))).await;
    assert_eq!(res.status(), 200);
    let res = call(&svc, get(&b, V_NEW, Some(&b_ids[1]))).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn forged_and_garbage_ids_get_400_never_a_panic() {
    let layer = McpLayer::new().response_mode(ResponseMode::Sse);
    let sessions = layer.sessions();
    let svc = chatty(&layer);
    let (sid, ids) = ids_of_one_session(&svc, &sessions).await;
    let real = &ids[5];
    let mut forged_tag = real.clone().into_bytes();
    forged_tag[0] = if forged_tag[0] == b'A' { b'B' } else { b'A' };
    let mut garbage: Vec<HeaderValue> = [
        "",
        "0",
        "-1",
        "garbage",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "////////////////////////",
        "________________________",
        "%00%00",
        "../../../etc/passwd",
        "AAAAAAAAAAAAAAAAAAAAAAA=",
        "18446744073709551615",
    ]
    .iter()
    .map(|s| HeaderValue::from_static(s))
    .collect();
    garbage.push(HeaderValue::from_str(&"A".repeat(4096)).unwrap());
    garbage.push(HeaderValue::from_bytes(&forged_tag).unwrap());
    garbage.push(HeaderValue::from_str(&format!("{real}A")).unwrap());
    garbage.push(HeaderValue::from_str(&real[1..]).unwrap());
    garbage.push(HeaderValue::from_bytes(b"\xff\xfe\x80abc").unwrap());
    garbage.push(HeaderValue::from_bytes("ÀÀÀÀÀÀÀÀÀÀÀÀ".as_bytes()).unwrap());
    for value in garbage {
        let kind = rejected(&svc, &sid, value.clone()).await;
        assert_eq!(kind, RejectionKind::InvalidEventId, "{value:?}");
    }
    // A syntactically fine id of this session past anything it sent: refused too.
    let last = ids.last().unwrap().clone();
    let mut ahead = last.into_bytes();
    let end = ahead.len() - 1;
    ahead[end] = b'_';
    let kind = rejected(&svc, &sid, HeaderValue::from_bytes(&ahead).unwrap()).await;
    assert!(
        matches!(
            kind,
            RejectionKind::InvalidEventId | RejectionKind::ReplayUnavailable
        ),
        "{kind:?}"
    );
    // The session is unharmed.
    assert_eq!(call(&svc, get(&sid, V_NEW, Some(real))).await.status(), 200);
}

/// A `SessionId` to open logs with (the type has no public constructor).
async fn some_session_id() -> SessionId {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_OLD, json!({})).await;
    sessions.get(&sid).unwrap().id().clone()
}

/// Event `n` as a log keeps it: encoded, without its `id:` line.
fn ev(n: u64) -> Bytes {
    Bytes::from(format!("event: message\ndata: {{\"n\":{n}}}\n\n"))
}

/// What a replay of events `seqs` holds: each with its sequence number.
fn evs(seqs: &[u64]) -> Vec<(u64, Bytes)> {
    seqs.iter().map(|&n| (n, ev(n))).collect()
}

#[tokio::test(start_paused = true)]
async fn memory_store_keeps_the_standalone_stream_like_any_other() {
    let mut log = MemoryEventStore::new()
        .max_events(2)
        .open(&some_session_id().await);
    assert_eq!(log.replay(0, 0), Replay::Unknown, "nothing recorded yet");
    for seq in [2, 3, 5] {
        // Sequence numbers need not be contiguous (priming events are not recorded).
        log.record(0, seq, ev(seq), Instant::now().into_std());
    }
    log.record(1, 1, ev(1), Instant::now().into_std());
    assert_eq!(log.replay(0, 3), Replay::Events(evs(&[5])));
    assert_eq!(log.replay(0, 2), Replay::Events(evs(&[3, 5])));
    assert_eq!(log.replay(0, 0), Replay::Expired(evs(&[3, 5])));
    log.forget(0);
    assert_eq!(log.replay(0, 3), Replay::Unknown);
    assert_eq!(
        log.replay(1, 0),
        Replay::Events(evs(&[1])),
        "other streams stay"
    );
}

#[tokio::test(start_paused = true)]
async fn memory_store_evicts_by_count() {
    let mut log = MemoryEventStore::new()
        .max_events(3)
        .open(&some_session_id().await);
    for seq in 1..=5 {
        log.record(7, seq, ev(seq), Instant::now().into_std());
    }
    assert_eq!(log.replay(7, 2), Replay::Events(evs(&[3, 4, 5])));
    assert_eq!(log.replay(7, 4), Replay::Events(evs(&[5])));
    assert_eq!(log.replay(7, 5), Replay::Events(evs(&[])));
    assert_eq!(
        log.replay(7, 1),
        Replay::Expired(evs(&[3, 4, 5])),
        "event 2 is gone; what is kept comes with the verdict"
    );
    assert_eq!(log.replay(7, 0), Replay::Expired(evs(&[3, 4, 5])));
    assert_eq!(log.replay(8, 0), Replay::Unknown, "streams are separate");
    log.forget(7);
    assert_eq!(log.replay(7, 4), Replay::Unknown);
}

#[tokio::test(start_paused = true)]
async fn memory_store_evicts_by_bytes() {
    let size = ev(1).len();
    let mut log = MemoryEventStore::new()
        .max_bytes(size * 2 + size / 2)
        .open(&some_session_id().await);
    for seq in 1..=4 {
        log.record(1, seq, ev(seq), Instant::now().into_std());
    }
    assert_eq!(log.replay(1, 2), Replay::Events(evs(&[3, 4])));
    assert_eq!(log.replay(1, 1), Replay::Expired(evs(&[3, 4])));
    // One event larger than the whole budget leaves nothing replayable before it.
    log.record(
        1,
        5,
        Bytes::from(vec![b'x'; size * 3]),
        Instant::now().into_std(),
    );
    assert_eq!(log.replay(1, 4), Replay::Expired(evs(&[])));
}

#[tokio::test(start_paused = true)]
async fn memory_store_evicts_by_age() {
    let mut log = MemoryEventStore::new()
        .max_age(Duration::from_secs(60))
        .open(&some_session_id().await);
    log.record(1, 1, ev(1), Instant::now().into_std());
    tokio::time::advance(Duration::from_secs(40)).await;
    log.record(1, 2, ev(2), Instant::now().into_std());
    assert_eq!(log.replay(1, 0), Replay::Events(evs(&[1, 2])));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        log.replay(1, 0),
        Replay::Expired(evs(&[2])),
        "event 1 is 70 s old"
    );
    assert_eq!(log.replay(1, 1), Replay::Events(evs(&[2])));
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(
        log.replay(1, 1),
        Replay::Expired(evs(&[])),
        "event 2 is 61 s old"
    );
    assert_eq!(log.replay(1, 2), Replay::Events(evs(&[])));
}

#[tokio::test(start_paused = true)]
async fn logs_of_different_sessions_are_separate() {
    let store = MemoryEventStore::new();
    let mut a = store.open(&some_session_id().await);
    let b = store.open(&some_session_id().await);
    a.record(1, 1, ev(1), Instant::now().into_std());
    assert_eq!(b.replay(1, 0), Replay::Unknown);
}

/// Counts what the transport records, delegating to a `MemoryEventStore`.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

struct CountingLog(Box<dyn SessionEventLog>, Arc<AtomicUsize>);

impl EventStore for Counting {
    fn open(&self, session: &SessionId) -> Box<dyn SessionEventLog> {
        Box::new(CountingLog(
            MemoryEventStore::new().open(session),
            self.0.clone(),
        ))
    }
}

impl SessionEventLog for CountingLog {
    fn record(&mut self, stream: u32, seq: u64, event: Bytes, at: std::time::Instant) {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.record(stream, seq, event, at);
    }
    fn replay(&self, stream: u32, after: u64) -> Replay {
        self.0.replay(stream, after)
    }
    fn forget(&mut self, stream: u32) {
        self.0.forget(stream);
    }
}

#[tokio::test(start_paused = true)]
async fn the_layer_records_through_a_custom_event_store() {
    let store = Counting::default();
    let layer = McpLayer::new()
        .event_store(store.clone())
        .response_mode(ResponseMode::Sse);
    let svc = chatty(&layer);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let before = store.0.load(Ordering::SeqCst);
    let res = call(
        &svc,
        post_with(Some(&sid), Some(V_NEW), &tool_call(1, "chatty", json!({}))),
    )
    .await;
    let mut sse: Sse<McpBody> = Sse::of(res);
    let events = sse.rest().await;
    // Two progress notifications and the response are recorded for replay.
    assert_eq!(store.0.load(Ordering::SeqCst) - before, 3);
    // And replayed from it.
    let res = call(&svc, get(&sid, V_NEW, events[0].id.as_deref())).await;
    let replayed = messages(&Sse::of(res).rest().await);
    assert_eq!(replayed, messages(&events));
}

#[tokio::test(start_paused = true)]
async fn long_finished_request_streams_are_forgotten() {
    let layer = McpLayer::new().response_mode(ResponseMode::Sse);
    let svc = chatty(&layer);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let mut cursors = Vec::new();
    for n in 0..40 {
        let events = Sse::of(
            call(
                &svc,
                post_with(Some(&sid), Some(V_NEW), &tool_call(n, "chatty", json!({}))),
            )
            .await,
        )
        .rest()
        .await;
        cursors.push(events[0].id.clone().unwrap());
    }
    // The newest finished stream is still replayable in full.
    let res = call(&svc, get(&sid, V_NEW, cursors.last().map(String::as_str))).await;
    assert_eq!(messages(&Sse::of(res).rest().await).len(), 3);
    // The oldest is not kept forever: a clean 400, not a stream with a gap.
    let kind = rejected(&svc, &sid, HeaderValue::from_str(&cursors[0]).unwrap()).await;
    assert_eq!(kind, RejectionKind::ReplayUnavailable);
}
