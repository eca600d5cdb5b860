//! Dispatch of a parsed POST: each message to the handler (on its own clone, abortable by
//! `notifications/cancelled`), and the reply in the form the request needs: 202, a JSON
//! document, or an SSE stream. Every POST route ends here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures_util::future::{AbortHandle, Abortable, FutureExt};
use futures_util::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use http::Response;
use serde_json::Value;
use tower::ServiceExt;
use tower_service::Service;

use super::bounds::Handler;
use super::config::{ResponseMode, Shared};
use super::read::reject;
use super::response::{accepted, json_response, sse_response};
use crate::body::McpBody;
use crate::error::{BoxError, Rejection, RejectionKind};
use crate::handler::{McpRequest, McpResponse, RequestContext};
use crate::jsonrpc::{self, code, ErrorObject, Incoming, Payload, RequestId};
use crate::outbox::Outbox;
use crate::protocol::ProtocolVersion;
use crate::session::{InFlight, LiveSession, Session, StoreFuture};
use crate::telemetry::{self, HandlerTimer};

/// Everything one POST shares between its messages.
pub(crate) struct Post<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
    pub(crate) head: Arc<http::request::Parts>,
    pub(crate) version: ProtocolVersion,
    pub(crate) session: Option<Arc<LiveSession>>,
}
/// Calls the handler on its own clone (ready, then call); a handler error becomes −32603.
pub(crate) async fn call_handler<S>(inner: S, req: McpRequest) -> McpResponse
where
    S: Service<McpRequest, Response = McpResponse>,
    S::Error: Into<BoxError>,
{
    telemetry::message(req.method(), req.id());
    let timer = HandlerTimer::start(req.method());
    // A panicking handler must still end its request: answer -32603 rather than leave a
    // stream open forever.
    let outcome = std::panic::AssertUnwindSafe(inner.oneshot(req))
        .catch_unwind()
        .await;
    timer.stop();
    match outcome {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => {
            let e: BoxError = e.into();
            McpResponse::error(ErrorObject::new(
                code::INTERNAL_ERROR,
                format!("the handler failed: {e}"),
            ))
        }
        Err(_) => McpResponse::error(ErrorObject::new(
            code::INTERNAL_ERROR,
            "the handler panicked",
        )),
    }
}

/// Keeps a handler call abortable by `notifications/cancelled` while it runs; unregisters it
/// however the call ends, even when its future is dropped.
struct Running {
    session: Arc<LiveSession>,
    id: RequestId,
    token: u64,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.session.finish_running(&self.id, self.token);
    }
}

impl<S: Handler> Post<S> {
    pub(crate) fn context(
        &self,
        params: Option<&Value>,
        outbox: Option<Arc<Outbox>>,
    ) -> RequestContext {
        RequestContext::new(
            self.version,
            self.session.as_ref().map(Session::of),
            self.head.clone(),
            params,
            outbox,
        )
    }

    /// Dispatches a payload that needs nothing route-specific: one request, one notification
    /// or answer (202), or a batch.
    pub(crate) async fn payload(self, payload: Payload) -> Response<McpBody> {
        match payload {
            Payload::Single(Incoming::Request { id, method, params }) => {
                self.request(id, method, params, None).await
            }
            Payload::Single(other) => {
                self.accept(other).await;
                accepted()
            }
            Payload::Batch(items) => match self.batch(items).await {
                Ok(res) | Err(res) => res,
            },
        }
    }

    /// Counts `count` requests in flight for the session (each request of a batch takes a
    /// slot); 429 when that would pass `max_in_flight`. No session or no request: no guard.
    fn begin(&self, count: usize) -> Result<Option<InFlight>, Rejection> {
        let Some(session) = self.session.as_ref().filter(|_| count > 0) else {
            return Ok(None);
        };
        session.begin_requests(count).map(Some).ok_or_else(|| {
            Rejection::new(
                RejectionKind::TooManyRequests,
                format!(
                    "this session may have {} requests in flight and this POST would take it \
                     past that ({count} more); wait for some to finish",
                    self.shared.config.session.max_in_flight
                ),
            )
        })
    }

