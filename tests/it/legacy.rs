//! The legacy HTTP+SSE transport (protocol 2024-11-05, SPEC.md §4): connect, `endpoint` event,
//! POSTs answered 202 with every answer on the stream, the session API shared with Streamable
//! HTTP, the rejections, slow readers, disconnects and shutdown; in process and over loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE, HOST};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use mcp_tower::session::RequestOptions;
use mcp_tower::{code, CloseReason, McpBody, McpLayer, RejectionKind, Transport};
use serde_json::{json, Value};

use crate::example;
use crate::support::*;

const LEGACY: &str = "2024-11-05";

fn legacy_layer() -> McpLayer {
    McpLayer::new().legacy_sse("/sse", "/messages")
}

/// A connect GET, as the TypeScript and Python SSE clients send it.
fn connect_req(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(HOST, LOCAL_HOST)
        .header("accept", "text/event-stream")
        .body(raw(""))
        .unwrap()
}

/// A legacy POST of one message to `url` (the endpoint event's data).
fn legacy_post(url: &str, message: &Value) -> Request<Body> {
    Request::post(url)
        .header(HOST, LOCAL_HOST)
        .header(CONTENT_TYPE, "application/json")
        .body(raw(message.to_string()))
        .unwrap()
}

/// The session id in an endpoint URL.
fn session_of(url: &str) -> String {
    url.split("sessionId=")
        .nth(1)
        .expect("the endpoint names its session")
        .to_owned()
}

/// Reads the `endpoint` event every legacy stream starts with; returns its URL.
async fn endpoint<B>(sse: &mut Sse<B>) -> String
where
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let ev = sse.next().await.expect("the stream starts with an event");
    assert!(
        ev.raw.starts_with("event: endpoint\n"),
        "the first event is `endpoint`: {:?}",
        ev.raw
    );
    assert!(ev.id.is_none(), "legacy events carry no id");
    ev.data
}

/// Connects; returns the stream (past its endpoint event) and the URL to POST to.
async fn connect(server: &Server, uri: &str) -> (Sse<McpBody>, String) {
    let res = server.send(connect_req(uri)).await;
    assert_sse_headers(&res);
    let mut sse = Sse::of(res);
    let url = endpoint(&mut sse).await;
    (sse, url)
}

/// The next message on a legacy stream, checked to be an `event: message` without an id.
async fn next_msg<B>(sse: &mut Sse<B>) -> Value
where
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let ev = sse.next().await.expect("a message on the legacy stream");
    assert!(ev.raw.contains("event: message\n"), "{:?}", ev.raw);
    assert!(ev.id.is_none(), "legacy events carry no id: {:?}", ev.raw);
    ev.json().expect("a message carries JSON")
}

/// POSTs `message` and expects `202 Accepted` with no body.
async fn accepted(server: &Server, url: &str, message: &Value) {
    let res = server.send(legacy_post(url, message)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "for {message}");
    assert!(body_bytes(res).await.is_empty(), "a 202 has no body");
}

/// Connects and initializes (answer read from the stream), then sends
/// `notifications/initialized`.
async fn open(server: &Server, capabilities: Value) -> (Sse<McpBody>, String) {
    let (mut sse, url) = connect(server, "/sse").await;
    accepted(server, &url, &init_body(LEGACY, capabilities)).await;
    let answer = next_msg(&mut sse).await;
    assert_eq!(answer["id"], 0);
    assert_eq!(answer["result"]["protocolVersion"], LEGACY);
    accepted(
        server,
        &url,
        &notification_with("notifications/initialized", json!({})),
    )
    .await;
    (sse, url)
}

type Closed = Arc<Mutex<Vec<(String, CloseReason)>>>;

fn closed_hook(layer: McpLayer) -> (McpLayer, Closed) {
    let closed = Closed::default();
    let c = closed.clone();
    let layer = layer.on_session_closed(move |id, reason| {
        c.lock().unwrap().push((id.as_str().to_owned(), reason));
    });
    (layer, closed)
}

