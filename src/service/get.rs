//! GET: the session's standalone server→client SSE stream, or the resumption of any of its
//! streams with `Last-Event-ID`.

use http::request::Parts;
use http::Response;

use super::guard::{accepts, request_version, require_session};
use super::sse_response;
use crate::body::McpBody;
use crate::error::{Rejection, RejectionKind};
use crate::layer::Shared;
use crate::protocol::LAST_EVENT_ID;
use crate::session::ResumeError;

/// Opens the standalone stream, or resumes a stream. A stream has at most one connection: a
/// new GET (or resume) takes over and the older connection is ended, so a half-open connection
/// can never strand a reconnecting client, and each message still goes on exactly one stream.
pub(crate) fn open_stream(shared: &Shared, parts: &Parts) -> Result<Response<McpBody>, Rejection> {
    if !accepts(&parts.headers).sse {
        return Err(Rejection::new(
            RejectionKind::NotAcceptable,
            "GET opens an SSE stream: the Accept header must list text/event-stream",
        ));
    }
    let (session, header_version) = require_session(shared, parts)?;
    // The request's own version decides priming and polling, as for a POST.
    let version = request_version(header_version, Some(&session));
    let body =
        match parts.headers.get(LAST_EVENT_ID) {
            None => session.attach_standalone(version),
            Some(cursor) => session.resume(cursor.as_bytes(), version).map_err(|e| {
                match e {
            ResumeError::Malformed => Rejection::new(
                RejectionKind::InvalidEventId,
                "Last-Event-ID is not an event id of this session; open the stream without it",
            ),
            ResumeError::Gone => Rejection::new(
                RejectionKind::ReplayUnavailable,
                "the events after this Last-Event-ID are no longer kept (the replay window has \
                 passed or the stream ended long ago); do not retry this resume",
            ),
        }
            })?,
        };
    Ok(sse_response(body))
}
