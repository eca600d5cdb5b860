//! The initialize route: a POST without `Mcp-Session-Id` to a server with sessions. Its body
//! must be `initialize`; a session is reserved while the handler runs, and opens (with the
//! version the handler's result names) only when that result is a success.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, Response};
use serde_json::Value;

use super::bounds::{Handler, RequestBody};
use super::config::Shared;
use super::dispatch::{OnDone, Post};
use super::read::{self, reject};
use super::route::request_version;
use crate::body::McpBody;
use crate::error::RejectionKind;
use crate::handler::McpResponse;
use crate::jsonrpc::{Incoming, Payload};
use crate::protocol::{ProtocolVersion, MCP_SESSION_ID};
use crate::session::{start_reaper, CloseReason, LiveSession, Session, SessionRecord, StoreFuture};

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
    let Payload::Single(Incoming::Request { id, method, params }) = payload else {
        return session_required();
    };
    if method != "initialize" {
        return session_required();
    }
    let post = Post {
        inner,
        shared,
        head: Arc::new(parts),
        version: request_version(header_version, None),
        session: None,
    };
    open_session(post, id, method, params).await
}

fn session_required() -> Response<McpBody> {
    reject(
        RejectionKind::SessionRequired,
        "Mcp-Session-Id header is required; start a session by sending initialize first",
    )
}

/// The version an `initialize` settles on before the handler answers: the client's, if we
/// speak it, else our newest. Only session-era versions: `initialize` never selects a
/// stateless one.
pub(crate) fn negotiate(shared: &Shared, params: Option<&Value>) -> ProtocolVersion {
    let config = &shared.config;
    protocol_version_in(params)
        .filter(|v| config.supports(*v) && !v.is_stateless())
        .unwrap_or_else(|| {
            config
                .versions
                .iter()
                .rev()
                .copied()
                .find(|v| !v.is_stateless())
                .unwrap_or(ProtocolVersion::LATEST_SESSION)
        })
}

/// The `protocolVersion` an `initialize` request or result names, if it is one we know.
pub(super) fn protocol_version_in(value: Option<&Value>) -> Option<ProtocolVersion> {
    value?.get("protocolVersion")?.as_str()?.parse().ok()
}

/// `params[name]` as compact JSON text, in an allocation of its exact size (a shrunk
/// serializer buffer would leave a hole beside every session). The buffer is reused.
pub(super) fn json_text(params: Option<&Value>, name: &str) -> Option<Box<str>> {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let value = params?.get(name)?;
    BUFFER.with_borrow_mut(|buf| {
        buf.clear();
        serde_json::to_writer(&mut *buf, value).ok()?;
        let text = std::str::from_utf8(buf).ok()?;
        let boxed = Box::from(text);
        // A huge value must not stay allocated in the buffer.
        buf.truncate(0);
        buf.shrink_to(4096);
        Some(boxed)
    })
}

/// Closes a session reserved by `initialize` unless it opened, even when the client goes away
/// mid-call and the future is dropped.
struct Reservation(Option<Arc<LiveSession>>);

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(session) = self.0.take() {
            session.close(CloseReason::Closed);
        }
    }
}

async fn open_session<S: Handler>(
    mut post: Post<S>,
    id: crate::jsonrpc::RequestId,
    method: String,
    params: Option<Value>,
) -> Response<McpBody> {
    let shared = post.shared.clone();
    let config = &shared.config;
    let negotiated = negotiate(&shared, params.as_ref());
    post.version = negotiated;
    if shared.registry.draining.load(Ordering::Acquire) {
        return reject(
            RejectionKind::TooManySessions,
            "this server is shutting down and admits no new sessions; retry later",
        );
    }
    let principal = config
        .principal
        .as_ref()
        .and_then(|extract| extract(&post.head));
    let Some(session) = shared
        .registry
        .reserve(config.max_sessions, &config.session)
    else {
        return reject(
            RejectionKind::TooManySessions,
            format!(
                "this server is at its limit of {} sessions; retry later",
                config.max_sessions
            ),
        );
    };
    start_reaper(&shared.registry, &config.session);
    // Kept as compact JSON text: a parsed object would cost hundreds of bytes per session.
    let capabilities = json_text(params.as_ref(), "capabilities");
    let client_info = json_text(params.as_ref(), "clientInfo");
    post.session = Some(session.clone());
    let reservation = Reservation(Some(session.clone()));
    let opener = shared.clone();
    let on_done: OnDone = Box::new(move |res: &McpResponse| {
        let mut reservation = reservation;
        let Ok(result) = res.outcome() else {
            return StoreFuture::ready(Ok(()));
        };
        let chosen = protocol_version_in(Some(result))
            .filter(|v| opener.config.versions.contains(v) && !v.is_stateless())
            .unwrap_or(negotiated);
        let Some(session) = reservation.0.take() else {
            return StoreFuture::ready(Ok(()));
        };
        let record = session.make_record(principal, chosen, capabilities, client_info);
        match opener.store.create(&record).into_ready() {
            Ok(Ok(())) => {
                open(&opener, &session, record);
                StoreFuture::ready(Ok(()))
            }
            Ok(Err(e)) => {
                session.close(CloseReason::Closed);
                StoreFuture::ready(Err(e))
            }
            Err(creating) => StoreFuture::boxed(async move {
                match creating.await {
                    Ok(()) => {
                        open(&opener, &session, record);
                        Ok(())
                    }
                    Err(e) => {
                        session.close(CloseReason::Closed);
                        Err(e)
                    }
                }
            }),
        }
    });
    let session_id = session.id.clone();
    let mut res = post.request(id, method, params, Some(on_done)).await;
    // A JSON reply is complete: name the session only if it opened. An SSE reply's head goes
    // out before the answer exists, so it names the session; should `initialize` then fail,
    // the session is closed and the id gets 404.
    let opened = session.protocol_version().is_some() && !session.is_closed();
    if opened || res.body().is_sse() {
        if let Ok(value) = HeaderValue::from_str(session_id.as_str()) {
            res.headers_mut().insert(MCP_SESSION_ID, value);
        }
    }
    res
}

/// Makes the session visible on this node and tells the application.
pub(super) fn open(shared: &Shared, session: &Arc<LiveSession>, record: SessionRecord) {
    session.open(record);
    crate::telemetry::session_created(&session.id, session.transport());
    if let Some(hook) = &shared.config.on_session_created {
        hook(&Session::of(session));
    }
}
