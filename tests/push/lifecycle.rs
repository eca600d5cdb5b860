//! Session lifecycle: hooks and close reasons, principal binding, graceful shutdown, and no
//! leaked sessions or tasks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_tower::session::RequestOptions;
use mcp_tower::ClientRequestError;
use mcp_tower::{
    CloseReason, Delivery, McpLayer, McpRequest, McpResponse, Rejection, RejectionKind,
    ResponseMode,
};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::time::{timeout, Instant};
use tower::Layer;

use crate::support::*;

type Created = Arc<Mutex<Vec<String>>>;
type Closed = Arc<Mutex<Vec<(String, CloseReason)>>>;

fn hooked(layer: McpLayer) -> (McpLayer, Created, Closed) {
    let (created, closed) = (Created::default(), Closed::default());
    let (c1, c2) = (created.clone(), closed.clone());
    let layer = layer
        .on_session_created(move |s| {
            // The hook sees a live session with its negotiated version.
            assert!(!s.is_closed());
            assert!(s.protocol_version().is_some());
            c1.lock().unwrap().push(s.id().as_str().to_owned());
        })
        .on_session_closed(move |closed| {
            // Every session here is served over Streamable HTTP.
            assert_eq!(closed.transport, mcp_tower::Transport::StreamableHttp);
            c2.lock()
                .unwrap()
                .push((closed.id.as_str().to_owned(), closed.reason))
        });
    (layer, created, closed)
}

#[tokio::test(start_paused = true)]
async fn hooks_see_every_session_and_why_it_ended() {
    let (layer, created, closed) = hooked(McpLayer::new());
    let sessions = layer.sessions();
    let svc = layer.layer(handler(|req: McpRequest| async move {
        McpResponse::method_not_found(req.method())
    }));
    let deleted = initialize(&svc, V_NEW, json!({})).await;
    let closed_by_registry = initialize(&svc, V_NEW, json!({})).await;
    let closed_by_handle = initialize(&svc, V_OLD, json!({})).await;
    let shut_down = initialize(&svc, V_NEW, json!({})).await;
    assert_eq!(
        *created.lock().unwrap(),
        [
            deleted.clone(),
            closed_by_registry.clone(),
            closed_by_handle.clone(),
            shut_down.clone()
        ]
    );

    assert_eq!(
        call(&svc, delete_with(&deleted, Some(V_NEW)))
            .await
            .status(),
        200
    );
    assert!(sessions.close(&closed_by_registry));
    assert!(!sessions.close(&closed_by_registry), "already closed");
    let handle = sessions.get(&closed_by_handle).unwrap();
    assert!(handle.close());
    assert!(!handle.close());
    let report = sessions.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.sessions_closed, 1);

    assert_eq!(
        *closed.lock().unwrap(),
        [
            (deleted.clone(), CloseReason::Deleted),
            (closed_by_registry.clone(), CloseReason::Closed),
            (closed_by_handle.clone(), CloseReason::Closed),
            (shut_down.clone(), CloseReason::Shutdown),
        ]
    );
    for sid in [&deleted, &closed_by_registry, &closed_by_handle, &shut_down] {
        assert_eq!(
            call(&svc, delete_with(sid, Some(V_NEW))).await.status(),
            404
        );
    }
    assert_eq!(
        created.lock().unwrap().len(),
        4,
        "no hook for the failed DELETEs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_initialize_opens_no_session_and_runs_no_hook() {
    let (layer, created, closed) = hooked(McpLayer::new());
    let svc = layer.layer(boxed(|req: McpRequest| async move {
        Ok(McpResponse::invalid_params(format!(
            "no thanks: {}",
            req.method()
        )))
    }));
    let res = call(&svc, post_with(None, None, &init_body(V_NEW, json!({})))).await;
    let reply = reply_json(res).await;
    assert!(reply["error"].is_object(), "{reply}");
    assert!(layer.sessions().is_empty());
    assert!(created.lock().unwrap().is_empty());
    assert!(closed.lock().unwrap().is_empty());
}

