//! End-to-end load benchmark over loopback: the example MCP server (hyper + `McpLayer`) against
//! a bare hyper server that answers every POST with a fixed JSON-RPC result (the ceiling).
//!
//! ```text
//! cargo bench --bench e2e              # the full run, about three minutes
//! cargo bench --bench e2e -- --quick   # one short run of everything, to try it out
//! ```
//!
//! One run of this binary is the orchestrator and the load generator (a hyper client with
//! keep-alive connections, on one thread, pinned to core 1). It starts each server as a
//! separate process (this same binary with `--role ceiling|mcp`, pinned to core 0 with
//! `taskset`), so `/proc/PID/stat` and `/proc/PID/status` hold that server's CPU and memory and
//! nothing else. Both servers set `TCP_NODELAY` and serve connections the same way
//! (`hyper_util::server::conn::auto`, as `examples/server.rs` does). Runs alternate ceiling and
//! MCP server, and every figure is reported as a ratio to the ceiling of the same run, median
//! and spread (min–max) over the runs.
//!
//! The fan-out of one notification to 10,000 open streams (one reader stalled) is measured
//! in-process, on the service itself.
//!
//! Everything is bounded: each measuring loop stops after a few seconds or a fixed number of
//! requests, servers exit when this process goes away (their stdin closes) or after ten
//! minutes, and traffic goes to 127.0.0.1 only. The report is printed and written to
//! `target/tmp/e2e-report.md`.
#![allow(clippy::cast_precision_loss)]

mod support;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_tower::{Change, McpBody, McpLayer, McpService, ResponseMode};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::{service_fn, ServiceBuilder, ServiceExt};

use support::{
    bodiless, common, connect, machine, open_session, post, roundtrip, BoxError, INITIALIZE,
    INITIALIZED,
};

/// Sessions the `tools/call` load is spread over.
const SESSIONS: usize = 64;
/// What the ceiling answers to every POST: the echo tool's answer, byte for byte.
const FIXED_RESULT: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"text":"hello, world","type":"text"}]}}"#;
/// No single measuring loop runs past this many requests.
const MAX_REQUESTS: u64 = 2_000_000;

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--role") {
        return match args.get(i + 1).map(String::as_str) {
            Some("ceiling") => serve(Role::Ceiling),
            Some("mcp") => serve(Role::Mcp),
            other => Err(format!("unknown role {other:?}").into()),
        };
    }
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        let what = args.get(i + 1).map_or("post-json", String::as_str);
        let n = args
            .get(i + 2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000);
        return profile(what, n);
    }
    let mut plan = if args.iter().any(|a| a == "--quick") {
        Plan::QUICK
    } else {
        Plan::FULL
    };
    if let Some(i) = args.iter().position(|a| a == "--only") {
        plan.only = args.get(i + 1).cloned();
    }
    orchestrate(&plan)
}

// ===== a driver for valgrind =====

/// VmRSS of this process, in bytes.
fn rss() -> f64 {
    support::rss() as f64
}

/// A legacy (2024-11-05) connect, `initialize` and `notifications/initialized`: the endpoint
/// URL and the session's stream, past the answer.
async fn open_legacy<S>(svc: &S, addr: SocketAddr) -> Result<(String, LegacyStream), BoxError>
where
    S: tower::Service<Request<Full<Bytes>>, Response = Response<McpBody>> + Clone,
    S::Error: Into<BoxError>,
{
    let req = Request::get("/sse")
        .header("host", addr.to_string())
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))?;
    let res = svc.clone().oneshot(req).await.map_err(Into::into)?;
    let mut stream = (res.into_body(), mcp_tower::sse::SseDecoder::new());
    let url = next_data(&mut stream).await?;
    for body in [INITIALIZE, INITIALIZED] {
        let req = legacy_post(addr, &url, Bytes::from_static(body));
        let res = svc.clone().oneshot(req).await.map_err(Into::into)?;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let answer = next_data(&mut stream).await?;
    assert!(answer.contains("protocolVersion"));
    Ok((url, stream))
}

/// A legacy session's stream and the decoder reading it.
type LegacyStream = (McpBody, mcp_tower::sse::SseDecoder);

fn legacy_post(addr: SocketAddr, url: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::post(url)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("valid request")
}

/// The data of the next event on a legacy stream.
async fn next_data((body, decoder): &mut LegacyStream) -> Result<String, BoxError> {
    loop {
        if let Some(event) = decoder.next_event()? {
            return Ok(event.into_data());
        }
        let frame = body.frame().await.ok_or("the stream ended")??;
        if let Ok(data) = frame.into_data() {
            decoder.push(&data);
        }
    }
}

