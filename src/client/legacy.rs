//! The client side of the legacy HTTP+SSE transport (protocol 2024-11-05), and the
//! specification's backward-compatibility procedure that falls back to it.
//!
//! [`LegacySseClient`] GETs the SSE URL, waits for the `endpoint` event, resolves the URL it
//! names against the SSE URL (refusing another origin), POSTs every message there, and reads
//! every answer, notification and server request from the one stream. The stream is not
//! reconnected: on this transport a lost stream is a lost session, so every request waiting
//! on it fails, and a new [`LegacySseClient`] is a new session.
//!
//! [`StreamableHttpClientBuilder::connect_with_fallback`] tries Streamable HTTP first and
//! falls back to this transport when the server answers the `initialize` POST with 400, 404
//! or 405, as the specification's backward-compatibility section says.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;
use http::header;
use http::{Method, Request, Response, StatusCode, Uri};
use serde_json::Value;
use tokio::sync::oneshot;
use tower::{Service, ServiceExt as _};

use super::body::{byte_stream, ClientBody};
use super::config::Config;
use super::error::{ClientError, ErrorKind};
use super::event_source::is_event_stream;
use super::message::{ServerMessage, ServerRequest};
use super::shared::{
    error_status, handle_server_request, initialize_params, outgoing, post_request, response,
    response_outcome, SseReader,
};
use super::streamable::{StreamableHttpClient, StreamableHttpClientBuilder};
use crate::protocol::ProtocolVersion;
use crate::BoxError;

type Waiting = HashMap<i64, oneshot::Sender<Result<Value, ClientError>>>;

/// An MCP client over the legacy HTTP+SSE transport (protocol 2024-11-05). Cheap to clone; the
/// clones share the session, which ends when the last clone is dropped or on
/// [`close`](Self::close).
///
/// Obtained from [`StreamableHttpClientBuilder::connect_with_fallback`] when the server speaks
/// only the legacy transport.
///
/// # Example
///
/// ```
/// use mcp_tower::client::{McpClient, StreamableHttpClient};
/// use mcp_tower::{McpLayer, McpRequest, McpResponse};
/// use serde_json::json;
/// use tower::Layer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_tower::client::ClientError> {
/// let server = McpLayer::new().legacy_sse("/sse", "/messages").layer(tower::service_fn(
///     |req: McpRequest| async move {
///         Ok::<_, std::convert::Infallible>(match req.method() {
///             "initialize" => McpResponse::result(json!({
///                 "protocolVersion": req.protocol_version().as_str(),
///                 "capabilities": {},
///                 "serverInfo": { "name": "old", "version": "1" },
///             })),
///             _ => McpResponse::empty(),
///         })
///     },
/// ));
/// let client = StreamableHttpClient::builder(server, "http://localhost/sse".parse().unwrap())
///     .connect_with_fallback()
///     .await?;
/// let McpClient::Legacy(legacy) = client else { unreachable!("POST /sse gets 405") };
/// assert_eq!(legacy.endpoint().path(), "/messages");
/// assert!(legacy.is_connected());
/// legacy.notify("notifications/roots/list_changed", None).await?;
/// assert_eq!(legacy.request("ping", None).await?, json!({}));
/// legacy.close();
/// assert!(!legacy.is_connected());
/// # Ok(()) }
/// ```
pub struct LegacySseClient<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    service: Mutex<S>,
    /// The URL the `endpoint` event named, resolved against the SSE URL.
    endpoint: Uri,
    config: Config,
    next_id: AtomicI64,
    /// Requests waiting for their answer on the stream; `None` once the stream ended.
    waiting: Mutex<Option<Waiting>>,
    init_result: Mutex<Option<Value>>,
    reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl<S> Drop for Inner<S> {
    fn drop(&mut self) {
        // The reader holds the client weakly: stop it, which drops the stream and so ends the
        // session on the server.
        let reader = self
            .reader
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(reader) = reader.take() {
            reader.abort();
        }
    }
}

