//! The 2026-07-28 (stateless) era on the same endpoint as the session era: SPEC.md §3, §0 and
//! §6 rows 30–34. Each request names its era in `MCP-Protocol-Version` or `_meta`, is validated
//! against its own headers, and leaves nothing behind.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use mcp_tower::{
    code, ErrorObject, LogLevel, McpBody, McpLayer, McpRequest, McpResponse, ProtocolVersion,
    Rejection, RejectionKind,
};
use serde_json::{json, Value};

use crate::support::*;

const V26: &str = "2026-07-28";

/// `params` with the `_meta` every 2026 request carries.
fn with_meta(mut params: Value) -> Value {
    let meta = params
        .as_object_mut()
        .unwrap()
        .entry("_meta")
        .or_insert_with(|| json!({}));
    meta["io.modelcontextprotocol/protocolVersion"] = json!(V26);
    meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
    meta["io.modelcontextprotocol/clientInfo"] = json!({ "name": "t", "version": "1" });
    params
}

/// A 2026 request: `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` where the method needs it,
/// and the `_meta` fields.
fn modern(id: i64, method: &str, params: Value) -> Request<Body> {
    let params = with_meta(params);
    let mut b = post_builder()
        .header("mcp-protocol-version", V26)
        .header("mcp-method", method);
    if let Some(name) = params.get("name").or_else(|| params.get("uri")) {
        b = b.header("mcp-name", name.as_str().unwrap());
    }
    b.body(raw(request(id, method, params).to_string()))
        .unwrap()
}

/// A request with exactly these headers (besides Host, Accept and Content-Type) and body.
fn custom(headers: &[(&str, &str)], body: &Value) -> Request<Body> {
    let mut b = post_builder();
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.body(raw(body.to_string())).unwrap()
}

fn echo_params(text: &str) -> Value {
    json!({ "name": "echo", "arguments": { "text": text } })
}

/// Checks a 2026 rejection: status, JSON-RPC body echoing `id`, the code, and the
/// [`Rejection`] in the extensions. Returns the error object.
async fn refused(
    res: http::Response<McpBody>,
    status: StatusCode,
    kind: RejectionKind,
    id: Value,
) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
    assert!(res.headers().get("mcp-session-id").is_none());
    let why = res.extensions().get::<Rejection>().cloned().unwrap();
    assert_eq!(why.kind(), kind);
    let body = json_body(res).await;
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], id, "the request id is echoed: {body}");
    assert_eq!(body["error"]["code"], kind.code(), "{body}");
    assert_eq!(body["error"]["message"], why.message());
    body["error"].clone()
}

#[tokio::test]
async fn a_2026_request_is_served_without_a_session() {
    let server = Server::example(McpLayer::new());
    let res = server
        .send(modern(1, "tools/call", echo_params("hi")))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("mcp-session-id").is_none());
    let reply = json_reply(res).await;
    assert_eq!(tool_text(&reply), "hi");
    assert_eq!(reply["result"]["resultType"], "complete");
    assert!(server.sessions.is_empty(), "nothing outlives the request");
}

#[tokio::test]
async fn initialize_still_selects_the_session_era_and_never_negotiates_2026() {
    let server = Server::example(McpLayer::new());
    let res = server.send(post(&init_request(V26))).await;
    let id = session_id(&res);
    let reply = json_reply(res).await;
    assert_eq!(
        reply["result"]["protocolVersion"],
        ProtocolVersion::LATEST_SESSION.as_str()
    );
    assert_eq!(negotiated(&server, &id), Some(ProtocolVersion::V2025_11_25));
}

