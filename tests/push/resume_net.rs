//! Resumption over real sockets: a client drops its connection and comes back with
//! `Last-Event-ID`, on POST streams and on the GET stream.

use std::sync::Arc;
use std::time::Duration;

use mcp_tower::session::MemoryEventStore;
use mcp_tower::{McpLayer, McpRequest, McpResponse, Rejection, RejectionKind};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tower::Layer;

use crate::support::*;

use crate::example;

/// A tool in three phases of three progress steps; it waits for a gate permit between phases
/// and reports each finished phase.
fn gated(layer: &McpLayer) -> (Svc, Arc<Semaphore>, mpsc::UnboundedReceiver<u32>) {
    let gate = Arc::new(Semaphore::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    let g = gate.clone();
    let svc = service(layer, move |req: McpRequest| {
        let (g, tx) = (g.clone(), tx.clone());
        async move {
            let ctx = req.context();
            for phase in 0..3u32 {
                if phase > 0 {
                    g.acquire().await.unwrap().forget();
                }
                for step in 1..=3 {
                    ctx.progress(f64::from(phase * 3 + step), Some(9.0), None);
                }
                let _ = tx.send(phase);
            }
            McpResponse::result(json!({ "done": true }))
        }
    });
    (svc, gate, rx)
}

/// Reads `n` message events, returning them with the id of the last event seen.
async fn read_messages<B>(sse: &mut Sse<B>, n: usize) -> (Vec<Value>, String)
where
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < n {
        let ev = within(sse.next()).await.expect("the stream ended early");
        if ev.id.is_some() {
            last = ev.id.clone();
        }
        if let Some(v) = ev.json() {
            out.push(v);
        }
    }
    (out, last.expect("no event id seen"))
}

/// A call to the [`gated`] tool over loopback, in a fresh session.
struct GatedCall {
    /// Serves until dropped.
    server: Served,
    http: reqwest::Client,
    sid: String,
    /// Lets the tool go on to its next phase.
    gate: Arc<Semaphore>,
    /// The phases the tool finished.
    phases: mpsc::UnboundedReceiver<u32>,
    /// The call's SSE stream.
    sse: Sse<reqwest::Body>,
}

async fn gated_call() -> GatedCall {
    let (svc, gate, phases) = gated(&McpLayer::new());
    let server = serve(svc).await;
    let http = client();
    let sid = http_initialize(&http, &server.url, V_NEW, json!({})).await;
    let sse = http_sse(
        http_post(
            &http,
            &server.url,
            Some(&sid),
            V_NEW,
            &tool_call(1, "gated", json!({})),
        )
        .await,
    );
    GatedCall {
        server,
        http,
        sid,
        gate,
        phases,
        sse,
    }
}

#[tokio::test]
async fn a_post_stream_resumes_after_a_dropped_connection() {
    let GatedCall {
        server,
        http,
        sid,
        gate,
        mut phases,
        mut sse,
    } = gated_call().await;
    assert!(within(sse.next()).await.unwrap().is_priming());
    let (first, cursor) = read_messages(&mut sse, 3).await;
    drop(sse); // the connection goes away mid-call: not a cancellation
    gate.add_permits(1);
    assert_eq!(within(phases.recv()).await, Some(0));
    assert_eq!(
        within(phases.recv()).await,
        Some(1),
        "the handler goes on without a connection"
    );

    let mut resumed = http_sse(http_get(&http, &server.url, &sid, V_NEW, Some(&cursor)).await);
    let (replayed, _) = read_messages(&mut resumed, 3).await;
    gate.add_permits(1);
    let live = messages(&within(resumed.rest()).await);

    let mut all: Vec<Value> = first;
    all.extend(replayed);
    all.extend(live.into_iter().map(|(_, v)| v));
    let steps: Vec<u64> = all.iter().filter_map(progress_of).collect();
    assert_eq!(
        steps,
        (1..=9).collect::<Vec<_>>(),
        "every step exactly once, in order"
    );
    assert_eq!(all.len(), 10, "{all:?}");
    assert_eq!(all[9]["id"], 1);
    assert_eq!(all[9]["result"]["done"], true);
}

#[tokio::test]
async fn the_example_countdown_resumes_wherever_it_was_cut() {
    let svc = McpLayer::new().layer(boxed(example::handle));
    let server = serve(svc).await;
    let http = client();
    let sid = http_initialize(&http, &server.url, V_NEW, json!({})).await;
    for cut_after in [0, 1, 4, 10] {
        let call = tool_call(1, "countdown", json!({ "from": 10, "delay_ms": 5 }));
        let mut sse = http_sse(http_post(&http, &server.url, Some(&sid), V_NEW, &call).await);
        let priming = within(sse.next()).await.unwrap();
        assert!(priming.is_priming());
        let (mut all, cursor) = if cut_after == 0 {
            (Vec::new(), priming.id.unwrap())
        } else {
            read_messages(&mut sse, cut_after).await
        };
        drop(sse);
        tokio::time::sleep(Duration::from_millis(15)).await;
        let mut resumed = http_sse(http_get(&http, &server.url, &sid, V_NEW, Some(&cursor)).await);
        all.extend(
            messages(&within(resumed.rest()).await)
                .into_iter()
                .map(|(_, v)| v),
        );
        let steps: Vec<u64> = all.iter().filter_map(progress_of).collect();
        assert_eq!(
            steps,
            (0..=10).collect::<Vec<_>>(),
            "cut after {cut_after}: {all:?}"
        );
        assert_eq!(all.len(), 12);
        assert_eq!(
            all[11]["result"]["content"][0]["text"],
            "counted down from 10"
        );
    }
}

