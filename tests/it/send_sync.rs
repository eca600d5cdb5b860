//! Compile-time checks: the public types can cross threads and live in `'static` services, as
//! hyper, axum and `tokio::spawn` require (STYLE.md §2 item 25).

use std::convert::Infallible;
use std::future::Ready;

use http::Request;
use mcp_tower::sse::SseBody;
use mcp_tower::{
    McpBody, McpLayer, McpRequest, McpResponse, McpService, Rejection, RequestContext,
    ResponseFuture, Session, SessionId, Sessions,
};
use tower::util::ServiceFn;
use tower::{Layer, Service};

use crate::example;

type FnHandler = ServiceFn<fn(McpRequest) -> Ready<Result<McpResponse, Infallible>>>;

fn send<T: Send>() {}
fn send_sync<T: Send + Sync>() {}
fn send_sync_static<T: Send + Sync + 'static>(_: &T) {}
fn http_service<S, B>(_: &S)
where
    S: Service<Request<B>, Response = http::Response<McpBody>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<McpLayer>();
    send_sync::<McpService<FnHandler>>();
    send::<ResponseFuture>();
    send_sync::<McpBody>();
    send_sync::<SseBody>();
    send_sync::<Session>();
    send_sync::<Sessions>();
    send_sync::<SessionId>();
    send_sync::<Rejection>();
    send_sync::<McpResponse>();
    send::<McpRequest>();
    send_sync::<RequestContext>();
}

#[test]
fn a_service_fn_handler_makes_a_static_http_service_for_any_body() {
    let svc = McpLayer::new().layer(tower::service_fn(example::handle));
    send_sync_static(&svc);
    http_service::<_, String>(&svc);
    http_service::<_, http_body_util::Full<bytes::Bytes>>(&svc);
    http_service::<_, axum::body::Body>(&svc);
    http_service::<_, hyper::body::Incoming>(&svc);
    let named: McpService<FnHandler> = McpService::new(tower::service_fn(empty as fn(_) -> _));
    http_service::<_, String>(&named);
}

fn empty(_req: McpRequest) -> Ready<Result<McpResponse, Infallible>> {
    std::future::ready(Ok(McpResponse::empty()))
}