/// Runs one operation `n` times in-process, on one thread, for `valgrind --tool=callgrind`
/// (instructions per operation: run it at two `n` and divide the difference) or
/// `valgrind --tool=dhat` (`idle`: heap per idle session + stream, held until exit).
///
/// ```text
/// valgrind --tool=callgrind target/release/deps/e2e-* --profile post-json 2000
/// ```
fn profile(what: &str, n: usize) -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mode = match what {
        "post-sse" => ResponseMode::Sse,
        "post-json-mode" => ResponseMode::Json,
        _ => ResponseMode::Adaptive,
    };
    let layer = McpLayer::new()
        .response_mode(mode)
        .max_sessions(n + 16)
        .legacy_sse("/sse", "/messages");
    let fanout_sessions = layer.sessions();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(common::handle);
    let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let open = |svc: &_| {
        let svc: &McpService<_> = svc;
        let svc = svc.clone();
        async move {
            let res = svc
                .clone()
                .oneshot(post(addr, Bytes::from_static(INITIALIZE), None))
                .await?;
            let id = res.headers()["mcp-session-id"].to_str()?.to_owned();
            let _ = res.into_body().collect().await;
            let res = svc
                .oneshot(post(addr, Bytes::from_static(INITIALIZED), Some(&id)))
                .await?;
            assert_eq!(res.status(), StatusCode::ACCEPTED);
            Ok::<_, BoxError>(id)
        }
    };
    rt.block_on(async {
        match what {
            "post-json" | "post-sse" | "post-json-mode" => {
                let id = open(&svc).await?;
                for i in 0..n {
                    let req = post(addr, tools_call(i as u64), Some(&id));
                    let res = svc.clone().oneshot(req).await?;
                    let body = res.into_body().collect().await?.to_bytes();
                    assert!(!body.is_empty());
                }
            }
            "post-stateless" => {
                // A 2026-07-28 tools/call: no session to open or find.
                for i in 0..n {
                    let res = svc.clone().oneshot(stateless_call(addr, i as u64)).await?;
                    assert_eq!(res.status(), StatusCode::OK);
                    let body = res.into_body().collect().await?.to_bytes();
                    assert!(!body.is_empty());
                }
            }
            "handler" => {
                let params: serde_json::Value =
                    serde_json::from_slice::<serde_json::Value>(&tools_call(0))?["params"].clone();
                for i in 0..n {
                    let req =
                        mcp_tower::McpRequest::new(i as i64, "tools/call", Some(params.clone()));
                    let _ = common::handle(req).await;
                }
            }
            "setup" => {
                for _ in 0..n {
                    let id = open(&svc).await?;
                    let res = svc
                        .clone()
                        .oneshot(bodiless(addr, http::Method::DELETE, &id))
                        .await?;
                    assert_eq!(res.status(), StatusCode::OK);
                }
            }
            "post-legacy" | "post-json-timed" => {
                // Wall time per tools/call on one thread, legacy (POST 202 + the answer read
                // from the stream) or Streamable HTTP JSON: `post-json-timed` is the baseline.
                let legacy = what == "post-legacy";
                let (url, mut stream) = if legacy {
                    let (url, stream) = open_legacy(&svc, addr).await?;
                    (url, Some(stream))
                } else {
                    (open(&svc).await?, None)
                };
                let start = std::time::Instant::now();
                for i in 0..n {
                    if let Some(stream) = &mut stream {
                        let req = legacy_post(addr, &url, tools_call(i as u64));
                        let res = svc.clone().oneshot(req).await?;
                        assert_eq!(res.status(), StatusCode::ACCEPTED);
                        let answer = next_data(stream).await?;
                        assert!(answer.contains("hello, world"));
                    } else {
                        let req = post(addr, tools_call(i as u64), Some(&url));
                        let res = svc.clone().oneshot(req).await?;
                        let body = res.into_body().collect().await?.to_bytes();
                        assert!(!body.is_empty());
                    }
                }
                eprintln!(
                    "{what}: {:.2} us per tools/call",
                    start.elapsed().as_secs_f64() * 1e6 / n as f64
                );
            }
            "idle-legacy" => {
                // N idle legacy sessions, initialized, each with its one stream held open.
                let before = rss();
                let mut held = Vec::with_capacity(n);
                for _ in 0..n {
                    // The body only, as `idle-streams` holds: the decoder is the client's.
                    held.push(open_legacy(&svc, addr).await?.1 .0);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                std::hint::black_box(&held);
                eprintln!(
                    "VmRSS growth per {what}: {:.0} B",
                    (rss() - before) / n as f64
                );
            }
            "idle" | "idle-streams" => {
                let before = rss();
                let mut held = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = open(&svc).await?;
                    if what == "idle-streams" {
                        let res = svc
                            .clone()
                            .oneshot(bodiless(addr, http::Method::GET, &id))
                            .await?;
                        assert_eq!(res.status(), StatusCode::OK);
                        held.push(res.into_body());
                    }
                }
                // Let every stream write its priming event and park.
                tokio::time::sleep(Duration::from_millis(50)).await;
                std::hint::black_box(&held);
                eprintln!(
                    "VmRSS growth per {what}: {:.0} B",
                    (rss() - before) / n as f64
                );
            }
            "broadcast" => {
                // `n` sessions with a GET stream each, read; 20 broadcasts. Count the calls
                // alone with --toggle-collect='*Sessions::broadcast*'.
                let layer_sessions = fanout_sessions.clone();
                let mut bodies = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = open(&svc).await?;
                    let res = svc
                        .clone()
                        .oneshot(bodiless(addr, http::Method::GET, &id))
                        .await?;
                    bodies.push(res.into_body());
                }
                let _tally = readers(bodies);
                let rounds = std::env::var("E2E_BROADCASTS").map_or(Ok(20), |v| v.parse())?;
                for _ in 0..rounds {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let report = layer_sessions.broadcast("notifications/tools/list_changed", None);
                    assert_eq!(report.delivered, n);
                }
            }
            other => return Err(format!("unknown profile {other}").into()),
        }
        Ok(())
    })
}

// ===== servers =====

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Ceiling,
    Mcp,
}

/// Runs one server until stdin closes: binds 127.0.0.1:0, prints the port, serves.
fn serve(role: Role) -> Result<(), BoxError> {
    // The runtime `#[tokio::main]` builds in examples/server.rs; pinned to one core it has one
    // worker thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(|| {
        // The orchestrator holds our stdin: when it goes away, so do we.
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(600));
        std::process::exit(0);
    });
    rt.block_on(async move {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        println!("port {}", listener.local_addr()?.port());
        match role {
            Role::Ceiling => accept_loop(listener, service_fn(ceiling)).await,
            Role::Mcp => {
                // examples/server.rs, minus the Ctrl-C drain: same layer, handler and routing.
                let mode = match std::env::var("MCP_RESPONSE_MODE").as_deref() {
                    Ok("sse") => ResponseMode::Sse,
                    Ok("json") => ResponseMode::Json,
                    _ => ResponseMode::Adaptive,
                };
                let mcp = ServiceBuilder::new()
                    .layer(McpLayer::new().response_mode(mode))
                    .service_fn(common::handle);
                let app = service_fn(move |req: Request<Incoming>| {
                    let mcp = mcp.clone();
                    async move {
                        if req.uri().path() == "/mcp" {
                            mcp.oneshot(req).await
                        } else {
                            let mut res = Response::new(McpBody::empty());
                            *res.status_mut() = StatusCode::NOT_FOUND;
                            Ok::<_, Infallible>(res)
                        }
                    }
                });
                accept_loop(listener, app).await
            }
        }
    })
}

