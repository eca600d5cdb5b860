//! Multi-round-trip requests (2026-07-28, SPEC.md §3): one handler written with
//! `ctx.request` asks the client for input in both eras. On a 2026 request the call ends with an
//! `InputRequiredResult` and the retry's `inputResponses` answer the same calls; the signed
//! `requestState` carries earlier answers and is refused when tampered with, expired, foreign,
//! oversized or signed by an unknown key. In a 2025 session the same handler sends real
//! server→client requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use mcp_tower::mrtr::{InputRequired, RequestStateKeys};
use mcp_tower::{code, ClientRequestError, McpLayer, McpRequest, McpResponse};
use serde_json::{json, Value};

use crate::support::*;

const V26: &str = "2026-07-28";

fn form(message: &str, field: &str) -> Value {
    json!({
        "message": message,
        "requestedSchema": { "type": "object", "properties": { field: { "type": "string" } } },
    })
}

fn accept(field: &str, value: &str) -> Value {
    json!({ "action": "accept", "content": { field: value } })
}

/// The handler under test, written once for both eras: `greet` asks two questions, one after
/// the other (the first under its default key, the second under `color`); `tools/list` tries to
/// ask too. `runs` counts how often `greet` starts.
fn greeter(runs: Arc<AtomicUsize>) -> Handler {
    handler(move |req: McpRequest| {
        let runs = runs.clone();
        async move {
            let ctx = req.context();
            if req.method() == "tools/list" {
                let refused = ctx.request("roots/list", None).await;
                assert_eq!(refused, Err(ClientRequestError::NoSession));
                return McpResponse::result(json!({ "tools": [] }));
            }
            runs.fetch_add(1, Ordering::SeqCst);
            let name = match ctx
                .request("elicitation/create", Some(form("Your name?", "name")))
                .await
            {
                Ok(answer) => answer["content"]["name"].clone(),
                Err(e) => return McpResponse::invalid_params(e.to_string()),
            };
            let color = match ctx
                .request_as(
                    "color",
                    "elicitation/create",
                    Some(form("Favourite color?", "color")),
                )
                .await
            {
                Ok(answer) => answer["content"]["color"].clone(),
                Err(e) => return McpResponse::invalid_params(e.to_string()),
            };
            let text = format!(
                "{} likes {}",
                name.as_str().unwrap_or("?"),
                color.as_str().unwrap_or("?")
            );
            McpResponse::result(json!({ "content": [{ "type": "text", "text": text }] }))
        }
    })
}

/// A 2026 `tools/call` of `tool` with these extra params (`inputResponses`, `requestState`),
/// declaring `capabilities`, with `headers` added.
fn call_26(
    tool: &str,
    extra: Value,
    capabilities: Value,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut params = json!({
        "name": tool,
        "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": V26,
        },
    });
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    if let (Value::Object(params), Value::Object(extra)) = (&mut params, extra) {
        params.extend(extra);
    }
    let mut b = post_builder()
        .header("mcp-protocol-version", V26)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool);
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.body(raw(request(7, "tools/call", params).to_string()))
        .unwrap()
}

fn elicits() -> Value {
    json!({ "elicitation": {} })
}

fn server(layer: McpLayer) -> (Server, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    (Server::with_handler(layer, greeter(runs.clone())), runs)
}

/// Round 1: the `InputRequiredResult` asking the name; returns its `requestState`.
async fn first_round(server: &Server) -> String {
    let reply = json_reply(
        server
            .send(call_26("greet", json!({}), elicits(), &[]))
            .await,
    )
    .await;
    let result = &reply["result"];
    assert_eq!(result["resultType"], "input_required", "{reply}");
    let questions = result["inputRequests"].as_object().unwrap();
    assert_eq!(questions.len(), 1, "{reply}");
    assert_eq!(questions["elicitation_0"]["method"], "elicitation/create");
    assert_eq!(
        questions["elicitation_0"]["params"],
        form("Your name?", "name")
    );
    result["requestState"].as_str().unwrap().to_owned()
}

