//! The formatter's lexer: `.sflow` source → a flat list of [`Tok`]s (words, strings,
//! comments, brackets, operators), each with the number of line breaks before it. Strings
//! and comments stay verbatim so that formatting never changes what they mean. Total: any
//! input lexes (the formatter only runs on files that parse, but the lexer does not rely on it).

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A name, keyword, number, duration, percentage or dotted path.
    Word,
    /// A string literal of any form, quotes included.
    Str,
    /// A `# ...` comment, without the line break.
    Comment,
    /// `{`, `[` or `(`.
    Open,
    /// `}`, `]` or `)`.
    Close,
    /// `,`.
    Comma,
    /// `:`.
    Colon,
    /// `=`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `=~`, or any other character.
    Op,
}

/// One token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tok<'s> {
    /// Its kind.
    pub kind: Kind,
    /// Its text, as written.
    pub text: &'s str,
    /// Line breaks between the previous token and this one.
    pub breaks: usize,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'%')
}

/// Splits `src` into tokens.
pub fn lex(src: &str) -> Vec<Tok<'_>> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut p = 0;
    let mut breaks = 0;
    while p < b.len() {
        let c = b[p];
        let start = p;
        let kind = match c {
            b'\n' => {
                breaks += 1;
                p += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                p += 1;
                continue;
            }
            b'#' => {
                while p < b.len() && b[p] != b'\n' {
                    p += 1;
                }
                Kind::Comment
            }
            b'"' => {
                p = string_end(b, p);
                Kind::Str
            }
            b'r' if raw_start(b, p) => {
                p = raw_end(b, p);
                Kind::Str
            }
            b'{' | b'[' | b'(' => {
                p += 1;
                Kind::Open
            }
            b'}' | b']' | b')' => {
                p += 1;
                Kind::Close
            }
            b',' => {
                p += 1;
                Kind::Comma
            }
            b':' => {
                p += 1;
                Kind::Colon
            }
            b'=' | b'!' | b'<' | b'>' => {
                p += 1;
                if p < b.len() && (b[p] == b'=' || (c == b'=' && b[p] == b'~')) {
                    p += 1;
                }
                Kind::Op
            }
            c if is_word(c) => {
                while p < b.len() && is_word(b[p]) {
                    p += 1;
                }
                Kind::Word
            }
            _ => {
                // One whole character, whatever its width.
                p += src[p..].chars().next().map_or(1, char::len_utf8);
                Kind::Op
            }
        };
        toks.push(Tok {
            kind,
            text: &src[start..p],
            breaks,
        });
        breaks = 0;
    }
    toks
}

/// `r"` or `r#…#"`.
fn raw_start(b: &[u8], p: usize) -> bool {
    let mut q = p + 1;
    while q < b.len() && b[q] == b'#' {
        q += 1;
    }
    q < b.len() && b[q] == b'"'
}

/// The end of the raw string starting at `p` (at its `r`).
fn raw_end(b: &[u8], p: usize) -> usize {
    let mut q = p + 1;
    let mut hashes = 0;
    while b.get(q) == Some(&b'#') {
        hashes += 1;
        q += 1;
    }
    q += 1;
    while q < b.len() {
        if b[q] == b'"'
            && b[q + 1..]
                .iter()
                .take(hashes)
                .filter(|&&h| h == b'#')
                .count()
                == hashes
        {
            return q + 1 + hashes;
        }
        q += 1;
    }
    b.len()
}

/// The end of the plain or triple-quoted string starting at `p` (at its first `"`).
fn string_end(b: &[u8], p: usize) -> usize {
    let triple = b[p..].starts_with(b"\"\"\"");
    let mut q = p + if triple { 3 } else { 1 };
    while q < b.len() {
        match b[q] {
            b'\\' => q += 2,
            b'"' if !triple => return q + 1,
            b'"' if b[q..].starts_with(b"\"\"\"") => return q + 3,
            _ => q += 1,
        }
    }
    b.len()
}
