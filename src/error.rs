//! Every HTTP rejection the transport makes, built in one place: status code + JSON-RPC error.

use std::borrow::Cow;
use std::fmt;

use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::body::McpBody;
use crate::jsonrpc::{code, error_bytes, ErrorObject, RequestId};

/// A type-erased error, as tower uses it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the transport refused an HTTP request.
///
/// Every rejection response carries its `Rejection` in the response extensions, so an outer
/// layer (logging, metrics) can tell the reasons apart without parsing the body:
///
/// ```
/// use mcp_tower::{McpLayer, McpRequest, McpResponse, Rejection, RejectionKind};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = McpLayer::new().layer(service_fn(|_req: McpRequest| async {
///     Ok::<_, std::convert::Infallible>(McpResponse::empty())
/// }));
/// let req = http::Request::put("/mcp").body(String::new()).unwrap();
/// let res = svc.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), 405);
/// let why = res.extensions().get::<Rejection>().unwrap();
/// assert_eq!(why.kind(), RejectionKind::MethodNotAllowed);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Rejection {
    kind: RejectionKind,
    message: Cow<'static, str>,
    allow: Option<&'static str>,
    /// The request's id, once the body was read (stateless-era rejections echo it).
    id: Option<RequestId>,
    /// The error object's `data`.
    data: Option<serde_json::Value>,
}

/// The reasons for a [`Rejection`], each with its HTTP status and JSON-RPC error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// `Host` is not on the allowlist (DNS-rebinding defence): 403.
    ForbiddenHost,
    /// `Origin` is present and not on the allowlist: 403.
    ForbiddenOrigin,
    /// The HTTP method is not served here: 405 with `Allow`.
    MethodNotAllowed,
    /// `Accept` does not list what the reply needs: 406.
    NotAcceptable,
    /// `Content-Type` is not `application/json`: 415.
    UnsupportedMediaType,
    /// The body is larger than the configured limit: 413.
    PayloadTooLarge,
    /// The body could not be read (the client went away mid-body): 400.
    BodyRead,
    /// The body is not valid JSON or not UTF-8: 400, −32700.
    ParseError,
    /// The body is JSON but not a valid JSON-RPC message, or breaks the batch rules: 400, −32600.
    InvalidMessage,
    /// A non-`initialize` request came without `Mcp-Session-Id`: 400.
    SessionRequired,
    /// `Mcp-Session-Id` is malformed or repeated: 400.
    InvalidSessionId,
    /// The session is unknown, expired or ended: 404, −32001. The client must re-initialize.
    SessionNotFound,
    /// `MCP-Protocol-Version` names a revision this server does not speak: 400.
    UnsupportedProtocolVersion,
    /// `initialize` inside a live session: 400, −32600.
    AlreadyInitialized,
    /// The session limit is reached, or the server is shutting down: 503 with `Retry-After`.
    TooManySessions,
    /// The session has as many requests in flight as allowed: 429 with `Retry-After`.
    TooManyRequests,
    /// `Last-Event-ID` is not an event id of this session: 400.
    InvalidEventId,
    /// The events after `Last-Event-ID` are no longer kept (or the stream is forgotten), so the
    /// stream cannot be resumed without a gap: 400. The client should not retry the resume.
    ReplayUnavailable,
    /// A header the transport reads as one value (`Content-Type`, `Last-Event-ID`, …) is sent
    /// more than once with different values: 400.
    ConflictingHeader,
    /// The body did not arrive in full within the layer's body-read timeout: 408.
    BodyTimeout,
    /// The session store could not answer (unreachable or too slow): 503 with `Retry-After`.
    StoreUnavailable,
    /// A stateless-era (2026-07-28) request whose headers are missing, malformed, or disagree
    /// with its body (`MCP-Protocol-Version` vs `_meta`, `Mcp-Method`, `Mcp-Name`): 400, −32020.
    HeaderMismatch,
    /// A stateless-era request without `_meta`, or whose `_meta` lacks the protocol version or
    /// the client capabilities: 400, −32602.
    InvalidRequestMeta,
    /// A stateless-era request names a protocol version this server does not serve: 400,
    /// −32022, with `data.supported` and `data.requested`.
    UnsupportedRequestVersion,
    /// A method the 2026-07-28 revision removed (`initialize`, `ping`, `logging/setLevel`,
    /// `resources/subscribe`, `resources/unsubscribe`), sent as a stateless-era request: 404,
    /// −32601.
    RemovedMethod,
    /// As many `subscriptions/listen` streams as allowed are open: 503 with `Retry-After`.
    TooManyListenStreams,
}

