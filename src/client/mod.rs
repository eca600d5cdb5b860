//! The client half (placeholder docs, completed below).

mod backoff;
mod body;
mod error;
mod event_source;
mod streamable;

pub use backoff::{Backoff, DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY};
pub use body::ClientBody;
pub use error::{BoxError, ClientError, ErrorKind, RpcError};
pub use event_source::{CloseHandle, EventSource, DEFAULT_CONNECT_TIMEOUT};
pub use streamable::{
    Call, ServerMessage, ServerRequest, ServerStream, StreamableHttpClient,
    StreamableHttpClientBuilder, LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS,
};

#[cfg(test)]
mod tests;
