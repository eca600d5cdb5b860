//! The client's settings (what
//! [`StreamableHttpClientBuilder`](super::StreamableHttpClientBuilder) sets), and the types of
//! the handler and listener they hold.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::header::HeaderMap;
use serde_json::{json, Value};

use super::backoff::Backoff;
use super::event_source::DEFAULT_CONNECT_TIMEOUT;
use super::message::{ServerMessage, ServerRequest};
use crate::jsonrpc::ErrorObject;
use crate::protocol::ProtocolVersion;
use crate::sse::DEFAULT_MAX_EVENT_SIZE;

/// How many times, by default, one request may be answered with `input_required` before the
/// client gives up.
pub(super) const DEFAULT_MAX_INPUT_ROUNDS: u32 = 8;

pub(super) type Handler =
    dyn Fn(ServerRequest) -> BoxFuture<'static, Result<Value, ErrorObject>> + Send + Sync;
pub(super) type Listener = dyn Fn(ServerMessage) + Send + Sync;

/// The builder's settings, which both clients and the 2026-07-28 code read.
#[derive(Clone)]
pub(super) struct Config {
    pub(super) headers: HeaderMap,
    pub(super) protocol_version: ProtocolVersion,
    pub(super) client_info: Value,
    pub(super) capabilities: Value,
    pub(super) backoff: Backoff,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) max_event_size: usize,
    pub(super) reinitialize: bool,
    pub(super) request_timeout: Option<Duration>,
    pub(super) handler: Option<Arc<Handler>>,
    pub(super) listener: Option<Arc<Listener>>,
    pub(super) max_input_rounds: u32,
}

impl Config {
    /// The defaults: the newest session-era version offered, this crate as `clientInfo`, no
    /// capabilities, [`Backoff::new`], a 30 s connect timeout, 16 MiB messages.
    pub(super) fn new() -> Self {
        Self {
            headers: HeaderMap::new(),
            protocol_version: ProtocolVersion::LATEST_SESSION,
            client_info: json!({
                "name": env!("CARGO_PKG_NAME"),
                "version": env!("CARGO_PKG_VERSION"),
            }),
            capabilities: json!({}),
            backoff: Backoff::new(),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            idle_timeout: None,
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            reinitialize: false,
            request_timeout: None,
            handler: None,
            listener: None,
            max_input_rounds: DEFAULT_MAX_INPUT_ROUNDS,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("protocol_version", &self.protocol_version)
            .field("client_info", &self.client_info)
            .field("capabilities", &self.capabilities)
            .field("backoff", &self.backoff)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_event_size", &self.max_event_size)
            .field("reinitialize", &self.reinitialize)
            .field("request_timeout", &self.request_timeout)
            .field("handler", &self.handler.as_ref().map(|_| "<fn>"))
            .field("listener", &self.listener.as_ref().map(|_| "<fn>"))
            .field("max_input_rounds", &self.max_input_rounds)
            .finish()
    }
}
