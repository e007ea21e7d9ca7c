//! Expectations on one capture: takes an [`Expectation`] and the before/after text of one
//! host's capture, returns a [`CaptureOutcome`] (extracted values, verdict, reasons, diff).
//!
//! Pure: no IO, no panics on captured text, which a remote host controls.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::diff::unified_diff;
use super::version::VersionScheme;

/// How a capture's value must change between before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Before and after are equal.
    Unchanged,
    /// Before and after differ.
    Changed,
    /// Anything goes (the default: only `equals`/`contains`/`matches` are checked).
    #[default]
    Any,
    /// Both present and after > before under the version scheme.
    VersionIncrease,
    /// Both present and after < before under the version scheme.
    VersionDecrease,
    /// Absent before, present after.
    Added,
    /// Present before, absent after.
    Removed,
}

impl ChangeKind {
    /// Every kind, in the order the language lists them.
    pub const ALL: [ChangeKind; 7] = [
        Self::Unchanged,
        Self::Changed,
        Self::Any,
        Self::VersionIncrease,
        Self::VersionDecrease,
        Self::Added,
        Self::Removed,
    ];

    /// The spelling used in `.sflow` files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::Changed => "changed",
            Self::Any => "any",
            Self::VersionIncrease => "version_increase",
            Self::VersionDecrease => "version_decrease",
            Self::Added => "added",
            Self::Removed => "removed",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `change = "…"` value that names no change kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown change kind `{0}`: expected unchanged, changed, any, version_increase, version_decrease, added or removed")]
pub struct UnknownChangeKind(pub String);

impl FromStr for ChangeKind {
    type Err = UnknownChangeKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownChangeKind(s.to_string()))
    }
}

/// What a host does when its verification does not hold (`on_mismatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnMismatch {
    /// The host fails (and counts against the wave's failure budget).
    #[default]
    Fail,
    /// Reported only.
    Warn,
    /// The host's rollbacks run.
    Rollback,
}

/// An `on_mismatch = "…"` value that names no action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown on_mismatch `{0}`: expected fail, warn or rollback")]
pub struct UnknownOnMismatch(pub String);

impl FromStr for OnMismatch {
    type Err = UnknownOnMismatch;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(Self::Fail),
            "warn" => Ok(Self::Warn),
            "rollback" => Ok(Self::Rollback),
            _ => Err(UnknownOnMismatch(s.to_string())),
        }
    }
}

/// One `expect CAPTURE { … }` block as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Expectation {
    /// `match`: a regex whose capture group 1 is the value; several matches make a list.
    /// Without it the value is the whole output, trimmed.
    pub match_regex: Option<String>,
    /// `change`: how the value must change.
    pub change: ChangeKind,
    /// `equals`: every after value must equal this.
    pub equals: Option<String>,
    /// `contains`: every after value must contain this.
    pub contains: Option<String>,
    /// `matches`: every after value must match this regex (anywhere in the value).
    pub matches: Option<String>,
    /// `versions`: the declared version scheme, overriding the host's facts.
    pub versions: Option<VersionScheme>,
}

/// An expectation that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum ExpectError {
    /// A `match` or `matches` regex does not compile.
    #[error("invalid regex in `{attribute}`: {message}")]
    #[diagnostic(code(sflow::verify::bad_regex))]
    BadRegex {
        /// `match` or `matches`.
        attribute: &'static str,
        /// The regex crate's explanation.
        message: String,
    },
    /// A `match` regex without capture group 1.
    #[error("`match` regex `{0}` has no capture group")]
    #[diagnostic(
        code(sflow::verify::no_group),
        help("wrap the part to compare in parentheses, e.g. r\"openssl\\s+(\\S+)\"")
    )]
    NoGroup(String),
}

impl Expectation {
    /// An expectation with only a change kind.
    pub fn change(change: ChangeKind) -> Self {
        Self {
            change,
            ..Self::default()
        }
    }

    /// Compiles the regexes once, for evaluation on every host.
    pub fn compile(&self) -> Result<CompiledExpectation, ExpectError> {
        let build = |attribute: &'static str, src: &Option<String>| {
            src.as_deref()
                .map(|s| {
                    Regex::new(s).map_err(|e| ExpectError::BadRegex {
                        attribute,
                        message: e.to_string(),
                    })
                })
                .transpose()
        };
        let match_re = build("match", &self.match_regex)?;
        if let Some(re) = &match_re {
            if re.captures_len() < 2 {
                return Err(ExpectError::NoGroup(re.as_str().to_string()));
            }
        }
        let matches_re = build("matches", &self.matches)?;
        Ok(CompiledExpectation {
            spec: self.clone(),
            match_re,
            matches_re,
        })
    }
}

