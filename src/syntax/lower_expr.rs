//! Lowering of conditions, dotted paths and string literals (escapes, interpolation sites,
//! triple-quoted dedent): pest pairs → [`crate::ast`] nodes, continuing [`super::lower`].

use super::lower::{dedent_parts, is_string, push_text, Lower};
use super::{strings, Pair, Rule};
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

impl Lower<'_> {
    pub fn cond(&mut self, p: Pair<'_>) -> Cond {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::cond | Rule::cond_and => {
                let is_or = p.as_rule() == Rule::cond;
                let mut acc: Option<Cond> = None;
                for c in p.into_inner() {
                    if matches!(c.as_rule(), Rule::kw_or | Rule::kw_and) {
                        continue;
                    }
                    let rhs = self.cond(c);
                    acc = Some(match acc {
                        None => rhs,
                        Some(lhs) => {
                            let s = lhs.span.to(rhs.span);
                            let kind = if is_or {
                                CondKind::Or(Box::new(lhs), Box::new(rhs))
                            } else {
                                CondKind::And(Box::new(lhs), Box::new(rhs))
                            };
                            Cond { kind, span: s }
                        }
                    });
                }
                acc.unwrap_or(Cond {
                    kind: CondKind::Operand(Operand::Literal(Value {
                        kind: ValueKind::Bool(true),
                        span,
                    })),
                    span,
                })
            }
            Rule::cond_not => {
                let mut it = p.into_inner();
                match it.next() {
                    Some(k) if k.as_rule() == Rule::kw_not => {
                        let inner = it.next().map(|c| self.cond(c));
                        match inner {
                            Some(c) => Cond {
                                kind: CondKind::Not(Box::new(c)),
                                span,
                            },
                            None => self.true_cond(span),
                        }
                    }
                    Some(c) => self.cond(c),
                    None => self.true_cond(span),
                }
            }
            Rule::cond_match => {
                let mut lhs = None;
                let mut regex = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::operand => lhs = Some(self.operand(c)),
                        r if is_string(r) => regex = Some(self.string(c)),
                        _ => {}
                    }
                }
                match (lhs, regex) {
                    (Some(lhs), Some(regex)) => Cond {
                        kind: CondKind::Match { lhs, regex },
                        span,
                    },
                    _ => self.true_cond(span),
                }
            }
            Rule::cond_contains | Rule::cond_cmp => {
                let is_contains = p.as_rule() == Rule::cond_contains;
                let mut ops = Vec::new();
                let mut op = CmpOp::Eq;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::operand => ops.push(self.operand(c)),
                        Rule::cmp_op => {
                            op = match c.as_str() {
                                "!=" => CmpOp::Ne,
                                "<" => CmpOp::Lt,
                                "<=" => CmpOp::Le,
                                ">" => CmpOp::Gt,
                                ">=" => CmpOp::Ge,
                                _ => CmpOp::Eq,
                            }
                        }
                        _ => {}
                    }
                }
                let mut it = ops.into_iter();
                match (it.next(), it.next()) {
                    (Some(lhs), Some(rhs)) if is_contains => Cond {
                        kind: CondKind::Contains { lhs, rhs },
                        span,
                    },
                    (Some(lhs), Some(rhs)) => Cond {
                        kind: CondKind::Compare { lhs, op, rhs },
                        span,
                    },
                    _ => self.true_cond(span),
                }
            }
            Rule::operand => Cond {
                kind: CondKind::Operand(self.operand(p)),
                span,
            },
            _ => self.true_cond(span),
        }
    }

    fn true_cond(&self, span: Span) -> Cond {
        Cond {
            kind: CondKind::Operand(Operand::Literal(Value {
                kind: ValueKind::Bool(true),
                span,
            })),
            span,
        }
    }

    fn operand(&mut self, p: Pair<'_>) -> Operand {
        let span = self.span(&p);
        let Some(inner) = p.into_inner().next() else {
            return Operand::Literal(Value {
                kind: ValueKind::Bool(true),
                span,
            });
        };
        if inner.as_rule() == Rule::path {
            Operand::Path(self.path(inner))
        } else {
            Operand::Literal(self.value(inner))
        }
    }

    fn path(&mut self, p: Pair<'_>) -> Path {
        let span = self.span(&p);
        Path {
            segments: p
                .into_inner()
                .filter(|c| c.as_rule() == Rule::ident)
                .map(|c| self.ident(&c))
                .collect(),
            span,
        }
    }

    pub fn string(&mut self, p: Pair<'_>) -> StrLit {
        let span = self.span(&p);
        let form = match p.as_rule() {
            Rule::raw_string => StrForm::Raw,
            Rule::triple_string => StrForm::Triple,
            _ => StrForm::Plain,
        };
        let mut parts: Vec<StrPart> = Vec::new();
        for c in p.into_inner() {
            let cspan = self.span(&c);
            match c.as_rule() {
                Rule::plain_text | Rule::triple_text | Rule::raw_text => {
                    push_text(&mut parts, c.as_str(), cspan, true);
                }
                Rule::escape => {
                    let ch = c.as_str().chars().nth(1).unwrap_or('\\');
                    match strings::unescape(ch) {
                        Some(d) => push_text(&mut parts, &d.to_string(), cspan, false),
                        None => {
                            self.diags.push(
                                Diagnostic::new(Code::E0005, cspan, format!("unknown escape `{}`", c.as_str()))
                                    .with_label("not an escape")
                                    .with_help("known escapes: \\\" \\\\ \\n \\t \\$; for regular expressions use a raw string r\"...\""),
                            );
                            push_text(&mut parts, c.as_str(), cspan, false);
                        }
                    }
                }
                Rule::interp => {
                    let mut raw = false;
                    let mut path = None;
                    let mut bad = None;
                    for x in c.into_inner() {
                        match x.as_rule() {
                            Rule::interp_body => {
                                for y in x.into_inner() {
                                    match y.as_rule() {
                                        Rule::kw_raw => raw = true,
                                        Rule::path => path = Some(self.path(y)),
                                        _ => {}
                                    }
                                }
                            }
                            Rule::bad_interp => bad = Some(x.as_str().to_owned()),
                            _ => {}
                        }
                    }
                    match path {
                        Some(path) => parts.push(StrPart::Interp {
                            path,
                            raw,
                            span: cspan,
                        }),
                        None => {
                            let text = bad.unwrap_or_default();
                            self.diags.push(
                                Diagnostic::new(Code::E0005, cspan, format!("invalid interpolation `${{{}`", text))
                                    .with_label("expected a name such as `param`, `host.address` or `task.stdout`")
                                    .with_help("write `\\${` for a literal `${`"),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        if form == StrForm::Triple {
            parts = dedent_parts(parts, span);
        }
        StrLit { form, parts, span }
    }
}
