//! Maintenance windows: window spec strings parsed into values, and open / remaining /
//! next-open / occurrence queries over them and over a host's window set (no IO).
//!
//! A spec is `DAYS HH:MM-HH:MM [TZ]`, alternatives joined by ` | `, or `always`
//! (see `docs/windows.md`). [`WindowSpec::parse`] turns the string into a value and reports
//! every problem with the byte range inside the string, so that the checker can point into it.
//! [`WindowSet`] is what a host is subject to: the intersection of every window covering it,
//! minus the workflow's blackout dates. All instants are UTC; wall-clock times are resolved in
//! the window's zone with the daylight-saving rules documented on [`resolve_local`].

mod occur;
mod parse;
mod set;

#[cfg(test)]
mod tests_dst;
#[cfg(test)]
mod tests_parse;
#[cfg(test)]
mod tests_prop;

pub use occur::{resolve_local, Interval, FOREVER};
pub use parse::WindowSpecError;
pub use set::{Occurrences, WindowSet};

use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::Tz;
use std::fmt;
use std::ops::Range;

/// A parsed window spec. Keeps its source text, which is also its serialised form: a spec
/// re-parses to the same value without the workflow it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    source: String,
    alternatives: Vec<Alternative>,
}

/// One alternative of a spec (the parts joined by ` | `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alternative {
    /// `always`: open at every instant.
    Always,
    /// `DAYS HH:MM-HH:MM [TZ]`.
    Rule(Rule),
}

/// `DAYS HH:MM-HH:MM [TZ]`: opens at `start` on each matching local day in `tz` and closes at
/// `end` the same day, or the next day when `end <= start` (crossing midnight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The local days on which an occurrence starts.
    pub days: Days,
    /// Opening wall-clock time.
    pub start: WallTime,
    /// Closing wall-clock time; at or before `start` means the next day.
    pub end: WallTime,
    /// The zone of the wall-clock times (UTC when the spec names none).
    pub tz: Tz,
    /// Byte range of this alternative inside the spec string.
    pub span: Range<usize>,
    /// One-off dates with their byte ranges inside the spec string, for "date in the past"
    /// warnings.
    pub date_spans: Vec<(NaiveDate, Range<usize>)>,
}

/// The days an occurrence may start on: weekdays, one-off dates, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Days {
    /// Bit `n` set: weekday `n` (Monday = 0) matches. `daily` sets all seven.
    pub weekdays: u8,
    /// One-off dates, sorted, without duplicates.
    pub dates: Vec<NaiveDate>,
}

impl Days {
    /// Whether an occurrence starts on this local date.
    pub fn matches(&self, date: NaiveDate) -> bool {
        self.weekdays & weekday_bit(date.weekday()) != 0 || self.dates.binary_search(&date).is_ok()
    }

    /// Whether the set is only one-off dates (it then ends after the last one).
    pub fn is_finite(&self) -> bool {
        self.weekdays == 0
    }
}

pub(crate) fn weekday_bit(day: Weekday) -> u8 {
    1 << day.num_days_from_monday()
}

/// A wall-clock time of day in minutes since midnight, `0..=1440` (1440 is `24:00`, allowed as
/// an end only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(u16);

impl WallTime {
    /// Minutes since midnight, `0..=1440`.
    pub fn minutes(self) -> u16 {
        self.0
    }

    pub(crate) fn new(minutes: u16) -> Self {
        WallTime(minutes.min(24 * 60))
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl WindowSpec {
    /// Parses a spec string, reporting every problem found (never an empty list).
    pub fn parse(source: &str) -> Result<WindowSpec, Vec<WindowSpecError>> {
        parse::parse(source)
    }

    /// The spec's source text, as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The alternatives joined by ` | `.
    pub fn alternatives(&self) -> &[Alternative] {
        &self.alternatives
    }

    /// Whether one alternative is `always`: then the spec is open at every instant.
    pub fn is_always(&self) -> bool {
        self.alternatives
            .iter()
            .any(|a| matches!(a, Alternative::Always))
    }

    /// The rules (alternatives other than `always`).
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.alternatives.iter().filter_map(|a| match a {
            Alternative::Rule(r) => Some(r),
            Alternative::Always => None,
        })
    }

    /// One-off dates with their byte ranges in the spec, in source order.
    pub fn dates(&self) -> impl Iterator<Item = (NaiveDate, Range<usize>)> + '_ {
        self.rules().flat_map(|r| r.date_spans.iter().cloned())
    }

    /// The distinct zones named by the spec's rules (UTC when none is named).
    pub fn zones(&self) -> Vec<Tz> {
        let mut zones: Vec<Tz> = self.rules().map(|r| r.tz).collect();
        zones.sort_by_key(|z| z.name());
        zones.dedup();
        zones
    }
}

impl fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for WindowSpec {
    type Err = Vec<WindowSpecError>;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WindowSpec::parse(s)
    }
}

impl serde::Serialize for WindowSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for WindowSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        WindowSpec::parse(&source).map_err(|errors| {
            let first = errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            serde::de::Error::custom(format!("invalid window spec `{source}`: {first}"))
        })
    }
}
