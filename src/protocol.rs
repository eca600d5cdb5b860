//! The HTTP header names the transport reads and writes.

use http::HeaderName;

/// `Mcp-Session-Id`: the session a request belongs to (session era only).
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `MCP-Protocol-Version`: the protocol revision a request speaks.
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Last-Event-ID`: the SSE cursor a client resumes a stream from.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// `Mcp-Method`: the JSON-RPC method of a stateless-era (2026-07-28) request.
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name`: `params.name` (or `params.uri`) of a stateless-era `tools/call`, `prompts/get`
/// or `resources/read`.
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// `_meta` key: the protocol version a stateless-era request speaks.
///
/// ```
/// assert_eq!(mcp_tower::protocol::META_PROTOCOL_VERSION, "io.modelcontextprotocol/protocolVersion");
/// ```
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key: the client capabilities a stateless-era request declares.
///
/// ```
/// assert!(mcp_tower::protocol::META_CLIENT_CAPABILITIES.ends_with("/clientCapabilities"));
/// ```
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key: the least severe log level a stateless-era request wants logs for.
///
/// ```
/// assert!(mcp_tower::protocol::META_LOG_LEVEL.ends_with("/logLevel"));
/// ```
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key of a result: the server's name and version.
///
/// ```
/// assert!(mcp_tower::protocol::META_SERVER_INFO.ends_with("/serverInfo"));
/// ```
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

pub(crate) use crate::version::ProtocolVersion;
