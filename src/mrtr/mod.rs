//! Multi-round-trip requests (MRTR, protocol version 2026-07-28): how one handler asks the
//! client for input in both eras.
//!
//! A handler calls [`RequestContext::request`](crate::RequestContext::request) (sampling,
//! elicitation, roots) and awaits the answer:
//!
//! - in a 2025 session, the transport sends a real server→client request and the call resumes
//!   with the client's answer;
//! - on a 2026-07-28 request, which cannot carry server→client requests, the call ends with an
//!   `InputRequiredResult` (`resultType: "input_required"`, `inputRequests`, `requestState`).
//!   The client retries with `inputResponses` and the `requestState`; the transport runs the
//!   handler again from the start, and the same `request` calls now return those answers
//!   (answers from earlier rounds travel, signed, in the `requestState`). This repeats for as
//!   many rounds as the handler needs.
//!
//! The handler must therefore ask the same questions in the same order each time it runs, and do
//! nothing before its last question that it may not do twice. Each question has a key: the
//! capability and the call's position (`elicitation_0`, `sampling_1`, …), or the one set with
//! [`RequestContext::request_as`](crate::RequestContext::request_as).
//!
//! Rules the transport enforces:
//!
//! - only `tools/call`, `prompts/get` and `resources/read` may ask; elsewhere `request` fails
//!   with [`ClientRequestError::NoSession`](crate::ClientRequestError::NoSession);
//! - a question needs a capability the request declared in
//!   `_meta["io.modelcontextprotocol/clientCapabilities"]`; otherwise the call ends with
//!   −32021 and `data.requiredCapabilities`;
//! - questions asked concurrently (for instance with `join!`) travel in one result;
//! - `requestState` is signed with HMAC-SHA256 ([`RequestStateKeys`]), expires
//!   ([`McpLayer::request_state_ttl`](crate::McpLayer::request_state_ttl)), is bound to the
//!   method, the tool or prompt name or resource URI, and the principal
//!   ([`McpLayer::bind_sessions_to`](crate::McpLayer::bind_sessions_to)), and its size is capped
//!   ([`McpLayer::max_request_state_bytes`](crate::McpLayer::max_request_state_bytes)). A state
//!   that is tampered with, expired, signed by an unknown key, made for another call or too
//!   large is refused with −32602 (invalid params) before the handler runs; so are malformed
//!   `inputResponses`.
//!
//! Handlers that want explicit control build the result with [`InputRequired`] and read the
//! answers with [`RequestContext::input_response`](crate::RequestContext::input_response).

mod result;
mod round;
mod state;

pub use result::{is_input_required, InputRequired};
pub use state::{RequestStateKeys, DEFAULT_MAX_STATE_BYTES, DEFAULT_STATE_TTL};

pub(crate) use round::{Drive, Outcome, Round};
pub(crate) use state::StateConfig;
