//! Priming events, server-side polling (SEP-1699), and slow consumers.

use std::sync::Arc;
use std::time::Duration;

use mcp_tower::{McpBody, McpLayer, McpRequest, McpResponse, PollingPolicy, ResponseMode};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::support::*;

/// A tool that sends one progress step, waits for a permit, sends another and answers.
fn two_step(
    layer: &McpLayer,
    close_itself: bool,
) -> (Svc, Arc<Semaphore>, mpsc::UnboundedReceiver<bool>) {
    let gate = Arc::new(Semaphore::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    let g = gate.clone();
    let svc = service(layer, move |req: McpRequest| {
        let (g, tx) = (g.clone(), tx.clone());
        async move {
            let ctx = req.context();
            ctx.progress(1.0, Some(2.0), None);
            g.acquire().await.unwrap().forget();
            if close_itself {
                let _ = tx.send(ctx.close_sse_stream());
            }
            ctx.progress(2.0, Some(2.0), None);
            McpResponse::result(json!({ "done": true }))
        }
    });
    (svc, gate, rx)
}

#[tokio::test(start_paused = true)]
async fn a_2025_11_25_post_stream_starts_with_a_priming_event() {
    let layer = McpLayer::new().retry_interval(Duration::from_millis(1500));
    let (svc, gate, _) = two_step(&layer, false);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "two", json!({}))),
        )
        .await,
    );
    let first = sse.next().await.unwrap();
    assert!(first.is_priming(), "{first:?}");
    assert_eq!(first.retry, Some(1500), "{first:?}");
    assert!(
        first.raw.contains("\ndata:"),
        "the priming event carries an empty data field: {:?}",
        first.raw
    );
    assert!(first.raw.starts_with("id: "), "{:?}", first.raw);
    let second = sse.next().await.unwrap();
    assert!(second.id.is_some());
    assert_ne!(second.id, first.id);
    assert_eq!(progress_of(&second.json().unwrap()), Some(1));
    gate.add_permits(1);
    let rest = messages(&sse.rest().await);
    assert_eq!(rest.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_2025_06_18_stream_has_no_priming_event() {
    let (svc, gate, _) = two_step(&McpLayer::new(), false);
    let sid = initialize(&svc, V_OLD, json!({})).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_OLD), &tool_call(1, "two", json!({}))),
        )
        .await,
    );
    let first = sse.next().await.unwrap();
    assert_eq!(
        progress_of(&first.json().expect("the first event is a message")),
        Some(1)
    );
    assert!(first.id.is_some(), "events still carry ids for resumption");
    gate.add_permits(1);
    for ev in sse.rest().await {
        assert!(ev.json().is_some(), "{ev:?}");
    }
    // Nor does the GET stream of such a session.
    let session_events = {
        let layer = McpLayer::new();
        let sessions = layer.sessions();
        let (svc, _, _) = two_step(&layer, false);
        let sid = initialize(&svc, V_OLD, json!({})).await;
        let mut get_sse = Sse::of(call(&svc, get(&sid, V_OLD, None)).await);
        sessions
            .get(&sid)
            .unwrap()
            .notify("notifications/tools/list_changed", None);
        get_sse.next().await.unwrap()
    };
    assert!(session_events.json().is_some(), "{session_events:?}");
}

#[tokio::test(start_paused = true)]
async fn after_priming_polling_moves_the_answer_to_the_resumed_get() {
    let layer = McpLayer::new()
        .polling(PollingPolicy::AfterPriming)
        .retry_interval(Duration::from_millis(700));
    let (svc, gate, _) = two_step(&layer, false);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let events = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "two", json!({}))),
        )
        .await,
    )
    .rest()
    .await;
    assert!(!events.is_empty());
    assert!(
        events[0].is_priming(),
        "the connection carries the priming event first: {events:?}"
    );
    assert_eq!(
        events.last().unwrap().retry,
        Some(700),
        "and ends with a retry hint: {events:?}"
    );
    // What the handler sent before the stream opened may travel on it; the answer cannot.
    let mut all: Vec<Value> = messages(&events).into_iter().map(|(_, v)| v).collect();
    assert!(all.iter().all(|m| m.get("result").is_none()), "{events:?}");
    let cursor = last_id(&events).unwrap();

    gate.add_permits(1);
    let res = call(&svc, get(&sid, V_NEW, Some(&cursor))).await;
    // The resumed connection may be polled too: collect across reconnects until the answer.
    let mut sse = Sse::of(res);
    loop {
        let events = sse.rest().await;
        let cursor = last_id(&events);
        all.extend(messages(&events).into_iter().map(|(_, v)| v));
        if all.iter().any(|m| m.get("result").is_some()) {
            break;
        }
        let cursor = cursor.expect("a resumed connection without a new id");
        sse = Sse::of(call(&svc, get(&sid, V_NEW, Some(&cursor))).await);
    }
    let steps: Vec<u64> = all.iter().filter_map(progress_of).collect();
    assert_eq!(steps, [1, 2]);
    assert_eq!(all.last().unwrap()["result"]["done"], true);
    assert_eq!(all.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn polling_is_off_for_clients_before_2025_11_25() {
    let layer = McpLayer::new().polling(PollingPolicy::AfterPriming);
    let (svc, gate, _) = two_step(&layer, false);
    let sid = initialize(&svc, V_OLD, json!({})).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_OLD), &tool_call(1, "two", json!({}))),
        )
        .await,
    );
    assert_eq!(progress_of(&sse.next_message().await.unwrap().1), Some(1));
    gate.add_permits(1);
    let rest = sse.rest().await;
    assert!(rest.iter().all(|e| e.retry.is_none()), "{rest:?}");
    assert_eq!(messages(&rest).last().unwrap().1["result"]["done"], true);
}