    /// One request: calls the handler and answers as JSON or SSE (see [`ResponseMode`]).
    pub(crate) async fn request(
        self,
        id: RequestId,
        method: String,
        params: Option<Value>,
        on_done: Option<OnDone>,
    ) -> Response<McpBody> {
        let config = self.shared.config.clone();
        let session_config = config.session.clone();
        // The request counts as activity for its session until its answer is written.
        let in_flight = match self.begin(1) {
            Ok(in_flight) => in_flight,
            Err(rejection) => return rejection.into_response(),
        };
        let mode = config.response_mode;
        let outbox = match mode {
            ResponseMode::Json => Outbox::detached(self.session.clone()),
            ResponseMode::Adaptive | ResponseMode::Sse => {
                Outbox::buffered(self.session.clone(), Some(id.clone()), self.version)
            }
        };
        let mut call = self.call(id, method, params, on_done, outbox.clone(), in_flight);
        let reply = Reply {
            outbox,
            capacity: session_config.stream_capacity,
            keep_alive: session_config.keep_alive,
        };
        match mode {
            ResponseMode::Json => match call.await {
                Some(json) => json_response(json),
                // Cancelled: an answer is forbidden and JSON has no empty form, so an event
                // stream that ends at once; not a session stream, since nothing follows.
                None => sse_response(crate::sse::channel(1).1),
            },
            ResponseMode::Sse => reply.streamed(call).await,
            ResponseMode::Adaptive => {
                // Most handlers answer at once: try that before arming a timer.
                if let Poll::Ready(answer) = futures_util::poll!(&mut call) {
                    return reply.finished(answer);
                }
                let delay = tokio::time::sleep(config.sse_after);
                let waiter = reply.outbox.clone();
                tokio::select! {
                    biased;
                    answer = &mut call => reply.finished(answer),
                    () = waiter.first_message() => reply.streamed(call).await,
                    () = delay => reply.streamed(call).await,
                }
            }
        }
    }

    /// One request whose related messages and answer all go to the session's standalone
    /// stream: the legacy (2024-11-05) transport writes everything on its one stream. The call
    /// counts as in flight and `notifications/cancelled` aborts it, as for
    /// [`request`](Self::request); its output is the answer to send (`None` when cancelled).
    ///
    /// # Errors
    ///
    /// 429 when the session already has `max_in_flight` requests in flight.
    pub(crate) fn detached_call(
        self,
        id: RequestId,
        method: String,
        params: Option<Value>,
        on_done: Option<OnDone>,
    ) -> Result<Call, Rejection> {
        let in_flight = self.begin(1)?;
        let outbox = Outbox::detached(self.session.clone());
        Ok(self.call(id, method, params, on_done, outbox, in_flight))
    }

    /// The handler call of one request, registered as running (cancellable) and counted in
    /// flight until it ends; `on_done` runs on its answer before the answer is encoded.
    fn call(
        self,
        id: RequestId,
        method: String,
        params: Option<Value>,
        on_done: Option<OnDone>,
        outbox: Arc<Outbox>,
        in_flight: Option<InFlight>,
    ) -> Call {
        let ctx = self.context(params.as_ref(), Some(outbox));
        // `initialize` must not be cancelled; every other request can be, by its id.
        let cancellable = self
            .session
            .as_ref()
            .filter(|_| method != "initialize")
            .cloned();
        let req = McpRequest::from_parts(Some(id.clone()), method, params, ctx);
        let (abort, registration) = AbortHandle::new_pair();
        let registered = cancellable.map(|session| Running {
            token: session.register_running(id.clone(), abort),
            session,
            id: id.clone(),
        });
        let handler = Abortable::new(call_handler(self.inner, req), registration);
        let call = async move {
            let _in_flight = in_flight;
            let outcome = handler.await;
            drop(registered);
            // Cancelled: no answer at all.
            let res = outcome.ok()?;
            let mut res = res;
            if let Some(on_done) = on_done {
                // `initialize` opens its session here: only once the store holds it does the
                // client learn of it.
                if let Err(e) = on_done(&res).await {
                    res = McpResponse::error(ErrorObject::new(
                        code::INTERNAL_ERROR,
                        format!("the session could not be opened: {e}; retry initialize"),
                    ));
                }
            }
            Some(jsonrpc::response_bytes(&id, res.outcome()))
        };
        Box::pin(call)
    }

