//! Shared by the soak, stalled-reader, load and chaos binaries (`benches/soak.rs`,
//! `stalled.rs`, `load.rs`, `chaos.rs`): flags, an in-process loopback server, a hyper client,
//! an SSE reader built on the crate's own `SseDecoder`, figures and the verdict. `e2e.rs` uses
//! its client helpers and `machine()` (it runs its servers as child processes of its own).
//!
//! The server is the example server's (`examples/common`): `McpLayer` around the example
//! handler, mounted at `/mcp`, served by `hyper_util`'s `auto` builder with `TCP_NODELAY` and
//! `http1().writev(false)`, on its own tokio runtime and threads. The load generator runs on
//! the binary's main thread. Everything goes to 127.0.0.1.
#![allow(dead_code)]

#[path = "../../examples/common/mod.rs"]
pub(crate) mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_tower::sse::SseDecoder;
use mcp_tower::{McpLayer, McpRequest, McpResponse};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpSocket};
use tower::{service_fn, ServiceBuilder, ServiceExt};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The protocol revision every client here speaks (priming events, resumable streams).
pub(crate) const VERSION: &str = "2025-11-25";
/// The `initialize` every bench sends (the client name is the one `e2e` has always sent).
pub(crate) const INITIALIZE: &[u8] = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}"#;
pub(crate) const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

// ===== flags =====

/// `--name value` / `--name=value` flags; anything unknown is an error (cargo's own `--bench`
/// is ignored).
pub(crate) struct Args {
    args: Vec<String>,
}

impl Args {
    /// The command line, checked against the flags the binary knows (`--quick` always is).
    pub(crate) fn parse(known: &[&str], usage: &str) -> Result<Self, BoxError> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            let name = a.split_once('=').map_or(a.as_str(), |(n, _)| n);
            if a == "--bench" || name == "--quick" {
                i += 1;
                continue;
            }
            if a == "--help" || a == "-h" {
                eprintln!("{usage}");
                std::process::exit(0);
            }
            if !name.strip_prefix("--").is_some_and(|f| known.contains(&f)) {
                return Err(format!("unknown argument {a:?}\n{usage}").into());
            }
            i += if a.contains('=') { 1 } else { 2 };
        }
        Ok(Self { args })
    }

    pub(crate) fn quick(&self) -> bool {
        self.args.iter().any(|a| a == "--quick")
    }

    /// `--name`'s value, or `default`.
    pub(crate) fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, BoxError>
    where
        T::Err: std::fmt::Display,
    {
        let flag = format!("--{name}");
        let prefix = format!("--{name}=");
        let mut value = None;
        for (i, a) in self.args.iter().enumerate() {
            if *a == flag {
                value = Some(
                    self.args
                        .get(i + 1)
                        .map(String::as_str)
                        .ok_or(format!("{flag} needs a value"))?,
                );
            } else if let Some(v) = a.strip_prefix(&prefix) {
                value = Some(v);
            }
        }
        match value {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("{flag} {v:?}: {e}").into()),
        }
    }
}

// ===== the server =====

/// How the in-process server serves connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Serve {
    /// Worker threads of the server's runtime.
    pub(crate) workers: usize,
    /// hyper's `http1().max_buf_size` (`None`: hyper's default, 8 KiB + 400 KiB).
    pub(crate) max_buf: Option<usize>,
}

impl Default for Serve {
    fn default() -> Self {
        Self {
            workers: 1,
            max_buf: None,
        }
    }
}

/// hyper's default `max_buf_size`: what one HTTP/1 connection may buffer for writing.
pub(crate) const HYPER_DEFAULT_MAX_BUF: usize = 8192 + 4096 * 100;

