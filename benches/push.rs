//! Push-path figures (a `harness = false` bench: `cargo bench --bench push`).
//!
//! 1. `Sessions::broadcast` of one notification to 10,000 sessions, each with an open GET body
//!    (one of them a stalled reader nobody polls), against a baseline in the same run: a loop of
//!    plain `mpsc::try_send` of the same bytes to 10,000 channels. Rounds of the two alternate.
//! 2. A server→client request round trip: a tool calls `ctx.request("ping")`, the client reads
//!    it from the POST's SSE stream and POSTs the answer (202), then reads the tool's result;
//!    against plain `tools/call` round trips answered as JSON and as SSE.
//!
//! Everything runs in process on one current-thread runtime (no sockets), so the figures are
//! the transport's own cost. Quote ratios, not absolute numbers: the machines are shared.
//! `PUSH_BENCH_QUICK=1` shrinks the run (for a smoke test).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use http::Request;
use http_body_util::BodyExt;
use mcp_tower::{Delivery, McpBody, McpLayer, McpRequest, McpResponse, ResponseMode};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

type Svc = mcp_tower::McpService<BoxCloneSyncService<McpRequest, McpResponse, Infallible>>;

const VERSION: &str = "2025-11-25";

fn handler() -> BoxCloneSyncService<McpRequest, McpResponse, Infallible> {
    BoxCloneSyncService::new(tower::service_fn(|req: McpRequest| async move {
        Ok::<_, Infallible>(match req.method() {
            "initialize" => McpResponse::result(json!({
                "protocolVersion": req.protocol_version().as_str(),
                "capabilities": { "tools": {} },
                "serverInfo": { "name": "bench", "version": "0" },
            })),
            "tools/call" if req.params().is_some_and(|p| p["name"] == "ask") => {
                match req.context().request("ping", None).await {
                    Ok(_) => McpResponse::result(json!({ "content": [] })),
                    Err(e) => {
                        McpResponse::result(json!({ "isError": true, "error": e.to_string() }))
                    }
                }
            }
            "tools/call" => McpResponse::result(json!({ "content": [] })),
            _ => McpResponse::empty(),
        })
    }))
}

fn post(session: Option<&str>, body: &Value) -> Request<String> {
    let mut b = Request::post("/mcp")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", VERSION);
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.body(body.to_string()).unwrap()
}

fn get(session: &str) -> Request<String> {
    Request::get("/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", VERSION)
        .body(String::new())
        .unwrap()
}

async fn initialize(svc: &Svc) -> String {
    let init = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": VERSION, "capabilities": {}, "clientInfo": { "name": "b", "version": "0" } },
    });
    let res = svc.clone().oneshot(post(None, &init)).await.unwrap();
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let _ = res.into_body().collect().await.unwrap();
    let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let res = svc.clone().oneshot(post(Some(&sid), &note)).await.unwrap();
    assert_eq!(res.status(), 202);
    sid
}

/// Takes one ready frame off a body without waiting; false if none is ready. Unconstrained:
/// tokio's cooperative budget would otherwise report a ready channel as pending once this task
/// has done enough work without yielding.
fn take_ready(body: &mut McpBody) -> bool {
    matches!(
        tokio::task::unconstrained(body.frame()).now_or_never(),
        Some(Some(Ok(_)))
    )
}

struct Stats {
    median: Duration,
    p10: Duration,
    p90: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Stats {
        median: at(0.5),
        p10: at(0.1),
        p90: at(0.9),
    }
}

fn show(name: &str, s: &Stats) {
    println!(
        "{name:<44} median {:>10.1?}   p10 {:>10.1?}   p90 {:>10.1?}",
        s.median, s.p10, s.p90
    );
}

