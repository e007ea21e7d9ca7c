//! The formatter: `.sflow` source → the same program in the one canonical layout (two-space
//! indentation, one statement or attribute per line, single spaces, nothing aligned, at most
//! one blank line in a row), comments kept where they were. It works on the token stream of
//! [`lex`] rather than on the AST so that every comment and every string survives verbatim;
//! [`format_file`] refuses a file with syntax errors and hands back the parser's diagnostics.
//!
//! Layout rules: a `{ }` block puts each statement on its own line (attributes separated by
//! commas lose their commas); a `[ ]` or `( )` group stays on one line unless it spanned
//! several lines, held a comment or a block, in which case each element gets its own line and
//! a trailing comma. A comment that followed code on its line stays at the end of that line.

pub mod lex;

#[cfg(test)]
mod tests;

use crate::diagnostic::Diagnostic;
use crate::span::FileId;
use lex::{Kind, Tok};

/// Words that start a statement (item, member, inventory entry) at the head of a line.
const STATEMENT_KEYWORDS: &[&str] = &[
    "import",
    "inventory",
    "workflow",
    "template",
    "defaults",
    "host",
    "group",
    "task",
    "window",
    "windows",
    "parallel",
    "per",
    "rollout",
    "wave",
    "waves",
    "verify",
    "capture",
    "expect",
    "param",
    "secret",
    "approve",
    "notify",
];

/// Words after which a statement always goes on (they cannot end one).
const CONTINUATION_WORDS: &[&str] = &[
    "on", "after", "when", "except", "where", "of", "and", "or", "not", "contains",
];

/// Formats a file: its canonical layout, or the syntax diagnostics if it does not parse.
pub fn format_file(file: FileId, src: &str) -> Result<String, Vec<Diagnostic>> {
    let (_, diags) = crate::syntax::parse(file, src);
    if diags.is_empty() {
        Ok(format(src))
    } else {
        Err(diags)
    }
}

