//! Idle expiry on one node: a task that ends sessions idle past their timeout, and sessions
//! that never sent `notifications/initialized`. (A shared store expires records itself, by TTL.)

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::config::SessionConfig;
use super::delivery::CloseReason;
use super::registry::Registry;

/// Starts the reaper once per registry, if a tokio runtime is running. It ticks at the pace
/// the first layer to start it needs (a quarter of its shorter timeout, 50 ms to 30 s); each
/// session follows its own layer's timeouts. It holds the registry weakly and stops when the
/// layer and every service built from it are dropped.
pub(crate) fn start_reaper(registry: &Arc<Registry>, config: &SessionConfig) {
    let idle = config.session_idle_timeout;
    let init = config.initialize_timeout;
    if !registry.claim_reaper() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let period = (idle.min(init) / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    let weak = Arc::downgrade(registry);
    let stop = registry.reaper_stop.clone();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.notified() => return,
            }
            let Some(registry) = weak.upgrade() else {
                return;
            };
            reap(&registry);
        }
    });
}

/// One pass: ends the sessions that missed `notifications/initialized` or are idle.
fn reap(registry: &Registry) {
    let slots = &registry.slots;
    let now = slots.millis(Instant::now());
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let uninitialized =
        slots.live_where(|s| s.missed_initialized(now, millis(s.config.initialize_timeout)));
    let idle = slots.live_where(|s| {
        !s.missed_initialized(now, millis(s.config.initialize_timeout))
            && s.is_idle_since(now, millis(s.config.session_idle_timeout))
    });
    for session in uninitialized {
        session.close(CloseReason::InitializeTimeout);
    }
    for session in idle {
        // An open stream counts as activity.
        if session.has_any_connection() {
            session.touch();
        } else {
            session.close(CloseReason::Expired);
        }
    }
}
