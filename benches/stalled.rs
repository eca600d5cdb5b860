//! Stalled readers: GET streams that never read while events are broadcast to each. Memory
//! must stay under what the bounds of the configuration predict, and every reader that comes
//! back (with `Last-Event-ID`) must get every event, once.
//!
//! ```text
//! cargo bench --bench stalled                    # 1,000 streams, 1,000 events of ~1 KiB
//! cargo bench --bench stalled -- --quick         # 100 streams, 200 events
//! cargo bench --bench stalled -- --max-buf 16384 # hyper's write buffer capped at 16 KiB
//! ```
//!
//! What the transport does with a stalled reader: each connection queues at most
//! `stream_capacity` events; when a send finds the queue full, the connection is ended (after
//! what it holds and a `retry:` hint) and later events only go to the session's replay log,
//! which the client resumes from. So the replay log and the queue of events waiting for the
//! standalone stream (`max_queued_events`) must cover every event for "every reader gets every
//! event" to hold: both are configured here to hold `--events` (+ 64). Everything a connection
//! holds beyond the crate's queue is hyper's write buffer (`http1().max_buf_size`, by default
//! 8 KiB + 400 KiB) and the kernel's socket buffers (not in RSS): the client's receive buffer
//! is shrunk (`--rcvbuf`) so a stalled reader is felt at once.
//!
//! Steps: open `--streams` sessions, a GET stream each (own connection), read each stream's
//! priming event (the cursor) and stop reading; VmRSS; broadcast `--events` notifications
//! (`notifications/message`, `data.n` numbered, `data.pad` of `--event-bytes`), one per
//! `--pace-us`; VmRSS again (and its peak meanwhile), against the bound. Then half of the
//! readers read what their connection still carries to its end and resume from the last id
//! they saw; the other half drop their connection and resume from the priming id. Each must
//! end with every `n` exactly once.
#![allow(clippy::cast_precision_loss)]

mod support;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use mcp_tower::session::MemoryEventStore;
use mcp_tower::McpLayer;
use serde_json::{json, Value};
use support::{
    connect, connect_with, get, mib, rss, send, verdict, BoxError, Conn, Serve, Server, SseReader,
};

const USAGE: &str = "stalled [--quick] [--streams N] [--events E] [--event-bytes B] \
                     [--stream-capacity C] [--rcvbuf BYTES] [--max-buf BYTES] [--pace-us US] \
                     [--workers W]";

/// The `id:` line the stream writes before a shared event: `id: ` + 24 characters + `\n`.
const ID_LINE: usize = 29;
/// One entry of the in-memory replay ring: `(u64, Instant, Bytes)`.
const RING_ENTRY: usize = 8 + 16 + 32;

