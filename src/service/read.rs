//! Reading a POST body (size-limited) and parsing it as JSON-RPC: what every POST route does
//! once its head has passed.

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::body::McpBody;
use crate::error::{BoxError, Rejection, RejectionKind};
use crate::jsonrpc::{parse_payload, ParseFailure, Payload};

/// Reads and parses the body: 413 beyond `limit`, 400 for a body that fails mid-way, is not
/// JSON, or is not JSON-RPC.
pub(crate) async fn payload<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Payload, Response<McpBody>>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let bytes = read_body(body, headers, limit).await?;
    parse_payload(&bytes).map_err(|failure| match failure {
        ParseFailure::Syntax(msg) => reject(RejectionKind::ParseError, msg),
        ParseFailure::Shape(msg) => reject(RejectionKind::InvalidMessage, msg),
    })
}

pub(crate) fn reject(
    kind: RejectionKind,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Response<McpBody> {
    Rejection::new(kind, message).into_response()
}

/// Reads the body up to `limit` bytes: 413 beyond it (at once when `Content-Length` says so),
/// 400 if the client fails mid-body. Memory grows with what arrives, not with what is declared.
async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, Response<McpBody>>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let too_large = || {
        reject(
            RejectionKind::PayloadTooLarge,
            format!("the body is larger than this server's limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(reject(
            RejectionKind::BodyRead,
            format!("failed to read the request body: {e}"),
        )),
    }
}