impl<S> Clone for LegacySseClient<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> fmt::Debug for LegacySseClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacySseClient")
            .field("service", &std::any::type_name::<S>())
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

impl<S> LegacySseClient<S> {
    /// The URL the server's `endpoint` event named, where messages are POSTed.
    #[must_use]
    pub fn endpoint(&self) -> &Uri {
        &self.inner.endpoint
    }

    /// The server's `InitializeResult`, once initialized.
    #[must_use]
    pub fn server_info(&self) -> Option<Value> {
        lock(&self.inner.init_result).clone()
    }

    /// Whether the stream is still open (the session lives).
    #[must_use]
    pub fn is_connected(&self) -> bool {
        lock(&self.inner.waiting).is_some()
    }

    /// Ends the session: closes the stream (the server ends the session when it sees that),
    /// and fails every request still waiting.
    pub fn close(&self) {
        if let Some(reader) = lock(&self.inner.reader).take() {
            reader.abort();
        }
        fail_all(&self.inner.waiting, "the client closed the legacy session");
    }

    fn service(&self) -> S
    where
        S: Clone,
    {
        lock(&self.inner.service).clone()
    }
}

impl<S, B> LegacySseClient<S>
where
    S: Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Connects: GETs `sse_uri`, waits (up to the connect timeout) for the `endpoint` event,
    /// and starts reading the stream.
    async fn open(service: S, sse_uri: Uri, config: Config) -> Result<Self, ClientError> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(sse_uri.clone())
            .header(header::ACCEPT, "text/event-stream")
            .body(ClientBody::empty())
            .map_err(|e| ClientError::new(ErrorKind::InvalidRequest).with_source(e))?;
        for (name, value) in &config.headers {
            request.headers_mut().append(name, value.clone());
        }
        let connect = async {
            let response = service
                .clone()
                .oneshot(request)
                .await
                .map_err(|e| ClientError::new(ErrorKind::Transport).with_source(e))?;
            if !response.status().is_success() {
                return Err(error_status(response, config.max_event_size).await);
            }
            if !is_event_stream(response.headers()) {
                return Err(ClientError::msg(
                    ErrorKind::Protocol,
                    "the legacy SSE URL did not answer with text/event-stream",
                ));
            }
            let mut stream =
                SseReader::new(byte_stream(response.into_body()), config.max_event_size);
            match stream.next().await? {
                Some((kind, data)) if kind == "endpoint" => Ok((resolve(&sse_uri, &data)?, stream)),
                Some((kind, _)) => Err(ClientError::msg(
                    ErrorKind::Protocol,
                    format!("the legacy stream's first event is `{kind}`, not `endpoint`"),
                )),
                None => Err(ClientError::msg(
                    ErrorKind::Protocol,
                    "the legacy stream ended before its `endpoint` event",
                )),
            }
        };
        let (endpoint, stream) = match config.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, connect).await.map_err(|_| {
                ClientError::msg(
                    ErrorKind::Timeout,
                    "no `endpoint` event within the connect timeout",
                )
            })??,
            None => connect.await?,
        };
        let client = Self {
            inner: Arc::new(Inner {
                service: Mutex::new(service),
                endpoint,
                config,
                next_id: AtomicI64::new(0),
                waiting: Mutex::new(Some(HashMap::new())),
                init_result: Mutex::new(None),
                reader: Mutex::new(None),
            }),
        };
        let reader = tokio::spawn(read(Arc::downgrade(&client.inner), stream));
        *lock(&client.inner.reader) = Some(reader);
        Ok(client)
    }

    /// Runs the handshake: `initialize` (offering the configured protocol version), then
    /// `notifications/initialized`. Returns the server's `InitializeResult`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnsupportedVersion`] when the server picks a version that is not a
    /// [`ProtocolVersion`]; otherwise as for [`request`](Self::request).
    pub async fn initialize(&self) -> Result<Value, ClientError> {
        let params = initialize_params(&self.inner.config);
        let result = self.request("initialize", Some(params)).await?;
        let version = result.get("protocolVersion").and_then(Value::as_str);
        if version
            .and_then(|v| v.parse::<ProtocolVersion>().ok())
            .is_none()
        {
            return Err(ClientError::msg(
                ErrorKind::UnsupportedVersion,
                format!("the server chose protocol version {version:?}"),
            ));
        }
        *lock(&self.inner.init_result) = Some(result.clone());
        self.notify("notifications/initialized", None).await?;
        Ok(result)
    }

    /// Sends a request and waits for its answer on the stream (up to the request timeout, if
    /// one is set).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Rpc`] for a JSON-RPC error answer; [`ErrorKind::Status`] when the POST is
    /// refused (a `404`: the session is gone); [`ErrorKind::Transport`] when the stream ends
    /// first (the session is gone: connect again); [`ErrorKind::Timeout`].
    pub async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        match lock(&self.inner.waiting).as_mut() {
            Some(waiting) => waiting.insert(id, tx),
            None => return Err(stream_ended("the legacy SSE stream has ended")),
        };
        let forget = || {
            if let Some(waiting) = lock(&self.inner.waiting).as_mut() {
                waiting.remove(&id);
            }
        };
        if let Err(e) = self.post(outgoing(Some(id), method, params.as_ref())).await {
            forget();
            return Err(e);
        }
        let answer = match self.inner.config.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, rx).await {
                Ok(answer) => answer,
                Err(_) => {
                    forget();
                    return Err(ClientError::msg(
                        ErrorKind::Timeout,
                        format!("no answer to {method} within the request timeout"),
                    ));
                }
            },
            None => rx.await,
        };
        answer.unwrap_or_else(|_| Err(stream_ended("the legacy SSE stream has ended")))
    }

    /// Sends a notification.
    ///
    /// # Errors
    ///
    /// As for [`request`](Self::request), when the POST is refused.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), ClientError> {
        self.post(outgoing(None, method, params.as_ref())).await
    }

    /// POSTs one message to the endpoint; any `2xx` will do (the answer comes on the stream).
    async fn post(&self, message: Bytes) -> Result<(), ClientError> {
        let config = &self.inner.config;
        let request = post_request(
            &self.inner.endpoint,
            None,
            &config.headers,
            &http::HeaderMap::new(),
            message,
        )?;
        let response = self
            .service()
            .oneshot(request)
            .await
            .map_err(|e| ClientError::new(ErrorKind::Transport).with_source(e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_status(response, self.inner.config.max_event_size).await)
        }
    }

    /// Answers a request from the server through the handler, and POSTs the answer back.
    async fn answer(&self, request: ServerRequest) {
        let id = request.id().clone();
        let outcome = handle_server_request(&self.inner.config, request).await;
        // A failed POST means the session is gone; the stream's end reports that.
        let _ = self.post(response(&id, &outcome)).await;
    }
}