impl RejectionKind {
    /// A short stable name for logs and metric labels, such as `session_not_found`.
    ///
    /// ```
    /// use mcp_tower::RejectionKind;
    /// assert_eq!(RejectionKind::PayloadTooLarge.name(), "payload_too_large");
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ForbiddenHost => "forbidden_host",
            Self::ForbiddenOrigin => "forbidden_origin",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NotAcceptable => "not_acceptable",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::BodyRead => "body_read",
            Self::ParseError => "parse_error",
            Self::InvalidMessage => "invalid_message",
            Self::SessionRequired => "session_required",
            Self::InvalidSessionId => "invalid_session_id",
            Self::SessionNotFound => "session_not_found",
            Self::UnsupportedProtocolVersion => "unsupported_protocol_version",
            Self::AlreadyInitialized => "already_initialized",
            Self::TooManySessions => "too_many_sessions",
            Self::TooManyRequests => "too_many_requests",
            Self::InvalidEventId => "invalid_event_id",
            Self::ReplayUnavailable => "replay_unavailable",
            Self::ConflictingHeader => "conflicting_header",
            Self::BodyTimeout => "body_timeout",
            Self::StoreUnavailable => "store_unavailable",
            Self::HeaderMismatch => "header_mismatch",
            Self::InvalidRequestMeta => "invalid_request_meta",
            Self::UnsupportedRequestVersion => "unsupported_request_version",
            Self::RemovedMethod => "removed_method",
            Self::TooManyListenStreams => "too_many_listen_streams",
        }
    }

    /// The HTTP status code this reason is answered with.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            Self::ForbiddenHost | Self::ForbiddenOrigin => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::SessionNotFound | Self::RemovedMethod => StatusCode::NOT_FOUND,
            Self::TooManySessions | Self::StoreUnavailable | Self::TooManyListenStreams => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyRead
            | Self::ParseError
            | Self::InvalidMessage
            | Self::SessionRequired
            | Self::InvalidSessionId
            | Self::UnsupportedProtocolVersion
            | Self::AlreadyInitialized
            | Self::InvalidEventId
            | Self::ReplayUnavailable
            | Self::ConflictingHeader
            | Self::HeaderMismatch
            | Self::InvalidRequestMeta
            | Self::UnsupportedRequestVersion => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON-RPC error code in the body.
    #[must_use]
    pub const fn code(self) -> i64 {
        match self {
            Self::ParseError => code::PARSE_ERROR,
            Self::InvalidMessage | Self::AlreadyInitialized => code::INVALID_REQUEST,
            Self::SessionNotFound => code::SESSION_NOT_FOUND,
            Self::HeaderMismatch => code::HEADER_MISMATCH,
            Self::InvalidRequestMeta => code::INVALID_PARAMS,
            Self::UnsupportedRequestVersion => code::UNSUPPORTED_PROTOCOL_VERSION,
            Self::RemovedMethod => code::METHOD_NOT_FOUND,
            _ => code::TRANSPORT_ERROR,
        }
    }
}

impl Rejection {
    pub(crate) fn new(kind: RejectionKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            allow: None,
            id: None,
            data: None,
        }
    }

    /// Echoes the request's id in the error body.
    pub(crate) fn with_id(mut self, id: Option<RequestId>) -> Self {
        self.id = id;
        self
    }

    /// Sets the error object's `data`.
    pub(crate) fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn method_not_allowed(
        allow: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(RejectionKind::MethodNotAllowed, message)
        }
    }

    /// The reason.
    #[must_use]
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The message sent to the client, written for the person reading it.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The id of the request refused, when it could be read (stateless-era rejections are
    /// decided after the body is read, and echo it).
    ///
    /// ```
    /// use mcp_tower::{McpLayer, McpRequest, McpResponse, Rejection, RejectionKind, RequestId};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let svc = McpLayer::new().layer(service_fn(|_req: McpRequest| async {
    ///     Ok::<_, std::convert::Infallible>(McpResponse::empty())
    /// }));
    /// // A 2026-07-28 request without `_meta`.
    /// let req = http::Request::post("/mcp")
    ///     .header("accept", "application/json, text/event-stream")
    ///     .header("content-type", "application/json")
    ///     .header("mcp-protocol-version", "2026-07-28")
    ///     .header("mcp-method", "tools/list")
    ///     .body(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#.to_string())
    ///     .unwrap();
    /// let res = svc.oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), 400);
    /// let why = res.extensions().get::<Rejection>().unwrap();
    /// assert_eq!(why.kind(), RejectionKind::InvalidRequestMeta);
    /// assert_eq!(why.request_id(), Some(&RequestId::from(7)));
    /// # }
    /// ```
    #[must_use]
    pub fn request_id(&self) -> Option<&RequestId> {
        self.id.as_ref()
    }

    /// Builds the response: status, headers, and a JSON-RPC error body with the request's id,
    /// or `"id": null` when it is unknown.
    pub(crate) fn into_response(self) -> Response<McpBody> {
        let mut error = ErrorObject::new(self.kind.code(), self.message.clone());
        error.data.clone_from(&self.data);
        let body = error_bytes(self.id.as_ref(), &error);
        let mut res = Response::new(McpBody::json(body));
        *res.status_mut() = self.kind.status();
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        match self.kind {
            RejectionKind::TooManySessions | RejectionKind::TooManyListenStreams => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
            }
            RejectionKind::StoreUnavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            RejectionKind::TooManyRequests => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        res.extensions_mut().insert(self);
        res
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.status())
    }
}

impl std::error::Error for Rejection {}
