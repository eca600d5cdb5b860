//! What became of a message sent to a client, and why a session ended.

use super::id::SessionId;
use super::transport::Transport;

/// Where a message sent to a client went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Written to an open stream.
    Sent,
    /// Recorded for the stream, to be written when the client (re)connects: either no
    /// connection is open, or the open one was too slow and has been told to reconnect.
    Queued,
    /// Not delivered: the session is gone, the stream has ended, its queue is full (see the
    /// layer's `max_queued_events`), or the request has nowhere to send it.
    Dropped,
}

/// Why a session ended, as told to [`McpLayer::on_session_closed`](crate::McpLayer::on_session_closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent `DELETE`.
    Deleted,
    /// Idle for longer than the idle timeout.
    Expired,
    /// The client never sent `notifications/initialized` in time.
    InitializeTimeout,
    /// The application closed it ([`Session::close`](crate::Session::close) or
    /// [`Sessions::close`](crate::Sessions::close)).
    Closed,
    /// [`Sessions::shutdown`](crate::Sessions::shutdown).
    Shutdown,
    /// A legacy (2024-11-05) session's SSE stream ended (the client went away, or read too
    /// slowly and was cut off) and was not taken over within the grace period.
    Disconnected,
}

impl CloseReason {
    /// A short stable name for logs and metric labels.
    ///
    /// ```
    /// assert_eq!(mcp_tower::CloseReason::Expired.as_str(), "expired");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Expired => "expired",
            Self::InitializeTimeout => "initialize_timeout",
            Self::Closed => "closed",
            Self::Shutdown => "shutdown",
            Self::Disconnected => "disconnected",
        }
    }
}

/// A session that ended, as [`McpLayer::on_session_closed`](crate::McpLayer::on_session_closed)
/// is told of it: which one, why, and over which transport it was served.
///
/// ```
/// use mcp_tower::{CloseReason, McpLayer, Transport};
///
/// let layer = McpLayer::new().on_session_closed(|closed| {
///     if closed.transport == Transport::LegacySse && closed.reason == CloseReason::Disconnected {
///         println!("an old client went away: {}", closed.id);
///     }
/// });
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionClosed {
    /// The session's id.
    pub id: SessionId,
    /// Why it ended.
    pub reason: CloseReason,
    /// The transport it was served over.
    pub transport: Transport,
}
