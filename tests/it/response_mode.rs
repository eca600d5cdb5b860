//! How a request's reply is written: adaptive JSON→SSE switching, `sse_after`, keep-alives on
//! POST streams, and the forced modes. SPEC.md §1.3 and §1.11.

use std::convert::Infallible;
use std::time::Duration;

use http::header::CACHE_CONTROL;
use mcp_tower::{LogLevel, McpLayer, McpRequest, McpResponse, ResponseMode};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::example;
use crate::support::*;

/// The example handler plus `test/sleep` {ms}: answers after a silent wait, and `test/log`:
/// sends a log message and answers at once.
async fn with_test_methods(req: McpRequest) -> Result<McpResponse, Infallible> {
    match req.method() {
        "test/sleep" => {
            let ms = req.params().and_then(|p| p["ms"].as_u64()).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(McpResponse::result(json!({ "slept": ms })))
        }
        "test/log" => {
            req.context()
                .log(LogLevel::Info, Some("it"), json!("working"));
            Ok(McpResponse::result(json!({ "logged": true })))
        }
        _ => example::handle(req).await,
    }
}

fn server(layer: McpLayer) -> Server {
    Server::with_handler(layer, tower::service_fn(with_test_methods))
}

/// Checks the progress notifications of a `countdown` from 3 and its final answer.
fn assert_countdown(messages: &[Value], token: &Value, id: i64) {
    assert_eq!(
        messages.len(),
        5,
        "4 progress notifications then the answer: {messages:?}"
    );
    let texts = ["3…", "2…", "1…", "liftoff"];
    for (step, message) in messages[..4].iter().enumerate() {
        assert_eq!(message["jsonrpc"], "2.0");
        assert_eq!(message["method"], "notifications/progress");
        assert!(message.get("id").is_none(), "a notification has no id");
        let params = &message["params"];
        assert_eq!(&params["progressToken"], token);
        assert_eq!(params["progress"], step as f64);
        assert_eq!(params["total"], 3.0);
        assert_eq!(params["message"], texts[step]);
    }
    let answer = &messages[4];
    assert_eq!(answer["id"], id);
    assert_eq!(tool_text(answer), "counted down from 3");
}

