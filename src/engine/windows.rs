//! Windows at run time: whether a host's windows (all of them: intersection) leave enough time
//! to start a task now, and when they next will.
//!
//! Input: the host's `WindowCheck`s, a wall-clock time and the time a start needs
//! (max(cutoff, estimate)). Output: a `Fit`.

use super::spec::WindowCheck;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// Occurrences examined before giving up on finding a start (a window that never leaves
/// enough time, e.g. shorter than the cutoff).
const MAX_STEPS: usize = 1000;

/// Whether a task may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Yes; the windows close after this long (`None`: no window, never).
    Now { closes_in: Option<Duration> },
    /// No; the next start that fits (`None`: never again).
    Later { next: Option<DateTime<Utc>> },
}

/// The time left in the intersection of `windows` at `at`: `Some(None)` when there is no
/// window, `Some(Some(d))` when open, `None` when closed.
pub fn remaining(windows: &[Arc<dyn WindowCheck>], at: DateTime<Utc>) -> Option<Option<Duration>> {
    let mut least: Option<Duration> = None;
    for w in windows {
        let r = w.remaining(at)?;
        least = Some(least.map_or(r, |l| l.min(r)));
    }
    Some(least)
}

/// Whether a start at `at` that needs `need` of open window fits, and if not when it next does.
pub fn fit(windows: &[Arc<dyn WindowCheck>], at: DateTime<Utc>, need: Duration) -> Fit {
    match remaining(windows, at) {
        Some(None) => return Fit::Now { closes_in: None },
        Some(Some(r)) if r >= need => return Fit::Now { closes_in: Some(r) },
        _ => {}
    }
    Fit::Later {
        next: next_fit(windows, at, need),
    }
}

fn next_fit(
    windows: &[Arc<dyn WindowCheck>],
    at: DateTime<Utc>,
    need: Duration,
) -> Option<DateTime<Utc>> {
    let mut t = at;
    for _ in 0..MAX_STEPS {
        let mut latest_open = None;
        for w in windows {
            if w.remaining(t).is_none() {
                let n = w.next_open(t)?;
                latest_open = Some(latest_open.map_or(n, |l: DateTime<Utc>| l.max(n)));
            }
        }
        if let Some(n) = latest_open {
            t = n.max(t);
            continue;
        }
        // All open at t.
        let r = remaining(windows, t).flatten()?;
        if r >= need {
            return Some(t);
        }
        // Too short: move to where the earliest window closes, and look again from there.
        t += chrono::Duration::from_std(r.max(Duration::from_secs(1))).ok()?;
    }
    None
}

/// Test windows: fixed intervals on the timeline.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::*;

    /// A window open over these `[start, end)` intervals.
    #[derive(Debug, Clone)]
    pub struct Intervals(pub Vec<(DateTime<Utc>, DateTime<Utc>)>);

    impl WindowCheck for Intervals {
        fn remaining(&self, at: DateTime<Utc>) -> Option<Duration> {
            self.0
                .iter()
                .find(|(s, e)| *s <= at && at < *e)
                .and_then(|(_, e)| (*e - at).to_std().ok())
        }

        fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
            if self.remaining(at).is_some() {
                return Some(at);
            }
            self.0
                .iter()
                .filter(|(s, _)| *s >= at)
                .map(|(s, _)| *s)
                .min()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Intervals;
    use super::*;

    fn t(h: i64, m: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(h) + chrono::Duration::minutes(m)
    }

    fn w(iv: &[(DateTime<Utc>, DateTime<Utc>)]) -> Arc<dyn WindowCheck> {
        Arc::new(Intervals(iv.to_vec()))
    }

    #[test]
    fn intersection_needs_every_window_open_and_enough_time() {
        let a = w(&[(t(1, 0), t(3, 0)), (t(25, 0), t(27, 0))]);
        let b = w(&[(t(2, 0), t(5, 0)), (t(26, 0), t(29, 0))]);
        let both = [a, b];
        let need = Duration::from_secs(30 * 60);
        assert_eq!(
            fit(&both, t(2, 0), need),
            Fit::Now {
                closes_in: Some(Duration::from_secs(3600))
            }
        );
        assert_eq!(
            fit(&both, t(1, 0), need),
            Fit::Later {
                next: Some(t(2, 0))
            }
        );
        // 2:40 leaves 20 minutes: the next fit is the next day's overlap.
        assert_eq!(
            fit(&both, t(2, 40), need),
            Fit::Later {
                next: Some(t(26, 0))
            }
        );
        assert_eq!(fit(&both, t(30, 0), need), Fit::Later { next: None });
        assert_eq!(fit(&[], t(30, 0), need), Fit::Now { closes_in: None });
    }
}
