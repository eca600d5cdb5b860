//! Incremental `text/event-stream` parsing, following the WHATWG algorithm.

use std::fmt;
use std::time::Duration;

use bytes::{Buf, BytesMut};

/// The default largest event [`SseDecoder`] accepts: 16 MiB.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An incremental parser for the [WHATWG event-stream format][whatwg].
///
/// Feed it the body's bytes as they arrive with [`push`](Self::push), in chunks cut anywhere
/// (inside a multi-byte UTF-8 character, between the CR and LF of a line end, inside the
/// byte-order mark), then take whole events with [`next_event`](Self::next_event). It knows
/// nothing about MCP.
///
/// It follows the parsing rules a client needs:
/// - lines end in CRLF, LF or CR; a leading byte-order mark is skipped;
/// - lines starting with `:` are comments; unknown fields are ignored;
/// - several `data` lines are joined with `\n`;
/// - an `id` containing NUL is ignored; `retry` counts only when it is all ASCII digits;
/// - an event whose data is empty is not dispatched, but its id still becomes the
///   [last event id](Self::last_event_id). That covers MCP *priming* events
///   (`id: 7`, `data:` with nothing after it, blank line): WHATWG would dispatch those with empty
///   data, which no MCP client can use, and older clients crashed parsing them;
/// - an event cut off by the end of the stream is dropped (call [`reset`](Self::reset)
///   before reading the next connection).
///
/// Memory is bounded: an event (every line up to the blank line that ends it, the line still
/// being received included) larger than [`max_event_size`](Self::max_event_size) is an error.
///
/// # Example
///
/// ```
/// use mcp_tower::sse::SseDecoder;
///
/// let mut decoder = SseDecoder::new();
/// decoder.push(b"id: 1\nretry: 500\ndata:\n\n: keep-alive\n\nid: 2\ndata: hel");
/// assert!(decoder.next_event()?.is_none()); // the priming event is not dispatched...
/// assert_eq!(decoder.last_event_id(), Some("1")); // ...but its id is kept
/// decoder.push("lo \u{1F600}\r\ndata: world\r\n\r\n".as_bytes());
/// let event = decoder.next_event()?.expect("a whole event");
/// assert_eq!(event.event_type(), "message");
/// assert_eq!(event.data(), "hello \u{1F600}\nworld");
/// assert_eq!(event.id(), Some("2"));
/// assert_eq!(decoder.retry(), Some(std::time::Duration::from_millis(500)));
/// # Ok::<(), mcp_tower::sse::SseDecodeError>(())
/// ```
///
/// [whatwg]: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
#[derive(Clone)]
pub struct SseDecoder {
    /// Bytes received but not yet consumed as whole lines.
    buf: BytesMut,
    /// How far `buf` has been searched for a line end, so a long line is scanned once.
    scanned: usize,
    /// Still at the start of the stream, where a byte-order mark may be.
    at_start: bool,
    /// The previous line ended in CR: a following LF belongs to it.
    skip_lf: bool,
    data: String,
    event_type: String,
    id_buffer: String,
    /// The last event id: committed when an event (dispatched or not) ends.
    last_event_id: String,
    retry: Option<Duration>,
    /// Bytes of the event being read so far (its whole lines).
    event_bytes: usize,
    max_event_size: usize,
}

impl SseDecoder {
    /// A decoder with the default 16 MiB [`max_event_size`](Self::max_event_size).
    #[must_use]
    pub fn new() -> Self {
        Self {
            buf: BytesMut::new(),
            scanned: 0,
            at_start: true,
            skip_lf: false,
            data: String::new(),
            event_type: String::new(),
            id_buffer: String::new(),
            last_event_id: String::new(),
            retry: None,
            event_bytes: 0,
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
        }
    }

