//! Text-level helpers of the parser: skipping whitespace and comments, finding line starts and
//! keywords for error recovery, the comment side list, and decoding string literals (escapes,
//! triple-quoted dedent). Input: source text and offsets; output: offsets and decoded text.

/// Skips whitespace and comments from `p`.
pub fn skip_trivia(src: &str, mut p: usize) -> usize {
    let b = src.as_bytes();
    while p < b.len() {
        match b[p] {
            b' ' | b'\t' | b'\r' | b'\n' => p += 1,
            b'#' => {
                while p < b.len() && b[p] != b'\n' {
                    p += 1;
                }
            }
            _ => break,
        }
    }
    p
}

/// Start of the line holding `p`.
pub fn line_start(src: &str, p: usize) -> usize {
    src.as_bytes()[..p.min(src.len())]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1)
}

/// Start of the line after the one holding `p` (or the end).
pub fn next_line(src: &str, p: usize) -> usize {
    src.as_bytes()[p.min(src.len())..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(src.len(), |i| p + i + 1)
}

/// Columns of indentation of the line holding `p`.
pub fn indent_of(src: &str, p: usize) -> usize {
    let s = line_start(src, p);
    src.as_bytes()[s..]
        .iter()
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count()
}

/// Whether only indentation precedes `p` on its line.
pub fn starts_line(src: &str, p: usize) -> bool {
    let s = line_start(src, p);
    src.as_bytes()[s..p]
        .iter()
        .all(|&c| c == b' ' || c == b'\t')
}

/// The identifier starting at `p` (empty if none).
pub fn word_at(src: &str, p: usize) -> &str {
    let rest = src.get(p..).unwrap_or("");
    let n = rest
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .count();
    &rest[..n]
}

/// The offset and first word of the line starting at `line`.
pub fn first_word_of_line(src: &str, line: usize) -> (usize, &str) {
    let at = line + indent_of(src, line);
    (at, word_at(src, at))
}

/// Where to resume after an error: the first line at or after `from` that starts with one of
/// `keywords` or a top-level keyword, or a `}` indented no deeper than `indent` (the end of
/// the enclosing block).
pub fn resync(src: &str, from: usize, keywords: &[&str], indent: Option<usize>) -> usize {
    let mut line = from;
    while line < src.len() {
        let (at, w) = first_word_of_line(src, line);
        if keywords.contains(&w) || super::TOP_KEYWORDS.contains(&w) {
            return at;
        }
        if let Some(ind) = indent {
            if src[at..].starts_with('}') && at - line <= ind {
                return at;
            }
        }
        line = next_line(src, line);
    }
    src.len()
}

/// Skips a string literal starting at `p` (on `"` or `r`); returns the offset after it.
fn skip_string(b: &[u8], mut p: usize) -> usize {
    if b[p] == b'r' {
        let mut q = p + 1;
        let mut hashes = 0;
        while q < b.len() && b[q] == b'#' {
            hashes += 1;
            q += 1;
        }
        q += 1; // opening quote
        while q < b.len() {
            if b[q] == b'"'
                && b[q + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|&&c| c == b'#')
                    .count()
                    == hashes
            {
                return q + 1 + hashes;
            }
            q += 1;
        }
        return b.len();
    }
    if b[p..].starts_with(b"\"\"\"") {
        p += 3;
        while p < b.len() {
            if b[p] == b'\\' {
                p += 2;
                continue;
            }
            if b[p..].starts_with(b"\"\"\"") {
                return p + 3;
            }
            p += 1;
        }
        return b.len();
    }
    p += 1;
    while p < b.len() {
        match b[p] {
            b'\\' => p += 2,
            b'"' => return p + 1,
            _ => p += 1,
        }
    }
    b.len()
}

fn starts_raw(b: &[u8], p: usize) -> bool {
    b[p] == b'r'
        && (p == 0 || !(b[p - 1].is_ascii_alphanumeric() || b[p - 1] == b'_'))
        && matches!(b.get(p + 1), Some(b'"' | b'#'))
}

/// Offset of the innermost `{` opened in `from..to` and not closed there (strings and comments
/// skipped).
pub fn innermost_unclosed(src: &str, from: usize, to: usize) -> Option<usize> {
    let b = src.as_bytes();
    let mut stack = Vec::new();
    let mut p = from;
    while p < to.min(b.len()) {
        match b[p] {
            b'#' => p = next_line(src, p),
            b'"' => p = skip_string(b, p),
            _ if starts_raw(b, p) => p = skip_string(b, p),
            b'{' => {
                stack.push(p);
                p += 1;
            }
            b'}' => {
                stack.pop();
                p += 1;
            }
            _ => p += 1,
        }
    }
    stack.pop()
}

/// Byte ranges of every `#` comment (newline excluded), strings skipped.
pub fn comments(src: &str) -> Vec<(usize, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    while p < b.len() {
        match b[p] {
            b'#' => {
                let mut e = p;
                while e < b.len() && b[e] != b'\n' {
                    e += 1;
                }
                let e = if e > p && b[e - 1] == b'\r' { e - 1 } else { e };
                out.push((p, e));
                p = e;
            }
            b'"' => p = skip_string(b, p),
            _ if starts_raw(b, p) => p = skip_string(b, p),
            _ => p += 1,
        }
    }
    out
}

/// Decodes an escape (`\n` etc.); `None` for an unknown one.
pub fn unescape(c: char) -> Option<char> {
    Some(match c {
        '"' => '"',
        '\\' => '\\',
        'n' => '\n',
        't' => '\t',
        '$' => '$',
        _ => return None,
    })
}

/// Removes the indentation common to all non-blank lines of a triple-quoted string; drops a
/// first line that is empty (text right after the opening quotes) and the blank indentation
/// before the closing quotes. `\u{0}` marks interpolation sites and counts as text.
pub fn dedent(text: &str) -> String {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.len() > 1 && lines[0].trim().is_empty() {
        lines.remove(0);
    }
    if let Some(last) = lines.last_mut() {
        if last.trim().is_empty() {
            *last = "";
        }
    }
    let common = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(common..).unwrap_or_else(|| l.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_skip_strings() {
        let src = "a = \"x # y\" # c1\nb = r#\"#\"# # c2\n";
        let got: Vec<&str> = comments(src).iter().map(|&(s, e)| &src[s..e]).collect();
        assert_eq!(got, vec!["# c1", "# c2"]);
    }

    #[test]
    fn dedent_removes_common_indentation() {
        assert_eq!(dedent("\n      a\n        b\n      "), "a\n  b\n");
    }

    #[test]
    fn innermost_unclosed_brace() {
        let src = "task a { x = \"{\" \n task b";
        assert_eq!(innermost_unclosed(src, 0, src.len()), Some(7));
    }
}