#[derive(Clone, Copy)]
struct Plan {
    streams: usize,
    events: usize,
    event_bytes: usize,
    capacity: usize,
    rcvbuf: u32,
    max_buf: Option<usize>,
    pace: Duration,
    workers: usize,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stalled: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, BoxError> {
    let args = support::Args::parse(
        &[
            "streams",
            "events",
            "event-bytes",
            "stream-capacity",
            "rcvbuf",
            "max-buf",
            "pace-us",
            "workers",
        ],
        USAGE,
    )?;
    let quick = args.quick();
    let max_buf: usize = args.get("max-buf", 0)?;
    let plan = Plan {
        streams: args.get("streams", if quick { 100 } else { 1_000 })?,
        events: args.get("events", if quick { 200 } else { 1_000 })?,
        event_bytes: args.get("event-bytes", 1024)?,
        capacity: args.get("stream-capacity", mcp_tower::DEFAULT_STREAM_CAPACITY)?,
        rcvbuf: args.get("rcvbuf", 4096)?,
        max_buf: (max_buf > 0).then_some(max_buf),
        pace: Duration::from_micros(args.get("pace-us", 1000)?),
        workers: args.get("workers", 1)?,
    };
    println!("machine: {}", support::machine());
    let keep = plan.events + 64;
    let frame_guess = plan.event_bytes + 512;
    let layer = McpLayer::new()
        .max_sessions(plan.streams + 64)
        .stream_capacity(plan.capacity)
        .max_queued_events(keep)
        .event_store(
            MemoryEventStore::new()
                .max_events(keep)
                .max_bytes(keep * frame_guess)
                .max_age(Duration::from_secs(600)),
        );
    let sessions = layer.sessions();
    let server = Server::start(
        &layer,
        Serve {
            workers: plan.workers,
            max_buf: plan.max_buf,
        },
    )?;
    let rt = support::client_runtime()?;
    let failures = rt.block_on(async {
        let addr = server.addr;
        // Sessions, then a stalled GET stream on each: the priming event read, nothing more.
        let mut conn = connect(addr).await?;
        let mut sids = Vec::with_capacity(plan.streams);
        for _ in 0..plan.streams {
            sids.push(support::open_session(&mut conn, addr).await?);
        }
        drop(conn);
        let held: Vec<Held> = stream::iter(sids)
            .map(|sid| async move {
                let mut conn = connect_with(addr, Some(plan.rcvbuf)).await?;
                let mut sse = SseReader::new(send(&mut conn, get(addr, &sid, None)).await?)?;
                while sse.cursor().is_none() {
                    sse.next_batch(Duration::from_secs(10))
                        .await?
                        .ok_or("the stream ended before its priming event")?;
                }
                let priming = sse.cursor().unwrap_or_default().to_owned();
                Ok::<_, BoxError>(Held {
                    sid,
                    conn,
                    sse,
                    priming,
                })
            })
            .buffer_unordered(64)
            .try_collect()
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss0 = rss();

        // The broadcasts, with a sampler of the peak.
        let peak = Arc::new(AtomicU64::new(rss0));
        let sampler = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    peak.fetch_max(rss(), Ordering::Relaxed);
                }
            })
        };
        let pad = "x".repeat(plan.event_bytes);
        let (mut delivered, mut queued, mut dropped) = (0, 0, 0);
        let mut json_len = 0;
        let started = Instant::now();
        for n in 0..plan.events {
            let params = json!({ "level": "info", "data": { "n": n, "pad": pad } });
            json_len = json!({ "jsonrpc": "2.0", "method": "notifications/message", "params": params })
                .to_string()
                .len();
            let report = sessions.broadcast("notifications/message", Some(params));
            delivered += report.delivered;
            queued += report.queued;
            dropped += report.dropped;
            if !plan.pace.is_zero() {
                tokio::time::sleep(plan.pace).await;
            }
        }
        let broadcasting = started.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss1 = rss();
        sampler.abort();
        let peak = peak.load(Ordering::Relaxed).max(rss1);

        // What the configuration predicts, per part.
        // `event: message\ndata: ` + JSON + `\n\n`, and the id line each stream adds.
        let event = 21 + json_len + 2;
        let frame = ID_LINE + event;
        let n = plan.streams;
        let queues = n * plan.capacity * frame;
        let hyper_buf = plan.max_buf.unwrap_or(support::HYPER_DEFAULT_MAX_BUF);
        let writes = n * (hyper_buf + frame);
        let ring = n * RING_ENTRY * plan.events.next_power_of_two() + plan.events * event;
        let bound = queues + writes + ring;
        let growth = rss1.saturating_sub(rss0);
        let peak_growth = peak.saturating_sub(rss0);
        println!(
            "{n} stalled GET streams, {} broadcasts of a {event}-byte event ({frame} B on the \
             wire with its id) in {:.2} s: {delivered} sent to a connection, {queued} kept for \
             resumption only, {dropped} dropped",
            plan.events,
            broadcasting.as_secs_f64()
        );
        println!("bound, from the configuration:");
        println!(
            "  the crate's queues: streams x stream_capacity x event = {n} x {} x {frame} B = {}",
            plan.capacity,
            mib(queues as f64)
        );
        println!(
            "  hyper's write buffers: streams x (max_buf_size + one event) = {n} x ({hyper_buf} + {frame}) B = {}",
            mib(writes as f64)
        );
        println!(
            "  replay logs: streams x {RING_ENTRY} B x {} ring slots + the shared event bytes \
             once ({} x {event} B) = {}",
            plan.events.next_power_of_two(),
            plan.events,
            mib(ring as f64)
        );
        println!("  total: {}", mib(bound as f64));
        println!(
            "RSS: {} with the streams open -> {} after the broadcasts (peak {}): growth {} \
             ({:.0}% of the bound), peak growth {}; per stream {:.0} B",
            mib(rss0 as f64),
            mib(rss1 as f64),
            mib(peak as f64),
            mib(growth as f64),
            growth as f64 * 100.0 / bound as f64,
            mib(peak_growth as f64),
            growth as f64 / n as f64
        );

        // The readers come back.
        let results: Vec<Resumed> = stream::iter(held.into_iter().enumerate())
            .map(|(i, held)| resume(addr, held, i % 2 == 0, plan.events))
            .buffer_unordered(64)
            .try_collect()
            .await?;
        let lost: u64 = results.iter().map(|r| r.lost).sum();
        let duplicated: u64 = results.iter().map(|r| r.duplicated).sum();
        let cut = results.iter().filter(|r| r.cut).count();
        let on_old: u64 = results.iter().map(|r| r.on_old).sum();
        let replayed: u64 = results.iter().map(|r| r.replayed).sum();
        println!(
            "readers resumed: {} ({} read their connection to the end first: {cut} of those \
             connections had been ended by the server as too slow; {} dropped theirs and \
             resumed from the priming id)",
            results.len(),
            results.len().div_ceil(2),
            results.len() / 2
        );
        println!(
            "events received: {} on the stalled connections, {replayed} replayed on resumption; \
             lost {lost}, duplicated {duplicated} (of {} expected)",
            on_old,
            n * plan.events
        );
        let after = rss();
        println!("RSS after every reader caught up: {}", mib(after as f64));

        let mut failures = Vec::new();
        if growth > bound as u64 || peak_growth > bound as u64 {
            failures.push(format!(
                "RSS grew {} (peak {}), over the bound {}",
                mib(growth as f64),
                mib(peak_growth as f64),
                mib(bound as f64)
            ));
        }
        if lost + duplicated > 0 {
            failures.push(format!("{lost} events lost, {duplicated} duplicated"));
        }
        if dropped > 0 {
            failures.push(format!("{dropped} deliveries dropped by the broadcasts"));
        }
        Ok::<_, BoxError>(failures)
    })?;
    drop(server);
    Ok(verdict("stalled", &failures))
}

