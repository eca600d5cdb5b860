//! Chaos: many streamed calls whose connections are cut at (seeded) random points and resumed
//! with `Last-Event-ID`; every call's messages must arrive complete, in order, exactly once.
//! The approach of `tests/push/chaos.rs` (which runs 20 calls), at scale and over hyper.
//!
//! ```text
//! cargo bench --bench chaos                      # 10,000 calls
//! cargo bench --bench chaos -- --quick           # 500
//! cargo bench --bench chaos -- --calls 2000 --concurrency 32 --seed 7
//! ```
//!
//! Each call is a `tools/call` of `steps` (the bench handler: `--steps` progress notifications,
//! then the answer), answered as SSE. The client reads a random number of events, then loses
//! the connection: it drops it (and reconnects after 0–3 ms), or opens the resumption first
//! and then drops the old one (a takeover). After four cuts it reads to the end. Counted over
//! every call: progress messages lost (expected, never seen) and duplicated (seen twice), and
//! calls that failed (an HTTP error, a stream that ended without the answer, a timeout).
#![allow(clippy::cast_precision_loss)]

mod support;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_tower::McpLayer;
use serde_json::{json, Value};
use support::{
    connect, get, post, send, tools_call, verdict, BoxError, Conn, Latencies, Rng, Serve, Server,
    SseReader,
};

const USAGE: &str = "chaos [--quick] [--calls N] [--concurrency C] [--sessions S] [--steps K] \
                     [--cuts K] [--seed X] [--workers W]";

/// No read waits longer than this for a frame: a missing event is a failure, not a hang.
const READ_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
struct Plan {
    calls: u64,
    concurrency: usize,
    sessions: usize,
    steps: u64,
    cuts: u32,
    seed: u64,
    workers: usize,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chaos: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, BoxError> {
    let args = support::Args::parse(
        &[
            "calls",
            "concurrency",
            "sessions",
            "steps",
            "cuts",
            "seed",
            "workers",
        ],
        USAGE,
    )?;
    let quick = args.quick();
    let plan = Plan {
        calls: args.get("calls", if quick { 500 } else { 10_000 })?,
        concurrency: args.get("concurrency", 64)?,
        sessions: args.get::<usize>("sessions", 16)?.max(1),
        steps: args.get("steps", 40)?,
        cuts: args.get("cuts", 4)?,
        seed: args.get("seed", 0x5EED_CAFE)?,
        workers: args.get("workers", 1)?,
    };
    println!("machine: {}", support::machine());
    let layer = McpLayer::new();
    let server = Server::start(
        &layer,
        Serve {
            workers: plan.workers,
            ..Serve::default()
        },
    )?;
    let rt = support::client_runtime()?;
    let failures = rt.block_on(chaos(&server, plan))?;
    drop(server);
    Ok(verdict("chaos", &failures))
}

/// What one call saw.
#[derive(Default)]
struct Call {
    cuts: u32,
    takeovers: u32,
    /// Connections the server ended before the answer (resumed too).
    server_closes: u32,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
}

async fn chaos(server: &Server, plan: Plan) -> Result<Vec<String>, BoxError> {
    let addr = server.addr;
    let mut conn = connect(addr).await?;
    let mut sids = Vec::new();
    for _ in 0..plan.sessions {
        sids.push(support::open_session(&mut conn, addr).await?);
    }
    let sids = Arc::new(sids);
    let next = Arc::new(AtomicU64::new(1));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency {
        let (next, sids) = (next.clone(), sids.clone());
        tasks.spawn(async move {
            let mut calls = Vec::new();
            let mut errors = Vec::new();
            let mut latencies = Latencies::default();
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id > plan.calls {
                    return (calls, errors, latencies);
                }
                let sid = &sids[id as usize % sids.len()];
                let t0 = Instant::now();
                match tokio::time::timeout(Duration::from_secs(60), one_call(addr, sid, id, plan))
                    .await
                {
                    Ok(Ok(call)) => {
                        latencies.record(t0);
                        calls.push(call);
                    }
                    Ok(Err(e)) => errors.push(format!("call {id}: {e}")),
                    Err(_) => errors.push(format!("call {id}: not done within 60 s")),
                }
            }
        });
    }
    let mut calls = Vec::new();
    let mut errors = Vec::new();
    let mut latencies = Latencies::default();
    while let Some(done) = tasks.join_next().await {
        let (c, e, l) = done?;
        calls.extend(c);
        errors.extend(e);
        latencies.merge(l);
    }
    let took = started.elapsed();
    let sum = |f: fn(&Call) -> u64| calls.iter().map(f).sum::<u64>();
    let (cuts, takeovers, server_closes) = (
        sum(|c| u64::from(c.cuts)),
        sum(|c| u64::from(c.takeovers)),
        sum(|c| u64::from(c.server_closes)),
    );
    let (lost, duplicated, out_of_order) = (
        sum(|c| c.lost),
        sum(|c| c.duplicated),
        sum(|c| c.out_of_order),
    );
    let expected = plan.calls * (plan.steps + 1);
    println!(
        "{} calls of {} progress messages + the answer ({expected} messages expected), {} in \
         flight over {} sessions, in {:.1} s ({:.0} calls/s)",
        plan.calls,
        plan.steps,
        plan.concurrency,
        plan.sessions,
        took.as_secs_f64(),
        plan.calls as f64 / took.as_secs_f64()
    );
    println!(
        "connections cut: {cuts} ({} dropped then resumed, {takeovers} taken over by the \
         resumption); connections the server ended before the answer: {server_closes}; \
         resumptions: {}",
        cuts - takeovers,
        cuts + server_closes
    );
    println!(
        "messages lost: {lost}; duplicated: {duplicated}; out of order: {out_of_order}; \
         calls completed: {}; calls failed: {}",
        calls.len(),
        errors.len()
    );
    println!(
        "call duration (all its connections): p50 {:.1} ms, p99 {:.1} ms",
        f64::from(latencies.percentile(50.0)) / 1e3,
        f64::from(latencies.percentile(99.0)) / 1e3
    );
    for e in errors.iter().take(5) {
        println!("  {e}");
    }
    let mut failures = Vec::new();
    if !errors.is_empty() {
        failures.push(format!("{} calls failed", errors.len()));
    }
    if lost + duplicated + out_of_order > 0 {
        failures.push(format!(
            "{lost} lost, {duplicated} duplicated, {out_of_order} out of order"
        ));
    }
    if plan.cuts > 0 && cuts < plan.calls {
        failures.push(format!(
            "only {cuts} cuts for {} calls: too few to mean anything",
            plan.calls
        ));
    }
    Ok(failures)
}

