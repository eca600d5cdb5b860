//! The example MCP handler at `/mcp`, next to warp routes, on one hyper server.
//!
//! ```text
//! cargo run --example warp     # http://127.0.0.1:3000/mcp, and http://127.0.0.1:3000/hello
//! cargo run --example warp -- --port 8080   # or PORT=8080; port 0 picks a free one
//! ```
//!
//! warp filters are tower services (`warp::service`), so mounting MCP beside them is a path
//! dispatch at the tower level; both bodies meet in an `Either`.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Either;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_tower::McpLayer;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use warp::Filter;

#[tokio::main]
async fn main() -> Result<(), mcp_tower::BoxError> {
    let routes = warp::path("hello").map(|| String::from("hello from warp"));
    let warp_svc = warp::service(routes);
    let mcp = ServiceBuilder::new()
        .layer(McpLayer::new())
        .service_fn(common::handle);

    let app = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let mcp = mcp.clone(); // warp_svc is Copy
        async move {
            let res = if req.uri().path() == "/mcp" {
                mcp.oneshot(req).await?.map(Either::Left)
            } else {
                warp_svc.oneshot(req).await?.map(Either::Right)
            };
            Ok::<_, Infallible>(res)
        }
    });

    let port = common::serve::port_from_args(3000)?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let addr = listener.local_addr()?;
    // The first line names the port actually bound (scripts and tests read it).
    println!("MCP server listening on http://{addr}/mcp, warp on http://{addr}/hello");
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let svc = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}