/// Reads the stream until it ends: answers go to the requests waiting for them, server
/// requests to the handler, everything else to the listener. Then every waiting request
/// fails.
async fn read<S, B>(client: Weak<Inner<S>>, mut stream: SseReader)
where
    S: Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let why = loop {
        let (kind, data) = match stream.next().await {
            Ok(Some(event)) => event,
            Ok(None) => break "the legacy SSE stream ended: the session is gone; connect again",
            Err(_) => break "the legacy SSE stream failed: the session is gone; connect again",
        };
        let Some(inner) = client.upgrade() else {
            return;
        };
        if kind != "message" {
            continue;
        }
        let Ok(message) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        let is_answer = message.get("method").is_none()
            && (message.get("result").is_some() || message.get("error").is_some());
        if is_answer {
            let waiter = message
                .get("id")
                .and_then(Value::as_i64)
                .and_then(|id| lock(&inner.waiting).as_mut()?.remove(&id));
            if let Some(waiter) = waiter {
                let _ = waiter.send(response_outcome(&message));
            }
            continue;
        }
        match ServerMessage::classify(message) {
            ServerMessage::Request(value) => {
                if let Some(request) = ServerRequest::from_message(&value) {
                    let client = LegacySseClient { inner };
                    tokio::spawn(async move { client.answer(request).await });
                }
            }
            other => {
                if let Some(listener) = &inner.config.listener {
                    listener(other);
                }
            }
        }
    };
    if let Some(inner) = client.upgrade() {
        fail_all(&inner.waiting, why);
    }
}

