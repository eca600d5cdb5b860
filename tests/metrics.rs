//! What operators see in `metrics` (feature `metrics`): sessions, streams, events,
//! rejections and handler latency. Each test installs a recorder for its own thread and drives
//! the service on a current-thread runtime, so the tests never see each other's numbers.
#![cfg(feature = "metrics")]

#[path = "support/mod.rs"]
mod support;

#[path = "../examples/common/mod.rs"]
mod example;

use http::StatusCode;
use mcp_tower::McpLayer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::CompositeKey;
use serde_json::json;

use support::*;

/// Runs `f` on a current-thread runtime with a recorder for this thread; returns the recorder's
/// snapshotter.
fn measured<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F) -> Snapshotter {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f());
    });
    snapshotter
}

/// Every metric recorded, read once (reading a debugging recorder's counters resets them).
type Snapshot = Vec<(
    CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// The value of the metric `name` whose labels include every one of `labels`.
fn metric<'a>(
    snapshot: &'a Snapshot,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    snapshot
        .iter()
        .find(|(key, _, _, _)| {
            key.key().name() == name
                && labels.iter().all(|(k, v)| {
                    key.key()
                        .labels()
                        .any(|label| label.key() == *k && label.value() == *v)
                })
        })
        .map(|(_, _, _, value)| value)
}

fn counter(snapshotter: &Snapshot, name: &str, labels: &[(&str, &str)]) -> u64 {
    match metric(snapshotter, name, labels) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

fn gauge(snapshotter: &Snapshot, name: &str, labels: &[(&str, &str)]) -> f64 {
    match metric(snapshotter, name, labels) {
        Some(DebugValue::Gauge(g)) => g.into_inner(),
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

#[test]
fn metrics_count_sessions_streams_events_rejections_and_handler_latency() {
    let snapshotter = measured(|| async {
        let server = Server::example(McpLayer::new());
        let id = server.open_session(V_NEW).await;
        let mut stream = Sse::new(server.send(get_stream(&id)).await.into_body());
        let reply = json_reply(server.send(post_in(&id, &echo(2, "x"))).await).await;
        assert_eq!(tool_text(&reply), "x");
        server
            .sessions
            .get(&id)
            .unwrap()
            .notify("notifications/tools/list_changed", None);
        assert!(stream.next_message().await.is_some());
        drop(stream);
        let res = server.send(post_in("nope", &echo(3, "y"))).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = server.send(delete(&id)).await;
        assert_eq!(res.status(), StatusCode::OK);
    });
    let s = &snapshotter.snapshot().into_vec();
    assert_eq!(
        counter(
            s,
            "mcp_sessions_created_total",
            &[("transport", "streamable-http")]
        ),
        1
    );
    assert_eq!(
        counter(s, "mcp_sessions_closed_total", &[("reason", "deleted")]),
        1
    );
    assert_eq!(gauge(s, "mcp_sessions_open", &[]), 0.0);
    assert_eq!(gauge(s, "mcp_streams_open", &[("kind", "get")]), 0.0);
    assert!(counter(s, "mcp_events_sent_total", &[("kind", "get")]) >= 1);
    assert_eq!(
        counter(s, "mcp_rejections_total", &[("kind", "session_not_found")]),
        1
    );
    match metric(
        s,
        "mcp_handler_duration_seconds",
        &[("method", "tools/call")],
    ) {
        Some(DebugValue::Histogram(samples)) => assert_eq!(samples.len(), 1),
        other => panic!("{other:?}"),
    }
    match metric(
        s,
        "mcp_handler_duration_seconds",
        &[("method", "initialize")],
    ) {
        Some(DebugValue::Histogram(samples)) => assert_eq!(samples.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_method_outside_mcp_is_labelled_other() {
    let snapshotter = measured(|| async {
        let server = Server::example(McpLayer::new());
        let id = server.open_session(V_NEW).await;
        for n in 0..3 {
            let method = format!("x/custom/{n}");
            let _ = server
                .send(post_in(&id, &request(10 + n, &method, json!({}))))
                .await;
        }
    });
    let snapshot = snapshotter.snapshot().into_vec();
    match metric(
        &snapshot,
        "mcp_handler_duration_seconds",
        &[("method", "other")],
    ) {
        Some(DebugValue::Histogram(samples)) => assert_eq!(samples.len(), 3),
        other => panic!("{other:?}"),
    }
    let labels: Vec<String> = snapshot
        .iter()
        .flat_map(|(key, _, _, _)| {
            key.key()
                .labels()
                .map(|l| l.value().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        !labels.iter().any(|l| l.starts_with("x/custom")),
        "client-chosen methods must not become labels: {labels:?}"
    );
}

#[test]
fn slow_consumers_replays_and_client_requests_are_counted() {
    let snapshotter = measured(|| async {
        // The log keeps the last 4 events: the first is gone once 8 were sent.
        let server = Server::example(
            McpLayer::new()
                .stream_capacity(2)
                .event_store(mcp_tower::session::MemoryEventStore::new().max_events(4)),
        );
        let id = server.open_session(V_NEW).await;
        // A GET stream nobody reads: an event that finds it full cuts it.
        let stalled = server.send(get_stream(&id)).await;
        let session = server.sessions.get(&id).unwrap();
        for _ in 0..3 {
            session.notify("notifications/tools/list_changed", None);
        }
        let mut events = Sse::new(stalled.into_body());
        let mut ids = Vec::new();
        while let Some(event) = events.next().await {
            ids.extend(event.id.clone());
        }
        assert!(!ids.is_empty());
        // Resuming from the last event read replays what followed (all still in the log).
        let resumed = server
            .send(get(&id, V_NEW, Some(ids.last().unwrap())))
            .await;
        assert_eq!(resumed.status(), StatusCode::OK);
        drop(resumed);
        // Eight more push the first ones out: resuming from the first id now misses.
        for _ in 0..8 {
            session.notify("notifications/tools/list_changed", None);
        }
        let missed = server.send(get(&id, V_NEW, Some(&ids[0]))).await;
        assert_eq!(missed.status(), StatusCode::BAD_REQUEST);
        // The client declared roots but never answers: pending, then timed out.
        let asked = session
            .request(
                "roots/list",
                None,
                mcp_tower::session::RequestOptions::new()
                    .timeout(std::time::Duration::from_millis(30)),
            )
            .await;
        assert!(asked.is_err());
    });
    let s = &snapshotter.snapshot().into_vec();
    assert!(counter(s, "mcp_slow_consumer_closes_total", &[("kind", "get")]) >= 1);
    assert_eq!(counter(s, "mcp_replays_total", &[]), 1);
    assert_eq!(counter(s, "mcp_replay_misses_total", &[]), 1);
    assert_eq!(counter(s, "mcp_client_request_timeouts_total", &[]), 1);
    assert_eq!(gauge(s, "mcp_client_requests_pending", &[]), 0.0);
}
