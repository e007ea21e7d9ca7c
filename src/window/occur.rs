//! Occurrence streams: a rule's wall-clock occurrences resolved to UTC intervals, and the lazy
//! interval algebra over sorted, disjoint streams (union, blackout subtraction, intersection).

use super::{Alternative, Rule, WindowSpec};
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use std::iter::Peekable;

/// The end of an interval that never closes (`always`): 9999-12-31T23:59:59Z.
pub const FOREVER: DateTime<Utc> = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => match d.and_hms_opt(23, 59, 59) {
        Some(dt) => DateTime::from_naive_utc_and_offset(dt, Utc),
        None => DateTime::<Utc>::MAX_UTC,
    },
    None => DateTime::<Utc>::MAX_UTC,
};

/// Adjacent or overlapping intervals are merged up to this length, so that an open-ended
/// pattern (`daily 00:00-24:00`) still yields finite intervals; `remaining` is then capped by it.
pub(crate) const MAX_MERGED: TimeDelta = TimeDelta::days(400);

/// A window occurrence: open from `start` (inclusive) to `end` (exclusive), in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Interval {
    /// Opening instant.
    pub start: DateTime<Utc>,
    /// Closing instant (exclusive); [`FOREVER`] for a window that never closes.
    pub end: DateTime<Utc>,
}

impl Interval {
    /// Length of the interval.
    pub fn duration(&self) -> TimeDelta {
        self.end - self.start
    }

    /// Whether `t` lies inside.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Whether the interval never closes.
    pub fn is_unbounded(&self) -> bool {
        self.end >= FOREVER
    }
}

/// Resolves a wall-clock time in `tz` to an instant, the daylight-saving way windows promise:
/// - a time skipped by a spring-forward gap resolves to the end of the gap (the first instant
///   whose wall clock is at or after it), so a window opening at 02:30 that night opens at 03:00
///   and is shortened, never moved to another day; a window lying wholly inside the gap is empty;
/// - a time that happens twice on an autumn night resolves to its first pass, so each occurrence
///   opens once and a window is not stretched by the repeated hour at its end.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    use chrono::LocalResult;
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            // Gaps are whole minutes long in every modern zone; step to the first wall-clock
            // minute that exists again (bounded: the longest gap on record is one day).
            let mut probe = local;
            for _ in 0..(48 * 60) {
                probe += TimeDelta::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            local.and_utc()
        }
    }
}

/// A boxed stream of sorted, disjoint intervals.
pub(crate) type Stream<'a> = Box<dyn Iterator<Item = Interval> + 'a>;

/// The occurrences of one rule whose end is after `from`, in order.
pub(crate) fn rule_stream(rule: &Rule, from: DateTime<Utc>) -> Stream<'_> {
    let local_today = from.with_timezone(&rule.tz).date_naive();
    // An occurrence that began yesterday may still be open (crossing midnight).
    let first = local_today.pred_opt().unwrap_or(local_today);
    let occurrence = move |date: NaiveDate| occurrence_on(rule, date);
    let keep = move |i: &Interval| i.end > from && i.start < i.end;
    if rule.days.is_finite() {
        let start = rule.days.dates.partition_point(|d| *d < first);
        Box::new(
            rule.days.dates[start..]
                .iter()
                .filter_map(move |d| occurrence(*d))
                .filter(keep),
        )
    } else {
        Box::new(
            first
                .iter_days()
                .filter(move |d| rule.days.matches(*d))
                .filter_map(occurrence)
                .filter(keep),
        )
    }
}

fn occurrence_on(rule: &Rule, date: NaiveDate) -> Option<Interval> {
    let at = |date: NaiveDate, minutes: u16| -> Option<DateTime<Utc>> {
        let day = date.checked_add_days(Days::new(u64::from(minutes / (24 * 60))))?;
        let m = u32::from(minutes % (24 * 60));
        Some(resolve_local(rule.tz, day.and_hms_opt(m / 60, m % 60, 0)?))
    };
    let start = at(date, rule.start.minutes())?;
    let end_day = if rule.end <= rule.start {
        date.succ_opt()?
    } else {
        date
    };
    let end = at(end_day, rule.end.minutes())?;
    Some(Interval { start, end })
}

/// The whole local days of `dates` in `tz`, as sorted intervals.
pub(crate) fn blackout_intervals(dates: &[NaiveDate], tz: Tz) -> Vec<Interval> {
    let mut cuts: Vec<Interval> = dates
        .iter()
        .filter_map(|d| {
            let start = resolve_local(tz, d.and_hms_opt(0, 0, 0)?);
            let end = resolve_local(tz, d.succ_opt()?.and_hms_opt(0, 0, 0)?);
            Some(Interval { start, end })
        })
        .collect();
    cuts.sort();
    cuts
}

/// The occurrences of a spec after `from`, blackouts removed in each rule's own zone (UTC for
/// `always`), alternatives united.
pub(crate) fn spec_stream<'a>(
    spec: &'a WindowSpec,
    blackouts: &'a [NaiveDate],
    from: DateTime<Utc>,
) -> Stream<'a> {
    let streams: Vec<Stream<'a>> = spec
        .alternatives()
        .iter()
        .map(|alt| -> Stream<'a> {
            let (stream, tz): (Stream<'a>, Tz) = match alt {
                Alternative::Always => (always(from), Tz::UTC),
                Alternative::Rule(rule) => (rule_stream(rule, from), rule.tz),
            };
            if blackouts.is_empty() {
                stream
            } else {
                Box::new(Subtract::new(stream, blackout_intervals(blackouts, tz)))
            }
        })
        .collect();
    union(streams)
}

