//! Time for the engine: the `Clock` trait gives wall-clock `DateTime<Utc>` for windows; waiting is
//! always tokio's (`tokio::time`), so a test clock on tokio's paused time runs window tests in
//! milliseconds.
//!
//! Input: nothing but tokio's `Instant`. Output: wall-clock times and the tokio `Instant` at
//! which a wall-clock time falls.

use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::time::Instant;

/// Where the engine reads wall-clock time.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> DateTime<Utc>;

    /// The tokio instant at which `wall` falls (now, if it is already past).
    fn instant_at(&self, wall: DateTime<Utc>) -> Instant {
        let now = Instant::now();
        let ahead = (wall - self.now()).to_std().unwrap_or(Duration::ZERO);
        now + ahead
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock whose wall time is a fixed start plus the tokio time elapsed since it was made.
/// Under `tokio::time::pause()` tokio's time only moves when every task waits on a timer, so
/// an hour of windows passes in microseconds and every run is deterministic.
#[derive(Debug, Clone, Copy)]
pub struct VirtualClock {
    start_wall: DateTime<Utc>,
    start_instant: Instant,
}

impl VirtualClock {
    /// A clock that reads `start` now. Create it inside the (paused) tokio runtime.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        VirtualClock {
            start_wall: start,
            start_instant: Instant::now(),
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.start_instant);
        self.start_wall + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }

    fn instant_at(&self, wall: DateTime<Utc>) -> Instant {
        // Exact (no rounding through `now()`): deadlines computed from wall times land on the
        // very instant tests expect.
        let offset = (wall - self.start_wall).to_std().unwrap_or(Duration::ZERO);
        self.start_instant + offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn virtual_clock_follows_paused_tokio_time() {
        let start =
            DateTime::parse_from_rfc3339("2026-12-06T01:00:00Z").map(|d| d.with_timezone(&Utc));
        let Ok(start) = start else {
            panic!("bad literal")
        };
        let clock = VirtualClock::starting_at(start);
        let real = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
        assert_eq!(clock.now(), start + chrono::Duration::hours(3));
        assert!(
            real.elapsed() < Duration::from_secs(5),
            "paused time must not really sleep"
        );
        let later = start + chrono::Duration::hours(4);
        assert_eq!(
            clock.instant_at(later) - Instant::now(),
            Duration::from_secs(3600)
        );
    }
}
