//! `McpService`: reads each request's head once, decides its route (`route`), and hands it
//! to the file that serves that route. Rejections decided from the head are answered at once,
//! without reading the body or boxing a future.

mod bounds;
mod config;
mod delete;
mod dispatch;
mod future;
mod guard;
mod in_session;
mod initialize;
mod legacy_connect;
mod legacy_message;
mod modern;
mod mrtr;
mod param_headers;
mod read;
mod response;
mod route;
mod stateless;
mod stream;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use tower_service::Service;

pub use config::{
    ResponseMode, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DRAIN_BYTES, DEFAULT_DRAIN_TIME,
    DEFAULT_MAX_BATCH_LEN, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_LISTEN_STREAMS,
    DEFAULT_MAX_SESSIONS, DEFAULT_SSE_AFTER,
};
pub use future::ResponseFuture;

pub(crate) use config::{
    Allow, Config, LegacyPaths, PrincipalFn, SessionHook, Shared, ToolSchemaFn,
};

use crate::body::McpBody;
use crate::error::{BoxError, Rejection};
use crate::handler::{McpRequest, McpResponse};
use crate::telemetry::RequestSpan;
use bounds::{Handler, RequestBody};
use route::Route;

/// An HTTP service speaking MCP's Streamable HTTP transport in front of an inner MCP handler.
///
/// Built by [`McpLayer`](crate::McpLayer). It is cheap to clone (an `Arc` and a clone of the inner service), and
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
    /// Wraps `inner` with the default [`McpLayer`](crate::McpLayer) configuration.
    pub fn new(inner: S) -> Self {
        Self::from_shared(inner, Arc::new(Shared::new(Config::default())))
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
        let (parts, body) = req.into_parts();
        let route = route::decide(&self.shared, &parts);
        let span = RequestSpan::new(&parts.method, route.name());
        if let Some(session) = route.session() {
            span.session(&session.id);
        }
        let res = match route {
            Route::Reject(rejection) => rejection.into_response(),
            Route::Stream { session, version } => span
                .in_scope(|| stream::open(&parts, &session, version))
                .unwrap_or_else(Rejection::into_response),
            Route::Delete { session } => match delete::end_session(&self.shared, &session) {
                Ok(res) => res,
                Err(later) => return ResponseFuture::pipeline(later.finish(session), span),
            },
            Route::LegacyConnect { takeover } => {
                span.in_scope(|| legacy_connect::open(&self.shared, &parts, takeover))
            }
            route => {
                return ResponseFuture::pipeline(
                    serve(self.inner.clone(), self.shared.clone(), route, parts, body),
                    span,
                )
            }
        };
        future::finish(&span, &res);
        ResponseFuture::ready(res)
    }
}

/// Serves a route that must wait: for the body (every POST route), or for the session store.
async fn serve<S: Handler, B: RequestBody>(
    inner: S,
    shared: Arc<Shared>,
    route: Route,
    parts: http::request::Parts,
    body: B,
) -> Response<McpBody> {
    let mut route = route;
    loop {
        return match route {
            Route::Confirm { touch, then } => {
                route = match touch.await {
                    Ok(true) => *then,
                    Ok(false) => Route::Reject(route::session_not_found()),
                    Err(e) => Route::Reject(route::store_unavailable(&e)),
                };
                continue;
            }
            Route::Initialize { version } => {
                initialize::serve(inner, shared, parts, body, version).await
            }
            Route::InSession { session, version } => {
                in_session::serve(inner, shared, parts, body, session, version).await
            }
            Route::Stateless { version } => {
                stateless::serve(inner, shared, parts, body, version).await
            }
            Route::Modern => modern::serve(inner, shared, parts, body).await,
            Route::Stream { session, version } => {
                stream::open(&parts, &session, version).unwrap_or_else(Rejection::into_response)
            }
            Route::Delete { session } => match delete::end_session(&shared, &session) {
                Ok(res) => res,
                Err(later) => later.finish(session).await,
            },
            Route::LegacyConnect { takeover } => legacy_connect::open(&shared, &parts, takeover),
            Route::LegacyMessage { session, version } => {
                legacy_message::serve(inner, shared, parts, body, session, version).await
            }
            Route::Reject(rejection) => rejection.into_response(),
        };
    }
}

#[cfg(test)]
mod tests;
