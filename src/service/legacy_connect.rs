//! The legacy connect route (HTTP+SSE, protocol 2024-11-05): a GET that opens a session and
//! its one SSE stream. The stream's first event, `endpoint`, names the URL the client POSTs
//! its messages to (relative, with `?sessionId=…`); every message the server sends the session
//! follows on the same stream as `event: message`.
//!
//! A connect whose query names a live legacy session (`?sessionId=…`) takes that session's
//! stream over: the older connection is ended, the newer one gets the `endpoint` event again,
//! and the session lives on. A client whose connection broke can so come back within the
//! grace period (`McpLayer::legacy_grace`); whatever was sent while it was away is lost, since
//! the legacy transport has no replay.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::request::Parts;
use http::Response;

use super::config::Shared;
use super::response::sse_response;
use crate::body::McpBody;
use crate::error::{Rejection, RejectionKind};
use crate::session::{start_reaper, LiveSession};
use crate::sse::Event;

/// Opens a new legacy session and its stream, or takes over `takeover`'s stream.
pub(crate) fn open(
    shared: &Shared,
    parts: &Parts,
    takeover: Option<Arc<LiveSession>>,
) -> Response<McpBody> {
    let config = &shared.config;
    // Routed here only when the transport is on, so the paths are set.
    let messages = config
        .legacy
        .as_ref()
        .map_or(parts.uri.path(), |paths| paths.messages.as_str());
    if let Some(session) = takeover {
        let url = endpoint_url(messages, parts.uri.query(), session.id.as_str());
        return sse_response(session.attach_legacy(endpoint_event(&url)));
    }
    if shared.registry.draining.load(Ordering::Acquire) {
        return Rejection::new(
            RejectionKind::TooManySessions,
            "this server is shutting down and admits no new sessions; retry later",
        )
        .into_response();
    }
    let principal = config.principal.as_ref().and_then(|extract| extract(parts));
    let Some(session) =
        shared
            .registry
            .reserve_legacy(config.max_sessions, &config.session, principal)
    else {
        return Rejection::new(
            RejectionKind::TooManySessions,
            format!(
                "this server is at its limit of {} sessions; retry later",
                config.max_sessions
            ),
        )
        .into_response();
    };
    // Idle expiry, and the end of sessions that never send initialize.
    start_reaper(&shared.registry, &config.session);
    let url = endpoint_url(messages, parts.uri.query(), session.id.as_str());
    let body = session.attach_legacy(endpoint_event(&url));
    session.commit();
    sse_response(body)
}

/// The `endpoint` event naming `url`.
fn endpoint_event(url: &str) -> bytes::Bytes {
    // A URL taken from a parsed request line, or from the configuration, plus base64url:
    // the `data` field splits on line breaks, so even a stray one could not inject a field.
    match Event::new().event("endpoint") {
        Ok(event) => event.data(url).finish(),
        Err(_) => bytes::Bytes::new(),
    }
}

/// The URL the `endpoint` event names: the messages path (with any query it was configured
/// with), then the connect request's own query parameters (a gateway's routing or tenant
/// parameters survive the hop, as the TypeScript SDK keeps the endpoint's), then
/// `sessionId`, which replaces any the request carried. Relative, so clients resolve it
/// against the URL they connected to and stay on the same origin.
fn endpoint_url(messages: &str, query: Option<&str>, session: &str) -> String {
    let mut url = String::with_capacity(messages.len() + query.map_or(0, str::len) + 48);
    url.push_str(messages);
    let mut separator = if messages.contains('?') { '&' } else { '?' };
    let kept = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split('=').next() != Some("sessionId"));
    for pair in kept {
        url.push(separator);
        url.push_str(pair);
        separator = '&';
    }
    url.push(separator);
    url.push_str("sessionId=");
    url.push_str(session);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_keeps_the_query_and_replaces_the_session() {
        assert_eq!(
            endpoint_url("/messages", None, "abc"),
            "/messages?sessionId=abc"
        );
        assert_eq!(
            endpoint_url("/messages", Some("tenant=7&sessionId=old&x"), "abc"),
            "/messages?tenant=7&x&sessionId=abc"
        );
        assert_eq!(
            endpoint_url("/m?v=1", Some(""), "abc"),
            "/m?v=1&sessionId=abc"
        );
    }

    #[test]
    fn the_endpoint_event_is_one_event() {
        assert_eq!(
            &endpoint_event("/messages?sessionId=abc")[..],
            b"event: endpoint\ndata: /messages?sessionId=abc\n\n"
        );
    }
}
