//! Server-sent events, written by hand: an [`Event`] encoder and [`SseBody`], an
//! `http_body::Body` fed by a bounded channel with keep-alive comments, and the incremental
//! [`SseDecoder`] that reads them back.
//!
//! Nothing here knows about MCP; the transport builds on it. See the
//! [WHATWG event-stream format](https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).

mod body;
mod decoder;
mod event;

pub use body::{channel, SseBody, SseSender, TrySendError};
pub use decoder::{SseDecodeError, SseDecoder, SseEvent, DEFAULT_MAX_EVENT_SIZE};
pub use event::{Event, SseFieldError};

pub(crate) use body::{DropHook, Queued, Refused};
pub(crate) use event::{message_event, EVENT_ID_LEN, ID_LINE_LEN};
