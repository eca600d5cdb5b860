//! JSON-RPC 2.0 as MCP uses it: ids, error objects, and the classification of incoming bodies.

use std::fmt;
use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// JSON-RPC error codes used by MCP and by this transport.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid JSON-RPC message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// A transport-level error (the convention of the official SDKs).
    pub const TRANSPORT_ERROR: i64 = -32000;
    /// The session is unknown, expired or ended (the convention of the official SDKs).
    pub const SESSION_NOT_FOUND: i64 = -32001;
    /// 2026-07-28: a required header is missing or disagrees with the body (sent with 400).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// 2026-07-28: the request needs a client capability its `_meta` does not declare (400).
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
    /// 2026-07-28: the request's protocol version is not served (400, `data.supported`).
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// A JSON-RPC request id: a string or an integer (MCP forbids `null` and fractions).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(Arc<str>),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        Self::String(s.into())
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Number(n) => s.serialize_i64(*n),
            Self::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_value(&Value::deserialize(d)?)
            .ok_or_else(|| D::Error::custom("a request id must be a string or an integer"))
    }
}

impl RequestId {
    pub(crate) fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(Self::String(s.as_str().into())),
            Value::Number(n) => n.as_i64().map(Self::Number),
            _ => None,
        }
    }
}

/// A JSON-RPC error object: `{code, message, data?}`.
///
/// ```
/// use mcp_tower::{code, ErrorObject};
///
/// let e = ErrorObject::new(code::INVALID_PARAMS, "unknown tool: nope");
/// assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"code":-32602,"message":"unknown tool: nope"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code (see [`code`]).
    pub code: i64,
    /// A short description a person can act on.
    pub message: String,
    /// Extra structured information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with a code and a message, no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attaches structured `data`.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    #[cfg(feature = "client")]
    /// Reads an error object leniently (a missing `message` reads as empty); `None` without an
    /// integer `code`.
    pub(crate) fn from_value_lenient(v: &Value) -> Option<Self> {
        Some(Self {
            code: v.get("code")?.as_i64()?,
            message: v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            data: v.get("data").cloned(),
        })
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "json-rpc error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorObject {}

/// A message a client sent, classified.
#[derive(Debug)]
pub(crate) enum Incoming {
    Request {
        id: RequestId,
        method: String,
        params: Option<Value>,
    },
    Notification {
        method: String,
        params: Option<Value>,
    },
    /// The client's answer to a request the server sent it.
    Response {
        id: Option<RequestId>,
        outcome: Result<Value, ErrorObject>,
    },
}

impl Incoming {
    pub(crate) fn is_request(&self) -> bool {
        matches!(self, Self::Request { .. })
    }

    pub(crate) fn is_response(&self) -> bool {
        matches!(self, Self::Response { .. })
    }

    pub(crate) fn method(&self) -> Option<&str> {
        match self {
            Self::Request { method, .. } | Self::Notification { method, .. } => Some(method),
            Self::Response { .. } => None,
        }
    }
}

/// A parsed POST body: one message, or a batch (allowed only in 2025-03-26).
#[derive(Debug)]
pub(crate) enum Payload {
    Single(Incoming),
    Batch(Vec<Incoming>),
}

/// Why a body is not a JSON-RPC payload; maps to -32700 or -32600.
#[derive(Debug)]
pub(crate) enum ParseFailure {
    /// Not JSON, or not UTF-8.
    Syntax(String),
    /// JSON, but not a JSON-RPC message (or an empty batch).
    Shape(String),
}

/// The wire shape, before the rules are checked. `id` distinguishes absent from `null`.
#[derive(Deserialize)]
struct Raw {
    jsonrpc: Option<String>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    method: Option<String>,
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    error: Option<Value>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Parses a POST body. Whitespace before the first token decides between one message and a
/// batch, so a single message is parsed once, straight into its parts.
pub(crate) fn parse_payload(body: &[u8]) -> Result<Payload, ParseFailure> {
    // JSON-RPC messages must be UTF-8 everywhere, even inside fields serde would skip.
    if let Err(e) = std::str::from_utf8(body) {
        return Err(ParseFailure::Syntax(format!(
            "the body is not valid UTF-8: {e}"
        )));
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let items: Vec<Value> = serde_json::from_slice(body).map_err(|e| classify(&e))?;
        if items.is_empty() {
            return Err(ParseFailure::Shape("the batch is empty".into()));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let raw = Raw::deserialize(item)
                .map_err(|e| ParseFailure::Shape(format!("batch item {i}: {e}")))?;
            out.push(
                validate(raw).map_err(|e| ParseFailure::Shape(format!("batch item {i}: {e}")))?,
            );
        }
        Ok(Payload::Batch(out))
    } else {
        let raw: Raw = serde_json::from_slice(body).map_err(|e| classify(&e))?;
        validate(raw)
            .map(Payload::Single)
            .map_err(ParseFailure::Shape)
    }
}

fn classify(e: &serde_json::Error) -> ParseFailure {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => ParseFailure::Shape(format!("not a JSON-RPC message: {e}")),
        Category::Io | Category::Syntax | Category::Eof => {
            ParseFailure::Syntax(format!("the body is not valid JSON: {e}"))
        }
    }
}

fn validate(raw: Raw) -> Result<Incoming, String> {
    if raw.jsonrpc.as_deref() != Some("2.0") {
        return Err("`jsonrpc` must be \"2.0\"".into());
    }
    if let Some(p) = &raw.params {
        if !(p.is_object() || p.is_array()) {
            return Err("`params` must be an object or an array".into());
        }
    }
    let parse_id = |v: &Value| {
        RequestId::from_value(v)
            .ok_or_else(|| format!("`id` must be a string or an integer, got {v}"))
    };
    match (raw.method, raw.result, raw.error) {
        (Some(method), None, None) => match raw.id {
            Some(id) => Ok(Incoming::Request {
                id: parse_id(&id)?,
                method,
                params: raw.params,
            }),
            None => Ok(Incoming::Notification {
                method,
                params: raw.params,
            }),
        },
        (None, Some(result), None) => {
            let id = raw.id.ok_or("a response needs an `id`")?;
            Ok(Incoming::Response {
                id: Some(parse_id(&id)?),
                outcome: Ok(result),
            })
        }
        (None, None, Some(error)) => {
            let error: ErrorObject = serde_json::from_value(error)
                .map_err(|e| format!("`error` must be {{code, message, data?}}: {e}"))?;
            let id = match raw.id {
                None | Some(Value::Null) => None,
                Some(id) => Some(parse_id(&id)?),
            };
            Ok(Incoming::Response {
                id,
                outcome: Err(error),
            })
        }
        (None, None, None) => Err("the message has no `method`, `result` or `error`".into()),
        _ => Err("a message carries either `method`, `result` or `error`, not several".into()),
    }
}

/// Serializes a response to a client request.
pub(crate) fn response_bytes(id: &RequestId, outcome: &Result<Value, ErrorObject>) -> Vec<u8> {
    match outcome {
        Result::Ok(result) => result_bytes(id, result),
        Result::Err(error) => error_bytes(Some(id), error),
    }
}

/// Serializes a successful response whose result is anything serializable (a `Value`, or a
/// view that adds fields to one without copying it).
pub(crate) fn result_bytes<T: Serialize + ?Sized>(id: &RequestId, result: &T) -> Vec<u8> {
    #[derive(Serialize)]
    struct Ok<'a, T: ?Sized> {
        jsonrpc: &'static str,
        id: &'a RequestId,
        result: &'a T,
    }
    serde_json::to_vec(&Ok {
        jsonrpc: "2.0",
        id,
        result,
    })
    .unwrap_or_else(|e| {
        // A Value always serializes; this only guards against a broken custom map.
        error_bytes(
            Some(id),
            &ErrorObject::new(code::INTERNAL_ERROR, e.to_string()),
        )
    })
}