/// One interval from `from` that never closes.
pub(crate) fn always<'a>(from: DateTime<Utc>) -> Stream<'a> {
    Box::new(std::iter::once(Interval {
        start: from.min(FOREVER),
        end: FOREVER,
    }))
}

/// The union of sorted streams, adjacent and overlapping intervals merged.
pub(crate) fn union(mut streams: Vec<Stream<'_>>) -> Stream<'_> {
    if streams.len() == 1 {
        if let Some(only) = streams.pop() {
            return Box::new(Coalesce::new(only));
        }
    }
    let heads = streams.into_iter().map(Iterator::peekable).collect();
    Box::new(Coalesce::new(Merge { heads }))
}

/// K-way merge of sorted streams by start.
struct Merge<'a> {
    heads: Vec<Peekable<Stream<'a>>>,
}

impl Iterator for Merge<'_> {
    type Item = Interval;
    fn next(&mut self) -> Option<Interval> {
        let mut best: Option<(usize, Interval)> = None;
        for (i, head) in self.heads.iter_mut().enumerate() {
            if let Some(iv) = head.peek() {
                if best.is_none_or(|(_, b)| iv.start < b.start) {
                    best = Some((i, *iv));
                }
            }
        }
        let (i, _) = best?;
        self.heads[i].next()
    }
}

/// Merges overlapping and adjacent intervals of a stream sorted by start (up to
/// [`MAX_MERGED`], so that an endless run of adjacent days does not loop forever).
pub(crate) struct Coalesce<I: Iterator<Item = Interval>> {
    inner: Peekable<I>,
}

impl<I: Iterator<Item = Interval>> Coalesce<I> {
    pub(crate) fn new(inner: I) -> Self {
        Coalesce {
            inner: inner.peekable(),
        }
    }
}

impl<I: Iterator<Item = Interval>> Iterator for Coalesce<I> {
    type Item = Interval;
    fn next(&mut self) -> Option<Interval> {
        let mut current = self.inner.next()?;
        while let Some(next) = self.inner.peek_mut() {
            if next.start > current.end {
                break;
            }
            if current.duration() < MAX_MERGED {
                current.end = current.end.max(next.end);
            } else if next.end > current.end {
                // Capped: the rest of an overlapping interval starts where this one stops.
                next.start = current.end;
                break;
            }
            self.inner.next();
        }
        Some(current)
    }
}

/// A stream minus sorted cut intervals (blackouts); an occurrence partly inside a cut keeps
/// the parts outside it.
pub(crate) struct Subtract<'a> {
    inner: Stream<'a>,
    cuts: Vec<Interval>,
    pending: Vec<Interval>,
}

impl<'a> Subtract<'a> {
    pub(crate) fn new(inner: Stream<'a>, cuts: Vec<Interval>) -> Self {
        Subtract {
            inner,
            cuts,
            pending: Vec::new(),
        }
    }

    fn pieces(&self, iv: Interval) -> Vec<Interval> {
        let mut out = Vec::new();
        let mut start = iv.start;
        let first = self.cuts.partition_point(|c| c.end <= iv.start);
        for cut in &self.cuts[first..] {
            if cut.start >= iv.end {
                break;
            }
            if cut.start > start {
                out.push(Interval {
                    start,
                    end: cut.start,
                });
            }
            start = start.max(cut.end);
        }
        if start < iv.end {
            out.push(Interval { start, end: iv.end });
        }
        // Popped from the back, so reverse to yield in order.
        out.reverse();
        out
    }
}

impl Iterator for Subtract<'_> {
    type Item = Interval;
    fn next(&mut self) -> Option<Interval> {
        loop {
            if let Some(iv) = self.pending.pop() {
                return Some(iv);
            }
            let iv = self.inner.next()?;
            self.pending = self.pieces(iv);
        }
    }
}

/// The intersection of sorted, disjoint streams. Gives up when no common interval starts
/// before `horizon(cursor)`, where the cursor is the end of the last interval found.
pub(crate) struct Intersect<'a> {
    heads: Vec<Peekable<Stream<'a>>>,
    cursor: DateTime<Utc>,
    search: TimeDelta,
    not_before_giving_up: DateTime<Utc>,
}

impl<'a> Intersect<'a> {
    /// `search` is how far past the cursor to look; `not_before_giving_up` keeps looking until
    /// then in any case (the last one-off date of the windows).
    pub(crate) fn new(
        streams: Vec<Stream<'a>>,
        from: DateTime<Utc>,
        search: TimeDelta,
        not_before_giving_up: DateTime<Utc>,
    ) -> Self {
        Intersect {
            heads: streams.into_iter().map(Iterator::peekable).collect(),
            cursor: from,
            search,
            not_before_giving_up,
        }
    }
}

impl Iterator for Intersect<'_> {
    type Item = Interval;
    fn next(&mut self) -> Option<Interval> {
        loop {
            let mut start = None::<DateTime<Utc>>;
            let mut end = None::<DateTime<Utc>>;
            for head in &mut self.heads {
                let iv = *head.peek()?;
                start = Some(start.map_or(iv.start, |s| s.max(iv.start)));
                end = Some(end.map_or(iv.end, |e| e.min(iv.end)));
            }
            let (start, end) = (start?, end?);
            let limit = self
                .cursor
                .checked_add_signed(self.search)
                .unwrap_or(FOREVER)
                .max(self.not_before_giving_up);
            if start > limit {
                return None;
            }
            if start < end {
                for head in &mut self.heads {
                    if head.peek().is_some_and(|iv| iv.end == end) {
                        head.next();
                    }
                }
                self.cursor = end;
                return Some(Interval { start, end });
            }
            for head in &mut self.heads {
                if head.peek().is_some_and(|iv| iv.end <= start) {
                    head.next();
                }
            }
        }
    }
}
