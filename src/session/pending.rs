//! Requests the server sends to the client (sampling, elicitation, roots, ping), awaiting the
//! client's answer: id allocation, correlation, timeout with `notifications/cancelled`, and
//! clean-up when the waiting future is dropped.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use slab::Slab;
use tokio::sync::{oneshot, Notify};

use crate::jsonrpc::ErrorObject;
use crate::telemetry::PendingWatch;

/// Ids are `generation << 16 | slot`, so a reused slot never answers to an old id.
const SLOT_BITS: u32 = 16;
/// Hard cap on slots, whatever the configuration says (the slot must fit in `SLOT_BITS`).
const MAX_SLOTS: usize = 1 << SLOT_BITS;

/// The client's answer to one request: its result or its error.
pub(crate) type Answer = Result<Value, ErrorObject>;

#[derive(Default)]
pub(crate) struct Pending {
    slots: Slab<Waiting>,
    generation: u32,
}

pub(crate) struct Waiting {
    generation: u32,
    pub(crate) tx: oneshot::Sender<Answer>,
    pub(crate) progress: Arc<Notify>,
    /// Counts the request as pending while it waits (`telemetry`).
    _watch: PendingWatch,
}

impl Pending {
    /// A new waiting request, with its id, if fewer than `max` wait.
    pub(crate) fn insert(
        &mut self,
        max: usize,
    ) -> Option<(i64, oneshot::Receiver<Answer>, Arc<Notify>)> {
        if self.slots.len() >= max.min(MAX_SLOTS) {
            return None;
        }
        self.generation = self.generation.wrapping_add(1);
        let (tx, rx) = oneshot::channel();
        let progress = Arc::new(Notify::new());
        let slot = self.slots.insert(Waiting {
            generation: self.generation,
            tx,
            progress: progress.clone(),
            _watch: PendingWatch::start(),
        });
        let id = i64::from(self.generation) << SLOT_BITS | i64::try_from(slot).ok()?;
        Some((id, rx, progress))
    }

    /// Removes the waiting request `id`.
    pub(crate) fn take(&mut self, id: i64) -> Option<Waiting> {
        let slot = self.slot_of(id)?;
        Some(self.slots.remove(slot))
    }

    /// The waiting request `id`.
    pub(crate) fn get(&self, id: i64) -> Option<&Waiting> {
        self.slots.get(self.slot_of(id)?)
    }

    /// The slot of the waiting request `id` names, if it is still that request's (ids carry the
    /// slot's generation, so a reused slot never matches an old id).
    fn slot_of(&self, id: i64) -> Option<usize> {
        let slot = usize::try_from(id & ((1 << SLOT_BITS) - 1)).ok()?;
        let generation = u32::try_from(id >> SLOT_BITS).ok()?;
        self.slots
            .get(slot)
            .is_some_and(|w| w.generation == generation)
            .then_some(slot)
    }

    /// Fails every waiting request (the session is closing): each waiter sees
    /// [`ClientRequestError::SessionClosed`]. Returns how many there were.
    pub(crate) fn fail_all(&mut self) -> usize {
        let n = self.slots.len();
        // Dropping the senders wakes every receiver with an error.
        self.slots.clear();
        n
    }
}

/// Options for one request to the client.
///
/// ```
/// use mcp_tower::session::RequestOptions;
/// use std::time::Duration;
///
/// // Wait 30 s, restarting the clock on each progress notification, but never beyond 5 min.
/// let opts = RequestOptions::new()
///     .timeout(Duration::from_secs(30))
///     .reset_on_progress(Duration::from_secs(300));
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct RequestOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_total: Option<Duration>,
}

impl RequestOptions {
    /// The layer's defaults (see `McpLayer::client_request_timeout`).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long to wait for the answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Restart the timeout whenever the client reports progress on this request (the request
    /// carries a `progressToken`), but give up after `max_total` in all.
    pub fn reset_on_progress(mut self, max_total: Duration) -> Self {
        self.max_total = Some(max_total);
        self
    }
}

/// Why a request to the client brought no answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientRequestError {
    /// The client did not declare the capability this method needs (e.g. `sampling`).
    CapabilityMissing {
        /// The method that was not sent.
        method: String,
        /// The missing capability.
        capability: &'static str,
    },
    /// No session: requests to the client need one (stateless servers cannot send them).
    NoSession,
    /// The session already has as many requests waiting as the layer allows.
    TooManyPending,
    /// No answer in time; `notifications/cancelled` was sent to the client.
    Timeout(Duration),
    /// The session ended, or the server is shutting down.
    SessionClosed,
    /// The request could not even be queued (the session's queue for a stream that is not
    /// open is full); nothing was sent.
    Undeliverable,
    /// The client answered with a JSON-RPC error.
    Client(ErrorObject),
}

impl fmt::Display for ClientRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CapabilityMissing { method, capability } => write!(
                f,
                "the client did not declare the `{capability}` capability that {method} needs"
            ),
            Self::NoSession => f.write_str("requests to the client need a session"),
            Self::TooManyPending => f.write_str("too many requests to the client are waiting"),
            Self::Timeout(after) => write!(f, "the client did not answer within {after:?}"),
            Self::SessionClosed => f.write_str("the session ended before the client answered"),
            Self::Undeliverable => f.write_str("the request could not be queued for the client"),
            Self::Client(e) => write!(f, "the client answered with an error: {e}"),
        }
    }
}

impl std::error::Error for ClientRequestError {}

/// The capability a server→client method needs, if any.
pub(crate) fn required_capability(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}
