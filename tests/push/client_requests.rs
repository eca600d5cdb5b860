//! Requests the server sends to the client (sampling, elicitation, ping) from inside a handler:
//! routing of the answer, capabilities, timeouts with `notifications/cancelled`, progress resets.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_tower::session::RequestOptions;
use mcp_tower::ClientRequestError;
use mcp_tower::{McpLayer, McpRequest, McpResponse};
use serde_json::{json, Value};
use tokio::time::{timeout, Instant};

use crate::support::*;

/// Where a handler reports what its client request returned, and after how long.
type Outcomes = Arc<Mutex<Vec<(Result<Value, ClientRequestError>, Duration)>>>;

/// Calls the `ask` tool of an [`asking`] server in session `sid`, and opens its SSE reply.
async fn ask(svc: &Svc, sid: &str) -> Sse<mcp_tower::McpBody> {
    Sse::of(
        call(
            svc,
            post_with(Some(sid), Some(V_NEW), &tool_call(1, "ask", json!({}))),
        )
        .await,
    )
}

/// A tool that sends `method` to the client with `options` and answers with what came back.
fn asking(
    layer: &McpLayer,
    method: &'static str,
    params: Value,
    options: RequestOptions,
    outcomes: Outcomes,
) -> Svc {
    service(layer, move |req: McpRequest| {
        let (params, outcomes) = (params.clone(), outcomes.clone());
        async move {
            let start = Instant::now();
            let got = req
                .context()
                .request_with(method, Some(params), options)
                .await;
            outcomes
                .lock()
                .unwrap()
                .push((got.clone(), start.elapsed()));
            match got {
                Ok(answer) => McpResponse::result(json!({ "answer": answer })),
                Err(e) => McpResponse::result(json!({ "isError": true, "error": e.to_string() })),
            }
        }
    })
}

fn sampling_params() -> Value {
    json!({
        "messages": [{ "role": "user", "content": { "type": "text", "text": "6 x 7?" } }],
        "maxTokens": 10,
    })
}