async fn accept_loop<S, B>(listener: TcpListener, app: S) -> Result<(), BoxError>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes, Error = Infallible> + Send + 'static,
{
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let svc = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // Both servers copy body chunks into one write buffer instead of queueing them
            // (hyper's `http1().writev(false)`), as the example server does; E2E_FLATTEN=0 keeps
            // hyper's default.
            if std::env::var("E2E_FLATTEN").as_deref() != Ok("0") {
                builder.http1().writev(false);
            }
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

/// The ceiling: reads the body, answers a fixed result; a GET is held open as an endless
/// chunked `text/event-stream` response.
async fn ceiling(req: Request<Incoming>) -> Result<Response<CeilingBody>, Infallible> {
    let get = req.method() == http::Method::GET;
    let _ = req.into_body().collect().await;
    let mut res = Response::new(if get {
        CeilingBody::Endless
    } else {
        CeilingBody::Full(Some(Bytes::from_static(FIXED_RESULT)))
    });
    let content_type = if get {
        "text/event-stream"
    } else {
        "application/json"
    };
    res.headers_mut()
        .insert("content-type", http::HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert("mcp-session-id", http::HeaderValue::from_static("ceiling"));
    Ok(res)
}

/// A fixed body, or one that never ends and never sends.
enum CeilingBody {
    Full(Option<Bytes>),
    Endless,
}

impl http_body::Body for CeilingBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Self::Endless => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Self::Full(data) => {
                http_body::SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Self::Endless => http_body::SizeHint::default(),
        }
    }
}

struct Server {
    role: Role,
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(role: Role, mode: Option<&str>) -> Result<Self, BoxError> {
        let exe = std::env::current_exe()?;
        let name = match role {
            Role::Ceiling => "ceiling",
            Role::Mcp => "mcp",
        };
        // E2E_SERVER_WRAP="valgrind --tool=dhat" runs the servers under a tool.
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if pinning() {
            argv.extend(["taskset", "-c", "0"].map(Into::into));
        }
        argv.extend(wrapper().iter().map(Into::into));
        argv.push(exe.into());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .args(["--role", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(mode) = mode {
            cmd.env("MCP_RESPONSE_MODE", mode);
        }
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port: u16 = line
            .trim()
            .strip_prefix("port ")
            .ok_or_else(|| format!("{name} server said {line:?}"))?
            .parse()?;
        Ok(Self {
            role,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// utime + stime of the whole process, in seconds.
    fn cpu(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // Fields 14 and 15 of stat; `fields[0]` is field 3.
        (ticks(11) + ticks(12)) as f64 / clock_ticks()
    }

    /// VmRSS in bytes.
    fn rss(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb * 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing its stdin ends the server (a tool wrapping it gets to write its report).
        drop(self.child.stdin.take());
        let grace = if wrapper().is_empty() { 2 } else { 120 };
        let deadline = Instant::now() + Duration::from_secs(grace);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wrapper() -> &'static [String] {
    static WRAP: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    WRAP.get_or_init(|| {
        std::env::var("E2E_SERVER_WRAP")
            .map(|w| w.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    })
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn pinning() -> bool {
    static PIN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PIN.get_or_init(|| {
        let ok = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        ok && cores >= 2
    })
}

// ===== the load generator =====

/// A 2026-07-28 `tools/call`: stateless, with the era's headers and `_meta`.
fn stateless_call(addr: SocketAddr, id: u64) -> Request<Full<Bytes>> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello, world"}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    Request::post("/mcp")
        .header("host", addr.to_string())
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(Full::new(Bytes::from(body)))
        .expect("valid request")
}

fn tools_call(id: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello, world"}}}}}}"#
    ))
}

/// What one measuring window saw.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    /// Server CPU per operation, µs.
    cpu_us: f64,
}

/// How long a measuring window lasts: at least `min`, and on until the server has used
/// `min_cpu` seconds of CPU (so the 10 ms ticks of `/proc/PID/stat` matter little), but never
/// past `max`.
#[derive(Clone, Copy, Debug)]
struct Window {
    warm_up: Duration,
    min: Duration,
    max: Duration,
    min_cpu: f64,
}

/// The operation each worker repeats.
#[derive(Clone)]
enum Load {
    /// `tools/call` echo, on the worker's session.
    ToolsCall(Arc<Vec<String>>),
    /// initialize + notifications/initialized + DELETE.
    SessionSetup,
    /// `tools/call` echo in the stateless 2026-07-28 era: no session.
    Stateless,
}

async fn once(
    load: &Load,
    addr: SocketAddr,
    conn: &mut SendRequest<Full<Bytes>>,
    worker: usize,
    seq: u64,
) -> Result<(), BoxError> {
    match load {
        Load::ToolsCall(sessions) => {
            let session = &sessions[worker % sessions.len()];
            let (_, body) = roundtrip(conn, post(addr, tools_call(seq), Some(session))).await?;
            if body.is_empty() {
                return Err("empty answer".into());
            }
        }
        Load::SessionSetup => {
            let id = open_session(conn, addr).await?;
            roundtrip(conn, bodiless(addr, http::Method::DELETE, &id)).await?;
        }
        Load::Stateless => {
            let (headers, body) = roundtrip(conn, stateless_call(addr, seq)).await?;
            if body.is_empty() || headers.contains_key("mcp-session-id") {
                return Err("a stateless call must answer, and name no session".into());
            }
        }
    }
    Ok(())
}

/// Runs `load` on `workers` concurrent workers, each on its own connection, and measures one
/// window.
async fn measure(
    server: &Server,
    window: Window,
    workers: usize,
    load: &Load,
) -> Result<Sample, BoxError> {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let mut conn = connect(server.addr).await?;
        let (measuring, stop, load, addr) =
            (measuring.clone(), stop.clone(), load.clone(), server.addr);
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) && seq < MAX_REQUESTS {
                let start = Instant::now();
                once(&load, addr, &mut conn, worker, seq).await?;
                seq += 1;
                if measuring.load(Ordering::Relaxed) {
                    let us = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
                    latencies.push(us);
                }
            }
            Ok::<_, BoxError>(latencies)
        }));
    }
    tokio::time::sleep(window.warm_up).await;
    let cpu0 = server.cpu();
    let t0 = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let elapsed = t0.elapsed();
        if elapsed >= window.max || (elapsed >= window.min && server.cpu() - cpu0 >= window.min_cpu)
        {
            break;
        }
    }
    measuring.store(false, Ordering::Relaxed);
    let cpu = server.cpu() - cpu0;
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    if all.is_empty() {
        return Err("no operation completed in the window".into());
    }
    all.sort_unstable();
    let pct = |p: f64| f64::from(all[((all.len() - 1) as f64 * p).round() as usize]);
    Ok(Sample {
        per_sec: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_us: cpu * 1e6 / all.len() as f64,
    })
}