    /// Sets the largest event accepted, in bytes of its raw lines (default 16 MiB).
    ///
    /// # Example
    ///
    /// ```
    /// use mcp_tower::sse::SseDecoder;
    ///
    /// let mut decoder = SseDecoder::new().max_event_size(8);
    /// decoder.push(b"data: far too long\n\n");
    /// let err = decoder.next_event().unwrap_err();
    /// assert_eq!(err.limit(), 8);
    /// ```
    #[must_use]
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = bytes;
        self
    }

    /// Starts the decoder with a known last event id, as when resuming a stream.
    ///
    /// ```
    /// use mcp_tower::sse::SseDecoder;
    ///
    /// let decoder = SseDecoder::new().with_last_event_id("s1-9");
    /// assert_eq!(decoder.last_event_id(), Some("s1-9"));
    /// ```
    #[must_use]
    pub fn with_last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = id.into();
        self.id_buffer.clone_from(&self.last_event_id);
        self
    }

    /// Appends received bytes. Nothing is parsed until [`next_event`](Self::next_event).
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Parses buffered bytes until one event is complete and returns it, or `Ok(None)` when
    /// more bytes are needed.
    ///
    /// # Errors
    ///
    /// [`SseDecodeError`] when the event being read grows past
    /// [`max_event_size`](Self::max_event_size). The partial event and the buffered bytes are
    /// then dropped; the stream should be abandoned (the last event id and retry are kept).
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseDecodeError> {
        if self.at_start {
            let n = self.buf.len().min(BOM.len());
            if self.buf[..n] != BOM[..n] {
                self.at_start = false;
            } else if n == BOM.len() {
                self.buf.advance(BOM.len());
                self.at_start = false;
            } else {
                // Too short to tell: a BOM may still be arriving.
                return Ok(None);
            }
        }
        loop {
            if self.skip_lf && !self.buf.is_empty() {
                if self.buf[0] == b'\n' {
                    self.buf.advance(1);
                }
                self.skip_lf = false;
            }
            let found = self.buf[self.scanned..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r');
            let Some(at) = found.map(|at| at + self.scanned) else {
                self.scanned = self.buf.len();
                if self.event_bytes + self.buf.len() > self.max_event_size {
                    return Err(self.too_large());
                }
                return Ok(None);
            };
            self.scanned = 0;
            self.skip_lf = self.buf[at] == b'\r';
            let line = self.buf.split_to(at + 1);
            let line = &line[..at];
            self.event_bytes += line.len() + 1;
            if self.event_bytes > self.max_event_size {
                return Err(self.too_large());
            }
            if line.is_empty() {
                if let Some(event) = self.dispatch() {
                    return Ok(Some(event));
                }
            } else {
                self.process_line(line);
            }
        }
    }

    /// Forgets a partly received event and any buffered bytes, ready for a new connection.
    /// The last event id and the retry time are kept; a byte-order mark is accepted again.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.scanned = 0;
        self.at_start = true;
        self.skip_lf = false;
        self.data.clear();
        self.event_type.clear();
        self.id_buffer.clone_from(&self.last_event_id);
        self.event_bytes = 0;
    }

    /// The id of the last event that ended, dispatched or not; `None` when there is none
    /// (never set, or reset with an empty `id` field). This is what a reconnecting client
    /// sends as `Last-Event-ID`.
    #[must_use]
    pub fn last_event_id(&self) -> Option<&str> {
        Some(self.last_event_id.as_str()).filter(|id| !id.is_empty())
    }

    /// The reconnection time from the last valid `retry` field, if any.
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    fn too_large(&mut self) -> SseDecodeError {
        let limit = self.max_event_size;
        self.reset();
        // Whatever follows on this connection is the rest of the oversized event.
        self.at_start = false;
        SseDecodeError { limit }
    }

    fn process_line(&mut self, line: &[u8]) {
        if line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            b"event" => self.event_type = String::from_utf8_lossy(value).into_owned(),
            b"id" if !value.contains(&0) => {
                self.id_buffer = String::from_utf8_lossy(value).into_owned();
            }
            // All digits, so only an overflow can fail to parse; such a value is ignored.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Some(ms) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        self.event_bytes = 0;
        self.last_event_id.clone_from(&self.id_buffer);
        let event_type = std::mem::take(&mut self.event_type);
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the `\n` after the last line
        if data.is_empty() {
            return None;
        }
        Some(SseEvent {
            event_type: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            id: self.last_event_id.clone(),
        })
    }
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SseDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseDecoder")
            .field("buffered", &self.buf.len())
            .field("last_event_id", &self.last_event_id)
            .field("retry", &self.retry)
            .field("max_event_size", &self.max_event_size)
            .finish_non_exhaustive()
    }
}

