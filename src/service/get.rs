//! GET: the session's standalone server→client SSE stream.

use http::request::Parts;
use http::Response;

use super::guard::{accepts, require_session};
use super::sse_response;
use crate::body::McpBody;
use crate::error::{Rejection, RejectionKind};
use crate::layer::Shared;
use crate::protocol::LAST_EVENT_ID;

/// Opens the standalone stream. A session has at most one: a new GET takes over and the older
/// connection is ended, so a half-open connection can never strand a reconnecting client, and
/// each message still goes on exactly one stream.
pub(crate) fn open_stream(shared: &Shared, parts: &Parts) -> Result<Response<McpBody>, Rejection> {
    if !accepts(&parts.headers).sse {
        return Err(Rejection::new(
            RejectionKind::NotAcceptable,
            "GET opens an SSE stream: the Accept header must list text/event-stream",
        ));
    }
    let (session, _version) = require_session(shared, parts)?;
    if parts.headers.contains_key(LAST_EVENT_ID) {
        return Err(Rejection::new(
            RejectionKind::InvalidMessage,
            "this server does not resume streams (Last-Event-ID); open a new stream without it",
        ));
    }
    let mut body = session.attach_standalone(shared.config.stream_capacity);
    if let Some(interval) = shared.config.keep_alive {
        body = body.keep_alive(interval);
    }
    Ok(sse_response(body))
}
