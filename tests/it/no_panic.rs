//! Whatever arrives on the wire, the transport answers with a status and never panics or
//! hangs: arbitrary bodies, and arbitrary values in every header it reads.

use http::Request;
use proptest::prelude::*;

use crate::support::{Body, Server, ACCEPT_BOTH, LOCAL_HOST};
use mcp_tower::McpLayer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Sends `req` and checks the answer is a status the specification names, within a second.
fn answer(server: &Server, req: Request<Body>) -> u16 {
    runtime().block_on(async {
        let res = tokio::time::timeout(std::time::Duration::from_secs(1), server.send(req))
            .await
            .expect("the transport answered in time");
        res.status().as_u16()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_post_bodies_get_a_status(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let server = Server::example(McpLayer::new());
        let req = Request::post("/mcp")
            .header("host", LOCAL_HOST)
            .header("accept", ACCEPT_BOTH)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let status = answer(&server, req);
        prop_assert!([200, 202, 400, 404].contains(&status), "status {status}");
    }

    #[test]
    fn arbitrary_json_rpc_shapes_get_a_status(
        id in prop_oneof![Just("1".to_owned()), Just("null".to_owned()), Just("\"x\"".to_owned()), Just("1.5".to_owned()), Just("[]".to_owned())],
        method in prop_oneof![Just("\"initialize\"".to_owned()), Just("\"ping\"".to_owned()), Just("7".to_owned()), "\"[a-z/]{0,12}\""],
        params in prop_oneof![Just("{}".to_owned()), Just("[]".to_owned()), Just("3".to_owned()), Just("{\"protocolVersion\":5}".to_owned())],
    ) {
        let server = Server::example(McpLayer::new());
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":{method},"params":{params}}}"#);
        let req = Request::post("/mcp")
            .header("host", LOCAL_HOST)
            .header("accept", ACCEPT_BOTH)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let status = answer(&server, req);
        prop_assert!([200, 400].contains(&status), "status {status}");
    }

    #[test]
    fn arbitrary_header_values_get_a_status(
        value in proptest::collection::vec(0x20u8..0x7f, 0..64),
        which in 0usize..6,
        method in prop_oneof![Just("GET"), Just("POST"), Just("DELETE")],
    ) {
        let server = Server::example(McpLayer::new());
        let value = String::from_utf8(value).unwrap();
        let name = ["host", "origin", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id"][which];
        let mut builder = Request::builder().method(method).uri("/mcp");
        for (n, v) in [("host", LOCAL_HOST), ("accept", ACCEPT_BOTH), ("content-type", "application/json")] {
            if n != name {
                builder = builder.header(n, v);
            }
        }
        let Ok(req) = builder
            .header(name, value.as_str())
            .body(Body::from(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#))
        else {
            return Ok(()); // not a valid header value for http: nothing to send
        };
        let status = answer(&server, req);
        prop_assert!([200, 400, 403, 404, 406].contains(&status), "{name}: {value:?} -> {status}");
    }
}
