//! [`Transport`]: which MCP HTTP transport a session speaks.

/// Which HTTP transport a session speaks, for hooks, logs and metrics.
///
/// Every session API ([`Session::notify`](crate::Session::notify),
/// [`Session::request`](crate::Session::request), [`Sessions::broadcast`](crate::Sessions::broadcast),
/// close, shutdown, the lifecycle hooks) treats both alike; only the wire differs.
///
/// ```
/// use mcp_tower::{McpLayer, Transport};
///
/// let layer = McpLayer::new()
///     .legacy_sse("/sse", "/messages")
///     .on_session_created(|session| match session.transport() {
///         Transport::LegacySse => println!("an old client connected: {}", session.id()),
///         _ => {}
///     });
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Streamable HTTP (protocol 2025-03-26 and later): `Mcp-Session-Id`, POST answered with
    /// JSON or SSE, an optional GET stream, resumable streams.
    StreamableHttp,
    /// The HTTP+SSE transport of protocol 2024-11-05: one long GET stream that carries every
    /// message from the server, and POSTs to the URL its `endpoint` event named
    /// (see [`McpLayer::legacy_sse`](crate::McpLayer::legacy_sse)).
    LegacySse,
}

impl Transport {
    /// A short stable name for logs and metric labels: `streamable-http` or `legacy-sse`.
    ///
    /// ```
    /// assert_eq!(mcp_tower::Transport::LegacySse.as_str(), "legacy-sse");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamable-http",
            Self::LegacySse => "legacy-sse",
        }
    }
}
