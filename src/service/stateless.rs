//! The stateless route: a POST to a server configured without sessions. Nothing outlives the
//! request: no session is created or required, and `initialize` is answered like any request.

use std::sync::Arc;

use http::request::Parts;
use http::Response;

use super::bounds::{Handler, RequestBody};
use super::config::Shared;
use super::dispatch::Post;
use super::initialize::negotiate;
use super::read;
use super::route::request_version;
use crate::body::McpBody;
use crate::jsonrpc::{Incoming, Payload};
use crate::protocol::ProtocolVersion;

pub(crate) async fn serve<S: Handler, B: RequestBody>(
    inner: S,
    shared: Arc<Shared>,
    parts: Parts,
    body: B,
    header_version: Option<ProtocolVersion>,
) -> Response<McpBody> {
    let payload = match read::payload(body, &parts.headers, &shared.config).await {
        Ok(payload) => payload,
        Err(res) => return res,
    };
    // A body that speaks the 2026-07-28 era without saying so in its header.
    if super::modern::claims_payload(&payload) {
        return super::modern::serve_payload(inner, shared, parts, payload).await;
    }
    let mut version = request_version(header_version, None);
    if let Payload::Single(Incoming::Request { method, params, .. }) = &payload {
        if method == "initialize" {
            // Negotiated as in the session era, though no session follows.
            version = negotiate(&shared, params.as_ref());
        }
    }
    let post = Post {
        inner,
        shared,
        head: Arc::new(parts),
        version,
        session: None,
    };
    post.payload(payload).await
}
