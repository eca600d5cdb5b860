//! The node-local registry: every session this node serves, by the slab key its id carries,
//! with their live plumbing; and the operations on that plumbing that a cluster backend must
//! forward to the node holding it: answer a request the server sent (the waiting handler is
//! there), cancel a running call (it runs there), close a session (its streams are there).
//! Delivering a message needs no forwarding: in a cluster it is an append to the session's
//! shared event log (see [`EventStore`](super::EventStore)), which wakes whichever node holds
//! the stream.
//!
//! On one node the registry is also the [`SessionStore`]: each session's record sits in the
//! same slab slot as its plumbing, so every store operation answers at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::config::SessionConfig;
use super::delivery::CloseReason;
use super::id::SessionId;
use super::live::LiveSession;
use super::pending::Answer;
use super::record::SessionRecord;
use super::slots::Slots;
use super::store::{SessionStore, StoreFuture};
use crate::jsonrpc::RequestId;

/// The sessions of this node.
pub(crate) struct Registry {
    pub(crate) slots: Arc<Slots<LiveSession>>,
    /// Set by shutdown: no new sessions.
    pub(crate) draining: AtomicBool,
    reaper_started: AtomicBool,
    /// Tells the reaper, which holds the registry only weakly, that it is gone.
    pub(crate) reaper_stop: Arc<tokio::sync::Notify>,
    /// Messages the streams of legacy sessions could not take, over the registry's life.
    pub(crate) legacy_lost: Arc<AtomicU64>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Stores a permit if the reaper is not waiting right now, so it cannot miss this.
        self.reaper_stop.notify_one();
    }
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            slots: Arc::new(Slots::new()),
            draining: AtomicBool::new(false),
            reaper_started: AtomicBool::new(false),
            reaper_stop: Arc::new(tokio::sync::Notify::new()),
            legacy_lost: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Reserves a session for an `initialize` that is running; `None` when `max` sessions
    /// exist. It is invisible to lookups until it opens.
    pub(crate) fn reserve(
        &self,
        max: usize,
        config: &Arc<SessionConfig>,
    ) -> Option<Arc<LiveSession>> {
        self.slots.reserve(max, |parts| {
            LiveSession::new(parts, &self.slots, config.clone())
        })
    }

    /// Reserves a legacy (2024-11-05) session for a connect, bound to `principal`; `None` when
    /// `max` sessions exist. It is invisible to lookups until committed.
    pub(crate) fn reserve_legacy(
        &self,
        max: usize,
        config: &Arc<SessionConfig>,
        principal: Option<String>,
    ) -> Option<Arc<LiveSession>> {
        self.slots.reserve(max, |parts| {
            LiveSession::new_legacy(
                parts,
                &self.slots,
                config.clone(),
                principal,
                self.legacy_lost.clone(),
            )
        })
    }

    /// The live session an id names, as the client sent it; `None` for anything else.
    pub(crate) fn lookup(&self, id: &[u8]) -> Option<Arc<LiveSession>> {
        self.slots.lookup(id)
    }

    /// The client answered request `id` the server sent; false when nobody waits for it here.
    pub(crate) fn answer(&self, session: &LiveSession, id: &RequestId, answer: Answer) -> bool {
        session.complete_client_request(id, answer)
    }

    /// The client cancelled its request `id`; false when it is not running here.
    pub(crate) fn cancel(&self, session: &LiveSession, id: &RequestId) -> bool {
        session.cancel_running(id)
    }

    /// Ends a session on this node; false if it had already ended.
    pub(crate) fn close(&self, session: &LiveSession, reason: CloseReason) -> bool {
        session.close(reason)
    }

    /// Returns true exactly once: the caller starts the reaper.
    pub(crate) fn claim_reaper(&self) -> bool {
        !self.reaper_started.swap(true, Ordering::AcqRel)
    }
}

/// One node's registry as the session store: the record lives in the slab slot, beside the
/// plumbing, and idle expiry is the reaper's job.
impl SessionStore for Registry {
    fn create(&self, record: &SessionRecord) -> StoreFuture<()> {
        // The session keeps its record itself when it opens (see `LiveSession::open`): there
        // is nothing more to write.
        let _ = record;
        StoreFuture::ready(Ok(()))
    }

    fn load(&self, id: &str) -> StoreFuture<Option<SessionRecord>> {
        let record = self
            .lookup(id.as_bytes())
            .and_then(|live| live.record().cloned());
        StoreFuture::ready(Ok(record))
    }

    fn touch(&self, id: &SessionId) -> StoreFuture<bool> {
        let found = self.lookup(id.as_str().as_bytes());
        if let Some(live) = &found {
            live.touch();
        }
        StoreFuture::ready(Ok(found.is_some()))
    }

    fn delete(&self, id: &SessionId) -> StoreFuture<bool> {
        let found = self.lookup(id.as_str().as_bytes());
        StoreFuture::ready(Ok(
            found.is_some_and(|live| live.close(CloseReason::Deleted))
        ))
    }
}
