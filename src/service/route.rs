//! The route of a request, decided once from its head, synchronously: which era and
//! transport serves it, with which session, or the rejection that answers it without reading
//! the body. Adding a transport or an era means adding a route here and a file beside this one.

use std::sync::Arc;

use http::request::Parts;
use http::Method;

use super::config::{Config, Shared};
use super::guard::{
    accepts, content_type_is_json, host_and_origin, session_header, session_query, version_header,
};
use crate::error::{Rejection, RejectionKind};
use crate::protocol::ProtocolVersion;
use crate::session::{LiveSession, StoreFuture};
use crate::Transport;

/// How one request is served.
pub(crate) enum Route {
    /// A POST without a session, to a server with sessions: it must be `initialize`.
    Initialize { version: Option<ProtocolVersion> },
    /// A POST in an existing session.
    InSession {
        session: Arc<LiveSession>,
        version: Option<ProtocolVersion>,
    },
    /// A POST to a server without sessions.
    Stateless { version: Option<ProtocolVersion> },
    /// A POST of the stateless era (2026-07-28 and later), or any POST to a server that serves
    /// only that era: validated and served on its own by `modern`, whatever session headers
    /// it carries.
    Modern,
    /// A GET: open the session's standalone stream, or resume one of its streams.
    Stream {
        session: Arc<LiveSession>,
        version: Option<ProtocolVersion>,
    },
    /// A DELETE: end the session.
    Delete { session: Arc<LiveSession> },
    /// A legacy (2024-11-05) connect GET: a new session and its stream, or, when the query names
    /// a live legacy session, that session's stream taken over (`legacy_connect`).
    LegacyConnect { takeover: Option<Arc<LiveSession>> },
    /// A legacy message: a POST to the URL a connect's `endpoint` event named
    /// (`legacy_message`).
    LegacyMessage {
        session: Arc<LiveSession>,
        version: Option<ProtocolVersion>,
    },
    /// The session store must confirm the session first (a shared store answering later);
    /// then `then`.
    Confirm {
        touch: StoreFuture<bool>,
        then: Box<Self>,
    },
    /// Refused from the head alone: answered without reading the body or boxing a future.
    Reject(Rejection),
}

impl Route {
    /// The route's name, for the request span.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Initialize { .. } => "initialize",
            Self::InSession { .. } => "in_session",
            Self::Stateless { .. } => "stateless",
            Self::Modern => "modern",
            Self::Stream { .. } => "stream",
            Self::Delete { .. } => "delete",
            Self::LegacyConnect { .. } => "legacy_connect",
            Self::LegacyMessage { .. } => "legacy_message",
            Self::Confirm { then, .. } => then.name(),
            Self::Reject(_) => "rejected",
        }
    }

    /// The session the route serves, if it names one.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn session(&self) -> Option<&Arc<LiveSession>> {
        match self {
            Self::InSession { session, .. }
            | Self::Stream { session, .. }
            | Self::Delete { session }
            | Self::LegacyMessage { session, .. } => Some(session),
            Self::LegacyConnect { takeover } => takeover.as_ref(),
            Self::Confirm { then, .. } => then.session(),
            Self::Initialize { .. } | Self::Stateless { .. } | Self::Modern | Self::Reject(_) => {
                None
            }
        }
    }
}

impl From<Rejection> for Route {
    fn from(rejection: Rejection) -> Self {
        Self::Reject(rejection)
    }
}

/// Decides the route of a request from its head.
pub(crate) fn decide(shared: &Shared, parts: &Parts) -> Route {
    decide_or_reject(shared, parts).unwrap_or_else(Route::Reject)
}

fn decide_or_reject(shared: &Shared, parts: &Parts) -> Result<Route, Rejection> {
    let config = &shared.config;
    host_and_origin(config, parts)?;
    if let Some(route) = legacy(shared, parts)? {
        return Ok(route);
    }
    let allow = if config.stateless {
        "POST"
    } else {
        "GET, POST, DELETE"
    };
    match parts.method {
        Method::POST => post(shared, parts),
        Method::GET | Method::DELETE if super::modern::refuses_get_and_delete(config, parts) => {
            Err(Rejection::method_not_allowed(
                "POST",
                "the 2026-07-28 era has no GET stream and no sessions to delete: send each \
                 request as its own POST (use subscriptions/listen for change notifications)",
            ))
        }
        Method::GET | Method::DELETE if config.stateless => Err(Rejection::method_not_allowed(
            allow,
            "this server is stateless: it offers no GET stream and no sessions to delete; use POST",
        )),
        Method::GET => {
            if !accepts(&parts.headers).sse {
                return Err(Rejection::new(
                    RejectionKind::NotAcceptable,
                    "GET opens an SSE stream: the Accept header must list text/event-stream",
                ));
            }
            let version = version_header(config, parts)?;
            let session = require_session(shared, parts)?;
            Ok(confirm(shared, session, |session| Route::Stream {
                session,
                version,
            }))
        }
        Method::DELETE => {
            version_header(config, parts)?;
            let session = require_session(shared, parts)?;
            Ok(Route::Delete { session })
        }
        _ => Err(Rejection::method_not_allowed(
            allow,
            format!(
                "method {} is not allowed on the MCP endpoint; use {allow}",
                parts.method
            ),
        )),
    }
}

