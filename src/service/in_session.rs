//! The in-session route: a POST that names a live session with `Mcp-Session-Id` (session era,
//! 2025-03-26 to 2025-11-25).

use std::sync::Arc;

use http::request::Parts;
use http::Response;

use super::bounds::{Handler, RequestBody};
use super::config::Shared;
use super::dispatch::Post;
use super::read::{self, reject};
use super::route::request_version;
use crate::body::McpBody;
use crate::error::RejectionKind;
use crate::jsonrpc::{Incoming, Payload};
use crate::protocol::ProtocolVersion;
use crate::session::LiveSession;

pub(crate) async fn serve<S: Handler, B: RequestBody>(
    inner: S,
    shared: Arc<Shared>,
    parts: Parts,
    body: B,
    session: Arc<LiveSession>,
    header_version: Option<ProtocolVersion>,
) -> Response<McpBody> {
    let payload = match read::payload(body, &parts.headers, &shared.config).await {
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
