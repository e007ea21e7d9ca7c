//! Turns a pest failure (position + expected rules) into a targeted syntax diagnostic:
//! `=` forgotten after an attribute name (E0003), otherwise "unexpected X" with what was
//! expected in plain words (E0001).

use super::{strings, Rule};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};

/// What a rule means to a user, for "expected ..." lists (`None`: not worth naming).
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::eq => "`=`",
        Rule::open => "`{`",
        Rule::close => "`}`",
        Rule::ident | Rule::host_name | Rule::name | Rule::map_entry => "a name",
        Rule::target | Rule::target_name | Rule::target_list | Rule::glob | Rule::kw_all => {
            "a target"
        }
        Rule::except_suffix | Rule::kw_except => "`except`",
        Rule::where_suffix | Rule::kw_where => "`where`",
        Rule::value | Rule::value_target | Rule::call | Rule::list | Rule::map => "a value",
        Rule::plain_string | Rule::raw_string | Rule::triple_string => "a string",
        Rule::duration => "a duration",
        Rule::percent => "a percentage",
        Rule::int => "a number",
        Rule::bool => "`true` or `false`",
        Rule::attr | Rule::attr_block => "an attribute",
        Rule::cond | Rule::cond_and | Rule::cond_not | Rule::operand | Rule::path => "a condition",
        Rule::cmp_op | Rule::eq_op => "an operator",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::kw_on => "`on`",
        Rule::kw_after | Rule::task_after => "`after`",
        Rule::kw_when | Rule::task_when => "`when`",
        Rule::kw_of => "`of`",
        Rule::member | Rule::m_unknown => "a workflow item",
        Rule::inv_member | Rule::inv_unknown => "`host`, `group` or `defaults`",
        Rule::top | Rule::top_unknown => "`workflow`, `inventory`, `template` or `import`",
        Rule::wave | Rule::kw_wave => "`wave`",
        Rule::wave_sizes | Rule::kw_waves => "`waves`",
        Rule::per_limit | Rule::kw_per => "`per`",
        Rule::capture_decl | Rule::kw_capture => "`capture`",
        Rule::expect | Rule::kw_expect => "`expect`",
        Rule::param_decl => "a parameter",
        _ => return None,
    })
}

/// The token at `p`, for "unexpected ..." messages, and its length in bytes.
fn token_at(src: &str, p: usize) -> (String, usize) {
    let rest = &src[p.min(src.len())..];
    let w = strings::word_at(src, p);
    if !w.is_empty() {
        return (format!("`{w}`"), w.len());
    }
    match rest.chars().next() {
        None => ("end of file".to_owned(), 0),
        Some('\n') => ("end of line".to_owned(), 1),
        Some(c) => (format!("`{c}`"), c.len_utf8()),
    }
}

/// The word ending just before `p` (skipping blanks), with its offset.
fn word_before(src: &str, p: usize) -> Option<(usize, &str)> {
    let b = src.as_bytes();
    let mut e = p.min(b.len());
    while e > 0 && (b[e - 1] == b' ' || b[e - 1] == b'\t') {
        e -= 1;
    }
    let mut s = e;
    while s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_') {
        s -= 1;
    }
    (s < e).then(|| (s, &src[s..e]))
}

/// The diagnostic for a parse failure at absolute offset `epos`.
pub fn from_pest(src: &str, file: FileId, epos: usize, positives: &[Rule]) -> Diagnostic {
    let (tok, len) = token_at(src, epos);
    let at = Span::new(file, epos, epos + len);
    if positives.contains(&Rule::eq) {
        if let Some((ws, word)) = word_before(src, epos) {
            let line = src[epos..].lines().next().unwrap_or("");
            // Leave out a trailing comment.
            let next = line.find(" #").map_or(line, |i| &line[..i]).trim();
            return Diagnostic::new(
                Code::E0003,
                Span::new(file, ws, ws + word.len()),
                format!("expected `=` after `{word}`"),
            )
            .with_label("`=` missing after this name")
            .with_help(format!("write `{word} = {next}`"));
        }
    }
    let mut expected: Vec<&str> = positives.iter().filter_map(|r| describe(*r)).collect();
    expected.dedup();
    let mut seen = std::collections::HashSet::new();
    expected.retain(|e| seen.insert(*e));
    let label = match expected.as_slice() {
        [] => "not expected here".to_owned(),
        [one] => format!("expected {one}"),
        [init @ .., last] => format!("expected {} or {last}", init.join(", ")),
    };
    Diagnostic::new(Code::E0001, at, format!("unexpected {tok}")).with_label(label)
}
