//! DELETE: the client ends its session.

use http::request::Parts;
use http::Response;

use super::guard::{require_session, session_not_found};
use crate::body::McpBody;
use crate::error::Rejection;
use crate::layer::Shared;
use crate::session::CloseReason;

/// Ends the session (200); afterwards its id gets 404.
pub(crate) fn end_session(shared: &Shared, parts: &Parts) -> Result<Response<McpBody>, Rejection> {
    let (session, _version) = require_session(shared, parts)?;
    if session.close(CloseReason::Deleted) {
        Ok(Response::new(McpBody::empty()))
    } else {
        Err(session_not_found())
    }
}
