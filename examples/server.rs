//! An MCP server on `http://127.0.0.1:3000/mcp`, served by hyper with `McpLayer`.
//!
//! ```text
//! cargo run --example server                 # 127.0.0.1:3000
//! cargo run --example server -- --port 8080  # or PORT=8080
//! ```
//!
//! Tools: `echo` {text}, `add` {a, b}, `countdown` {from?, delay_ms?} (emits progress).

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_tower::{McpBody, McpLayer};
use tokio::net::TcpListener;
use tower::{service_fn, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = port_from_args()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await?;
    println!("MCP server listening on http://{addr}/mcp");

    let mcp = ServiceBuilder::new()
        .layer(McpLayer::new())
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
                println!("shutting down");
                return Ok(());
            }
        }
    }
}

/// `--port N`, else `$PORT`, else 3000.
fn port_from_args() -> Result<u16, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                let value = args.next().ok_or("--port needs a value")?;
                return Ok(value.parse()?);
            }
            other => {
                if let Some(value) = other.strip_prefix("--port=") {
                    return Ok(value.parse()?);
                }
                return Err(format!("unknown argument {other:?}; usage: server [--port N]").into());
            }
        }
    }
    match std::env::var("PORT") {
        Ok(value) => Ok(value.parse()?),
        Err(_) => Ok(3000),
    }
}
