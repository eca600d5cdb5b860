//! Serving an MCP service over HTTP/1.1 and HTTP/2 with hyper, shared by the examples.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_tower::{BoxError, McpBody, Sessions};
use tokio::net::TcpListener;
use tower::{service_fn, Service, ServiceExt};

/// Serves `mcp` at `http://127.0.0.1:{port}/mcp` until Ctrl-C, then drains `sessions`: open
/// streams are told to reconnect later and running calls get 5 s to finish. Every other path
/// is 404.
///
/// Port 0 binds a free port. The first line printed is `MCP server listening on URL`, with the
/// port actually bound, so scripts can read it.
pub(crate) async fn serve<S>(mcp: S, sessions: Sessions, port: u16) -> Result<(), BoxError>
where
    S: Service<http::Request<Incoming>, Response = http::Response<McpBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    serve_paths(mcp, sessions, port, &["/mcp"]).await
}

/// [`serve`], with `mcp` mounted on each of `paths` (the first is the one printed); every
/// other path is 404.
pub(crate) async fn serve_paths<S>(
    mcp: S,
    sessions: Sessions,
    port: u16,
    paths: &'static [&'static str],
) -> Result<(), BoxError>
where
    S: Service<http::Request<Incoming>, Response = http::Response<McpBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let addr = listener.local_addr()?;
    println!("MCP server listening on http://{addr}{}", paths[0]);
    for path in &paths[1..] {
        println!("  also on http://{addr}{path}");
    }

    let app = service_fn(move |req: http::Request<Incoming>| {
        let mcp = mcp.clone();
        async move {
            if paths.contains(&req.uri().path()) {
                mcp.oneshot(req).await
            } else {
                let mut res = http::Response::new(McpBody::empty());
                *res.status_mut() = http::StatusCode::NOT_FOUND;
                Ok(res)
            }
        }
    });

    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                // Small SSE writes must not wait ~40 ms for a delayed ACK (Nagle's algorithm).
                stream.set_nodelay(true)?;
                let svc = TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    // Copy body chunks into one write buffer instead of queueing each: SSE
                    // events are small, and an idle stream then holds no write queue (about
                    // 850 bytes less per open stream, measured in BENCHMARKS.md).
                    builder.http1().writev(false);
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            _ = &mut shutdown => {
                println!("shutting down: draining {} sessions", sessions.len());
                let report = sessions.shutdown(Duration::from_secs(5)).await;
                println!("{report:?}");
                return Ok(());
            }
        }
    }
}

/// The port from `--port N` (or `--port=N`), else `$PORT`, else `default`.
pub(crate) fn port_from_args(default: u16) -> Result<u16, BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = match args.as_slice() {
        [] => std::env::var("PORT").ok(),
        [flag, value] if flag == "--port" || flag == "-p" => Some(value.clone()),
        [arg] if arg.starts_with("--port=") => Some(arg["--port=".len()..].to_owned()),
        _ => return Err(format!("unexpected arguments {args:?}; usage: [--port N]").into()),
    };
    match value {
        Some(value) => Ok(value.parse()?),
        None => Ok(default),
    }
}
