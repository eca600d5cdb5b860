//! The bounds every route puts on the inner handler and on the request body, written once.

use bytes::Buf;
use tower_service::Service;

use crate::error::BoxError;
use crate::handler::{McpRequest, McpResponse};

/// The inner handler as every route needs it: the bounds of `McpService`'s `Service` impl,
/// written once.
pub(crate) trait Handler:
    Service<McpRequest, Response = McpResponse, Error: Into<BoxError>, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> Handler for S where
    S: Service<McpRequest, Response = McpResponse, Error: Into<BoxError>, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

/// A request body as every POST route reads it.
pub(crate) trait RequestBody:
    http_body::Body<Data: Buf + Send, Error: Into<BoxError>> + Send + 'static
{
}

impl<B> RequestBody for B where
    B: http_body::Body<Data: Buf + Send, Error: Into<BoxError>> + Send + 'static
{
}
