//! Ansible's INI inventory format: `[group]` sections of host lines
//! (`name[:port] key=value ...`, with ranges), `[group:vars]` and `[group:children]`.

use super::build::{Builder, Var};
use super::error::InventoryErrorKind;
use std::collections::HashMap;
use std::ops::Range;

enum Section {
    Hosts(usize),
    Vars(usize),
    Children(usize),
}

/// Reads INI `text` into `b`.
pub(super) fn read(text: &str, b: &mut Builder<'_>) {
    let all = b.group("all", None);
    let mut section = Section::Hosts(all);
    // Groups given hosts or children, or named as a child: a `:vars` section of any other
    // group is, as in Ansible, a mistake (usually a misspelt name).
    let mut defined: Vec<bool> = Vec::new();
    let mut vars_sections: HashMap<usize, Range<usize>> = HashMap::new();
    let mark = |defined: &mut Vec<bool>, g: usize| {
        if defined.len() <= g {
            defined.resize(g + 1, false);
        }
        defined[g] = true;
    };
    mark(&mut defined, all);

    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        let lead = line.len() - trimmed.len();
        let trimmed = trimmed.trim_end();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let start = line_start + lead;
        let span = start..start + trimmed.len();
        if trimmed.starts_with('[') {
            match parse_section(trimmed) {
                Some((name, kind)) => {
                    let name_span = start + 1..start + 1 + name.len();
                    let g = b.group(name, Some(name_span.clone()));
                    section = match kind {
                        None | Some("hosts") => {
                            mark(&mut defined, g);
                            Section::Hosts(g)
                        }
                        Some("children") => {
                            mark(&mut defined, g);
                            Section::Children(g)
                        }
                        Some("vars") => {
                            vars_sections.entry(g).or_insert(name_span);
                            Section::Vars(g)
                        }
                        Some(other) => {
                            b.error(
                                Some(span),
                                InventoryErrorKind::UnknownSectionKind(other.to_string()),
                            );
                            // Skip the section's lines rather than misread them as hosts.
                            Section::Vars(usize::MAX)
                        }
                    };
                } // A `[` line that is not a section header.
                None => b.error(
                    Some(span),
                    InventoryErrorKind::Syntax(format!("invalid section header `{trimmed}`")),
                ),
            }
            continue;
        }
        match section {
            Section::Hosts(g) => host_line(b, g, trimmed, start),
            Section::Vars(usize::MAX) => {}
            Section::Vars(g) => match trimmed.split_once('=') {
                Some((k, v)) => {
                    let key = k.trim();
                    if key.is_empty() {
                        b.error(Some(span), InventoryErrorKind::ExpectedKeyValue);
                        continue;
                    }
                    let var = Var {
                        value: unquote(strip_comment(v).trim()),
                        span: Some(span),
                    };
                    b.group_var(g, key, var);
                }
                None => b.error(Some(span), InventoryErrorKind::ExpectedKeyValue),
            },
            Section::Children(g) => {
                let name = trimmed.split('#').next().map(str::trim).unwrap_or_default();
                if name.is_empty() || name.contains(char::is_whitespace) {
                    b.error(
                        Some(span),
                        InventoryErrorKind::Syntax(format!(
                            "expected one group name per line in a children section, found `{trimmed}`"
                        )),
                    );
                    continue;
                }
                let name_span = start..start + name.len();
                let c = b.group(name, Some(name_span.clone()));
                mark(&mut defined, c);
                b.add_child(g, c, Some(name_span));
            }
        }
    }
    let mut undefined: Vec<(usize, Range<usize>)> = vars_sections
        .into_iter()
        .filter(|(g, _)| !defined.get(*g).copied().unwrap_or(false))
        .collect();
    undefined.sort_by_key(|(_, r)| r.start);
    for (_, span) in undefined {
        let name = text.get(span.clone()).unwrap_or_default().to_string();
        b.error(
            Some(span),
            InventoryErrorKind::Syntax(format!(
                "`[{name}:vars]` sets vars of a group that has no hosts or children"
            )),
        );
    }
}

