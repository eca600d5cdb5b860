//! The example MCP handler at `/mcp`, next to warp routes, on one hyper server.
//!
//! ```text
//! cargo run --example warp     # http://127.0.0.1:3000/mcp, and http://127.0.0.1:3000/hello
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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("MCP on http://{addr}/mcp, warp on http://{addr}/hello");
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