/// Opens `n` sessions over `conns` connections at once.
async fn open_sessions(addr: SocketAddr, n: usize, conns: usize) -> Result<Vec<String>, BoxError> {
    let mut tasks = Vec::with_capacity(conns);
    for c in 0..conns {
        let mut conn = connect(addr).await?;
        let count = n / conns + usize::from(c < n % conns);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(count);
            for _ in 0..count {
                ids.push(open_session(&mut conn, addr).await?);
            }
            Ok::<_, BoxError>(ids)
        }));
    }
    let mut ids = Vec::with_capacity(n);
    for task in tasks {
        ids.extend(task.await??);
    }
    Ok(ids)
}

/// An open GET stream: its connection and the response whose body is never read.
type Held = (SendRequest<Full<Bytes>>, Response<Incoming>);

/// Opens one GET stream per session, each on its own connection, 64 connects at a time.
async fn open_streams(addr: SocketAddr, ids: &[String]) -> Result<Vec<Held>, BoxError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(ids.iter().cloned())
        .map(|id| async move {
            let mut conn = connect(addr).await?;
            conn.ready().await?;
            let res = conn
                .send_request(bodiless(addr, http::Method::GET, &id))
                .await?;
            if res.status() != StatusCode::OK {
                return Err(format!("GET stream: {}", res.status()).into());
            }
            Ok::<Held, BoxError>((conn, res))
        })
        .buffer_unordered(64)
        .try_collect()
        .await
}

/// Resident memory per idle session and per idle open stream, bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Mem {
    session: f64,
    stream: f64,
    both: f64,
}

/// Warms the server up, then opens `n` sessions and `n` GET streams, reading VmRSS before,
/// between and after. Returns the open streams too: drop them after the server.
async fn memory(server: &Server, n: usize) -> Result<(Mem, Vec<Held>), BoxError> {
    let addr = server.addr;
    // Warm-up: the allocator, the runtime and the connection paths have run once.
    let warm = open_sessions(addr, 256, 16).await?;
    drop(open_streams(addr, &warm[..64]).await?);
    let mut conn = connect(addr).await?;
    for id in &warm {
        roundtrip(&mut conn, bodiless(addr, http::Method::DELETE, id)).await?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss0 = server.rss();
    let ids = open_sessions(addr, n, 32).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss1 = server.rss();
    let held = open_streams(addr, &ids).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss2 = server.rss();
    let n = n as f64;
    let mem = Mem {
        session: (rss1 - rss0) / n,
        stream: (rss2 - rss1) / n,
        both: (rss2 - rss0) / n,
    };
    Ok((mem, held))
}

// ===== fan-out, in-process =====

/// One broadcast: how long the call took, and how long until every live reader had the
/// message in hand; the first to fresh streams (cold), then the median of three more (warm).
#[derive(Clone, Copy, Debug, Default)]
struct Fanout {
    call_ms: f64,
    delivered_ms: f64,
    warm_call_ms: f64,
    warm_delivered_ms: f64,
    delivered: usize,
    queued: usize,
}

/// Broadcasts after the first, to streams already used.
const WARM_ROUNDS: usize = 3;

/// Counts, across readers, the frames that arrive once armed; wakes `all` when the count
/// reaches `target`, and notes when.
struct Tally {
    armed: AtomicBool,
    got: AtomicUsize,
    target: AtomicUsize,
    all: Notify,
    last: std::sync::Mutex<Option<Instant>>,
}

impl Tally {
    /// Arms the next round: `total` more frames to come. Returns when it started.
    fn next_round(&self, total: usize) -> Instant {
        *self.last.lock().expect("not poisoned") = None;
        self.target.fetch_add(total, Ordering::Relaxed);
        self.armed.store(true, Ordering::Relaxed);
        Instant::now()
    }

    /// Waits (10 s at most) until the round is complete; returns when it completed.
    async fn done(&self) -> Result<Instant, BoxError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = *self.last.lock().expect("not poisoned") {
                return Ok(at);
            }
            tokio::time::timeout_at(deadline.into(), self.all.notified()).await?;
        }
    }
}

