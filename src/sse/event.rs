//! Encoding one server-sent event into bytes.

use std::fmt;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

/// A keep-alive comment: an empty `:` line ends no event and is ignored by every client.
pub(crate) const KEEP_ALIVE: &[u8] = b":\n\n";

/// One server-sent event, written field by field into a buffer.
///
/// Fields are written in the order they are set; a field set twice is written twice (readers keep
/// the last `id`, `event` and `retry`, and join `data` lines with `\n`). Values that may come from
/// outside (ids, event names) are checked and refused with an [`SseFieldError`], never a panic.
///
/// # Example
///
/// ```
/// use mcp_tower::sse::Event;
/// use std::time::Duration;
///
/// let bytes = Event::new()
///     .id("s1-7")?
///     .retry(Duration::from_secs(3))
///     .data("line one\nline two")
///     .finish();
/// assert_eq!(&bytes[..], b"id: s1-7\nretry: 3000\ndata: line one\ndata: line two\n\n");
/// # Ok::<(), mcp_tower::sse::SseFieldError>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct Event {
    buf: BytesMut,
}

impl Event {
    /// Starts an empty event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an `id:` field, the cursor a client sends back as `Last-Event-ID`.
    ///
    /// # Errors
    ///
    /// Refuses a value that contains CR, LF or NUL: it could not be read back as one id.
    pub fn id(mut self, id: &str) -> Result<Self, SseFieldError> {
        check_field("id", id, true)?;
        self.field(b"id", id.as_bytes());
        Ok(self)
    }

    /// Adds an `event:` field (the event type; readers default to `message`).
    ///
    /// # Errors
    ///
    /// Refuses a value that contains CR or LF.
    pub fn event(mut self, name: &str) -> Result<Self, SseFieldError> {
        check_field("event", name, false)?;
        self.field(b"event", name.as_bytes());
        Ok(self)
    }

    /// Adds `data:` lines, one per line of `data` (split on CR, LF and CRLF), so any text
    /// survives the trip. An empty string writes one empty `data:` line.
    pub fn data(mut self, data: &str) -> Self {
        for line in split_lines(data) {
            self.field(b"data", line.as_bytes());
        }
        self
    }

    /// Adds one `data:` line holding `value` serialized as compact JSON, written straight into
    /// the event's buffer. Compact JSON never contains a raw line break, so it stays one line.
    ///
    /// # Errors
    ///
    /// Returns the serializer's error (for example a map with non-string keys).
    pub fn json_data<T: serde::Serialize + ?Sized>(
        mut self,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        self.buf.extend_from_slice(b"data: ");
        serde_json::to_writer((&mut self.buf).writer(), value)?;
        self.buf.put_u8(b'\n');
        Ok(self)
    }

    /// Adds a `retry:` field: how long a client must wait before reconnecting, in milliseconds.
    pub fn retry(mut self, delay: Duration) -> Self {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.field(b"retry", millis.to_string().as_bytes());
        self
    }

    /// Adds a comment (`: text`), one comment line per line of `text`. Readers ignore comments;
    /// they are useful as keep-alives and for debugging.
    pub fn comment(mut self, text: &str) -> Self {
        for line in split_lines(text) {
            self.buf.put_u8(b':');
            if !line.is_empty() {
                self.buf.put_u8(b' ');
                self.buf.extend_from_slice(line.as_bytes());
            }
            self.buf.put_u8(b'\n');
        }
        self
    }

    /// Ends the event with a blank line and returns its bytes, ready to be one body frame.
    #[must_use]
    pub fn finish(mut self) -> Bytes {
        self.buf.put_u8(b'\n');
        self.buf.freeze()
    }

    fn field(&mut self, name: &[u8], value: &[u8]) {
        self.buf.reserve(name.len() + value.len() + 3);
        self.buf.extend_from_slice(name);
        if value.is_empty() {
            self.buf.put_u8(b':');
        } else {
            self.buf.extend_from_slice(b": ");
            self.buf.extend_from_slice(value);
        }
        self.buf.put_u8(b'\n');
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("buf", &String::from_utf8_lossy(&self.buf))
            .finish()
    }
}

/// Width of the event ids the transport writes (see `session::stream`). Fixed, so an id travels
/// inline beside an event shared by many streams and needs no allocation of its own.
pub(crate) const EVENT_ID_LEN: usize = 24;

/// Length of the `id: …\n` line that [`message_event`] writes for such an id.
pub(crate) const ID_LINE_LEN: usize = EVENT_ID_LEN + 5;

