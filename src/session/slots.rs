//! The slab behind the node-local session registry: one `Mutex<Slab>`, locked only inside
//! short synchronous methods. Generic over what a slot holds, so the sessions it holds can
//! point back at it without a module cycle.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

// tokio's clock, so idle expiry follows a paused clock in tests.
use tokio::time::Instant;

use slab::Slab;

use super::id::{secrets_match, IdParts};

/// Sessions [`Slots::for_each_live`] visits per hold of the lock: a few hundred
/// microseconds of a broadcast at most.
const WALK_BATCH: usize = 256;

/// Where a session sits: its slab key and the generation that guards against a reused slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotKey {
    key: u32,
    generation: u32,
}

impl From<&IdParts> for SlotKey {
    fn from(parts: &IdParts) -> Self {
        Self {
            key: parts.key,
            generation: parts.generation,
        }
    }
}

struct Slot<T> {
    parts: IdParts,
    session: Arc<T>,
    /// False while the `initialize` that created it is still running.
    live: bool,
}

/// Sessions by slab key; a slot is live once its session's `initialize` succeeded.
pub(crate) struct Slots<T> {
    slots: Mutex<Slab<Slot<T>>>,
    /// Live (committed) sessions, so `len` is O(1).
    live: std::sync::atomic::AtomicUsize,
    /// Generations grow across the whole store, so a reused slot never matches an old id.
    generation: AtomicU32,
    pub(crate) epoch: Instant,
    /// Woken whenever a session's last in-flight request ends (shutdown waits on it).
    pub(crate) idle: tokio::sync::Notify,
}

impl<T> Slots<T> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Mutex::new(Slab::new()),
            live: std::sync::atomic::AtomicUsize::new(0),
            generation: AtomicU32::new(0),
            epoch: Instant::now(),
            idle: tokio::sync::Notify::new(),
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slab<Slot<T>>> {
        // A panic elsewhere never leaves the slab half-updated: every method finishes its edit
        // before it can panic, so the data behind a poisoned lock is still consistent.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves a slot for a session being initialized; `None` when `max` sessions exist.
    pub(crate) fn reserve(
        &self,
        max: usize,
        make: impl FnOnce(IdParts) -> Arc<T>,
    ) -> Option<Arc<T>> {
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
    pub(crate) fn commit(&self, at: SlotKey) {
        if let Some(slot) = self.slot_mut(&mut self.slots(), at) {
            if !slot.live {
                slot.live = true;
                self.live.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Removes the session in exactly this slot; `None` if it is already gone.
    pub(crate) fn remove(&self, at: SlotKey) -> Option<Arc<T>> {
        let mut slots = self.slots();
        self.slot_mut(&mut slots, at)?;
        let slot = slots.remove(at.key as usize);
        if slot.live {
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
        Some(slot.session)
    }

    fn slot_mut<'a>(&self, slots: &'a mut Slab<Slot<T>>, at: SlotKey) -> Option<&'a mut Slot<T>> {
        slots
            .get_mut(at.key as usize)
            .filter(|slot| slot.parts.generation == at.generation)
    }

    /// Finds a live session from the id a client sent.
    /// `None` when it is unknown, ended, or not one of our ids: 404 either way.
    pub(crate) fn lookup(&self, text: &[u8]) -> Option<Arc<T>> {
        let parts = IdParts::decode(text)?;
        let slots = self.slots();
        match slots.get(parts.key as usize) {
            Some(slot)
                if slot.live
                    && slot.parts.generation == parts.generation
                    && secrets_match(&slot.parts.secret, &parts.secret) =>
            {
                Some(slot.session.clone())
            }
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    pub(crate) fn live(&self) -> Vec<Arc<T>> {
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
    pub(crate) fn for_each_live(&self, mut f: impl FnMut(&T)) {
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

    /// The live sessions `pick` chooses, taken at one instant.
    pub(crate) fn live_where(&self, mut pick: impl FnMut(&T) -> bool) -> Vec<Arc<T>> {
        self.slots()
            .iter()
            .filter(|(_, s)| s.live && pick(&s.session))
            .map(|(_, s)| s.session.clone())
            .collect()
    }

    /// Every session, live or still initializing.
    pub(crate) fn all(&self) -> Vec<Arc<T>> {
        self.slots()
            .iter()
            .map(|(_, s)| s.session.clone())
            .collect()
    }

    pub(crate) fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}
