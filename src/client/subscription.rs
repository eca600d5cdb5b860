//! `subscriptions/listen` (2026-07-28): a long-lived POST whose SSE reply carries the change
//! notifications the client asked for, re-opened when it drops.

use std::fmt;

use http::{Request, Response};
use serde_json::{json, Value};
use tokio::time::Instant;
use tower::Service;

use super::backoff::{Jitter, RetryState};
use super::body::{byte_stream, ClientBody};
use super::error::{ClientError, ErrorKind};
use super::event_source::is_event_stream;
use super::message::ServerMessage;
use super::shared::{response_outcome, SseReader};
use super::streamable::StreamableHttpClient;
use crate::BoxError;

const ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";

/// A `subscriptions/listen` stream of a 2026-07-28 connection; see
/// [`StreamableHttpClient::subscribe`].
///
/// Nothing is sent before the first [`next`](Self::next). When the stream drops (the
/// connection breaks, or the body ends without the server's completion result) the same
/// listen request is sent again, with a new id, after the client's [`Backoff`](super::Backoff)
/// delay; every delivered message resets the backoff. Notifications sent while no stream was
/// open are lost: re-list what matters after [`reopened`](Self::reopened) grows.
///
/// # Example
///
/// The server publishes a change; the subscription delivers it after the acknowledgement, and
/// ends when the server closes its listen streams.
///
/// ```
/// use mcp_tower::client::StreamableHttpClient;
/// use mcp_tower::{Change, McpLayer, McpRequest, McpResponse};
/// use serde_json::json;
/// use tower::Layer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_tower::client::ClientError> {
/// let layer = McpLayer::new();
/// let publisher = layer.publisher();
/// let server = layer.layer(tower::service_fn(|req: McpRequest| async move {
///     Ok::<_, std::convert::Infallible>(match req.method() {
///         "server/discover" => McpResponse::result(json!({
///             "supportedVersions": ["2026-07-28"], "capabilities": { "tools": { "listChanged": true } },
///         })),
///         other => McpResponse::method_not_found(other),
///     })
/// }));
/// let client = StreamableHttpClient::builder(server, "http://localhost/mcp".parse().unwrap()).build();
/// client.connect().await?;
/// let mut changes = client.subscribe(json!({ "toolsListChanged": true }));
/// let ack = changes.next().await.unwrap()?;
/// assert_eq!(ack.method(), Some("notifications/subscriptions/acknowledged"));
///
/// publisher.publish(&Change::ToolsListChanged);
/// let change = changes.next().await.unwrap()?;
/// assert_eq!(change.method(), Some("notifications/tools/list_changed"));
///
/// publisher.close_listen_streams();
/// assert!(changes.next().await.is_none());
/// assert_eq!(changes.reopened(), 0);
/// # Ok(()) }
/// ```
pub struct Subscription<S> {
    client: StreamableHttpClient<S>,
    notifications: Value,
    reader: Option<(i64, SseReader)>,
    retry: RetryState,
    jitter: Jitter,
    acknowledged: Option<Value>,
    opened: u64,
    closed: bool,
}

impl<S> fmt::Debug for Subscription<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("notifications", &self.notifications)
            .field("open", &self.reader.is_some())
            .field("acknowledged", &self.acknowledged)
            .field("opened", &self.opened)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<S> Subscription<S> {
    pub(super) fn new(client: StreamableHttpClient<S>, notifications: Value) -> Self {
        Self {
            client,
            notifications,
            reader: None,
            retry: RetryState::default(),
            jitter: Jitter::new(),
            acknowledged: None,
            opened: 0,
            closed: false,
        }
    }

    /// The subset of the filter the server accepted: the `notifications` of the latest
    /// `notifications/subscriptions/acknowledged`, once one arrived.
    #[must_use]
    pub fn acknowledged(&self) -> Option<&Value> {
        self.acknowledged.as_ref()
    }

    /// How many times the listen request was sent (1 for a stream that never dropped).
    #[must_use]
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// How many times a dropped stream was re-opened.
    #[must_use]
    pub fn reopened(&self) -> u64 {
        self.opened.saturating_sub(1)
    }

    /// Closes the stream (the server sees the connection go) and ends the subscription.
    pub fn close(&mut self) {
        self.reader = None;
        self.closed = true;
    }
}