#[tokio::test]
async fn the_get_stream_replays_what_was_sent_while_disconnected() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let server = serve(layer.layer(plain())).await;
    let http = client();
    let sid = http_initialize(&http, &server.url, V_NEW, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    let log = |i: u32| Some(json!({ "level": "info", "data": i }));

    let mut sse = http_sse(http_get(&http, &server.url, &sid, V_NEW, None).await);
    assert!(within(sse.next()).await.unwrap().is_priming());
    session.notify("notifications/message", log(0));
    let (_, cursor) = read_messages(&mut sse, 1).await;
    drop(sse);
    assert!(
        eventually(Duration::from_secs(5), || !session.has_stream()).await,
        "the server notices the disconnect"
    );
    for i in 1..=3 {
        session.notify("notifications/message", log(i));
    }
    let mut resumed = http_sse(http_get(&http, &server.url, &sid, V_NEW, Some(&cursor)).await);
    let (replayed, _) = read_messages(&mut resumed, 3).await;
    let data: Vec<&Value> = replayed.iter().map(|m| &m["params"]["data"]).collect();
    assert_eq!(data, [&json!(1), &json!(2), &json!(3)]);
    // The resumed connection is the live one now.
    session.notify("notifications/message", log(4));
    let (live, _) = read_messages(&mut resumed, 1).await;
    assert_eq!(live[0]["params"]["data"], 4);
}

#[tokio::test]
async fn an_expired_cursor_gets_400_replay_unavailable() {
    let layer = McpLayer::new().event_store(MemoryEventStore::new().max_events(2));
    let sessions = layer.sessions();
    let svc = layer.layer(plain());
    let server = serve(svc.clone()).await;
    let http = client();
    let sid = http_initialize(&http, &server.url, V_NEW, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    let mut sse = http_sse(http_get(&http, &server.url, &sid, V_NEW, None).await);
    let cursor = within(sse.next()).await.unwrap().id.unwrap();
    drop(sse);
    for i in 0..5 {
        session.notify(
            "notifications/message",
            Some(json!({ "level": "info", "data": i })),
        );
    }
    let res = http_get(&http, &server.url, &sid, V_NEW, Some(&cursor)).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert!(body["error"]["code"].is_i64(), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    // In process, the rejection names the reason.
    let res = call(&svc, get(&sid, V_NEW, Some(&cursor))).await;
    assert_eq!(
        res.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::ReplayUnavailable
    );
    // The session is fine: a fresh GET opens.
    let res = http_get(&http, &server.url, &sid, V_NEW, None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_resume_takes_over_a_live_get_connection() {
    let layer = McpLayer::new();
    let sessions = layer.sessions();
    let server = serve(layer.layer(plain())).await;
    let http = client();
    let sid = http_initialize(&http, &server.url, V_NEW, json!({})).await;
    let session = sessions.get(&sid).unwrap();

    let mut older = http_sse(http_get(&http, &server.url, &sid, V_NEW, None).await);
    let cursor = within(older.next()).await.unwrap().id.unwrap();
    let mut newer = http_sse(http_get(&http, &server.url, &sid, V_NEW, Some(&cursor)).await);
    let rest = within(older.rest()).await;
    assert!(messages(&rest).is_empty(), "{rest:?}");
    session.notify(
        "notifications/message",
        Some(json!({ "level": "info", "data": "hi" })),
    );
    let (got, _) = read_messages(&mut newer, 1).await;
    assert_eq!(got[0]["params"]["data"], "hi");

    // A plain GET takes over as well: a session has one standalone connection.
    let mut newest = http_sse(http_get(&http, &server.url, &sid, V_NEW, None).await);
    assert!(messages(&within(newer.rest()).await).is_empty());
    session.notify(
        "notifications/message",
        Some(json!({ "level": "info", "data": "again" })),
    );
    let (got, _) = read_messages(&mut newest, 1).await;
    assert_eq!(got[0]["params"]["data"], "again");
}

#[tokio::test]
async fn a_resume_takes_over_a_live_post_connection() {
    let GatedCall {
        server,
        http,
        sid,
        gate,
        mut phases,
        sse: mut post_sse,
    } = gated_call().await;
    let (first, cursor) = read_messages(&mut post_sse, 3).await;
    assert_eq!(within(phases.recv()).await, Some(0));

    let mut resumed = http_sse(http_get(&http, &server.url, &sid, V_NEW, Some(&cursor)).await);
    let rest = within(post_sse.rest()).await;
    assert!(
        messages(&rest).is_empty(),
        "the older connection ends: {rest:?}"
    );
    gate.add_permits(2);
    let live = messages(&within(resumed.rest()).await);
    let steps: Vec<u64> = first
        .iter()
        .chain(live.iter().map(|(_, v)| v))
        .filter_map(progress_of)
        .collect();
    assert_eq!(steps, (1..=9).collect::<Vec<_>>());
    assert_eq!(live.last().unwrap().1["result"]["done"], true);
}
