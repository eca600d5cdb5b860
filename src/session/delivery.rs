//! What became of a message sent to a client, and why a session ended.

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