impl<S, B> Subscription<S>
where
    S: Service<Request<ClientBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// The next notification: the acknowledgement first, then the changes asked for. `None`
    /// once the server ended the subscription with its completion result, or after
    /// [`close`](Self::close).
    ///
    /// # Errors
    ///
    /// A refusal of the listen request (a JSON-RPC error, a `4xx`) ends the subscription with
    /// it; [`ErrorKind::RetriesExhausted`] when re-opening gave up under the backoff's limits.
    pub async fn next(&mut self) -> Option<Result<ServerMessage, ClientError>> {
        loop {
            if self.closed {
                return None;
            }
            let Some((id, reader)) = &mut self.reader else {
                match self.open().await {
                    Ok(open) => self.reader = Some(open),
                    Err(e) if retried(&e) => {
                        if let Err(e) = self.pause(e).await {
                            return Some(Err(e));
                        }
                    }
                    Err(e) => {
                        self.closed = true;
                        return Some(Err(e));
                    }
                }
                continue;
            };
            let id = *id;
            let dropped = match reader.next().await {
                Ok(Some((kind, data))) if kind == "message" => {
                    let Ok(message) = serde_json::from_str::<Value>(&data) else {
                        continue;
                    };
                    let is_answer = message.get("method").is_none()
                        && message.get("id").and_then(Value::as_i64) == Some(id);
                    if is_answer {
                        // The server ended the subscription (shutdown, or its own close).
                        self.close();
                        return response_outcome(&message).err().map(Err);
                    }
                    self.retry.progress();
                    if message.get("method").and_then(Value::as_str) == Some(ACKNOWLEDGED) {
                        self.acknowledged = message
                            .get("params")
                            .and_then(|p| p.get("notifications"))
                            .cloned();
                    }
                    return Some(Ok(ServerMessage::classify(message)));
                }
                Ok(Some(_)) => continue,
                Ok(None) => ClientError::msg(
                    ErrorKind::Transport,
                    "the subscriptions/listen stream ended without its completion result",
                ),
                Err(e) => e,
            };
            self.reader = None;
            if let Err(e) = self.pause(dropped).await {
                return Some(Err(e));
            }
        }
    }

    /// POSTs the listen request; its SSE reply, or why there is none.
    async fn open(&mut self) -> Result<(i64, SseReader), ClientError> {
        self.opened += 1;
        let params = json!({ "notifications": self.notifications });
        let (id, response) = self.client.post_listen(params).await?;
        if is_event_stream(response.headers()) {
            let limit = self.client.max_message_size();
            return Ok((id, SseReader::new(byte_stream(response.into_body()), limit)));
        }
        // A JSON answer: the listen request was refused.
        let call = self.client.read_answer(id, response).await?;
        match call.result().await {
            Err(e) => Err(e),
            Ok(_) => Err(ClientError::msg(
                ErrorKind::Protocol,
                "subscriptions/listen was answered without a stream",
            )),
        }
    }

    /// Waits out the backoff after `failure`; gives up (with it as the source) when the
    /// policy says so.
    async fn pause(&mut self, failure: ClientError) -> Result<(), ClientError> {
        let policy = self.client.backoff();
        match self
            .retry
            .next_delay(&policy, Instant::now(), None, &mut self.jitter)
        {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            None => {
                self.closed = true;
                Err(ClientError::msg(
                    ErrorKind::RetriesExhausted,
                    "gave up re-opening the subscriptions/listen stream",
                )
                .with_source(failure))
            }
        }
    }
}

impl<S> StreamableHttpClient<S> {
    /// Opens a 2026-07-28 `subscriptions/listen` stream for the change notifications in
    /// `notifications` (`toolsListChanged`, `promptsListChanged`, `resourcesListChanged`:
    /// booleans; `resourceSubscriptions`: URIs). It is re-opened when it drops; see
    /// [`Subscription`]. Nothing is sent before the first [`Subscription::next`].
    ///
    /// Needs a 2026-07-28 connection ([`discover`](Self::discover) or
    /// [`connect`](Self::connect)); otherwise the first `next` fails with
    /// [`ErrorKind::Protocol`]. Session-era servers send changes on [`listen`](Self::listen).
    ///
    /// ```
    /// use mcp_tower::client::StreamableHttpClient;
    /// use mcp_tower::{McpLayer, McpRequest, McpResponse};
    /// use serde_json::json;
    /// use tower::Layer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mcp_tower::client::ClientError> {
    /// let server = McpLayer::new().layer(tower::service_fn(|req: McpRequest| async move {
    ///     Ok::<_, std::convert::Infallible>(match req.method() {
    ///         "server/discover" => McpResponse::result(json!({
    ///             "supportedVersions": ["2026-07-28"], "capabilities": { "tools": { "listChanged": true } },
    ///         })),
    ///         other => McpResponse::method_not_found(other),
    ///     })
    /// }));
    /// let client = StreamableHttpClient::builder(server, "http://localhost/mcp".parse().unwrap()).build();
    /// client.discover().await?;
    /// let mut changes = client.subscribe(json!({ "toolsListChanged": true }));
    /// let first = changes.next().await.unwrap()?;
    /// assert_eq!(first.method(), Some("notifications/subscriptions/acknowledged"));
    /// assert_eq!(changes.acknowledged().unwrap()["toolsListChanged"], true);
    /// changes.close();
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn subscribe(&self, notifications: Value) -> Subscription<S> {
        Subscription::new(self.clone(), notifications)
    }
}

/// Failures worth another listen request: the connection, a timeout, 429 and 5xx.
fn retried(error: &ClientError) -> bool {
    match error.kind() {
        ErrorKind::Transport | ErrorKind::Timeout => true,
        ErrorKind::Status => error
            .status()
            .is_some_and(|s| s.is_server_error() || s.as_u16() == 429),
        _ => false,
    }
}