#[tokio::test(start_paused = true)]
async fn timed_polling_closes_each_connection_after_its_time() {
    let layer = McpLayer::new()
        .polling(PollingPolicy::After(Duration::from_secs(10)))
        .keep_alive(None);
    let (svc, gate, _) = two_step(&layer, false);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let start = Instant::now();
    let events = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "two", json!({}))),
        )
        .await,
    )
    .rest()
    .await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert!(events[0].is_priming());
    assert_eq!(progress_of(&events[1].json().unwrap()), Some(1));
    assert!(events.last().unwrap().is_retry_hint(), "{events:?}");
    let cursor = events[1].id.clone().unwrap();
    gate.add_permits(1);
    let rest = messages(
        &Sse::of(call(&svc, get(&sid, V_NEW, Some(&cursor))).await)
            .rest()
            .await,
    );
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!(rest[1].1["result"]["done"], true);
}

#[tokio::test(start_paused = true)]
async fn close_sse_stream_from_a_handler() {
    let layer = McpLayer::new().retry_interval(Duration::from_millis(300));
    let (svc, gate, mut closed) = two_step(&layer, true);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "two", json!({}))),
        )
        .await,
    );
    assert!(sse.next().await.unwrap().is_priming());
    let (cursor, first) = sse.next_message().await.unwrap();
    assert_eq!(progress_of(&first), Some(1));
    gate.add_permits(1);
    assert_eq!(
        within(closed.recv()).await,
        Some(true),
        "close_sse_stream reports it closed the connection"
    );
    let rest = sse.rest().await;
    assert!(messages(&rest).is_empty(), "{rest:?}");
    assert_eq!(rest.last().map(|e| e.retry), Some(Some(300)), "{rest:?}");
    let resumed = messages(
        &Sse::of(call(&svc, get(&sid, V_NEW, cursor.as_deref())).await)
            .rest()
            .await,
    );
    assert_eq!(progress_of(&resumed[0].1), Some(2));
    assert_eq!(resumed[1].1["result"]["done"], true);
    assert_eq!(resumed.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn close_sse_stream_on_a_json_reply_is_false() {
    let layer = McpLayer::new().response_mode(ResponseMode::Json);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let svc = service(&layer, move |req: McpRequest| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(req.context().close_sse_stream());
            McpResponse::empty()
        }
    });
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let res = call(
        &svc,
        post_with(Some(&sid), Some(V_NEW), &tool_call(1, "x", json!({}))),
    )
    .await;
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(within(rx.recv()).await, Some(false));
}

/// A tool that sends `n` progress steps at once, without yielding, then answers.
fn burst(layer: &McpLayer, n: u32) -> (Svc, Arc<Semaphore>) {
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let svc = service(layer, move |req: McpRequest| {
        let g = g.clone();
        async move {
            g.acquire().await.unwrap().forget();
            let ctx = req.context();
            for i in 1..=n {
                ctx.progress(f64::from(i), Some(f64::from(n)), None);
            }
            McpResponse::result(json!({ "sent": n }))
        }
    });
    (svc, gate)
}

/// A call to a [`burst`] of `n` steps, in a fresh session of a server that holds at most two
/// events per connection; returns the service, the session and the call's SSE stream. The
/// burst starts once the returned gate gets a permit.
async fn burst_call(n: u32) -> (Svc, String, Arc<Semaphore>, Sse<McpBody>) {
    let layer = McpLayer::new()
        .stream_capacity(2)
        .response_mode(ResponseMode::Sse);
    let (svc, gate) = burst(&layer, n);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "burst", json!({}))),
        )
        .await,
    );
    (svc, sid, gate, sse)
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_is_cut_and_resumes_without_loss() {
    const N: u64 = 50;
    let (svc, sid, gate, mut sse) = burst_call(N as u32).await;
    let priming = sse.next().await.unwrap();
    assert!(priming.is_priming());
    // The client stops reading while the handler bursts.
    gate.add_permits(1);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let first = sse.rest().await;
    let last = first
        .last()
        .expect("the cut connection ends with a retry hint");
    assert!(last.is_retry_hint(), "{first:?}");
    let seen: Vec<Value> = messages(&first).into_iter().map(|(_, v)| v).collect();
    assert!(
        seen.len() < N as usize,
        "the connection was not cut: {} events",
        seen.len()
    );
    let cursor = last_id(&first).unwrap_or(priming.id.unwrap());

    let rest = messages(
        &Sse::of(call(&svc, get(&sid, V_NEW, Some(&cursor))).await)
            .rest()
            .await,
    );
    let all: Vec<Value> = seen
        .into_iter()
        .chain(rest.into_iter().map(|(_, v)| v))
        .collect();
    let steps: Vec<u64> = all.iter().filter_map(progress_of).collect();
    assert_eq!(
        steps,
        (1..=N).collect::<Vec<_>>(),
        "every event exactly once, in order"
    );
    assert_eq!(all.len(), N as usize + 1);
    assert_eq!(all.last().unwrap()["result"]["sent"], N);
}

