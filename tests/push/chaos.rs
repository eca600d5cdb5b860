//! Many concurrent streamed calls whose connections are cut at (seeded) random points and
//! resumed: every call's events arrive complete, in order, exactly once.

use std::time::Duration;

use mcp_tower::{McpLayer, McpRequest, McpResponse};
use serde_json::{json, Value};

use crate::support::*;

const CALLS: u64 = 20;
const SESSIONS: u64 = 4;
const STEPS: u64 = 40;
const SEED: u64 = 0x5EED_CAFE;

/// How a client loses its connection.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The client drops it.
    Drop,
    /// The client opens the resumption first, then drops the old one (a takeover).
    TakeOver,
}

/// One call: read, cut at random, resume, until the response. Returns every message seen and
/// how often the connection was cut.
async fn run_call(
    http: reqwest::Client,
    url: String,
    sid: String,
    call_id: u64,
) -> (Vec<Value>, u32) {
    let mut rng = Rng::new(SEED ^ (call_id * 0x9E37_79B9));
    let body = tool_call(call_id as i64, "steps", json!({}));
    let mut sse = http_sse(http_post(&http, &url, Some(&sid), V_NEW, &body).await);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut cuts = 0;
    loop {
        // Read a random number of events (at least one, so a cursor is always known), or to the
        // end once the connection was cut a few times.
        let budget = if cuts < 4 { rng.range(1, 12) } else { u64::MAX };
        let mut read = 0;
        let mut answered = false;
        while read < budget {
            let Some(ev) = within(sse.next()).await else {
                break;
            };
            read += 1;
            if ev.id.is_some() {
                cursor = ev.id.clone();
            }
            if let Some(v) = ev.json() {
                answered = v.get("result").is_some();
                seen.push(v);
                if answered {
                    break;
                }
            }
        }
        if answered {
            // The stream ends right after the response.
            assert!(within(sse.rest()).await.is_empty());
            return (seen, cuts);
        }
        cuts += 1;
        let cursor = cursor
            .clone()
            .expect("a connection was cut before any event id");
        let how = if rng.range(0, 1) == 0 {
            Cut::Drop
        } else {
            Cut::TakeOver
        };
        let pause = Duration::from_millis(rng.range(0, 3));
        match how {
            Cut::Drop => {
                drop(sse);
                tokio::time::sleep(pause).await;
                sse = http_sse(http_get(&http, &url, &sid, V_NEW, Some(&cursor)).await);
            }
            Cut::TakeOver => {
                let newer = http_sse(http_get(&http, &url, &sid, V_NEW, Some(&cursor)).await);
                // Whatever the older connection still carries is ignored by the client: the
                // newer one replays everything after the cursor.
                drop(std::mem::replace(&mut sse, newer));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_and_resumed_calls_lose_nothing_and_repeat_nothing() {
    let layer = McpLayer::new();
    let svc = service(&layer, |req: McpRequest| async move {
        let ctx = req.context();
        for step in 1..=STEPS {
            ctx.progress(step as f64, Some(STEPS as f64), None);
            if step % 4 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
        McpResponse::result(json!({ "steps": STEPS }))
    });
    let server = serve(svc).await;
    let http = client();
    let mut sids = Vec::new();
    for _ in 0..SESSIONS {
        sids.push(http_initialize(&http, &server.url, V_NEW, json!({})).await);
    }

    let mut tasks = tokio::task::JoinSet::new();
    for call_id in 1..=CALLS {
        let sid = sids[(call_id % SESSIONS) as usize].clone();
        let call = run_call(http.clone(), server.url.clone(), sid, call_id);
        tasks.spawn(async move { (call_id, call.await) });
    }
    let mut total_cuts = 0;
    let results = tokio::time::timeout(Duration::from_secs(20), async {
        let mut out = Vec::new();
        while let Some(r) = tasks.join_next().await {
            out.push(r.unwrap());
        }
        out
    })
    .await
    .expect("the chaos run must finish in time");
    assert_eq!(results.len(), CALLS as usize);
    for (call_id, (seen, cuts)) in results {
        total_cuts += cuts;
        let steps: Vec<u64> = seen.iter().filter_map(progress_of).collect();
        assert_eq!(
            steps,
            (1..=STEPS).collect::<Vec<_>>(),
            "call {call_id} ({cuts} cuts)"
        );
        assert_eq!(seen.len() as u64, STEPS + 1, "call {call_id}: {seen:?}");
        let last = seen.last().unwrap();
        assert_eq!(last["id"], call_id, "call {call_id}");
        assert_eq!(last["result"]["steps"], STEPS);
    }
    assert!(
        total_cuts >= CALLS as u32,
        "the run cut too little to mean anything: {total_cuts}"
    );
}
