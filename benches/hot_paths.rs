//! Criterion benchmarks of the transport's hot paths, each next to a baseline:
//!
//! - `sse_encode`: the transport's event encoder, the public `Event` builder, and a naive
//!   `format!` baseline;
//! - `jsonrpc`: classifying a typical `tools/call` body (vs. a plain `serde_json::Value` parse)
//!   and serializing its answer;
//! - `session_store`: lookup (`Sessions::get`) single-threaded and contended (vs. a
//!   `Mutex<HashMap>`), insert + remove (`initialize` + `DELETE` through the service), contended;
//! - `post`: one `tools/call` POST through `McpService` (JSON, adaptive and SSE replies) vs. the
//!   inner handler called directly: the difference is the transport's own overhead.
//!
//! ```text
//! cargo bench --bench hot_paths --features unstable-bench-internals            # everything
//! cargo bench --bench hot_paths --features unstable-bench-internals -- post/   # one group
//! ```
//!
//! The end-to-end load benchmark over loopback is `benches/e2e.rs` (see BENCHMARKS.md).

// `criterion_group!` writes an undocumented `pub fn`.
#![allow(missing_docs)]

#[path = "../examples/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use http::Request;
use http_body_util::{BodyExt, Full};
use mcp_tower::sse::Event;
use mcp_tower::{McpLayer, McpRequest, ResponseMode, Sessions};
use serde_json::{json, Value};
use tower::{ServiceBuilder, ServiceExt};

/// The `tools/call` every benchmark sends: the example server's `echo` tool.
const TOOLS_CALL: &str = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello, world"}}}"#;
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
/// What the echo tool answers, serialized by the transport.
const ANSWER: &[u8] =
    br#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"text":"hello, world","type":"text"}]}}"#;

/// A POST the way hyper hands it over: headers parsed, body one frame.
fn post(body: &'static str, session: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::post("/mcp")
        .header("host", "127.0.0.1:3000")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(id) = session {
        req = req
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", "2025-11-25");
    }
    req.body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("valid request")
}

fn delete(session: &str) -> Request<Full<Bytes>> {
    Request::delete("/mcp")
        .header("host", "127.0.0.1:3000")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(Full::new(Bytes::new()))
        .expect("valid request")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Opens a session (initialize + initialized) and returns its id.
async fn open_session<S>(svc: &S) -> String
where
    S: tower::Service<
            Request<Full<Bytes>>,
            Response = http::Response<mcp_tower::McpBody>,
            Error = std::convert::Infallible,
        > + Clone,
{
    let res = svc
        .clone()
        .oneshot(post(INITIALIZE, None))
        .await
        .expect("infallible");
    assert_eq!(res.status(), 200, "initialize failed");
    let id = res.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii id")
        .to_owned();
    let _ = res.into_body().collect().await;
    let res = svc
        .clone()
        .oneshot(post(INITIALIZED, Some(&id)))
        .await
        .expect("infallible");
    assert_eq!(res.status(), 202, "notifications/initialized failed");
    id
}

fn sse_encode(c: &mut Criterion) {
    let id = "AAAAAAAAAAAAAAAAAAAAAAAA"; // the transport's ids are 24 characters
    let json = std::str::from_utf8(ANSWER).expect("utf-8");
    let mut g = c.benchmark_group("sse_encode");
    g.throughput(Throughput::Bytes(ANSWER.len() as u64));
    g.bench_function("transport_message_event", |b| {
        b.iter(|| mcp_tower::__bench::message_event(Some(black_box(id)), black_box(ANSWER)));
    });
    g.bench_function("public_event_builder", |b| {
        b.iter(|| {
            Event::new()
                .id(black_box(id))
                .and_then(|e| e.event("message"))
                .map(|e| e.data(black_box(json)).finish())
        });
    });
    g.bench_function("baseline_format", |b| {
        b.iter(|| {
            Bytes::from(format!(
                "id: {}\nevent: message\ndata: {}\n\n",
                black_box(id),
                black_box(json)
            ))
        });
    });
    g.finish();
}

fn jsonrpc(c: &mut Criterion) {
    let mut g = c.benchmark_group("jsonrpc");
    g.throughput(Throughput::Bytes(TOOLS_CALL.len() as u64));
    g.bench_function("classify_tools_call", |b| {
        b.iter(|| mcp_tower::__bench::parse_payload(black_box(TOOLS_CALL.as_bytes())));
    });
    g.bench_function("baseline_parse_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(TOOLS_CALL.as_bytes())));
    });
    let outcome = Ok(json!({ "content": [{ "type": "text", "text": "hello, world" }] }));
    g.bench_function("serialize_answer", |b| {
        b.iter(|| mcp_tower::__bench::response_bytes(black_box(42), black_box(&outcome)));
    });
    g.finish();
}