    /// A notification or a client response, handled before the 202 goes out. The returned
    /// future owns what it needs, so it stays `Send` without `S: Sync`.
    pub(crate) fn accept(&self, message: Incoming) -> impl Future<Output = ()> + Send + 'static {
        let call = match message {
            Incoming::Notification { method, params } => {
                if let Some(session) = &self.session {
                    transport_notification(&self.shared, session, &method, params.as_ref());
                }
                let ctx = self.context(params.as_ref(), None);
                let req = McpRequest::from_parts(None, method, params, ctx);
                Some(call_handler(self.inner.clone(), req))
            }
            Incoming::Response { id, outcome } => {
                // An answer to a request the server sent. One nobody waits for (timed out,
                // unknown, or from another session's id space) is dropped: still 202.
                if let (Some(session), Some(id)) = (&self.session, id) {
                    self.shared.registry.answer(session, &id, outcome);
                }
                None
            }
            Incoming::Request { .. } => None,
        };
        async move {
            if let Some(call) = call {
                let _ = call.await;
            }
        }
    }

    /// A 2025-03-26 batch: notifications and responses first, then every request at once;
    /// the reply is a JSON array (an SSE stream in [`ResponseMode::Sse`]).
    async fn batch(self, items: Vec<Incoming>) -> Result<Response<McpBody>, Response<McpBody>> {
        if !self.version.allows_batches() {
            return Err(reject(
                RejectionKind::InvalidMessage,
                format!(
                    "JSON-RPC batches are only allowed in protocol version 2025-03-26, and this \
                     request speaks {}; send one message per POST",
                    self.version
                ),
            ));
        }
        if items.iter().any(|m| m.method() == Some("initialize")) {
            return Err(reject(
                RejectionKind::InvalidMessage,
                "initialize must not be sent in a batch",
            ));
        }
        let has_requests = items.iter().any(Incoming::is_request);
        if has_requests && items.iter().any(Incoming::is_response) {
            return Err(reject(
                RejectionKind::InvalidMessage,
                "a batch holds either requests and notifications, or responses, not both",
            ));
        }
        // Only requests take an in-flight slot: answers and notifications (a cancellation, say)
        // must get through even when the session is at its limit.
        let requests_count = items.iter().filter(|m| m.is_request()).count();
        let _in_flight = self
            .begin(requests_count)
            .map_err(Rejection::into_response)?;
        let mut requests = Vec::new();
        for item in items {
            match item {
                Incoming::Request { id, method, params } => requests.push((id, method, params)),
                other => self.accept(other).await,
            }
        }
        if requests.is_empty() {
            return Ok(accepted());
        }
        let config = &self.shared.config;
        let streaming = config.response_mode == ResponseMode::Sse;
        let outbox = if streaming {
            Outbox::buffered(self.session.clone(), None, self.version)
        } else {
            Outbox::detached(self.session.clone())
        };
        let calls = requests.into_iter().map(|(id, method, params)| {
            let ctx = self.context(params.as_ref(), Some(outbox.clone()));
            let req = McpRequest::from_parts(Some(id.clone()), method, params, ctx);
            let handler = call_handler(self.inner.clone(), req);
            async move { jsonrpc::response_bytes(&id, handler.await.outcome()) }
        });
        if streaming {
            let mut pending: FuturesUnordered<_> = calls.collect();
            let body = outbox.stream(config.session.stream_capacity, config.session.keep_alive);
            tokio::spawn(async move {
                let _in_flight = _in_flight;
                while let Some(json) = pending.next().await {
                    let last = pending.is_empty();
                    outbox.respond(&json, last).await;
                }
            });
            return Ok(sse_response(body));
        }
        let answers: Vec<Vec<u8>> = calls.collect::<FuturesOrdered<_>>().collect().await;
        let mut json = Vec::with_capacity(answers.iter().map(|a| a.len() + 1).sum::<usize>() + 2);
        json.push(b'[');
        for (i, answer) in answers.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(answer);
        }
        json.push(b']');
        Ok(json_response(json))
    }
}

