//! The replay log: every event of a session's streams, kept (bounded) so a client that lost its
//! connection can resume with `Last-Event-ID` and miss nothing.
//!
//! The log sits behind [`EventStore`] so a shared store can replace the in-memory one. The trait
//! is session-scoped by construction: a store hands out one [`SessionEventLog`] per session, and
//! a log only knows its own session's streams, so it can never return another session's events.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use std::time::Instant;

use super::id::SessionId;
use super::stream_map::StreamMap;

/// Default number of events kept per stream.
pub const DEFAULT_REPLAY_EVENTS: usize = 256;
/// Default number of bytes kept per stream.
pub const DEFAULT_REPLAY_BYTES: usize = 1024 * 1024;
/// Default age after which an event is no longer replayed.
pub const DEFAULT_REPLAY_AGE: Duration = Duration::from_secs(5 * 60);

/// Makes one [`SessionEventLog`] per session.
pub trait EventStore: Send + Sync + 'static {
    /// The log of one new session. Called while the session store is locked (the session's
    /// slot is being filled): do not block, and do not call back into
    /// [`Sessions`](super::Sessions).
    fn open(&self, session: &SessionId) -> Box<dyn SessionEventLog>;
}

/// The events of one session, stream by stream.
///
/// An event is kept as its sequence number and its encoded bytes *without* the `id:` line: the
/// transport derives the id from the session, the stream and the sequence number, and writes
/// it again on replay. So one broadcast's bytes are shared by every session's log (recording
/// clones a reference, not the bytes). Stream 0 is the session's standalone (GET) stream;
/// request streams count from 1.
///
/// Methods are called with the session's lock held (during a broadcast, the session store's
/// too): they must not block (a networked store would buffer and write in the background), nor
/// call back into [`Sessions`](super::Sessions) or a [`Session`](super::Session).
///
/// # Example
///
/// A log that keeps only the newest event of each stream: a cursor older than the event it
/// replaced cannot be served in full, so the client learns it missed something.
///
/// ```
/// use std::collections::HashMap;
///
/// use bytes::Bytes;
/// use mcp_tower::session::{EventStore, Replay, SessionEventLog};
/// use mcp_tower::SessionId;
/// use mcp_tower::McpLayer;
/// use std::time::Instant;
///
/// struct Kept {
///     /// The sequence number of the event this one replaced (0: none).
///     replaced: u64,
///     seq: u64,
///     event: Bytes,
/// }
///
/// #[derive(Default)]
/// struct Newest(HashMap<u32, Kept>);
///
/// impl SessionEventLog for Newest {
///     fn record(&mut self, stream: u32, seq: u64, event: Bytes, _at: Instant) {
///         let replaced = self.0.get(&stream).map_or(0, |kept| kept.seq);
///         self.0.insert(stream, Kept { replaced, seq, event });
///     }
///
///     fn replay(&self, stream: u32, after: u64) -> Replay {
///         let Some(kept) = self.0.get(&stream) else {
///             return Replay::Unknown;
///         };
///         let newer = if kept.seq > after {
///             vec![(kept.seq, kept.event.clone())]
///         } else {
///             Vec::new()
///         };
///         if after < kept.replaced {
///             Replay::Expired(newer)
///         } else {
///             Replay::Events(newer)
///         }
///     }
///
///     fn forget(&mut self, stream: u32) {
///         self.0.remove(&stream);
///     }
/// }
///
/// struct NewestOnly;
///
/// impl EventStore for NewestOnly {
///     fn open(&self, _session: &SessionId) -> Box<dyn SessionEventLog> {
///         Box::new(Newest::default())
///     }
/// }
///
/// let layer = McpLayer::new().event_store(NewestOnly);
/// # let _ = layer;
/// let mut log = Newest::default();
/// let event = Bytes::from_static(b"event: message\ndata: {}\n\n");
/// log.record(0, 3, event.clone(), Instant::now());
/// log.record(0, 4, event.clone(), Instant::now());
/// assert_eq!(log.replay(0, 3), Replay::Events(vec![(4, event.clone())]));
/// assert_eq!(log.replay(0, 2), Replay::Expired(vec![(4, event)]));
/// assert_eq!(log.replay(1, 0), Replay::Unknown);
/// ```
pub trait SessionEventLog: Send + 'static {
    /// Records event `seq` of `stream`: an encoded event without its `id:` line, produced `at`
    /// (read once per broadcast rather than once per session, from tokio's clock so that a paused
    /// clock in tests moves it).
    fn record(&mut self, stream: u32, seq: u64, event: Bytes, at: Instant);
    /// The events of `stream` after `seq`, oldest first, each with its sequence number.
    fn replay(&self, stream: u32, after: u64) -> Replay;
    /// Drops everything kept for `stream`.
    fn forget(&mut self, stream: u32);
}