#[tokio::test]
async fn the_era_can_come_from_meta_alone() {
    let server = Server::example(McpLayer::new());
    // No version header: the body's `_meta` speaks 2026, so the missing header is a mismatch.
    let body = request(7, "tools/call", with_meta(echo_params("x")));
    let res = server
        .send(custom(
            &[("mcp-method", "tools/call"), ("mcp-name", "echo")],
            &body,
        ))
        .await;
    refused(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::HeaderMismatch,
        json!(7),
    )
    .await;
    // Same on a server without sessions.
    let server = Server::example(McpLayer::new().stateless(true));
    let res = server
        .send(custom(
            &[("mcp-method", "tools/call"), ("mcp-name", "echo")],
            &body,
        ))
        .await;
    refused(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::HeaderMismatch,
        json!(7),
    )
    .await;
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn session_id_and_last_event_id_are_ignored() {
    let server = Server::example(McpLayer::new());
    let mut req = modern(2, "tools/call", echo_params("ignored"));
    req.headers_mut()
        .insert("mcp-session-id", "no-such-session".parse().unwrap());
    req.headers_mut()
        .insert("last-event-id", "0/0".parse().unwrap());
    let res = server.send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("mcp-session-id").is_none());
    assert_eq!(tool_text(&json_reply(res).await), "ignored");
    // A live session's id does not pull the request into that session either.
    let sid = server.open_session(V_NEW).await;
    let mut req = modern(3, "tools/call", echo_params("still stateless"));
    req.headers_mut()
        .insert("mcp-session-id", sid.parse().unwrap());
    let res = server.send(req).await;
    assert!(res.headers().get("mcp-session-id").is_none());
    assert_eq!(tool_text(&json_reply(res).await), "still stateless");
}

#[tokio::test]
async fn version_errors_carry_their_own_codes() {
    let server = Server::example(McpLayer::new());
    // Header and `_meta` both name an unknown version: -32022 with the lists.
    let mut params = with_meta(json!({}));
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("v999.0.0");
    let body = request(4, "tools/list", params.clone());
    let res = server
        .send(custom(
            &[
                ("mcp-protocol-version", "v999.0.0"),
                ("mcp-method", "tools/list"),
            ],
            &body,
        ))
        .await;
    let error = refused(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::UnsupportedRequestVersion,
        json!(4),
    )
    .await;
    assert_eq!(error["code"], code::UNSUPPORTED_PROTOCOL_VERSION);
    assert_eq!(error["data"]["requested"], "v999.0.0");
    let supported = error["data"]["supported"].as_array().unwrap();
    assert!(supported.contains(&json!(V26)), "{error}");
    // Header 2026, `_meta` v999: a mismatch, not an unsupported version.
    let res = server
        .send(custom(
            &[("mcp-protocol-version", V26), ("mcp-method", "tools/list")],
            &body,
        ))
        .await;
    let error = refused(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::HeaderMismatch,
        json!(4),
    )
    .await;
    assert_eq!(error["code"], code::HEADER_MISMATCH);
}

#[tokio::test]
async fn missing_meta_fields_are_invalid_params() {
    let server = Server::example(McpLayer::new());
    let headers = [("mcp-protocol-version", V26), ("mcp-method", "tools/list")];
    let no_meta = request(5, "tools/list", json!({}));
    let mut no_version = request(5, "tools/list", with_meta(json!({})));
    no_version["params"]["_meta"]
        .as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/protocolVersion");
    let mut no_caps = request(5, "tools/list", with_meta(json!({})));
    no_caps["params"]["_meta"]
        .as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/clientCapabilities");
    for body in [no_meta, no_version, no_caps] {
        let res = server.send(custom(&headers, &body)).await;
        let error = refused(
            res,
            StatusCode::BAD_REQUEST,
            RejectionKind::InvalidRequestMeta,
            json!(5),
        )
        .await;
        assert_eq!(error["code"], code::INVALID_PARAMS);
    }
    // clientInfo is only a SHOULD.
    let mut no_info = request(6, "tools/list", with_meta(json!({})));
    no_info["params"]["_meta"]
        .as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/clientInfo");
    let reply = json_reply(server.send(custom(&headers, &no_info)).await).await;
    assert!(reply["result"]["tools"].is_array(), "{reply}");
}

