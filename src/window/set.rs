//! A host's window set: the intersection of every window covering it, minus blackout dates,
//! and the queries the checker, the plan and the engine ask of it (open, remaining, next open,
//! occurrences, longest occurrence).

use super::occur::{self, Coalesce, Intersect, Interval, Stream, FOREVER};
use super::WindowSpec;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// How far past the last occurrence found the intersection of several windows keeps looking
/// before it concludes they never meet again: a year and a month covers every weekly pattern
/// through a full cycle of daylight-saving changes.
const SEARCH: TimeDelta = TimeDelta::days(400);

/// The windows a host is subject to. It is open when every window is open and the day is not
/// a blackout date (in each window's zone). No window at all means always open (a workflow that
/// declares no window).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowSet {
    /// The windows, all of which must be open (intersection).
    pub windows: Vec<WindowSpec>,
    /// Dates never open, as whole days in each window's own zone (UTC for `always`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blackouts: Vec<NaiveDate>,
}

/// The occurrences of a [`WindowSet`] from an instant on: sorted, disjoint, non-empty, each
/// starting at or after that instant (an occurrence already open is cut at it).
pub struct Occurrences<'a> {
    inner: Stream<'a>,
    from: DateTime<Utc>,
}

impl Iterator for Occurrences<'_> {
    type Item = Interval;
    fn next(&mut self) -> Option<Interval> {
        loop {
            let mut iv = self.inner.next()?;
            iv.start = iv.start.max(self.from);
            if iv.start < iv.end {
                return Some(iv);
            }
        }
    }
}

impl WindowSet {
    /// A set of windows with blackout dates.
    pub fn new(windows: Vec<WindowSpec>, mut blackouts: Vec<NaiveDate>) -> Self {
        blackouts.sort();
        blackouts.dedup();
        WindowSet { windows, blackouts }
    }

    /// One window, no blackouts.
    pub fn single(spec: WindowSpec) -> Self {
        WindowSet::new(vec![spec], Vec::new())
    }

    /// The occurrences from `from` on. Finite when every window's days are one-off dates, or
    /// when several windows stop meeting (nothing in common for [`SEARCH`] days after the last
    /// common occurrence and after their last one-off date).
    pub fn occurrences(&self, from: DateTime<Utc>) -> Occurrences<'_> {
        let inner: Stream<'_> = match self.windows.as_slice() {
            [] => {
                let stream = occur::always(from);
                if self.blackouts.is_empty() {
                    stream
                } else {
                    let cuts = occur::blackout_intervals(&self.blackouts, chrono_tz::UTC);
                    Box::new(Coalesce::new(occur::Subtract::new(stream, cuts)))
                }
            }
            [one] => occur::spec_stream(one, &self.blackouts, from),
            many => {
                let streams = many
                    .iter()
                    .map(|w| occur::spec_stream(w, &self.blackouts, from))
                    .collect();
                let last_date = self
                    .windows
                    .iter()
                    .flat_map(|w| w.rules().flat_map(|r| r.days.dates.last().copied()))
                    .max()
                    .and_then(|d| d.succ_opt()?.succ_opt()?.and_hms_opt(0, 0, 0))
                    .map_or(from, |d| d.and_utc());
                Box::new(Coalesce::new(Intersect::new(
                    streams, from, SEARCH, last_date,
                )))
            }
        };
        Occurrences { inner, from }
    }

    /// The occurrence open at `t`, or else the next one.
    pub fn current_or_next(&self, t: DateTime<Utc>) -> Option<Interval> {
        self.occurrences(t).next()
    }

    /// The occurrence open at `t` or else the next one, whole: not cut at `t` (an occurrence
    /// that opened more than two days before `t` is shown from then; `always` from `t`). For
    /// showing windows to people.
    pub fn occurrence_at_or_after(&self, t: DateTime<Utc>) -> Option<Interval> {
        let look_back = t.checked_sub_signed(TimeDelta::days(2)).unwrap_or(t);
        self.occurrences(look_back)
            .find(|iv| iv.end > t)
            .map(|mut iv| {
                if iv.is_unbounded() {
                    iv.start = iv.start.max(t);
                }
                iv
            })
    }

    /// Whether every window is open at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        self.current_or_next(t).is_some_and(|iv| iv.start <= t)
    }

    /// Time left in the occurrence open at `t`, `None` when closed. Adjacent occurrences count
    /// as one (`daily 00:00-24:00` does not close at midnight), up to 400 days; `always` gives
    /// the time until [`FOREVER`].
    pub fn remaining(&self, t: DateTime<Utc>) -> Option<TimeDelta> {
        self.current_or_next(t)
            .filter(|iv| iv.start <= t)
            .map(|iv| iv.end - t)
    }

    /// The first instant at or after `t` when every window is open (`t` itself when open);
    /// `None` when they never open again.
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.current_or_next(t).map(|iv| iv.start)
    }

    /// Whether the set opens at `t` or later (false for one-off dates all past).
    pub fn can_ever_open(&self, t: DateTime<Utc>) -> bool {
        self.current_or_next(t).is_some()
    }

    /// Whether the set is open at every instant (no windows, or only `always` ones, and no
    /// blackouts).
    pub fn is_always(&self) -> bool {
        self.blackouts.is_empty() && self.windows.iter().all(WindowSpec::is_always)
    }

    /// The longest occurrence in `[from, until)` (the first one cut at `from`, as
    /// [`WindowSet::occurrences`] gives them); `None` when none starts there. For "the task's
    /// estimate is longer than every occurrence".
    pub fn longest_occurrence(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<TimeDelta> {
        self.occurrences(from)
            .take_while(|iv| iv.start < until)
            .map(|iv| {
                if iv.is_unbounded() {
                    FOREVER - iv.start
                } else {
                    iv.duration()
                }
            })
            .max()
    }
}
