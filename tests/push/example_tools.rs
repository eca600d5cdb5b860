//! The example server's handler (`examples/common`), driven through the transport.

use std::time::Duration;

use mcp_tower::McpLayer;
use serde_json::json;
use tower::Layer;

use crate::support::*;

use crate::example;

fn example_service(layer: &McpLayer) -> Svc {
    layer.layer(boxed(example::handle))
}

#[tokio::test(start_paused = true)]
async fn countdown_streams_progress_then_the_result() {
    let svc = example_service(&McpLayer::new());
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let res = call(
        &svc,
        post_with(
            Some(&sid),
            Some(V_NEW),
            &tool_call(1, "countdown", json!({ "from": 3, "delay_ms": 100 })),
        ),
    )
    .await;
    let events = Sse::of(res).rest().await;
    assert!(events[0].is_priming());
    let msgs = messages(&events);
    let progress: Vec<f64> = msgs
        .iter()
        .filter(|(_, m)| m["method"] == "notifications/progress")
        .map(|(_, m)| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, [0.0, 1.0, 2.0, 3.0]);
    let (_, last) = msgs.last().unwrap();
    assert_eq!(last["result"]["content"][0]["text"], "counted down from 3");
}

#[tokio::test(start_paused = true)]
async fn ask_llm_samples_through_the_client() {
    let svc = example_service(&McpLayer::new());
    let sid = initialize(&svc, V_NEW, json!({ "sampling": {} })).await;
    let res = call(
        &svc,
        post_with(
            Some(&sid),
            Some(V_NEW),
            &tool_call(1, "ask_llm", json!({ "question": "6 x 7?" })),
        ),
    )
    .await;
    let mut sse = Sse::of(res);
    let (_, req) = sse.next_message().await.unwrap();
    assert_eq!(req["method"], "sampling/createMessage", "{req}");
    let answer =
        json!({ "role": "assistant", "model": "m", "content": { "type": "text", "text": "42" } });
    assert_eq!(
        client_answer(&svc, &sid, V_NEW, &req["id"], answer).await,
        202
    );
    let (_, reply) = sse.next_message().await.unwrap();
    assert_eq!(reply["result"]["content"][0]["text"], "The model says: 42");
}

#[tokio::test(start_paused = true)]
async fn slow_count_counts_with_progress() {
    let svc = example_service(&McpLayer::new());
    let sid = initialize(&svc, V_NEW, json!({})).await;
    let start = tokio::time::Instant::now();
    let res = call(
        &svc,
        post_with(
            Some(&sid),
            Some(V_NEW),
            &tool_call(1, "slow_count", json!({ "to": 3 })),
        ),
    )
    .await;
    let msgs = messages(&Sse::of(res).rest().await);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert_eq!(msgs[3].1["result"]["content"][0]["text"], "counted to 3");
}
