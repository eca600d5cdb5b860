//! Host and Origin allowlists (the DNS-rebinding defence) and HTTP methods: SPEC.md §1.2 and
//! §6 rows 1, 2 and 5.

use http::header::{ALLOW, HOST, ORIGIN};
use http::{Method, Request, StatusCode};
use mcp_tower::{McpLayer, RejectionKind};

use crate::support::*;

fn initialize_with(header: http::HeaderName, value: &str) -> Request<Body> {
    let mut req = post(&init_request("2025-11-25"));
    req.headers_mut().insert(header, value.parse().unwrap());
    req
}

#[tokio::test]
async fn foreign_host_is_403_and_names_the_fixes() {
    let server = Server::example(McpLayer::new());
    let res = server.send(initialize_with(HOST, "evil.example.com")).await;
    let (_, message) = rejection(
        res,
        StatusCode::FORBIDDEN,
        RejectionKind::ForbiddenHost,
        -32000,
    )
    .await;
    assert!(message.contains("evil.example.com"), "{message}");
    assert!(message.contains("allowed_hosts"), "{message}");
    assert!(message.contains("allow_any_host"), "{message}");
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn foreign_host_is_refused_for_every_method() {
    let server = Server::example(McpLayer::new());
    for method in [Method::POST, Method::GET, Method::DELETE, Method::PUT] {
        let req = Request::builder()
            .method(method.clone())
            .uri("/mcp")
            .header(HOST, "evil.example.com:3000")
            .header("accept", ACCEPT_BOTH)
            .header("content-type", "application/json")
            .body(raw(init_request("2025-11-25").to_string()))
            .unwrap();
        let res = server.send(req).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method}");
        rejection(
            res,
            StatusCode::FORBIDDEN,
            RejectionKind::ForbiddenHost,
            -32000,
        )
        .await;
    }
}

#[tokio::test]
async fn lookalike_hosts_are_refused() {
    let server = Server::example(McpLayer::new());
    for host in [
        "localhost.evil.com",
        "localhost.evil.com:3000",
        "127.0.0.1.nip.io:3000",
        "0.0.0.0:3000",
    ] {
        let res = server.send(initialize_with(HOST, host)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{host}");
    }
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn loopback_hosts_are_allowed() {
    let server = Server::example(McpLayer::new());
    for host in [
        "localhost",
        "localhost:3000",
        "LocalHost:8080",
        "127.0.0.1",
        "127.0.0.1:54321",
        "[::1]",
        "[::1]:3000",
    ] {
        let res = server.send(initialize_with(HOST, host)).await;
        assert_eq!(res.status(), StatusCode::OK, "{host}");
        session_id(&res);
    }
    assert_eq!(server.sessions.len(), 7);
}

#[tokio::test]
async fn missing_host_passes() {
    let server = Server::example(McpLayer::new());
    let req = Request::post("/mcp")
        .header("accept", ACCEPT_BOTH)
        .header("content-type", "application/json")
        .body(raw(init_request("2025-11-25").to_string()))
        .unwrap();
    assert!(req.headers().get(HOST).is_none());
    let res = server.send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    session_id(&res);
}

#[tokio::test]
async fn the_authority_of_an_absolute_uri_is_checked() {
    let server = Server::example(McpLayer::new());
    // HTTP/2 `:authority` and HTTP/1.1 absolute-form both land in the URI.
    let mut req = post(&init_request("2025-11-25"));
    *req.uri_mut() = "http://evil.example.com/mcp".parse().unwrap();
    let res = server.send(req).await;
    rejection(
        res,
        StatusCode::FORBIDDEN,
        RejectionKind::ForbiddenHost,
        -32000,
    )
    .await;

    let mut req = post(&init_request("2025-11-25"));
    *req.uri_mut() = "http://127.0.0.1:3000/mcp".parse().unwrap();
    assert_eq!(server.send(req).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn allowed_hosts_replaces_the_loopback_default() {
    let server =
        Server::example(McpLayer::new().allowed_hosts(["mcp.example.com", "api.example.com:8443"]));
    for (host, status) in [
        ("mcp.example.com", StatusCode::OK),
        ("MCP.example.com:443", StatusCode::OK),
        ("api.example.com:8443", StatusCode::OK),
        ("api.example.com:443", StatusCode::FORBIDDEN),
        ("localhost:3000", StatusCode::FORBIDDEN),
        ("evil.example.com", StatusCode::FORBIDDEN),
    ] {
        let res = server.send(initialize_with(HOST, host)).await;
        assert_eq!(res.status(), status, "{host}");
    }
}

#[tokio::test]
async fn allow_any_host_turns_the_check_off() {
    let server = Server::example(McpLayer::new().allow_any_host());
    let res = server.send(initialize_with(HOST, "evil.example.com")).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn foreign_origin_is_403() {
    let server = Server::example(McpLayer::new());
    for origin in [
        "http://evil.example.com",
        "https://evil.example.com:3000",
        "http://localhost.evil.com:3000",
        "null",
        "file://localhost",
    ] {
        let res = server.send(initialize_with(ORIGIN, origin)).await;
        let (_, message) = rejection(
            res,
            StatusCode::FORBIDDEN,
            RejectionKind::ForbiddenOrigin,
            -32000,
        )
        .await;
        assert!(message.contains("allowed_origins"), "{message}");
    }
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn loopback_origins_are_allowed() {
    let server = Server::example(McpLayer::new());
    for origin in [
        "http://localhost:3000",
        "https://localhost",
        "http://127.0.0.1:3000",
        "http://[::1]:3000",
        "http://localhost:3000/",
    ] {
        let res = server.send(initialize_with(ORIGIN, origin)).await;
        assert_eq!(res.status(), StatusCode::OK, "{origin}");
    }
}

#[tokio::test]
async fn allowed_origins_replaces_the_loopback_default() {
    let server = Server::example(McpLayer::new().allowed_origins(["https://app.example.com"]));
    for (origin, status) in [
        ("https://app.example.com", StatusCode::OK),
        ("https://APP.example.com/", StatusCode::OK),
        ("http://app.example.com", StatusCode::FORBIDDEN),
        ("http://localhost:3000", StatusCode::FORBIDDEN),
    ] {
        let res = server.send(initialize_with(ORIGIN, origin)).await;
        assert_eq!(res.status(), status, "{origin}");
    }
    let server = Server::example(McpLayer::new().allow_any_origin());
    let res = server
        .send(initialize_with(ORIGIN, "https://anything.example"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let server = Server::example(McpLayer::new());
    for method in [Method::PUT, Method::PATCH, Method::OPTIONS] {
        let req = Request::builder()
            .method(method.clone())
            .uri("/mcp")
            .header(HOST, LOCAL_HOST)
            .header("content-type", "application/json")
            .body(raw(init_request("2025-11-25").to_string()))
            .unwrap();
        let (headers, message) = rejection(
            server.send(req).await,
            StatusCode::METHOD_NOT_ALLOWED,
            RejectionKind::MethodNotAllowed,
            -32000,
        )
        .await;
        assert_eq!(headers[ALLOW], "GET, POST, DELETE", "{method}");
        assert!(message.contains(method.as_str()), "{message}");
    }
    assert!(server.sessions.is_empty());
}
