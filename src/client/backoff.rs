//! The reconnection policy: capped exponential backoff with full jitter, as a pure computation.

use std::time::Duration;

use tokio::time::Instant;

/// Default delay ceiling before the first reconnection: 1 second.
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_secs(1);
/// Default cap on the delay ceiling: 30 seconds.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// The longest a server-given floor may hold the client back, unless `max_delay` is longer.
const MAX_SERVER_FLOOR: Duration = Duration::from_secs(3600);

/// When and how often a broken stream is reconnected.
///
/// After the *n*-th failure in a row (counting from zero) the delay *ceiling* is
/// `min(max_delay, initial_delay × 2ⁿ)`. With jitter on (the default) the delay is drawn
/// uniformly from `[0, ceiling]` ("full jitter"), so many clients that lost the same server do
/// not come back in lockstep. Two floors apply on top: the server's last SSE `retry:` field and
/// the `Retry-After` header of a `429`/`503`-style refusal; the delay is never below either.
/// Those floors come from the server, so they are capped in turn, at one hour or at
/// [`max_delay`](Self::max_delay) if that is longer: one header cannot park the client for
/// ever.
///
/// Giving up: after [`max_attempts`](Self::max_attempts) reconnections in a row without
/// progress, or when the next delay would end more than [`max_elapsed`](Self::max_elapsed) after
/// the first failure of the run. Both are unlimited by default, as in a browser's `EventSource`:
/// the delay is capped, so a dead server costs one request every 30 seconds at most.
///
/// *Progress* resets the run: an event delivered, or a new event id recorded (a *priming* event
/// from a server that polls). A connection that is accepted and then closed cleanly without
/// either is a failure like any other, so a server that closes at once can never cause a tight
/// reconnect loop.
///
/// # Example
///
/// ```
/// use mcp_tower::client::Backoff;
/// use std::time::Duration;
///
/// let backoff = Backoff::new()
///     .initial_delay(Duration::from_millis(250))
///     .max_delay(Duration::from_secs(10))
///     .max_attempts(8)
///     .max_elapsed(Duration::from_secs(120));
/// assert_eq!(backoff.ceiling(0), Duration::from_millis(250));
/// assert_eq!(backoff.ceiling(3), Duration::from_secs(2));
/// assert_eq!(backoff.ceiling(10), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Backoff {
    initial: Duration,
    max_delay: Duration,
    max_attempts: Option<u32>,
    max_elapsed: Option<Duration>,
    jitter: bool,
}

impl Backoff {
    /// The default policy: 1 s initial ceiling, 30 s cap, full jitter, no limit on attempts or
    /// time.
    pub const fn new() -> Self {
        Self {
            initial: DEFAULT_INITIAL_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            max_attempts: None,
            max_elapsed: None,
            jitter: true,
        }
    }

