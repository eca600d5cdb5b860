//! The legacy message route (HTTP+SSE, protocol 2024-11-05): a POST to the URL a connect's
//! `endpoint` event named. The head was checked like any POST (Host/Origin, Content-Type,
//! `sessionId`, principal); here the body is read and parsed (size limit, JSON, JSON-RPC
//! shape), and the POST is answered `202 Accepted` at once. A request's answer, and every
//! message its handler sends the client meanwhile, go on the session's SSE stream.

use std::sync::Arc;

use http::request::Parts;
use http::Response;
use serde_json::Value;

use super::bounds::{Handler, RequestBody};
use super::config::Shared;
use super::dispatch::{OnDone, Post};
use super::initialize::{json_text, negotiate, open, protocol_version_in};
use super::read::{self, reject};
use super::response::accepted;
use super::route::request_version;
use crate::body::McpBody;
use crate::error::RejectionKind;
use crate::handler::McpResponse;
use crate::jsonrpc::{Incoming, Payload};
use crate::protocol::ProtocolVersion;
use crate::session::{LiveSession, StoreFuture};

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
    let Payload::Single(message) = payload else {
        return reject(
            RejectionKind::InvalidMessage,
            "the legacy HTTP+SSE transport takes one JSON-RPC message per POST; send the \
             messages of a batch one by one",
        );
    };
    let mut post = Post {
        inner,
        shared,
        head: Arc::new(parts),
        version: request_version(header_version, Some(&session)),
        session: Some(session.clone()),
    };
    match message {
        Incoming::Request { id, method, params } => {
            let initialize = method == "initialize";
            let on_done = if initialize {
                if !session.claim_legacy_initialize() {
                    return reject(
                        RejectionKind::AlreadyInitialized,
                        "this session is already initialized; for a new one, connect again \
                         with a GET",
                    );
                }
                post.version = negotiate(&post.shared, params.as_ref());
                Some(opener(&post, &session, params.as_ref()))
            } else {
                None
            };
            match post.detached_call(id, method, params, on_done) {
                Ok(call) => {
                    tokio::spawn(async move {
                        if let Some(answer) = call.await {
                            // Lost (and counted) if the stream is gone by now.
                            session.send_unrelated(&answer);
                        }
                    });
                    accepted()
                }
                Err(rejection) => {
                    // Refused before it ran (429): another initialize may come.
                    if initialize {
                        session.release_legacy_initialize();
                    }
                    rejection.into_response()
                }
            }
        }
        other => {
            post.accept(other).await;
            accepted()
        }
    }
}

/// What opens the session once its `initialize` succeeded, before the answer is sent: the
/// record (negotiated version, client capabilities and info, the principal the connect bound
/// it to) goes to the store, the session to its creation hook. A failed `initialize` may be
/// tried again.
fn opener<S>(post: &Post<S>, session: &Arc<LiveSession>, params: Option<&Value>) -> OnDone {
    let shared = post.shared.clone();
    let session = session.clone();
    let negotiated = post.version;
    // Kept as compact JSON text, as for Streamable HTTP sessions.
    let capabilities = json_text(params, "capabilities");
    let client_info = json_text(params, "clientInfo");
    Box::new(move |res: &McpResponse| {
        let Ok(result) = res.outcome() else {
            session.release_legacy_initialize();
            return StoreFuture::ready(Ok(()));
        };
        let chosen = protocol_version_in(Some(result))
            .filter(|v| shared.config.supports(*v))
            .unwrap_or(negotiated);
        let principal = session.principal().map(str::to_owned);
        let record = session.make_record(principal, chosen, capabilities, client_info);
        match shared.store.create(&record).into_ready() {
            Ok(Ok(())) => {
                open(&shared, &session, record);
                StoreFuture::ready(Ok(()))
            }
            Ok(Err(e)) => {
                session.release_legacy_initialize();
                StoreFuture::ready(Err(e))
            }
            Err(creating) => StoreFuture::boxed(async move {
                let created = creating.await;
                match &created {
                    Ok(()) => open(&shared, &session, record),
                    Err(_) => session.release_legacy_initialize(),
                }
                created
            }),
        }
    })
}