#[tokio::test]
async fn the_whole_flow_in_process() {
    let transports = Arc::new(Mutex::new(Vec::new()));
    let seen = transports.clone();
    let server = Server::example(
        legacy_layer().on_session_created(move |s| seen.lock().unwrap().push(s.transport())),
    );
    let (mut sse, url) = connect(&server, "/sse").await;
    assert!(url.starts_with("/messages?sessionId="), "{url}");
    let id = session_of(&url);
    // Visible (and bound) from the connect on, opened by initialize.
    let session = server
        .sessions
        .get(&id)
        .expect("the connect made a session");
    assert_eq!(session.transport(), Transport::LegacySse);
    assert_eq!(session.protocol_version(), None);
    assert!(session.has_stream());

    accepted(&server, &url, &init_body(LEGACY, json!({}))).await;
    let answer = next_msg(&mut sse).await;
    assert_eq!(answer["result"]["protocolVersion"], LEGACY);
    assert_eq!(*transports.lock().unwrap(), [Transport::LegacySse]);
    assert_eq!(
        session.protocol_version(),
        Some(mcp_tower::ProtocolVersion::V2024_11_05)
    );
    accepted(
        &server,
        &url,
        &notification_with("notifications/initialized", json!({})),
    )
    .await;

    accepted(&server, &url, &request(1, "tools/list", json!({}))).await;
    let tools = next_msg(&mut sse).await;
    assert_eq!(tools["id"], 1);
    assert!(tools["result"]["tools"].as_array().unwrap().len() >= 2);

    // Progress and the answer of a call, all on the one stream, in order.
    accepted(&server, &url, &countdown(2, 2, 1, Some(json!("p2")))).await;
    let mut progress = Vec::new();
    loop {
        let msg = next_msg(&mut sse).await;
        if msg["id"] == 2 {
            assert!(msg["result"]["content"][0]["text"].is_string(), "{msg}");
            break;
        }
        assert_eq!(msg["method"], "notifications/progress", "{msg}");
        progress.push(progress_of(&msg).unwrap());
    }
    assert!(!progress.is_empty(), "progress goes on the legacy stream");
}

#[tokio::test]
async fn the_endpoint_keeps_the_connect_query_and_the_one_endpoint_form_connects() {
    let server = Server::example(legacy_layer());
    let (_sse, url) = connect(&server, "/sse?tenant=7").await;
    assert!(url.starts_with("/messages?tenant=7&sessionId="), "{url}");

    // GET on the MCP endpoint without Mcp-Session-Id, accepting SSE: a legacy connect too.
    let (_sse2, url2) = connect(&server, "/mcp").await;
    assert!(url2.starts_with("/messages?sessionId="), "{url2}");
    assert_eq!(server.sessions.len(), 2);

    // Without the legacy transport, that GET is still refused.
    let plain = Server::example(McpLayer::new());
    rejection(
        plain.send(connect_req("/mcp")).await,
        StatusCode::BAD_REQUEST,
        RejectionKind::SessionRequired,
        code::TRANSPORT_ERROR,
    )
    .await;
    // Nor on a stateless server, whose GETs get 405; its legacy paths still serve.
    let stateless = Server::example(legacy_layer().stateless(true));
    let res = stateless.send(connect_req("/mcp")).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let _ = connect(&stateless, "/sse").await;
}