#[derive(Clone)]
struct User(&'static str);

fn as_user<B>(mut req: http::Request<B>, user: Option<&'static str>) -> http::Request<B> {
    if let Some(u) = user {
        req.extensions_mut().insert(User(u));
    }
    req
}

#[tokio::test(start_paused = true)]
async fn another_principal_gets_404() {
    let layer = McpLayer::new()
        .bind_sessions_to(|head| head.extensions.get::<User>().map(|u| u.0.to_owned()));
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let res = call(
        &svc,
        as_user(
            post_with(None, None, &init_body(V_NEW, json!({}))),
            Some("alice"),
        ),
    )
    .await;
    assert_eq!(res.status(), 200);
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    for who in [Some("bob"), None] {
        let res = call(
            &svc,
            as_user(post_with(Some(&sid), Some(V_NEW), &ping), who),
        )
        .await;
        assert_eq!(res.status(), 404, "POST as {who:?}");
        assert_eq!(
            res.extensions().get::<Rejection>().unwrap().kind(),
            RejectionKind::SessionNotFound
        );
        assert_eq!(
            call(&svc, as_user(get(&sid, V_NEW, None), who))
                .await
                .status(),
            404,
            "GET as {who:?}"
        );
        assert_eq!(
            call(&svc, as_user(delete_with(&sid, Some(V_NEW)), who))
                .await
                .status(),
            404,
            "DELETE as {who:?}"
        );
    }
    // The owner still has it: nothing above ended it.
    assert_eq!(sessions.len(), 1);
    let res = call(
        &svc,
        as_user(post_with(Some(&sid), Some(V_NEW), &ping), Some("alice")),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        call(&svc, as_user(get(&sid, V_NEW, None), Some("alice")))
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&svc, as_user(delete_with(&sid, Some(V_NEW)), Some("alice")))
            .await
            .status(),
        200
    );
}