/// Serializes an error response; `None` for a request whose id is unknown (`"id": null`).
pub(crate) fn error_bytes(id: Option<&RequestId>, error: &ErrorObject) -> Vec<u8> {
    #[derive(Serialize)]
    struct Err<'a> {
        jsonrpc: &'static str,
        id: Option<&'a RequestId>,
        error: &'a ErrorObject,
    }
    serde_json::to_vec(&Err {
        jsonrpc: "2.0",
        id,
        error,
    })
    .unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}"#
            .to_vec()
    })
}

/// Serializes a notification or a request the server sends to the client.
pub(crate) fn outgoing_bytes(
    id: Option<&RequestId>,
    method: &str,
    params: Option<&Value>,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Out<'a> {
        jsonrpc: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a RequestId>,
        method: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        params: Option<&'a Value>,
    }
    serde_json::to_vec(&Out {
        jsonrpc: "2.0",
        id,
        method,
        params,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(s: &str) -> Result<Incoming, ParseFailure> {
        match parse_payload(s.as_bytes())? {
            Payload::Single(m) => Ok(m),
            Payload::Batch(_) => panic!("batch"),
        }
    }

    fn shape_error(s: &str) -> String {
        match single(s) {
            Err(ParseFailure::Shape(message)) => message,
            other => panic!("expected a shape error for {s}, got {other:?}"),
        }
    }

    #[test]
    fn a_message_without_method_result_or_error_is_named_as_such() {
        let message = shape_error(r#"{"jsonrpc":"2.0","id":1}"#);
        assert!(message.contains("has no `method`"), "{message}");
        let message = shape_error(r#"{"jsonrpc":"2.0","id":1,"method":"m","result":{}}"#);
        assert!(message.contains("not several"), "{message}");
    }

    #[test]
    fn request_ids_display_as_they_travel() {
        assert_eq!(RequestId::Number(-7).to_string(), "-7");
        assert_eq!(RequestId::from("a\"b").to_string(), r#""a\"b""#);
    }

    #[test]
    fn classifies_the_three_kinds() {
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap(),
            Incoming::Request {
                id: RequestId::Number(1),
                ..
            }
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Incoming::Notification { .. }
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap(),
            Incoming::Response { outcome: Ok(_), .. }
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"no"}}"#).unwrap(),
            Incoming::Response {
                id: None,
                outcome: Err(_)
            }
        ));
    }

    #[test]
    fn syntax_and_shape_errors_are_told_apart() {
        for bad in ["", "{", "nul", "\u{1}", "{\"a\":1}x"] {
            assert!(
                matches!(single(bad), Err(ParseFailure::Syntax(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_payload(b"{\"a\":\"\xff\"}"),
            Err(ParseFailure::Syntax(_))
        ));
        for bad in [
            r#"{"id":1,"method":"x"}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}"#,
            r#"{"jsonrpc":"2.0","result":{}}"#,
            r#"{"jsonrpc":"2.0"}"#,
            r#"{"jsonrpc":"2.0","method":7}"#,
            "[]",
            "42",
            r#"[1]"#,
        ] {
            assert!(
                matches!(parse_payload(bad.as_bytes()), Err(ParseFailure::Shape(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn batches_are_parsed_item_by_item() {
        let Payload::Batch(items) = parse_payload(
            br#" [{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#,
        )
        .unwrap() else {
            panic!("not a batch")
        };
        assert_eq!(items.len(), 2);
        assert!(items[0].is_request());
    }

    #[test]
    fn serializes_responses() {
        let ok = response_bytes(&RequestId::from("x"), &Ok(serde_json::json!({})));
        assert_eq!(ok, br#"{"jsonrpc":"2.0","id":"x","result":{}}"#);
        let err = error_bytes(None, &ErrorObject::new(code::PARSE_ERROR, "bad"));
        assert_eq!(
            err,
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}"#
        );
        let n = outgoing_bytes(None, "notifications/progress", None);
        assert_eq!(n, br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#);
    }
}