/// An [`Expectation`] with its regexes compiled.
#[derive(Debug, Clone)]
pub struct CompiledExpectation {
    spec: Expectation,
    match_re: Option<Regex>,
    matches_re: Option<Regex>,
}

impl CompiledExpectation {
    /// The expectation as written.
    pub fn spec(&self) -> &Expectation {
        &self.spec
    }
}

/// One side (before or after) of a capture, as the engine recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "text", rename_all = "lowercase")]
pub enum Sample {
    /// The command ran; its standard output.
    Output(String),
    /// The command failed or timed out; why.
    Failed(String),
    /// Not taken (a read-only audit has no before; a host that stopped early has no after).
    Missing,
}

impl Sample {
    /// The output text, when the command ran.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Output(t) => Some(t),
            _ => None,
        }
    }
}

/// The verdict on one capture of one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The expectation holds, or the capture has none and did not change.
    AsExpected,
    /// No expectation, and before and after differ.
    UnexpectedChange,
    /// The expectation does not hold, or a capture command failed.
    Mismatch,
    /// Before or after was not taken, so nothing was compared.
    NotCompared,
}

impl Verdict {
    /// The wording in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AsExpected => "as expected",
            Self::UnexpectedChange => "unexpected change",
            Self::Mismatch => "mismatch",
            Self::NotCompared => "not compared",
        }
    }
}

/// How the extracted before and after values were paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pairing {
    /// At most one value on each side.
    Single,
    /// Several values, paired by the text before group 1 (whitespace collapsed), which is
    /// unique on each side.
    ByPrefix,
    /// Several values whose prefixes repeat: the n-th match before pairs with the n-th after.
    ByPosition,
}

impl Pairing {
    /// The wording in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::ByPrefix => "by prefix",
            Self::ByPosition => "by position",
        }
    }
}

/// One extracted value: group 1 of a `match`, keyed by the text of the match before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The match's text before group 1, whitespace collapsed (empty without `match`).
    pub key: String,
    /// The value.
    pub value: String,
}

/// A before value and an after value compared with each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// What identifies the pair: the key, or `#n` when paired by position.
    pub key: String,
    /// The value before, if any.
    pub before: Option<String>,
    /// The value after, if any.
    pub after: Option<String>,
    /// Whether the pair satisfies the expectation.
    pub ok: bool,
}

/// Everything known about one capture on one host after evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureOutcome {
    /// The capture's name.
    pub capture: String,
    /// The raw before sample.
    pub before: Sample,
    /// The raw after sample.
    pub after: Sample,
    /// The expectation evaluated, if the capture has one.
    pub expect: Option<Expectation>,
    /// The version scheme applied (only for version change kinds).
    pub scheme: Option<VersionScheme>,
    /// How values were paired (`None` without an expectation).
    pub pairing: Option<Pairing>,
    /// The extracted values, paired (empty without an expectation).
    pub pairs: Vec<Pair>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the verdict is not "as expected", one line each.
    pub reasons: Vec<String>,
    /// Unified diff of before against after, when both were taken and differ.
    pub diff: Option<String>,
    /// The after value that drift detection compares across hosts: the extracted values one
    /// per line, or the whole trimmed output without `match`.
    #[serde(skip)]
    pub after_value: Option<String>,
}

/// Combined size of before and after from which the diff gets a thread of its own.
const PARALLEL_BYTES: usize = 256 * 1024;