/// The legacy (2024-11-05) routes, when that transport is on: anything on its two paths, and
/// the one-endpoint connect (a GET elsewhere with no `Mcp-Session-Id` that accepts
/// `text/event-stream`; not on a stateless server, whose GETs get 405).
fn legacy(shared: &Shared, parts: &Parts) -> Result<Option<Route>, Rejection> {
    let Some(paths) = &shared.config.legacy else {
        return Ok(None);
    };
    let path = parts.uri.path();
    if path == paths.messages_path() {
        return legacy_message(shared, parts).map(Some);
    }
    let one_endpoint = parts.method == Method::GET
        && !shared.config.stateless
        && !parts.headers.contains_key(crate::protocol::MCP_SESSION_ID)
        && accepts(&parts.headers).sse;
    if path == paths.sse || one_endpoint {
        return legacy_connect(shared, parts).map(Some);
    }
    Ok(None)
}

/// A legacy connect: GET only (a POST gets 405, so a Streamable HTTP client pointed here falls
/// back to the legacy transport). With `?sessionId=` naming a live legacy session, its stream is
/// taken over; an unknown one gets 404.
fn legacy_connect(shared: &Shared, parts: &Parts) -> Result<Route, Rejection> {
    if parts.method != Method::GET {
        return Err(Rejection::method_not_allowed(
            "GET",
            "this is the legacy HTTP+SSE endpoint: GET it to connect (protocol 2024-11-05); \
             Streamable HTTP clients POST to the MCP endpoint",
        ));
    }
    // A missing Accept admits anything; one that is there must admit the stream.
    if parts.headers.contains_key(http::header::ACCEPT) && !accepts(&parts.headers).sse {
        return Err(Rejection::new(
            RejectionKind::NotAcceptable,
            "connecting opens an SSE stream: the Accept header must list text/event-stream",
        ));
    }
    let Some(id) = session_query(parts)? else {
        return Ok(Route::LegacyConnect { takeover: None });
    };
    let session = legacy_session(shared, parts, id)?;
    Ok(confirm_legacy(shared, session, |session| {
        Route::LegacyConnect {
            takeover: Some(session),
        }
    }))
}

/// A legacy message: a POST of JSON naming its session in `?sessionId=`.
fn legacy_message(shared: &Shared, parts: &Parts) -> Result<Route, Rejection> {
    if parts.method != Method::POST {
        return Err(Rejection::method_not_allowed(
            "POST",
            "this is the legacy HTTP+SSE message endpoint: POST JSON-RPC messages to the URL \
             your SSE stream's endpoint event named",
        ));
    }
    if !content_type_is_json(&parts.headers)? {
        return Err(Rejection::new(
            RejectionKind::UnsupportedMediaType,
            "the Content-Type must be application/json",
        ));
    }
    let version = version_header(&shared.config, parts)?;
    let Some(id) = session_query(parts)? else {
        return Err(Rejection::new(
            RejectionKind::SessionRequired,
            "the sessionId query parameter is required: POST to the exact URL of the endpoint \
             event your SSE stream received (connect with a GET first)",
        ));
    };
    let session = legacy_session(shared, parts, id)?;
    Ok(confirm_legacy(shared, session, |session| {
        Route::LegacyMessage { session, version }
    }))
}

/// The live legacy session `id` names, if this request may use it: 404 otherwise (a Streamable
/// HTTP session's id included).
fn legacy_session(
    shared: &Shared,
    parts: &Parts,
    id: &[u8],
) -> Result<Arc<LiveSession>, Rejection> {
    match shared.registry.lookup(id) {
        Some(session)
            if session.transport() == Transport::LegacySse
                && principal_matches(&shared.config, parts, &session) =>
        {
            Ok(session)
        }
        _ => Err(Rejection::new(
            RejectionKind::SessionNotFound,
            "session not found: its SSE stream ended, or it expired or was closed; connect \
             again with a GET (without sessionId) for a new session",
        )),
    }
}

