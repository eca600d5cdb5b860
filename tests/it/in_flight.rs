//! Requests in flight: the per-session limit (429), cancellation with
//! `notifications/cancelled` (SPEC.md §1.9), and requests the server sends to the client,
//! answered by a POSTed response (§2.7).

use std::convert::Infallible;
use std::time::Duration;

use http::header::RETRY_AFTER;
use http::StatusCode;
use mcp_tower::{McpLayer, McpRequest, McpResponse, RejectionKind};
use serde_json::{json, Value};

use crate::example;
use crate::support::*;

/// The example handler plus `test/ask` {question}: asks the client's model through sampling.
async fn asking(req: McpRequest) -> Result<McpResponse, Infallible> {
    if req.method() != "test/ask" {
        return example::handle(req).await;
    }
    let question = req.params().map(|p| p["question"].clone());
    let params = json!({
        "messages": [{ "role": "user", "content": { "type": "text", "text": question } }],
        "maxTokens": 20,
    });
    let asked = req
        .context()
        .request("sampling/createMessage", Some(params))
        .await;
    Ok(McpResponse::result(match asked {
        Ok(answer) => json!({ "said": answer["content"]["text"] }),
        Err(e) => json!({ "failed": e.to_string() }),
    }))
}

fn asking_server() -> Server {
    Server::with_handler(McpLayer::new(), tower::service_fn(asking))
}

/// A session whose client declares `sampling`.
async fn sampling_session(server: &Server) -> String {
    let mut init = init_request("2025-11-25");
    init["params"]["capabilities"] = json!({ "sampling": {} });
    let res = server.send(post(&init)).await;
    let id = session_id(&res);
    json_reply(res).await;
    let res = server
        .send(post_in(&id, &notification("notifications/initialized")))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    id
}

fn ask(id: i64, question: &str) -> Value {
    request(id, "test/ask", json!({ "question": question }))
}

#[tokio::test(start_paused = true)]
async fn a_session_at_its_in_flight_limit_gets_429() {
    let server = Server::example(McpLayer::new().max_in_flight(1));
    let id = server.open_session("2025-11-25").await;
    // A silent 3 s call holds the one slot (its reply turns into SSE after 1 s).
    let slow = server.send(post_in(&id, &countdown(1, 3, 1000, None)));
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let refused = server.send(post_in(&id, &echo(2, "x"))).await;
        // Notifications take no slot.
        let note = server
            .send(post_in(
                &id,
                &notification("notifications/roots/list_changed"),
            ))
            .await;
        (refused, note)
    };
    let (slow, (refused, note)) = tokio::join!(slow, meanwhile);
    assert_eq!(note.status(), StatusCode::ACCEPTED);
    let (headers, _) = rejection(
        refused,
        StatusCode::TOO_MANY_REQUESTS,
        RejectionKind::TooManyRequests,
        -32000,
    )
    .await;
    assert!(headers.contains_key(RETRY_AFTER));
    let messages = sse_reply(slow).await;
    assert_eq!(tool_text(messages.last().unwrap()), "counted down from 3");
    // The slot is free again.
    let reply = json_reply(server.send(post_in(&id, &echo(3, "free"))).await).await;
    assert_eq!(tool_text(&reply), "free");
}

#[tokio::test]
async fn every_request_of_a_batch_takes_an_in_flight_slot() {
    let server = Server::example(McpLayer::new().max_in_flight(2));
    let id = server.open_session("2025-03-26").await;
    let batch = |ids: std::ops::Range<i64>| {
        let calls: Vec<Value> = ids.map(|n| echo(n, "x")).collect();
        post_in(&id, &Value::Array(calls))
    };
    rejection(
        server.send(batch(1..4)).await,
        StatusCode::TOO_MANY_REQUESTS,
        RejectionKind::TooManyRequests,
        -32000,
    )
    .await;
    // Two fit, and their slots are free again afterwards.
    for _ in 0..2 {
        let answers = json_reply(server.send(batch(1..3)).await).await;
        assert_eq!(answers.as_array().map(Vec::len), Some(2), "{answers}");
    }
}

#[tokio::test(start_paused = true)]
async fn notifications_cancelled_ends_the_stream_without_an_answer() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    let res = server
        .send(post_in(&id, &countdown(7, 5, 1000, Some(json!("c")))))
        .await;
    assert_sse_headers(&res);
    let mut body = res.into_body();
    let first = next_message(&mut body).await;
    assert_eq!(first["params"]["progress"], 0.0);

    let cancel = json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": { "requestId": 7, "reason": "user pressed stop" },
    });
    let res = server.send(post_in(&id, &cancel)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let rest = messages(&decode(
        &within(http_body_util::BodyExt::collect(body))
            .await
            .unwrap()
            .to_bytes(),
    ));
    assert!(
        rest.iter().all(|(_, m)| m.get("id").is_none()),
        "a cancelled request is not answered: {rest:?}"
    );
    // The session goes on.
    let reply = json_reply(server.send(post_in(&id, &echo(8, "next"))).await).await;
    assert_eq!(tool_text(&reply), "next");
}