/// What a [`SessionEventLog`] can replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The events after the cursor (possibly none), as `(seq, event)`.
    Events(Vec<(u64, Bytes)>),
    /// Some events after the cursor were evicted, so resuming from it would skip messages.
    /// Holds the events after the cursor that are still kept, oldest first (a fresh stream
    /// still delivers those).
    Expired(Vec<(u64, Bytes)>),
    /// The log knows nothing of this stream.
    Unknown,
}

/// The in-memory [`EventStore`]: per stream, a ring bounded by event count, bytes and age.
///
/// ```
/// use mcp_tower::session::MemoryEventStore;
/// use std::time::Duration;
///
/// let store = MemoryEventStore::new()
///     .max_events(1000)
///     .max_bytes(4 << 20)
///     .max_age(Duration::from_secs(600));
/// # let _ = store;
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct MemoryEventStore {
    max_events: usize,
    max_bytes: usize,
    max_age: Duration,
}

impl MemoryEventStore {
    /// A store with the default bounds: 256 events, 1 MiB and 5 minutes per stream.
    pub fn new() -> Self {
        Self {
            max_events: DEFAULT_REPLAY_EVENTS,
            max_bytes: DEFAULT_REPLAY_BYTES,
            max_age: DEFAULT_REPLAY_AGE,
        }
    }

    /// Events kept per stream.
    pub fn max_events(mut self, n: usize) -> Self {
        self.max_events = n.max(1);
        self
    }

    /// Bytes kept per stream.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Age after which events are dropped.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::new()
    }
}

impl EventStore for MemoryEventStore {
    fn open(&self, _session: &SessionId) -> Box<dyn SessionEventLog> {
        Box::new(MemoryLog {
            bounds: *self,
            streams: StreamMap::default(),
        })
    }
}

/// `repr(C)`: the bounds and stream 0's ring (inline in the map) first, so recording a
/// broadcast touches one or two cache lines of the log.
#[repr(C)]
struct MemoryLog {
    bounds: MemoryEventStore,
    streams: StreamMap<Ring>,
}

#[derive(Default)]
#[repr(C)]
struct Ring {
    events: VecDeque<(u64, Instant, Bytes)>,
    bytes: usize,
    /// The highest sequence number evicted: a cursor below it cannot be served.
    evicted_upto: u64,
    /// When the oldest kept event becomes too old to replay: kept beside the counters so a
    /// write checks every bound without reading the oldest event (on another cache line).
    oldest_expires: Option<Instant>,
}

impl Ring {
    fn push(&mut self, bounds: &MemoryEventStore, seq: u64, event: Bytes, now: Instant) {
        if self.events.is_empty() {
            self.oldest_expires = now.checked_add(bounds.max_age);
        }
        self.bytes += event.len();
        self.events.push_back((seq, now, event));
        self.evict(bounds, now);
    }

    fn evict(&mut self, bounds: &MemoryEventStore, now: Instant) {
        loop {
            let too_many = self.events.len() > bounds.max_events;
            let too_big = self.bytes > bounds.max_bytes;
            let too_old = self.oldest_expires.is_some_and(|at| now > at);
            if !(too_many || too_big || too_old) {
                break;
            }
            let Some((seq, _, event)) = self.events.pop_front() else {
                break;
            };
            self.bytes -= event.len();
            self.evicted_upto = seq;
            self.oldest_expires = self
                .events
                .front()
                .and_then(|(_, at, _)| at.checked_add(bounds.max_age));
        }
    }
}

