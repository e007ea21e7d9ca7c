//! The window spec parser: a spec string in, a [`WindowSpec`] or every problem found out, each
//! with the byte range inside the string and a help text when a fix is known.

use super::{weekday_bit, Alternative, Days, Rule, WallTime, WindowSpec};
use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use std::ops::Range;

/// A problem inside a window spec string. `span` is a byte range of the spec string (not of the
/// file): the checker adds the string's own offset to point into the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WindowSpecError {
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// Byte range inside the spec string.
    pub span: Range<usize>,
    /// How to fix it, when known (`did you mean `Tue`?`).
    pub help: Option<String>,
}

impl WindowSpecError {
    fn new(message: impl Into<String>, span: Range<usize>, help: Option<String>) -> Self {
        WindowSpecError {
            message: message.into(),
            span,
            help,
        }
    }
}

const DAY_NAMES: [(&str, &str, Weekday); 7] = [
    ("Mon", "monday", Weekday::Mon),
    ("Tue", "tuesday", Weekday::Tue),
    ("Wed", "wednesday", Weekday::Wed),
    ("Thu", "thursday", Weekday::Thu),
    ("Fri", "friday", Weekday::Fri),
    ("Sat", "saturday", Weekday::Sat),
    ("Sun", "sunday", Weekday::Sun),
];

const SPEC_HELP: &str =
    "a window is `DAYS HH:MM-HH:MM [TZ]`, e.g. `Sun 01:00-03:00 Europe/Berlin`, or `always`";

/// A word of the spec with its byte offset in the whole spec string.
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    at: usize,
}

impl Word<'_> {
    fn span(&self) -> Range<usize> {
        self.at..self.at + self.text.len()
    }
}

pub(super) fn parse(source: &str) -> Result<WindowSpec, Vec<WindowSpecError>> {
    let mut errors = Vec::new();
    let mut alternatives = Vec::new();
    if source.trim().is_empty() {
        errors.push(WindowSpecError::new(
            "empty window spec",
            0..source.len(),
            Some(SPEC_HELP.to_string()),
        ));
        return Err(errors);
    }
    let mut at = 0;
    for part in source.split('|') {
        let words = split_words(part, at);
        if words.is_empty() {
            // Point at the bar that has nothing on one side of it.
            let bar = if at > 0 { at - 1 } else { part.len() };
            errors.push(WindowSpecError::new(
                "empty alternative",
                bar..(bar + 1).min(source.len()),
                Some("write a window on both sides of `|`, or remove the extra `|`".into()),
            ));
        } else if let Some(alt) = parse_alternative(source, &words, &mut errors) {
            alternatives.push(alt);
        }
        at += part.len() + 1;
    }
    if errors.is_empty() {
        Ok(WindowSpec {
            source: source.to_string(),
            alternatives,
        })
    } else {
        Err(errors)
    }
}

fn split_words(part: &str, offset: usize) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in part.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push(Word {
                    text: &part[s..i],
                    at: offset + s,
                });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(Word {
            text: &part[s..],
            at: offset + s,
        });
    }
    words
}

