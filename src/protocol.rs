//! The HTTP header names the transport reads and writes.

use http::HeaderName;

/// `Mcp-Session-Id`: the session a request belongs to (session era only).
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `MCP-Protocol-Version`: the protocol revision a request speaks.
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Last-Event-ID`: the SSE cursor a client resumes a stream from.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

pub(crate) use crate::version::ProtocolVersion;