/// Lays out source text that parses (see [`format_file`]). On text that does not parse the
/// result is still some layout of the same tokens, but nothing more is promised.
pub fn format(src: &str) -> String {
    let toks = lex::lex(src);
    let multi = multiline_groups(&toks);
    let mut p = Printer {
        toks: &toks,
        multi: &multi,
        out: String::with_capacity(src.len() + src.len() / 8),
        stack: Vec::new(),
        indent: 0,
        need_break: false,
        after_open: true,
        comma_done: false,
    };
    for i in 0..toks.len() {
        p.token(i);
    }
    let mut out = p.out;
    trim_line_end(&mut out);
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// For each token, whether it opens a `[ ]` or `( )` group laid out one element per line.
fn multiline_groups(toks: &[Tok<'_>]) -> Vec<bool> {
    let mut multi = vec![false; toks.len()];
    let mut open: Vec<usize> = Vec::new();
    // Whether the group being scanned (innermost open bracket) must break.
    let mut breaks: Vec<bool> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if let Some(b) = breaks.last_mut() {
            // The first token after the opener counts only if it is not the closer itself.
            let empty_close = t.kind == Kind::Close && open.last() == Some(&(i - 1));
            if !empty_close && (t.breaks > 0 || t.kind == Kind::Comment || t.text == "{") {
                *b = true;
            }
        }
        match t.kind {
            Kind::Open => {
                open.push(i);
                breaks.push(false);
            }
            Kind::Close => {
                if let (Some(o), Some(b)) = (open.pop(), breaks.pop()) {
                    multi[o] = b && toks[o].text != "{";
                    // A broken inner group breaks its parent as well (it spans lines).
                    if b {
                        if let Some(pb) = breaks.last_mut() {
                            *pb = true;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    multi
}

/// How the innermost open bracket lays out its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// `{ }`: one statement per line.
    Block,
    /// A `[ ]` or `( )` group on one line.
    Inline,
    /// A `[ ]` or `( )` group with one element per line.
    Multi,
}

struct Printer<'t, 's> {
    toks: &'t [Tok<'s>],
    multi: &'t [bool],
    out: String,
    stack: Vec<(Frame, usize)>,
    indent: usize,
    /// A comment ended the line: the next token starts a new one.
    need_break: bool,
    /// Nothing but line breaks was written since the last opener (or the file start).
    after_open: bool,
    /// The trailing comma of a multi-line group was already written (before a comment).
    comma_done: bool,
}

impl Printer<'_, '_> {
    fn frame(&self) -> (Frame, Option<usize>) {
        self.stack
            .last()
            .map_or((Frame::Block, None), |&(f, o)| (f, Some(o)))
    }

    /// The index of the nearest token before `i` that is not a comment.
    fn prev_code(&self, i: usize) -> Option<usize> {
        (0..i).rev().find(|&j| self.toks[j].kind != Kind::Comment)
    }

    /// The index of the nearest token after `i` that is not a comment.
    fn next_code(&self, i: usize) -> Option<usize> {
        (i + 1..self.toks.len()).find(|&j| self.toks[j].kind != Kind::Comment)
    }

    /// Whether token `i` begins a statement: a statement keyword, or `NAME =`.
    fn starts_statement(&self, i: usize) -> bool {
        let t = &self.toks[i];
        t.kind == Kind::Word
            && (STATEMENT_KEYWORDS.contains(&t.text)
                || self.next_code(i).is_some_and(|j| self.toks[j].text == "="))
    }

    /// Whether a statement may end with token `i`.
    fn ends_statement(t: &Tok<'_>) -> bool {
        match t.kind {
            Kind::Str | Kind::Close => true,
            Kind::Word => {
                !STATEMENT_KEYWORDS.contains(&t.text) && !CONTINUATION_WORDS.contains(&t.text)
            }
            _ => false,
        }
    }

    fn newline(&mut self, blank: bool, extra: usize) {
        trim_line_end(&mut self.out);
        if !self.out.is_empty() {
            self.out.push('\n');
            if blank {
                self.out.push('\n');
            }
        }
        for _ in 0..self.indent + extra {
            self.out.push(' ');
        }
    }

    fn at_line_start(&self) -> bool {
        self.out
            .rsplit('\n')
            .next()
            .is_none_or(|line| line.trim().is_empty())
    }

    fn token(&mut self, i: usize) {
        let t = self.toks[i];
        let (frame, open) = self.frame();
        let prev_i = self.prev_code(i);
        let prev = prev_i.map(|j| self.toks[j]);
        let blank_ok = t.breaks >= 2 && !self.after_open && t.kind != Kind::Close;

        if t.kind == Kind::Comment {
            if frame == Frame::Multi
                && !self.comma_done
                && self.needs_trailing_comma(i, prev_i, open)
            {
                // The group's last element gets its comma before the comment, not after it.
                self.out.push(',');
                self.comma_done = true;
            }
            if t.breaks == 0 && i > 0 {
                self.out.push(' ');
            } else {
                self.newline(blank_ok, 0);
            }
            self.out.push_str(t.text.trim_end());
            self.need_break = true;
            self.after_open = false;
            return;
        }

        match frame {
            Frame::Block => {
                if t.kind == Kind::Comma && self.comma_dropped(i) {
                    return;
                }
                let is_close = t.kind == Kind::Close;
                let empty = is_close && open == Some(i.wrapping_sub(1));
                if is_close {
                    self.pop();
                }
                // A comma between attributes was dropped: look past it.
                let before = match prev_i {
                    Some(j) if self.toks[j].kind == Kind::Comma && self.comma_dropped(j) => {
                        self.prev_code(j).map(|j| self.toks[j])
                    }
                    _ => prev,
                };
                let statement =
                    self.starts_statement(i) && before.as_ref().is_some_and(Self::ends_statement);
                let first = !is_close && open.is_some() && prev_i == open;
                if (is_close && !empty) || statement || first || prev.is_none() {
                    self.newline(blank_ok, 0);
                } else if self.need_break {
                    // A comment cut a statement in two: its rest goes on an indented line.
                    self.newline(false, if is_close { 0 } else { 2 });
                } else {
                    self.space(t, prev.as_ref());
                }
            }
            Frame::Inline => {
                if t.kind == Kind::Comma
                    && self
                        .next_code(i)
                        .is_some_and(|j| self.toks[j].kind == Kind::Close)
                {
                    return;
                }
                if t.kind == Kind::Close {
                    self.pop();
                }
                if self.need_break {
                    self.newline(false, 2);
                } else {
                    self.space(t, prev.as_ref());
                }
            }
            Frame::Multi => {
                if t.kind == Kind::Close {
                    if !self.comma_done && self.needs_trailing_comma(i, prev_i, open) {
                        self.out.push(',');
                    }
                    self.pop();
                    self.newline(false, 0);
                } else if t.kind == Kind::Comma {
                    if self.need_break {
                        self.newline(false, 0);
                    }
                } else if prev_i == open || prev.is_some_and(|p| p.kind == Kind::Comma) {
                    self.newline(blank_ok, 0);
                } else if self.need_break {
                    self.newline(false, 2);
                } else {
                    self.space(t, prev.as_ref());
                }
            }
        }
        self.out.push_str(t.text);
        self.need_break = false;
        self.after_open = false;
        self.comma_done = false;
        if t.kind == Kind::Open {
            let f = match t.text {
                "{" => Frame::Block,
                _ if self.multi[i] => Frame::Multi,
                _ => Frame::Inline,
            };
            if f != Frame::Inline {
                self.indent += 2;
            }
            self.stack.push((f, i));
            self.after_open = true;
        }
    }

    /// Whether the comma `i` of a block separates two attributes (or ends the last one), so
    /// that the line break replaces it. Only an attribute (`NAME =`) or a `per` limit may
    /// follow such a comma; a comma in `after a, b` stays.
    fn comma_dropped(&self, i: usize) -> bool {
        self.next_code(i).is_none_or(|j| {
            let t = &self.toks[j];
            t.kind == Kind::Close
                || t.text == "per"
                || (t.kind == Kind::Word
                    && self.next_code(j).is_some_and(|k| self.toks[k].text == "="))
        })
    }

    /// Whether the current multi-line group, whose next code token after `i` (or `i` itself)
    /// closes it, still lacks the trailing comma after its last element.
    fn needs_trailing_comma(&self, i: usize, prev: Option<usize>, open: Option<usize>) -> bool {
        let closes = if self.toks[i].kind == Kind::Close {
            true
        } else {
            self.next_code(i)
                .is_some_and(|j| self.toks[j].kind == Kind::Close)
        };
        closes && prev != open && prev.is_some_and(|p| self.toks[p].kind != Kind::Comma)
    }

    fn pop(&mut self) {
        if let Some((f, _)) = self.stack.pop() {
            if f != Frame::Inline {
                self.indent = self.indent.saturating_sub(2);
            }
        }
    }

    /// Writes the single space (or nothing) that separates `t` from the token before it.
    fn space(&mut self, t: Tok<'_>, prev: Option<&Tok<'_>>) {
        if self.at_line_start() {
            return;
        }
        let Some(p) = prev else { return };
        let tight = matches!(t.kind, Kind::Comma | Kind::Colon)
            || (t.kind == Kind::Close && t.text != "}")
            || (p.kind == Kind::Open && p.text != "{")
            || (t.text == "("
                && p.kind == Kind::Word
                && !CONTINUATION_WORDS.contains(&p.text)
                && p.text != "all")
            || (t.text == "}" && p.text == "{");
        if !tight {
            self.out.push(' ');
        }
    }
}

/// Removes spaces at the end of the last line of `s`.
fn trim_line_end(s: &mut String) {
    let keep = s.trim_end_matches(' ').len();
    s.truncate(keep);
}