/// Evaluates one capture of one host. `scheme` orders versions for the version change kinds.
pub fn evaluate(
    capture: &str,
    before: &Sample,
    after: &Sample,
    expect: Option<&CompiledExpectation>,
    scheme: VersionScheme,
) -> CaptureOutcome {
    let match_re = expect.and_then(|e| e.match_re.as_ref());
    let extract_both = || {
        let before_entries = match (expect, before.text()) {
            (Some(_), Some(t)) => extract(match_re, t),
            _ => Vec::new(),
        };
        (before_entries, after.text().map(|t| extract(match_re, t)))
    };
    let (diff, (before_entries, after_entries)) = match (before.text(), after.text()) {
        // Large captures: the diff runs on another thread while the values are extracted.
        (Some(b), Some(a)) if b.len() + a.len() >= PARALLEL_BYTES => std::thread::scope(|s| {
            let diff = s.spawn(|| unified_diff(b, a, "before", "after"));
            let entries = extract_both();
            (diff.join().unwrap_or(None), entries)
        }),
        (Some(b), Some(a)) => (unified_diff(b, a, "before", "after"), extract_both()),
        _ => (None, extract_both()),
    };
    let after_value = after_entries.as_ref().map(|entries| join_entries(entries));
    let mut outcome = CaptureOutcome {
        capture: capture.to_string(),
        before: before.clone(),
        after: after.clone(),
        expect: expect.map(|e| e.spec.clone()),
        scheme: None,
        pairing: None,
        pairs: Vec::new(),
        verdict: Verdict::AsExpected,
        reasons: Vec::new(),
        diff,
        after_value,
    };
    for (side, sample) in [("before", before), ("after", after)] {
        if let Sample::Failed(why) = sample {
            outcome.verdict = Verdict::Mismatch;
            outcome
                .reasons
                .push(format!("capture failed {side}: {why}"));
        }
    }
    if outcome.verdict == Verdict::Mismatch {
        return outcome;
    }
    let (Some(_), Some(after_entries)) = (before.text(), after_entries) else {
        outcome.verdict = Verdict::NotCompared;
        let side = if before.text().is_none() {
            "before"
        } else {
            "after"
        };
        outcome.reasons.push(format!("no {side} capture"));
        return outcome;
    };
    let Some(expect) = expect else {
        if outcome.diff.is_some() {
            outcome.verdict = Verdict::UnexpectedChange;
            outcome
                .reasons
                .push("changed without an expectation".to_string());
        }
        return outcome;
    };
    let (pairing, mut pairs) = pair_up(&before_entries, &after_entries);
    let spec = &expect.spec;
    if matches!(
        spec.change,
        ChangeKind::VersionIncrease | ChangeKind::VersionDecrease
    ) {
        outcome.scheme = Some(scheme);
    }
    let mut reasons = Vec::new();
    for pair in &mut pairs {
        let mut pair_reasons = Vec::new();
        if let Err(why) = check_change(spec.change, pair, scheme) {
            pair_reasons.push(why);
        }
        if let Some(value) = &pair.after {
            pair_reasons.extend(check_value(expect, value));
        }
        pair.ok = pair_reasons.is_empty();
        // A single value's key is in the values table; only list entries need naming.
        let label = if pairing == Pairing::Single || pair.key.is_empty() {
            String::new()
        } else {
            format!("{}: ", pair.key)
        };
        reasons.extend(pair_reasons.into_iter().map(|r| format!("{label}{r}")));
    }
    let value_checks = spec.equals.is_some() || spec.contains.is_some() || spec.matches.is_some();
    if value_checks && pairs.iter().all(|p| p.after.is_none()) {
        reasons.push("no value after to check".to_string());
    }
    outcome.pairing = Some(pairing);
    outcome.pairs = pairs;
    if !reasons.is_empty() {
        outcome.verdict = Verdict::Mismatch;
        outcome.reasons = reasons;
    }
    outcome
}

/// The values of `text`: group 1 of every match of `re`, or the whole trimmed text.
pub fn extract(re: Option<&Regex>, text: &str) -> Vec<Entry> {
    let Some(re) = re else {
        return vec![Entry {
            key: String::new(),
            value: text.trim().to_string(),
        }];
    };
    // One set of capture slots for every match: a listing has thousands of them.
    let mut locs = re.capture_locations();
    let mut entries = Vec::new();
    let (mut at, mut last_end) = (0, None);
    while at <= text.len() {
        let Some(whole) = re.captures_read_at(&mut locs, text, at) else {
            break;
        };
        // As `captures_iter`: after an empty match the search moves on by one character,
        // and an empty match right where the previous match ended does not count.
        let empty = whole.is_empty();
        at = if empty {
            text.get(whole.end()..)
                .and_then(|rest| rest.chars().next())
                .map_or(text.len() + 1, |c| whole.end() + c.len_utf8())
        } else {
            whole.end()
        };
        if empty && last_end == Some(whole.end()) {
            continue;
        }
        last_end = Some(whole.end());
        // A group that did not take part in the match gives no value.
        let Some((start, end)) = locs.get(1) else {
            continue;
        };
        entries.push(Entry {
            key: collapse_whitespace(text.get(whole.start()..start).unwrap_or_default()),
            value: text.get(start..end).unwrap_or_default().to_string(),
        });
    }
    entries
}

/// `s` with its whitespace runs made single spaces, and trimmed.
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn join_entries(entries: &[Entry]) -> String {
    let size = entries
        .iter()
        .map(|e| e.key.len() + e.value.len() + 2)
        .sum();
    let mut out = String::with_capacity(size);
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !e.key.is_empty() {
            out.push_str(&e.key);
            out.push(' ');
        }
        out.push_str(&e.value);
    }
    out
}

/// Entries by key, or `None` when a key repeats.
fn by_key(entries: &[Entry]) -> Option<HashMap<&str, &Entry>> {
    let mut map = HashMap::with_capacity(entries.len());
    for e in entries {
        if map.insert(e.key.as_str(), e).is_some() {
            return None;
        }
    }
    Some(map)
}

