//! `MCP-Protocol-Version` and version negotiation: SPEC.md §1.8, §2.5 and §6 rows 20 and 21,
//! plus a 2026-era probe against this session-era server.

use http::{Request, StatusCode};
use mcp_tower::{McpLayer, ProtocolVersion, Rejection, RejectionKind};
use serde_json::json;

use crate::support::*;

// A date after 2026-07-28 is answered by the stateless era instead: see
// `a_future_dated_version_is_answered_as_the_stateless_era`.
const UNSUPPORTED: [&str; 5] = [
    "2026-07-2x",
    "invalid-protocol-version",
    "2000-01-01",
    "2025-11-25 ",
    "",
];

fn with_version(mut req: Request<Body>, version: &str) -> Request<Body> {
    req.headers_mut()
        .insert("mcp-protocol-version", version.parse().unwrap());
    req
}

#[tokio::test]
async fn unsupported_version_header_is_400_before_initialize() {
    let server = Server::example(McpLayer::new());
    for version in UNSUPPORTED {
        let req = with_version(post(&init_request("2025-11-25")), version);
        let (_, message) = rejection(
            server.send(req).await,
            StatusCode::BAD_REQUEST,
            RejectionKind::UnsupportedProtocolVersion,
            -32000,
        )
        .await;
        assert!(
            message.contains("2025-06-18"),
            "lists the supported ones: {message}"
        );
    }
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn unsupported_version_header_is_400_after_initialize() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    for version in UNSUPPORTED {
        for req in [
            post_in(&id, &echo(1, "x")),
            post_in(&id, &notification("notifications/initialized")),
            get_stream(&id),
            delete(&id),
        ] {
            rejection(
                server.send(with_version(req, version)).await,
                StatusCode::BAD_REQUEST,
                RejectionKind::UnsupportedProtocolVersion,
                -32000,
            )
            .await;
        }
    }
    // None of that ended the session.
    assert_eq!(server.sessions.len(), 1);
}

#[tokio::test]
async fn repeated_version_headers_are_400() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let mut req = with_version(post_in(&id, &echo(1, "x")), "2025-11-25");
    req.headers_mut()
        .append("mcp-protocol-version", "2025-11-25".parse().unwrap());
    rejection(
        server.send(req).await,
        StatusCode::BAD_REQUEST,
        RejectionKind::UnsupportedProtocolVersion,
        -32000,
    )
    .await;
}

#[tokio::test]
async fn supported_or_absent_version_header_is_accepted() {
    let server = Server::example(McpLayer::new());
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        // On initialize the header is tolerated.
        let res = server
            .send(with_version(post(&init_request(version)), version))
            .await;
        let id = session_id(&res);
        let reply = json_reply(res).await;
        assert_eq!(reply["result"]["protocolVersion"], version);
        let with = with_version(post_in(&id, &echo(1, "with")), version);
        let reply = json_reply(server.send(with).await).await;
        assert_eq!(tool_text(&reply), "with");
        let reply = json_reply(server.send(post_in(&id, &echo(2, "without"))).await).await;
        assert_eq!(tool_text(&reply), "without");
    }
}

#[tokio::test]
async fn a_supported_version_is_echoed() {
    let server = Server::example(McpLayer::new());
    for (asked, version) in [
        ("2025-06-18", ProtocolVersion::V2025_06_18),
        ("2025-03-26", ProtocolVersion::V2025_03_26),
        ("2024-11-05", ProtocolVersion::V2024_11_05),
    ] {
        let res = server.send(post(&init_request(asked))).await;
        let id = session_id(&res);
        assert_eq!(json_reply(res).await["result"]["protocolVersion"], asked);
        assert_eq!(negotiated(&server, &id), Some(version));
        // The session remembers it: no header needed afterwards.
        let reply = json_reply(server.send(post_in(&id, &echo(1, asked))).await).await;
        assert_eq!(tool_text(&reply), asked);
    }
}

