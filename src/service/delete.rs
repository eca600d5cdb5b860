//! The DELETE route: the client ends its session.

use std::sync::Arc;

use http::Response;

use super::config::Shared;
use super::route::{session_not_found, store_unavailable};
use crate::body::McpBody;
use crate::error::Rejection;
use crate::session::{CloseReason, LiveSession, StoreError};

/// Ends the session (200); afterwards its id gets 404. The store forgets it first, then this
/// node ends its streams and calls (on one node, the store is this node's registry and does
/// both at once).
pub(crate) fn end_session(
    shared: &Shared,
    session: &Arc<LiveSession>,
) -> Result<Response<McpBody>, DeleteLater> {
    match shared.store.delete(&session.id).into_ready() {
        Ok(outcome) => Ok(answer(outcome, session)),
        Err(pending) => Err(DeleteLater(pending)),
    }
}

/// A store that answers later: wait for it, then answer.
pub(crate) struct DeleteLater(crate::session::StoreFuture<bool>);

impl DeleteLater {
    pub(crate) async fn finish(self, session: Arc<LiveSession>) -> Response<McpBody> {
        let outcome = self.0.await;
        answer(outcome, &session)
    }
}

fn answer(outcome: Result<bool, StoreError>, session: &LiveSession) -> Response<McpBody> {
    match outcome {
        Ok(existed) => {
            // Ends what this node holds, whatever the store said (it may have expired there).
            let closed_here = session.close(CloseReason::Deleted);
            if existed || closed_here {
                Response::new(McpBody::empty())
            } else {
                session_not_found().into_response()
            }
        }
        Err(e) => Rejection::into_response(store_unavailable(&e)),
    }
}
