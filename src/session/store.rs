//! The session store: one `Mutex<Slab>`, locked only inside short synchronous methods.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

// tokio's clock, so idle expiry follows a paused clock in tests.
use tokio::time::Instant;

use slab::Slab;

use super::id::{secrets_match, IdParts};
use super::SessionInner;

/// Sessions [`SessionStore::for_each_live`] visits per hold of the lock: a few hundred
/// microseconds of a broadcast at most.
const WALK_BATCH: usize = 256;

/// What a lookup found.
pub(crate) enum Lookup {
    Live(Arc<SessionInner>),
    /// Unknown, ended, or not one of our ids: 404 either way.
    NotFound,
}

struct Slot {
    parts: IdParts,
    session: Arc<SessionInner>,
    /// False while the `initialize` that created it is still running.
    live: bool,
}

pub(crate) struct SessionStore {
    slots: Mutex<Slab<Slot>>,
    /// Live (committed) sessions, so `len` is O(1).
    live: std::sync::atomic::AtomicUsize,
    /// Generations grow across the whole store, so a reused slot never matches an old id.
    generation: AtomicU32,
    reaper_started: AtomicBool,
    pub(crate) epoch: Instant,
    /// Set by shutdown: no new sessions.
    pub(crate) draining: AtomicBool,
    /// Woken whenever a session's last in-flight request ends (shutdown waits on it).
    pub(crate) idle: tokio::sync::Notify,
    /// Tells the reaper, which holds the store only weakly, that the store is gone.
    pub(crate) reaper_stop: Arc<tokio::sync::Notify>,
}

impl Drop for SessionStore {
    fn drop(&mut self) {
        // Stores a permit if the reaper is not waiting right now, so it cannot miss this.
        self.reaper_stop.notify_one();
    }
}

impl SessionStore {
    pub(crate) fn new() -> Self {
        Self {
            slots: Mutex::new(Slab::new()),
            live: std::sync::atomic::AtomicUsize::new(0),
            generation: AtomicU32::new(0),
            reaper_started: AtomicBool::new(false),
            epoch: Instant::now(),
            draining: AtomicBool::new(false),
            idle: tokio::sync::Notify::new(),
            reaper_stop: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slab<Slot>> {
        // A panic elsewhere never leaves the slab half-updated: every method finishes its edit
        // before it can panic, so the data behind a poisoned lock is still consistent.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves a slot for a session being initialized; `None` when `max` sessions exist.
    pub(crate) fn reserve(
        &self,
        max: usize,
        make: impl FnOnce(IdParts) -> Arc<SessionInner>,
    ) -> Option<Arc<SessionInner>> {
        let mut slots = self.slots();
        if slots.len() >= max {
            return None;
        }
        let entry = slots.vacant_entry();
        let key = u32::try_from(entry.key()).ok()?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let parts = IdParts::generate(key, generation);
        let session = make(parts);
        entry.insert(Slot {
            parts,
            session: session.clone(),
            live: false,
        });
        Some(session)
    }

    /// Makes a reserved session visible to lookups.
    pub(crate) fn commit(&self, parts: &IdParts) {
        if let Some(slot) = self.slot_mut(&mut self.slots(), parts) {
            if !slot.live {
                slot.live = true;
                self.live.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Removes the session with exactly these parts; `None` if it is already gone.
    pub(crate) fn remove(&self, parts: &IdParts) -> Option<Arc<SessionInner>> {
        let mut slots = self.slots();
        self.slot_mut(&mut slots, parts)?;
        let slot = slots.remove(parts.key as usize);
        if slot.live {
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
        Some(slot.session)
    }

    fn slot_mut<'a>(&self, slots: &'a mut Slab<Slot>, parts: &IdParts) -> Option<&'a mut Slot> {
        slots
            .get_mut(parts.key as usize)
            .filter(|slot| slot.parts.generation == parts.generation)
    }

    /// Finds a live session from the id a client sent.
    pub(crate) fn lookup(&self, text: &[u8]) -> Lookup {
        let Some(parts) = IdParts::decode(text) else {
            return Lookup::NotFound;
        };
        let slots = self.slots();
        match slots.get(parts.key as usize) {
            Some(slot)
                if slot.live
                    && slot.parts.generation == parts.generation
                    && secrets_match(&slot.parts.secret, &parts.secret) =>
            {
                Lookup::Live(slot.session.clone())
            }
            _ => Lookup::NotFound,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    pub(crate) fn live(&self) -> Vec<Arc<SessionInner>> {
        self.slots()
            .iter()
            .filter(|(_, s)| s.live)
            .map(|(_, s)| s.session.clone())
            .collect()
    }

    /// Runs `f` on every live session, in slot order, without cloning a handle to any: the
    /// store stays locked for at most [`WALK_BATCH`] sessions at a time, so a lookup waits
    /// microseconds, never the whole walk. Sessions created meanwhile in slots already walked
    /// are missed, as if created after the walk.
    ///
    /// `f` runs with the store locked: it may lock the session, but must not call back into
    /// the store (no session takes the store's lock while holding its own).
    pub(crate) fn for_each_live(&self, mut f: impl FnMut(&SessionInner)) {
        let mut key = 0;
        loop {
            let slots = self.slots();
            // Keys run below the slab's capacity, which `max_sessions` bounds: the few vacant
            // keys past the last session cost a failed `get` each.
            let end = slots.capacity();
            if key >= end {
                return;
            }
            let stop = end.min(key + WALK_BATCH);
            for slot in (key..stop).filter_map(|k| slots.get(k)) {
                if slot.live {
                    f(&slot.session);
                }
            }
            drop(slots);
            key = stop;
        }
    }

    /// Sessions idle for longer than their idle timeout (no request in flight, no activity
    /// since), and sessions that did not send `notifications/initialized` within their
    /// initialize timeout. Each session follows the configuration of the layer that made it:
    /// clones of a layer share the store but may be configured apart.
    pub(crate) fn reap_candidates(&self) -> (Vec<Arc<SessionInner>>, Vec<Arc<SessionInner>>) {
        let now = self.millis(Instant::now());
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let (mut idle_ones, mut uninitialized) = (Vec::new(), Vec::new());
        for (_, slot) in self.slots().iter().filter(|(_, s)| s.live) {
            let config = &slot.session.config;
            if slot
                .session
                .missed_initialized(now, millis(config.initialize_timeout))
            {
                uninitialized.push(slot.session.clone());
            } else if slot
                .session
                .is_idle_since(now, millis(config.session_idle_timeout))
            {
                idle_ones.push(slot.session.clone());
            }
        }
        (idle_ones, uninitialized)
    }

    /// Every session, live or still initializing.
    pub(crate) fn all(&self) -> Vec<Arc<SessionInner>> {
        self.slots()
            .iter()
            .map(|(_, s)| s.session.clone())
            .collect()
    }

    pub(crate) fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Returns true exactly once: the caller starts the reaper.
    pub(crate) fn claim_reaper(&self) -> bool {
        !self.reaper_started.swap(true, Ordering::AcqRel)
    }
}
