//! [`SessionRecord`]: what every node must know of a session, as plain data.

use std::time::SystemTime;

use super::id::SessionId;
use crate::protocol::ProtocolVersion;

/// What the transport knows of one session that any node serving it needs: written once, when
/// the session's `initialize` succeeds, and never changed after.
///
/// It is plain data, so a shared [`SessionStore`](super::SessionStore) can keep it anywhere
/// (a Redis hash, a database row). What only one process can hold (open connections, running
/// handler calls, requests waiting for the client's answer, queued messages) is not here: it
/// lives in the node-local registry beside it.
///
/// ```
/// use mcp_tower::session::SessionRecord;
/// use mcp_tower::ProtocolVersion;
///
/// # fn demo(record: &SessionRecord) {
/// if record.protocol_version >= ProtocolVersion::V2025_11_25 {
///     println!("{} polls its streams", record.id);
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The session's id, as the client sends it.
    pub id: SessionId,
    /// The principal the session is bound to (see `McpLayer::bind_sessions_to`).
    pub principal: Option<String>,
    /// The revision negotiated at `initialize`.
    pub protocol_version: ProtocolVersion,
    /// The `capabilities` the client declared in `initialize`, as compact JSON text: a few
    /// bytes per session where a parsed object would take hundreds, and what a shared store
    /// keeps anyway. `serde_json::from_str` reads it.
    pub client_capabilities: Option<Box<str>>,
    /// The `clientInfo` the client sent in `initialize`, as compact JSON text.
    pub client_info: Option<Box<str>>,
    /// When `initialize` succeeded, by the wall clock (nodes share no other clock).
    pub created_at: SystemTime,
    /// The random tag in every SSE event id of this session, so that one session's event ids
    /// mean nothing to another's streams, on any node.
    pub event_tag: [u8; 8],
}
