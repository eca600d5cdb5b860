//! The GET route: the session's standalone server→client SSE stream, or the resumption of any
//! of its streams with `Last-Event-ID`.

use http::request::Parts;
use http::Response;

use super::guard::{conflicting, single_value};
use super::response::sse_response;
use super::route::request_version;
use crate::body::McpBody;
use crate::error::{Rejection, RejectionKind};
use crate::protocol::{ProtocolVersion, LAST_EVENT_ID};
use crate::session::{LiveSession, ResumeError};

/// Opens the standalone stream, or resumes a stream. A stream has at most one connection: a
/// new GET (or resume) takes over and the older connection is ended, so a half-open connection
/// can never strand a reconnecting client, and each message still goes on exactly one stream.
pub(crate) fn open(
    parts: &Parts,
    session: &std::sync::Arc<LiveSession>,
    header_version: Option<ProtocolVersion>,
) -> Result<Response<McpBody>, Rejection> {
    // The request's own version decides priming and polling, as for a POST.
    let version = request_version(header_version, Some(session));
    let cursor =
        single_value(&parts.headers, &LAST_EVENT_ID).map_err(|()| conflicting("Last-Event-ID"))?;
    let body = match cursor {
        None => session.attach_standalone(version),
        Some(cursor) => session
            .resume(cursor.as_bytes(), version)
            .map_err(resume_rejection)?,
    };
    Ok(sse_response(body))
}

fn resume_rejection(error: ResumeError) -> Rejection {
    match error {
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
}
