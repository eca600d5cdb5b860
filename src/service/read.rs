//! Reading a POST body (size-limited, time-limited) and parsing it as JSON-RPC: what every POST
//! route does once its head has passed.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Response};
use http_body_util::BodyExt;

use super::config::Config;
use crate::body::McpBody;
use crate::error::{BoxError, Rejection, RejectionKind};
use crate::jsonrpc::{parse_payload, ParseFailure, Payload};

/// Reads and parses the body: 413 beyond the limit, 408 when it does not arrive in time, 400
/// for a body that fails mid-way, is not JSON, or is not JSON-RPC.
pub(crate) async fn payload<B>(
    body: B,
    headers: &HeaderMap,
    config: &Config,
) -> Result<Payload, Response<McpBody>>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let bytes = read_body(body, headers, config).await?;
    let payload = parse_payload(&bytes).map_err(|failure| match failure {
        ParseFailure::Syntax(msg) => reject(RejectionKind::ParseError, msg),
        ParseFailure::Shape(msg) => reject(RejectionKind::InvalidMessage, msg),
    })?;
    match payload {
        Payload::Batch(items) if items.len() > config.max_batch_len => Err(reject(
            RejectionKind::InvalidMessage,
            format!(
                "this batch holds {} messages and this server takes at most {}; split it",
                items.len(),
                config.max_batch_len
            ),
        )),
        payload => Ok(payload),
    }
}

pub(crate) fn reject(
    kind: RejectionKind,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Response<McpBody> {
    Rejection::new(kind, message).into_response()
}

/// How reading a body ended, short of its whole content.
enum Cut {
    /// Past the limit, after draining what the drain budget allows.
    TooLarge,
    /// The client failed mid-body.
    Failed(BoxError),
}

/// Reads the body up to the limit. Memory grows with what arrives, not with what is declared.
/// Past the limit, what follows is read and thrown away within the drain budget, so that a
/// client still writing gets the 413 rather than a reset connection.
async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    config: &Config,
) -> Result<Bytes, Response<McpBody>>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let limit = config.max_body_bytes;
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
    let drainable = limit.saturating_add(config.drain_bytes) as u64;
    if declared.is_some_and(|n| n > drainable) {
        return Err(too_large());
    }
    let mut body = std::pin::pin!(body);
    if declared.is_some_and(|n| n > limit as u64) {
        // Too large, but within what may be read in all: read it only to throw it away.
        drain(
            body,
            limit.saturating_add(config.drain_bytes),
            config.drain_time,
        )
        .await;
        return Err(too_large());
    }
    let read = async {
        // One frame (the usual case: a small body arrives whole) is kept as it came, without a
        // copy; a body in several frames is joined.
        let mut first: Option<Bytes> = None;
        let mut joined = BytesMut::new();
        let mut len = 0usize;
        while let Some(frame) = body.as_mut().frame().await {
            let frame = frame.map_err(|e| Cut::Failed(e.into()))?;
            let Ok(mut data) = frame.into_data() else {
                continue;
            };
            len += data.remaining();
            if len > limit {
                return Err(Cut::TooLarge);
            }
            let bytes = data.copy_to_bytes(data.remaining());
            match first.take() {
                None if joined.is_empty() => first = Some(bytes),
                earlier => {
                    if let Some(earlier) = earlier {
                        joined.reserve(earlier.len() + bytes.len());
                        joined.put_slice(&earlier);
                    }
                    joined.put_slice(&bytes);
                }
            }
        }
        Ok(first.unwrap_or_else(|| joined.freeze()))
    };
    // A body that is here already (in-process, or read with the head) needs no timer.
    let outcome = {
        let mut read = std::pin::pin!(read);
        match futures_util::poll!(read.as_mut()) {
            std::task::Poll::Ready(outcome) => outcome,
            std::task::Poll::Pending => {
                let Ok(outcome) = tokio::time::timeout(config.body_read_timeout, read).await else {
                    return Err(reject(
                        RejectionKind::BodyTimeout,
                        format!(
                        "the body did not arrive within {:?}; send it at once, or ask the server \
                         for a longer McpLayer::body_read_timeout",
                        config.body_read_timeout
                    ),
                    ));
                };
                outcome
            }
        }
    };
    match outcome {
        Ok(bytes) => Ok(bytes),
        Err(Cut::TooLarge) => {
            drain(body, config.drain_bytes, config.drain_time).await;
            Err(too_large())
        }
        Err(Cut::Failed(e)) => Err(reject(
            RejectionKind::BodyRead,
            format!("failed to read the request body: {e}"),
        )),
    }
}

/// Reads and throws away up to `budget` bytes of what is left of `body`, for at most `time`.
async fn drain<B: http_body::Body>(mut body: std::pin::Pin<&mut B>, budget: usize, time: Duration) {
    if budget == 0 {
        return;
    }
    let discard = async {
        let mut left = budget;
        while let Some(Ok(frame)) = body.as_mut().frame().await {
            if let Ok(data) = frame.into_data() {
                match left.checked_sub(data.remaining()) {
                    Some(rest) => left = rest,
                    None => return,
                }
            }
        }
    };
    let _ = tokio::time::timeout(time, discard).await;
}