/// `threads` threads each run `per_thread` times `op`, all started together; returns the wall
/// time until the last one finishes.
fn contended(threads: usize, per_thread: u64, op: &(dyn Fn(u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..per_thread {
                    op(i.wrapping_mul(threads as u64) + t as u64);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Scope end joins every thread.
        start
    })
    .elapsed()
}

fn session_store(c: &mut Criterion) {
    const LIVE: usize = 1_000;
    let rt = runtime();
    let layer = McpLayer::new().max_sessions(100_000);
    let sessions: Sessions = layer.sessions();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(common::handle);
    let ids: Vec<String> = rt.block_on(async {
        let mut ids = Vec::with_capacity(LIVE);
        for _ in 0..LIVE {
            ids.push(open_session(&svc).await);
        }
        ids
    });
    let baseline: Mutex<HashMap<Arc<str>, Arc<u64>>> = Mutex::new(
        ids.iter()
            .enumerate()
            .map(|(i, id)| (Arc::from(id.as_str()), Arc::new(i as u64)))
            .collect(),
    );
    let baseline_get = |i: u64| {
        let id = &ids[i as usize % LIVE];
        let map = baseline.lock().expect("not poisoned");
        black_box(map.get(id.as_str()).cloned());
    };
    let get = |i: u64| {
        black_box(sessions.get(&ids[i as usize % LIVE]));
    };

    let mut g = c.benchmark_group("session_store");
    g.bench_function("lookup", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            get(i);
        });
    });
    g.bench_function("baseline_mutex_hashmap_lookup", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            baseline_get(i);
        });
    });
    for threads in [2, 4] {
        // Time per lookup, per thread, with `threads` threads looking up at once.
        g.bench_function(format!("lookup_contended_{threads}_threads"), |b| {
            b.iter_custom(|iters| contended(threads, iters, &get));
        });
        g.bench_function(
            format!("baseline_mutex_hashmap_lookup_contended_{threads}_threads"),
            |b| b.iter_custom(|iters| contended(threads, iters, &baseline_get)),
        );
    }

    // Insert + remove: `initialize` (the handler answers at once) then `DELETE`.
    g.bench_function("insert_remove_via_service", |b| {
        b.to_async(&rt).iter(|| async {
            let res = svc
                .clone()
                .oneshot(post(INITIALIZE, None))
                .await
                .expect("infallible");
            let id = res.headers()["mcp-session-id"].clone();
            let res = svc
                .clone()
                .oneshot(delete(id.to_str().expect("ascii")))
                .await
                .expect("infallible");
            assert_eq!(res.status(), 200);
        });
    });
    g.bench_function("insert_remove_via_service_contended_2_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Barrier::new(3);
            let svc = &svc;
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let rt = runtime();
                        barrier.wait();
                        rt.block_on(async {
                            for _ in 0..iters {
                                let res = svc
                                    .clone()
                                    .oneshot(post(INITIALIZE, None))
                                    .await
                                    .expect("infallible");
                                let id = res.headers()["mcp-session-id"].clone();
                                let res = svc
                                    .clone()
                                    .oneshot(delete(id.to_str().expect("ascii")))
                                    .await
                                    .expect("infallible");
                                assert_eq!(res.status(), 200);
                            }
                        });
                    });
                }
                barrier.wait();
                Instant::now()
            })
            .elapsed()
        });
    });
    g.finish();
    assert_eq!(sessions.len(), LIVE, "insert/remove left sessions behind");
}

fn post_roundtrip(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("post");
    g.throughput(Throughput::Elements(1));

    // The baseline: the inner handler alone, given the params the transport would parse.
    let params: Value = serde_json::from_str::<Value>(TOOLS_CALL).expect("json")["params"].clone();
    g.bench_function("handler_directly", |b| {
        b.to_async(&rt).iter_batched(
            || McpRequest::new(42, "tools/call", Some(params.clone())),
            |req| async move { common::handle(req).await },
            BatchSize::SmallInput,
        );
    });

    for (name, mode) in [
        ("mcp_service_json", ResponseMode::Json),
        ("mcp_service_adaptive", ResponseMode::Adaptive),
        ("mcp_service_sse", ResponseMode::Sse),
    ] {
        let svc = ServiceBuilder::new()
            .layer(McpLayer::new().response_mode(mode))
            .service_fn(common::handle);
        let id = rt.block_on(open_session(&svc));
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_batched(
                || post(TOOLS_CALL, Some(&id)),
                |req| {
                    let svc = svc.clone();
                    async move {
                        let res = svc.oneshot(req).await.expect("infallible");
                        res.into_body().collect().await.expect("infallible")
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, sse_encode, jsonrpc, session_store, post_roundtrip);
criterion_main!(benches);