/// Resolves the `endpoint` event's URL against the SSE URL; refuses another origin.
fn resolve(sse: &Uri, endpoint: &str) -> Result<Uri, ClientError> {
    let invalid = |why: &str| {
        ClientError::msg(
            ErrorKind::Protocol,
            format!("the endpoint event's URL {endpoint:?} {why}"),
        )
    };
    let resolved: Uri = if endpoint.contains("://") {
        endpoint.parse().map_err(|_| invalid("is not a URL"))?
    } else {
        let base = sse.path();
        let joined = if endpoint.starts_with('/') {
            endpoint.to_owned()
        } else {
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{}{endpoint}", if dir.is_empty() { "/" } else { dir })
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = sse.scheme().cloned();
        parts.authority = sse.authority().cloned();
        parts.path_and_query = Some(joined.parse().map_err(|_| invalid("is not a path"))?);
        Uri::from_parts(parts).map_err(|_| invalid("cannot be resolved"))?
    };
    if resolved.scheme() != sse.scheme() || resolved.authority() != sse.authority() {
        return Err(invalid("is on another origin than the SSE URL; refused"));
    }
    Ok(resolved)
}

fn stream_ended(why: &str) -> ClientError {
    ClientError::msg(ErrorKind::Transport, why)
}

fn fail_all(waiting: &Mutex<Option<Waiting>>, why: &str) {
    let waiting = lock(waiting).take();
    for (_, waiter) in waiting.into_iter().flatten() {
        let _ = waiter.send(Err(stream_ended(why)));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A client connected over whichever transport the server speaks: see
/// [`StreamableHttpClientBuilder::connect_with_fallback`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum McpClient<S> {
    /// Streamable HTTP.
    Streamable(StreamableHttpClient<S>),
    /// The legacy HTTP+SSE transport (protocol 2024-11-05).
    Legacy(LegacySseClient<S>),
}

impl<S, B> McpClient<S>
where
    S: Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Sends a request and waits for its answer.
    ///
    /// # Errors
    ///
    /// As [`StreamableHttpClient::request`] or [`LegacySseClient::request`].
    pub async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ClientError> {
        match self {
            Self::Streamable(client) => client.request(method, params).await,
            Self::Legacy(client) => client.request(method, params).await,
        }
    }

    /// Sends a notification.
    ///
    /// # Errors
    ///
    /// As [`StreamableHttpClient::notify`] or [`LegacySseClient::notify`].
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), ClientError> {
        match self {
            Self::Streamable(client) => client.notify(method, params).await,
            Self::Legacy(client) => client.notify(method, params).await,
        }
    }

    /// The server's `InitializeResult`.
    #[must_use]
    pub fn server_info(&self) -> Option<Value> {
        match self {
            Self::Streamable(client) => client.server_info(),
            Self::Legacy(client) => client.server_info(),
        }
    }

    /// Ends the session (`DELETE` for Streamable HTTP; closing the stream for the legacy
    /// transport).
    ///
    /// # Errors
    ///
    /// As [`StreamableHttpClient::close`]; closing a legacy session cannot fail.
    pub async fn close(&self) -> Result<(), ClientError> {
        match self {
            Self::Streamable(client) => client.close().await,
            Self::Legacy(client) => {
                client.close();
                Ok(())
            }
        }
    }
}