/// Pairs before and after values: singly, by key, or by position (see [`Pairing`]).
fn pair_up(before: &[Entry], after: &[Entry]) -> (Pairing, Vec<Pair>) {
    let pair = |key: &str, b: Option<&Entry>, a: Option<&Entry>| Pair {
        key: key.to_string(),
        before: b.map(|e| e.value.clone()),
        after: a.map(|e| e.value.clone()),
        ok: false,
    };
    if before.len() <= 1 && after.len() <= 1 {
        let key = before.first().or(after.first()).map_or("", |e| &e.key);
        return (
            Pairing::Single,
            vec![pair(key, before.first(), after.first())],
        );
    }
    if let (Some(before_by_key), Some(after_by_key)) = (by_key(before), by_key(after)) {
        let mut pairs: Vec<Pair> = before
            .iter()
            .map(|b| pair(&b.key, Some(b), after_by_key.get(b.key.as_str()).copied()))
            .collect();
        pairs.extend(
            after
                .iter()
                .filter(|a| !before_by_key.contains_key(a.key.as_str()))
                .map(|a| pair(&a.key, None, Some(a))),
        );
        return (Pairing::ByPrefix, pairs);
    }
    let pairs = (0..before.len().max(after.len()))
        .map(|i| pair(&format!("#{}", i + 1), before.get(i), after.get(i)))
        .collect();
    (Pairing::ByPosition, pairs)
}

fn quote(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("`{v}`"),
        None => "nothing".to_string(),
    }
}

/// Checks one pair against the change kind; the error says what happened instead.
fn check_change(kind: ChangeKind, pair: &Pair, scheme: VersionScheme) -> Result<(), String> {
    let (b, a) = (&pair.before, &pair.after);
    let moved = || format!("changed from {} to {}", quote(b), quote(a));
    match kind {
        ChangeKind::Any => Ok(()),
        ChangeKind::Unchanged if b == a => Ok(()),
        ChangeKind::Unchanged => Err(format!("expected unchanged, {}", moved())),
        ChangeKind::Changed if b != a => Ok(()),
        ChangeKind::Changed => Err(format!("expected a change, still {}", quote(a))),
        ChangeKind::Added if b.is_none() && a.is_some() => Ok(()),
        ChangeKind::Added => Err(format!("expected added, {}", describe_presence(b, a))),
        ChangeKind::Removed if b.is_some() && a.is_none() => Ok(()),
        ChangeKind::Removed => Err(format!("expected removed, {}", describe_presence(b, a))),
        ChangeKind::VersionIncrease | ChangeKind::VersionDecrease => {
            let want = if kind == ChangeKind::VersionIncrease {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Less
            };
            let word = if kind == ChangeKind::VersionIncrease {
                "increase"
            } else {
                "decrease"
            };
            let (Some(bv), Some(av)) = (b, a) else {
                return Err(format!(
                    "expected a version {word}, {}",
                    describe_presence(b, a)
                ));
            };
            let got = scheme.compare(av, bv);
            if got == want {
                return Ok(());
            }
            let what = match got {
                std::cmp::Ordering::Equal if av == bv => format!("still `{av}`"),
                std::cmp::Ordering::Equal => format!("`{bv}` → `{av}` is the same version"),
                std::cmp::Ordering::Greater => format!("`{bv}` → `{av}` is an increase"),
                std::cmp::Ordering::Less => format!("`{bv}` → `{av}` is a decrease"),
            };
            Err(format!("expected a version {word} ({scheme}), {what}"))
        }
    }
}

fn describe_presence(b: &Option<String>, a: &Option<String>) -> String {
    match (b, a) {
        (None, None) => "absent before and after".to_string(),
        (None, Some(a)) => format!("appeared as `{a}`"),
        (Some(b), None) => format!("`{b}` disappeared"),
        (Some(b), Some(a)) if a == b => format!("present before and after as `{a}`"),
        (Some(b), Some(a)) => format!("present before and after (`{b}` → `{a}`)"),
    }
}

/// Checks `equals`, `contains` and `matches` on one after value.
fn check_value(expect: &CompiledExpectation, value: &str) -> Vec<String> {
    let spec = &expect.spec;
    let mut reasons = Vec::new();
    if let Some(want) = &spec.equals {
        if value != want {
            reasons.push(format!("expected `{want}`, got `{value}`"));
        }
    }
    if let Some(want) = &spec.contains {
        if !value.contains(want.as_str()) {
            reasons.push(format!("expected to contain `{want}`, got `{value}`"));
        }
    }
    if let Some(re) = &expect.matches_re {
        if !re.is_match(value) {
            reasons.push(format!(
                "expected to match `{}`, got `{value}`",
                re.as_str()
            ));
        }
    }
    reasons
}