fn parse_alternative(
    source: &str,
    words: &[Word<'_>],
    errors: &mut Vec<WindowSpecError>,
) -> Option<Alternative> {
    let before = errors.len();
    if words[0].text.eq_ignore_ascii_case("always") {
        if words.len() > 1 {
            let last = words[words.len() - 1];
            errors.push(WindowSpecError::new(
                "`always` takes no days, times or zone",
                words[1].at..last.at + last.text.len(),
                Some("write `always` alone, or a window such as `daily 00:00-06:00 UTC`".into()),
            ));
            return None;
        }
        return Some(Alternative::Always);
    }
    let Some(time_index) = words.iter().position(|w| looks_like_time(w.text)) else {
        let last = words[words.len() - 1];
        errors.push(WindowSpecError::new(
            "missing time range",
            last.span(),
            Some("add the hours after the days, e.g. `Sun 01:00-03:00`".into()),
        ));
        // Still check the days so that every problem shows at once.
        parse_days(words, errors);
        return None;
    };
    let day_words = &words[..time_index];
    if day_words.is_empty() {
        errors.push(WindowSpecError::new(
            "missing days before the time range",
            words[0].span(),
            Some(
                "start with days: `Mon`, `Mon-Fri`, `Sat,Sun`, `daily` or a date `2026-12-06`"
                    .into(),
            ),
        ));
    }
    let (days, date_spans) = parse_days(day_words, errors);

    // Tolerate `01:00 - 03:00` and `01:00- 03:00`: the range may spread over a few words.
    let mut time_end = time_index + 1;
    while time_end < words.len()
        && (words[time_end - 1].text.ends_with('-') || words[time_end].text.starts_with('-'))
        && time_end - time_index < 3
    {
        time_end += 1;
    }
    let times = parse_time_range(source, &words[time_index..time_end], errors);

    let tz = match &words[time_end..] {
        [] => Some(Tz::UTC),
        [zone] => parse_zone(*zone, errors),
        [zone, extra @ ..] => {
            let last = extra[extra.len() - 1];
            errors.push(WindowSpecError::new(
                format!("unexpected `{}` after the time zone", extra[0].text),
                extra[0].at..last.at + last.text.len(),
                Some(
                    "separate alternatives with `|`: `Sat 22:00-02:00 UTC | Sun 10:00-12:00 UTC`"
                        .into(),
                ),
            ));
            parse_zone(*zone, errors)
        }
    };
    if errors.len() > before {
        return None;
    }
    let ((start, end), tz) = (times?, tz?);
    Some(Alternative::Rule(Rule {
        days,
        start,
        end,
        tz,
        span: words[0].at..words[words.len() - 1].span().end,
        date_spans,
    }))
}

/// A time range, possibly malformed (`01:00-03:00`, `0100-0300`), as opposed to days and dates.
fn looks_like_time(word: &str) -> bool {
    let numeric_pair = word.split('-').count() == 2
        && word
            .split('-')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    word.contains(':') || numeric_pair
}

type DateSpans = Vec<(NaiveDate, Range<usize>)>;

fn parse_days(words: &[Word<'_>], errors: &mut Vec<WindowSpecError>) -> (Days, DateSpans) {
    let mut days = Days::default();
    let mut date_spans = Vec::new();
    // Items are separated by commas; spaces around the commas are tolerated.
    let mut items: Vec<Word<'_>> = Vec::new();
    for (n, word) in words.iter().enumerate() {
        let mut at = word.at;
        let pieces: Vec<&str> = word.text.split(',').collect();
        for (i, piece) in pieces.iter().enumerate() {
            let edge = (i == 0 && n > 0) || (i == pieces.len() - 1 && n + 1 < words.len());
            if piece.is_empty() {
                if !edge {
                    errors.push(WindowSpecError::new(
                        "empty item in the day list",
                        // The comma after the empty item, or before it when it is the last.
                        if i + 1 < pieces.len() {
                            at..at + 1
                        } else {
                            at.saturating_sub(1)..at
                        },
                        Some("remove the extra `,`".into()),
                    ));
                }
            } else {
                items.push(Word { text: piece, at });
            }
            at += piece.len() + 1;
        }
        let joined = word.text.starts_with(',') || n == 0 || words[n - 1].text.ends_with(',');
        if !joined {
            errors.push(WindowSpecError::new(
                format!("expected `,` or a time range before `{}`", word.text),
                word.span(),
                Some("separate days with `,` (`Sat,Sun`) and put the time range after them".into()),
            ));
        }
    }
    for item in items {
        parse_day_item(item, &mut days, &mut date_spans, errors);
    }
    days.dates.sort();
    days.dates.dedup();
    (days, date_spans)
}

fn parse_day_item(
    item: Word<'_>,
    days: &mut Days,
    date_spans: &mut DateSpans,
    errors: &mut Vec<WindowSpecError>,
) {
    if item.text.eq_ignore_ascii_case("daily") {
        days.weekdays = 0x7f;
        return;
    }
    if item.text.starts_with(|c: char| c.is_ascii_digit()) {
        if let Some(date) = parse_date(item, errors) {
            days.dates.push(date);
            date_spans.push((date, item.span()));
        }
        return;
    }
    if let Some((a, b)) = item.text.split_once('-') {
        if a.is_empty() || b.is_empty() {
            let dash = item.at + a.len();
            errors.push(WindowSpecError::new(
                "a day range needs a day on both sides of `-`",
                dash..dash + 1,
                Some("write a range as `Mon-Fri`".into()),
            ));
            return;
        }
        let first = day_name(
            Word {
                text: a,
                at: item.at,
            },
            errors,
        );
        let last = day_name(
            Word {
                text: b,
                at: item.at + a.len() + 1,
            },
            errors,
        );
        if let (Some(first), Some(last)) = (first, last) {
            // A range may wrap over the week's end: `Fri-Mon` is Fri, Sat, Sun, Mon.
            let mut day = first;
            loop {
                days.weekdays |= weekday_bit(day);
                if day == last {
                    break;
                }
                day = day.succ();
            }
        }
        return;
    }
    if let Some(day) = day_name(item, errors) {
        days.weekdays |= weekday_bit(day);
    }
}

fn day_name(word: Word<'_>, errors: &mut Vec<WindowSpecError>) -> Option<Weekday> {
    let lower = word.text.to_ascii_lowercase();
    for (short, long, day) in DAY_NAMES {
        if lower == short.to_ascii_lowercase() || lower == long {
            return Some(day);
        }
    }
    let help = suggest_day(&lower)
        .map(|s| format!("did you mean `{s}`?"))
        .unwrap_or_else(|| {
            "days are `Mon` … `Sun`, a range `Mon-Fri`, a list `Sat,Sun`, `daily` or a date `2026-12-06`"
                .into()
        });
    errors.push(WindowSpecError::new(
        format!("unknown day `{}`", word.text),
        word.span(),
        Some(help),
    ));
    None
}

fn suggest_day(lower: &str) -> Option<&'static str> {
    if lower.is_empty() {
        return None;
    }
    if let Some(prefix) = lower.get(..3) {
        if let Some((short, _, _)) = DAY_NAMES
            .iter()
            .find(|(short, _, _)| short.eq_ignore_ascii_case(prefix))
        {
            return Some(short);
        }
    }
    let mut best: Option<(usize, &'static str)> = None;
    for (short, long, _) in DAY_NAMES {
        let d = strsim::levenshtein(lower, &short.to_ascii_lowercase())
            .min(strsim::levenshtein(lower, long));
        if d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, short));
        }
    }
    if strsim::levenshtein(lower, "daily") <= 2 {
        return Some("daily");
    }
    best.map(|(_, s)| s)
}

