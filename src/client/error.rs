//! The client's error type.

use std::fmt;

use crate::jsonrpc::ErrorObject;
use http::StatusCode;

use crate::BoxError;

/// Why a client operation failed. See [`ClientError::kind`].
///
/// # Example
///
/// ```
/// use mcp_tower::client::{ClientError, ErrorKind};
///
/// fn retry_later(err: &ClientError) -> bool {
///     matches!(err.kind(), ErrorKind::Transport | ErrorKind::Timeout)
/// }
/// # let _ = retry_later;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The HTTP service or the response body failed (connection refused, reset, ...).
    Transport,
    /// No response headers within the connect timeout, or the request timed out.
    Timeout,
    /// The server answered with an HTTP status the client could not use; see
    /// [`ClientError::status`].
    Status,
    /// The server offers no stream here: `405 Method Not Allowed` to a `GET`. Not retried.
    StreamNotOffered,
    /// The server refused to resume a stream from a `Last-Event-ID` (a `4xx`); events after
    /// that id are lost.
    ResumeRefused,
    /// The server does not know the session (`404`) and re-initialization is off or failed.
    SessionExpired,
    /// The server's reply broke the protocol: wrong content type, invalid JSON, a stream that
    /// ended before the response with no event id to resume from, ...
    Protocol,
    /// One server-sent event was larger than the configured maximum.
    EventTooLarge,
    /// The server chose a protocol version this client does not speak.
    UnsupportedVersion,
    /// The server answered the request with a JSON-RPC error; see [`ClientError::rpc_error`].
    Rpc,
    /// Reconnection gave up (attempt or time limit reached); the source is the last failure.
    RetriesExhausted,
    /// A request could not be built (for example a header value that is not valid).
    InvalidRequest,
    /// A 2026-07-28 request was answered `input_required` more times than
    /// [`max_input_rounds`](super::StreamableHttpClientBuilder::max_input_rounds) allows.
    InputRounds,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transport => "transport error",
            Self::Timeout => "timed out",
            Self::Status => "unexpected http status",
            Self::StreamNotOffered => "server offers no event stream (405)",
            Self::ResumeRefused => "server refused to resume the stream",
            Self::SessionExpired => "session not found on the server",
            Self::Protocol => "protocol error",
            Self::EventTooLarge => "event too large",
            Self::UnsupportedVersion => "unsupported protocol version",
            Self::Rpc => "json-rpc error",
            Self::RetriesExhausted => "gave up reconnecting",
            Self::InvalidRequest => "invalid request",
            Self::InputRounds => "too many input rounds",
        })
    }
}

/// The error of every client operation: a [`kind`](Self::kind), and where it applies the HTTP
/// [`status`](Self::status), the JSON-RPC [`rpc_error`](Self::rpc_error) and a
/// [`source`](std::error::Error::source).
pub struct ClientError {
    kind: ErrorKind,
    message: Option<String>,
    status: Option<StatusCode>,
    rpc: Option<ErrorObject>,
    source: Option<BoxError>,
}

impl ClientError {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            message: None,
            status: None,
            rpc: None,
            source: None,
        }
    }

    pub(crate) fn msg(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::new(kind).with_message(message)
    }

    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn with_rpc(mut self, rpc: ErrorObject) -> Self {
        self.rpc = Some(rpc);
        self
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status that caused the error, if one did.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The JSON-RPC error the server answered with ([`ErrorKind::Rpc`]), or found in the body of
    /// an HTTP error response.
    #[must_use]
    pub fn rpc_error(&self) -> Option<&ErrorObject> {
        self.rpc.as_ref()
    }
}

impl fmt::Debug for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientError");
        d.field("kind", &self.kind);
        if let Some(m) = &self.message {
            d.field("message", m);
        }
        if let Some(s) = &self.status {
            d.field("status", s);
        }
        if let Some(r) = &self.rpc {
            d.field("rpc", r);
        }
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(status) = self.status {
            write!(f, " (http {})", status.as_u16())?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(rpc) = &self.rpc {
            write!(f, ": {rpc}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