/// A stalled reader: its session, connection, stream and the priming event's id.
struct Held {
    sid: String,
    conn: Conn,
    sse: SseReader,
    priming: String,
}

struct Resumed {
    /// Its stalled connection ended before every event (the server cut it).
    cut: bool,
    on_old: u64,
    replayed: u64,
    lost: u64,
    duplicated: u64,
}

/// Brings one reader up to date: `drain` reads the stalled connection to its end first, else
/// the connection is dropped and the reader resumes from the priming event.
async fn resume(
    addr: std::net::SocketAddr,
    held: Held,
    drain: bool,
    events: usize,
) -> Result<Resumed, BoxError> {
    let Held {
        sid,
        conn,
        mut sse,
        priming,
    } = held;
    let mut seen = vec![0u32; events];
    let mut distinct = 0;
    let mut out = Resumed {
        cut: false,
        on_old: 0,
        replayed: 0,
        lost: 0,
        duplicated: 0,
    };
    let wait = Duration::from_secs(10);
    let mut cursor = priming;
    if drain {
        while distinct < events {
            let Some(batch) = sse.next_batch(wait).await? else {
                out.cut = true;
                break;
            };
            out.on_old += count(&batch, &mut seen, &mut distinct)?;
        }
        cursor = sse.cursor().unwrap_or(&cursor).to_owned();
    }
    drop(sse);
    drop(conn);
    if distinct < events {
        let mut conn = connect(addr).await?;
        let mut sse = SseReader::new(send(&mut conn, get(addr, &sid, Some(&cursor))).await?)?;
        while distinct < events {
            let batch = sse
                .next_batch(wait)
                .await?
                .ok_or("the resumed stream ended before every event")?;
            out.replayed += count(&batch, &mut seen, &mut distinct)?;
        }
        // Anything more within a moment would be a duplicate.
        if let Ok(Some(batch)) = sse.next_batch(Duration::from_millis(20)).await {
            out.replayed += count(&batch, &mut seen, &mut distinct)?;
        }
    }
    for &k in &seen {
        match k {
            0 => out.lost += 1,
            1 => {}
            k => out.duplicated += u64::from(k - 1),
        }
    }
    Ok(out)
}

/// Counts the numbered notifications of a batch into `seen`; returns how many there were.
fn count(batch: &[Value], seen: &mut [u32], distinct: &mut usize) -> Result<u64, BoxError> {
    for msg in batch {
        let n = msg["params"]["data"]["n"]
            .as_u64()
            .ok_or_else(|| format!("unexpected message {msg}"))?;
        let slot = seen
            .get_mut(usize::try_from(n)?)
            .ok_or_else(|| format!("event {n} out of range"))?;
        if *slot == 0 {
            *distinct += 1;
        }
        *slot += 1;
    }
    Ok(batch.len() as u64)
}
