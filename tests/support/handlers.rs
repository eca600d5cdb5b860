//! Handlers for the tests that script their own: the boxed handler type, a wrapper that
//! answers the lifecycle methods, and small utilities (polling a condition, a seeded RNG).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use mcp_tower::{McpLayer, McpRequest, McpResponse, McpService};
use serde_json::json;
use tower::util::BoxCloneSyncService;
use tower::Layer;

/// The inner handler type every test uses.
pub(crate) type Handler = BoxCloneSyncService<McpRequest, McpResponse, Infallible>;
/// The HTTP service under test.
pub(crate) type Svc = McpService<Handler>;

/// Wraps `f` into a handler that also answers `initialize` (echoing the negotiated version),
/// `ping`, and every notification; `f` sees the rest.
pub(crate) fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(McpRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = McpResponse> + Send + 'static,
{
    BoxCloneSyncService::new(tower::service_fn(move |req: McpRequest| {
        let f = f.clone();
        async move {
            Ok::<_, Infallible>(match req.method() {
                "initialize" => McpResponse::result(json!({
                    "protocolVersion": req.protocol_version().as_str(),
                    "capabilities": { "tools": {} },
                    "serverInfo": { "name": "push-tests", "version": "0" },
                })),
                "ping" => McpResponse::empty(),
                _ if req.is_notification() => McpResponse::empty(),
                _ => f(req).await,
            })
        }
    }))
}

/// A handler that only answers `initialize`, `ping` and notifications.
pub(crate) fn plain() -> Handler {
    handler(|req: McpRequest| async move { McpResponse::method_not_found(req.method()) })
}

/// `layer` applied to `f` (see [`handler`]).
pub(crate) fn service<F, Fut>(layer: &McpLayer, f: F) -> Svc
where
    F: Fn(McpRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = McpResponse> + Send + 'static,
{
    layer.layer(handler(f))
}

/// The example server's handler (`examples/common`), boxed.
pub(crate) fn boxed<F, Fut>(f: F) -> Handler
where
    F: Fn(McpRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<McpResponse, Infallible>> + Send + 'static,
{
    BoxCloneSyncService::new(tower::service_fn(f))
}

/// Polls `cond` every millisecond (real time) until it holds, for at most `limit`.
pub(crate) async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    cond()
}

/// SplitMix64: a tiny seeded generator, so "random" cut points are the same on every run.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}