#[tokio::test]
async fn sampling_round_trip_over_http() {
    let outcomes = Outcomes::default();
    let layer = McpLayer::new();
    let svc = asking(
        &layer,
        "sampling/createMessage",
        sampling_params(),
        RequestOptions::new(),
        outcomes.clone(),
    );
    let server = serve(svc).await;
    let http = client();
    let sid = http_initialize(&http, &server.url, V_NEW, json!({ "sampling": {} })).await;

    let res = http_post(
        &http,
        &server.url,
        Some(&sid),
        V_NEW,
        &tool_call(1, "ask", json!({})),
    )
    .await;
    let mut sse = http_sse(res);
    assert!(sse.next().await.unwrap().is_priming());
    let (id, request) = sse.next_message().await.unwrap();
    assert!(
        id.is_some(),
        "a request on a session stream carries an event id"
    );
    assert_eq!(request["method"], "sampling/createMessage");
    assert_eq!(request["params"], sampling_params());
    let request_id = request["id"].clone();
    assert!(request_id.is_i64() || request_id.is_string(), "{request}");

    let answer = json!({
        "role": "assistant", "model": "test-model", "stopReason": "endTurn",
        "content": { "type": "text", "text": "42" },
    });
    let posted = http_post(
        &http,
        &server.url,
        Some(&sid),
        V_NEW,
        &response(&request_id, answer.clone()),
    )
    .await;
    assert_eq!(posted.status(), 202);
    assert!(posted.bytes().await.unwrap().is_empty(), "202 has no body");

    let (_, reply) = sse.next_message().await.unwrap();
    assert_eq!(reply["id"], 1);
    assert_eq!(reply["result"]["answer"], answer);
    assert!(
        sse.next().await.is_none(),
        "the stream ends after the response"
    );
    assert_eq!(outcomes.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_answer_from_another_session_is_not_taken() {
    let outcomes = Outcomes::default();
    let layer = McpLayer::new();
    let params = json!({ "message": "Your name?", "requestedSchema": { "type": "object", "properties": { "name": { "type": "string" } } } });
    let svc = asking(
        &layer,
        "elicitation/create",
        params,
        RequestOptions::new(),
        outcomes.clone(),
    );
    let caps = json!({ "elicitation": {} });
    let alice = initialize(&svc, V_NEW, caps.clone()).await;
    let mallory = initialize(&svc, V_NEW, caps).await;

    let mut a = ask(&svc, &alice).await;
    let (_, a_req) = a.next_message().await.unwrap();
    assert_eq!(a_req["method"], "elicitation/create");
    let a_id = a_req["id"].clone();

    // Mallory answers Alice's request id from her own session, while she waits for nothing.
    let status = client_answer(
        &svc,
        &mallory,
        V_NEW,
        &a_id,
        json!({ "action": "accept", "content": { "name": "mallory" } }),
    )
    .await;
    assert_eq!(status, 202, "an answer nobody waits for is still accepted");
    assert!(
        timeout(Duration::from_secs(5), a.next_message())
            .await
            .is_err(),
        "Alice's request must not be completed by another session's answer"
    );

    // Mallory's own session has a request with (possibly) the same numeric id: her answer
    // completes hers, never Alice's.
    let mut m = ask(&svc, &mallory).await;
    let (_, m_req) = m.next_message().await.unwrap();
    let status = client_answer(
        &svc,
        &mallory,
        V_NEW,
        &m_req["id"],
        json!({ "action": "accept", "content": { "name": "mallory" } }),
    )
    .await;
    assert_eq!(status, 202);
    let (_, m_reply) = m.next_message().await.unwrap();
    assert_eq!(m_reply["result"]["answer"]["content"]["name"], "mallory");
    assert!(timeout(Duration::from_secs(5), a.next_message())
        .await
        .is_err());

    // The right session completes it.
    let status = client_answer(
        &svc,
        &alice,
        V_NEW,
        &a_id,
        json!({ "action": "accept", "content": { "name": "alice" } }),
    )
    .await;
    assert_eq!(status, 202);
    let (_, a_reply) = a.next_message().await.unwrap();
    assert_eq!(a_reply["id"], 1);
    assert_eq!(a_reply["result"]["answer"]["content"]["name"], "alice");
    assert!(a.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_missing_capability_fails_at_once_and_sends_nothing() {
    for (method, capability) in [
        ("sampling/createMessage", "sampling"),
        ("elicitation/create", "elicitation"),
        ("roots/list", "roots"),
    ] {
        let outcomes = Outcomes::default();
        let layer = McpLayer::new();
        let svc = asking(
            &layer,
            method,
            json!({}),
            RequestOptions::new(),
            outcomes.clone(),
        );
        // The client declares every other capability, and `capability: null`.
        let mut caps = json!({ "sampling": {}, "elicitation": {}, "roots": {} });
        caps[capability] = Value::Null;
        let sid = initialize(&svc, V_NEW, caps).await;
        let res = call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(3, "ask", json!({}))),
        )
        .await;
        // Nothing was sent to the client, so the reply is plain JSON.
        assert_eq!(
            res.headers()["content-type"],
            "application/json",
            "{method}"
        );
        let reply = json_body(res).await;
        assert_eq!(reply["result"]["isError"], true, "{reply}");
        let (got, after) = outcomes.lock().unwrap().pop().unwrap();
        assert_eq!(
            got,
            Err(ClientRequestError::CapabilityMissing {
                method: method.to_owned(),
                capability
            })
        );
        assert_eq!(after, Duration::ZERO, "{method}: must fail without waiting");
    }
}

/// Reads a stream up to the client request, returning its id.
async fn read_request(sse: &mut Sse<mcp_tower::McpBody>, method: &str) -> Value {
    let (_, req) = sse.next_message().await.unwrap();
    assert_eq!(req["method"], method, "{req}");
    req["id"].clone()
}

/// The next message must be `notifications/cancelled` for `id`.
async fn expect_cancelled(sse: &mut Sse<mcp_tower::McpBody>, id: &Value) {
    let (_, note) = sse.next_message().await.unwrap();
    assert_eq!(note["method"], "notifications/cancelled", "{note}");
    assert_eq!(&note["params"]["requestId"], id, "{note}");
    assert!(note.get("id").is_none(), "a notification has no id");
}

#[tokio::test(start_paused = true)]
async fn the_layer_timeout_cancels_the_request() {
    let outcomes = Outcomes::default();
    let layer = McpLayer::new().client_request_timeout(Duration::from_secs(10));
    let svc = asking(
        &layer,
        "ping",
        json!({}),
        RequestOptions::new(),
        outcomes.clone(),
    );
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let start = Instant::now();
    let mut sse = ask(&svc, &sid).await;
    let id = read_request(&mut sse, "ping").await;
    expect_cancelled(&mut sse, &id).await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    let (_, reply) = sse.next_message().await.unwrap();
    assert_eq!(reply["result"]["isError"], true);
    assert!(sse.next().await.is_none());
    let (got, after) = outcomes.lock().unwrap().pop().unwrap();
    assert_eq!(
        got,
        Err(ClientRequestError::Timeout(Duration::from_secs(10)))
    );
    assert_eq!(after, Duration::from_secs(10));

    // A late answer is accepted (202) and changes nothing.
    assert_eq!(client_answer(&svc, &sid, V_NEW, &id, json!({})).await, 202);
}

#[tokio::test(start_paused = true)]
async fn a_per_call_timeout_overrides_the_layer() {
    let outcomes = Outcomes::default();
    let layer = McpLayer::new(); // 60 s by default
    let opts = RequestOptions::new().timeout(Duration::from_secs(3));
    let svc = asking(&layer, "ping", json!({}), opts, outcomes.clone());
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let mut sse = ask(&svc, &sid).await;
    let id = read_request(&mut sse, "ping").await;
    expect_cancelled(&mut sse, &id).await;
    let _ = sse.rest().await;
    let (got, _) = outcomes.lock().unwrap().pop().unwrap();
    assert_eq!(
        got,
        Err(ClientRequestError::Timeout(Duration::from_secs(3)))
    );
}

/// A `ping` the `ask` tool sent to the client with `options`, in a fresh session, and read off
/// the tool call's stream.
struct Pinged {
    svc: Svc,
    sid: String,
    /// The tool call's stream, past the ping.
    sse: Sse<mcp_tower::McpBody>,
    /// The ping as the client received it.
    req: Value,
    /// When the tool was called.
    start: Instant,
}

async fn ping_with(options: RequestOptions, outcomes: &Outcomes) -> Pinged {
    let svc = asking(
        &McpLayer::new(),
        "ping",
        json!({}),
        options,
        outcomes.clone(),
    );
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let start = Instant::now();
    let mut sse = ask(&svc, &sid).await;
    let (_, req) = sse.next_message().await.unwrap();
    assert_eq!(req["method"], "ping", "{req}");
    Pinged {
        svc,
        sid,
        sse,
        req,
        start,
    }
}

/// POSTs `notifications/progress` for the client request's token.
async fn client_progress(svc: &Svc, sid: &str, token: &Value, n: u32) {
    let status = client_notify(
        svc,
        sid,
        V_NEW,
        "notifications/progress",
        json!({ "progressToken": token, "progress": n }),
    )
    .await;
    assert_eq!(status, 202);
}

#[tokio::test(start_paused = true)]
async fn progress_extends_the_timeout_up_to_the_hard_maximum() {
    let outcomes = Outcomes::default();
    let opts = RequestOptions::new()
        .timeout(Duration::from_secs(10))
        .reset_on_progress(Duration::from_secs(25));
    let Pinged {
        svc,
        sid,
        mut sse,
        req,
        start,
    } = ping_with(opts, &outcomes).await;
    let id = req["id"].clone();
    let token = req["params"]["_meta"]["progressToken"].clone();
    assert!(
        !token.is_null(),
        "a request that resets on progress carries a progressToken: {req}"
    );

    // Progress at 8 s and 16 s: without it, the request would time out at 10 s.
    tokio::time::sleep_until(start + Duration::from_secs(8)).await;
    client_progress(&svc, &sid, &token, 1).await;
    tokio::time::sleep_until(start + Duration::from_secs(16)).await;
    client_progress(&svc, &sid, &token, 2).await;
    // The deadline is now 26 s, but the hard maximum is 25 s.
    expect_cancelled(&mut sse, &id).await;
    assert_eq!(start.elapsed(), Duration::from_secs(25));
    let _ = sse.rest().await;
    let (got, _) = outcomes.lock().unwrap().pop().unwrap();
    assert_eq!(
        got,
        Err(ClientRequestError::Timeout(Duration::from_secs(25)))
    );
}

#[tokio::test(start_paused = true)]
async fn progress_then_an_answer_completes_after_the_first_deadline() {
    let outcomes = Outcomes::default();
    let opts = RequestOptions::new()
        .timeout(Duration::from_secs(10))
        .reset_on_progress(Duration::from_secs(60));
    let Pinged {
        svc,
        sid,
        mut sse,
        req,
        start,
    } = ping_with(opts, &outcomes).await;
    let token = req["params"]["_meta"]["progressToken"].clone();
    tokio::time::sleep_until(start + Duration::from_secs(8)).await;
    client_progress(&svc, &sid, &token, 1).await;
    tokio::time::sleep_until(start + Duration::from_secs(15)).await;
    assert_eq!(
        client_answer(&svc, &sid, V_NEW, &req["id"], json!({ "ok": true })).await,
        202
    );
    let (_, reply) = sse.next_message().await.unwrap();
    assert_eq!(reply["result"]["answer"], json!({ "ok": true }));
    let (got, after) = outcomes.lock().unwrap().pop().unwrap();
    assert_eq!(got, Ok(json!({ "ok": true })));
    assert_eq!(after, Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn progress_does_not_extend_a_request_without_reset_on_progress() {
    let outcomes = Outcomes::default();
    let opts = RequestOptions::new().timeout(Duration::from_secs(10));
    let Pinged {
        svc,
        sid,
        mut sse,
        req,
        start,
    } = ping_with(opts, &outcomes).await;
    // Whatever token the client guesses (the request id), progress changes nothing.
    tokio::time::sleep_until(start + Duration::from_secs(8)).await;
    client_progress(&svc, &sid, &req["id"], 1).await;
    expect_cancelled(&mut sse, &req["id"]).await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    let (got, _) = outcomes.lock().unwrap().pop().unwrap();
    assert_eq!(
        got,
        Err(ClientRequestError::Timeout(Duration::from_secs(10)))
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_answer_reaches_the_handler() {
    let outcomes = Outcomes::default();
    let layer = McpLayer::new();
    let svc = asking(
        &layer,
        "sampling/createMessage",
        sampling_params(),
        RequestOptions::new(),
        outcomes.clone(),
    );
    let sid = initialize(&svc, V_NEW, json!({ "sampling": {} })).await;
    let mut sse = ask(&svc, &sid).await;
    let id = read_request(&mut sse, "sampling/createMessage").await;
    let body =
        json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -1, "message": "user declined" } });
    assert_eq!(
        call(&svc, post_with(Some(&sid), Some(V_NEW), &body))
            .await
            .status(),
        202
    );
    let _ = sse.rest().await;
    let (got, _) = outcomes.lock().unwrap().pop().unwrap();
    match got {
        Err(ClientRequestError::Client(e)) => {
            assert_eq!((e.code, e.message.as_str()), (-1, "user declined"))
        }
        other => panic!("expected the client's error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_the_handler_gives_up_on_is_cancelled() {
    let layer = McpLayer::new();
    let svc = service(&layer, |req: McpRequest| async move {
        let ctx = req.context();
        tokio::select! {
            got = ctx.request("sampling/createMessage", Some(sampling_params())) => {
                McpResponse::result(json!({ "unexpected": format!("{got:?}") }))
            }
            () = tokio::time::sleep(Duration::from_secs(5)) => McpResponse::result(json!({ "gave_up": true })),
        }
    });
    let sid = initialize(&svc, V_NEW, json!({ "sampling": {} })).await;
    let start = Instant::now();
    let mut sse = ask(&svc, &sid).await;
    let id = read_request(&mut sse, "sampling/createMessage").await;
    expect_cancelled(&mut sse, &id).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let (_, reply) = sse.next_message().await.unwrap();
    assert_eq!(reply["result"]["gave_up"], true);
    assert!(sse.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_handler_cancels_its_request_to_the_client() {
    let layer = McpLayer::new();
    let svc = service(&layer, |req: McpRequest| async move {
        let got = req
            .context()
            .request("sampling/createMessage", Some(sampling_params()))
            .await;
        McpResponse::result(json!({ "unexpected": format!("{got:?}") }))
    });
    let sid = initialize(&svc, V_NEW, json!({ "sampling": {} })).await;
    let mut sse = ask(&svc, &sid).await;
    let id = read_request(&mut sse, "sampling/createMessage").await;
    let status = client_notify(
        &svc,
        &sid,
        V_NEW,
        "notifications/cancelled",
        json!({ "requestId": 1 }),
    )
    .await;
    assert_eq!(status, 202);
    // The abandoned sampling request is withdrawn, and no response follows.
    let rest = timeout(Duration::from_secs(60), sse.rest()).await.unwrap();
    let msgs = messages(&rest);
    assert_eq!(msgs.len(), 1, "{rest:?}");
    assert_eq!(msgs[0].1["method"], "notifications/cancelled");
    assert_eq!(msgs[0].1["params"]["requestId"], id);
    // Its late answer is accepted and ignored.
    assert_eq!(client_answer(&svc, &sid, V_NEW, &id, json!({})).await, 202);
}

#[tokio::test(start_paused = true)]
async fn requests_to_the_client_need_a_session() {
    let outcomes = Outcomes::default();
    let layer = McpLayer::new().stateless(true);
    let svc = asking(
        &layer,
        "ping",
        json!({}),
        RequestOptions::new(),
        outcomes.clone(),
    );
    let res = call(
        &svc,
        post_with(None, Some(V_NEW), &tool_call(1, "ask", json!({}))),
    )
    .await;
    assert_eq!(res.status(), 200);
    let _ = reply_json(res).await;
    let (got, after) = outcomes.lock().unwrap().pop().unwrap();
    assert_eq!(got, Err(ClientRequestError::NoSession));
    assert_eq!(after, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn with_a_json_reply_the_request_goes_on_the_get_stream() {
    let outcomes = Outcomes::default();
    let layer = McpLayer::new().response_mode(mcp_tower::ResponseMode::Json);
    let svc = asking(
        &layer,
        "sampling/createMessage",
        sampling_params(),
        RequestOptions::new(),
        outcomes.clone(),
    );
    let sid = initialize(&svc, V_NEW, json!({ "sampling": {} })).await;
    let mut get_stream = Sse::of(call(&svc, get(&sid, V_NEW, None)).await);
    let pending = tokio::spawn(call_owned(
        svc.clone(),
        post_with(Some(&sid), Some(V_NEW), &tool_call(1, "ask", json!({}))),
    ));
    let (_, req) = within(get_stream.next_message()).await.unwrap();
    assert_eq!(req["method"], "sampling/createMessage");
    assert_eq!(
        client_answer(&svc, &sid, V_NEW, &req["id"], json!({ "text": "via GET" })).await,
        202
    );
    let res = within(pending).await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(json_body(res).await["result"]["answer"]["text"], "via GET");
}

async fn call_owned(svc: Svc, req: http::Request<Body>) -> http::Response<mcp_tower::McpBody> {
    call(&svc, req).await
}

#[tokio::test(start_paused = true)]
async fn a_2025_03_26_batch_of_answers_completes_every_request() {
    batch_of_answers(McpLayer::new()).await;
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_answers_is_not_refused_at_max_in_flight() {
    batch_of_answers(McpLayer::new().max_in_flight(1)).await;
}

/// A tool waits for two pings; the client answers both in one 2025-03-26 batch.
async fn batch_of_answers(layer: McpLayer) {
    const V_BATCH: &str = "2025-03-26";
    let svc = service(&layer, |req: McpRequest| async move {
        let ctx = req.context();
        let (a, b) = tokio::join!(ctx.request("ping", None), ctx.request("ping", None));
        McpResponse::result(json!({ "a": a.is_ok(), "b": b.is_ok() }))
    });
    let sid = initialize(&svc, V_BATCH, json!({})).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_BATCH), &tool_call(1, "two", json!({}))),
        )
        .await,
    );
    let (_, first) = within(sse.next_message()).await.unwrap();
    let (_, second) = within(sse.next_message()).await.unwrap();
    // Both answers in one batch, while the tool call is in flight (with max_in_flight(1) it
    // holds the session's only slot: answers are not requests and must not be refused for it).
    let batch = json!([
        response(&first["id"], json!({})),
        response(&second["id"], json!({}))
    ]);
    let res = call(&svc, post_with(Some(&sid), Some(V_BATCH), &batch)).await;
    assert_eq!(res.status(), 202);
    let (_, reply) = within(sse.next_message()).await.unwrap();
    assert_eq!(reply["result"], json!({ "a": true, "b": true }));
}
