//! What operators see in `tracing` (feature `tracing`): the span of each request and the
//! session, stream and client-request events. Each test installs its subscriber for its own
//! thread and drives the service on a current-thread runtime; every test in this binary has
//! one, so no callsite is first reached where nobody listens (`tests/metrics.rs` is apart for
//! that reason).
#![cfg(feature = "tracing")]

#[path = "support/mod.rs"]
mod support;

#[path = "../examples/common/mod.rs"]
mod example;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use mcp_tower::session::RequestOptions;
use mcp_tower::McpLayer;
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
        // A callsite first reached on a thread without a subscriber (a metrics test beside
        // this one) is cached as uninteresting: ask again now that this one exists.
        tracing::callsite::rebuild_interest_cache();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f());
    });
    out.text()
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