/// Round 2: the name answered; the result asks the color and carries the name in its state.
async fn second_round(server: &Server, state: &str) -> String {
    let extra = json!({
        "inputResponses": { "elicitation_0": accept("name", "Ada") },
        "requestState": state,
    });
    let reply = json_reply(server.send(call_26("greet", extra, elicits(), &[])).await).await;
    let result = &reply["result"];
    assert_eq!(result["resultType"], "input_required", "{reply}");
    assert_eq!(
        result["inputRequests"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["color"]
    );
    let next = result["requestState"].as_str().unwrap();
    assert_ne!(next, state, "each round has its own state");
    next.to_owned()
}

/// Round 3: only the color is sent; the name comes from the state.
async fn last_round(server: &Server, state: &str) -> Value {
    let extra = json!({
        "inputResponses": { "color": accept("color", "blue") },
        "requestState": state,
    });
    json_body(server.send(call_26("greet", extra, elicits(), &[])).await).await
}

/// The error of a reply to request 7 (the id is echoed), checked for `code`; its message.
fn error_of(reply: &Value, code: i64) -> String {
    assert_eq!(reply["id"], 7, "{reply}");
    assert_eq!(reply["error"]["code"], code, "{reply}");
    reply["error"]["message"].as_str().unwrap().to_owned()
}

fn assert_refused(reply: &Value, says: &str) {
    let message = error_of(reply, code::INVALID_PARAMS);
    assert!(message.contains(says), "{message}");
    assert_eq!(reply["id"], 7);
}

#[tokio::test]
async fn the_same_calls_resolve_from_the_answers_over_several_rounds() {
    let (server, runs) = server(McpLayer::new());
    let state = first_round(&server).await;
    let state = second_round(&server, &state).await;
    let reply = last_round(&server, &state).await;
    assert_eq!(reply["result"]["resultType"], "complete", "{reply}");
    assert_eq!(tool_text(&reply), "Ada likes blue");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "the handler runs once per round"
    );

    // Answers sent without any state are answers all the same (the client sends them anyway).
    let extra = json!({
        "inputResponses": {
            "elicitation_0": accept("name", "Bo"),
            "color": accept("color", "red"),
            "unrelated": accept("x", "y"),
        },
    });
    let reply = json_body(server.send(call_26("greet", extra, elicits(), &[])).await).await;
    assert_eq!(tool_text(&reply), "Bo likes red");
}

#[tokio::test]
async fn methods_that_cannot_ask_never_answer_input_required() {
    let (server, _) = server(McpLayer::new());
    let params = json!({
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": V26,
            "io.modelcontextprotocol/clientCapabilities": { "roots": {} },
        },
    });
    let req = post_builder()
        .header("mcp-protocol-version", V26)
        .header("mcp-method", "tools/list")
        .body(raw(request(1, "tools/list", params).to_string()))
        .unwrap();
    let reply = json_reply(server.send(req).await).await;
    assert_eq!(reply["result"]["tools"], json!([]), "{reply}");
}

#[tokio::test]
async fn a_tampered_state_is_refused_before_the_handler_runs() {
    let (server, runs) = server(McpLayer::new());
    let state = first_round(&server).await;
    // Change one character of the payload (the middle part).
    let mut parts: Vec<String> = state.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let c = if payload.starts_with('e') { "f" } else { "e" };
    payload.replace_range(0..1, c);
    let tampered = parts.join(".");
    for bad in [tampered, format!("{state}-TAMPERED"), "garbage".to_owned()] {
        let extra = json!({
            "inputResponses": { "elicitation_0": accept("name", "Eve") },
            "requestState": bad,
        });
        let reply = json_body(server.send(call_26("greet", extra, elicits(), &[])).await).await;
        assert_refused(&reply, "requestState");
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "only the first round ran the handler"
    );
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let layer = McpLayer::new().request_state_ttl(Duration::from_millis(50));
    let (server, _) = server(layer);
    let state = first_round(&server).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let extra = json!({
        "inputResponses": { "elicitation_0": accept("name", "Ada") },
        "requestState": state,
    });
    let reply = json_body(server.send(call_26("greet", extra, elicits(), &[])).await).await;
    assert_refused(&reply, "expired");
}

