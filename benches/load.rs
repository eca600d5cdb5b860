//! Load: many keep-alive connections mixing JSON calls, SSE calls and GET streams for a fixed
//! time; no request may fail, and every GET stream must see every broadcast, in order.
//!
//! ```text
//! cargo bench --bench load                       # 512 connections, 60 s
//! cargo bench --bench load -- --quick            # 64 connections, 3 s
//! cargo bench --bench load -- --duration-s 10 --connections 256
//! ```
//!
//! Every connection has a session of its own. One connection in `--stream-every` (8) holds
//! the session's GET stream open for the whole run and reads it; the server broadcasts a
//! numbered `notifications/message` to every session each `--broadcast-ms` (100), and each
//! stream must receive them without a gap or a repeat. Every other connection loops over
//! calls, alternately a JSON call (`echo`, answered `application/json`) and an SSE call
//! (`steps` with `--steps` progress notifications, answered `text/event-stream`), checking
//! each answer. An error is any failed request, a wrong answer, a stream that ends or misses
//! a broadcast. Latency is per call, from sending the request to the end of the answer; the
//! first `--warm-up-ms` are not counted.
#![allow(clippy::cast_precision_loss)]

mod support;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use mcp_tower::McpLayer;
use serde_json::json;
use support::{
    connect, content_type, get, open_session, post, send, tools_call, verdict, BoxError, Conn,
    Latencies, Serve, Server, SseReader,
};

const USAGE: &str = "load [--quick] [--connections N] [--duration-s S] [--stream-every K] \
                     [--broadcast-ms MS] [--steps K] [--warm-up-ms MS] [--workers W]";

#[derive(Clone, Copy)]
struct Plan {
    connections: usize,
    duration: Duration,
    stream_every: usize,
    broadcast: Duration,
    steps: u64,
    warm_up: Duration,
    workers: usize,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("load: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, BoxError> {
    let args = support::Args::parse(
        &[
            "connections",
            "duration-s",
            "stream-every",
            "broadcast-ms",
            "steps",
            "warm-up-ms",
            "workers",
        ],
        USAGE,
    )?;
    let quick = args.quick();
    let plan = Plan {
        connections: args.get("connections", if quick { 64 } else { 512 })?,
        duration: Duration::from_secs_f64(args.get("duration-s", if quick { 3.0 } else { 60.0 })?),
        stream_every: args.get::<usize>("stream-every", 8)?.max(1),
        broadcast: Duration::from_millis(args.get("broadcast-ms", 100)?),
        steps: args.get("steps", 4)?,
        warm_up: Duration::from_millis(args.get("warm-up-ms", if quick { 200 } else { 1000 })?),
        workers: args.get("workers", 1)?,
    };
    println!("machine: {}", support::machine());
    let layer = McpLayer::new().max_sessions(plan.connections + 64);
    let sessions = layer.sessions();
    let server = Server::start(
        &layer,
        Serve {
            workers: plan.workers,
            ..Serve::default()
        },
    )?;
    let rt = support::client_runtime()?;
    let failures = rt.block_on(async {
        let addr = server.addr;
        // Connections and sessions first, 64 at a time.
        let mut conns = Vec::with_capacity(plan.connections);
        for chunk in (0..plan.connections).collect::<Vec<_>>().chunks(64) {
            let mut set = tokio::task::JoinSet::new();
            for &i in chunk {
                set.spawn(async move {
                    let mut conn = connect(addr).await?;
                    let sid = open_session(&mut conn, addr).await?;
                    Ok::<_, BoxError>((i, conn, sid))
                });
            }
            while let Some(r) = set.join_next().await {
                conns.push(r??);
            }
        }
        conns.sort_by_key(|(i, _, _)| *i);
        let started = Instant::now();
        let measure_from = started + plan.warm_up;
        let deadline = started + plan.duration;
        let mut tasks = tokio::task::JoinSet::new();
        for (i, conn, sid) in conns {
            if i % plan.stream_every == 0 {
                tasks.spawn(reader(addr, conn, sid, deadline, plan.broadcast));
            } else {
                tasks.spawn(caller(addr, conn, sid, measure_from, deadline, plan.steps));
            }
        }
        // The broadcasts, numbered.
        let (mut broadcasts, mut delivered, mut queued, mut dropped) = (0u64, 0, 0, 0);
        let mut tick = tokio::time::interval(plan.broadcast);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while Instant::now() < deadline {
            tick.tick().await;
            let report = sessions.broadcast(
                "notifications/message",
                Some(json!({ "level": "info", "data": { "n": broadcasts } })),
            );
            broadcasts += 1;
            delivered += report.delivered;
            queued += report.queued;
            dropped += report.dropped;
        }
        let mut total = Tally::default();
        while let Some(t) = tasks.join_next().await {
            total.merge(t?);
        }
        let measured = deadline
            .saturating_duration_since(measure_from)
            .as_secs_f64();
        let calls = total.json.len() + total.sse.len();
        let streams = plan.connections.div_ceil(plan.stream_every);
        println!(
            "{} connections for {:.0} s: {streams} holding a GET stream, {} calling; \
             requests: {} ({} after the warm-up: {:.0} calls/s)",
            plan.connections,
            plan.duration.as_secs_f64(),
            plan.connections - streams,
            total.requests,
            calls,
            calls as f64 / measured
        );
        for (name, lat) in [
            ("JSON call (echo)", &mut total.json),
            ("SSE call (steps)", &mut total.sse),
        ] {
            println!(
                "  {name}: {} calls, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
                lat.len(),
                lat.len() as f64 / measured,
                f64::from(lat.percentile(50.0)) / 1e3,
                f64::from(lat.percentile(99.0)) / 1e3,
                f64::from(lat.percentile(99.9)) / 1e3
            );
        }
        println!(
            "  broadcasts: {broadcasts} ({delivered} sent to a stream, {queued} queued for \
             sessions without one, {dropped} dropped from full queues of sessions without \
             one); events read by the GET streams: {}",
            total.stream_events
        );
        println!("  errors: {}", total.errors);
        for e in total.first_errors.iter().take(5) {
            println!("    {e}");
        }
        let mut failures = Vec::new();
        if total.errors > 0 {
            failures.push(format!("{} errors", total.errors));
        }
        Ok::<_, BoxError>(failures)
    })?;
    drop(server);
    Ok(verdict("load", &failures))
}

#[derive(Default)]
struct Tally {
    requests: u64,
    json: Latencies,
    sse: Latencies,
    stream_events: u64,
    errors: u64,
    first_errors: Vec<String>,
}

impl Tally {
    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(e.to_string());
        }
    }

    fn merge(&mut self, other: Self) {
        self.requests += other.requests;
        self.json.merge(other.json);
        self.sse.merge(other.sse);
        self.stream_events += other.stream_events;
        self.errors += other.errors;
        for e in other.first_errors {
            if self.first_errors.len() < 5 {
                self.first_errors.push(e);
            }
        }
    }
}