/// The example server, on a runtime of its own in this process, until dropped.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `layer` around [`handle`] at `http://ADDR/mcp` on 127.0.0.1, any port.
    pub(crate) fn start(layer: &McpLayer, serve: Serve) -> Result<Self, BoxError> {
        let layer = layer.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(serve.workers.max(1))
                    .thread_name("server-worker")
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                rt.block_on(async move {
                    let listener = match TcpListener::bind(("127.0.0.1", 0)).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(listener.local_addr().map_err(|e| e.to_string()));
                    tokio::select! {
                        () = accept_loop(listener, layer, serve) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime ends every connection.
            })?;
        let addr = ready_rx.recv()??;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `examples/common/serve.rs` without the Ctrl-C drain.
async fn accept_loop(listener: TcpListener, layer: McpLayer, serve: Serve) {
    let mcp = ServiceBuilder::new().layer(layer).service_fn(handle);
    let app = service_fn(move |req: Request<Incoming>| {
        let mcp = mcp.clone();
        async move {
            if req.uri().path() == "/mcp" {
                mcp.oneshot(req).await
            } else {
                let mut res = Response::new(mcp_tower::McpBody::empty());
                *res.status_mut() = StatusCode::NOT_FOUND;
                Ok::<_, Infallible>(res)
            }
        }
    });
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: try again shortly rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().writev(false);
            if let Some(max) = serve.max_buf {
                builder.http1().max_buf_size(max);
            }
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

/// The example handler, plus `steps`: `n` progress notifications (default 40) on the call's
/// stream, yielding between them and sleeping 1 ms after every fourth (as the chaos test's
/// handler does), then `{"steps": n}`.
pub(crate) async fn handle(req: McpRequest) -> Result<McpResponse, Infallible> {
    let params = req.params();
    if req.method() == "tools/call"
        && params.and_then(|p| p.get("name")).and_then(Value::as_str) == Some("steps")
    {
        let n = params
            .and_then(|p| p["arguments"]["n"].as_u64())
            .unwrap_or(40)
            .min(10_000);
        let ctx = req.context();
        for step in 1..=n {
            ctx.progress(step as f64, Some(n as f64), None);
            if step % 4 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
        return Ok(McpResponse::result(json!({ "steps": n })));
    }
    common::handle(req).await
}

// ===== the client =====

/// One keep-alive HTTP/1.1 connection.
pub(crate) type Conn = SendRequest<Full<Bytes>>;

/// Connects to `addr` (`TCP_NODELAY`); `rcvbuf` shrinks the socket's receive buffer, so a
/// reader that stops reading is felt by the server at once instead of after megabytes.
pub(crate) async fn connect_with(addr: SocketAddr, rcvbuf: Option<u32>) -> Result<Conn, BoxError> {
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

pub(crate) async fn connect(addr: SocketAddr) -> Result<Conn, BoxError> {
    connect_with(addr, None).await
}

/// A POST of `body`, in `session` if given.
pub(crate) fn post(addr: SocketAddr, body: Bytes, session: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::post("/mcp")
        .header("host", addr.to_string())
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(id) = session {
        req = req
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", VERSION);
    }
    req.body(Full::new(body)).expect("a valid request")
}

/// A body-less request (GET or DELETE) in `session`.
pub(crate) fn bodiless(
    addr: SocketAddr,
    method: http::Method,
    session: &str,
) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri("/mcp")
        .header("host", addr.to_string())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", VERSION)
        .body(Full::new(Bytes::new()))
        .expect("a valid request")
}

/// A GET: the standalone stream, or a resumption after `last_event_id`.
pub(crate) fn get(
    addr: SocketAddr,
    session: &str,
    last_event_id: Option<&str>,
) -> Request<Full<Bytes>> {
    let mut req = bodiless(addr, http::Method::GET, session);
    if let Some(id) = last_event_id {
        req.headers_mut().insert(
            "last-event-id",
            http::HeaderValue::from_str(id).expect("an event id is a valid header value"),
        );
    }
    req
}

pub(crate) fn delete(addr: SocketAddr, session: &str) -> Request<Full<Bytes>> {
    bodiless(addr, http::Method::DELETE, session)
}

/// A `tools/call` of `name` with a progress token (so progress goes out as SSE).
pub(crate) fn tools_call(id: u64, name: &str, arguments: &Value) -> Bytes {
    Bytes::from(
        json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": name, "arguments": arguments, "_meta": { "progressToken": id } },
        })
        .to_string(),
    )
}

/// Sends `req` and waits for the response head.
pub(crate) async fn send(
    conn: &mut Conn,
    req: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, BoxError> {
    conn.ready().await?;
    Ok(conn.send_request(req).await?)
}

/// Sends one request and reads the whole answer; the status must be 2xx.
pub(crate) async fn roundtrip(
    conn: &mut Conn,
    req: Request<Full<Bytes>>,
) -> Result<(http::HeaderMap, Bytes), BoxError> {
    let res = send(conn, req).await?;
    let status = res.status();
    let (parts, body) = res.into_parts();
    let body = body.collect().await?.to_bytes();
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)).into());
    }
    Ok((parts.headers, body))
}

