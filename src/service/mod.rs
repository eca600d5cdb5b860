//! `McpService`: the guard → parse → session → dispatch → respond pipeline.

mod delete;
mod future;
mod get;
mod guard;
mod post;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use tower_service::Service;

pub use future::ResponseFuture;

use crate::body::McpBody;
use crate::error::{BoxError, Rejection};
use crate::handler::{McpRequest, McpResponse};
use crate::layer::{McpLayer, Shared};

/// An HTTP service speaking MCP's Streamable HTTP transport in front of an inner MCP handler.
///
/// Built by [`McpLayer`]. It is cheap to clone (an `Arc` and a clone of the inner service), and
/// `Send + Sync + 'static` when the handler is, so it mounts anywhere tower services do:
/// `axum::Router::route_service`, hyper-util's `TowerToHyperService`, or next to warp filters.
///
/// # Readiness
///
/// `poll_ready` is always ready. One HTTP request can carry several messages (a 2025-03-26
/// batch), so the transport drives the inner service's readiness per message, on its own clone
/// (ready, then call, as `ServiceExt::oneshot` does). Put load shedding and concurrency limits
/// around the whole service, or below the layer to limit handler calls.
///
/// # Example
///
/// ```
/// use mcp_tower::{McpLayer, McpRequest, McpResponse};
/// use serde_json::json;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = ServiceBuilder::new().layer(McpLayer::new()).service_fn(|req: McpRequest| async move {
///     Ok::<_, std::convert::Infallible>(match req.method() {
///         "initialize" => McpResponse::result(json!({
///             "protocolVersion": req.protocol_version().as_str(),
///             "capabilities": {},
///             "serverInfo": { "name": "demo", "version": "1.0.0" },
///         })),
///         other => McpResponse::method_not_found(other),
///     })
/// });
/// let init = http::Request::post("/mcp")
///     .header("accept", "application/json, text/event-stream")
///     .header("content-type", "application/json")
///     .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#.to_string())
///     .unwrap();
/// let res = svc.oneshot(init).await.unwrap();
/// assert_eq!(res.status(), 200);
/// assert!(res.headers().contains_key("mcp-session-id"));
/// assert_eq!(res.headers()["content-type"], "application/json");
/// # }
/// ```
pub struct McpService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> McpService<S> {
    /// Wraps `inner` with the default [`McpLayer`] configuration.
    pub fn new(inner: S) -> Self {
        tower_layer::Layer::layer(&McpLayer::new(), inner)
    }

    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The inner handler.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner handler, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner handler.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for McpService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S> fmt::Debug for McpService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpService")
            .field("inner", &std::any::type_name::<S>())
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for McpService<S>
where
    S: Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Buf + Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    /// Always ready; see the type's docs.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        let config = &self.shared.config;
        if let Err(rejection) = guard::host_and_origin(config, &req) {
            return ResponseFuture::ready(rejection.into_response());
        }
        let allow = if config.stateless {
            "POST"
        } else {
            "GET, POST, DELETE"
        };
        match *req.method() {
            Method::POST => ResponseFuture::pipeline(post::serve(self.inner.clone(), self.shared.clone(), req)),
            Method::GET | Method::DELETE if config.stateless => {
                ResponseFuture::ready(Rejection::into_response(Rejection::method_not_allowed(
                    allow,
                    "this server is stateless: it offers no GET stream and no sessions to delete; use POST",
                )))
            }
            Method::GET => {
                let (parts, _body) = req.into_parts();
                ResponseFuture::ready(get::open_stream(&self.shared, &parts).unwrap_or_else(Rejection::into_response))
            }
            Method::DELETE => {
                let (parts, _body) = req.into_parts();
                ResponseFuture::ready(delete::end_session(&self.shared, &parts).unwrap_or_else(Rejection::into_response))
            }
            _ => ResponseFuture::ready(Rejection::into_response(Rejection::method_not_allowed(
                allow,
                format!("method {} is not allowed on the MCP endpoint; use {allow}", req.method()),
            ))),
        }
    }
}

/// A `200` SSE response with the headers every stream carries.
pub(crate) fn sse_response(body: crate::sse::SseBody) -> Response<McpBody> {
    let mut res = Response::new(McpBody::sse(body));
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// A `200` JSON response.
pub(crate) fn json_response(json: Vec<u8>) -> Response<McpBody> {
    let mut res = Response::new(McpBody::json(json));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// `202 Accepted` with no body.
pub(crate) fn accepted() -> Response<McpBody> {
    let mut res = Response::new(McpBody::empty());
    *res.status_mut() = StatusCode::ACCEPTED;
    res
}