/// Spawns a reader per body, counting into a shared [`Tally`].
fn readers<B>(bodies: Vec<B>) -> Arc<Tally>
where
    B: http_body::Body + Send + Unpin + 'static,
{
    let tally = Arc::new(Tally {
        armed: AtomicBool::new(false),
        got: AtomicUsize::new(0),
        target: AtomicUsize::new(0),
        all: Notify::new(),
        last: std::sync::Mutex::new(None),
    });
    for mut body in bodies {
        let tally = tally.clone();
        tokio::spawn(async move {
            while let Some(frame) = body.frame().await {
                if frame.is_ok() && tally.armed.load(Ordering::Relaxed) {
                    let got = tally.got.fetch_add(1, Ordering::Relaxed) + 1;
                    if got == tally.target.load(Ordering::Relaxed) {
                        *tally.last.lock().expect("not poisoned") = Some(Instant::now());
                        tally.all.notify_one();
                    }
                }
            }
        });
    }
    tally
}

/// Times `1 + WARM_ROUNDS` rounds of `send` to `live` readers.
async fn rounds(
    tally: &Tally,
    live: usize,
    mut send: impl FnMut() -> (usize, usize),
) -> Result<Fanout, BoxError> {
    let mut out = Fanout::default();
    let (mut warm_call, mut warm_delivered) = (Vec::new(), Vec::new());
    for round in 0..=WARM_ROUNDS {
        // Let every reader take what came before and park.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t0 = tally.next_round(live);
        let (delivered, queued) = send();
        let call = t0.elapsed().as_secs_f64() * 1e3;
        let done = (tally.done().await? - t0).as_secs_f64() * 1e3;
        if round == 0 {
            (out.call_ms, out.delivered_ms) = (call, done);
            (out.delivered, out.queued) = (delivered, queued);
        } else {
            warm_call.push(call);
            warm_delivered.push(done);
        }
    }
    out.warm_call_ms = median(warm_call);
    out.warm_delivered_ms = median(warm_delivered);
    Ok(out)
}

/// `n` sessions with a GET stream each, all read by a task except one, whose channel is full
/// (it never reads); then `notifications/tools/list_changed` to everyone.
async fn fanout_mcp(n: usize) -> Result<Fanout, BoxError> {
    let layer = McpLayer::new().max_sessions(n + 16);
    let sessions = layer.sessions();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(common::handle);
    let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let mut bodies = Vec::with_capacity(n);
    let mut stalled_id = String::new();
    for i in 0..n {
        let res = svc
            .clone()
            .oneshot(post(addr, Bytes::from_static(INITIALIZE), None))
            .await?;
        let id = res.headers()["mcp-session-id"].to_str()?.to_owned();
        let res = svc
            .clone()
            .oneshot(post(addr, Bytes::from_static(INITIALIZED), Some(&id)))
            .await?;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let res = svc
            .clone()
            .oneshot(bodiless(addr, http::Method::GET, &id))
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
        bodies.push(res.into_body());
        if i == 0 {
            stalled_id = id;
        }
    }
    // The stalled reader: never read, its channel filled to capacity (priming + 63).
    let stalled = sessions.get(&stalled_id).ok_or("stalled session gone")?;
    for _ in 0..mcp_tower::DEFAULT_STREAM_CAPACITY - 1 {
        stalled.notify("notifications/message", None);
    }
    let mut bodies = bodies.into_iter();
    let _stalled_body = bodies.next();
    let tally = readers(bodies.collect());
    rounds(&tally, n - 1, || {
        let report = sessions.broadcast("notifications/tools/list_changed", None);
        (report.delivered, report.queued)
    })
    .await
}

/// `n` `subscriptions/listen` streams (2026-07-28), all read by a task except one that never
/// reads (its channel filled first, so the measured publishes find it full); then one
/// `Publisher::publish` of a tool-list change to everyone.
async fn fanout_listen(n: usize) -> Result<Fanout, BoxError> {
    let layer = McpLayer::new().max_listen_streams(n + 16);
    let publisher = layer.publisher();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(common::handle);
    let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let mut bodies = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"subscriptions/listen","params":{{"notifications":{{"toolsListChanged":true}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        );
        let req = Request::post("/mcp")
            .header("host", addr.to_string())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "subscriptions/listen")
            .body(Full::new(Bytes::from(body)))?;
        let res = svc.clone().oneshot(req).await?;
        assert_eq!(res.status(), StatusCode::OK);
        bodies.push(res.into_body());
    }
    let mut bodies = bodies.into_iter();
    let _stalled_body = bodies.next();
    let tally = readers(bodies.collect());
    // Fill the stalled stream (its acknowledgement is already queued) up to one below its
    // capacity; the live readers drain theirs meanwhile.
    for _ in 0..mcp_tower::DEFAULT_STREAM_CAPACITY - 2 {
        let _ = publisher.publish(&Change::ToolsListChanged);
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    rounds(&tally, n - 1, || {
        let report = publisher.publish(&Change::ToolsListChanged);
        (report.listen_streams, n - report.listen_streams)
    })
    .await
}

/// The floor: `n` bare bounded channels, a reader on each but one (full), one `try_send` each.
async fn fanout_channels(n: usize) -> Result<Fanout, BoxError> {
    let mut senders = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, body) = mcp_tower::sse::channel(mcp_tower::DEFAULT_STREAM_CAPACITY);
        senders.push(tx);
        bodies.push(body);
    }
    for _ in 0..mcp_tower::DEFAULT_STREAM_CAPACITY {
        let _ = senders[0].try_send(Bytes::from_static(b"data: filler\n\n"));
    }
    let mut bodies = bodies.into_iter();
    let _stalled_body = bodies.next();
    let tally = readers(bodies.collect());
    let event = Bytes::from_static(
        b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n",
    );
    rounds(&tally, n - 1, || {
        let (mut delivered, mut queued) = (0, 0);
        for tx in &senders {
            match tx.try_send(event.clone()) {
                Ok(()) => delivered += 1,
                Err(_) => queued += 1,
            }
        }
        (delivered, queued)
    })
    .await
}

