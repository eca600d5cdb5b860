//! Sessions: the lifecycle, the `Mcp-Session-Id` checks, DELETE, re-initialize, failed
//! initialize, the session limit, idle expiry and per-session state. SPEC.md §1.7, §1.10 and §6
//! rows 17, 18, 19, 23.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use mcp_tower::ErrorObject;
use mcp_tower::{McpLayer, McpRequest, McpResponse, ProtocolVersion, RejectionKind};
use serde_json::json;

use crate::example;
use crate::support::*;

#[tokio::test]
async fn lifecycle_initialize_initialized_call_delete() {
    let server = Server::example(McpLayer::new());

    let res = server.send(post(&init_request("2025-11-25"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = session_id(&res);
    let reply = json_reply(res).await;
    assert_eq!(reply["jsonrpc"], "2.0");
    assert_eq!(reply["id"], 0);
    assert_eq!(reply["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(reply["result"]["serverInfo"]["name"], "mcp-tower-example");
    assert_eq!(server.sessions.len(), 1);
    let session = server.sessions.get(&id).expect("the session is registered");
    assert_eq!(session.id().as_str(), id);
    assert_eq!(
        session.protocol_version(),
        Some(ProtocolVersion::V2025_11_25)
    );
    assert_eq!(session.client_capabilities(), Some(json!({ "roots": {} })));
    assert_eq!(
        session.client_info(),
        Some(json!({ "name": "mcp-tower-tests", "version": "1.0.0" }))
    );

    let res = server
        .send(post_in(&id, &notification("notifications/initialized")))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(res.headers().get(CONTENT_TYPE).is_none());
    assert!(body_bytes(res).await.is_empty());

    let reply = json_reply(server.send(post_in(&id, &echo(2, "hello"))).await).await;
    assert_eq!(reply["id"], 2);
    assert_eq!(tool_text(&reply), "hello");
    let reply = json_reply(
        server
            .send(post_in(&id, &request(3, "tools/list", json!({}))))
            .await,
    )
    .await;
    let names: Vec<&str> = reply["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for tool in ["echo", "add", "countdown"] {
        assert!(names.contains(&tool), "{names:?}");
    }

    let res = server.send(delete(&id)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body_bytes(res).await.is_empty());
    assert!(server.sessions.is_empty());
    assert!(session.is_closed());
    assert!(server.sessions.get(&id).is_none());

    for req in [
        post_in(&id, &echo(4, "gone?")),
        get_stream(&id),
        delete(&id),
    ] {
        let method = req.method().clone();
        let (_, message) = rejection(
            server.send(req).await,
            StatusCode::NOT_FOUND,
            RejectionKind::SessionNotFound,
            -32001,
        )
        .await;
        assert!(message.contains("initialize"), "{method}: {message}");
    }
}

#[tokio::test]
async fn a_new_initialize_after_404_starts_a_fresh_session() {
    let server = Server::example(McpLayer::new());
    let first = server.open_session("2025-11-25").await;
    assert_eq!(server.send(delete(&first)).await.status(), StatusCode::OK);
    let second = server.open_session("2025-11-25").await;
    assert_ne!(first, second);
    assert_eq!(
        server.send(post_in(&first, &echo(1, "x"))).await.status(),
        StatusCode::NOT_FOUND
    );
    let reply = json_reply(server.send(post_in(&second, &echo(1, "y"))).await).await;
    assert_eq!(tool_text(&reply), "y");
}

#[tokio::test]
async fn session_ids_are_distinct() {
    let server = Server::example(McpLayer::new());
    let mut ids = std::collections::HashSet::new();
    for _ in 0..20 {
        assert!(ids.insert(server.open_session("2025-06-18").await));
    }
    assert_eq!(server.sessions.len(), 20);
    assert_eq!(server.sessions.list().len(), 20);
}

#[tokio::test]
async fn missing_session_id_is_400() {
    let server = Server::example(McpLayer::new());
    let _live = server.open_session("2025-11-25").await;
    for message in [
        echo(1, "x"),
        request(2, "ping", json!({})),
        notification("notifications/initialized"),
        json!({ "jsonrpc": "2.0", "id": 5, "result": {} }),
    ] {
        let (_, text) = rejection(
            server.send(post(&message)).await,
            StatusCode::BAD_REQUEST,
            RejectionKind::SessionRequired,
            -32000,
        )
        .await;
        assert!(text.contains("Mcp-Session-Id"), "{text}");
    }
    for method in [http::Method::GET, http::Method::DELETE] {
        let req = Request::builder()
            .method(method)
            .uri("/mcp")
            .header(HOST, LOCAL_HOST)
            .header("accept", "text/event-stream")
            .body(Body::default())
            .unwrap();
        rejection(
            server.send(req).await,
            StatusCode::BAD_REQUEST,
            RejectionKind::SessionRequired,
            -32000,
        )
        .await;
    }
    assert_eq!(server.sessions.len(), 1);
}

#[tokio::test]
async fn unknown_session_id_is_404() {
    let server = Server::example(McpLayer::new());
    let live = server.open_session("2025-11-25").await;
    // An id is the base64url of secret (16 bytes), slot (4), generation (4): changing its first
    // character changes only the secret. Same slot and generation, wrong secret.
    let forged = format!(
        "{}{}",
        if live.starts_with('A') { 'B' } else { 'A' },
        &live[1..]
    );
    for unknown in [
        "nope".to_owned(),
        "A".repeat(live.len()),
        forged,
        format!("{live}x"),
    ] {
        for req in [
            post_in(&unknown, &echo(1, "x")),
            get_stream(&unknown),
            delete(&unknown),
        ] {
            rejection(
                server.send(req).await,
                StatusCode::NOT_FOUND,
                RejectionKind::SessionNotFound,
                -32001,
            )
            .await;
        }
    }
    // Nothing above touched the live session.
    let reply = json_reply(server.send(post_in(&live, &echo(2, "ok"))).await).await;
    assert_eq!(tool_text(&reply), "ok");
}

#[tokio::test]
async fn an_initialize_naming_an_unknown_session_is_404() {
    let server = Server::example(McpLayer::new());
    let res = server
        .send(post_in("never-issued", &init_request("2025-11-25")))
        .await;
    rejection(
        res,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        -32001,
    )
    .await;
    assert!(server.sessions.is_empty());
}

#[tokio::test]
async fn malformed_session_id_is_400() {
    let server = Server::example(McpLayer::new());
    let live = server.open_session("2025-11-25").await;
    let bad: [HeaderValue; 4] = [
        HeaderValue::from_static(""),
        HeaderValue::from_static("has space"),
        HeaderValue::from_static("tab\there"),
        HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
    ];
    for value in bad {
        for mut req in [
            post_in("placeholder", &echo(1, "x")),
            get_stream("placeholder"),
            delete("placeholder"),
        ] {
            req.headers_mut().insert("mcp-session-id", value.clone());
            let (_, message) = rejection(
                server.send(req).await,
                StatusCode::BAD_REQUEST,
                RejectionKind::InvalidSessionId,
                -32000,
            )
            .await;
            assert!(message.contains("Mcp-Session-Id"), "{message}");
        }
    }
    assert_eq!(server.sessions.len(), 1);
    assert!(server.sessions.get(&live).is_some());
}

#[tokio::test]
async fn duplicate_session_id_headers_are_400() {
    let server = Server::example(McpLayer::new());
    let a = server.open_session("2025-11-25").await;
    let b = server.open_session("2025-11-25").await;
    for second in [&a, &b] {
        for mut req in [post_in(&a, &echo(1, "x")), get_stream(&a), delete(&a)] {
            req.headers_mut()
                .append("mcp-session-id", second.parse().unwrap());
            rejection(
                server.send(req).await,
                StatusCode::BAD_REQUEST,
                RejectionKind::InvalidSessionId,
                -32000,
            )
            .await;
        }
    }
    assert_eq!(server.sessions.len(), 2);
}

#[tokio::test]
async fn second_initialize_in_a_live_session_is_400_invalid_request() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let res = server.send(post_in(&id, &init_request("2025-11-25"))).await;
    assert!(res.headers().get("mcp-session-id").is_none());
    rejection(
        res,
        StatusCode::BAD_REQUEST,
        RejectionKind::AlreadyInitialized,
        -32600,
    )
    .await;
    // The session is untouched and no other one was created.
    assert_eq!(server.sessions.len(), 1);
    assert_eq!(negotiated(&server, &id), Some(ProtocolVersion::V2025_11_25));
    let reply = json_reply(server.send(post_in(&id, &echo(1, "still"))).await).await;
    assert_eq!(tool_text(&reply), "still");
}

/// The example handler, except that `initialize` fails with a JSON-RPC error.
async fn refuses_initialize(req: McpRequest) -> Result<McpResponse, Infallible> {
    if req.method() == "initialize" {
        return Ok(McpResponse::error(
            ErrorObject::new(-32602, "Unsupported protocol version")
                .with_data(json!({ "supported": ["2024-01-01"] })),
        ));
    }
    example::handle(req).await
}

/// The example handler, except that the service fails on `initialize`.
async fn fails_initialize(req: McpRequest) -> Result<McpResponse, std::io::Error> {
    if req.method() == "initialize" {
        return Err(std::io::Error::other("database unreachable"));
    }
    Ok(example::handle(req).await.unwrap_or_else(|e| match e {}))
}

#[tokio::test]
async fn a_failed_initialize_creates_no_session() {
    let refusing = Server::with_handler(McpLayer::new(), tower::service_fn(refuses_initialize));
    let res = refusing.send(post(&init_request("2025-11-25"))).await;
    let reply = json_reply(res).await;
    assert_eq!(reply["id"], 0);
    assert_eq!(reply["error"]["code"], -32602);
    assert_eq!(reply["error"]["data"]["supported"][0], "2024-01-01");
    assert!(refusing.sessions.is_empty());

    let failing = Server::with_handler(McpLayer::new(), tower::service_fn(fails_initialize));
    let res = failing.send(post(&init_request("2025-11-25"))).await;
    let reply = json_reply(res).await;
    assert_eq!(reply["id"], 0);
    assert_eq!(reply["error"]["code"], -32603);
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("database unreachable"));
    assert!(failing.sessions.is_empty());
}

#[tokio::test]
async fn a_failed_initialize_sends_no_session_id() {
    let server = Server::with_handler(McpLayer::new(), tower::service_fn(refuses_initialize));
    let res = server.send(post(&init_request("2025-11-25"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("mcp-session-id").is_none(),
        "an error reply to initialize carries no InitializeResult, so no session id"
    );
}

/// The example handler, except that `initialize` fails for the client named `refused`.
async fn refuses_one_client(req: McpRequest) -> Result<McpResponse, std::io::Error> {
    let name = req.params().and_then(|p| p["clientInfo"]["name"].as_str());
    if req.method() == "initialize" && name == Some("refused") {
        return Err(std::io::Error::other("not this one"));
    }
    Ok(example::handle(req).await.unwrap_or_else(|e| match e {}))
}

#[tokio::test]
async fn a_failed_initialize_does_not_hold_a_slot() {
    let server = Server::with_handler(
        McpLayer::new().max_sessions(1),
        tower::service_fn(refuses_one_client),
    );
    let mut refused = init_request("2025-11-25");
    refused["params"]["clientInfo"]["name"] = json!("refused");
    for _ in 0..3 {
        let reply = json_reply(server.send(post(&refused)).await).await;
        assert_eq!(reply["error"]["code"], -32603);
    }
    assert!(server.sessions.is_empty());
    // The one slot is still free.
    server.open_session("2025-11-25").await;
    assert_eq!(server.sessions.len(), 1);
}

#[tokio::test]
async fn max_sessions_answers_503_with_retry_after() {
    let server = Server::example(McpLayer::new().max_sessions(2));
    let first = server.open_session("2025-11-25").await;
    let _second = server.open_session("2025-11-25").await;
    let res = server.send(post(&init_request("2025-11-25"))).await;
    assert!(res.headers().get("mcp-session-id").is_none());
    let (headers, _) = rejection(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        RejectionKind::TooManySessions,
        -32000,
    )
    .await;
    let retry: u64 = headers[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is a number of seconds");
    assert!(retry > 0);
    assert_eq!(server.sessions.len(), 2);
    // Sessions already open keep working; ending one frees a slot.
    let reply = json_reply(server.send(post_in(&first, &echo(1, "x"))).await).await;
    assert_eq!(tool_text(&reply), "x");
    assert_eq!(server.send(delete(&first)).await.status(), StatusCode::OK);
    server.open_session("2025-11-25").await;
    assert_eq!(server.sessions.len(), 2);
}

#[tokio::test]
async fn sessions_close_ends_a_session_like_delete() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let handle = server.sessions.get(&id).unwrap();
    assert!(server.sessions.close(&id));
    assert!(!server.sessions.close(&id));
    assert!(handle.is_closed());
    assert!(!handle.close());
    rejection(
        server.send(post_in(&id, &echo(1, "x"))).await,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        -32001,
    )
    .await;
}

#[derive(Clone, Default)]
struct Calls(u32);

/// Counts `count` calls in per-session state created at `initialize`.
async fn counting(req: McpRequest) -> Result<McpResponse, Infallible> {
    match req.method() {
        "initialize" => {
            let session = req.session().expect("initialize runs in its new session");
            assert!(session.insert(Calls(0)).is_none());
            example::handle(req).await
        }
        "count" => {
            let session = req.session().expect("a session request");
            let n = session.update(|c: &mut Calls| {
                c.0 += 1;
                c.0
            });
            Ok(McpResponse::result(json!({ "calls": n })))
        }
        _ => example::handle(req).await,
    }
}

#[tokio::test]
async fn per_session_state_lives_from_initialize_until_delete() {
    let server = Server::with_handler(McpLayer::new(), tower::service_fn(counting));
    let a = server.open_session("2025-11-25").await;
    let b = server.open_session("2025-11-25").await;
    for expected in 1..=3 {
        let reply = json_reply(
            server
                .send(post_in(&a, &request(expected, "count", json!({}))))
                .await,
        )
        .await;
        assert_eq!(reply["result"]["calls"], expected);
    }
    let reply = json_reply(
        server
            .send(post_in(&b, &request(1, "count", json!({}))))
            .await,
    )
    .await;
    assert_eq!(reply["result"]["calls"], 1);

    let handle = server.sessions.get(&a).unwrap();
    assert_eq!(handle.get::<Calls>().map(|c| c.0), Some(3));
    assert_eq!(server.send(delete(&a)).await.status(), StatusCode::OK);
    assert!(handle.get::<Calls>().is_none());
    assert!(handle.insert(Calls(9)).is_none());
    assert!(handle.get::<Calls>().is_none());
}

#[tokio::test]
async fn idle_sessions_expire() {
    let server = Server::example(McpLayer::new().session_idle_timeout(Duration::from_millis(100)));
    let idle = server.open_session("2025-11-25").await;
    let busy = server.open_session("2025-11-25").await;
    let working = server.open_session("2025-11-25").await;
    // An open standalone stream counts as activity.
    let stream = server.send(get_stream(&busy)).await;
    assert_eq!(stream.status(), StatusCode::OK);
    // So does a request in flight: a silent 600 ms countdown.
    let call = server.send(post_in(&working, &countdown(1, 3, 200, None)));
    let (res, ()) = tokio::join!(call, tokio::time::sleep(Duration::from_millis(600)));
    assert_eq!(tool_text(&json_reply(res).await), "counted down from 3");
    assert!(server.sessions.get(&working).is_some());
    assert!(server.sessions.get(&idle).is_none());
    rejection(
        server.send(post_in(&idle, &echo(1, "x"))).await,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        -32001,
    )
    .await;
    let reply = json_reply(server.send(post_in(&busy, &echo(1, "alive"))).await).await;
    assert_eq!(tool_text(&reply), "alive");
    drop(stream);
}

#[tokio::test]
async fn sessions_bound_to_a_principal_are_invisible_to_others() {
    let layer = McpLayer::new().bind_sessions_to(|head| {
        head.headers
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let server = Server::example(layer);
    let mut init = post(&init_request("2025-11-25"));
    init.headers_mut()
        .insert("x-user", "alice".parse().unwrap());
    let res = server.send(init).await;
    let id = session_id(&res);
    json_reply(res).await;

    let as_user = |user: Option<&str>, mut req: Request<Body>| {
        if let Some(user) = user {
            req.headers_mut().insert("x-user", user.parse().unwrap());
        }
        req
    };
    for user in [Some("bob"), None] {
        for req in [post_in(&id, &echo(1, "x")), get_stream(&id), delete(&id)] {
            rejection(
                server.send(as_user(user, req)).await,
                StatusCode::NOT_FOUND,
                RejectionKind::SessionNotFound,
                -32001,
            )
            .await;
        }
    }
    let reply = json_reply(
        server
            .send(as_user(Some("alice"), post_in(&id, &echo(2, "mine"))))
            .await,
    )
    .await;
    assert_eq!(tool_text(&reply), "mine");
}

/// A log of the layer's session hooks.
fn hooked(layer: McpLayer) -> (McpLayer, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (created, closed) = (log.clone(), log.clone());
    let layer = layer
        .on_session_created(move |s| created.lock().unwrap().push(format!("created {}", s.id())))
        .on_session_closed(move |c| {
            closed
                .lock()
                .unwrap()
                .push(format!("closed {} {:?}", c.id, c.reason))
        });
    (layer, log)
}

#[tokio::test]
async fn hooks_see_every_session_open_and_close_with_its_reason() {
    let (layer, log) = hooked(McpLayer::new());
    let server = Server::example(layer);
    let a = server.open_session("2025-11-25").await;
    let b = server.open_session("2025-11-25").await;
    assert_eq!(server.send(delete(&a)).await.status(), StatusCode::OK);
    assert!(server.sessions.close(&b));
    assert_eq!(
        *log.lock().unwrap(),
        [
            format!("created {a}"),
            format!("created {b}"),
            format!("closed {a} Deleted"),
            format!("closed {b} Closed"),
        ]
    );
}

#[tokio::test]
async fn a_refused_initialize_runs_no_hook() {
    let (layer, log) = hooked(McpLayer::new());
    let server = Server::with_handler(layer, tower::service_fn(refuses_initialize));
    json_reply(server.send(post(&init_request("2025-11-25"))).await).await;
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

#[tokio::test]
async fn sessions_that_never_confirm_initialize_are_ended() {
    let (layer, log) = hooked(McpLayer::new().initialize_timeout(Duration::from_millis(100)));
    let server = Server::example(layer);
    let res = server.send(post(&init_request("2025-11-25"))).await;
    let silent = session_id(&res);
    json_reply(res).await;
    let confirmed = server.open_session("2025-11-25").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    rejection(
        server.send(post_in(&silent, &echo(1, "x"))).await,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        -32001,
    )
    .await;
    let reply = json_reply(server.send(post_in(&confirmed, &echo(1, "ok"))).await).await;
    assert_eq!(tool_text(&reply), "ok");
    assert!(log
        .lock()
        .unwrap()
        .contains(&format!("closed {silent} InitializeTimeout")));
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_streams_and_refuses_new_sessions() {
    let (layer, log) = hooked(McpLayer::new());
    let server = Server::example(layer);
    let id = server.open_session("2025-06-18").await;
    let stream = server.send(get_stream(&id)).await.into_body();
    server
        .sessions
        .get(&id)
        .unwrap()
        .notify("notifications/message", None);

    let report = server.sessions.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        (
            report.sessions_closed,
            report.streams_closed,
            report.handlers_cut
        ),
        (1, 1, 0),
        "{report:?}"
    );
    // The stream writes what it holds, then asks the client to come back later.
    let events = decode(&within(stream.collect()).await.unwrap().to_bytes());
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].json().unwrap()["method"], "notifications/message");
    assert!(events[1].retry.is_some());
    assert!(server.sessions.is_empty());
    assert!(log
        .lock()
        .unwrap()
        .contains(&format!("closed {id} Shutdown")));

    let (headers, message) = rejection(
        server.send(post(&init_request("2025-11-25"))).await,
        StatusCode::SERVICE_UNAVAILABLE,
        RejectionKind::TooManySessions,
        -32000,
    )
    .await;
    assert!(headers.contains_key(RETRY_AFTER));
    assert!(message.contains("shutting down"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn shutdown_cuts_handlers_still_running_at_the_deadline() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let call = tokio::spawn({
        let server = server.clone();
        let id = id.clone();
        async move {
            server
                .send(post_in(&id, &countdown(1, 3, 1000, None)))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = server.sessions.shutdown(Duration::from_millis(500)).await;
    assert_eq!(report.handlers_cut, 1, "{report:?}");
    assert_eq!(report.sessions_closed, 1, "{report:?}");
    let res = call.await.unwrap();
    let reply = if res.body().is_sse() {
        sse_reply(res).await
    } else {
        vec![json_reply(res).await]
    };
    assert!(
        reply.iter().all(|m| m.get("result").is_none()),
        "a cut handler gives no result: {reply:?}"
    );
}

/// Sets its flag when dropped: shows when per-session state is freed.
#[derive(Clone)]
struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        // The test never clones it: the only instance is the one the session stores.
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_held_session_handle_does_not_keep_an_ended_session_alive() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let handle = server.sessions.get(&id).unwrap();
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    handle.insert(DropFlag(dropped.clone()));
    assert!(!dropped.load(std::sync::atomic::Ordering::SeqCst));

    assert_eq!(server.send(delete(&id)).await.status(), StatusCode::OK);
    // The handle is still held, yet the session's state is gone and the handle says so.
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    assert!(handle.is_closed());
    assert!(handle.get::<DropFlag>().is_none());
}