#[tokio::test]
async fn a_fast_handler_answers_plain_json_with_exact_length() {
    let server = server(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    for (call, expected) in [
        (
            request(1, "ping", json!({})),
            json!({ "jsonrpc": "2.0", "id": 1, "result": {} }),
        ),
        (
            echo(2, "hi"),
            json!({ "jsonrpc": "2.0", "id": 2, "result": { "content": [{ "type": "text", "text": "hi" }] } }),
        ),
    ] {
        let res = server.send(post_in(&id, &call)).await;
        assert!(res.headers().get(CACHE_CONTROL).is_none());
        // `json_reply` checks the content type and that the length hint is exact.
        assert_eq!(json_reply(res).await, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn progress_switches_the_reply_to_sse() {
    let server = server(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    for token in [json!("tok-1"), json!(42)] {
        let start = Instant::now();
        let res = server
            .send(post_in(&id, &countdown(7, 3, 10, Some(token.clone()))))
            .await;
        // The head goes out with the first progress event, not when the handler is done.
        assert_eq!(start.elapsed(), Duration::ZERO);
        // `sse_reply` checks content type, cache-control, x-accel-buffering, the unknown
        // length, and that every event is `event: message`.
        let messages = sse_reply(res).await;
        assert_eq!(start.elapsed(), Duration::from_millis(30));
        assert_countdown(&messages, &token, 7);
    }
}

#[tokio::test(start_paused = true)]
async fn the_sse_reply_is_framed_one_event_per_message() {
    let server = server(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let res = server
        .send(post_in(&id, &countdown(1, 1, 10, Some(json!("t")))))
        .await;
    assert_sse_headers(&res);
    let text = String::from_utf8(body_bytes(res).await.to_vec()).unwrap();
    let events: Vec<&str> = text.split_terminator("\n\n").collect();
    // A priming event (2025-11-25), two progress events, the answer.
    assert_eq!(events.len(), 4, "{text:?}");
    let mut ids = std::collections::HashSet::new();
    let (id, rest) = events[0].split_once('\n').unwrap();
    assert!(ids.insert(id.strip_prefix("id: ").unwrap()));
    assert_eq!(rest, "retry: 1000\ndata:", "{text:?}");
    for event in &events[1..] {
        let lines: Vec<&str> = event.split('\n').collect();
        assert_eq!(lines.len(), 3, "{event:?}");
        assert!(ids.insert(lines[0].strip_prefix("id: ").expect("an id")));
        assert_eq!(lines[1], "event: message");
        let json = lines[2].strip_prefix("data: ").expect("one data line");
        serde_json::from_str::<Value>(json).unwrap();
    }
    assert!(text.ends_with("\n\n"));
}

#[tokio::test(start_paused = true)]
async fn a_message_sent_just_before_a_fast_answer_still_travels_with_it() {
    let server = server(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let messages = sse_reply(
        server
            .send(post_in(&id, &request(3, "test/log", json!({}))))
            .await,
    )
    .await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_eq!(
        messages[0]["params"],
        json!({ "level": "info", "logger": "it", "data": "working" })
    );
    assert_eq!(messages[1]["id"], 3);
    assert_eq!(messages[1]["result"]["logged"], true);
}

#[tokio::test(start_paused = true)]
async fn without_a_progress_token_a_short_countdown_stays_json() {
    let server = server(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let reply = json_reply(server.send(post_in(&id, &countdown(1, 3, 10, None))).await).await;
    assert_eq!(tool_text(&reply), "counted down from 3");
}

#[tokio::test(start_paused = true)]
async fn a_silent_handler_slower_than_sse_after_turns_into_sse() {
    let server = server(McpLayer::new().sse_after(Duration::from_millis(100)));
    let id = server.open_session("2025-11-25").await;
    let start = Instant::now();
    let res = server
        .send(post_in(
            &id,
            &request(5, "test/sleep", json!({ "ms": 3000 })),
        ))
        .await;
    // The head goes out when `sse_after` runs out, long before the answer.
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    let messages = sse_reply(res).await;
    assert_eq!(start.elapsed(), Duration::from_millis(3000));
    assert_eq!(
        messages,
        [json!({ "jsonrpc": "2.0", "id": 5, "result": { "slept": 3000 } })]
    );
}

#[tokio::test(start_paused = true)]
async fn a_handler_faster_than_sse_after_stays_json() {
    let server = server(McpLayer::new().sse_after(Duration::from_millis(100)));
    let id = server.open_session("2025-11-25").await;
    let start = Instant::now();
    let res = server
        .send(post_in(&id, &request(5, "test/sleep", json!({ "ms": 99 }))))
        .await;
    assert_eq!(start.elapsed(), Duration::from_millis(99));
    assert_eq!(json_reply(res).await["result"]["slept"], 99);
}

#[tokio::test(start_paused = true)]
async fn a_silent_post_stream_carries_keep_alives() {
    let server = server(
        McpLayer::new()
            .sse_after(Duration::from_millis(100))
            .keep_alive(Some(Duration::from_secs(1))),
    );
    // 2025-06-18: no priming event, so the stream is keep-alives and the answer only.
    let id = server.open_session("2025-06-18").await;
    let res = server
        .send(post_in(
            &id,
            &request(5, "test/sleep", json!({ "ms": 2500 })),
        ))
        .await;
    assert_sse_headers(&res);
    let text = String::from_utf8(body_bytes(res).await.to_vec()).unwrap();
    // Stream opened at 0.1 s: keep-alives at 1.1 s and 2.1 s, the answer at 2.5 s.
    let answer = text
        .strip_prefix(":\n\n:\n\n")
        .unwrap_or_else(|| panic!("two keep-alives first: {text:?}"));
    let (id_line, rest) = answer.split_once('\n').unwrap();
    assert!(id_line.starts_with("id: "), "{text:?}");
    assert_eq!(
        rest,
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"slept\":2500}}\n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn json_mode_keeps_json_and_sends_progress_to_the_standalone_stream() {
    let server = server(McpLayer::new().response_mode(ResponseMode::Json));
    let id = server.open_session("2025-11-25").await;
    let start = Instant::now();
    let res = server
        .send(post_in(&id, &countdown(9, 3, 10, Some(json!("j")))))
        .await;
    assert_eq!(start.elapsed(), Duration::from_millis(30));
    let reply = json_reply(res).await;
    assert_eq!(reply["id"], 9);
    assert_eq!(tool_text(&reply), "counted down from 3");
    // The progress could not travel with a JSON reply: it waited for the GET stream.
    let mut stream = server.send(get_stream(&id)).await.into_body();
    for step in 0..4 {
        let message = next_message(&mut stream).await;
        assert_eq!(message["method"], "notifications/progress");
        assert_eq!(message["params"]["progressToken"], "j");
        assert_eq!(message["params"]["progress"], f64::from(step));
    }
}

#[tokio::test(start_paused = true)]
async fn json_mode_answers_a_cancelled_request_with_an_empty_stream() {
    let server = server(McpLayer::new().response_mode(ResponseMode::Json));
    let id = server.open_session("2025-11-25").await;
    let call = server.send(post_in(
        &id,
        &request(7, "test/sleep", json!({ "ms": 60_000 })),
    ));
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let cancel = json!({
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": { "requestId": 7 }
        });
        server.send(post_in(&id, &cancel)).await
    };
    let (res, cancelled) = tokio::join!(call, cancel);
    assert_eq!(cancelled.status(), 202);
    assert_sse_headers(&res);
    assert!(body_bytes(res).await.is_empty(), "no answer, no priming");
}

#[tokio::test(start_paused = true)]
async fn json_mode_never_streams_even_a_slow_handler() {
    let server = server(
        McpLayer::new()
            .response_mode(ResponseMode::Json)
            .sse_after(Duration::from_millis(10)),
    );
    let id = server.open_session("2025-11-25").await;
    let res = server
        .send(post_in(
            &id,
            &request(1, "test/sleep", json!({ "ms": 500 })),
        ))
        .await;
    assert_eq!(json_reply(res).await["result"]["slept"], 500);
}

#[tokio::test]
async fn sse_mode_streams_even_ping() {
    let server = server(McpLayer::new().response_mode(ResponseMode::Sse));
    let id = server.open_session("2025-11-25").await;
    let messages = sse_reply(
        server
            .send(post_in(&id, &request(1, "ping", json!({}))))
            .await,
    )
    .await;
    assert_eq!(
        messages,
        [json!({ "jsonrpc": "2.0", "id": 1, "result": {} })]
    );
}

#[tokio::test]
async fn sse_mode_initialize_carries_the_session_id_on_the_stream_head() {
    let server = server(McpLayer::new().response_mode(ResponseMode::Sse));
    let res = server.send(post(&init_request("2025-06-18"))).await;
    let id = session_id(&res);
    let messages = sse_reply(res).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["result"]["protocolVersion"], "2025-06-18");
    let messages = sse_reply(server.send(post_in(&id, &echo(1, "on"))).await).await;
    assert_eq!(tool_text(&messages[0]), "on");
}

#[tokio::test(start_paused = true)]
async fn concurrent_streams_of_one_session_carry_only_their_own_messages() {
    let server = server(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let a = server.send(post_in(&id, &countdown(1, 3, 10, Some(json!("a")))));
    let b = server.send(post_in(&id, &countdown(2, 3, 15, Some(json!("b")))));
    let (a, b) = tokio::join!(a, b);
    let (a, b) = tokio::join!(sse_reply(a), sse_reply(b));
    assert_countdown(&a, &json!("a"), 1);
    assert_countdown(&b, &json!("b"), 2);
}
