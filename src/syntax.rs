//! Parsing: `.sflow` source text → [`ast::File`] plus syntax diagnostics. The only module that
//! sees pest. It parses one top-level item head, then one block member, at a time, so that
//! after an error it resynchronises at the next item keyword and reports several errors.
//! Parsing never panics and never fails: a broken item is left out of the tree.

mod errors;
mod lower;
mod lower_expr;
mod strings;

use crate::ast::{self, Item};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use pest::Parser as _;

pub use strings::comments;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/sflow.pest"]
struct SflowParser;

/// Keywords that start a top-level item.
pub const TOP_KEYWORDS: &[&str] = &["import", "inventory", "workflow", "template"];
/// Keywords that start a workflow member.
pub const MEMBER_KEYWORDS: &[&str] = &[
    "task", "window", "windows", "parallel", "rollout", "verify", "param", "secret", "approve",
    "notify",
];
/// Keywords that start an inventory member.
pub const INVENTORY_KEYWORDS: &[&str] = &["defaults", "host", "group"];

/// Which block a member is parsed in (decides what may follow and where to resync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Workflow,
    Inventory,
}

impl Ctx {
    fn keywords(self) -> &'static [&'static str] {
        match self {
            Ctx::Top => TOP_KEYWORDS,
            Ctx::Workflow => MEMBER_KEYWORDS,
            Ctx::Inventory => INVENTORY_KEYWORDS,
        }
    }
}

/// Parses one file. Returns the tree of every item that parsed and the syntax diagnostics,
/// sorted by position.
pub fn parse(file: FileId, src: &str) -> (ast::File, Vec<Diagnostic>) {
    let mut d = Driver {
        src,
        file,
        diags: Vec::new(),
    };
    let items = d.items();
    let comments = strings::comments(src)
        .into_iter()
        .map(|(s, e)| ast::Comment {
            span: Span::new(file, s, e),
        })
        .collect();
    let mut diags = d.diags;
    crate::diagnostic::sort(&mut diags);
    (
        ast::File {
            file,
            items,
            comments,
        },
        diags,
    )
}

struct Driver<'s> {
    src: &'s str,
    file: FileId,
    diags: Vec<Diagnostic>,
}

type Pair<'i> = pest::iterators::Pair<'i, Rule>;