/// A legacy session is confirmed with the store once `initialize` wrote its record there;
/// before that, only this node (which holds its stream) knows it.
fn confirm_legacy(
    shared: &Shared,
    session: Arc<LiveSession>,
    then: impl FnOnce(Arc<LiveSession>) -> Route,
) -> Route {
    if session.record().is_some() {
        confirm(shared, session, then)
    } else {
        then(session)
    }
}

/// A POST: its head must accept both reply forms and carry JSON.
fn post(shared: &Shared, parts: &Parts) -> Result<Route, Rejection> {
    let config = &shared.config;
    let acc = accepts(&parts.headers);
    if !(acc.json && acc.sse) {
        return Err(Rejection::new(
            RejectionKind::NotAcceptable,
            "the Accept header must list both application/json and text/event-stream",
        ));
    }
    if !content_type_is_json(&parts.headers)? {
        return Err(Rejection::new(
            RejectionKind::UnsupportedMediaType,
            "the Content-Type must be application/json",
        ));
    }
    if super::modern::claims_head(config, parts) {
        return Ok(Route::Modern);
    }
    let version = version_header(config, parts)?;
    if config.stateless {
        return Ok(Route::Stateless { version });
    }
    // The session is looked up before the body is read: an unknown one costs nothing more.
    match session_header(parts)? {
        None => Ok(Route::Initialize { version }),
        Some(id) => {
            let session = live_session(shared, parts, id)?;
            Ok(confirm(shared, session, |session| Route::InSession {
                session,
                version,
            }))
        }
    }
}

/// The route `then` builds for `session`, once the store confirms the session still exists
/// (and has refreshed its expiry). A store that answers at once costs no allocation.
fn confirm(
    shared: &Shared,
    session: Arc<LiveSession>,
    then: impl FnOnce(Arc<LiveSession>) -> Route,
) -> Route {
    match shared.store.touch(&session.id).into_ready() {
        Ok(Ok(true)) => then(session),
        Ok(Ok(false)) => Route::Reject(session_not_found()),
        Ok(Err(e)) => Route::Reject(store_unavailable(&e)),
        Err(touch) => Route::Confirm {
            touch,
            then: Box::new(then(session)),
        },
    }
}

/// The live session a GET or DELETE names: 400 without a valid header, 404 when unknown.
fn require_session(shared: &Shared, parts: &Parts) -> Result<Arc<LiveSession>, Rejection> {
    let Some(id) = session_header(parts)? else {
        return Err(Rejection::new(
            RejectionKind::SessionRequired,
            "Mcp-Session-Id header is required; initialize a session with a POST first",
        ));
    };
    live_session(shared, parts, id)
}

/// The live session `id` names, if this request may use it: 404 otherwise.
fn live_session(shared: &Shared, parts: &Parts, id: &[u8]) -> Result<Arc<LiveSession>, Rejection> {
    match shared.registry.lookup(id) {
        Some(session)
            if session.transport() == Transport::StreamableHttp
                && principal_matches(&shared.config, parts, &session) =>
        {
            Ok(session)
        }
        _ => Err(session_not_found()),
    }
}

/// With sessions bound to principals: whether this request comes from the session's owner.
/// Another principal is told the session does not exist.
fn principal_matches(config: &Config, parts: &Parts, session: &LiveSession) -> bool {
    match &config.principal {
        Some(extract) => extract(parts).as_deref() == session.principal(),
        None => true,
    }
}

/// The protocol version a request speaks: its header's, else its session's, else the version
/// the specification says to assume.
pub(crate) fn request_version(
    header: Option<ProtocolVersion>,
    session: Option<&LiveSession>,
) -> ProtocolVersion {
    header
        .or_else(|| session.and_then(LiveSession::protocol_version))
        .unwrap_or(ProtocolVersion::ASSUMED)
}

pub(crate) fn session_not_found() -> Rejection {
    Rejection::new(
        RejectionKind::SessionNotFound,
        "session not found: it expired or was ended; start a new one with initialize, without \
         Mcp-Session-Id",
    )
}

pub(crate) fn store_unavailable(error: &crate::session::StoreError) -> Rejection {
    Rejection::new(
        RejectionKind::StoreUnavailable,
        format!("{error}; retry shortly"),
    )
}