#[tokio::test]
async fn keys_rotate_the_old_one_verifies_the_new_one_signs() {
    let old = b"the old secret, 32 bytes long...".to_vec();
    let new = b"the new secret, 32 bytes long...".to_vec();
    let before =
        server(McpLayer::new().request_state_keys(RequestStateKeys::new("k1", old.clone()))).0;
    let during = server(
        McpLayer::new()
            .request_state_keys(RequestStateKeys::new("k2", new.clone()).verify_also("k1", old)),
    )
    .0;
    let after = server(McpLayer::new().request_state_keys(RequestStateKeys::new("k2", new))).0;

    let state = first_round(&before).await;
    // The node with only the new key does not know "k1".
    let extra = json!({ "inputResponses": { "elicitation_0": accept("name", "Ada") }, "requestState": state });
    let reply = json_body(after.send(call_26("greet", extra, elicits(), &[])).await).await;
    assert_refused(&reply, "key");
    // During the rotation the old state verifies, and the next one is signed with the new key.
    let state = second_round(&during, &state).await;
    let reply = last_round(&after, &state).await;
    assert_eq!(tool_text(&reply), "Ada likes blue", "{reply}");
}

#[tokio::test]
async fn a_state_only_serves_the_call_and_principal_it_was_made_for() {
    let layer = McpLayer::new().bind_sessions_to(|head| {
        head.headers
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let (server, _) = server(layer);
    let alice = [("x-user", "alice")];
    let reply = json_reply(
        server
            .send(call_26("greet", json!({}), elicits(), &alice))
            .await,
    )
    .await;
    let state = reply["result"]["requestState"].as_str().unwrap().to_owned();
    let extra = || json!({ "inputResponses": { "elicitation_0": accept("name", "Ada") }, "requestState": state });

    let bob = [("x-user", "bob")];
    let reply = json_body(
        server
            .send(call_26("greet", extra(), elicits(), &bob))
            .await,
    )
    .await;
    assert_refused(&reply, "another request");
    let reply = json_body(
        server
            .send(call_26("other", extra(), elicits(), &alice))
            .await,
    )
    .await;
    assert_refused(&reply, "another request");
    // Alice, on the same tool, goes on.
    let reply = json_reply(
        server
            .send(call_26("greet", extra(), elicits(), &alice))
            .await,
    )
    .await;
    assert_eq!(
        reply["result"]["inputRequests"]["color"]["method"],
        "elicitation/create"
    );
}

#[tokio::test]
async fn states_are_size_capped_both_ways() {
    let (server, _) = server(McpLayer::new().max_request_state_bytes(300));
    let state = first_round(&server).await;
    // A name long enough that the next state would not fit.
    let long = "x".repeat(400);
    let extra = json!({ "inputResponses": { "elicitation_0": accept("name", &long) }, "requestState": state });
    let reply = json_body(server.send(call_26("greet", extra, elicits(), &[])).await).await;
    let message = error_of(&reply, code::INTERNAL_ERROR);
    assert!(message.contains("300-byte"), "{message}");
    // An incoming state over the cap is not even decoded.
    let extra = json!({ "requestState": "a".repeat(301) });
    let reply = json_body(server.send(call_26("greet", extra, elicits(), &[])).await).await;
    assert_refused(&reply, "larger");
}

#[tokio::test]
async fn malformed_input_responses_are_invalid_params() {
    let (server, runs) = server(McpLayer::new());
    for extra in [
        json!({ "inputResponses": null }),
        json!({ "inputResponses": { "elicitation_0": 12345 } }),
        json!({ "requestState": 1 }),
    ] {
        let reply = json_body(server.send(call_26("greet", extra, elicits(), &[])).await).await;
        assert_refused(&reply, "");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_capability_the_request_did_not_declare_is_32021() {
    let (server, _) = server(McpLayer::new());
    let res = server
        .send(call_26("greet", json!({}), json!({ "sampling": {} }), &[]))
        .await;
    assert_eq!(res.status(), 400);
    let reply = json_body(res).await;
    error_of(&reply, code::MISSING_REQUIRED_CLIENT_CAPABILITY);
    assert_eq!(
        reply["error"]["data"]["requiredCapabilities"],
        json!({ "elicitation": {} })
    );
    assert_eq!(reply["id"], 7);
}

#[tokio::test]
async fn the_same_handler_sends_real_requests_in_a_2025_session() {
    let runs = Arc::new(AtomicUsize::new(0));
    let svc: Svc = tower::Layer::layer(&McpLayer::new(), greeter(runs.clone()));
    let sid = initialize(&svc, V_NEW, elicits()).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "greet", json!({}))),
        )
        .await,
    );
    for (field, value) in [("name", "Ada"), ("color", "blue")] {
        let (_, asked) = within(sse.next_message()).await.unwrap();
        assert_eq!(asked["method"], "elicitation/create", "{asked}");
        assert!(asked["params"]["requestedSchema"]["properties"]
            .get(field)
            .is_some());
        let status = client_answer(&svc, &sid, V_NEW, &asked["id"], accept(field, value)).await;
        assert_eq!(status, 202);
    }
    let (_, reply) = within(sse.next_message()).await.unwrap();
    assert_eq!(reply["id"], 1);
    assert_eq!(tool_text(&reply), "Ada likes blue");
    assert!(
        reply["result"].get("resultType").is_none(),
        "no 2026 fields in a session"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one run, no retries");
}

#[tokio::test]
async fn explicit_results_get_their_state_signed_and_handed_back() {
    let handler = handler(|req: McpRequest| async move {
        let ctx = req.context();
        match (ctx.request_state(), ctx.input_response("confirm")) {
            (Some("step-2"), Some(answer)) => McpResponse::result(json!({
                "content": [{ "type": "text", "text": format!("confirmed: {}", answer["action"]) }],
            })),
            _ => InputRequired::new()
                .ask("confirm", "elicitation/create", form("Sure?", "ok"))
                .request_state("step-2")
                .into(),
        }
    });
    let server = Server::with_handler(McpLayer::new(), handler);
    let reply = json_reply(server.send(call_26("t", json!({}), elicits(), &[])).await).await;
    let state = reply["result"]["requestState"].as_str().unwrap().to_owned();
    assert_ne!(
        state, "step-2",
        "the handler's state travels inside the signed one"
    );
    // Without the state, the handler's own state is not there: it asks again.
    let extra = json!({ "inputResponses": { "confirm": { "action": "accept" } } });
    let reply = json_reply(server.send(call_26("t", extra, elicits(), &[])).await).await;
    assert_eq!(reply["result"]["resultType"], "input_required");
    let extra =
        json!({ "inputResponses": { "confirm": { "action": "accept" } }, "requestState": state });
    let reply = json_reply(server.send(call_26("t", extra, elicits(), &[])).await).await;
    assert_eq!(tool_text(&reply), "confirmed: \"accept\"");
}

#[tokio::test]
async fn a_resource_read_state_is_bound_to_its_uri() {
    let handler = handler(|req: McpRequest| async move {
        let answer = req.context().request("roots/list", Some(json!({}))).await;
        match answer {
            Ok(roots) => McpResponse::result(json!({
                "contents": [{ "uri": req.params().unwrap()["uri"], "text": roots.to_string() }],
            })),
            Err(e) => McpResponse::invalid_params(e.to_string()),
        }
    });
    let server = Server::with_handler(McpLayer::new(), handler);
    let read = |uri: &str, extra: Value| {
        let mut params = json!({
            "uri": uri,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": V26,
                "io.modelcontextprotocol/clientCapabilities": { "roots": {} },
            },
        });
        if let (Value::Object(params), Value::Object(extra)) = (&mut params, extra) {
            params.extend(extra);
        }
        post_builder()
            .header("mcp-protocol-version", V26)
            .header("mcp-method", "resources/read")
            .header("mcp-name", uri)
            .body(raw(request(7, "resources/read", params).to_string()))
            .unwrap()
    };
    let reply = json_reply(server.send(read("file:///a", json!({}))).await).await;
    assert_eq!(
        reply["result"]["inputRequests"]["roots_0"]["method"],
        "roots/list"
    );
    let state = reply["result"]["requestState"].as_str().unwrap().to_owned();
    let extra = json!({ "inputResponses": { "roots_0": { "roots": [] } }, "requestState": state });
    let reply = json_body(server.send(read("file:///b", extra.clone())).await).await;
    assert_refused(&reply, "another request");
    let reply = json_reply(server.send(read("file:///a", extra)).await).await;
    assert_eq!(reply["result"]["contents"][0]["text"], r#"{"roots":[]}"#);
}
