//! Adaptive throttling: one additive-increase / multiplicative-decrease controller per group,
//! fed with command latencies (relative to each task's own baseline) and connection errors.
//!
//! Input: observations of finished attempts. Output: limit changes (`from`, `to`, reason) that
//! the limiter applies and the dispatcher turns into `throttle_changed` events.
//!
//! The rule (documented in `docs/engine.md`):
//! - a task's baseline is the mean duration of its first [`BASELINE_SAMPLES`] attempts; until
//!   then its attempts count as healthy; an attempt's *ratio* is its duration over the baseline;
//! - each group keeps an EWMA of ratios (weight [`EWMA_WEIGHT`] on the newest, starting at 1);
//! - **decrease**: a connection error, or the EWMA rising above [`SLOW_RATIO`], halves the
//!   group's limit (never below 1), resets the EWMA to 1 and starts a cooldown of as many
//!   observations as the new limit, during which no further decrease happens;
//! - **increase**: after as many consecutive healthy observations (ratio ≤ [`HEALTHY_RATIO`], no
//!   error) as the current limit, the limit grows by one, up to its ceiling (the static limit).

use super::event::ThrottleReason;
use std::collections::HashMap;
use std::time::Duration;

/// Attempts that make a task's latency baseline.
pub const BASELINE_SAMPLES: u32 = 5;
/// EWMA weight of the newest ratio.
pub const EWMA_WEIGHT: f64 = 0.3;
/// An EWMA above this many times the baseline backs the group off.
pub const SLOW_RATIO: f64 = 2.0;
/// A ratio at most this counts as healthy for growing back.
pub const HEALTHY_RATIO: f64 = 1.5;

/// What one finished attempt tells the throttle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// The command ran (whatever its exit code) and took this long relative to its baseline.
    Latency { ratio: f64 },
    /// The host could not be reached or the session broke.
    ConnectionError,
}

/// Per-task latency baselines, shared by all groups.
#[derive(Debug, Default)]
pub struct Baselines {
    tasks: HashMap<String, (u32, Duration)>,
}

impl Baselines {
    /// Records a duration of `task` and returns its ratio to the baseline (1.0 while the
    /// baseline is still being measured).
    pub fn ratio(&mut self, task: &str, took: Duration) -> f64 {
        let entry = self
            .tasks
            .entry(task.to_string())
            .or_insert((0, Duration::ZERO));
        if entry.0 < BASELINE_SAMPLES {
            entry.0 += 1;
            entry.1 += took;
            return 1.0;
        }
        let base = (entry.1 / BASELINE_SAMPLES).max(Duration::from_millis(1));
        took.as_secs_f64() / base.as_secs_f64()
    }
}

/// The AIMD controller of one group.
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: usize,
    ceiling: usize,
    ewma: f64,
    healthy_streak: usize,
    cooldown: usize,
}

impl Aimd {
    /// A controller starting at its ceiling (the static limit).
    pub fn new(ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        Aimd {
            limit: ceiling,
            ceiling,
            ewma: 1.0,
            healthy_streak: 0,
            cooldown: 0,
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Feeds one observation; returns `(from, to, reason)` when the limit changes.
    pub fn observe(&mut self, sample: Sample) -> Option<(usize, usize, ThrottleReason)> {
        let (slow, reason) = match sample {
            Sample::ConnectionError => (true, ThrottleReason::ConnectionErrors),
            Sample::Latency { ratio } => {
                self.ewma = (1.0 - EWMA_WEIGHT) * self.ewma + EWMA_WEIGHT * ratio;
                if self.ewma > SLOW_RATIO {
                    (true, ThrottleReason::Latency)
                } else if ratio <= HEALTHY_RATIO {
                    (false, ThrottleReason::Recovery)
                } else {
                    // Neither healthy nor alarming: it breaks the streak and nothing else.
                    self.healthy_streak = 0;
                    self.cooldown = self.cooldown.saturating_sub(1);
                    return None;
                }
            }
        };
        if slow {
            self.healthy_streak = 0;
            if self.cooldown > 0 {
                self.cooldown -= 1;
                return None;
            }
            let from = self.limit;
            self.limit = (self.limit / 2).max(1);
            self.ewma = 1.0;
            self.cooldown = self.limit;
            return (from != self.limit).then_some((from, self.limit, reason));
        }
        self.cooldown = self.cooldown.saturating_sub(1);
        self.healthy_streak += 1;
        if self.healthy_streak >= self.limit && self.limit < self.ceiling {
            self.healthy_streak = 0;
            let from = self.limit;
            self.limit += 1;
            return Some((from, self.limit, ThrottleReason::Recovery));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_halve_then_cooldown_then_grow_back_one_per_round() {
        let mut a = Aimd::new(8);
        assert_eq!(
            a.observe(Sample::ConnectionError),
            Some((8, 4, ThrottleReason::ConnectionErrors))
        );
        // Cooldown of 4 observations: further errors do not cascade.
        for _ in 0..4 {
            assert_eq!(a.observe(Sample::ConnectionError), None);
        }
        assert_eq!(
            a.observe(Sample::ConnectionError),
            Some((4, 2, ThrottleReason::ConnectionErrors))
        );
        // Two healthy observations grow 2 → 3, then three more grow 3 → 4.
        let healthy = Sample::Latency { ratio: 1.0 };
        assert_eq!(a.observe(healthy), None);
        assert_eq!(a.observe(healthy), Some((2, 3, ThrottleReason::Recovery)));
        assert_eq!(a.observe(healthy), None);
        assert_eq!(a.observe(healthy), None);
        assert_eq!(a.observe(healthy), Some((3, 4, ThrottleReason::Recovery)));
        for _ in 0..100 {
            a.observe(healthy);
        }
        assert_eq!(a.limit(), 8, "never above the ceiling");
    }

    #[test]
    fn sustained_slow_latency_backs_off_but_one_slow_command_does_not() {
        let mut a = Aimd::new(10);
        assert_eq!(
            a.observe(Sample::Latency { ratio: 3.0 }),
            None,
            "ewma 1.6 stays under 2"
        );
        assert_eq!(a.observe(Sample::Latency { ratio: 1.0 }), None);
        let mut changed = None;
        for _ in 0..5 {
            if let Some(c) = a.observe(Sample::Latency { ratio: 4.0 }) {
                changed = Some(c);
                break;
            }
        }
        assert_eq!(changed, Some((10, 5, ThrottleReason::Latency)));
    }

    #[test]
    fn baselines_need_samples_before_judging() {
        let mut b = Baselines::default();
        for _ in 0..BASELINE_SAMPLES {
            assert_eq!(b.ratio("t", Duration::from_millis(100)), 1.0);
        }
        let r = b.ratio("t", Duration::from_millis(300));
        assert!((r - 3.0).abs() < 1e-9, "{r}");
        assert_eq!(
            b.ratio("other", Duration::from_secs(60)),
            1.0,
            "baselines are per task"
        );
    }
}
