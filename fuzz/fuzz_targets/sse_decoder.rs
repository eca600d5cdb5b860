//! The incremental SSE decoder, fed arbitrary bytes in arbitrary chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_tower::sse::SseDecoder;

fuzz_target!(|input: &[u8]| {
    // The first byte picks the chunk size, so every split of the stream gets tried.
    let Some((&chunk, stream)) = input.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = SseDecoder::new().max_event_size(64 * 1024);
    let mut dispatched_bytes = 0usize;
    for part in stream.chunks(chunk) {
        decoder.push(part);
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => dispatched_bytes += event.data().len(),
                Ok(None) => break,
                // Over the size limit: the decoder says so and is reset by its owner.
                Err(_) => {
                    decoder.reset();
                    break;
                }
            }
        }
    }
    // What comes out is never more than what went in, once each invalid byte has become a
    // replacement character (three bytes of UTF-8).
    assert!(dispatched_bytes <= 3 * stream.len());
    let _ = (decoder.last_event_id(), decoder.retry());
});
