//! A loopback server (hyper) and a reqwest client, for the tests that go over real sockets.

use std::error::Error as StdError;
use std::net::SocketAddr;

use http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_tower::McpBody;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::Service;

use super::{init_body, notification_with, Sse};

/// An MCP service served by hyper on 127.0.0.1 (any port), until dropped.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    pub(crate) url: String,
    task: JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `svc` over loopback TCP (HTTP/1.1 and HTTP/2, `TCP_NODELAY`) until the returned
/// [`Served`] is dropped.
pub(crate) async fn serve<S>(svc: S) -> Served
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<McpBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            stream.set_nodelay(true).unwrap();
            let svc = TowerToHyperService::new(svc.clone());
            conns.spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Served {
        addr,
        url: format!("http://{addr}/mcp"),
        task,
    }
}

/// A reqwest client for the loopback server. Each streaming request gets its own connection
/// from the pool; dropping an unfinished body closes that connection.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// A POST over the socket, with `MCP-Protocol-Version` when given, ready to send.
pub(crate) fn http_post_builder(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    version: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut b = client
        .post(url)
        .header("accept", super::ACCEPT_BOTH)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(v) = version {
        b = b.header("mcp-protocol-version", v);
    }
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b
}

/// A POST at `version` over the socket.
pub(crate) async fn http_post(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    version: &str,
    body: &Value,
) -> reqwest::Response {
    http_post_builder(client, url, session, Some(version), body)
        .send()
        .await
        .unwrap()
}

/// A GET (standalone stream or resumption) over the socket.
pub(crate) async fn http_get(
    client: &reqwest::Client,
    url: &str,
    session: &str,
    version: &str,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut b = client
        .get(url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", version);
    if let Some(id) = last_event_id {
        b = b.header("last-event-id", id);
    }
    b.send().await.unwrap()
}

/// Initializes a session over the socket (and sends `notifications/initialized`).
pub(crate) async fn http_initialize(
    client: &reqwest::Client,
    url: &str,
    version: &str,
    capabilities: Value,
) -> String {
    let res = http_post(
        client,
        url,
        None,
        version,
        &init_body(version, capabilities),
    )
    .await;
    assert_eq!(res.status(), 200);
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let _ = res.bytes().await.unwrap();
    let res = http_post(
        client,
        url,
        Some(&sid),
        version,
        &notification_with("notifications/initialized", json!({})),
    )
    .await;
    assert_eq!(res.status(), 202);
    sid
}

/// The SSE body of a socket response.
pub(crate) fn http_sse(res: reqwest::Response) -> Sse<reqwest::Body> {
    assert_eq!(res.status(), 200, "expected 200 for an SSE reply");
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let res: http::Response<reqwest::Body> = res.into();
    Sse::new(res.into_body())
}
