//! What operators see: the `tracing` span of each request and the session and stream events
//! (feature `tracing`), and the `metrics` counters, gauges and histograms (feature `metrics`).
//! Each test installs its subscriber or recorder for its own thread only and drives the service
//! on a current-thread runtime, so the tests never see each other's output.
#![cfg(all(feature = "tracing", feature = "metrics"))]

#[path = "support/mod.rs"]
mod support;

#[path = "../examples/common/mod.rs"]
mod example;

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use std::time::Duration;

use mcp_tower::session::RequestOptions;
use mcp_tower::McpLayer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::CompositeKey;
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;

use support::*;

/// Everything the subscriber wrote, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// Runs `f` on a current-thread runtime with a subscriber that records every span (at its
/// close, with all its fields) and every event; returns what it wrote.
fn traced<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F) -> String {
    let out = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(out.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f());
    });
    out.text()
}

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
fn a_request_span_names_route_method_status_and_the_session_by_its_label_only() {
    let seen = Arc::new(Mutex::new((String::new(), String::new())));
    let keep = seen.clone();
    let out = traced(|| async move {
        let server = Server::example(McpLayer::new());
        let id = server.open_session(V_NEW).await;
        let label = server.sessions.get(&id).unwrap().id().label().to_string();
        *keep.lock().unwrap() = (id.clone(), label);
        let res = server.send(post_in(&id, &echo(7, "hi"))).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = server.send(delete(&id)).await;
        assert_eq!(res.status(), StatusCode::OK);
        // A rejection: the session is gone.
        let res = server.send(post_in(&id, &echo(8, "late"))).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    });
    let (id, label) = seen.lock().unwrap().clone();
    assert!(
        !out.contains(&id),
        "the session id must never be logged:\n{out}"
    );
    assert!(out.contains("session created"), "{out}");
    assert!(
        out.contains("session closed") && out.contains("reason=\"deleted\""),
        "{out}"
    );
    let call = out
        .lines()
        .find(|l| l.contains("mcp.method=\"tools/call\"") && l.contains("close"))
        .unwrap_or_else(|| panic!("no closed span for the call:\n{out}"));
    assert!(call.contains("route=\"in_session\""), "{call}");
    assert!(call.contains("http.method=POST"), "{call}");
    assert!(call.contains("mcp.id=7"), "{call}");
    assert!(call.contains("http.status=200"), "{call}");
    assert!(
        call.contains(&format!("session={label}")),
        "{label} in {call}"
    );
    assert!(
        out.lines().any(|l| l.contains("rejection=\"session_not_found\"")
            && l.contains("http.status=404")),
        "{out}"
    );
}

#[test]
fn stream_events_and_client_request_timeouts_are_logged() {
    let out = traced(|| async move {
        let server = Server::example(McpLayer::new());
        let id = server.open_session(V_NEW).await;
        let stream = server.send(get_stream(&id)).await;
        assert_eq!(stream.status(), StatusCode::OK);
        drop(stream);
        // The client declared roots but never answers.
        let session = server.sessions.get(&id).unwrap();
        let asked = session
            .request(
                "roots/list",
                None,
                RequestOptions::new().timeout(Duration::from_millis(50)),
            )
            .await;
        assert!(asked.is_err());
    });
    assert!(
        out.contains("stream opened") && out.contains("kind=\"get\""),
        "{out}"
    );
    assert!(
        out.contains("stream closed") && out.contains("reason=\"client_gone\""),
        "{out}"
    );
    assert!(out.contains("client request timed out"), "{out}");
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