/// Fires when dropped.
struct DropGuard(Option<oneshot::Sender<()>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_within_its_deadline() {
    let (layer, _created, closed) =
        hooked(McpLayer::new().retry_interval(Duration::from_millis(2500)));
    let sessions = layer.sessions();
    let outcome = Arc::new(Mutex::new(None));
    let (o, guard_slot) = (
        outcome.clone(),
        Arc::new(Mutex::new(None::<oneshot::Sender<()>>)),
    );
    let g = guard_slot.clone();
    let svc = service(&layer, move |req: McpRequest| {
        let (o, g) = (o.clone(), g.clone());
        async move {
            let ctx = req.context();
            let name = req.params().unwrap()["name"].as_str().unwrap().to_owned();
            if name == "ask" {
                let got = ctx.request("ping", None).await;
                *o.lock().unwrap() = Some(got);
                McpResponse::result(json!({ "asked": true }))
            } else {
                let _guard = DropGuard(g.lock().unwrap().take());
                ctx.progress(0.0, None, None);
                tokio::time::sleep(Duration::from_secs(3600)).await;
                McpResponse::result(json!({ "finished": true }))
            }
        }
    });
    let listening = initialize(&svc, V_NEW, json!({})).await;
    let asking = initialize(&svc, V_NEW, json!({})).await;
    let working = initialize(&svc, V_NEW, json!({})).await;
    let idle = initialize(&svc, V_NEW, json!({})).await;
    let mut get_stream = Sse::of(call(&svc, get(&listening, V_NEW, None)).await);
    assert!(get_stream.next().await.unwrap().is_priming());
    let mut ask_stream = Sse::of(
        call(
            &svc,
            post_with(Some(&asking), Some(V_NEW), &tool_call(1, "ask", json!({}))),
        )
        .await,
    );
    assert_eq!(ask_stream.next_message().await.unwrap().1["method"], "ping");
    let (tx, aborted) = oneshot::channel();
    *guard_slot.lock().unwrap() = Some(tx);
    let mut work_stream = Sse::of(
        call(
            &svc,
            post_with(
                Some(&working),
                Some(V_NEW),
                &tool_call(2, "work", json!({})),
            ),
        )
        .await,
    );
    assert_eq!(
        work_stream.next_message().await.unwrap().1["method"],
        "notifications/progress"
    );

    let start = Instant::now();
    let s = sessions.clone();
    let shutdown = tokio::spawn(async move { s.shutdown(Duration::from_secs(5)).await });
    tokio::time::sleep(Duration::from_millis(1)).await;

    // While draining: no new sessions.
    let res = call(&svc, post_with(None, None, &init_body(V_NEW, json!({})))).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(
        res.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::TooManySessions
    );
    // Every open connection was told when to come back, and ended.
    for (name, sse) in [
        ("GET", &mut get_stream),
        ("ask", &mut ask_stream),
        ("work", &mut work_stream),
    ] {
        let rest = timeout(Duration::from_secs(1), sse.rest())
            .await
            .unwrap_or_else(|_| panic!("{name} stream must end"));
        let last = rest
            .last()
            .unwrap_or_else(|| panic!("{name}: no retry hint"));
        assert!(last.is_retry_hint(), "{name}: {rest:?}");
        assert_eq!(last.retry, Some(2500));
    }
    // The request waiting for the client failed with SessionClosed.
    assert_eq!(
        *outcome.lock().unwrap(),
        Some(Err(ClientRequestError::SessionClosed))
    );

    let report = within(shutdown).await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(5),
        "the deadline bounds the drain"
    );
    assert_eq!(report.sessions_closed, 4, "{report:?}");
    assert_eq!(report.streams_closed, 3, "{report:?}");
    assert_eq!(report.client_requests_failed, 1, "{report:?}");
    assert_eq!(report.handlers_cut, 1, "{report:?}");
    timeout(Duration::from_secs(1), aborted)
        .await
        .expect("the running handler is aborted")
        .unwrap();

    let mut reasons: Vec<CloseReason> = closed.lock().unwrap().iter().map(|(_, r)| *r).collect();
    reasons.dedup();
    assert_eq!(reasons, [CloseReason::Shutdown]);
    assert_eq!(closed.lock().unwrap().len(), 4);
    assert!(sessions.is_empty());
    for sid in [&listening, &asking, &working, &idle] {
        assert_eq!(call(&svc, get(sid, V_NEW, None)).await.status(), 404);
    }
    assert_eq!(
        call(&svc, post_with(None, None, &init_body(V_NEW, json!({}))))
            .await
            .status(),
        503
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_nothing_running_returns_at_once() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    initialize(&svc, V_NEW, json!({})).await;
    let start = Instant::now();
    let report = sessions.shutdown(Duration::from_secs(30)).await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(
        (
            report.sessions_closed,
            report.handlers_cut,
            report.streams_closed
        ),
        (1, 0, 0)
    );
}

/// Tasks alive on this test's runtime.
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(start_paused = true)]
async fn many_sessions_come_and_go_without_leaking() {
    const N: usize = 500;
    let baseline = alive_tasks();
    let (layer, created, closed) = hooked(
        McpLayer::new()
            .session_idle_timeout(Duration::from_millis(200))
            .response_mode(ResponseMode::Sse),
    );
    let sessions = layer.sessions();
    let svc = service(&layer, |req: McpRequest| async move {
        if req.params().unwrap()["name"] == "stuck" {
            std::future::pending::<()>().await;
        }
        McpResponse::result(json!({ "ok": true }))
    });
    let mut ids = Vec::new();
    let mut stuck_streams = Vec::new();
    for i in 0..N {
        let sid = initialize(&svc, V_NEW, json!({})).await;
        // A GET stream opened and dropped, and a finished streamed call.
        drop(call(&svc, get(&sid, V_NEW, None)).await);
        let res = call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "quick", json!({}))),
        )
        .await;
        assert_eq!(reply_json(res).await["result"]["ok"], true);
        if i % 10 == 0 {
            // A handler that never ends: its session is deleted below.
            stuck_streams.push(
                call(
                    &svc,
                    post_with(Some(&sid), Some(V_NEW), &tool_call(2, "stuck", json!({}))),
                )
                .await,
            );
        }
        ids.push(sid);
    }
    // Idle ones may already be expiring; the stuck ones cannot (a request is in flight).
    assert_eq!(created.lock().unwrap().len(), N);
    assert!(sessions.len() >= N / 10);
    assert!(
        alive_tasks() > baseline,
        "the stuck handlers and the reaper run as tasks"
    );
    for sid in ids.iter().step_by(10) {
        assert_eq!(
            call(&svc, delete_with(sid, Some(V_NEW))).await.status(),
            200
        );
    }
    drop(stuck_streams);
    // The rest expire.
    assert!(
        eventually(Duration::from_secs(10), || sessions.is_empty()).await,
        "{} left",
        sessions.len()
    );
    assert_eq!(closed.lock().unwrap().len(), N);
    let expired = closed
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| *r == CloseReason::Expired)
        .count();
    assert_eq!(expired, N - N / 10);
    // Only the reaper is left.
    assert!(
        eventually(Duration::from_secs(5), || alive_tasks() == baseline + 1).await,
        "{} tasks alive, baseline {baseline}",
        alive_tasks()
    );

    // Dropping the layer, the services and the registry stops the reaper.
    drop((layer, svc, sessions));
    assert!(
        eventually(Duration::from_secs(5), || alive_tasks() == baseline).await,
        "{} tasks alive, baseline {baseline}",
        alive_tasks()
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_request_fails_when_its_session_ends() {
    // The request comes from outside any handler (a handler would be aborted with its
    // session, and never see the outcome), on the session's standalone stream.
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    let mut get_stream = Sse::of(call(&svc, get(&sid, V_NEW, None)).await);
    assert!(get_stream.next().await.unwrap().is_priming());
    let asking = session.clone();
    let pending =
        tokio::spawn(async move { asking.request("ping", None, RequestOptions::new()).await });
    assert_eq!(get_stream.next_message().await.unwrap().1["method"], "ping");

    assert!(session.close());
    let got = timeout(Duration::from_secs(1), pending)
        .await
        .expect("closing the session fails the request at once, not at its timeout")
        .unwrap();
    assert_eq!(got, Err(ClientRequestError::SessionClosed));
    let rest = timeout(Duration::from_secs(1), get_stream.rest())
        .await
        .expect("the stream ends with its session");
    assert!(messages(&rest).is_empty(), "{rest:?}");
}

// On the real clock: a paused one would jump to the reaper's next tick as soon as the runtime
// idles, and the tick alone would stop it.
#[tokio::test]
async fn dropping_the_layer_and_its_services_stops_the_reaper_and_frees_the_sessions() {
    let baseline = alive_tasks();
    // A long idle timeout: the reaper's next tick is far away, so only the registry's drop
    // can stop it now.
    let layer = McpLayer::new().session_idle_timeout(Duration::from_secs(3600));
    let sessions = layer.sessions();
    let svc = service(&layer, |_req: McpRequest| async move {
        McpResponse::result(json!({}))
    });
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let session = sessions.get(&sid).expect("the session is live");
    assert_eq!(alive_tasks(), baseline + 1, "the reaper runs");
    drop((layer, sessions, svc));
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        alive_tasks(),
        baseline,
        "the reaper stopped without waiting for its tick"
    );
    assert!(session.is_closed(), "the session went with its registry");
    assert_eq!(
        session.notify("notifications/message", None),
        Delivery::Dropped
    );
}
