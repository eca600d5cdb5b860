//! CORS for browser clients (feature `cors`): preflights, exposed headers, CORS headers on
//! rejections, and the CORS layer and the Origin check agreeing on every origin.
#![cfg(feature = "cors")]

use std::convert::Infallible;

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    ORIGIN,
};
use http::{HeaderMap, Request, Response, StatusCode};
use mcp_tower::{code, McpBody, McpLayer, RejectionKind};
use tower::util::BoxCloneSyncService;
use tower::ServiceBuilder;

use crate::example;
use crate::support::*;

const APP: &str = "https://app.example.com";

type Svc = BoxCloneSyncService<Request<Body>, Response<McpBody>, Infallible>;

/// The example handler behind `mcp`, with `mcp.cors()` (and these param headers) outside it.
fn stack(mcp: McpLayer, params: &[&str]) -> Svc {
    let cors = mcp.cors().param_headers(params.iter().copied());
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(cors)
            .layer(mcp)
            .service_fn(example::handle),
    )
}

fn preflight(origin: &str, method: &str, headers: &str) -> Request<Body> {
    Request::options("/mcp")
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .body(raw(""))
        .unwrap()
}

fn from(origin: &str, mut req: Request<Body>) -> Request<Body> {
    req.headers_mut().insert(ORIGIN, origin.parse().unwrap());
    req
}

/// The comma-separated names of a header, lower-cased.
fn names(headers: &HeaderMap, name: http::header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

#[tokio::test]
async fn a_preflight_is_answered_with_every_mcp_header() {
    let svc = stack(McpLayer::new().allowed_origins([APP]), &["Region"]);
    let requested = "content-type, mcp-session-id, mcp-protocol-version, last-event-id, \
                     mcp-method, mcp-name, authorization, accept, mcp-param-region";
    let res = call(&svc, preflight(APP, "POST", requested)).await;
    // Answered by the CORS layer: the transport would have said 405 to an OPTIONS.
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    let methods = names(res.headers(), ACCESS_CONTROL_ALLOW_METHODS);
    for m in ["get", "post", "delete"] {
        assert!(methods.contains(&m.to_owned()), "{m} not in {methods:?}");
    }
    let allowed = names(res.headers(), ACCESS_CONTROL_ALLOW_HEADERS);
    for h in requested.split(", ") {
        assert!(allowed.contains(&h.to_owned()), "{h} not in {allowed:?}");
    }
}

#[tokio::test]
async fn param_headers_are_allowed_only_when_named() {
    let svc = stack(McpLayer::new().allowed_origins([APP]), &[]);
    let res = call(&svc, preflight(APP, "POST", "mcp-param-region")).await;
    let allowed = names(res.headers(), ACCESS_CONTROL_ALLOW_HEADERS);
    assert!(
        !allowed.contains(&"mcp-param-region".to_owned()),
        "{allowed:?}"
    );
}

#[tokio::test]
async fn a_preflight_from_another_origin_gets_no_allowance() {
    let svc = stack(McpLayer::new().allowed_origins([APP]), &[]);
    let res = call(
        &svc,
        preflight("https://evil.example", "POST", "content-type"),
    )
    .await;
    assert!(!res.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn a_reply_exposes_the_session_id_and_version() {
    let svc = stack(McpLayer::new().allowed_origins([APP]), &[]);
    let res = call(&svc, from(APP, post(&init_request(V_NEW)))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    let exposed = names(res.headers(), ACCESS_CONTROL_EXPOSE_HEADERS);
    for h in [
        "mcp-session-id",
        "mcp-protocol-version",
        "www-authenticate",
        "retry-after",
    ] {
        assert!(exposed.contains(&h.to_owned()), "{h} not in {exposed:?}");
    }
    assert!(res.headers().contains_key("mcp-session-id"));
}

#[tokio::test]
async fn a_rejection_carries_the_cors_headers_too() {
    let svc = stack(McpLayer::new().allowed_origins([APP]), &[]);
    // No session: 400, and the page must be able to read why.
    let res = call(
        &svc,
        from(APP, post(&request(1, "tools/list", serde_json::json!({})))),
    )
    .await;
    assert_eq!(res.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert!(names(res.headers(), ACCESS_CONTROL_EXPOSE_HEADERS).contains(&"mcp-session-id".into()));
    rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::SessionRequired,
        code::TRANSPORT_ERROR,
    )
    .await;
    // An unknown session: 404.
    let res = call(&svc, from(APP, post_in("no-such-session", &echo(2, "x")))).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], APP);
}

#[tokio::test]
async fn an_origin_the_layer_refuses_is_refused_by_both() {
    let svc = stack(McpLayer::new().allowed_origins([APP]), &[]);
    let res = call(
        &svc,
        from("https://evil.example", post(&init_request(V_NEW))),
    )
    .await;
    assert!(!res.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    rejection(
        res,
        StatusCode::FORBIDDEN,
        RejectionKind::ForbiddenOrigin,
        code::TRANSPORT_ERROR,
    )
    .await;
}

#[tokio::test]
async fn allow_any_origin_is_a_wildcard() {
    let svc = stack(McpLayer::new().allow_any_origin(), &[]);
    let res = call(
        &svc,
        from("https://anywhere.example", post(&init_request(V_NEW))),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

/// The point of deriving CORS from the layer: for every origin, the CORS layer allows it
/// exactly when the Origin check serves it. Checked for the loopback default, a list (with the
/// list's case and trailing-slash rules), and the free function given the same list.
#[tokio::test]
async fn cors_and_the_origin_check_agree_on_every_origin() {
    let origins = [
        "http://localhost:5173",
        "https://127.0.0.1",
        "http://[::1]:8080",
        "http://localhost.evil.example",
        "file://localhost",
        "null",
        "https://app.example.com",
        "https://APP.example.com/",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://evil.example",
    ];
    let listed = McpLayer::new().allowed_origins(["https://App.Example.com/"]);
    let stacks = [
        ("loopback default", stack(McpLayer::new(), &[])),
        ("list", stack(listed.clone(), &[])),
        (
            "cors(list)",
            BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .layer(mcp_tower::cors(["https://App.Example.com/"]))
                    .layer(listed)
                    .service_fn(example::handle),
            ),
        ),
    ];
    let mut served_somewhere = 0;
    for (name, svc) in &stacks {
        for origin in origins {
            let res = call(svc, from(origin, post(&init_request(V_NEW)))).await;
            let served = res.status() == StatusCode::OK;
            let readable = res.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN);
            assert_eq!(served, readable, "{name}: {origin} served={served}");
            let pre = call(svc, preflight(origin, "POST", "content-type")).await;
            let pre_ok = pre.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN);
            assert_eq!(served, pre_ok, "{name}: preflight of {origin}");
            served_somewhere += usize::from(served);
        }
    }
    // loopback: 3 origins; each list: the two spellings of https://app.example.com.
    assert_eq!(served_somewhere, 3 + 2 + 2);
}
