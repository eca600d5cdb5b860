//! Building an `InputRequiredResult` by hand, for handlers that manage their rounds themselves.

use serde_json::{json, Map, Value};

/// An `InputRequiredResult` (2026-07-28) built by a handler that asks for input explicitly,
/// instead of through [`RequestContext::request`](crate::RequestContext::request).
///
/// The transport signs whatever `requestState` the handler sets (it travels inside the
/// transport's own signed state), and hands it back, verified, on the retry through
/// [`RequestContext::request_state`](crate::RequestContext::request_state); the answers are read
/// with [`RequestContext::input_response`](crate::RequestContext::input_response).
///
/// ```
/// use mcp_tower::mrtr::InputRequired;
/// use mcp_tower::McpResponse;
/// use serde_json::json;
///
/// let asked: McpResponse = InputRequired::new()
///     .ask("confirm", "elicitation/create", json!({
///         "message": "Delete the file?",
///         "requestedSchema": { "type": "object", "properties": { "ok": { "type": "boolean" } } },
///     }))
///     .request_state("step-2")
///     .into();
/// let result = asked.outcome().as_ref().unwrap();
/// assert_eq!(result["resultType"], "input_required");
/// assert_eq!(result["inputRequests"]["confirm"]["method"], "elicitation/create");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputRequired {
    requests: Map<String, Value>,
    state: Option<String>,
}

impl InputRequired {
    /// An empty result: add questions with [`ask`](Self::ask), state with
    /// [`request_state`](Self::request_state).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the client `method` (`sampling/createMessage`, `elicitation/create` or
    /// `roots/list`) with `params`; its answer comes back under `key`.
    #[must_use]
    pub fn ask(mut self, key: impl Into<String>, method: &str, params: Value) -> Self {
        let mut question = Map::new();
        question.insert("method".into(), Value::String(method.into()));
        question.insert("params".into(), params);
        self.requests.insert(key.into(), Value::Object(question));
        self
    }

    /// Opaque state for the retry (the transport signs it; the client cannot change it).
    #[must_use]
    pub fn request_state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// The result as JSON.
    ///
    /// ```
    /// let v = mcp_tower::mrtr::InputRequired::new().request_state("s").into_value();
    /// assert_eq!(v["requestState"], "s");
    /// assert!(v.get("inputRequests").is_none());
    /// ```
    #[must_use]
    pub fn into_value(self) -> Value {
        let mut v = json!({ "resultType": "input_required" });
        if !self.requests.is_empty() {
            v["inputRequests"] = Value::Object(self.requests);
        }
        if let Some(state) = self.state {
            v["requestState"] = Value::String(state);
        }
        v
    }
}

/// Whether a result is an `InputRequiredResult` (`resultType: "input_required"`).
///
/// ```
/// use serde_json::json;
///
/// assert!(mcp_tower::mrtr::is_input_required(&json!({ "resultType": "input_required" })));
/// assert!(!mcp_tower::mrtr::is_input_required(&json!({ "content": [] })));
/// ```
#[must_use]
pub fn is_input_required(result: &Value) -> bool {
    result.get("resultType").and_then(Value::as_str) == Some("input_required")
}
