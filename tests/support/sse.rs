//! Reading `text/event-stream` bodies through the crate's own [`SseDecoder`] (WHATWG rules).
//!
//! The decoder dispatches only events that carry data. Events without data — the priming event
//! (`id` + `retry` + an empty `data` line) and the bare `retry:` hint a server writes before it
//! closes a connection — still leave their trace in the decoder's state, and that is how they
//! are observed here: bytes are fed one at a time, so the byte that ends an event is known, and
//! after each reported event reading goes on in a fresh decoder that starts from the last event
//! id, so [`SseDecoder::retry`] shows only the `retry` fields that arrived since.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use mcp_tower::sse::SseDecoder;
use mcp_tower::McpBody;
use serde_json::Value;

use super::{assert_sse_headers, body_bytes, within};

/// One event of a stream, as a client observes it through [`SseDecoder`].
///
/// A message is an event the decoder dispatched. An event without data is reported when the
/// decoder shows it ended: at once when it set a new event id (a priming event), or (a bare
/// `retry:` hint) when the stream ends. A `retry` field that is neither is counted with the next
/// event reported. Comment-only blocks (keep-alives) are not reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// A message's event id ([`mcp_tower::sse::SseEvent::id`]); for an event without data, the
    /// new id it set, if any.
    pub(crate) id: Option<String>,
    /// The reconnection time, in milliseconds, if a `retry` field arrived with this event.
    pub(crate) retry: Option<u64>,
    /// The data (empty for an event the decoder did not dispatch).
    pub(crate) data: String,
    /// The bytes of the stream that made up this event (and any comments before it), as
    /// written: for assertions on the wire format only, never parsed.
    pub(crate) raw: String,
}

impl Event {
    /// The data as JSON, if it is non-empty.
    pub(crate) fn json(&self) -> Option<Value> {
        if self.data.is_empty() {
            None
        } else {
            Some(
                serde_json::from_str(&self.data)
                    .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {:?}", self.raw)),
            )
        }
    }

    /// A priming event (SEP-1699): an event id and a `retry:` hint, without data.
    pub(crate) fn is_priming(&self) -> bool {
        self.id.is_some() && self.retry.is_some() && self.data.is_empty()
    }

    /// Only a `retry:` hint (no id, no data): what a server writes before it closes a connection.
    pub(crate) fn is_retry_hint(&self) -> bool {
        self.retry.is_some() && self.id.is_none() && self.data.is_empty()
    }
}

/// Splits a byte stream into [`Event`]s with an [`SseDecoder`], however the bytes are chunked.
#[derive(Debug)]
pub(crate) struct EventReader {
    decoder: SseDecoder,
    /// The last event id when the current decoder started.
    last_id: Option<String>,
    raw: Vec<u8>,
}

impl EventReader {
    pub(crate) fn new() -> Self {
        Self {
            decoder: SseDecoder::new(),
            last_id: None,
            raw: Vec::new(),
        }
    }

    /// Feeds received bytes; returns the events they completed.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        for byte in bytes {
            let byte = std::slice::from_ref(byte);
            self.raw.extend_from_slice(byte);
            self.decoder.push(byte);
            let event = self
                .decoder
                .next_event()
                .unwrap_or_else(|e| panic!("the stream is not valid SSE: {e}"));
            if let Some(event) = event {
                // `endpoint` opens a legacy (2024-11-05) stream; everything else is a message.
                let kind = event.event_type();
                assert!(
                    kind == "message" || kind == "endpoint",
                    "unexpected event type {kind}"
                );
                let id = event.id().map(str::to_owned);
                out.push(self.take(id, event.into_data()));
            } else if self.decoder.last_event_id() != self.last_id.as_deref() {
                // An event without data ended and set a new id: a priming event.
                let id = self.decoder.last_event_id().map(str::to_owned);
                out.push(self.take(id, String::new()));
            }
        }
        out
    }

    /// The end of the stream: reports a `retry:` hint still waiting to be reported. A partly
    /// received event is dropped, as a client drops it.
    pub(crate) fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.decoder.retry().is_some() {
            out.push(self.take(None, String::new()));
        }
        self.raw.clear();
        out
    }

    /// Reports an event and goes on in a fresh decoder from the current last event id.
    fn take(&mut self, id: Option<String>, data: String) -> Event {
        let event = Event {
            id,
            retry: self
                .decoder
                .retry()
                .map(|d| u64::try_from(d.as_millis()).unwrap()),
            data,
            raw: String::from_utf8(std::mem::take(&mut self.raw)).expect("SSE is UTF-8"),
        };
        self.last_id = self.decoder.last_event_id().map(str::to_owned);
        self.decoder =
            SseDecoder::new().with_last_event_id(self.last_id.clone().unwrap_or_default());
        event
    }
}