#[tokio::test(start_paused = true)]
async fn a_slow_get_reader_is_cut_and_resumes_without_loss() {
    let layer = McpLayer::new().stream_capacity(2);
    let sessions = layer.sessions();
    let (svc, _) = burst(&layer, 0);
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let session = sessions.get(&sid).unwrap();
    let mut sse = Sse::of(call(&svc, get(&sid, V_NEW, None)).await);
    let priming = sse.next().await.unwrap();
    for i in 0..20 {
        session.notify(
            "notifications/message",
            Some(json!({ "level": "info", "data": i })),
        );
    }
    let first = sse.rest().await;
    assert!(first.last().unwrap().is_retry_hint(), "{first:?}");
    let cursor = last_id(&first).unwrap_or(priming.id.unwrap());
    let mut resumed = Sse::of(call(&svc, get(&sid, V_NEW, Some(&cursor))).await);
    let mut data: Vec<Value> = messages(&first)
        .into_iter()
        .map(|(_, v)| v["params"]["data"].clone())
        .collect();
    while data.len() < 20 {
        data.push(resumed.next_message().await.unwrap().1["params"]["data"].clone());
    }
    assert_eq!(data, (0..20).map(|i| json!(i)).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_that_never_read_can_still_resume() {
    const N: u64 = 10;
    let (svc, sid, gate, mut sse) = burst_call(N as u32).await;
    // The handler bursts before the client reads anything at all.
    gate.add_permits(1);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let first = sse.rest().await;
    assert!(
        first.last().is_some_and(Event::is_retry_hint),
        "the cut connection ends with a retry hint: {first:?}"
    );
    assert!(
        messages(&first).len() < N as usize,
        "the connection was not cut: {first:?}"
    );
    let cursor = last_id(&first)
        .unwrap_or_else(|| panic!("the cut connection carried no event id: {first:?}"));
    let rest = messages(
        &Sse::of(call(&svc, get(&sid, V_NEW, Some(&cursor))).await)
            .rest()
            .await,
    );
    let all: Vec<Value> = messages(&first)
        .into_iter()
        .chain(rest)
        .map(|(_, v)| v)
        .collect();
    let steps: Vec<u64> = all.iter().filter_map(progress_of).collect();
    assert_eq!(steps, (1..=N).collect::<Vec<_>>());
    assert_eq!(all.last().unwrap()["result"]["sent"], N);
}

#[tokio::test(start_paused = true)]
async fn a_client_request_follows_the_stream_to_its_resumed_connection() {
    // SSE from the start, so the handler's stream is resumable before it first yields.
    let layer = McpLayer::new().response_mode(ResponseMode::Sse);
    let svc = service(&layer, |req: McpRequest| async move {
        let ctx = req.context();
        ctx.progress(1.0, None, None);
        assert!(ctx.close_sse_stream());
        match ctx
            .request(
                "sampling/createMessage",
                Some(json!({ "messages": [], "maxTokens": 1 })),
            )
            .await
        {
            Ok(answer) => McpResponse::result(json!({ "answer": answer })),
            Err(e) => McpResponse::result(json!({ "error": e.to_string() })),
        }
    });
    let sid = initialize(&svc, V_NEW, json!({ "sampling": {} })).await;
    let mut sse = Sse::of(
        call(
            &svc,
            post_with(Some(&sid), Some(V_NEW), &tool_call(1, "ask", json!({}))),
        )
        .await,
    );
    let events = sse.rest().await;
    let cursor = last_id(&events).unwrap();
    let mut resumed = Sse::of(call(&svc, get(&sid, V_NEW, Some(&cursor))).await);
    let (_, req) = resumed.next_message().await.unwrap();
    // Whether the first connection carried the progress or not, the request comes after it.
    let req = if progress_of(&req).is_some() {
        resumed.next_message().await.unwrap().1
    } else {
        req
    };
    assert_eq!(req["method"], "sampling/createMessage");
    assert_eq!(
        client_answer(&svc, &sid, V_NEW, &req["id"], json!({ "text": "hi" })).await,
        202
    );
    let (_, reply) = resumed.next_message().await.unwrap();
    assert_eq!(reply["result"]["answer"]["text"], "hi");
    assert!(resumed.next().await.is_none());
}