/// One call: read, cut at random, resume, until the answer.
async fn one_call(
    addr: std::net::SocketAddr,
    sid: &str,
    id: u64,
    plan: Plan,
) -> Result<Call, BoxError> {
    let mut rng = Rng::new(plan.seed ^ id.wrapping_mul(0x9E37_79B9));
    let mut out = Call::default();
    let mut conn: Conn = connect(addr).await?;
    let body = tools_call(id, "steps", &json!({ "n": plan.steps }));
    let mut sse = SseReader::new(send(&mut conn, post(addr, body, Some(sid))).await?)?;
    // How often each progress step was seen.
    let mut seen = vec![0u32; usize::try_from(plan.steps)? + 1];
    let mut last_step = 0;
    let mut answered = false;
    loop {
        let budget = if out.cuts < plan.cuts {
            rng.range(1, 12)
        } else {
            u64::MAX
        };
        let mut read = 0;
        while read < budget && !answered {
            let Some(batch) = sse.next_batch(READ_WAIT).await? else {
                break;
            };
            for msg in batch {
                read += 1;
                if msg["id"] == id && msg.get("result").is_some() {
                    if msg["result"]["steps"] != plan.steps {
                        return Err(format!("wrong answer {msg}").into());
                    }
                    answered = true;
                } else if let Some(step) = progress_of(&msg) {
                    let slot = seen
                        .get_mut(usize::try_from(step)?)
                        .ok_or_else(|| format!("progress {step} out of range"))?;
                    *slot += 1;
                    // First seen, but not the next one expected (a duplicate is counted apart).
                    if *slot == 1 && step != last_step + 1 {
                        out.out_of_order += 1;
                    }
                    last_step = last_step.max(step);
                } else {
                    return Err(format!("unexpected message {msg}").into());
                }
            }
        }
        if answered {
            // The stream ends right after the answer.
            while let Some(batch) = sse.next_batch(READ_WAIT).await? {
                if !batch.is_empty() {
                    return Err(format!("messages after the answer: {batch:?}").into());
                }
            }
            break;
        }
        let cursor = sse
            .cursor()
            .ok_or("a connection was cut before any event id")?
            .to_owned();
        if sse.ended() {
            // The server ended the connection before the answer (it does so to a reader too
            // slow for its queue, after a `retry:` hint): resume, as a client must.
            out.server_closes += 1;
            if out.server_closes > 50 {
                return Err("the stream keeps ending without the answer".into());
            }
            conn = connect(addr).await?;
            sse = SseReader::new(send(&mut conn, get(addr, sid, Some(&cursor))).await?)?;
            continue;
        }
        // Cut: drop the connection, or take it over with the resumption.
        out.cuts += 1;
        if rng.range(0, 1) == 0 {
            drop(sse);
            drop(conn);
            tokio::time::sleep(Duration::from_millis(rng.range(0, 3))).await;
            conn = connect(addr).await?;
            sse = SseReader::new(send(&mut conn, get(addr, sid, Some(&cursor))).await?)?;
        } else {
            let mut newer = connect(addr).await?;
            let resumed = SseReader::new(send(&mut newer, get(addr, sid, Some(&cursor))).await?)?;
            // Whatever the older connection still carries is not read: the newer one replays
            // everything after the cursor.
            drop(std::mem::replace(&mut sse, resumed));
            drop(std::mem::replace(&mut conn, newer));
            out.takeovers += 1;
        }
    }
    for &n in &seen[1..] {
        match n {
            0 => out.lost += 1,
            1 => {}
            n => out.duplicated += u64::from(n - 1),
        }
    }
    Ok(out)
}

/// The progress value of a `notifications/progress` message.
fn progress_of(msg: &Value) -> Option<u64> {
    (msg["method"] == "notifications/progress")
        .then(|| msg["params"]["progress"].as_f64())
        .flatten()
        .map(|p| p as u64)
}
