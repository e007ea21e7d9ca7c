//! Lowering: pest pairs → [`crate::ast`] nodes, one function per grammar rule, with offsets
//! made absolute. Literal problems the grammar lets through on purpose (unknown escapes, bad
//! interpolations, numbers out of range, misspelt keywords) become diagnostics here.

use super::{strings, Pair, Rule};
use crate::ast::*;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::span::{FileId, Span};
use std::time::Duration;

/// Lowering context: the file, the offset of the parsed text in it, and where to report.
pub struct Lower<'d> {
    pub file: FileId,
    pub base: usize,
    pub diags: &'d mut Vec<Diagnostic>,
}

impl Lower<'_> {
    pub(super) fn span(&self, p: &Pair<'_>) -> Span {
        let s = p.as_span();
        Span::new(self.file, self.base + s.start(), self.base + s.end())
    }

    pub fn ident(&self, p: &Pair<'_>) -> Ident {
        Ident {
            name: p.as_str().to_owned(),
            span: self.span(p),
        }
    }

    fn first_ident(&self, p: &Pair<'_>) -> Option<Ident> {
        p.clone()
            .into_inner()
            .find(|c| matches!(c.as_rule(), Rule::ident | Rule::host_name))
            .map(|c| self.ident(&c))
    }

    /// A misspelt keyword caught by a `*_unknown` rule.
    pub fn unknown(&mut self, p: Pair<'_>, keywords: &[&str], what: &str) {
        let Some(word) = p.clone().into_inner().find(|c| c.as_rule() == Rule::ident) else {
            return;
        };
        let w = self.ident(&word);
        let help = did_you_mean(&w.name, keywords.iter().copied()).or_else(|| {
            Some(format!(
                "expected one of {}",
                keywords
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        });
        self.diags.push(
            Diagnostic::new(Code::E0004, w.span, format!("unknown {what} `{}`", w.name))
                .with_label("not a keyword here")
                .with_help_opt(help),
        );
    }

    pub fn top_item(&mut self, p: Pair<'_>) -> Option<Item> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::item_import => {
                let s = p.into_inner().find(|c| is_string(c.as_rule()))?;
                Some(Item::Import(Import {
                    path: self.string(s),
                    span,
                }))
            }
            Rule::item_inventory_ref => {
                let c = p.into_inner().find(|c| c.as_rule() != Rule::kw_inventory)?;
                if c.as_rule() == Rule::call {
                    let v = self.call(c);
                    let ValueKind::Call { name, args } = v.kind else {
                        return None;
                    };
                    let command = match (name.name.as_str(), args.as_slice()) {
                        (
                            "command",
                            [Value {
                                kind: ValueKind::Str(s),
                                ..
                            }],
                        ) => s.clone(),
                        _ => {
                            self.diags.push(
                                Diagnostic::new(Code::E0001, v.span, "an inventory is a file name or `command(\"...\")`")
                                    .with_help("write `inventory \"hosts.sflow\"` or `inventory command(\"./inventory --list\")`"),
                            );
                            return None;
                        }
                    };
                    Some(Item::Inventory(InventoryDecl::Command { command, span }))
                } else {
                    Some(Item::Inventory(InventoryDecl::File {
                        path: self.string(c),
                        span,
                    }))
                }
            }
            Rule::item_template => {
                let mut name = None;
                let mut params = Vec::new();
                let mut attrs = Vec::new();
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::ident => name = Some(self.ident(&c)),
                        Rule::param_decl => params.push(self.param(c)),
                        Rule::attr_block => attrs = self.attr_block(c),
                        _ => {}
                    }
                }
                Some(Item::Template(Template {
                    name: name?,
                    params,
                    attrs,
                    span,
                }))
            }
            _ => None,
        }
    }

    fn param(&mut self, p: Pair<'_>) -> Param {
        let span = self.span(&p);
        let mut idents = Vec::new();
        let mut default = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => idents.push(self.ident(&c)),
                Rule::value => default = Some(self.value(c)),
                _ => {}
            }
        }
        let mut it = idents.into_iter();
        let name = it.next().unwrap_or(Ident {
            name: String::new(),
            span,
        });
        let ty = it.next().unwrap_or(Ident {
            name: String::new(),
            span,
        });
        Param {
            name,
            ty,
            default,
            span,
        }
    }

    pub fn inventory_member(&mut self, p: Pair<'_>) -> Option<InventoryMember> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::inv_defaults => {
                let attrs = p
                    .into_inner()
                    .find(|c| c.as_rule() == Rule::attr_block)
                    .map(|b| self.attr_block(b))
                    .unwrap_or_default();
                Some(InventoryMember::Defaults { attrs, span })
            }
            Rule::inv_host => {
                let name = self.first_ident(&p)?;
                let attrs = p
                    .into_inner()
                    .find(|c| c.as_rule() == Rule::attr_block)
                    .map(|b| self.attr_block(b))
                    .unwrap_or_default();
                Some(InventoryMember::Host { name, attrs, span })
            }
            Rule::inv_group => {
                let name = self.first_ident(&p)?;
                let target = self.target(p.into_inner().find(|c| c.as_rule() == Rule::target)?);
                Some(InventoryMember::Group { name, target, span })
            }
            Rule::inv_unknown => {
                self.unknown(p, super::INVENTORY_KEYWORDS, "inventory entry");
                None
            }
            _ => None,
        }
    }

    pub fn member(&mut self, p: Pair<'_>) -> Option<Member> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::attr => Some(Member::Attr(self.attr(p))),
            Rule::m_unknown => {
                self.unknown(p, super::MEMBER_KEYWORDS, "workflow item");
                None
            }
            Rule::m_task => Some(Member::Task(self.task(p))),
            Rule::m_window => {
                let mut target = None;
                let mut spec = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::target => target = Some(self.target(c)),
                        r if is_string(r) => spec = Some(self.string(c)),
                        _ => {}
                    }
                }
                Some(Member::Window {
                    target: target?,
                    spec: spec?,
                    span,
                })
            }
            Rule::m_parallel => {
                let mut attrs = Vec::new();
                let mut per = Vec::new();
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::attr => attrs.push(self.attr(c)),
                        Rule::per_limit => {
                            let span = self.span(&c);
                            let attr = self.first_ident(&c)?;
                            let limit =
                                self.value(c.into_inner().find(|x| x.as_rule() == Rule::value)?);
                            per.push(PerLimit { attr, limit, span });
                        }
                        _ => {}
                    }
                }
                Some(Member::Parallel(Parallel { attrs, per, span }))
            }
            Rule::m_rollout => {
                let mut r = Rollout {
                    waves: Vec::new(),
                    sizes: None,
                    attrs: Vec::new(),
                    span,
                };
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::attr => r.attrs.push(self.attr(c)),
                        Rule::wave => {
                            let span = self.span(&c);
                            let name = self.first_ident(&c)?;
                            let target =
                                self.target(c.into_inner().find(|x| x.as_rule() == Rule::target)?);
                            r.waves.push(Wave { name, target, span });
                        }
                        Rule::wave_sizes => {
                            let span = self.span(&c);
                            let mut sizes = Vec::new();
                            let mut of = None;
                            for x in c.into_inner() {
                                match x.as_rule() {
                                    Rule::list => sizes = self.list_items(x),
                                    Rule::target => of = Some(self.target(x)),
                                    _ => {}
                                }
                            }
                            r.sizes = Some(WaveSizes {
                                sizes,
                                of: of?,
                                span,
                            });
                        }
                        _ => {}
                    }
                }
                Some(Member::Rollout(r))
            }
            Rule::m_verify => {
                let mut v = Verify {
                    name: self.first_ident(&p)?,
                    captures: Vec::new(),
                    expects: Vec::new(),
                    attrs: Vec::new(),
                    span,
                };
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::attr => v.attrs.push(self.attr(c)),
                        Rule::capture_decl => {
                            let span = self.span(&c);
                            let name = self.first_ident(&c)?;
                            let s = c.into_inner().find(|x| is_string(x.as_rule()))?;
                            let command = self.string(s);
                            v.captures.push(CaptureDecl {
                                name,
                                command,
                                span,
                            });
                        }
                        Rule::expect => {
                            let span = self.span(&c);
                            let name = self.first_ident(&c)?;
                            let attrs = c
                                .into_inner()
                                .find(|x| x.as_rule() == Rule::attr_block)
                                .map(|b| self.attr_block(b))
                                .unwrap_or_default();
                            v.expects.push(Expect { name, attrs, span });
                        }
                        _ => {}
                    }
                }
                Some(Member::Verify(v))
            }
            Rule::m_param => {
                let d = p.into_inner().find(|c| c.as_rule() == Rule::param_decl)?;
                let mut param = self.param(d);
                param.span = span;
                Some(Member::Param(param))
            }
            Rule::m_secret => {
                let name = self.first_ident(&p)?;
                let source = self.value(p.into_inner().find(|c| c.as_rule() == Rule::value)?);
                Some(Member::Secret { name, source, span })
            }
            Rule::m_block => {
                let mut keyword = None;
                let mut attrs = Vec::new();
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::kw_approve | Rule::kw_windows | Rule::kw_notify => {
                            keyword = Some(self.ident(&c));
                        }
                        Rule::attr_block => attrs = self.attr_block(c),
                        _ => {}
                    }
                }
                Some(Member::Block(Block {
                    keyword: keyword?,
                    attrs,
                    span,
                }))
            }
            _ => None,
        }
    }

    fn task(&mut self, p: Pair<'_>) -> Task {
        let span = self.span(&p);
        let mut name = None;
        let mut target = None;
        let mut after = Vec::new();
        let mut when = None;
        let mut attrs = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.ident(&c)),
                Rule::target => target = Some(self.target(c)),
                Rule::task_after => {
                    after = c
                        .into_inner()
                        .filter(|x| x.as_rule() == Rule::ident)
                        .map(|x| self.ident(&x))
                        .collect();
                }
                Rule::task_when => {
                    when = c
                        .into_inner()
                        .find(|x| x.as_rule() == Rule::cond)
                        .map(|x| self.cond(x));
                }
                Rule::attr_block => attrs = self.attr_block(c),
                _ => {}
            }
        }
        let fallback = Ident {
            name: String::new(),
            span,
        };
        Task {
            name: name.unwrap_or(fallback),
            target: target.unwrap_or(Target {
                kind: TargetKind::All,
                span,
            }),
            after,
            when,
            attrs,
            span,
        }
    }

    pub fn attr_block(&mut self, p: Pair<'_>) -> Vec<Attr> {
        p.into_inner()
            .filter(|c| c.as_rule() == Rule::attr)
            .map(|c| self.attr(c))
            .collect()
    }

    fn attr(&mut self, p: Pair<'_>) -> Attr {
        let span = self.span(&p);
        let mut key = None;
        let mut value = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => key = Some(self.ident(&c)),
                Rule::value => value = Some(self.value(c)),
                _ => {}
            }
        }
        Attr {
            key: key.unwrap_or(Ident {
                name: String::new(),
                span,
            }),
            value: value.unwrap_or(Value {
                kind: ValueKind::Bool(false),
                span,
            }),
            span,
        }
    }

    fn list_items(&mut self, p: Pair<'_>) -> Vec<Value> {
        p.into_inner()
            .filter(|c| c.as_rule() == Rule::value)
            .map(|c| self.value(c))
            .collect()
    }

    fn call(&mut self, p: Pair<'_>) -> Value {
        let span = self.span(&p);
        let mut name = None;
        let mut args = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.ident(&c)),
                Rule::value => args.push(self.value(c)),
                _ => {}
            }
        }
        Value {
            kind: ValueKind::Call {
                name: name.unwrap_or(Ident {
                    name: String::new(),
                    span,
                }),
                args,
            },
            span,
        }
    }

    pub fn value(&mut self, p: Pair<'_>) -> Value {
        let span = self.span(&p);
        let inner = if p.as_rule() == Rule::value {
            match p.into_inner().next() {
                Some(i) => i,
                None => {
                    return Value {
                        kind: ValueKind::Bool(false),
                        span,
                    }
                }
            }
        } else {
            p
        };
        let kind = match inner.as_rule() {
            Rule::value_target => {
                let t = self.target_chain(inner.into_inner(), span);
                ValueKind::Target(t)
            }
            Rule::call => return self.call(inner),
            Rule::list => ValueKind::List(self.list_items(inner)),
            Rule::map => ValueKind::Map(
                inner
                    .into_inner()
                    .filter(|c| c.as_rule() == Rule::map_entry)
                    .map(|c| {
                        let span = self.span(&c);
                        let mut key = None;
                        let mut value = None;
                        for x in c.into_inner() {
                            match x.as_rule() {
                                Rule::host_name => key = Some(self.ident(&x)),
                                Rule::value => value = Some(self.value(x)),
                                _ => {}
                            }
                        }
                        Attr {
                            key: key.unwrap_or(Ident {
                                name: String::new(),
                                span,
                            }),
                            value: value.unwrap_or(Value {
                                kind: ValueKind::Bool(false),
                                span,
                            }),
                            span,
                        }
                    })
                    .collect(),
            ),
            Rule::duration => ValueKind::Duration(self.duration(inner.as_str(), span)),
            Rule::percent => {
                ValueKind::Percent(self.number(inner.as_str().trim_end_matches('%'), span))
            }
            Rule::int => ValueKind::Int(self.number(inner.as_str(), span)),
            Rule::bool => ValueKind::Bool(inner.as_str() == "true"),
            Rule::name => match inner.into_inner().next() {
                Some(h) => ValueKind::Name(self.ident(&h)),
                None => ValueKind::Bool(false),
            },
            r if is_string(r) => ValueKind::Str(self.string(inner)),
            _ => ValueKind::Bool(false),
        };
        Value { kind, span }
    }

    fn number(&mut self, text: &str, span: Span) -> u64 {
        text.parse().unwrap_or_else(|_| {
            self.diags.push(
                Diagnostic::new(Code::E0006, span, "number too large")
                    .with_label("does not fit in 64 bits"),
            );
            0
        })
    }

    fn duration(&mut self, text: &str, span: Span) -> Duration {
        match parse_duration(text) {
            Some(d) => d,
            None => {
                self.diags.push(
                    Diagnostic::new(Code::E0006, span, "duration too large")
                        .with_label("this duration overflows"),
                );
                Duration::ZERO
            }
        }
    }

    pub fn target(&mut self, p: Pair<'_>) -> Target {
        let span = self.span(&p);
        self.target_chain(p.into_inner(), span)
    }

    /// A target term followed by `except` / `where` suffixes, folded left.
    fn target_chain<'i>(&mut self, pairs: pest::iterators::Pairs<'i, Rule>, span: Span) -> Target {
        let mut acc: Option<Target> = None;
        for c in pairs {
            match c.as_rule() {
                Rule::except_suffix => {
                    let Some(term) = c.into_inner().find(|x| x.as_rule() != Rule::kw_except) else {
                        continue;
                    };
                    let rhs = self.target_term(term);
                    let base = acc.take().unwrap_or(Target {
                        kind: TargetKind::All,
                        span,
                    });
                    let s = base.span.to(rhs.span);
                    acc = Some(Target {
                        kind: TargetKind::Except(Box::new(base), Box::new(rhs)),
                        span: s,
                    });
                }
                Rule::where_suffix => {
                    let end = self.span(&c);
                    let mut attr = None;
                    let mut equal = true;
                    let mut value = None;
                    for x in c.into_inner() {
                        match x.as_rule() {
                            Rule::ident => attr = Some(self.ident(&x)),
                            Rule::eq_op => equal = x.as_str() == "==",
                            r if is_string(r) => value = Some(self.string(x)),
                            _ => {}
                        }
                    }
                    let base = acc.take().unwrap_or(Target {
                        kind: TargetKind::All,
                        span,
                    });
                    let (Some(attr), Some(value)) = (attr, value) else {
                        acc = Some(base);
                        continue;
                    };
                    let s = base.span.to(end);
                    acc = Some(Target {
                        kind: TargetKind::Where {
                            base: Box::new(base),
                            attr,
                            equal,
                            value,
                        },
                        span: s,
                    });
                }
                _ => acc = Some(self.target_term(c)),
            }
        }
        acc.unwrap_or(Target {
            kind: TargetKind::All,
            span,
        })
    }

    fn target_term(&mut self, p: Pair<'_>) -> Target {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::kw_all => TargetKind::All,
            Rule::target_list => TargetKind::List(
                p.into_inner()
                    .filter(|c| c.as_rule() == Rule::target)
                    .map(|c| self.target(c))
                    .collect(),
            ),
            Rule::glob => match p.into_inner().next() {
                Some(s) => TargetKind::Glob(self.string(s)),
                None => TargetKind::All,
            },
            Rule::target => return self.target(p),
            Rule::target_name => match p.into_inner().next() {
                Some(h) => TargetKind::Name(self.ident(&h)),
                None => TargetKind::All,
            },
            _ => TargetKind::All,
        };
        Target { kind, span }
    }
}