#[tokio::test]
async fn an_unsupported_version_gets_the_servers_latest() {
    let server = Server::example(McpLayer::new());
    for asked in ["2099-01-01", "1.0", "2026-07-28"] {
        let res = server.send(post(&init_request(asked))).await;
        let id = session_id(&res);
        let reply = json_reply(res).await;
        assert!(
            reply.get("error").is_none(),
            "negotiation is not an error: {reply}"
        );
        assert_eq!(reply["result"]["protocolVersion"], "2025-11-25");
        assert_eq!(
            negotiated(&server, &id),
            Some(ProtocolVersion::LATEST_SESSION)
        );
        let reply = json_reply(server.send(post_in(&id, &echo(1, "ok"))).await).await;
        assert_eq!(tool_text(&reply), "ok");
    }
    // A missing or malformed protocolVersion is treated the same way.
    let mut init = init_request("x");
    init["params"]["protocolVersion"] = json!(20251125);
    let reply = json_reply(server.send(post(&init)).await).await;
    assert_eq!(reply["result"]["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn protocol_versions_limits_what_is_served() {
    let server = Server::example(
        McpLayer::new()
            .protocol_versions([ProtocolVersion::V2025_06_18, ProtocolVersion::V2025_03_26]),
    );
    // Asked for a revision the crate knows but this server does not serve: its latest.
    let res = server.send(post(&init_request("2025-11-25"))).await;
    let id = session_id(&res);
    assert_eq!(
        json_reply(res).await["result"]["protocolVersion"],
        "2025-06-18"
    );
    assert_eq!(negotiated(&server, &id), Some(ProtocolVersion::V2025_06_18));
    let res = server
        .send(with_version(post_in(&id, &echo(1, "x")), "2025-11-25"))
        .await;
    rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::UnsupportedProtocolVersion,
        -32000,
    )
    .await;
    let res = server.send(post(&init_request("2025-03-26"))).await;
    assert_eq!(
        json_reply(res).await["result"]["protocolVersion"],
        "2025-03-26"
    );
}

#[tokio::test]
async fn the_handler_sees_the_negotiated_version() {
    let server = Server::with_handler(
        McpLayer::new(),
        tower::service_fn(|req: mcp_tower::McpRequest| async move {
            if req.method() == "initialize" {
                return crate::example::handle(req).await;
            }
            Ok::<_, std::convert::Infallible>(mcp_tower::McpResponse::result(
                json!({ "version": req.protocol_version().as_str() }),
            ))
        }),
    );
    let id = server.open_session("2025-06-18").await;
    let reply = json_reply(server.send(post_in(&id, &request(1, "v", json!({})))).await).await;
    assert_eq!(reply["result"]["version"], "2025-06-18");
}

#[tokio::test]
async fn a_2026_era_probe_is_served_by_the_stateless_era() {
    // A handler that does not implement `server/discover`: its -32601 becomes a 404 with a
    // JSON-RPC body echoing the id, which both official auto-mode clients take as "fall back
    // to initialize". (`tests/it/modern.rs` covers the era itself.)
    let server = Server::with_handler(
        McpLayer::new(),
        tower::service_fn(|req: mcp_tower::McpRequest| async move {
            if req.method() == "server/discover" {
                return Ok(mcp_tower::McpResponse::method_not_found(req.method()));
            }
            crate::example::handle(req).await
        }),
    );
    let discover = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "server/discover",
        "params": { "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        } },
    });
    let req = post_builder()
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .body(raw(discover.to_string()))
        .unwrap();
    let res = server.send(req).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body = json_body(res).await;
    assert_eq!(body["id"], 1, "{body}");
    assert_eq!(body["error"]["code"], -32601, "{body}");
    assert!(server.sessions.is_empty());

    // The same probe without the version header still speaks 2026 by its `_meta`: the missing
    // header is a mismatch (-32020), not a request for a session.
    let req = post_builder()
        .header("mcp-method", "server/discover")
        .body(raw(discover.to_string()))
        .unwrap();
    let res = server.send(req).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let why = res.extensions().get::<Rejection>().cloned().unwrap();
    assert_eq!(why.kind(), RejectionKind::HeaderMismatch);
    let body = json_body(res).await;
    assert_eq!(body["id"], 1, "{body}");
    assert_eq!(body["error"]["code"], -32020, "{body}");
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn a_future_dated_version_is_answered_as_the_stateless_era() {
    // A POST naming a date after 2026-07-28 comes from a newer client: it learns the versions
    // served (-32022), with its request id.
    let server = Server::example(McpLayer::new());
    let res = server
        .send(with_version(post(&echo(3, "x")), "2099-01-01"))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = json_body(res).await;
    assert_eq!(body["id"], 3, "{body}");
    assert_eq!(body["error"]["code"], -32022, "{body}");
    assert_eq!(body["error"]["data"]["requested"], "2099-01-01", "{body}");
    assert!(body["error"]["data"]["supported"]
        .as_array()
        .unwrap()
        .contains(&json!("2025-06-18")));
}