#[tokio::test]
async fn bad_input_gets_the_rejection_spec_md_names() {
    let server = Server::example(legacy_layer().bind_sessions_to(|head| {
        head.headers
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }));
    let mut connect_alice = connect_req("/sse");
    connect_alice
        .headers_mut()
        .insert("x-user", "alice".parse().unwrap());
    let res = server.send(connect_alice).await;
    let mut sse = Sse::of(res);
    let url = endpoint(&mut sse).await;
    let as_alice = |message: &Value| {
        let mut req = legacy_post(&url, message);
        req.headers_mut().insert("x-user", "alice".parse().unwrap());
        req
    };
    let ping = request(1, "ping", json!({}));

    // Missing sessionId: 400; unknown: 404 (both with a JSON-RPC body).
    let (_, msg) = rejection(
        server.send(legacy_post("/messages", &ping)).await,
        StatusCode::BAD_REQUEST,
        RejectionKind::SessionRequired,
        code::TRANSPORT_ERROR,
    )
    .await;
    assert!(msg.contains("sessionId"), "{msg}");
    rejection(
        server
            .send(legacy_post(
                "/messages?sessionId=AAAAAAAAAAAAAAAAAAAA",
                &ping,
            ))
            .await,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        code::SESSION_NOT_FOUND,
    )
    .await;
    rejection(
        server
            .send(legacy_post("/messages?sessionId=", &ping))
            .await,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidSessionId,
        code::TRANSPORT_ERROR,
    )
    .await;
    let twice = format!("{url}&sessionId=x");
    rejection(
        server.send(legacy_post(&twice, &ping)).await,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidSessionId,
        code::TRANSPORT_ERROR,
    )
    .await;
    // Another principal (or none) is told the session does not exist.
    rejection(
        server.send(legacy_post(&url, &ping)).await,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        code::SESSION_NOT_FOUND,
    )
    .await;
    // The owner is served.
    let res = server.send(as_alice(&ping)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(next_msg(&mut sse).await["id"], 1);

    // Content-Type, JSON, JSON-RPC shape, batches, size.
    let mut text = as_alice(&ping);
    text.headers_mut()
        .insert(CONTENT_TYPE, "text/plain".parse().unwrap());
    rejection(
        server.send(text).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        RejectionKind::UnsupportedMediaType,
        code::TRANSPORT_ERROR,
    )
    .await;
    let mut broken = as_alice(&ping);
    *broken.body_mut() = raw("{not json");
    rejection(
        server.send(broken).await,
        StatusCode::BAD_REQUEST,
        RejectionKind::ParseError,
        code::PARSE_ERROR,
    )
    .await;
    rejection(
        server
            .send(as_alice(&json!({ "jsonrpc": "1.0", "id": 1 })))
            .await,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidMessage,
        code::INVALID_REQUEST,
    )
    .await;
    let (_, msg) = rejection(
        server
            .send(as_alice(&json!([ping.clone(), ping.clone()])))
            .await,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidMessage,
        code::INVALID_REQUEST,
    )
    .await;
    assert!(msg.contains("one JSON-RPC message per POST"), "{msg}");
    let big = json!({ "jsonrpc": "2.0", "id": 9, "method": "ping", "params": { "x": "y".repeat(5 << 20) } });
    rejection(
        server.send(as_alice(&big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        RejectionKind::PayloadTooLarge,
        code::TRANSPORT_ERROR,
    )
    .await;

    // A foreign Host is refused before anything else.
    let mut evil = as_alice(&ping);
    evil.headers_mut()
        .insert(HOST, "evil.example.com".parse().unwrap());
    rejection(
        server.send(evil).await,
        StatusCode::FORBIDDEN,
        RejectionKind::ForbiddenHost,
        code::TRANSPORT_ERROR,
    )
    .await;

    // Wrong methods on the two paths: 405 with Allow (a Streamable client POSTing to /sse
    // falls back on it).
    let res = server.send(post(&init_request(V_NEW))).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "/mcp still speaks Streamable HTTP"
    );
    let mut to_sse = post(&init_request(V_NEW));
    *to_sse.uri_mut() = "/sse".parse().unwrap();
    let (headers, _) = rejection(
        server.send(to_sse).await,
        StatusCode::METHOD_NOT_ALLOWED,
        RejectionKind::MethodNotAllowed,
        code::TRANSPORT_ERROR,
    )
    .await;
    assert_eq!(headers[ALLOW], "GET");
    let (headers, _) = rejection(
        server.send(connect_req("/messages")).await,
        StatusCode::METHOD_NOT_ALLOWED,
        RejectionKind::MethodNotAllowed,
        code::TRANSPORT_ERROR,
    )
    .await;
    assert_eq!(headers[ALLOW], "POST");
    let mut json_only = connect_req("/sse");
    json_only
        .headers_mut()
        .insert("accept", "application/json".parse().unwrap());
    rejection(
        server.send(json_only).await,
        StatusCode::NOT_ACCEPTABLE,
        RejectionKind::NotAcceptable,
        code::TRANSPORT_ERROR,
    )
    .await;
}

#[tokio::test]
async fn sessions_of_one_transport_are_unknown_to_the_other() {
    let server = Server::example(legacy_layer());
    let streamable = server.open_session(V_NEW).await;
    let (_sse, url) = open(&server, json!({})).await;
    let legacy = session_of(&url);
    let ping = request(5, "ping", json!({}));
    // A Streamable HTTP session id in a legacy POST, and the other way round: 404.
    rejection(
        server
            .send(legacy_post(
                &format!("/messages?sessionId={streamable}"),
                &ping,
            ))
            .await,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        code::SESSION_NOT_FOUND,
    )
    .await;
    for req in [
        post_in(&legacy, &ping),
        get_stream(&legacy),
        delete(&legacy),
    ] {
        rejection(
            server.send(req).await,
            StatusCode::NOT_FOUND,
            RejectionKind::SessionNotFound,
            code::SESSION_NOT_FOUND,
        )
        .await;
    }
    // A second initialize in a legacy session: 400.
    rejection(
        server.send(legacy_post(&url, &init_request(LEGACY))).await,
        StatusCode::BAD_REQUEST,
        RejectionKind::AlreadyInitialized,
        code::INVALID_REQUEST,
    )
    .await;
    assert_eq!(server.sessions.len(), 2);
}

#[tokio::test]
async fn sampling_travels_over_the_legacy_stream() {
    let server = Server::example(legacy_layer());
    let (mut sse, url) = open(&server, json!({ "sampling": {} })).await;
    accepted(
        &server,
        &url,
        &tool_call(7, "ask_llm", json!({ "question": "2+2?" })),
    )
    .await;
    let ask = next_msg(&mut sse).await;
    assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
    let answer = json!({
        "role": "assistant",
        "content": { "type": "text", "text": "four" },
        "model": "m",
    });
    accepted(&server, &url, &response(&ask["id"], answer)).await;
    let result = next_msg(&mut sse).await;
    assert_eq!(result["id"], 7);
    assert_eq!(tool_text(&result), "The model says: four");
}

#[tokio::test]
async fn the_session_api_reaches_legacy_sessions_like_any_other() {
    let server = Server::example(legacy_layer());
    let (mut sse, url) = open(&server, json!({ "roots": {} })).await;
    let session = server.sessions.get(&session_of(&url)).unwrap();

    // Unrelated notification.
    assert_eq!(
        session.notify("notifications/tools/list_changed", None),
        mcp_tower::Delivery::Sent
    );
    assert_eq!(
        next_msg(&mut sse).await["method"],
        "notifications/tools/list_changed"
    );

    // A request from the application, answered by the client.
    let asking = session.clone();
    let ask = tokio::spawn(async move {
        asking
            .request("roots/list", None, RequestOptions::new())
            .await
    });
    let req = next_msg(&mut sse).await;
    assert_eq!(req["method"], "roots/list");
    accepted(&server, &url, &response(&req["id"], json!({ "roots": [] }))).await;
    let roots = within(ask).await.unwrap().unwrap();
    assert_eq!(roots, json!({ "roots": [] }));

    // A request the client never answers times out and is cancelled on the stream.
    let asking = session.clone();
    let ask = tokio::spawn(async move {
        asking
            .request(
                "roots/list",
                None,
                RequestOptions::new().timeout(Duration::from_millis(50)),
            )
            .await
    });
    let req = next_msg(&mut sse).await;
    assert_eq!(req["method"], "roots/list");
    assert!(within(ask).await.unwrap().is_err());
    let cancelled = next_msg(&mut sse).await;
    assert_eq!(cancelled["method"], "notifications/cancelled");
    assert_eq!(cancelled["params"]["requestId"], req["id"]);

    // Closing it ends the stream, as a DELETE would for Streamable HTTP.
    assert!(session.close());
    assert!(sse.rest().await.is_empty());
    assert!(server.sessions.is_empty());
    rejection(
        server
            .send(legacy_post(&url, &request(9, "ping", json!({}))))
            .await,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        code::SESSION_NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_broadcast_reaches_legacy_and_session_streams_once_each() {
    let server = Server::example(legacy_layer());
    let (mut legacy, _url) = open(&server, json!({})).await;
    let streamable = server.open_session(V_OLD).await;
    let mut get = Sse::of(server.send(get_stream(&streamable)).await);
    // A legacy connect that has not initialized yet is not reached.
    let (early, _) = connect(&server, "/sse").await;

    let report = server
        .sessions
        .broadcast("notifications/resources/list_changed", None);
    assert_eq!((report.delivered, report.queued), (2, 0), "{report:?}");
    assert_eq!(report.dropped, 1, "the uninitialized connect: {report:?}");
    assert_eq!(
        next_msg(&mut legacy).await["method"],
        "notifications/resources/list_changed"
    );
    let (id, msg) = get.next_message().await.unwrap();
    assert!(id.is_some(), "the session-era stream numbers its events");
    assert_eq!(msg["method"], "notifications/resources/list_changed");

    // Once each: the next thing on either stream is the next broadcast.
    server
        .sessions
        .broadcast("notifications/prompts/list_changed", None);
    assert_eq!(
        next_msg(&mut legacy).await["method"],
        "notifications/prompts/list_changed"
    );
    assert_eq!(
        get.next_message().await.unwrap().1["method"],
        "notifications/prompts/list_changed"
    );
    drop(early);
}

#[tokio::test]
async fn disconnect_ends_the_session_after_the_grace() {
    let (layer, closed) = closed_hook(legacy_layer().legacy_grace(Duration::from_millis(30)));
    let server = Server::example(layer);
    let (sse, url) = open(&server, json!({})).await;
    let id = session_of(&url);
    let session = server.sessions.get(&id).unwrap();
    drop(sse);
    assert!(
        eventually(PATIENCE, || session.is_closed()).await,
        "the session ends once its stream is gone"
    );
    assert!(server.sessions.is_empty());
    assert_eq!(*closed.lock().unwrap(), [(id, CloseReason::Disconnected)]);
    rejection(
        server
            .send(legacy_post(&url, &request(1, "ping", json!({}))))
            .await,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        code::SESSION_NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_connect_naming_the_session_takes_its_stream_over() {
    let (layer, closed) = closed_hook(legacy_layer().legacy_grace(Duration::from_millis(30)));
    let server = Server::example(layer);
    let (mut first, url) = open(&server, json!({})).await;
    let id = session_of(&url);
    let (mut second, again) = connect(&server, &format!("/sse?sessionId={id}")).await;
    assert_eq!(again, url, "the same endpoint, the same session");
    // The older connection ends; the session lives on, on the newer one.
    assert!(first.rest().await.is_empty());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(closed.lock().unwrap().is_empty());
    accepted(&server, &url, &request(3, "ping", json!({}))).await;
    assert_eq!(next_msg(&mut second).await["id"], 3);
    // An unknown session cannot be taken over.
    rejection(
        server
            .send(connect_req("/sse?sessionId=AAAAAAAAAAAAAAAAAAAA"))
            .await,
        StatusCode::NOT_FOUND,
        RejectionKind::SessionNotFound,
        code::SESSION_NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_slow_reader_is_cut_off_and_what_it_lost_is_counted() {
    let (layer, closed) = closed_hook(
        legacy_layer()
            .stream_capacity(4)
            .legacy_grace(Duration::from_millis(10)),
    );
    let server = Server::example(layer);
    let (mut sse, url) = open(&server, json!({})).await;
    let id = session_of(&url);
    let session = server.sessions.get(&id).unwrap();
    // Nobody reads: the channel fills, the next message cuts the reader off.
    let mut sent = 0;
    for _ in 0..20 {
        match session.notify("notifications/message", Some(json!({ "level": "info" }))) {
            mcp_tower::Delivery::Sent => sent += 1,
            mcp_tower::Delivery::Dropped => break,
            other => panic!("a legacy stream queues nothing: {other:?}"),
        }
    }
    assert!((1..20).contains(&sent), "bounded: {sent} sent");
    assert_eq!(session.messages_lost(), 1);
    assert_eq!(server.sessions.messages_lost(), 1);
    // What the connection had taken is still written, then it ends.
    let rest = sse.rest().await;
    assert_eq!(rest.len(), sent);
    assert!(
        eventually(PATIENCE, || session.is_closed()).await,
        "a cut-off legacy session ends: its client cannot resume"
    );
    assert_eq!(*closed.lock().unwrap(), [(id, CloseReason::Disconnected)]);
    assert_eq!(server.sessions.messages_lost(), 1, "the total outlives it");
}

#[tokio::test]
async fn shutdown_lets_running_calls_answer_then_ends_legacy_sessions() {
    let (layer, closed) = closed_hook(legacy_layer());
    let server = Server::example(layer);
    let (mut sse, url) = open(&server, json!({})).await;
    accepted(&server, &url, &countdown(4, 2, 50, None)).await;
    let sessions = server.sessions.clone();
    let report = within(sessions.shutdown(Duration::from_secs(5))).await;
    assert_eq!(report.sessions_closed, 1);
    assert_eq!(report.streams_closed, 1);
    assert_eq!(report.handlers_cut, 0);
    // The answer of the call that was running still arrived, then the stream ended.
    let rest = sse.rest().await;
    let answers: Vec<Value> = rest.iter().filter_map(|e| e.json()).collect();
    assert!(answers.iter().any(|m| m["id"] == 4), "{answers:?}");
    assert_eq!(closed.lock().unwrap()[0].1, CloseReason::Shutdown);
    // No new legacy session while draining.
    rejection(
        server.send(connect_req("/sse")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        RejectionKind::TooManySessions,
        code::TRANSPORT_ERROR,
    )
    .await;
}

#[tokio::test]
async fn connects_count_against_the_session_limit_and_must_initialize() {
    let (layer, closed) = closed_hook(
        legacy_layer()
            .max_sessions(1)
            .initialize_timeout(Duration::from_millis(50)),
    );
    let server = Server::example(layer);
    let (sse, _url) = connect(&server, "/sse").await;
    rejection(
        server.send(connect_req("/sse")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        RejectionKind::TooManySessions,
        code::TRANSPORT_ERROR,
    )
    .await;
    // A connect that never initializes is ended (it never opened: no close hook).
    assert!(eventually(PATIENCE, || server.sessions.is_empty()).await);
    assert!(closed.lock().unwrap().is_empty());
    drop(sse);
}

#[tokio::test]
async fn over_loopback_with_a_real_client() {
    let (layer, closed) = closed_hook(legacy_layer().legacy_grace(Duration::from_millis(20)));
    let sessions = layer.sessions();
    let svc = tower::ServiceBuilder::new()
        .layer(layer)
        .service_fn(example::handle);
    let served = serve(svc).await;
    let base = format!("http://{}", served.addr);
    let client = client();
    let res = client
        .get(format!("{base}/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut sse = http_sse(res);
    let url = endpoint(&mut sse).await;
    let post_url = format!("{base}{url}");
    let send = |message: Value| {
        let client = client.clone();
        let post_url = post_url.clone();
        async move {
            let res = client
                .post(post_url)
                .header(CONTENT_TYPE, "application/json")
                .body(message.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::ACCEPTED);
        }
    };
    send(init_body(LEGACY, json!({}))).await;
    assert_eq!(next_msg(&mut sse).await["id"], 0);
    send(notification_with("notifications/initialized", json!({}))).await;
    send(echo(1, "over the wire")).await;
    let answer = next_msg(&mut sse).await;
    assert_eq!(tool_text(&answer), "over the wire");
    assert_eq!(sessions.len(), 1);

    // The client goes away: the session ends and is freed.
    drop(sse);
    assert!(eventually(PATIENCE, || sessions.is_empty()).await);
    assert_eq!(closed.lock().unwrap()[0].1, CloseReason::Disconnected);
    let res = client
        .post(post_url)
        .header(CONTENT_TYPE, "application/json")
        .body(request(2, "ping", json!({})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body: Value = res.json().await.unwrap();
    assert_error_body(&body, code::SESSION_NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn a_silent_legacy_stream_carries_keep_alive_comments() {
    let server = Server::example(legacy_layer().keep_alive(Some(Duration::from_secs(5))));
    let mut body = server.send(connect_req("/sse")).await.into_body();
    let endpoint = next_frame(&mut body).await.expect("the endpoint event");
    assert!(endpoint.starts_with(b"event: endpoint\n"));
    let start = tokio::time::Instant::now();
    let early = tokio::time::timeout(Duration::from_millis(4_999), body.frame()).await;
    assert!(early.is_err(), "nothing before the interval");
    let frame = next_frame(&mut body).await.expect("a keep-alive");
    assert_eq!(&frame[..], b":\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test]
async fn a_connect_without_accept_is_served_and_in_flight_limits_apply() {
    let server = Server::example(legacy_layer().max_in_flight(1));
    // Minimal clients send no Accept on the dedicated SSE path: that admits the stream.
    let bare = Request::get("/sse")
        .header(HOST, LOCAL_HOST)
        .body(raw(""))
        .unwrap();
    let res = server.send(bare).await;
    assert_sse_headers(&res);
    let mut sse = Sse::of(res);
    let url = endpoint(&mut sse).await;
    accepted(&server, &url, &init_body(LEGACY, json!({}))).await;
    assert_eq!(next_msg(&mut sse).await["id"], 0);
    // One slow call in flight: the next request is refused at once with 429, not queued.
    accepted(&server, &url, &countdown(1, 2, 200, None)).await;
    rejection(
        server
            .send(legacy_post(&url, &request(2, "ping", json!({}))))
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        RejectionKind::TooManyRequests,
        code::TRANSPORT_ERROR,
    )
    .await;
    // Notifications still pass, and the call still answers on the stream.
    accepted(
        &server,
        &url,
        &notification_with("notifications/initialized", json!({})),
    )
    .await;
    loop {
        let msg = next_msg(&mut sse).await;
        if msg["id"] == 1 {
            break;
        }
    }
}

#[tokio::test]
async fn one_publish_reaches_legacy_session_and_listen_streams_once_each() {
    let layer = legacy_layer();
    let publisher = layer.publisher();
    let server = Server::example(layer);
    let (mut legacy, _url) = open(&server, json!({})).await;
    let streamable = server.open_session(V_OLD).await;
    let mut get = Sse::of(server.send(get_stream(&streamable)).await);
    let listen = json!({
        "jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen",
        "params": {
            "notifications": { "toolsListChanged": true },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    });
    let req = post_builder()
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .body(raw(listen.to_string()))
        .unwrap();
    let mut listening = Sse::of(server.send(req).await);
    let ack = listening.next_message().await.unwrap().1;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");

    for round in 0..2 {
        let report = publisher.publish(&mcp_tower::Change::ToolsListChanged);
        assert_eq!(report.sessions, 2, "round {round}: {report:?}");
        assert_eq!(report.listen_streams, 1, "round {round}: {report:?}");
        // Once each: every stream's next message is this round's.
        let method = "notifications/tools/list_changed";
        assert_eq!(next_msg(&mut legacy).await["method"], method);
        assert_eq!(get.next_message().await.unwrap().1["method"], method);
        assert_eq!(listening.next_message().await.unwrap().1["method"], method);
    }
}