fn parse_date(word: Word<'_>, errors: &mut Vec<WindowSpecError>) -> Option<NaiveDate> {
    let parts: Vec<&str> = word.text.split('-').collect();
    let numbers: Option<Vec<u32>> = parts
        .iter()
        .map(|p| {
            if !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect();
    let date = match (parts.len(), numbers) {
        (3, Some(n)) if parts[0].len() == 4 => i32::try_from(n[0])
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, n[1], n[2])),
        _ => {
            errors.push(WindowSpecError::new(
                format!("`{}` is not a date", word.text),
                word.span(),
                Some("dates are `YYYY-MM-DD`, e.g. `2026-12-06`".into()),
            ));
            return None;
        }
    };
    if date.is_none() {
        errors.push(WindowSpecError::new(
            format!("no such date `{}`", word.text),
            word.span(),
            Some("months are 01-12 and days 01-31 within the month's length".into()),
        ));
    }
    date
}

/// Parses `HH:MM-HH:MM` written over `words` (one word, or a few around a spaced `-`).
fn parse_time_range(
    source: &str,
    words: &[Word<'_>],
    errors: &mut Vec<WindowSpecError>,
) -> Option<(WallTime, WallTime)> {
    let span = words[0].at..words[words.len() - 1].span().end;
    let text = &source[span.clone()];
    let Some(dash) = words
        .iter()
        .find_map(|w| w.text.find('-').map(|i| w.at + i))
    else {
        errors.push(WindowSpecError::new(
            format!("expected a time range `HH:MM-HH:MM`, found `{text}`"),
            span,
            Some("give an opening and a closing time, e.g. `01:00-03:00`".into()),
        ));
        return None;
    };
    let start_span = span.start..dash;
    let end_span = dash + 1..span.end;
    let (a, b) = (
        source[start_span.clone()].trim_end(),
        source[end_span.clone()].trim_start(),
    );
    let start_span = start_span.start..start_span.start + a.len();
    let end_span = end_span.end - b.len()..end_span.end;
    let start = parse_time(a, start_span, false, errors);
    let end = parse_time(b, end_span, true, errors);
    let (start, end) = (start?, end?);
    if start == end {
        errors.push(WindowSpecError::new(
            "the window opens and closes at the same time",
            span,
            Some("a whole day is `00:00-24:00`; a window that never closes is `always`".into()),
        ));
        return None;
    }
    Some((start, end))
}

fn parse_time(
    text: &str,
    span: Range<usize>,
    is_end: bool,
    errors: &mut Vec<WindowSpecError>,
) -> Option<WallTime> {
    let bad = |errors: &mut Vec<WindowSpecError>| {
        errors.push(WindowSpecError::new(
            format!("`{text}` is not a time"),
            span.clone(),
            Some("times are `HH:MM`, 24-hour, e.g. `01:00` or `23:30`".into()),
        ));
        None
    };
    let Some((h, m)) = text.split_once(':') else {
        return bad(errors);
    };
    let digits = |s: &str, max_len| {
        !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 2) || !digits(m, 2) || m.len() != 2 {
        return bad(errors);
    }
    let (hours, minutes): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let hours_span = span.start..span.start + h.len();
    let minutes_span = span.start + h.len() + 1..span.end;
    if hours == 24 && minutes == 0 {
        if is_end {
            return Some(WallTime::new(24 * 60));
        }
        errors.push(WindowSpecError::new(
            "`24:00` is only a closing time",
            span,
            Some("a window opening at midnight starts at `00:00`".into()),
        ));
        return None;
    }
    if hours > 23 {
        errors.push(WindowSpecError::new(
            format!("hour `{h}` out of range"),
            hours_span,
            Some(if is_end {
                "hours are 00-23 (`24:00` may close a window)".into()
            } else {
                "hours are 00-23".into()
            }),
        ));
        return None;
    }
    if minutes > 59 {
        errors.push(WindowSpecError::new(
            format!("minute `{m}` out of range"),
            minutes_span,
            Some("minutes are 00-59".into()),
        ));
        return None;
    }
    Some(WallTime::new(hours * 60 + minutes))
}

fn parse_zone(word: Word<'_>, errors: &mut Vec<WindowSpecError>) -> Option<Tz> {
    if let Ok(tz) = word.text.parse::<Tz>() {
        return Some(tz);
    }
    let help = suggest_zone(word.text)
        .map(|z| format!("did you mean `{z}`?"))
        .unwrap_or_else(|| "time zones are IANA names such as `Europe/Berlin`, or `UTC`".into());
    errors.push(WindowSpecError::new(
        format!("unknown time zone `{}`", word.text),
        word.span(),
        Some(help),
    ));
    None
}

fn suggest_zone(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(text))
    {
        return Some(tz.name());
    }
    let limit = (text.len() / 4).max(2);
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                strsim::levenshtein(&lower, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, name)| name)
}