/// One dispatched event, as produced by [`SseDecoder::next_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    event_type: String,
    data: String,
    id: String,
}

impl SseEvent {
    /// The event type: the `event` field, or `message` when there was none.
    #[must_use]
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The data lines, joined with `\n`.
    #[must_use]
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The last event id when this event was dispatched (an event without an `id` field
    /// carries the previous one), or `None` if there is none.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        Some(self.id.as_str()).filter(|id| !id.is_empty())
    }

    /// Takes the data out of the event.
    #[must_use]
    pub fn into_data(self) -> String {
        self.data
    }
}

/// An event grew larger than [`SseDecoder::max_event_size`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseDecodeError {
    limit: usize,
}

impl SseDecodeError {
    /// The limit that was exceeded, in bytes.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl fmt::Display for SseDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sse event larger than the maximum of {} bytes",
            self.limit
        )
    }
}

impl std::error::Error for SseDecodeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(decoder: &mut SseDecoder) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(ev) = decoder.next_event().unwrap() {
            out.push(ev);
        }
        out
    }

    fn decode(input: &[u8]) -> (Vec<SseEvent>, SseDecoder) {
        let mut decoder = SseDecoder::new();
        decoder.push(input);
        let events = all(&mut decoder);
        (events, decoder)
    }

    fn ev(event_type: &str, data: &str, id: &str) -> SseEvent {
        SseEvent {
            event_type: event_type.into(),
            data: data.into(),
            id: id.into(),
        }
    }

    #[test]
    fn multi_byte_utf8_split_across_chunks() {
        let text = "data: h\u{e9}llo \u{1F600}\n\n".as_bytes();
        let emoji_at = text.len() - 4; // inside the four-byte emoji
        let mut decoder = SseDecoder::new();
        decoder.push(&text[..emoji_at]);
        assert_eq!(decoder.next_event().unwrap(), None);
        decoder.push(&text[emoji_at..emoji_at + 1]);
        assert_eq!(decoder.next_event().unwrap(), None);
        decoder.push(&text[emoji_at + 1..]);
        assert_eq!(
            all(&mut decoder),
            [ev("message", "h\u{e9}llo \u{1F600}", "")]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_an_error() {
        let (events, _) = decode(b"data: a\xFFb\n\n");
        assert_eq!(events, [ev("message", "a\u{FFFD}b", "")]);
    }

    #[test]
    fn cr_lf_and_crlf_line_ends() {
        let (events, _) = decode(b"data: a\rdata: b\ndata: c\r\n\rdata: d\n\r\n");
        assert_eq!(
            events,
            [ev("message", "a\nb\nc", ""), ev("message", "d", "")]
        );
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: a\r");
        assert_eq!(decoder.next_event().unwrap(), None);
        decoder.push(b"\ndata: b\r");
        assert_eq!(decoder.next_event().unwrap(), None);
        decoder.push(b"\n\r");
        assert_eq!(all(&mut decoder), [ev("message", "a\nb", "")]);
        decoder.push(b"\n");
        assert_eq!(decoder.next_event().unwrap(), None);
    }

    #[test]
    fn leading_bom_is_skipped_even_when_split() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"\xEF");
        assert_eq!(decoder.next_event().unwrap(), None);
        decoder.push(b"\xBB");
        assert_eq!(decoder.next_event().unwrap(), None);
        decoder.push(b"\xBFdata: x\n\n");
        assert_eq!(all(&mut decoder), [ev("message", "x", "")]);
        // Only at the start: a second BOM is part of the field name, which is then unknown.
        decoder.push(b"\xEF\xBB\xBFdata: y\n\ndata: z\n\n");
        assert_eq!(all(&mut decoder), [ev("message", "z", "")]);
    }

    #[test]
    fn comments_are_ignored() {
        let (events, _) = decode(b": hello\n:\ndata: x\n: inside\n\n:\n\n");
        assert_eq!(events, [ev("message", "x", "")]);
    }

    #[test]
    fn multi_line_data_event_type_and_field_forms() {
        let (events, _) =
            decode(b"event: ping\ndata:a\ndata:  two spaces\ndata\ndata: \n\nevent\ndata: x\n\n");
        assert_eq!(
            events,
            [ev("ping", "a\n two spaces\n\n", ""), ev("message", "x", "")]
        );
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let (events, decoder) = decode(b"id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n");
        assert_eq!(events, [ev("message", "a", "1"), ev("message", "b", "1")]);
        assert_eq!(decoder.last_event_id(), Some("1"));
    }

    #[test]
    fn id_persists_and_an_empty_id_clears_it() {
        let (events, decoder) = decode(b"id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n");
        assert_eq!(
            events,
            [
                ev("message", "a", "5"),
                ev("message", "b", "5"),
                ev("message", "c", "")
            ]
        );
        assert_eq!(decoder.last_event_id(), None);
        assert_eq!(events[2].id(), None);
    }

    #[test]
    fn retry_only_when_all_digits() {
        let cases: [(&[u8], Option<u64>); 7] = [
            (b"retry: 1500\n\n", Some(1500)),
            (b"retry:0\n\n", Some(0)),
            (b"retry: 15s\n\n", None),
            (b"retry: -5\n\n", None),
            (b"retry: 1.5\n\n", None),
            (b"retry:\n\n", None),
            (b"retry: 99999999999999999999999\n\n", None),
        ];
        for (input, want) in cases {
            let (_, decoder) = decode(input);
            assert_eq!(
                decoder.retry(),
                want.map(Duration::from_millis),
                "{input:?}"
            );
        }
        // A bad value leaves the previous one in place.
        let (_, decoder) = decode(b"retry: 10\n\nretry: x\n\n");
        assert_eq!(decoder.retry(), Some(Duration::from_millis(10)));
    }

    #[test]
    fn priming_event_is_not_dispatched_but_its_id_is_kept() {
        let (events, decoder) = decode(b"id: s1-0\nretry: 3000\ndata: \n\n");
        assert!(events.is_empty());
        assert_eq!(decoder.last_event_id(), Some("s1-0"));
        let (events, decoder) = decode(b"id: p\n\nevent: x\n\ndata: y\n\n");
        assert_eq!(events, [ev("message", "y", "p")], "event type reset too");
        assert_eq!(decoder.last_event_id(), Some("p"));
    }

    #[test]
    fn id_is_committed_only_when_the_event_ends() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"id: 1\ndata: a\n\nid: 2\ndata: cut off");
        assert_eq!(all(&mut decoder).len(), 1);
        assert_eq!(decoder.last_event_id(), Some("1"));
        // The connection broke; a new one starts clean but resumes from the committed id.
        decoder.reset();
        decoder.push(b"\n\ndata: b\n\n");
        assert_eq!(all(&mut decoder), [ev("message", "b", "1")]);
    }

    #[test]
    fn oversized_event_is_a_clear_error() {
        let mut decoder = SseDecoder::new().max_event_size(16);
        decoder.push(b"data: 0123456789abcdef");
        let err = decoder.next_event().unwrap_err();
        assert_eq!(err.limit(), 16);
        assert_eq!(
            err.to_string(),
            "sse event larger than the maximum of 16 bytes"
        );
        // Across several lines of one event as well.
        let mut decoder = SseDecoder::new().max_event_size(16);
        decoder.push(b"data: 12345\ndata: 12345\n");
        assert!(decoder.next_event().is_err());
        // Events within the limit, one after another, are fine.
        let mut decoder = SseDecoder::new().max_event_size(16);
        for _ in 0..100 {
            decoder.push(b"data: 123456\n\n");
            assert_eq!(all(&mut decoder), [ev("message", "123456", "")]);
        }
    }

    #[test]
    fn a_long_line_in_small_chunks_is_scanned_once() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: ");
        for _ in 0..10_000 {
            decoder.push(b"x");
            assert_eq!(decoder.next_event().unwrap(), None);
        }
        assert_eq!(decoder.scanned, decoder.buf.len());
        decoder.push(b"\n\n");
        assert_eq!(all(&mut decoder)[0].data().len(), 10_000);
    }

    // ===== property tests =====

    #[derive(Debug, Clone)]
    enum Line {
        Comment(String),
        Data(String),
        Event(String),
        Id(String),
        Retry(u32),
    }

    fn text() -> impl Strategy<Value = String> {
        // No line breaks: a value is one line. Includes multi-byte characters.
        proptest::string::string_regex("[a-z0-9 :\u{e9}\u{4e2d}\u{1F600}]{0,8}")
            .unwrap_or_else(|_| unreachable!())
    }

    fn line() -> impl Strategy<Value = Line> {
        prop_oneof![
            text().prop_map(Line::Comment),
            text().prop_map(Line::Data),
            "[a-z]{1,6}".prop_map(Line::Event),
            "[a-z0-9-]{0,6}".prop_map(Line::Id),
            any::<u32>().prop_map(Line::Retry),
        ]
    }

    /// A stream and the events and state a correct parser must produce from it.
    fn stream() -> impl Strategy<Value = (Vec<u8>, Vec<SseEvent>, String, Option<u64>)> {
        let block = proptest::collection::vec(line(), 0..5);
        (
            any::<bool>(),
            proptest::collection::vec((block, 0..3usize), 0..6),
        )
            .prop_map(|(bom, blocks)| {
                let mut bytes = Vec::new();
                if bom {
                    bytes.extend_from_slice(BOM);
                }
                let mut events = Vec::new();
                let mut last_id = String::new();
                let mut retry = None;
                for (i, (lines, eol)) in blocks.iter().enumerate() {
                    let eol: &[u8] = [&b"\n"[..], b"\r", b"\r\n"][(*eol + i) % 3];
                    let (mut data, mut event_type, mut id) = (None::<Vec<&str>>, None, None);
                    for line in lines {
                        match line {
                            Line::Comment(c) => bytes.extend_from_slice(format!(":{c}").as_bytes()),
                            Line::Data(d) => {
                                bytes.extend_from_slice(format!("data: {d}").as_bytes());
                                data.get_or_insert_with(Vec::new).push(d.as_str());
                            }
                            Line::Event(e) => {
                                bytes.extend_from_slice(format!("event:{e}").as_bytes());
                                event_type = Some(e.clone());
                            }
                            Line::Id(v) => {
                                bytes.extend_from_slice(format!("id: {v}").as_bytes());
                                id = Some(v.clone());
                            }
                            Line::Retry(ms) => {
                                bytes.extend_from_slice(format!("retry: {ms}").as_bytes());
                                retry = Some(u64::from(*ms));
                            }
                        }
                        bytes.extend_from_slice(eol);
                    }
                    bytes.extend_from_slice(eol);
                    if let Some(id) = id {
                        last_id = id;
                    }
                    // Not dispatched when the joined data is empty (no data line, or one
                    // empty line as in a priming event).
                    if let Some(data) = data.map(|d| d.join("\n")).filter(|d| !d.is_empty()) {
                        events.push(SseEvent {
                            event_type: event_type.unwrap_or_else(|| "message".into()),
                            data,
                            id: last_id.clone(),
                        });
                    }
                }
                (bytes, events, last_id, retry)
            })
    }

    fn check(
        decoder: &SseDecoder,
        got: &[SseEvent],
        want: &(Vec<u8>, Vec<SseEvent>, String, Option<u64>),
    ) {
        assert_eq!(got, &want.1[..]);
        assert_eq!(decoder.last_event_id().unwrap_or(""), want.2);
        assert_eq!(decoder.retry(), want.3.map(Duration::from_millis));
    }

    proptest! {
        #[test]
        fn same_events_whole_or_split_at_every_byte(s in stream()) {
            let (whole, decoder) = decode(&s.0);
            check(&decoder, &whole, &s);
            for at in 0..=s.0.len() {
                let mut decoder = SseDecoder::new();
                decoder.push(&s.0[..at]);
                let mut got = all(&mut decoder);
                decoder.push(&s.0[at..]);
                got.extend(all(&mut decoder));
                check(&decoder, &got, &s);
            }
        }

        #[test]
        fn same_events_one_byte_at_a_time(s in stream()) {
            let mut decoder = SseDecoder::new();
            let mut got = Vec::new();
            for b in &s.0 {
                decoder.push(std::slice::from_ref(b));
                got.extend(all(&mut decoder));
            }
            check(&decoder, &got, &s);
        }
    }
}