impl<S, B> StreamableHttpClientBuilder<S>
where
    S: Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Connects and initializes with the specification's backward-compatibility procedure:
    /// `initialize` is POSTed to the URL (Streamable HTTP); if the server answers 400, 404 or
    /// 405, the URL is taken for a legacy HTTP+SSE one (protocol 2024-11-05): it is GET, its
    /// `endpoint` event names where to POST (another origin is refused), and every answer is
    /// read from that stream. The builder's settings (headers, client info, capabilities,
    /// request handler, listener, timeouts) apply to either.
    ///
    /// # Errors
    ///
    /// The Streamable HTTP error when it is not one of those statuses; else the legacy
    /// transport's ([`ErrorKind::Protocol`] for a stream that does not start with `endpoint`
    /// or names another origin).
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_tower::client::{McpClient, StreamableHttpClient};
    /// use mcp_tower::{McpLayer, McpRequest, McpResponse};
    /// use serde_json::json;
    /// use tower::Layer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_tower::client::ClientError> {
    /// // A server that speaks the legacy transport on /sse (a POST there gets 405).
    /// let server = McpLayer::new().legacy_sse("/sse", "/messages").layer(tower::service_fn(
    ///     |req: McpRequest| async move {
    ///         Ok::<_, std::convert::Infallible>(match req.method() {
    ///             "initialize" => McpResponse::result(json!({
    ///                 "protocolVersion": req.protocol_version().as_str(),
    ///                 "capabilities": {},
    ///                 "serverInfo": { "name": "old", "version": "1" },
    ///             })),
    ///             _ => McpResponse::empty(),
    ///         })
    ///     },
    /// ));
    /// let client = StreamableHttpClient::builder(server, "http://localhost/sse".parse().unwrap())
    ///     .connect_with_fallback()
    ///     .await?;
    /// assert!(matches!(client, McpClient::Legacy(_)));
    /// assert_eq!(client.server_info().unwrap()["serverInfo"]["name"], "old");
    /// assert_eq!(client.request("ping", None).await?, json!({}));
    /// client.close().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with_fallback(self) -> Result<McpClient<S>, ClientError> {
        let service = self.service.clone();
        let uri = self.uri.clone();
        let config = self.config.clone();
        let client = self.build();
        match client.initialize().await {
            Ok(_) => Ok(McpClient::Streamable(client)),
            Err(e) if falls_back(&e) => {
                let legacy = LegacySseClient::open(service, uri, config).await?;
                legacy.initialize().await?;
                Ok(McpClient::Legacy(legacy))
            }
            Err(e) => Err(e),
        }
    }
}

/// 400, 404 or 405 to the `initialize` POST: the server may speak the legacy transport.
fn falls_back(error: &ClientError) -> bool {
    matches!(
        error.status(),
        Some(StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn endpoints_resolve_against_the_sse_url_on_its_origin_only() {
        let sse = uri("http://localhost:3000/app/sse?x=1");
        assert_eq!(
            resolve(&sse, "/messages?sessionId=a").unwrap(),
            uri("http://localhost:3000/messages?sessionId=a")
        );
        assert_eq!(
            resolve(&sse, "messages?sessionId=a").unwrap(),
            uri("http://localhost:3000/app/messages?sessionId=a")
        );
        assert_eq!(
            resolve(&sse, "http://localhost:3000/m?sessionId=a").unwrap(),
            uri("http://localhost:3000/m?sessionId=a")
        );
        for foreign in [
            "http://evil.example/m?sessionId=a",
            "https://localhost:3000/m",
            "http://localhost:3001/m",
        ] {
            let err = resolve(&sse, foreign).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol, "{foreign}");
        }
        assert!(resolve(&sse, "/bad path").is_err());
    }
}
