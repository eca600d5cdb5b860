//! An MCP server on `http://127.0.0.1:3000/mcp`, served by hyper with `McpLayer`.
//!
//! ```text
//! cargo run --example server                 # 127.0.0.1:3000
//! cargo run --example server -- --port 8080  # or PORT=8080
//! MCP_RESPONSE_MODE=sse cargo run --example server   # json | sse | adaptive (the default)
//! ```
//!
//! Tools: `echo` {text}, `add` {a, b}, `countdown` {from?, delay_ms?} (emits progress),
//! `slow_count` {to?} (one progress step per second, to try resumption), `ask_llm` {question}
//! (asks the client's model through sampling). Ctrl-C drains: open streams are told to
//! reconnect later, running calls get 5 s to finish.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_tower::{McpBody, McpLayer, ResponseMode};
use tokio::net::TcpListener;
use tower::{service_fn, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = port_from_args()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await?;
    println!("MCP server listening on http://{addr}/mcp");

    let layer = McpLayer::new().response_mode(response_mode_from_env()?);
    let sessions = layer.sessions();
    let mcp = ServiceBuilder::new()
        .layer(layer)
        .service_fn(common::handle);
    // One endpoint: /mcp. Anything else is 404.
    let app = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let mcp = mcp.clone();
        async move {
            if req.uri().path() == "/mcp" {
                mcp.oneshot(req).await
            } else {
                let mut res = http::Response::new(McpBody::empty());
                *res.status_mut() = http::StatusCode::NOT_FOUND;
                Ok::<_, Infallible>(res)
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
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
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

/// `$MCP_RESPONSE_MODE`: `json`, `sse` or `adaptive` (the default).
fn response_mode_from_env() -> Result<ResponseMode, Box<dyn std::error::Error>> {
    match std::env::var("MCP_RESPONSE_MODE").as_deref() {
        Err(_) | Ok("adaptive") => Ok(ResponseMode::Adaptive),
        Ok("json") => Ok(ResponseMode::Json),
        Ok("sse") => Ok(ResponseMode::Sse),
        Ok(other) => Err(format!("MCP_RESPONSE_MODE={other}: use json, sse or adaptive").into()),
    }
}

/// `--port N` (or `--port=N`), else `$PORT`, else 3000.
fn port_from_args() -> Result<u16, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = match args.as_slice() {
        [] => std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned()),
        [flag, value] if flag == "--port" || flag == "-p" => value.clone(),
        [flag] if flag.starts_with("--port=") => flag["--port=".len()..].to_owned(),
        _ => return Err(format!("unexpected arguments {args:?}; usage: server [--port N]").into()),
    };
    Ok(value.parse()?)
}