// ===== the run =====

struct Plan {
    runs: usize,
    window: Window,
    concurrency: &'static [usize],
    idle: &'static [usize],
    fanout: usize,
    /// `--only tools|setup|idle|fanout`: one part of the run.
    only: Option<String>,
}

impl Plan {
    fn runs(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == part)
    }

    const FULL: Self = Self {
        runs: 3,
        window: Window {
            warm_up: Duration::from_millis(300),
            min: Duration::from_millis(1500),
            max: Duration::from_secs(3),
            min_cpu: 0.5,
        },
        concurrency: &[1, 16, 128],
        idle: &[1_000, 10_000],
        fanout: 10_000,
        only: None,
    };
    const QUICK: Self = Self {
        runs: 1,
        window: Window {
            warm_up: Duration::from_millis(100),
            min: Duration::from_millis(300),
            max: Duration::from_millis(600),
            min_cpu: 0.0,
        },
        concurrency: &[1, 16, 128],
        idle: &[1_000],
        fanout: 1_000,
        only: None,
    };
}

/// One scenario: a sample per run for the ceiling and for the MCP server.
struct Row {
    name: String,
    ceiling: Vec<Sample>,
    mcp: Vec<Sample>,
}

#[derive(Default)]
struct Results {
    rows: Vec<Row>,
    /// Per N: per run, (ceiling, mcp).
    memory: Vec<(usize, Vec<(Mem, Mem)>)>,
    /// Per run: (bare channels, mcp).
    fanout: Vec<(Fanout, Fanout)>,
    /// Per run: publish to `subscriptions/listen` streams.
    listen: Vec<Fanout>,
}

fn row<'a>(rows: &'a mut Vec<Row>, name: &str) -> &'a mut Row {
    if let Some(i) = rows.iter().position(|r| r.name == name) {
        return &mut rows[i];
    }
    rows.push(Row {
        name: name.to_owned(),
        ceiling: Vec::new(),
        mcp: Vec::new(),
    });
    rows.last_mut().expect("just pushed")
}

fn orchestrate(plan: &Plan) -> Result<(), BoxError> {
    let machine = machine();
    if pinning() {
        // The load generator (this process, one thread) on core 1; servers on core 0.
        Command::new("taskset")
            .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()?;
    } else {
        eprintln!("warning: taskset or a second core is missing; running unpinned");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut results = Results::default();
    rt.block_on(async {
        for run in 0..plan.runs {
            eprintln!(
                "run {}/{}: tools/call ({:.0} s so far)",
                run + 1,
                plan.runs,
                started.elapsed().as_secs_f64()
            );
            if plan.runs("tools") {
                tools_call_runs(plan, &mut results).await?;
            }
            if plan.runs("setup") {
                eprintln!("run {}/{}: session setup", run + 1, plan.runs);
                session_setup(plan, &mut results).await?;
            }
            if plan.runs("idle") {
                eprintln!("run {}/{}: idle sessions and streams", run + 1, plan.runs);
                idle_runs(plan, &mut results).await?;
            }
            if plan.runs("fanout") {
                eprintln!("run {}/{}: fan-out", run + 1, plan.runs);
                let floor = fanout_channels(plan.fanout).await?;
                let mcp = fanout_mcp(plan.fanout).await?;
                results.fanout.push((floor, mcp));
                results.listen.push(fanout_listen(plan.fanout).await?);
            }
        }
        Ok::<_, BoxError>(())
    })?;
    let report = report(plan, &results, &machine, started.elapsed());
    println!("{report}");
    let path = concat!(env!("CARGO_TARGET_TMPDIR"), "/e2e-report.md");
    std::fs::write(path, &report)?;
    eprintln!("written to {path}");
    Ok(())
}

async fn tools_call_runs(plan: &Plan, results: &mut Results) -> Result<(), BoxError> {
    for (role, mode) in [
        (Role::Ceiling, None),
        (Role::Mcp, Some("adaptive")),
        (Role::Mcp, Some("sse")),
    ] {
        let server = Server::start(role, mode)?;
        let ids = Arc::new(open_sessions(server.addr, SESSIONS, 4).await?);
        check_answer(&server, &ids[0], mode).await?;
        for &c in plan.concurrency {
            let sample = measure(&server, plan.window, c, &Load::ToolsCall(ids.clone())).await?;
            let json = format!("tools/call, JSON answer, {c} in flight");
            let sse = format!("tools/call, SSE answer, {c} in flight");
            match (role, mode) {
                (Role::Ceiling, _) => {
                    row(&mut results.rows, &json).ceiling.push(sample);
                    row(&mut results.rows, &sse).ceiling.push(sample);
                    row(&mut results.rows, &stateless_row(c))
                        .ceiling
                        .push(sample);
                }
                (Role::Mcp, Some("sse")) => row(&mut results.rows, &sse).mcp.push(sample),
                (Role::Mcp, _) => row(&mut results.rows, &json).mcp.push(sample),
            }
            if (role, mode) == (Role::Mcp, Some("adaptive")) {
                let sample = measure(&server, plan.window, c, &Load::Stateless).await?;
                row(&mut results.rows, &stateless_row(c)).mcp.push(sample);
            }
        }
    }
    Ok(())
}

fn stateless_row(c: usize) -> String {
    format!("tools/call, stateless (2026-07-28), JSON answer, {c} in flight")
}

/// One `tools/call` answered as the scenario says: the echo result, as JSON or as SSE.
async fn check_answer(server: &Server, session: &str, mode: Option<&str>) -> Result<(), BoxError> {
    let mut conn = connect(server.addr).await?;
    let (headers, body) =
        roundtrip(&mut conn, post(server.addr, tools_call(7), Some(session))).await?;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let expected = match (server.role, mode) {
        (Role::Mcp, Some("sse")) => "text/event-stream",
        _ => "application/json",
    };
    let text = String::from_utf8_lossy(&body);
    if content_type != expected || !text.contains("hello, world") {
        return Err(format!("{:?} answered {content_type}: {text}", server.role).into());
    }
    Ok(())
}

async fn idle_runs(plan: &Plan, results: &mut Results) -> Result<(), BoxError> {
    for &n in plan.idle {
        let mut mem = [Mem::default(); 2];
        for (i, role) in [Role::Ceiling, Role::Mcp].into_iter().enumerate() {
            let server = Server::start(role, None)?;
            let (m, held) = memory(&server, n).await?;
            // The server goes first, so the client side does not hold 10,000 TIME_WAITs.
            drop(server);
            drop(held);
            mem[i] = m;
        }
        match results.memory.iter_mut().find(|(k, _)| *k == n) {
            Some((_, v)) => v.push((mem[0], mem[1])),
            None => results.memory.push((n, vec![(mem[0], mem[1])])),
        }
    }
    Ok(())
}

async fn session_setup(plan: &Plan, results: &mut Results) -> Result<(), BoxError> {
    for role in [Role::Ceiling, Role::Mcp] {
        let server = Server::start(role, None)?;
        let sample = measure(&server, plan.window, 16, &Load::SessionSetup).await?;
        let row = row(
            &mut results.rows,
            "session setup (3 requests), 16 in flight",
        );
        match role {
            Role::Ceiling => row.ceiling.push(sample),
            Role::Mcp => row.mcp.push(sample),
        }
    }
    Ok(())
}

// ===== the report =====

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `median [min–max]` of per-run values.
fn spread(v: &[f64], digits: usize) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let med = median(v.to_vec());
    if v.len() < 2 {
        format!("{med:.digits$}")
    } else {
        format!("{med:.digits$} [{min:.digits$}–{max:.digits$}]")
    }
}