/// Runs once the handler answered, before its answer is written (initialize opens its session
/// there); an error replaces the answer.
pub(crate) type OnDone = Box<dyn FnOnce(&McpResponse) -> StoreFuture<()> + Send>;

/// A handler call that yields its answer, or `None` when the request was cancelled.
pub(crate) type Call = Pin<Box<dyn Future<Output = Option<Vec<u8>>> + Send>>;

/// How one request's reply is written once its form is known.
struct Reply {
    outbox: Arc<Outbox>,
    capacity: usize,
    keep_alive: Option<std::time::Duration>,
}

impl Reply {
    /// An SSE stream whose answer ends it. A handler that has answered by now (most answer
    /// at once) has its answer written before the response leaves, so hyper writes headers,
    /// events and the end of the stream in one go, and no task is spawned; a slower one goes on
    /// in its own task.
    async fn streamed(self, mut call: Call) -> Response<McpBody> {
        let body = self.outbox.stream(self.capacity, self.keep_alive);
        match futures_util::poll!(&mut call) {
            Poll::Ready(Some(json)) => finish(self.outbox, json),
            Poll::Ready(None) => self.outbox.abandon(),
            Poll::Pending => {
                let outbox = self.outbox;
                tokio::spawn(async move {
                    match call.await {
                        Some(json) => outbox.respond(&json, true).await,
                        None => outbox.abandon(),
                    }
                });
            }
        }
        sse_response(body)
    }

    /// The handler answered before the reply took a form: JSON, unless it already sent related
    /// messages, which then travel with the answer on an SSE stream.
    fn finished(self, answer: Option<Vec<u8>>) -> Response<McpBody> {
        let Some(json) = answer else {
            return self.cancelled();
        };
        if self.outbox.has_buffered() {
            let body = self.outbox.stream(self.capacity, self.keep_alive);
            finish(self.outbox, json);
            sse_response(body)
        } else {
            self.outbox.detach();
            json_response(json)
        }
    }

    /// Cancelled before the reply took a form: a stream that ends without an answer.
    fn cancelled(self) -> Response<McpBody> {
        let body = self.outbox.stream(self.capacity, self.keep_alive);
        self.outbox.abandon();
        sse_response(body)
    }
}

/// Writes the answer that ends a stream now; only a stateless stream that is already full makes
/// it wait for room, in a task of its own.
fn finish(outbox: Arc<Outbox>, json: Vec<u8>) {
    if !outbox.try_finish(&json) {
        tokio::spawn(async move { outbox.respond(&json, true).await });
    }
}

/// What the transport itself does with a client notification, before the handler sees it.
fn transport_notification(
    shared: &Shared,
    session: &LiveSession,
    method: &str,
    params: Option<&Value>,
) {
    let param = |name: &str| params.and_then(|p| p.get(name));
    match method {
        "notifications/initialized" => session.mark_initialized(),
        "notifications/cancelled" => {
            if let Some(id) = param("requestId").and_then(RequestId::from_value) {
                shared.registry.cancel(session, &id);
            }
        }
        "notifications/progress" => {
            if let Some(token) = param("progressToken") {
                session.client_progress(token);
            }
        }
        _ => {}
    }
}
