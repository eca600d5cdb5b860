//! The in-session route: a POST that names a live session with `Mcp-Session-Id` (session era,
//! 2025-03-26 to 2025-11-25).

use std::sync::Arc;

use bytes::Buf;
use http::request::Parts;
use http::Response;
use tower_service::Service;

use super::config::Shared;
use super::dispatch::Post;
use super::read::{self, reject};
use super::route::request_version;
use crate::body::McpBody;
use crate::error::{BoxError, RejectionKind};
use crate::handler::{McpRequest, McpResponse};
use crate::jsonrpc::{Incoming, Payload};
use crate::protocol::ProtocolVersion;
use crate::session::LiveSession;

pub(crate) async fn serve<S, B>(
    inner: S,
    shared: Arc<Shared>,
    parts: Parts,
    body: B,
    session: Arc<LiveSession>,
    header_version: Option<ProtocolVersion>,
) -> Response<McpBody>
where
    S: Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Buf + Send,
    B::Error: Into<BoxError>,
{
    let payload = match read::payload(body, &parts.headers, shared.config.max_body_bytes).await {
        Ok(payload) => payload,
        Err(res) => return res,
    };
    if matches!(
        &payload,
        Payload::Single(Incoming::Request { method, .. }) if method == "initialize"
    ) {
        return reject(
            RejectionKind::AlreadyInitialized,
            "this session is already initialized; to start a new one, send initialize \
             without Mcp-Session-Id",
        );
    }
    let version = request_version(header_version, Some(&session));
    let post = Post {
        inner,
        shared,
        head: Arc::new(parts),
        version,
        session: Some(session),
    };
    post.payload(payload).await
}
