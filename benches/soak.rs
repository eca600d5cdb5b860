//! Soak: many sessions created and ended over loopback, half by `DELETE` and half left to
//! expire idle; afterwards the store must be empty again and RSS back near its baseline.
//!
//! ```text
//! cargo bench --bench soak                          # 100,000 sessions
//! cargo bench --bench soak -- --quick               # 5,000
//! cargo bench --bench soak -- --sessions 20000 --concurrency 16 --idle-ms 200
//! ```
//!
//! Each session: `initialize`, `notifications/initialized`, one `tools/call` (echo), then either
//! `DELETE` (even sessions) or nothing (odd ones: the layer's idle timeout ends them). A
//! warm-up of the same mix comes first (allocator, runtime and connection paths), then the
//! baseline: VmRSS of this process (server and load generator) and `Sessions::len()`. A sampler
//! records the peak of both during the run. After it, the binary waits for the store to
//! empty, and fails unless the count is 0, RSS is within `--rss-slack-kib` of the baseline, and
//! no request failed. `--rounds R` repeats the run R times in the same process, each measured
//! against the same baseline: a leak grows from round to round, a one-off residue (the
//! allocator keeping the pages of the peak) does not.
#![allow(clippy::cast_precision_loss)]

mod support;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_tower::{McpLayer, Sessions};
use serde_json::json;
use support::{
    connect, delete, mib, open_session, post, roundtrip, rss, tools_call, verdict, BoxError, Serve,
    Server,
};

const USAGE: &str = "soak [--quick] [--sessions N] [--warm-up N] [--concurrency C] \
                     [--idle-ms MS] [--rss-slack-kib KIB] [--workers W] [--rounds R]";

struct Plan {
    sessions: u64,
    warm_up: u64,
    concurrency: usize,
    idle: Duration,
    slack: u64,
    workers: usize,
    rounds: u32,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("soak: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, BoxError> {
    let args = support::Args::parse(
        &[
            "sessions",
            "warm-up",
            "concurrency",
            "idle-ms",
            "rss-slack-kib",
            "workers",
            "rounds",
        ],
        USAGE,
    )?;
    let quick = args.quick();
    let plan = Plan {
        sessions: args.get("sessions", if quick { 5_000 } else { 100_000 })?,
        warm_up: args.get("warm-up", if quick { 1_000 } else { 5_000 })?,
        concurrency: args.get("concurrency", 32)?,
        idle: Duration::from_millis(args.get("idle-ms", 200)?),
        slack: args.get::<u64>("rss-slack-kib", 4096)? * 1024,
        workers: args.get("workers", 1)?,
        rounds: args.get::<u32>("rounds", 1)?.max(1),
    };
    println!("machine: {}", support::machine());
    let layer = McpLayer::new().session_idle_timeout(plan.idle);
    let sessions = layer.sessions();
    let server = Server::start(
        &layer,
        Serve {
            workers: plan.workers,
            ..Serve::default()
        },
    )?;
    let rt = support::client_runtime()?;
    let mut failures = Vec::new();
    rt.block_on(async {
        // Warm-up, then the baseline once every warm-up session is gone.
        let warm = churn(&server, plan.warm_up, plan.concurrency).await;
        settle(&sessions, plan.idle).await;
        let (count0, rss0) = (sessions.len(), rss());
        println!(
            "warm-up: {} sessions, {} errors; baseline: {count0} sessions, RSS {} ({rss0} B)",
            plan.warm_up,
            warm.errors,
            mib(rss0 as f64)
        );
        if let Some(e) = &warm.first_error {
            println!("  first warm-up error: {e}");
        }

        let mut errors = warm.errors;
        for round in 1..=plan.rounds {
            let peak = Arc::new((AtomicU64::new(rss0), AtomicUsize::new(count0)));
            let sampler = {
                let (peak, sessions) = (peak.clone(), sessions.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        peak.0.fetch_max(rss(), Ordering::Relaxed);
                        peak.1.fetch_max(sessions.len(), Ordering::Relaxed);
                    }
                })
            };
            let started = Instant::now();
            let main = churn(&server, plan.sessions, plan.concurrency).await;
            let took = started.elapsed();
            let mid = (sessions.len(), rss());
            let waited = settle(&sessions, plan.idle).await;
            sampler.abort();
            let (count1, rss1) = (sessions.len(), rss());
            let (peak_rss, peak_count) = (
                peak.0.load(Ordering::Relaxed),
                peak.1.load(Ordering::Relaxed),
            );
            errors += main.errors;

            println!(
                "round {round}/{}: {} sessions ({} deleted, {} left to expire after {:?} idle) \
                 in {:.1} s: {:.0} sessions/s, {} requests, {} errors",
                plan.rounds,
                plan.sessions,
                main.deleted,
                plan.sessions - main.deleted,
                plan.idle,
                took.as_secs_f64(),
                plan.sessions as f64 / took.as_secs_f64(),
                main.requests,
                main.errors
            );
            println!(
                "  when the last request was answered: {} sessions live, RSS {}; store empty \
                 {:.2} s later",
                mid.0,
                mib(mid.1 as f64),
                waited.as_secs_f64()
            );
            println!(
                "  RSS: baseline {} -> peak {} -> after {} (after - baseline: {:+} KiB; slack {} KiB)",
                mib(rss0 as f64),
                mib(peak_rss as f64),
                mib(rss1 as f64),
                (rss1 as i64 - rss0 as i64) / 1024,
                plan.slack / 1024
            );
            println!(
                "  sessions in the store: baseline {count0} -> peak {peak_count} -> after {count1}"
            );
            if let Some(e) = &main.first_error {
                println!("  first error: {e}");
            }
            if count1 != 0 {
                failures.push(format!("round {round}: {count1} sessions left in the store"));
            }
            if rss1 > rss0 + plan.slack {
                failures.push(format!(
                    "round {round}: RSS {} above the baseline (slack {} KiB)",
                    mib((rss1 - rss0) as f64),
                    plan.slack / 1024
                ));
            }
        }
        if errors > 0 {
            failures.push(format!("{errors} requests failed"));
        }
    });
    drop(server);
    Ok(verdict("soak", &failures))
}

