//! Deadlines from configured durations, which may be as large as `Duration::MAX` ("never").

use std::time::Duration;

use tokio::time::Instant;

/// Far enough to mean never, near enough that no clock overflows (tokio uses the same).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `from + after`, or a far-future instant where that would overflow (`+` panics).
pub(crate) fn deadline(from: Instant, after: Duration) -> Instant {
    from.checked_add(after)
        .or_else(|| from.checked_add(FAR_FUTURE))
        .unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_too_large_for_the_clock_is_far_away_not_a_panic() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(deadline(now, Duration::MAX) >= now + FAR_FUTURE);
    }
}