/// `[name]` or `[name:kind]`, with an optional trailing comment.
fn parse_section(line: &str) -> Option<(&str, Option<&str>)> {
    let inner_end = line.find(']')?;
    let rest = line[inner_end + 1..].trim();
    if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
        return None;
    }
    let inner = &line[1..inner_end];
    let (name, kind) = match inner.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inner, None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    if let Some(k) = kind {
        if k.is_empty() || !k.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
    }
    Some((name, kind))
}

/// `name[:port] key=value ...` at byte `start` of the text.
fn host_line(b: &mut Builder<'_>, group: usize, line: &str, start: usize) {
    let tokens = match split_tokens(line) {
        Ok(t) => t,
        Err(reason) => {
            let span = start..start + line.len();
            b.error(Some(span), InventoryErrorKind::Syntax(reason));
            return;
        }
    };
    let Some(((pattern, prange), vars)) = tokens.split_first() else {
        return;
    };
    let pspan = start + prange.start..start + prange.end;
    let hosts = b.add_hosts(pattern, Some(pspan), group);
    for (tok, range) in vars {
        let span = start + range.start..start + range.end;
        match tok.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                for &h in &hosts {
                    let var = Var {
                        value: v.to_string(),
                        span: Some(span.clone()),
                    };
                    b.host_var(h, k, var);
                }
            }
            _ => b.error(Some(span), InventoryErrorKind::ExpectedHostVar(tok.clone())),
        }
    }
}

/// Splits a host line like a POSIX shell (quotes, backslashes, `#` comments), keeping each
/// word's byte range in the line.
fn split_tokens(line: &str) -> Result<Vec<(String, Range<usize>)>, String> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        let begin = i;
        let mut word = String::new();
        let mut end = i;
        while let Some(&(j, c)) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            end = j + c.len_utf8();
            match c {
                '\'' | '"' => {
                    let quote = c;
                    let mut closed = false;
                    while let Some((k, d)) = chars.next() {
                        end = k + d.len_utf8();
                        if d == quote {
                            closed = true;
                            break;
                        }
                        if d == '\\' && quote == '"' {
                            if let Some(&(k2, e)) = chars.peek() {
                                if matches!(e, '"' | '\\' | '$' | '`') {
                                    chars.next();
                                    end = k2 + e.len_utf8();
                                    word.push(e);
                                    continue;
                                }
                            }
                        }
                        word.push(d);
                    }
                    if !closed {
                        return Err(format!("unclosed `{quote}`"));
                    }
                }
                '\\' => {
                    if let Some((k, d)) = chars.next() {
                        end = k + d.len_utf8();
                        word.push(d);
                    }
                }
                c => word.push(c),
            }
        }
        out.push((word, begin..end));
    }
    Ok(out)
}

/// A vars-section value without a trailing ` # comment` (outside quotes).
fn strip_comment(v: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_space = false;
    for (i, c) in v.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#' | ';') if prev_space => return &v[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    v
}

/// A vars-section value: Ansible reads it as a Python literal, so one layer of matching
/// quotes is removed; anything else is kept as written.
fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::split_tokens;

    #[test]
    fn tokens_keep_their_ranges() {
        let line = r#"web1 a=1 b="x y" c='p q' # note"#;
        let t = split_tokens(line).unwrap_or_default();
        let words: Vec<&str> = t.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(words, vec!["web1", "a=1", "b=x y", "c=p q"]);
        assert_eq!(&line[t[2].1.clone()], r#"b="x y""#);
        assert!(split_tokens("web1 a='x").is_err());
    }

    #[test]
    fn vars_values_lose_trailing_comments_only() {
        use super::strip_comment;
        assert_eq!(strip_comment("ssh  # the port"), "ssh  ");
        assert_eq!(strip_comment("a#b"), "a#b");
        assert_eq!(strip_comment("'x # y' ; z"), "'x # y' ");
    }
}
