//! Change notifications for both eras: a [`Publisher`] announces a [`Change`] once; session-era
//! clients get the classic notification on their GET streams, and 2026-07-28 clients get a
//! filtered, tagged copy on each `subscriptions/listen` stream that asked for it.
//!
//! The listen streams of this node live in [`Listeners`], a seam of its own: a shared backend
//! can fan a publish out across nodes by calling each node's `publish`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use serde_json::{json, Map, Value};
use slab::Slab;

use crate::jsonrpc::{code, error_bytes, outgoing_bytes, response_bytes, ErrorObject, RequestId};
use crate::session::Sessions;
use crate::sse::{channel, message_event, SseBody, SseSender, TrySendError};
use crate::telemetry::{self, StreamKind, StreamWatch};

/// `_meta` key tagging every message of a `subscriptions/listen` stream with its request id.
const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// Something that changed on the server, which clients may want to hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The tool list changed: `notifications/tools/list_changed`.
    ToolsListChanged,
    /// The prompt list changed: `notifications/prompts/list_changed`.
    PromptsListChanged,
    /// The resource list changed: `notifications/resources/list_changed`.
    ResourcesListChanged,
    /// A resource changed: `notifications/resources/updated` with its URI.
    ResourceUpdated(String),
}

impl Change {
    fn method(&self) -> &'static str {
        match self {
            Self::ToolsListChanged => "notifications/tools/list_changed",
            Self::PromptsListChanged => "notifications/prompts/list_changed",
            Self::ResourcesListChanged => "notifications/resources/list_changed",
            Self::ResourceUpdated(_) => "notifications/resources/updated",
        }
    }

    /// The notification's params, with `_meta` when given.
    fn params(&self, meta: Option<Value>) -> Option<Value> {
        let mut params = Map::new();
        if let Some(meta) = meta {
            params.insert("_meta".into(), meta);
        }
        if let Self::ResourceUpdated(uri) = self {
            params.insert("uri".into(), Value::String(uri.clone()));
        }
        (!params.is_empty()).then_some(Value::Object(params))
    }
}

/// What a `subscriptions/listen` request asks for (`params.notifications`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    tools: bool,
    prompts: bool,
    resources: bool,
    uris: Vec<String>,
}

impl Filter {
    /// Reads `params.notifications`; `None` when it is missing or malformed.
    pub(crate) fn parse(params: Option<&Value>) -> Option<Self> {
        let notifications = params?.get("notifications")?.as_object()?;
        let flag = |name: &str| match notifications.get(name) {
            None | Some(Value::Null) => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => None,
        };
        let uris = match notifications.get("resourceSubscriptions") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|u| u.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()?,
            Some(_) => return None,
        };
        Some(Self {
            tools: flag("toolsListChanged")?,
            prompts: flag("promptsListChanged")?,
            resources: flag("resourcesListChanged")?,
            uris,
        })
    }

    fn wants(&self, change: &Change) -> bool {
        match change {
            Change::ToolsListChanged => self.tools,
            Change::PromptsListChanged => self.prompts,
            Change::ResourcesListChanged => self.resources,
            Change::ResourceUpdated(uri) => self.uris.iter().any(|u| u == uri),
        }
    }

    /// The filter as the acknowledgement reports it: only what was asked for.
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (name, on) in [
            ("toolsListChanged", self.tools),
            ("promptsListChanged", self.prompts),
            ("resourcesListChanged", self.resources),
        ] {
            if on {
                out.insert(name.into(), Value::Bool(true));
            }
        }
        if !self.uris.is_empty() {
            out.insert("resourceSubscriptions".into(), json!(self.uris));
        }
        Value::Object(out)
    }
}

struct Listener {
    id: RequestId,
    /// `id` as JSON, written into each frame's `_meta`.
    id_json: Box<[u8]>,
    filter: Filter,
    tx: SseSender,
}

/// One change, encoded once per publish: every stream's frame is the same bytes around its
/// own subscription id, so a publish to many streams costs one copy each, not one encoding.
struct Frame {
    /// `event: message`, `data: ` and the JSON up to the subscription id.
    head: Vec<u8>,
    /// The JSON after it, and the end of the event.
    tail: Vec<u8>,
}

impl Frame {
    fn new(change: &Change) -> Self {
        let mut head = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"".to_vec();
        head.extend_from_slice(change.method().as_bytes());
        head.extend_from_slice(b"\",\"params\":{\"_meta\":{\"");
        head.extend_from_slice(META_SUBSCRIPTION_ID.as_bytes());
        head.extend_from_slice(b"\":");
        let mut tail = b"}".to_vec();
        if let Change::ResourceUpdated(uri) = change {
            tail.extend_from_slice(b",\"uri\":");
            // A string always serializes.
            let _ = serde_json::to_writer(&mut tail, uri);
        }
        tail.extend_from_slice(b"}}\n\n");
        Self { head, tail }
    }