#[tokio::test]
async fn method_and_name_headers_must_match_the_body() {
    let server = Server::example(McpLayer::new());
    let body = request(8, "tools/call", with_meta(echo_params("x")));
    let cases: [&[(&str, &str)]; 6] = [
        &[("mcp-protocol-version", V26), ("mcp-name", "echo")],
        &[
            ("mcp-protocol-version", V26),
            ("mcp-method", "tools/list"),
            ("mcp-name", "echo"),
        ],
        &[
            ("mcp-protocol-version", V26),
            ("mcp-method", "TOOLS/CALL"),
            ("mcp-name", "echo"),
        ],
        &[("mcp-protocol-version", V26), ("mcp-method", "tools/call")],
        &[
            ("mcp-protocol-version", V26),
            ("mcp-method", "tools/call"),
            ("mcp-name", "add"),
        ],
        &[
            ("mcp-protocol-version", V26),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?ZWNo?="),
        ],
    ];
    for headers in cases {
        let res = server.send(custom(headers, &body)).await;
        refused(
            res,
            StatusCode::BAD_REQUEST,
            RejectionKind::HeaderMismatch,
            json!(8),
        )
        .await;
    }
    // Names compare case-insensitively, surrounding whitespace is ignored, and the base64 form
    // is decoded.
    for name in [" echo ", "=?base64?ZWNobw==?="] {
        let res = server
            .send(custom(
                &[
                    ("MCP-PROTOCOL-VERSION", V26),
                    ("Mcp-Method", "tools/call"),
                    ("MCP-NAME", name),
                ],
                &body,
            ))
            .await;
        assert_eq!(tool_text(&json_reply(res).await), "x", "{name}");
    }
}

/// The tasks extension's routing header: `Mcp-Name` on `tasks/get`, `tasks/update` and
/// `tasks/cancel` must equal `params.taskId`, so that a balancer can route by it.
#[tokio::test]
async fn the_name_header_of_a_tasks_method_must_equal_the_task_id() {
    let server = Server::with_handler(
        McpLayer::new(),
        handler(|req: McpRequest| async move {
            McpResponse::result(json!({ "seen": req.params().unwrap()["taskId"] }))
        }),
    );
    for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
        let body = request(3, method, with_meta(json!({ "taskId": "t-1" })));
        let wrong: [&[(&str, &str)]; 2] = [
            &[("mcp-protocol-version", V26), ("mcp-method", method)],
            &[
                ("mcp-protocol-version", V26),
                ("mcp-method", method),
                ("mcp-name", "t-2"),
            ],
        ];
        for headers in wrong {
            let res = server.send(custom(headers, &body)).await;
            refused(
                res,
                StatusCode::BAD_REQUEST,
                RejectionKind::HeaderMismatch,
                json!(3),
            )
            .await;
        }
        let res = server
            .send(custom(
                &[
                    ("mcp-protocol-version", V26),
                    ("mcp-method", method),
                    ("mcp-name", " t-1 "),
                ],
                &body,
            ))
            .await;
        assert_eq!(json_reply(res).await["result"]["seen"], "t-1", "{method}");
    }
}

#[tokio::test]
async fn removed_and_unknown_methods_are_404() {
    let server = Server::example(McpLayer::new());
    for method in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ] {
        let res = server.send(modern(9, method, json!({}))).await;
        let error = refused(
            res,
            StatusCode::NOT_FOUND,
            RejectionKind::RemovedMethod,
            json!(9),
        )
        .await;
        assert_eq!(error["code"], code::METHOD_NOT_FOUND);
    }
    // A method the handler does not know: its -32601 becomes a 404 too.
    let res = server.send(modern(10, "no/such/method", json!({}))).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let reply = json_body(res).await;
    assert_eq!(reply["id"], 10);
    assert_eq!(reply["error"]["code"], code::METHOD_NOT_FOUND);
}

#[tokio::test]
async fn handler_errors_stay_in_band_unless_mapped() {
    let handler = handler(|req: McpRequest| async move {
        match req.method() {
            "tools/call" => McpResponse::invalid_params("no such tool"),
            _ => McpResponse::error(ErrorObject::new(
                code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                "needs sampling",
            )),
        }
    });
    let server = Server::with_handler(McpLayer::new(), handler);
    let res = server
        .send(modern(11, "tools/call", echo_params("x")))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_reply(res).await["error"]["code"], code::INVALID_PARAMS);
    let res = server.send(modern(12, "prompts/list", json!({}))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let reply = json_body(res).await;
    assert_eq!(reply["id"], 12);
    assert_eq!(
        reply["error"]["code"],
        code::MISSING_REQUIRED_CLIENT_CAPABILITY
    );
}