pub(super) fn is_string(r: Rule) -> bool {
    matches!(
        r,
        Rule::plain_string | Rule::raw_string | Rule::triple_string
    )
}

pub(super) fn push_text(parts: &mut Vec<StrPart>, text: &str, span: Span, verbatim: bool) {
    if let Some(StrPart::Text {
        text: t,
        span: s,
        verbatim: v,
    }) = parts.last_mut()
    {
        if s.end == span.start {
            t.push_str(text);
            *s = s.to(span);
            *v = *v && verbatim;
            return;
        }
    }
    parts.push(StrPart::Text {
        text: text.to_owned(),
        span,
        verbatim,
    });
}

/// Dedents a triple-quoted string: interpolation sites are kept in place (marked by NUL while
/// the text is dedented).
pub(super) fn dedent_parts(parts: Vec<StrPart>, span: Span) -> Vec<StrPart> {
    let mut flat = String::new();
    let mut interps = Vec::new();
    for p in parts {
        match p {
            StrPart::Text { text, .. } => flat.push_str(&text.replace('\0', "")),
            i @ StrPart::Interp { .. } => {
                flat.push('\0');
                interps.push(i);
            }
        }
    }
    let flat = strings::dedent(&flat);
    let mut out = Vec::new();
    let mut interps = interps.into_iter();
    for (i, piece) in flat.split('\0').enumerate() {
        if i > 0 {
            if let Some(x) = interps.next() {
                out.push(x);
            }
        }
        if !piece.is_empty() {
            out.push(StrPart::Text {
                text: piece.to_owned(),
                span,
                verbatim: false,
            });
        }
    }
    out
}

/// Parses `1h30m`, `500ms`, `2d` (no sign, no spaces). `None` on overflow or bad text.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total: u64 = 0; // milliseconds
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: u64 = text.get(s..i)?.parse().ok()?;
        let unit: u64 = if text[i..].starts_with("ms") {
            i += 2;
            1
        } else {
            let u = match b.get(i)? {
                b's' => 1_000,
                b'm' => 60_000,
                b'h' => 3_600_000,
                b'd' => 86_400_000,
                _ => return None,
            };
            i += 1;
            u
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(Duration::from_millis(total))
}