    /// The event for the stream whose subscription id is `id_json`.
    fn for_stream(&self, id_json: &[u8]) -> bytes::Bytes {
        let mut event = Vec::with_capacity(self.head.len() + id_json.len() + self.tail.len());
        event.extend_from_slice(&self.head);
        event.extend_from_slice(id_json);
        event.extend_from_slice(&self.tail);
        event.into()
    }
}

/// The `subscriptions/listen` streams open on this node, bounded in number; each stream is
/// bounded by its channel's capacity, and a reader that falls behind loses its stream with a
/// visible error rather than being buffered without bound.
pub(crate) struct Listeners {
    streams: Mutex<Slab<Listener>>,
}

/// The bounds of a new listen stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamLimits {
    /// Streams this node keeps open at most.
    pub(crate) max_streams: usize,
    /// Events one stream holds for a slow reader.
    pub(crate) capacity: usize,
    pub(crate) keep_alive: Option<Duration>,
}

/// Why a listen stream could not open.
#[derive(Debug)]
pub(crate) struct TooManyListeners(pub(crate) usize);

impl Listeners {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            streams: Mutex::new(Slab::new()),
        })
    }

    fn streams(&self) -> MutexGuard<'_, Slab<Listener>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a stream for the listen request `id`, unless `max_streams` are open: its first
    /// message is the acknowledgement, with the filter honoured. The stream leaves the registry
    /// when its body is dropped.
    pub(crate) fn open(
        self: &Arc<Self>,
        id: RequestId,
        filter: Filter,
        limits: StreamLimits,
    ) -> Result<SseBody, TooManyListeners> {
        let StreamLimits {
            max_streams,
            capacity,
            keep_alive,
        } = limits;
        let mut streams = self.streams();
        if streams.len() >= max_streams {
            return Err(TooManyListeners(max_streams));
        }
        let (tx, mut body) = channel(capacity.max(2));
        let ack = outgoing_bytes(
            None,
            "notifications/subscriptions/acknowledged",
            Some(&json!({
                "_meta": { META_SUBSCRIPTION_ID: &id },
                "notifications": filter.to_json(),
            })),
        );
        // The channel is new and has room for two events.
        let _ = tx.try_send(message_event(None, &ack));
        let id_json = serde_json::to_vec(&id)
            .unwrap_or_default()
            .into_boxed_slice();
        let key = streams.insert(Listener {
            id,
            id_json,
            filter,
            tx,
        });
        drop(streams);
        let registry: Weak<Self> = Arc::downgrade(self);
        body = body.on_drop(Box::new(move || {
            if let Some(registry) = registry.upgrade() {
                let mut streams = registry.streams();
                if streams.contains(key) {
                    streams.remove(key);
                }
            }
        }));
        if let Some(interval) = keep_alive {
            body = body.keep_alive(interval);
        }
        Ok(body.watched(StreamWatch::open(StreamKind::Listen, None, false)))
    }

    /// Sends `change` to every stream that asked for it; returns how many got it. A stream
    /// whose reader is too slow ends with an error that says so.
    pub(crate) fn publish(&self, change: &Change) -> usize {
        let mut streams = self.streams();
        let mut reached = 0;
        let mut overflowed = Vec::new();
        let frame = Frame::new(change);
        for (key, listener) in streams.iter() {
            if !listener.filter.wants(change) {
                continue;
            }
            match listener.tx.try_send(frame.for_stream(&listener.id_json)) {
                Ok(()) => reached += 1,
                Err(TrySendError::Full(_)) => overflowed.push(key),
                Err(TrySendError::Closed(_)) => {}
            }
        }
        for key in overflowed {
            telemetry::slow_consumer(StreamKind::Listen, None);
            let listener = streams.remove(key);
            let error = ErrorObject::new(
                code::TRANSPORT_ERROR,
                "this subscriptions/listen stream fell too far behind and was closed; read \
                 faster or reopen it, then re-fetch what you track",
            );
            let last = message_event(None, &error_bytes(Some(&listener.id), &error));
            listener.tx.close(last);
        }
        reached
    }

    /// Ends every stream with the listen request's completion result (the server is shutting
    /// down); returns how many were open.
    pub(crate) fn close_all(&self) -> usize {
        let listeners: Vec<Listener> = self.streams().drain().collect();
        let count = listeners.len();
        for listener in listeners {
            let result = Ok(json!({ "resultType": "complete" }));
            let last = message_event(None, &response_bytes(&listener.id, &result));
            listener.tx.close(last);
        }
        count
    }

    pub(crate) fn len(&self) -> usize {
        self.streams().len()
    }
}

