//! Whatever a handler puts in an event, it cannot break SSE framing: line breaks in data become
//! `data:` lines, and ids and event names with line breaks are refused. What `SseBody` writes,
//! `SseDecoder` reads back as the same events.

use std::time::Duration;

use http_body_util::BodyExt;
use mcp_tower::sse::{channel, Event, SseDecoder};
use proptest::prelude::*;

/// Text with every character SSE framing cares about, often.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\n".to_owned()),
            Just("\r".to_owned()),
            Just("\r\n".to_owned()),
            Just(":".to_owned()),
            Just(" ".to_owned()),
            Just("data: x".to_owned()),
            Just("\0".to_owned()),
            any::<char>().prop_map(String::from),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

/// What a reader sees of `data`: its lines joined with LF, whatever line breaks were written.
fn normalized(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

#[derive(Debug, Clone)]
struct Sent {
    id: String,
    name: String,
    data: String,
}

fn written_and_read_back(events: &[Sent]) -> Vec<(Option<String>, String, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (tx, body) = channel(events.len() + 1);
        for sent in events {
            let event = Event::new()
                .id(&sent.id)
                .and_then(|e| e.event(&sent.name))
                .expect("the strategy only makes ids and names without line breaks")
                .data(&sent.data)
                .finish();
            tx.try_send(event).expect("the channel has room");
        }
        drop(tx);
        let bytes = tokio::time::timeout(Duration::from_secs(1), body.collect())
            .await
            .expect("the body ends once its sender is gone")
            .expect("an SSE body never fails")
            .to_bytes();
        let mut decoder = SseDecoder::new();
        decoder.push(&bytes);
        let mut out = Vec::new();
        while let Some(event) = decoder.next_event().expect("within the size limit") {
            out.push((
                event.id().map(str::to_owned),
                event.event_type().to_owned(),
                event.data().to_owned(),
            ));
        }
        out
    })
}

/// An id or event name: anything but a line break or NUL (a leading BOM would be eaten as the
/// stream's byte-order mark only at the very start, so it is left out too).
fn field() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[^\r\n\x00\u{feff}]{0,12}").expect("a valid regex")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn what_sse_body_writes_the_decoder_reads_back(
        events in proptest::collection::vec(
            (field(), field(), text()).prop_map(|(id, name, data)| Sent { id, name, data }),
            1..6,
        ),
    ) {
        let read = written_and_read_back(&events);
        // An event whose data is one empty line is not dispatched: the decoder keeps MCP's
        // priming events from reaching handlers (see `SseDecoder`).
        let dispatched: Vec<&Sent> = events.iter().filter(|e| !e.data.is_empty()).collect();
        prop_assert_eq!(read.len(), dispatched.len(), "one event read per event written: {:?}", read);
        for (sent, (id, name, data)) in dispatched.into_iter().zip(read) {
            prop_assert_eq!(id.unwrap_or_default(), sent.id.clone());
            let expected_name = if sent.name.is_empty() { "message" } else { sent.name.as_str() };
            prop_assert_eq!(name, expected_name);
            prop_assert_eq!(data, normalized(&sent.data));
        }
    }

    #[test]
    fn ids_and_names_with_line_breaks_are_refused(text in text()) {
        let breaks = text.contains(['\r', '\n']);
        prop_assert_eq!(Event::new().event(&text).is_err(), breaks);
        prop_assert_eq!(Event::new().id(&text).is_err(), breaks || text.contains('\0'));
    }
}
