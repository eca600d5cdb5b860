//! The three successful response shapes: an SSE stream, a JSON document, `202 Accepted`.

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};

use crate::body::McpBody;
use crate::sse::SseBody;

/// A `200` SSE response with the headers every stream carries.
pub(crate) fn sse_response(body: SseBody) -> Response<McpBody> {
    let mut res = Response::new(McpBody::sse(body));
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// A `200` JSON response.
pub(crate) fn json_response(json: Vec<u8>) -> Response<McpBody> {
    let mut res = Response::new(McpBody::json(json));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// `202 Accepted` with no body.
pub(crate) fn accepted() -> Response<McpBody> {
    let mut res = Response::new(McpBody::empty());
    *res.status_mut() = StatusCode::ACCEPTED;
    res
}