    /// Sets the delay ceiling after the first failure (default 1 s).
    pub const fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// Caps the delay ceiling (default 30 s). Server-given floors (`retry:`, `Retry-After`)
    /// may still be longer, up to one hour or this cap, whichever is longer.
    pub const fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Gives up after `attempts` reconnections in a row without progress (default: never).
    /// `0` means a broken stream is never reconnected.
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Gives up when the next reconnection would start more than `elapsed` after the first
    /// failure of the run (default: never).
    pub const fn max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = Some(elapsed);
        self
    }

    /// Turns full jitter on or off (default on). Off, the delay is exactly the ceiling, which is
    /// predictable but makes clients that lost the same server reconnect in step.
    pub const fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The delay ceiling after the `failure`-th failure in a row (counting from zero):
    /// `min(max_delay, initial_delay × 2^failure)`.
    #[must_use]
    pub fn ceiling(&self, failure: u32) -> Duration {
        let factor = 1u32.checked_shl(failure.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// The delay before the next attempt: the jittered ceiling, raised to `floor` (itself
    /// capped, as the server chose it).
    pub(crate) fn delay(
        &self,
        failure: u32,
        floor: Option<Duration>,
        rng: &mut Jitter,
    ) -> Duration {
        let ceiling = self.ceiling(failure);
        let delay = if self.jitter {
            ceiling.mul_f64(rng.unit())
        } else {
            ceiling
        };
        let cap = self.max_delay.max(MAX_SERVER_FLOOR);
        floor.map_or(delay, |floor| delay.max(floor.min(cap)))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Failures in a row since the last progress, and when the run started.
#[derive(Debug, Clone, Default)]
pub(crate) struct RetryState {
    failures: u32,
    since: Option<Instant>,
}

impl RetryState {
    /// An event was delivered or a new event id recorded: the next failure starts a new run.
    pub(crate) fn progress(&mut self) {
        *self = Self::default();
    }

    /// Counts one failure and returns how long to wait before reconnecting, or `None` when the
    /// policy says to give up.
    pub(crate) fn next_delay(
        &mut self,
        policy: &Backoff,
        now: Instant,
        floor: Option<Duration>,
        rng: &mut Jitter,
    ) -> Option<Duration> {
        let since = *self.since.get_or_insert(now);
        self.failures = self.failures.saturating_add(1);
        if policy.max_attempts.is_some_and(|max| self.failures > max) {
            return None;
        }
        let delay = policy.delay(self.failures - 1, floor, rng);
        let ends = now.saturating_duration_since(since).saturating_add(delay);
        if policy.max_elapsed.is_some_and(|max| ends > max) {
            return None;
        }
        Some(delay)
    }

    /// Failures in a row so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

/// A tiny xorshift64* generator for jitter, seeded from the OS. Not for secrets.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        // A failing OS source only makes the jitter less random; fall back to the clock.
        let seed = getrandom::u64().unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
        });
        Self::seeded(seed)
    }

    pub(crate) fn seeded(seed: u64) -> Self {
        Self(seed | 1) // xorshift must not start at zero
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn delay_sequence_doubles_to_the_cap() {
        let policy = Backoff::new().jitter(false);
        let mut state = RetryState::default();
        let mut rng = Jitter::seeded(1);
        let now = Instant::now();
        let delays: Vec<_> = (0..8)
            .map(|_| state.next_delay(&policy, now, None, &mut rng).unwrap())
            .collect();
        assert_eq!(delays, [S(1), S(2), S(4), S(8), S(16), S(30), S(30), S(30)]);
        assert_eq!(policy.ceiling(u32::MAX), S(30));
    }

    #[test]
    fn full_jitter_stays_within_bounds_and_spreads() {
        let policy = Backoff::new();
        let mut rng = Jitter::seeded(42);
        for failure in 0..10 {
            let ceiling = policy.ceiling(failure);
            let samples: Vec<_> = (0..200)
                .map(|_| policy.delay(failure, None, &mut rng))
                .collect();
            assert!(samples.iter().all(|d| *d <= ceiling));
            // Full jitter: both halves of the range are used.
            assert!(samples.iter().any(|d| *d < ceiling / 4));
            assert!(samples.iter().any(|d| *d > ceiling * 3 / 4));
        }
    }

    #[test]
    fn floor_raises_the_delay_but_never_lowers_it() {
        let policy = Backoff::new().jitter(false);
        let mut rng = Jitter::seeded(7);
        assert_eq!(policy.delay(0, Some(S(5)), &mut rng), S(5));
        assert_eq!(policy.delay(4, Some(S(5)), &mut rng), S(16));
        assert_eq!(
            policy.delay(9, Some(S(60)), &mut rng),
            S(60),
            "above the cap"
        );
        assert_eq!(policy.delay(0, Some(Duration::MAX), &mut rng), S(3600));
        let long = policy.max_delay(S(7200));
        assert_eq!(long.delay(0, Some(Duration::MAX), &mut rng), S(7200));
    }

    #[test]
    fn attempts_cap_and_progress_resets_the_run() {
        let policy = Backoff::new().max_attempts(2);
        let mut state = RetryState::default();
        let mut rng = Jitter::seeded(3);
        let now = Instant::now();
        assert!(state.next_delay(&policy, now, None, &mut rng).is_some());
        assert!(state.next_delay(&policy, now, None, &mut rng).is_some());
        assert!(state.next_delay(&policy, now, None, &mut rng).is_none());
        state.progress();
        assert_eq!(state.failures(), 0);
        assert!(state.next_delay(&policy, now, None, &mut rng).is_some());
        let never = Backoff::new().max_attempts(0);
        assert!(RetryState::default()
            .next_delay(&never, now, None, &mut rng)
            .is_none());
    }

    #[test]
    fn elapsed_cap_counts_from_the_first_failure() {
        let policy = Backoff::new().jitter(false).max_elapsed(S(10));
        let mut state = RetryState::default();
        let mut rng = Jitter::seeded(3);
        let t0 = Instant::now();
        assert_eq!(state.next_delay(&policy, t0, None, &mut rng), Some(S(1)));
        assert_eq!(
            state.next_delay(&policy, t0 + S(1), None, &mut rng),
            Some(S(2))
        );
        assert_eq!(
            state.next_delay(&policy, t0 + S(3), None, &mut rng),
            Some(S(4))
        );
        // 7 s in, the next 8 s delay would end at 15 s > 10 s.
        assert_eq!(state.next_delay(&policy, t0 + S(7), None, &mut rng), None);
    }

    #[test]
    fn huge_delays_saturate_instead_of_overflowing() {
        let policy = Backoff::new()
            .jitter(false)
            .initial_delay(Duration::MAX)
            .max_delay(Duration::MAX)
            .max_elapsed(S(10));
        let mut state = RetryState::default();
        let mut rng = Jitter::seeded(5);
        let t0 = Instant::now();
        assert_eq!(state.next_delay(&policy, t0, None, &mut rng), None);
        assert_eq!(state.next_delay(&policy, t0 + S(1), None, &mut rng), None);
    }

    #[test]
    fn jitter_unit_is_in_range() {
        let mut rng = Jitter::seeded(0);
        for _ in 0..10_000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
        }
        let _ = Jitter::new().unit();
    }
}