/// Every event of a complete stream (or of a chunk holding whole events).
pub(crate) fn decode(bytes: &[u8]) -> Vec<Event> {
    let mut reader = EventReader::new();
    let mut events = reader.push(bytes);
    events.extend(reader.finish());
    events
}

/// Reads SSE events from a body, frame by frame, as they arrive.
pub(crate) struct Sse<B> {
    body: B,
    reader: EventReader,
    queue: VecDeque<Event>,
    ended: bool,
}

impl<B> Sse<B>
where
    B: http_body::Body + Unpin,
    B::Error: Debug,
{
    pub(crate) fn new(body: B) -> Self {
        Self {
            body,
            reader: EventReader::new(),
            queue: VecDeque::new(),
            ended: false,
        }
    }

    /// The next event; `None` once the body ended (or the connection failed).
    pub(crate) async fn next(&mut self) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Some(ev);
            }
            if self.ended {
                return None;
            }
            // Bounded, so a missing event fails the test instead of spinning on keep-alives
            // (a paused clock jumps from one keep-alive to the next forever).
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .expect("no SSE event within 120 s of the test's clock");
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            let n = chunk.len();
                            self.queue.extend(self.reader.push(chunk));
                            data.advance(n);
                        }
                    }
                }
                Some(Err(_)) | None => {
                    self.ended = true;
                    self.queue.extend(self.reader.finish());
                }
            }
        }
    }

    /// The next event with JSON data (priming events and retry hints are skipped).
    pub(crate) async fn next_message(&mut self) -> Option<(Option<String>, Value)> {
        loop {
            let ev = self.next().await?;
            if let Some(v) = ev.json() {
                return Some((ev.id, v));
            }
        }
    }

    /// Every remaining event, until the body ends.
    pub(crate) async fn rest(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(ev) = self.next().await {
            out.push(ev);
        }
        out
    }

    /// Whether the body has ended and every event was read.
    pub(crate) fn ended(&self) -> bool {
        self.ended && self.queue.is_empty()
    }
}

impl Sse<McpBody> {
    /// Reads the SSE body of a response, checking that it is one.
    pub(crate) fn of(res: Response<McpBody>) -> Self {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()["content-type"],
            "text/event-stream",
            "expected an SSE reply"
        );
        Self::new(res.into_body())
    }
}

/// The id and JSON of every message event (priming events and retry hints left out).
pub(crate) fn messages(events: &[Event]) -> Vec<(Option<String>, Value)> {
    events
        .iter()
        .filter_map(|e| e.json().map(|v| (e.id.clone(), v)))
        .collect()
}

/// The id of the last event that has one: where a client resumes from.
pub(crate) fn last_id(events: &[Event]) -> Option<String> {
    events.iter().rev().find_map(|e| e.id.clone())
}

/// Checks a 200 SSE reply (headers, every message written as `event: message`), reads it to its
/// end and returns the JSON messages in order.
pub(crate) async fn sse_reply(res: Response<McpBody>) -> Vec<Value> {
    assert_sse_headers(&res);
    let events = decode(&body_bytes(res).await);
    events
        .iter()
        .filter_map(|event| {
            let message = event.json()?;
            assert!(event.raw.contains("event: message\n"), "{event:?}");
            Some(message)
        })
        .collect()
}

/// The next frame of a stream that stays open (a GET stream), as bytes; `None` when it ended.
pub(crate) async fn next_frame(body: &mut McpBody) -> Option<Bytes> {
    let frame = within(body.frame()).await?;
    match frame {
        Ok(frame) => Some(
            frame
                .into_data()
                .expect("SSE bodies only carry data frames"),
        ),
        Err(never) => match never {},
    }
}

/// The next JSON message on a stream that stays open, skipping keep-alive comments.
pub(crate) async fn next_message(body: &mut McpBody) -> Value {
    within(Sse::new(body).next_message())
        .await
        .expect("the stream ended")
        .1
}

/// Whether the stream ends now (within the patience), skipping anything still queued in it.
pub(crate) async fn ends(body: &mut McpBody) -> bool {
    while let Some(_frame) = next_frame(body).await {}
    body.is_end_stream()
}