/// `initialize` + `notifications/initialized`; the session id.
pub(crate) async fn open_session(conn: &mut Conn, addr: SocketAddr) -> Result<String, BoxError> {
    let (headers, _) = roundtrip(conn, post(addr, Bytes::from_static(INITIALIZE), None)).await?;
    let id = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .ok_or("initialize answered without a session id")?
        .to_owned();
    roundtrip(conn, post(addr, Bytes::from_static(INITIALIZED), Some(&id))).await?;
    Ok(id)
}

/// The content type of a response.
pub(crate) fn content_type(headers: &http::HeaderMap) -> &str {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

// ===== reading SSE =====

/// An SSE response read frame by frame through the crate's `SseDecoder`.
pub(crate) struct SseReader {
    body: Incoming,
    decoder: SseDecoder,
    ended: bool,
}

impl SseReader {
    /// The body of a 200 `text/event-stream` response.
    pub(crate) fn new(res: Response<Incoming>) -> Result<Self, BoxError> {
        if res.status() != StatusCode::OK || content_type(res.headers()) != "text/event-stream" {
            return Err(format!(
                "expected a 200 event stream, got {} {}",
                res.status(),
                content_type(res.headers())
            )
            .into());
        }
        Ok(Self {
            body: res.into_body(),
            decoder: SseDecoder::new(),
            ended: false,
        })
    }

    /// The messages (JSON data) completed by the next frame, possibly none; `None` once the
    /// stream ended. At most `wait` for a frame.
    pub(crate) async fn next_batch(
        &mut self,
        wait: Duration,
    ) -> Result<Option<Vec<Value>>, BoxError> {
        if self.ended {
            return Ok(None);
        }
        let frame = tokio::time::timeout(wait, self.body.frame())
            .await
            .map_err(|_| format!("no SSE frame within {wait:?}"))?;
        match frame {
            None => {
                self.ended = true;
                Ok(None)
            }
            Some(frame) => {
                let mut out = Vec::new();
                if let Ok(data) = frame?.into_data() {
                    self.decoder.push(&data);
                    while let Some(event) = self.decoder.next_event()? {
                        out.push(serde_json::from_str(event.data())?);
                    }
                }
                Ok(Some(out))
            }
        }
    }

    /// The id of the last event received whole (priming events included): where to resume.
    pub(crate) fn cursor(&self) -> Option<&str> {
        self.decoder.last_event_id()
    }

    pub(crate) fn ended(&self) -> bool {
        self.ended
    }
}

// ===== figures =====

/// VmRSS of this process, bytes.
pub(crate) fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub(crate) fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// Latencies in microseconds.
#[derive(Default)]
pub(crate) struct Latencies(Vec<u32>);

impl Latencies {
    pub(crate) fn record(&mut self, since: Instant) {
        self.0
            .push(u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX));
    }

    pub(crate) fn merge(&mut self, other: Self) {
        self.0.extend(other.0);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (0–100), µs.
    pub(crate) fn percentile(&mut self, p: f64) -> u32 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[rank.min(self.0.len() - 1)]
    }
}

/// A small deterministic generator (splitmix64).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// CPU, cores, kernel, rustc and load average, for the report.
pub(crate) fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let kernel = read("/proc/sys/kernel/osrelease");
    let load = read("/proc/loadavg");
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores; Linux {}; {}; load average at start {}",
        kernel.trim(),
        rustc.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// A single-threaded runtime for the load generator.
pub(crate) fn client_runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Prints the verdict: every failed check, or PASS. Non-zero exit on any failure.
pub(crate) fn verdict(name: &str, failures: &[String]) -> ExitCode {
    if failures.is_empty() {
        println!("{name}: PASS");
        ExitCode::SUCCESS
    } else {
        for f in failures {
            println!("{name}: FAIL: {f}");
        }
        ExitCode::FAILURE
    }
}