impl<'s> Driver<'s> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    fn lower(&mut self, base: usize) -> lower::Lower<'_> {
        lower::Lower {
            file: self.file,
            base,
            diags: &mut self.diags,
        }
    }

    /// Parses `rule` at byte `p`; on success returns the pair and the absolute end.
    fn parse_at(
        &self,
        rule: Rule,
        p: usize,
    ) -> Result<(Pair<'s>, usize), pest::error::Error<Rule>> {
        let text = &self.src[p..];
        let mut pairs = SflowParser::parse(rule, text)?;
        match pairs.next() {
            Some(pair) => {
                let end = p + pair.as_span().end();
                Ok((pair, end))
            }
            None => Err(pest::error::Error::new_from_pos(
                pest::error::ErrorVariant::CustomError {
                    message: "nothing parsed".into(),
                },
                pest::Position::from_start(text),
            )),
        }
    }

    fn items(&mut self) -> Vec<Item> {
        let mut items = Vec::new();
        let mut p = 0;
        loop {
            p = strings::skip_trivia(self.src, p);
            if p >= self.src.len() {
                break;
            }
            match self.parse_at(Rule::top, p) {
                Ok((pair, end)) => {
                    let Some(inner) = pair.into_inner().next() else {
                        p = end.max(p + 1);
                        continue;
                    };
                    match inner.as_rule() {
                        Rule::inventory_open => {
                            let (block, np) = self.inventory(inner, p);
                            items.push(Item::Inventory(ast::InventoryDecl::Inline(block)));
                            p = np;
                        }
                        Rule::workflow_open => {
                            let (wf, np) = self.workflow(inner, p);
                            if let Some(wf) = wf {
                                items.push(Item::Workflow(wf));
                            }
                            p = np;
                        }
                        Rule::top_unknown => {
                            self.lower(p).unknown(inner, TOP_KEYWORDS, "item");
                            p = end;
                        }
                        _ => {
                            if let Some(item) = self.lower(p).top_item(inner) {
                                items.push(item);
                            }
                            p = end;
                        }
                    }
                }
                Err(e) => p = self.error(e, p, Ctx::Top, None),
            }
        }
        items
    }

    fn workflow(&mut self, head: Pair<'s>, base: usize) -> (Option<ast::Workflow>, usize) {
        let head_span = head.as_span();
        let mut name = None;
        let mut open = None;
        for c in head.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.lower(base).ident(&c)),
                Rule::open => open = Some(base + c.as_span().start()),
                _ => {}
            }
        }
        let start = base + head_span.start();
        let body = base + head_span.end();
        let (members, end) = self.block(
            start,
            open.unwrap_or(body),
            body,
            Ctx::Workflow,
            |l, pair| l.member(pair),
        );
        let wf = name.map(|name| ast::Workflow {
            name,
            members,
            span: self.span(start, end),
        });
        (wf, end)
    }

    fn inventory(&mut self, head: Pair<'s>, base: usize) -> (ast::InventoryBlock, usize) {
        let head_span = head.as_span();
        let open = head
            .into_inner()
            .find(|c| c.as_rule() == Rule::open)
            .map(|c| base + c.as_span().start());
        let start = base + head_span.start();
        let body = base + head_span.end();
        let (members, end) = self.block(
            start,
            open.unwrap_or(body),
            body,
            Ctx::Inventory,
            |l, pair| l.inventory_member(pair),
        );
        (
            ast::InventoryBlock {
                members,
                span: self.span(start, end),
            },
            end,
        )
    }

    /// Parses members until the closing `}`; returns them and the position after the block.
    fn block<T>(
        &mut self,
        start: usize,
        open: usize,
        mut p: usize,
        ctx: Ctx,
        mut each: impl FnMut(&mut lower::Lower<'_>, Pair<'s>) -> Option<T>,
    ) -> (Vec<T>, usize) {
        let rule = if ctx == Ctx::Inventory {
            Rule::inv_member
        } else {
            Rule::member
        };
        let indent = strings::indent_of(self.src, start);
        let mut out = Vec::new();
        loop {
            p = strings::skip_trivia(self.src, p);
            if p >= self.src.len() {
                let d = Diagnostic::new(Code::E0002, self.span(open, open + 1), "unclosed `{`")
                    .with_label("this `{` is never closed")
                    .with_help("add `}` at the end of the block");
                self.diags.push(d);
                return (out, p);
            }
            if self.src[p..].starts_with('}') {
                return (out, p + 1);
            }
            let word = strings::word_at(self.src, p);
            if TOP_KEYWORDS.contains(&word) && strings::starts_line(self.src, p) {
                let d = Diagnostic::new(Code::E0002, self.span(open, open + 1), "unclosed `{`")
                    .with_label("this `{` is never closed")
                    .with_related(
                        self.span(p, p + word.len()),
                        format!("`{word}` starts a new item here"),
                    )
                    .with_help("add `}` before the next item");
                self.diags.push(d);
                return (out, p);
            }
            match self.parse_at(rule, p) {
                Ok((pair, end)) => {
                    let mut l = self.lower(p);
                    if let Some(inner) = pair.into_inner().next() {
                        if let Some(v) = each(&mut l, inner) {
                            out.push(v);
                        }
                    }
                    p = end.max(p + 1);
                }
                Err(e) => p = self.error(e, p, ctx, Some(indent)),
            }
        }
    }

    /// Reports a pest error of an item starting at `p` and returns where to resume.
    fn error(
        &mut self,
        e: pest::error::Error<Rule>,
        p: usize,
        ctx: Ctx,
        indent: Option<usize>,
    ) -> usize {
        let epos = p + match e.location {
            pest::error::InputLocation::Pos(x) => x,
            pest::error::InputLocation::Span((x, _)) => x,
        };
        let epos = epos.min(self.src.len());
        let positives = match &e.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
            pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
        };
        let line = strings::line_start(self.src, epos);
        let resume_from = if line > strings::line_start(self.src, p) {
            line
        } else {
            strings::next_line(self.src, epos.max(p))
        };
        // A new item keyword on a later line than the item's start: a `}` was forgotten.
        let first = strings::first_word_of_line(self.src, line);
        if line > strings::line_start(self.src, p)
            && (ctx.keywords().contains(&first.1) || TOP_KEYWORDS.contains(&first.1))
        {
            let at = first.0;
            let brace = strings::innermost_unclosed(self.src, p, line);
            let d = Diagnostic::new(
                Code::E0002,
                self.span(brace.unwrap_or(p), brace.map_or(at, |b| b + 1)),
                "unclosed `{`",
            )
            .with_label("this `{` is never closed")
            .with_related(
                self.span(at, at + first.1.len()),
                format!("`{}` starts a new item here", first.1),
            )
            .with_help("add `}` before this item");
            self.diags.push(d);
            return at;
        }
        self.diags
            .push(errors::from_pest(self.src, self.file, epos, &positives));
        strings::resync(self.src, resume_from, ctx.keywords(), indent)
    }
}

#[cfg(test)]
mod tests;