async fn broadcast_bench(streams: usize, rounds: usize) {
    let layer = McpLayer::new().max_sessions(streams + 1);
    let sessions = layer.sessions();
    let svc: Svc = layer.layer(handler());
    let mut bodies = Vec::with_capacity(streams);
    let mut ids = Vec::with_capacity(streams);
    for _ in 0..streams {
        let sid = initialize(&svc).await;
        let mut body = svc.clone().oneshot(get(&sid)).await.unwrap().into_body();
        assert!(take_ready(&mut body), "priming event");
        bodies.push(body);
        ids.push(sid);
    }
    // The stalled reader: its channel is filled to the brim and never read.
    let stalled = sessions.get(&ids[0]).unwrap();
    let mut filled = 0;
    while filled < 1000 {
        let d = stalled.notify(
            "notifications/message",
            Some(json!({ "level": "debug", "data": filled })),
        );
        if d != Delivery::Sent {
            break;
        }
        filled += 1;
    }
    let _ = stalled; // its connection is now cut; later broadcasts queue, then drop, for it

    // Baseline: the same bytes pushed with try_send into as many channels.
    let payload = Bytes::from_static(
        b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n",
    );
    let mut channels: Vec<(mpsc::Sender<Bytes>, mpsc::Receiver<Bytes>)> =
        (0..streams).map(|_| mpsc::channel(64)).collect();

    let (mut ours, mut base) = (Vec::new(), Vec::new());
    let mut last_report = None;
    for _ in 0..rounds {
        let start = Instant::now();
        let report = sessions.broadcast("notifications/tools/list_changed", None);
        ours.push(start.elapsed());
        last_report = Some(report);
        for body in &mut bodies[1..] {
            assert!(take_ready(body), "a live reader missed the broadcast");
        }

        let start = Instant::now();
        for (tx, _) in &channels {
            let _ = tx.try_send(payload.clone());
        }
        base.push(start.elapsed());
        for (_, rx) in &mut channels {
            let _ = rx.try_recv();
        }
    }
    let report = last_report.unwrap();
    assert_eq!(report.delivered, streams - 1, "{report:?}");
    let (ours, base) = (stats(ours), stats(base));
    println!("\nbroadcast to {streams} open GET streams, 1 stalled ({rounds} rounds, alternating)");
    println!("  last report: {report:?}");
    show("  Sessions::broadcast", &ours);
    show("  baseline: mpsc::try_send loop", &base);
    println!(
        "  ratio (median): {:.1}x the bare channel loop; {:.2} ms against the 10 ms bar",
        ours.median.as_secs_f64() / base.median.as_secs_f64(),
        ours.median.as_secs_f64() * 1e3
    );
    drop((bodies, svc));
}

/// Reads SSE frames until one holds `needle`; returns the text read.
async fn read_until(body: &mut McpBody, needle: &str) -> String {
    let mut text = String::new();
    while !text.contains(needle) {
        let frame = body.frame().await.expect("stream ended early").unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    text
}

async fn round_trip_bench(iterations: usize) {
    let layer = McpLayer::new();
    let svc: Svc = layer.layer(handler());
    let sid = initialize(&svc).await;
    let sse_layer = McpLayer::new().response_mode(ResponseMode::Sse);
    let sse_svc: Svc = sse_layer.layer(handler());
    let sse_sid = initialize(&sse_svc).await;
    let call = |name: &str, id: usize| json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": name, "arguments": {} } });

    let (mut ask, mut plain_json, mut plain_sse) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations {
        // Server→client ping and back.
        let start = Instant::now();
        let res = svc
            .clone()
            .oneshot(post(Some(&sid), &call("ask", i)))
            .await
            .unwrap();
        let mut body = res.into_body();
        let text = read_until(&mut body, "\"method\":\"ping\"").await;
        let at = text.find("{\"jsonrpc\"").unwrap();
        let line = text[at..].lines().next().unwrap();
        let ping: Value = serde_json::from_str(line).unwrap();
        let answer = json!({ "jsonrpc": "2.0", "id": ping["id"], "result": {} });
        let res = svc
            .clone()
            .oneshot(post(Some(&sid), &answer))
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let text = read_until(&mut body, "\"result\"").await;
        assert!(!text.contains("isError"), "{text}");
        ask.push(start.elapsed());

        // A plain call, answered as JSON.
        let start = Instant::now();
        let res = svc
            .clone()
            .oneshot(post(Some(&sid), &call("plain", i)))
            .await
            .unwrap();
        let _ = res.into_body().collect().await.unwrap();
        plain_json.push(start.elapsed());

        // A plain call, answered as SSE.
        let start = Instant::now();
        let res = sse_svc
            .clone()
            .oneshot(post(Some(&sse_sid), &call("plain", i)))
            .await
            .unwrap();
        let _ = res.into_body().collect().await.unwrap();
        plain_sse.push(start.elapsed());
    }
    let (ask, plain_json, plain_sse) = (stats(ask), stats(plain_json), stats(plain_sse));
    println!(
        "\nserver→client request round trip, in process ({iterations} iterations, interleaved)"
    );
    show("  tools/call + ctx.request(ping) + answer", &ask);
    show("  baseline: plain tools/call, JSON", &plain_json);
    show("  baseline: plain tools/call, SSE", &plain_sse);
    println!(
        "  ratio (median): {:.1}x the plain JSON call, {:.1}x the plain SSE call \
         (the round trip is two HTTP requests)",
        ask.median.as_secs_f64() / plain_json.median.as_secs_f64(),
        ask.median.as_secs_f64() / plain_sse.median.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful either.
    let quick = std::env::var_os("PUSH_BENCH_QUICK").is_some();
    let (streams, rounds, iterations) = if quick {
        (200, 5, 50)
    } else {
        (10_000, 41, 2_000)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        broadcast_bench(streams, rounds).await;
        round_trip_bench(iterations).await;
    });
}