#[tokio::test]
async fn a_notification_gets_202_and_a_response_is_refused() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let handler = tower::service_fn(move |req: McpRequest| {
        let counter = counter.clone();
        async move {
            if req.is_notification() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            Ok::<_, std::convert::Infallible>(McpResponse::empty())
        }
    });
    let server = Server::with_handler(McpLayer::new(), handler);
    let note = notification_with("notifications/cancelled", json!({ "requestId": 1 }));
    let res = server
        .send(custom(
            &[
                ("mcp-protocol-version", V26),
                ("mcp-method", "notifications/cancelled"),
            ],
            &note,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(body_bytes(res).await.is_empty());
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let answer = response(&json!(3), json!({}));
    let res = server
        .send(custom(&[("mcp-protocol-version", V26)], &answer))
        .await;
    refused(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidMessage,
        json!(3),
    )
    .await;
    let batch = json!([request(1, "tools/list", with_meta(json!({})))]);
    let res = server
        .send(custom(
            &[("mcp-protocol-version", V26), ("mcp-method", "tools/list")],
            &batch,
        ))
        .await;
    rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidMessage,
        code::INVALID_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn get_and_delete_are_405_for_the_modern_era() {
    // Dual-era server: a GET or DELETE that names 2026 is refused with Allow: POST.
    let server = Server::example(McpLayer::new());
    for method in [http::Method::GET, http::Method::DELETE] {
        let req = Request::builder()
            .method(method)
            .uri("/mcp")
            .header("host", LOCAL_HOST)
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", V26)
            .body(raw(""))
            .unwrap();
        let (headers, _) = rejection(
            server.send(req).await,
            StatusCode::METHOD_NOT_ALLOWED,
            RejectionKind::MethodNotAllowed,
            code::TRANSPORT_ERROR,
        )
        .await;
        assert_eq!(headers[ALLOW], "POST");
    }
    // Modern-only server: any GET or DELETE.
    let server = Server::example(McpLayer::new().protocol_versions([ProtocolVersion::V2026_07_28]));
    for req in [get_stream("whatever"), delete("whatever")] {
        let (headers, _) = rejection(
            server.send(req).await,
            StatusCode::METHOD_NOT_ALLOWED,
            RejectionKind::MethodNotAllowed,
            code::TRANSPORT_ERROR,
        )
        .await;
        assert_eq!(headers[ALLOW], "POST");
    }
    // And an `initialize` learns which versions are served.
    let res = server.send(post(&init_request(V_NEW))).await;
    let error = refused(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::UnsupportedRequestVersion,
        json!(0),
    )
    .await;
    assert_eq!(error["data"]["supported"], json!([V26]));
    assert_eq!(error["data"]["requested"], V_NEW);
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn a_version_not_served_is_refused_with_the_list() {
    let server = Server::example(McpLayer::new().protocol_versions([ProtocolVersion::V2025_11_25]));
    let res = server.send(modern(13, "tools/list", json!({}))).await;
    let error = refused(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::UnsupportedRequestVersion,
        json!(13),
    )
    .await;
    assert_eq!(error["data"]["supported"], json!(["2025-11-25"]));
    assert_eq!(error["data"]["requested"], V26);
}

#[tokio::test]
async fn results_get_server_info_and_result_type() {
    let info = json!({ "name": "srv", "version": "9" });
    let server = Server::example(McpLayer::new().server_info(info.clone()));
    let reply = json_reply(server.send(modern(14, "tools/list", json!({}))).await).await;
    assert_eq!(reply["result"]["resultType"], "complete");
    assert_eq!(
        reply["result"]["_meta"]["io.modelcontextprotocol/serverInfo"],
        info
    );
    // The session era is untouched.
    let sid = server.open_session(V_NEW).await;
    let reply = json_reply(
        server
            .send(post_with(
                Some(&sid),
                Some(V_NEW),
                &request(1, "tools/list", json!({})),
            ))
            .await,
    )
    .await;
    assert!(reply["result"].get("resultType").is_none(), "{reply}");
}

#[tokio::test]
async fn cacheable_results_always_carry_ttl_and_scope() {
    // The 2026-07-28 schema requires `ttlMs` and `cacheScope` on the list, read and discover
    // results; the official Python client refuses a `tools/list` result without them. A
    // handler written for both eras leaves them out: the layer adds the values that cache
    // nothing (0, private). Values the handler set are kept; other results get none.
    let server = Server::with_handler(
        McpLayer::new(),
        handler(|req: McpRequest| async move {
            match req.method() {
                "tools/list" => McpResponse::result(json!({ "tools": [] })),
                "resources/read" => McpResponse::result(json!({
                    "contents": [{ "uri": "a://b", "text": "x" }],
                    "ttlMs": 5000,
                    "cacheScope": "public",
                })),
                _ => McpResponse::result(json!({ "content": [] })),
            }
        }),
    );
    let reply = json_reply(server.send(modern(1, "tools/list", json!({}))).await).await;
    assert_eq!(reply["result"]["ttlMs"], 0, "{reply}");
    assert_eq!(reply["result"]["cacheScope"], "private", "{reply}");
    let read = modern(2, "resources/read", json!({ "uri": "a://b" }));
    let reply = json_reply(server.send(read).await).await;
    assert_eq!(reply["result"]["ttlMs"], 5000, "{reply}");
    assert_eq!(reply["result"]["cacheScope"], "public", "{reply}");
    let reply = json_reply(server.send(modern(3, "tools/call", echo_params("x"))).await).await;
    assert!(reply["result"].get("ttlMs").is_none(), "{reply}");
    assert!(reply["result"].get("cacheScope").is_none(), "{reply}");
}

/// A handler that logs at two levels, then answers.
fn logging_handler() -> Handler {
    handler(|req: McpRequest| async move {
        let ctx = req.context();
        ctx.log(LogLevel::Debug, None, json!("debug detail"));
        ctx.log(LogLevel::Warning, None, json!("warning"));
        McpResponse::result(json!({ "content": [{ "type": "text", "text": "done" }] }))
    })
}

#[tokio::test]
async fn logs_go_only_at_the_level_the_request_asked_for() {
    let server = Server::with_handler(McpLayer::new(), logging_handler());
    // No logLevel: no notifications/message at all, so a plain JSON answer.
    let res = server
        .send(modern(15, "tools/call", echo_params("x")))
        .await;
    assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(tool_text(&json_reply(res).await), "done");
    // logLevel warning: only the warning.
    let mut params = with_meta(echo_params("x"));
    params["_meta"]["io.modelcontextprotocol/logLevel"] = json!("warning");
    let body = request(16, "tools/call", params);
    let res = server
        .send(custom(
            &[
                ("mcp-protocol-version", V26),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            &body,
        ))
        .await;
    assert_sse_headers(&res);
    let messages = sse_reply(res).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_eq!(messages[0]["params"]["level"], "warning");
    assert_eq!(tool_text(&messages[1]), "done");
}

#[tokio::test]
async fn streams_carry_no_event_ids_and_no_requests() {
    let handler = handler(|req: McpRequest| async move {
        let ctx = req.context();
        ctx.progress(1.0, Some(2.0), None);
        // A request to the client cannot travel in this era: the call ends with an
        // InputRequiredResult instead (multi-round-trip requests), never a request on the stream.
        let asked = ctx.request("roots/list", None).await;
        let text = if asked.is_err() {
            "refused"
        } else {
            "answered"
        };
        McpResponse::result(json!({ "content": [{ "type": "text", "text": text }] }))
    });
    let server = Server::with_handler(McpLayer::new(), handler);
    let mut params = with_meta(echo_params("x"));
    params["_meta"]["progressToken"] = json!("t");
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({ "roots": {} });
    let body = request(17, "tools/call", params);
    let res = server
        .send(custom(
            &[
                ("mcp-protocol-version", V26),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            &body,
        ))
        .await;
    assert_sse_headers(&res);
    let events = within(Sse::of(res).rest()).await;
    assert!(events.iter().all(|e| e.id.is_none()), "{events:?}");
    let messages: Vec<Value> = events.iter().filter_map(Event::json).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["method"], "notifications/progress");
    assert!(messages
        .iter()
        .all(|m| m.get("method").is_none() || m.get("id").is_none()));
    let result = &messages[1]["result"];
    assert_eq!(result["resultType"], "input_required", "{result}");
    assert_eq!(result["inputRequests"]["roots_0"]["method"], "roots/list");
}

/// Sets its flag when dropped: the handler's future was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn closing_the_stream_cancels_the_call() {
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (d, f) = (dropped.clone(), finished.clone());
    let handler = handler(move |req: McpRequest| {
        let flag = DropFlag(d.clone());
        let finished = f.clone();
        async move {
            let _flag = flag;
            req.context().progress(0.0, None, Some("started"));
            tokio::time::sleep(Duration::from_secs(30)).await;
            finished.store(true, Ordering::SeqCst);
            McpResponse::empty()
        }
    });
    let server = Server::with_handler(McpLayer::new(), handler);
    let mut params = with_meta(echo_params("x"));
    params["_meta"]["progressToken"] = json!(1);
    let body = request(18, "tools/call", params);
    let res = server
        .send(custom(
            &[
                ("mcp-protocol-version", V26),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            &body,
        ))
        .await;
    assert_sse_headers(&res);
    let mut body = res.into_body();
    // The first frame (the progress notification) arrives: the call is running.
    assert!(within(next_frame(&mut body)).await.is_some());
    assert!(!dropped.load(Ordering::SeqCst));
    // The client goes away.
    drop(body);
    within(async {
        while !dropped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "the handler ran to its end"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_reply_streams_with_keep_alives() {
    let handler = handler(|_req: McpRequest| async move {
        tokio::time::sleep(Duration::from_secs(8)).await;
        McpResponse::result(json!({ "content": [{ "type": "text", "text": "late" }] }))
    });
    let layer = McpLayer::new().keep_alive(Some(Duration::from_secs(3)));
    let server = Server::with_handler(layer, handler);
    let res = server
        .send(modern(19, "tools/call", echo_params("x")))
        .await;
    assert_sse_headers(&res);
    let bytes = within(async { res.into_body().collect().await.unwrap().to_bytes() }).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with(':'),
        "a keep-alive comment comes first: {text}"
    );
    let messages: Vec<Value> = decode(&bytes).iter().filter_map(Event::json).collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(tool_text(&messages[0]), "late");
}

#[tokio::test]
async fn param_headers_are_checked_against_the_tool_schema() {
    let schema = Arc::new(json!({ "type": "object", "properties": {
        "text": { "type": "string", "x-mcp-header": "Text" },
    } }));
    let layer = McpLayer::new().tool_schemas(move |tool| (tool == "echo").then(|| schema.clone()));
    let server = Server::example(layer);
    let body = request(20, "tools/call", with_meta(echo_params("Hello")));
    let base = [
        ("mcp-protocol-version", V26),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ];
    let with = |value: &'static str| {
        let mut headers = base.to_vec();
        headers.push(("Mcp-Param-Text", value));
        headers
    };
    for accepted in ["Hello", "=?base64?SGVsbG8=?="] {
        let res = server.send(custom(&with(accepted), &body)).await;
        assert_eq!(tool_text(&json_reply(res).await), "Hello", "{accepted}");
    }
    for bad in ["hello", "=?base64?SGVsbG8?=", "=?base64?SGVs!!!bG8=?="] {
        let res = server.send(custom(&with(bad), &body)).await;
        refused(
            res,
            StatusCode::BAD_REQUEST,
            RejectionKind::HeaderMismatch,
            json!(20),
        )
        .await;
    }
    // Omitted while the body carries the argument.
    let res = server.send(custom(&base, &body)).await;
    let error = refused(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::HeaderMismatch,
        json!(20),
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Mcp-Param-Text"),
        "{error}"
    );
    // Tools the lookup does not know are not checked.
    let add = request(
        21,
        "tools/call",
        with_meta(json!({ "name": "add", "arguments": { "a": 1, "b": 2 } })),
    );
    let res = server
        .send(custom(
            &[
                ("mcp-protocol-version", V26),
                ("mcp-method", "tools/call"),
                ("mcp-name", "add"),
            ],
            &add,
        ))
        .await;
    assert_eq!(tool_text(&json_reply(res).await), "3");
}