/// One frame: an `id:` line followed by an encoded event that has none.
pub(crate) fn with_id(id: &[u8; EVENT_ID_LEN], event: &[u8]) -> Bytes {
    // Exactly the length written: a full Vec becomes `Bytes` without a second allocation.
    let mut buf = Vec::with_capacity(ID_LINE_LEN + event.len());
    buf.extend_from_slice(b"id: ");
    buf.extend_from_slice(id);
    buf.push(b'\n');
    buf.extend_from_slice(event);
    Bytes::from(buf)
}

/// Encodes one JSON message as an event: optional `id`, `event: message`, one `data:` line.
///
/// `json` must be compact JSON (no raw line breaks), as `serde_json::to_vec` writes it; `id` is
/// made by the transport and never contains a line break.
pub(crate) fn message_event(id: Option<&str>, json: &[u8]) -> Bytes {
    const EVENT: &[u8] = b"event: message\ndata: ";
    // Exactly the length written: a full Vec becomes `Bytes` without a second allocation.
    let id_len = id.map_or(0, |id| id.len() + 5);
    let mut buf = Vec::with_capacity(id_len + EVENT.len() + json.len() + 2);
    if let Some(id) = id {
        buf.extend_from_slice(b"id: ");
        buf.extend_from_slice(id.as_bytes());
        buf.push(b'\n');
    }
    buf.extend_from_slice(EVENT);
    buf.extend_from_slice(json);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

fn check_field(field: &'static str, value: &str, nul_forbidden: bool) -> Result<(), SseFieldError> {
    let bad = value
        .bytes()
        .any(|b| b == b'\n' || b == b'\r' || (nul_forbidden && b == 0));
    if bad {
        Err(SseFieldError { field })
    } else {
        Ok(())
    }
}

/// Splits on CRLF, CR or LF, the three line ends an event-stream reader accepts.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(at) => {
                let skip = if current[at..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[at + skip..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// A field value that cannot be written into an event without changing its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFieldError {
    field: &'static str,
}

impl SseFieldError {
    /// The name of the refused field (`id` or `event`).
    #[must_use]
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for SseFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sse `{}` field must not contain a line break or NUL",
            self.field
        )
    }
}

impl std::error::Error for SseFieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_after_its_id_line_is_the_event_without_one() {
        let id = [b'x'; EVENT_ID_LEN];
        let json = br#"{"jsonrpc":"2.0","method":"m"}"#;
        let with = message_event(Some(std::str::from_utf8(&id).unwrap()), json);
        let without = message_event(None, json);
        assert_eq!(with.slice(ID_LINE_LEN..), without);
        assert_eq!(with_id(&id, &without), with);
    }

    #[test]
    fn data_is_split_on_every_line_end() {
        let ev = Event::new().data("a\r\nb\rc\nd").finish();
        assert_eq!(&ev[..], b"data: a\ndata: b\ndata: c\ndata: d\n\n");
    }

    #[test]
    fn empty_data_writes_an_empty_field() {
        let ev = Event::new().id("1").unwrap().data("").finish();
        assert_eq!(&ev[..], b"id: 1\ndata:\n\n");
    }

    #[test]
    fn trailing_newline_in_data_keeps_the_empty_last_line() {
        let ev = Event::new().data("x\n").finish();
        assert_eq!(&ev[..], b"data: x\ndata:\n\n");
    }

    #[test]
    fn outside_values_with_line_breaks_are_refused_not_panicked_on() {
        assert_eq!(Event::new().id("a\nb").unwrap_err().field(), "id");
        assert_eq!(Event::new().id("a\0b").unwrap_err().field(), "id");
        assert_eq!(Event::new().event("x\ry").unwrap_err().field(), "event");
        assert!(Event::new().event("x\0y").is_ok());
    }

    #[test]
    fn json_data_is_written_compactly() {
        let ev = Event::new()
            .json_data(&serde_json::json!({"a": "x\ny"}))
            .unwrap()
            .finish();
        assert_eq!(&ev[..], b"data: {\"a\":\"x\\ny\"}\n\n");
    }

    #[test]
    fn comments_retry_and_event_names() {
        let ev = Event::new()
            .comment("hi\nthere")
            .event("endpoint")
            .unwrap()
            .retry(Duration::from_millis(1500))
            .finish();
        assert_eq!(&ev[..], b": hi\n: there\nevent: endpoint\nretry: 1500\n\n");
    }

    #[test]
    fn message_event_matches_the_builder() {
        let fast = message_event(Some("7"), br#"{"x":1}"#);
        let slow = Event::new()
            .id("7")
            .unwrap()
            .event("message")
            .unwrap()
            .data(r#"{"x":1}"#)
            .finish();
        assert_eq!(fast, slow);
        assert_eq!(
            &message_event(None, b"{}")[..],
            b"event: message\ndata: {}\n\n"
        );
    }
}
