//! What the server sends the client besides the response it waits for: requests
//! ([`ServerRequest`]) and other messages ([`ServerMessage`]).

use serde_json::Value;

use crate::jsonrpc::RequestId;

/// A request the server sent to the client (`sampling/createMessage`, `roots/list`,
/// `elicitation/create`, `ping`, ...), as given to the
/// [request handler](super::StreamableHttpClientBuilder::request_handler).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRequest {
    id: RequestId,
    method: String,
    params: Option<Value>,
}

impl ServerRequest {
    /// The server's request id (its own id space, string or integer).
    #[must_use]
    pub fn id(&self) -> &RequestId {
        &self.id
    }

    /// The method, for example `sampling/createMessage`.
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The params, if any.
    #[must_use]
    pub fn params(&self) -> Option<&Value> {
        self.params.as_ref()
    }

    /// An input request of a 2026-07-28 `InputRequiredResult`: its key stands in for the id.
    pub(super) fn input(key: &str, method: &str, params: Option<Value>) -> Self {
        Self {
            id: RequestId::String(key.into()),
            method: method.to_owned(),
            params,
        }
    }

    pub(super) fn from_message(msg: &Value) -> Option<Self> {
        Some(Self {
            id: RequestId::from_value(msg.get("id")?)?,
            method: msg.get("method")?.as_str()?.to_owned(),
            params: msg.get("params").cloned(),
        })
    }
}

/// A message from the server other than the response being waited for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// A notification, such as `notifications/progress` or `notifications/message`.
    Notification(Value),
    /// A request from the server. It has already been answered through the
    /// [request handler](super::StreamableHttpClientBuilder::request_handler) and the answer POSTed
    /// back; this is for information.
    Request(Value),
    /// Anything else that arrived on the stream: a response to another request, a request
    /// whose id is neither a string nor an integer (it cannot be answered), or a JSON value
    /// that is not a JSON-RPC message.
    Other(Value),
}

impl ServerMessage {
    /// The message's `method`, if it has one.
    #[must_use]
    pub fn method(&self) -> Option<&str> {
        self.as_value().get("method").and_then(Value::as_str)
    }

    /// The whole JSON message.
    #[must_use]
    pub fn as_value(&self) -> &Value {
        match self {
            Self::Notification(v) | Self::Request(v) | Self::Other(v) => v,
        }
    }

    pub(super) fn classify(msg: Value) -> Self {
        let has_method = msg.get("method").is_some_and(Value::is_string);
        match (has_method, msg.get("id")) {
            (true, None) => Self::Notification(msg),
            // Only a request that can be answered is one: see `Request`'s promise.
            (true, Some(id)) if RequestId::from_value(id).is_some() => Self::Request(msg),
            _ => Self::Other(msg),
        }
    }
}
