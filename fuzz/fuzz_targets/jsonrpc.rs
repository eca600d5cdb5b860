//! JSON-RPC parsing and classification of a POST body, as the transport does it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    // Either a classified payload or a parse failure, never a panic; formatting walks it all.
    let parsed = mcp_tower::__bench::parse_payload(body);
    let _ = format!("{parsed:?}");
});
