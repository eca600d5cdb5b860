//! The session-store seam, driven with a store that answers later (as a networked one would):
//! the transport waits for it, and a store that fails or forgets a session is answered 503 or
//! 404 with a JSON-RPC body.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::{service_fn, ServiceExt};

use super::config::{Config, Shared};
use super::McpService;
use crate::body::McpBody;
use crate::handler::{McpRequest, McpResponse};
use crate::session::{Registry, SessionRecord, SessionStore, StoreError, StoreFuture};
use crate::SessionId;

/// Keeps records in the node's registry, but answers every call later, and can be told to
/// fail or to forget.
struct LaterStore {
    registry: Arc<Registry>,
    failing: AtomicBool,
    forgetting: AtomicBool,
    calls: AtomicUsize,
}

impl LaterStore {
    fn later<T: Send + 'static>(&self, answer: Result<T, StoreError>) -> StoreFuture<T> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::new("the test store is down"))
        } else {
            answer
        };
        StoreFuture::boxed(async move {
            tokio::task::yield_now().await;
            answer
        })
    }
}

impl SessionStore for LaterStore {
    fn create(&self, record: &SessionRecord) -> StoreFuture<()> {
        let answer = self
            .registry
            .create(record)
            .now()
            .expect("the registry answers at once");
        self.later(answer)
    }
    fn load(&self, id: &str) -> StoreFuture<Option<SessionRecord>> {
        let answer = self
            .registry
            .load(id)
            .now()
            .expect("the registry answers at once");
        self.later(answer)
    }
    fn touch(&self, id: &SessionId) -> StoreFuture<bool> {
        let answer = self
            .registry
            .touch(id)
            .now()
            .expect("the registry answers at once");
        let answer = answer.map(|found| found && !self.forgetting.load(Ordering::SeqCst));
        self.later(answer)
    }
    fn delete(&self, id: &SessionId) -> StoreFuture<bool> {
        let answer = self
            .registry
            .delete(id)
            .now()
            .expect("the registry answers at once");
        self.later(answer)
    }
}

fn service() -> (
    McpService<
        impl tower::Service<
                McpRequest,
                Response = McpResponse,
                Error = Infallible,
                Future = impl Send,
            > + Clone
            + Send,
    >,
    Arc<LaterStore>,
) {
    let registry = Arc::new(Registry::new());
    let store = Arc::new(LaterStore {
        registry: registry.clone(),
        failing: AtomicBool::new(false),
        forgetting: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
    });
    let shared = Shared {
        config: Arc::new(Config::default()),
        registry,
        store: store.clone(),
        listeners: crate::listen::Listeners::new(),
    };
    let handler = service_fn(|req: McpRequest| async move {
        Ok::<_, Infallible>(match req.method() {
            "initialize" => McpResponse::result(json!({
                "protocolVersion": req.protocol_version().as_str(),
                "capabilities": {},
                "serverInfo": { "name": "t", "version": "1" },
            })),
            _ => McpResponse::result(json!({ "ok": true })),
        })
    });
    (McpService::from_shared(handler, Arc::new(shared)), store)
}

fn request(method: &str, session: Option<&str>, body: &Value) -> Request<String> {
    let mut builder = Request::builder()
        .method(method)
        .uri("/mcp")
        .header("host", "localhost")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(id) = session {
        builder = builder.header("mcp-session-id", id);
    }
    builder.body(body.to_string()).unwrap()
}

async fn json(res: Response<McpBody>) -> Value {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// Sends one request through a clone of `svc`.
async fn send<S>(svc: &S, method: &str, session: Option<&str>, body: &Value) -> Response<McpBody>
where
    S: tower::Service<Request<String>, Response = Response<McpBody>, Error = Infallible> + Clone,
{
    match svc.clone().oneshot(request(method, session, body)).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

fn init_message() -> Value {
    json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": { "name": "t", "version": "1" } } })
}

fn tools_list() -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" })
}

async fn initialize<S>(svc: &S) -> String
where
    S: tower::Service<Request<String>, Response = Response<McpBody>, Error = Infallible> + Clone,
{
    let res = send(svc, "POST", None, &init_message()).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.headers()["mcp-session-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_store_that_answers_later_is_waited_for() {
    let (svc, store) = service();
    let id = initialize(&svc).await;
    let res = send(&svc, "POST", Some(&id), &tools_list()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["result"]["ok"], true);
    // create, then touch
    assert_eq!(store.calls.load(Ordering::SeqCst), 2);
    let get = Request::get("/mcp")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .body(String::new())
        .unwrap();
    let res = svc.clone().oneshot(get).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    drop(res);
    let res = send(&svc, "DELETE", Some(&id), &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = send(&svc, "POST", Some(&id), &tools_list()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_session_the_store_forgot_is_not_found() {
    let (svc, store) = service();
    let id = initialize(&svc).await;
    store.forgetting.store(true, Ordering::SeqCst);
    let res = send(&svc, "POST", Some(&id), &tools_list()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json(res).await["error"]["code"],
        crate::code::SESSION_NOT_FOUND
    );
}

#[tokio::test]
async fn a_failing_store_is_answered_503_with_a_json_rpc_body() {
    let (svc, store) = service();
    let id = initialize(&svc).await;
    store.failing.store(true, Ordering::SeqCst);
    let res = send(&svc, "POST", Some(&id), &tools_list()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    let body = json(res).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the test store is down"),
        "{body}"
    );
    let res = send(&svc, "DELETE", Some(&id), &json!({})).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn initialize_fails_in_band_when_the_store_cannot_create_the_session() {
    let (svc, store) = service();
    store.failing.store(true, Ordering::SeqCst);
    let res = send(&svc, "POST", None, &init_message()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        !res.headers().contains_key("mcp-session-id"),
        "no session may be named when the store does not hold it"
    );
    let body = json(res).await;
    assert_eq!(body["error"]["code"], crate::code::INTERNAL_ERROR, "{body}");
    assert!(
        store.registry.slots.live().is_empty(),
        "the reservation was released"
    );
}