impl SessionEventLog for MemoryLog {
    fn record(&mut self, stream: u32, seq: u64, event: Bytes, at: Instant) {
        self.streams
            .get_or_default(stream)
            .push(&self.bounds, seq, event, at);
    }

    fn replay(&self, stream: u32, after: u64) -> Replay {
        let Some(ring) = self.streams.get(&stream) else {
            return Replay::Unknown;
        };
        // tokio's clock, so a paused clock in tests moves expiry too.
        let now = tokio::time::Instant::now().into_std();
        let mut gap = after < ring.evicted_upto;
        let mut out = Vec::new();
        for (seq, at, event) in &ring.events {
            if *seq <= after {
                continue;
            }
            if now.saturating_duration_since(*at) > self.bounds.max_age {
                // Too old to replay, even before the next write evicts it.
                gap = true;
                continue;
            }
            out.push((*seq, event.clone()));
        }
        if gap {
            Replay::Expired(out)
        } else {
            Replay::Events(out)
        }
    }

    fn forget(&mut self, stream: u32) {
        self.streams.remove(&stream);
    }
}

impl fmt::Debug for dyn SessionEventLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionEventLog")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(store: MemoryEventStore) -> Box<dyn SessionEventLog> {
        store.open(&super::super::id::IdParts::generate(0, 0).encode())
    }

    fn ev(n: u64) -> Bytes {
        Bytes::from(format!("event {n}"))
    }

    fn evs(seqs: &[u64]) -> Vec<(u64, Bytes)> {
        seqs.iter().map(|&n| (n, ev(n))).collect()
    }

    #[test]
    fn evicts_by_count() {
        let mut log = log(MemoryEventStore::new().max_events(3));
        for seq in 1..=5 {
            log.record(1, seq, ev(seq), tokio::time::Instant::now().into_std());
        }
        assert_eq!(log.replay(1, 2), Replay::Events(evs(&[3, 4, 5])));
        assert_eq!(log.replay(1, 1), Replay::Expired(evs(&[3, 4, 5])));
        assert_eq!(log.replay(1, 5), Replay::Events(evs(&[])));
        assert_eq!(log.replay(2, 0), Replay::Unknown);
    }

    #[test]
    fn evicts_by_bytes() {
        // Each event is 7 bytes; 15 bytes hold two.
        let mut log = log(MemoryEventStore::new().max_bytes(15));
        for seq in 1..=4 {
            log.record(1, seq, ev(seq), tokio::time::Instant::now().into_std());
        }
        assert_eq!(log.replay(1, 2), Replay::Events(evs(&[3, 4])));
        assert_eq!(log.replay(1, 1), Replay::Expired(evs(&[3, 4])));
    }

    #[tokio::test(start_paused = true)]
    async fn evicts_by_age() {
        let mut log = log(MemoryEventStore::new().max_age(Duration::from_secs(10)));
        log.record(1, 1, ev(1), tokio::time::Instant::now().into_std());
        tokio::time::advance(Duration::from_secs(6)).await;
        log.record(1, 2, ev(2), tokio::time::Instant::now().into_std());
        assert_eq!(log.replay(1, 0), Replay::Events(evs(&[1, 2])));
        tokio::time::advance(Duration::from_secs(6)).await;
        // Event 1 is now too old to replay, even before the next write evicts it.
        assert_eq!(log.replay(1, 0), Replay::Expired(evs(&[2])));
        assert_eq!(log.replay(1, 1), Replay::Events(evs(&[2])));
        log.record(1, 3, ev(3), tokio::time::Instant::now().into_std());
        assert_eq!(log.replay(1, 0), Replay::Expired(evs(&[2, 3])));
        log.forget(1);
        assert_eq!(log.replay(1, 2), Replay::Unknown);
    }
}
