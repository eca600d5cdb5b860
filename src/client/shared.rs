//! Request plumbing both clients use: the `initialize` params, answering a server's request
//! through the user's handler, building a POST, and reading a JSON-RPC answer or an error
//! status. [`StreamableHttpClient`](super::StreamableHttpClient) (both eras) and
//! [`LegacySseClient`](super::LegacySseClient) differ only in where they send and read.

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request, Response, Uri};
use serde_json::{json, Value};

use futures_util::StreamExt as _;

use super::body::{byte_stream, read_to_end, ByteStream, ClientBody};
use super::config::Config;
use super::error::{ClientError, ErrorKind};
use super::message::ServerRequest;
use crate::jsonrpc::{self, code, ErrorObject, RequestId};
use crate::sse::SseDecoder;
use crate::BoxError;

/// Largest HTTP error body read to find a JSON-RPC error in it.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The `params` of `initialize`: the offered version, the capabilities and `clientInfo`.
pub(super) fn initialize_params(config: &Config) -> Value {
    json!({
        "protocolVersion": config.protocol_version.as_str(),
        "capabilities": config.capabilities,
        "clientInfo": config.client_info,
    })
}

/// The answer to a request from the server (a session-era request on a stream, or a 2026
/// input request): the user's handler decides; without one, `ping` gets `{}` and everything
/// else −32601.
pub(super) async fn handle_server_request(
    config: &Config,
    request: ServerRequest,
) -> Result<Value, ErrorObject> {
    match &config.handler {
        Some(handler) => handler(request).await,
        None if request.method() == "ping" => Ok(json!({})),
        None => Err(ErrorObject::new(
            code::METHOD_NOT_FOUND,
            format!("method not found: {}", request.method()),
        )),
    }
}

/// The JSON-RPC response that answers a server's request with `outcome`.
pub(super) fn response(id: &RequestId, outcome: &Result<Value, ErrorObject>) -> Bytes {
    Bytes::from(jsonrpc::response_bytes(id, outcome))
}

/// Serializes a request (with `id`) or a notification the client sends.
pub(super) fn outgoing(id: Option<i64>, method: &str, params: Option<&Value>) -> Bytes {
    let id = id.map(RequestId::Number);
    Bytes::from(jsonrpc::outgoing_bytes(id.as_ref(), method, params))
}

/// A POST of one JSON message to `uri`, with `accept` (if any), the builder's headers and then
/// `extra`.
pub(super) fn post_request(
    uri: &Uri,
    accept: Option<&'static str>,
    config_headers: &HeaderMap,
    extra: &HeaderMap,
    message: Bytes,
) -> Result<Request<ClientBody>, ClientError> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(uri.clone())
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(accept) = accept {
        builder = builder.header(header::ACCEPT, accept);
    }
    let mut request = builder
        .body(ClientBody::from(message))
        .map_err(|e| ClientError::new(ErrorKind::InvalidRequest).with_source(e))?;
    for (name, value) in config_headers.iter().chain(extra) {
        request.headers_mut().append(name, value.clone());
    }
    Ok(request)
}

/// The outcome a JSON-RPC response carries: its `result`, or its `error` as
/// [`ErrorKind::Rpc`].
pub(super) fn response_outcome(value: &Value) -> Result<Value, ClientError> {
    if let Some(result) = value.get("result") {
        return Ok(result.clone());
    }
    match value.get("error").and_then(ErrorObject::from_value_lenient) {
        Some(rpc) => Err(ClientError::new(ErrorKind::Rpc).with_rpc(rpc)),
        None => Err(ClientError::msg(
            ErrorKind::Protocol,
            "response has neither result nor a valid error",
        )),
    }
}

/// An error status, with the JSON-RPC error of its body when it has one.
pub(super) async fn error_status<B>(response: Response<B>, limit: usize) -> ClientError
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let status = response.status();
    let mut err = ClientError::new(ErrorKind::Status).with_status(status);
    if let Ok(body) =
        read_to_end(byte_stream(response.into_body()), limit.min(MAX_ERROR_BODY)).await
    {
        if let Some(rpc) = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(ErrorObject::from_value_lenient))
        {
            err = err.with_rpc(rpc);
        }
    }
    err
}

/// An SSE body read event by event, without reconnection (the legacy session stream, a 2026
/// `subscriptions/listen` stream).
pub(super) struct SseReader {
    body: ByteStream,
    decoder: SseDecoder,
}

impl SseReader {
    pub(super) fn new(body: ByteStream, max_event_size: usize) -> Self {
        Self {
            body,
            decoder: SseDecoder::new().max_event_size(max_event_size),
        }
    }

    /// The next event, as its type and data; `None` at the end of the stream.
    pub(super) async fn next(&mut self) -> Result<Option<(String, String)>, ClientError> {
        loop {
            let event = self
                .decoder
                .next_event()
                .map_err(|e| ClientError::new(ErrorKind::EventTooLarge).with_source(e))?;
            if let Some(event) = event {
                return Ok(Some((event.event_type().to_owned(), event.into_data())));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.decoder.push(&chunk),
                Some(Err(e)) => return Err(ClientError::new(ErrorKind::Transport).with_source(e)),
                None => return Ok(None),
            }
        }
    }
}