/// Calls until the deadline, alternating a JSON and an SSE call on one connection.
async fn caller(
    addr: SocketAddr,
    mut conn: Conn,
    sid: String,
    measure_from: Instant,
    deadline: Instant,
    steps: u64,
) -> Tally {
    let mut out = Tally::default();
    let mut seq = 0u64;
    while Instant::now() < deadline {
        seq += 1;
        let sse = seq % 2 == 0;
        let t0 = Instant::now();
        let result = if sse {
            sse_call(addr, &mut conn, &sid, seq, steps).await
        } else {
            json_call(addr, &mut conn, &sid, seq).await
        };
        out.requests += 1;
        match result {
            Ok(()) if t0 >= measure_from => {
                if sse {
                    out.sse.record(t0);
                } else {
                    out.json.record(t0);
                }
            }
            Ok(()) => {}
            Err(e) => {
                out.error(format!(
                    "{}: {e}",
                    if sse { "SSE call" } else { "JSON call" }
                ));
                match connect(addr).await {
                    Ok(c) => conn = c,
                    Err(e) => {
                        out.error(e);
                        return out;
                    }
                }
            }
        }
    }
    out
}

async fn json_call(addr: SocketAddr, conn: &mut Conn, sid: &str, id: u64) -> Result<(), BoxError> {
    let text = format!("load {id}");
    let req = post(
        addr,
        tools_call(id, "echo", &json!({ "text": text })),
        Some(sid),
    );
    let res = send(conn, req).await?;
    let (status, ct) = (res.status(), content_type(res.headers()).to_owned());
    let body = res.into_body().collect().await?.to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body)?;
    if status != 200 || ct != "application/json" || answer["result"]["content"][0]["text"] != text {
        return Err(format!("{status} {ct}: {answer}").into());
    }
    Ok(())
}

async fn sse_call(
    addr: SocketAddr,
    conn: &mut Conn,
    sid: &str,
    id: u64,
    steps: u64,
) -> Result<(), BoxError> {
    let req = post(
        addr,
        tools_call(id, "steps", &json!({ "n": steps })),
        Some(sid),
    );
    let mut sse = SseReader::new(send(conn, req).await?)?;
    let (mut progress, mut answered) = (0, false);
    while let Some(batch) = sse.next_batch(Duration::from_secs(10)).await? {
        for msg in batch {
            if answered {
                return Err(format!("a message after the answer: {msg}").into());
            }
            if msg["method"] == "notifications/progress" {
                progress += 1;
            } else if msg["id"] == id && msg["result"]["steps"] == steps {
                answered = true;
            } else {
                return Err(format!("unexpected message {msg}").into());
            }
        }
    }
    if !answered || progress != steps {
        return Err(
            format!("{progress} of {steps} progress messages, answered: {answered}").into(),
        );
    }
    Ok(())
}

/// Holds the session's GET stream until the deadline; every broadcast must arrive, in order.
async fn reader(
    addr: SocketAddr,
    mut conn: Conn,
    sid: String,
    deadline: Instant,
    every: Duration,
) -> Tally {
    let mut out = Tally::default();
    out.requests += 1;
    let mut sse = match send(&mut conn, get(addr, &sid, None))
        .await
        .and_then(SseReader::new)
    {
        Ok(sse) => sse,
        Err(e) => {
            out.error(format!("GET stream: {e}"));
            return out;
        }
    };
    let mut last: Option<u64> = None;
    let wait = every * 10 + Duration::from_secs(5);
    while Instant::now() < deadline {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let batch = match tokio::time::timeout(remaining, sse.next_batch(wait)).await {
            Err(_) => break, // the run is over
            Ok(Ok(Some(batch))) => batch,
            Ok(Ok(None)) => {
                out.error("a GET stream ended during the run");
                return out;
            }
            Ok(Err(e)) => {
                out.error(format!("GET stream: {e}"));
                return out;
            }
        };
        for msg in batch {
            let Some(n) = msg["params"]["data"]["n"].as_u64() else {
                out.error(format!("unexpected message on a GET stream: {msg}"));
                continue;
            };
            if let Some(prev) = last {
                if n != prev + 1 {
                    out.error(format!("GET stream: broadcast {n} after {prev}"));
                }
            }
            last = Some(n);
            out.stream_events += 1;
        }
    }
    out
}