#[tokio::test]
async fn cancelling_unknown_or_finished_requests_is_harmless() {
    let server = Server::example(McpLayer::new());
    let id = server.open_session("2025-11-25").await;
    for request_id in [json!(0), json!(12345), json!("nope")] {
        let cancel = json!({
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": { "requestId": request_id },
        });
        let res = server.send(post_in(&id, &cancel)).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let reply = json_reply(server.send(post_in(&id, &echo(1, "fine"))).await).await;
    assert_eq!(tool_text(&reply), "fine");
}

#[tokio::test]
async fn a_sampling_request_travels_on_the_calls_stream_and_its_answer_is_posted_back() {
    let server = asking_server();
    let id = sampling_session(&server).await;
    let res = server.send(post_in(&id, &ask(3, "2+2?"))).await;
    assert_sse_headers(&res);
    let mut body = res.into_body();
    let ask = next_message(&mut body).await;
    assert_eq!(ask["method"], "sampling/createMessage");
    assert_eq!(
        ask["params"]["messages"][0]["content"]["text"], "2+2?",
        "{ask}"
    );
    let server_id = ask["id"].clone();
    assert!(server_id.is_i64() || server_id.is_string(), "{ask}");

    let answer = json!({
        "jsonrpc": "2.0",
        "id": server_id,
        "result": {
            "role": "assistant",
            "content": { "type": "text", "text": "4" },
            "model": "test-model",
        },
    });
    let res = server.send(post_in(&id, &answer)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(body_bytes(res).await.is_empty());

    let reply = next_message(&mut body).await;
    assert_eq!(
        reply,
        json!({ "jsonrpc": "2.0", "id": 3, "result": { "said": "4" } })
    );
    assert!(ends(&mut body).await, "the stream ends after the answer");
}

#[tokio::test]
async fn a_client_error_answer_reaches_the_handler() {
    let server = asking_server();
    let id = sampling_session(&server).await;
    let mut body = server.send(post_in(&id, &ask(3, "2+2?"))).await.into_body();
    let ask = next_message(&mut body).await;
    let declined = json!({
        "jsonrpc": "2.0",
        "id": ask["id"],
        "error": { "code": -1, "message": "User rejected sampling request" },
    });
    assert_eq!(
        server.send(post_in(&id, &declined)).await.status(),
        StatusCode::ACCEPTED
    );
    let reply = next_message(&mut body).await;
    let failed = reply["result"]["failed"].as_str().unwrap_or_default();
    assert!(failed.contains("User rejected sampling request"), "{reply}");
}

#[tokio::test]
async fn without_the_sampling_capability_nothing_is_sent_to_the_client() {
    let server = asking_server();
    // This client declares only `roots`.
    let id = server.open_session("2025-11-25").await;
    let reply = json_reply(server.send(post_in(&id, &ask(3, "2+2?"))).await).await;
    let failed = reply["result"]["failed"].as_str().unwrap_or_default();
    assert!(failed.contains("`sampling` capability"), "{reply}");
}

#[tokio::test]
async fn an_answer_nobody_waits_for_is_still_202() {
    let server = asking_server();
    let id = sampling_session(&server).await;
    let stray = json!({ "jsonrpc": "2.0", "id": 424242, "result": {} });
    let res = server.send(post_in(&id, &stray)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn every_tool_the_example_lists_can_be_called() {
    let server = Server::example(McpLayer::new().sse_after(Duration::from_millis(10)));
    let id = sampling_session(&server).await;
    let tools = json_reply(
        server
            .send(post_in(&id, &request(1, "tools/list", json!({}))))
            .await,
    )
    .await;
    for tool in tools["result"]["tools"].as_array().unwrap() {
        let name = tool["name"].as_str().unwrap();
        let call = request(2, "tools/call", json!({ "name": name, "arguments": {} }));
        let res = server.send(post_in(&id, &call)).await;
        let reply = if res.body().is_sse() {
            // Only the head matters here: the call was accepted and is running.
            continue;
        } else {
            json_reply(res).await
        };
        assert!(
            reply.get("error").is_none(),
            "tools/list names {name}, but tools/call refuses it: {reply}"
        );
    }
}