/// Announces changes to clients of both eras, with one call.
///
/// Session-era clients get the classic notification on their sessions (the standalone GET
/// stream, or its queue); 2026-07-28 clients get it on each `subscriptions/listen` stream whose
/// filter asked for it, tagged with `_meta["io.modelcontextprotocol/subscriptionId"]`.
/// Resource updates go only to listen streams that named the URI: session-era
/// `resources/subscribe` is the handler's business (send with [`Session::notify`](crate::Session::notify)).
///
/// Get one from [`McpLayer::publisher`](crate::McpLayer::publisher); it is cheap to clone.
///
/// ```
/// use mcp_tower::{Change, McpLayer};
///
/// let layer = McpLayer::new();
/// let publisher = layer.publisher();
/// let report = publisher.publish(&Change::ToolsListChanged);
/// assert_eq!(report.listen_streams, 0); // nobody listens yet
/// assert_eq!(publisher.listen_streams(), 0);
/// ```
#[derive(Clone)]
pub struct Publisher {
    sessions: Sessions,
    listeners: Arc<Listeners>,
}

/// How far one [`Publisher::publish`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PublishReport {
    /// Sessions the classic notification was delivered or queued to.
    pub sessions: usize,
    /// `subscriptions/listen` streams that received it.
    pub listen_streams: usize,
}

impl Publisher {
    pub(crate) fn new(sessions: Sessions, listeners: Arc<Listeners>) -> Self {
        Self {
            sessions,
            listeners,
        }
    }

    /// Announces `change` to both eras (see the type's docs).
    #[must_use = "the report says how many clients were reached"]
    pub fn publish(&self, change: &Change) -> PublishReport {
        let sessions = match change {
            Change::ResourceUpdated(_) => 0,
            _ => {
                let report = self
                    .sessions
                    .broadcast(change.method(), change.params(None));
                report.delivered + report.queued
            }
        };
        PublishReport {
            sessions,
            listen_streams: self.listeners.publish(change),
        }
    }

    /// Ends every `subscriptions/listen` stream with its completion result, as a server does
    /// when it shuts down; returns how many were open.
    ///
    /// ```
    /// let publisher = mcp_tower::McpLayer::new().publisher();
    /// assert_eq!(publisher.close_listen_streams(), 0);
    /// ```
    pub fn close_listen_streams(&self) -> usize {
        self.listeners.close_all()
    }

    /// How many `subscriptions/listen` streams are open on this node.
    #[must_use]
    pub fn listen_streams(&self) -> usize {
        self.listeners.len()
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("listen_streams", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_the_notification_encoded_for_each_stream() {
        let changes = [
            Change::ToolsListChanged,
            Change::PromptsListChanged,
            Change::ResourcesListChanged,
            Change::ResourceUpdated("file:///a \"b\"\n/ü".into()),
        ];
        let ids = [RequestId::Number(-3), RequestId::String("l\"1".into())];
        for change in &changes {
            let frame = Frame::new(change);
            for id in &ids {
                let id_json = serde_json::to_vec(id).unwrap();
                let event = frame.for_stream(&id_json);
                let text = std::str::from_utf8(&event).unwrap();
                let json = text
                    .strip_prefix("event: message\ndata: ")
                    .and_then(|t| t.strip_suffix("\n\n"))
                    .unwrap();
                assert!(!json.contains('\n'), "one data line: {text:?}");
                let sent: Value = serde_json::from_str(json).unwrap();
                let meta = json!({ META_SUBSCRIPTION_ID: id });
                let expected: Value = serde_json::from_slice(&outgoing_bytes(
                    None,
                    change.method(),
                    change.params(Some(meta)).as_ref(),
                ))
                .unwrap();
                assert_eq!(sent, expected);
            }
        }
    }

    #[test]
    fn filters_parse_strictly_and_acknowledge_what_was_asked() {
        let f = Filter::parse(Some(&json!({ "notifications": {
            "toolsListChanged": true, "resourceSubscriptions": ["a://x"],
        } })))
        .unwrap();
        assert!(f.wants(&Change::ToolsListChanged));
        assert!(!f.wants(&Change::PromptsListChanged));
        assert!(f.wants(&Change::ResourceUpdated("a://x".into())));
        assert!(!f.wants(&Change::ResourceUpdated("a://y".into())));
        assert_eq!(
            f.to_json(),
            json!({ "toolsListChanged": true, "resourceSubscriptions": ["a://x"] })
        );
        assert!(Filter::parse(Some(&json!({}))).is_none());
        assert!(
            Filter::parse(Some(&json!({ "notifications": { "toolsListChanged": 1 } }))).is_none()
        );
        assert!(Filter::parse(Some(
            &json!({ "notifications": { "resourceSubscriptions": [1] } })
        ))
        .is_none());
    }

    #[test]
    fn the_registry_is_bounded() {
        let listeners = Listeners::new();
        let filter = Filter::default();
        let limits = StreamLimits {
            max_streams: 1,
            capacity: 4,
            keep_alive: None,
        };
        let first = listeners.open(RequestId::from(1), filter.clone(), limits);
        assert!(first.is_ok());
        assert!(listeners
            .open(RequestId::from(2), filter.clone(), limits)
            .is_err());
        drop(first);
        assert_eq!(listeners.len(), 0, "a dropped stream leaves the registry");
        assert!(listeners.open(RequestId::from(3), filter, limits).is_ok());
    }
}