/// Per-run ratios MCP / ceiling of one figure.
fn ratios(row: &Row, f: impl Fn(&Sample) -> f64) -> Vec<f64> {
    row.mcp
        .iter()
        .zip(&row.ceiling)
        .map(|(m, c)| f(m) / f(c))
        .collect()
}

fn medians(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> f64 {
    median(samples.iter().map(f).collect())
}

fn report(plan: &Plan, results: &Results, machine: &str, took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### e2e: {} run(s), {:.0} s\n",
        plan.runs,
        took.as_secs_f64()
    );
    let _ = writeln!(out, "Machine: {machine}.\n");
    let _ = writeln!(
        out,
        "Ratios are MCP server / bare-hyper ceiling of the same run: median [min–max] over runs. \
         Absolute figures are medians.\n"
    );
    let _ = writeln!(out, "| scenario | req/s ceiling | req/s MCP | CPU/op ceiling | CPU/op MCP | **CPU ratio** | p50 ceiling / MCP | p50 ratio | p99 ceiling / MCP | p99 ratio |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for row in &results.rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.1} µs | {:.1} µs | **{}** | {:.0} / {:.0} µs | {} | {:.0} / {:.0} µs | {} |",
            row.name,
            medians(&row.ceiling, |s| s.per_sec),
            medians(&row.mcp, |s| s.per_sec),
            medians(&row.ceiling, |s| s.cpu_us),
            medians(&row.mcp, |s| s.cpu_us),
            spread(&ratios(row, |s| s.cpu_us), 2),
            medians(&row.ceiling, |s| s.p50_us),
            medians(&row.mcp, |s| s.p50_us),
            spread(&ratios(row, |s| s.p50_us), 2),
            medians(&row.ceiling, |s| s.p99_us),
            medians(&row.mcp, |s| s.p99_us),
            spread(&ratios(row, |s| s.p99_us), 2),
        );
    }
    if !results.memory.is_empty() {
        let _ = writeln!(out, "\nResident memory (VmRSS growth / N, bytes):\n");
        let _ = writeln!(out, "| N | per idle session: ceiling | per idle session: MCP | per idle stream: ceiling | per idle session + stream: MCP | MCP (session + stream) − ceiling stream |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for (n, runs) in &results.memory {
            let col =
                |f: &dyn Fn(&(Mem, Mem)) -> f64| spread(&runs.iter().map(f).collect::<Vec<_>>(), 0);
            let _ = writeln!(
                out,
                "| {n} | {} | {} | {} | {} | {} |",
                col(&|(c, _)| c.session),
                col(&|(_, m)| m.session),
                col(&|(c, _)| c.stream),
                col(&|(_, m)| m.both),
                col(&|(c, m)| m.both - c.stream),
            );
        }
    }
    if !results.fanout.is_empty() {
        let _ = writeln!(
            out,
            "\nFan-out of one notification to {} open streams, one reader stalled (in-process):\n",
            plan.fanout
        );
        let _ = writeln!(
            out,
            "| | first broadcast: the call | first: until every live reader has it | \
             next ones: the call | next: every reader | delivered / queued (first) |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        let fan = |f: &dyn Fn(&(Fanout, Fanout)) -> f64| {
            spread(&results.fanout.iter().map(f).collect::<Vec<_>>(), 2)
        };
        let last = results.fanout.last().copied().unwrap_or_default();
        let _ = writeln!(
            out,
            "| bare channels (floor) | {} ms | {} ms | {} ms | {} ms | {} / {} |",
            fan(&|(c, _)| c.call_ms),
            fan(&|(c, _)| c.delivered_ms),
            fan(&|(c, _)| c.warm_call_ms),
            fan(&|(c, _)| c.warm_delivered_ms),
            last.0.delivered,
            last.0.queued
        );
        let _ = writeln!(
            out,
            "| `Sessions::broadcast` | {} ms | {} ms | {} ms | {} ms | {} / {} |",
            fan(&|(_, m)| m.call_ms),
            fan(&|(_, m)| m.delivered_ms),
            fan(&|(_, m)| m.warm_call_ms),
            fan(&|(_, m)| m.warm_delivered_ms),
            last.1.delivered,
            last.1.queued
        );
        if let Some(last) = results.listen.last() {
            let lis = |f: &dyn Fn(&Fanout) -> f64| {
                spread(&results.listen.iter().map(f).collect::<Vec<_>>(), 2)
            };
            let _ = writeln!(
                out,
                "| `Publisher::publish` to listen streams | {} ms | {} ms | {} ms | {} ms | {} / {} |",
                lis(&|m| m.call_ms),
                lis(&|m| m.delivered_ms),
                lis(&|m| m.warm_call_ms),
                lis(&|m| m.warm_delivered_ms),
                last.delivered,
                last.queued
            );
        }
    }
    let _ = writeln!(out, "\nAgainst the bar (PERF.md):\n");
    let _ = writeln!(out, "| figure | target | measured | met |");
    let _ = writeln!(out, "|---|---|---|---|");
    let mut bar = |figure: &str, target: &str, measured: String, met: bool| {
        let _ = writeln!(
            out,
            "| {figure} | {target} | {measured} | {} |",
            if met { "yes" } else { "**no**" }
        );
    };
    let find = |name: &str| results.rows.iter().find(|r| r.name == name);
    let c = if plan.concurrency.contains(&16) {
        16
    } else {
        plan.concurrency[0]
    };
    if let Some(r) = find(&format!("tools/call, JSON answer, {c} in flight")) {
        let v = ratios(r, |s| s.cpu_us);
        bar(
            "server CPU per `tools/call`, JSON",
            "≤ 1.5×",
            format!("{}× ({c} in flight)", spread(&v, 2)),
            median(v.clone()) <= 1.5,
        );
    }
    if let Some(r) = find(&format!("tools/call, SSE answer, {c} in flight")) {
        let v = ratios(r, |s| s.cpu_us);
        bar(
            "server CPU per `tools/call`, SSE",
            "≤ 2×",
            format!("{}× ({c} in flight)", spread(&v, 2)),
            median(v.clone()) <= 2.0,
        );
    }
    if let Some(r) = find(&stateless_row(c)) {
        let v = ratios(r, |s| s.cpu_us);
        bar(
            "server CPU per stateless (2026-07-28) `tools/call`, JSON",
            "≤ 1.3×",
            format!("{}× ({c} in flight)", spread(&v, 2)),
            median(v.clone()) <= 1.3,
        );
    }
    if !results.listen.is_empty() {
        let v: Vec<f64> = results.listen.iter().map(|m| m.call_ms).collect();
        bar(
            &format!("publish to {} listen streams, one stalled", plan.fanout),
            "≤ 10 ms",
            format!(
                "{} ms; next ones {} ms",
                spread(&v, 2),
                spread(
                    &results
                        .listen
                        .iter()
                        .map(|m| m.warm_call_ms)
                        .collect::<Vec<_>>(),
                    2
                )
            ),
            median(v.clone()) <= 10.0,
        );
    }
    if let Some(r) = find("session setup (3 requests), 16 in flight") {
        let v = ratios(r, |s| s.cpu_us);
        bar(
            "session setup CPU",
            "≤ 1.5×",
            format!("{}×", spread(&v, 2)),
            median(v.clone()) <= 1.5,
        );
    }
    if let Some((n, runs)) = results.memory.last() {
        let v: Vec<f64> = runs.iter().map(|(_, m)| m.session).collect();
        bar(
            "RSS per idle session",
            "≤ 1024 B",
            format!("{} B (N = {n})", spread(&v, 0)),
            median(v.clone()) <= 1024.0,
        );
        let v: Vec<f64> = runs.iter().map(|(c, m)| m.both - c.stream).collect();
        bar(
            "RSS per idle session + GET stream",
            "≤ ceiling stream + 2048 B",
            format!("ceiling + {} B (N = {n})", spread(&v, 0)),
            median(v.clone()) <= 2048.0,
        );
    }
    if !results.fanout.is_empty() {
        let v: Vec<f64> = results.fanout.iter().map(|(_, m)| m.call_ms).collect();
        let stalled_ok = results
            .fanout
            .iter()
            .all(|(_, m)| m.queued == 1 && m.delivered + 1 == plan.fanout);
        let warm: Vec<f64> = results.fanout.iter().map(|(_, m)| m.warm_call_ms).collect();
        bar(
            &format!("broadcast to {} streams, one stalled (first)", plan.fanout),
            "≤ 10 ms, never blocked",
            format!(
                "{} ms; next ones {} ms (every reader, first: {} ms)",
                spread(&v, 2),
                spread(&warm, 2),
                spread(
                    &results
                        .fanout
                        .iter()
                        .map(|(_, m)| m.delivered_ms)
                        .collect::<Vec<_>>(),
                    2
                )
            ),
            median(v.clone()) <= 10.0 && stalled_ok,
        );
    }
    let max_c = plan.concurrency.iter().copied().max().unwrap_or(1);
    if let Some(r) = find(&format!("tools/call, JSON answer, {max_c} in flight")) {
        let v = ratios(r, |s| s.p99_us);
        bar(
            &format!("p99 at {max_c} in flight, JSON"),
            "≤ 2×",
            format!("{}×", spread(&v, 2)),
            median(v.clone()) <= 2.0,
        );
    }
    if let Some(r) = find(&format!("tools/call, SSE answer, {max_c} in flight")) {
        let v = ratios(r, |s| s.p99_us);
        bar(
            &format!("p99 at {max_c} in flight, SSE"),
            "≤ 2×",
            format!("{}×", spread(&v, 2)),
            median(v.clone()) <= 2.0,
        );
    }
    out
}