#[derive(Default)]
struct Churned {
    requests: u64,
    deleted: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Creates and ends `n` sessions on `concurrency` keep-alive connections.
async fn churn(server: &Server, n: u64, concurrency: usize) -> Churned {
    let next = Arc::new(AtomicU64::new(0));
    let addr = server.addr;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let next = next.clone();
        tasks.spawn(async move {
            let mut out = Churned::default();
            let mut conn = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return out;
                }
                let result = async {
                    if conn.is_none() {
                        conn = Some(connect(addr).await?);
                    }
                    let conn = conn.as_mut().ok_or("no connection")?;
                    let id = open_session(conn, addr).await?;
                    let call = tools_call(i, "echo", &json!({ "text": "soak" }));
                    let (_, body) = roundtrip(conn, post(addr, call, Some(&id))).await?;
                    if !body.starts_with(b"{") || !body.windows(4).any(|w| w == b"soak") {
                        return Err(format!("unexpected answer {body:?}").into());
                    }
                    let mut requests = 3;
                    if i % 2 == 0 {
                        roundtrip(conn, delete(addr, &id)).await?;
                        requests += 1;
                    }
                    Ok::<_, BoxError>(requests)
                }
                .await;
                match result {
                    Ok(requests) => {
                        out.requests += requests;
                        out.deleted += u64::from(i % 2 == 0);
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| e.to_string());
                        // A fresh connection for the next session.
                        conn = None;
                    }
                }
            }
        });
    }
    let mut total = Churned::default();
    while let Some(part) = tasks.join_next().await {
        let part = part.unwrap_or_else(|e| Churned {
            errors: 1,
            first_error: Some(e.to_string()),
            ..Churned::default()
        });
        total.requests += part.requests;
        total.deleted += part.deleted;
        total.errors += part.errors;
        if total.first_error.is_none() {
            total.first_error = part.first_error;
        }
    }
    total
}

/// Waits until the store is empty (at most 20 idle timeouts + 5 s), then a little longer for
/// the memory of ended sessions to be freed. Returns how long the store took to empty.
async fn settle(sessions: &Sessions, idle: Duration) -> Duration {
    let started = Instant::now();
    let limit = idle * 20 + Duration::from_secs(5);
    while !sessions.is_empty() && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let emptied = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    emptied
}
