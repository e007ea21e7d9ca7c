//! Names inside commands and conditions: `${...}` interpolation sites become
//! [`ValueRef`]s, `when` conditions become typed [`Expr`] trees. Enforces that a task reads
//! only tasks guaranteed to have run before it on the same host, that secrets never reach a
//! command line, and that regexes compile.

use super::workflow::WfChecker;
use crate::ast::{self, CondKind, Operand, StrLit, StrPart, ValueKind};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::program::{
    CommandTemplate, Expr, ExprKind, Literal, TaskField, TaskId, TemplatePart, Type, ValueRef,
};
use crate::span::Span;

/// Where a command or condition is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// In a task, on each of its hosts.
    Task(TaskId),
    /// On a host, outside any task (verify captures).
    Host,
    /// On the controller (approve, notify).
    Controller,
}

impl WfChecker<'_> {
    /// A command with its interpolation sites resolved.
    pub fn command(&mut self, s: &StrLit, ctx: Ctx) -> CommandTemplate {
        let mut parts = Vec::new();
        for part in &s.parts {
            match part {
                StrPart::Text { text, .. } => match parts.last_mut() {
                    Some(TemplatePart::Text(t)) => t.push_str(text),
                    _ => parts.push(TemplatePart::Text(text.clone())),
                },
                StrPart::Interp { path, raw, span } => {
                    let Some(e) = self.path(path, ctx, false) else {
                        continue;
                    };
                    match e.kind {
                        ExprKind::Value(value) => parts.push(TemplatePart::Interp {
                            value,
                            raw: *raw,
                            span: *span,
                        }),
                        _ => self.diags.push(
                            Diagnostic::new(
                                Code::E0013,
                                path.span,
                                "`.int` is only for conditions",
                            )
                            .with_label("interpolation inserts text")
                            .with_help(format!("write `${{{}}}`", path.segments[0].name)),
                        ),
                    }
                }
            }
        }
        CommandTemplate { parts }
    }

    fn unknown_name(&mut self, n: &ast::Ident, ctx: Ctx) {
        let mut candidates: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
        if let Ctx::Task(_) = ctx {
            candidates.extend(self.captures.keys().map(String::as_str));
            candidates.extend(self.tasks.iter().map(|t| t.name.as_str()));
        }
        if ctx != Ctx::Controller {
            candidates.push("host");
        }
        let help = did_you_mean(&n.name, candidates.iter().copied());
        self.diags.push(
            Diagnostic::new(Code::E0009, n.span, format!("unknown name `{}`", n.name))
                .with_label("not a param, capture, task or `host`")
                .with_help_opt(help),
        );
    }

    /// Checks that `anc` has run before task `t` on every host of `t`.
    fn ancestor(&mut self, t: TaskId, anc: TaskId, at: Span) -> bool {
        if self.has_cycle {
            return true;
        }
        let tn = self.tasks[t.0 as usize].name.clone();
        let an = self.tasks[anc.0 as usize].name.clone();
        if t == anc {
            self.diags.push(
                Diagnostic::new(Code::E0022, at, format!("task `{tn}` reads its own result"))
                    .with_label("not known before the task runs"),
            );
            return false;
        }
        let g = self.guaranteed_before(t, anc);
        let missing = self.tasks[t.0 as usize].hosts.difference(&g);
        let Some(h) = missing.iter().next() else {
            return true;
        };
        let host = self.inv.host(h).name.clone();
        let on_host = self.tasks[anc.0 as usize].hosts.contains(h);
        let help = if on_host {
            format!("add `after {an}` to task `{tn}`")
        } else {
            format!("`{an}` does not run on `{host}`")
        };
        self.diags.push(
            Diagnostic::new(
                Code::E0022,
                at,
                format!("`{an}` may not have run before `{tn}` on `{host}`"),
            )
            .with_label(format!("`{an}` is not an ancestor of `{tn}` on this host"))
            .with_related(
                self.task_ast[anc.0 as usize].name.span,
                format!("`{an}` declared here"),
            )
            .with_help(help),
        );
        false
    }

    /// Resolves a dotted name to a typed value (`.int` applied when present).
    pub fn path(&mut self, path: &ast::Path, ctx: Ctx, in_cond: bool) -> Option<Expr> {
        let segs = &path.segments;
        let first = segs.first()?;
        let mut rest = &segs[1..];
        let expr = |kind: ValueRef, ty: Type, span: Span| Expr {
            kind: ExprKind::Value(kind),
            ty,
            span,
        };
        let base: Expr;
        if first.name == "host" {
            if ctx == Ctx::Controller {
                self.diags.push(
                    Diagnostic::new(Code::E0009, first.span, "`host` is not available here")
                        .with_label("this runs on the controller, not for a host"),
                );
                return None;
            }
            let Some(attr) = rest.first() else {
                self.diags.push(
                    Diagnostic::new(Code::E0009, path.span, "`host` needs an attribute")
                        .with_label("write `host.ATTR`")
                        .with_help("for example `host.address` or `host.name`"),
                );
                return None;
            };
            rest = &rest[1..];
            let r = if attr.name == "name" {
                ValueRef::HostName
            } else {
                ValueRef::HostAttr(attr.name.clone())
            };
            base = expr(r, Type::String, path.span);
        } else if let Some(p) = self.params.iter().find(|p| p.name == first.name) {
            base = expr(ValueRef::Param(p.name.clone()), p.ty, first.span);
        } else if self.secrets.iter().any(|s| s.name == first.name) {
            let msg = if in_cond {
                format!("secret `{}` cannot be read by a condition", first.name)
            } else {
                format!("secret `{}` would appear on a command line", first.name)
            };
            self.diags.push(
                Diagnostic::new(Code::E0030, path.span, msg)
                    .with_label("secrets never leave memory except through stdin")
                    .with_help(format!(
                        "pass it with `stdin = {}` and read it from standard input",
                        first.name
                    )),
            );
            return None;
        } else if let (Some((t, _)), Ctx::Task(me)) = (self.captures.get(&first.name).copied(), ctx)
        {
            self.captures_read.insert(t);
            if !self.ancestor(me, t, first.span) {
                return None;
            }
            base = expr(ValueRef::Capture(t), Type::String, first.span);
        } else if let (Some(&t), Ctx::Task(me)) = (self.task_ids.get(&first.name), ctx) {
            let Some(field) = rest.first() else {
                self.diags.push(
                    Diagnostic::new(Code::E0009, path.span, format!("`{}` is a task: name a field", first.name))
                        .with_label("a task is not a value")
                        .with_help(format!("write `{0}.ok`, `{0}.failed`, `{0}.skipped`, `{0}.exit`, `{0}.stdout` or `{0}.stderr`", first.name)),
                );
                return None;
            };
            let Some((_, f)) = TaskField::ALL.iter().find(|(n, _)| *n == field.name) else {
                let help = did_you_mean(&field.name, TaskField::ALL.iter().map(|(n, _)| *n));
                self.diags.push(
                    Diagnostic::new(
                        Code::E0009,
                        field.span,
                        format!("unknown task field `{}`", field.name),
                    )
                    .with_label("not a field of a task")
                    .with_help_opt(help.or_else(|| {
                        Some("fields: ok, failed, skipped, exit, stdout, stderr".into())
                    })),
                );
                return None;
            };
            rest = &rest[1..];
            if f.ty() == Type::String {
                self.captures_read.insert(t);
            }
            if !self.ancestor(me, t, path.span) {
                return None;
            }
            base = expr(ValueRef::TaskField(t, *f), f.ty(), path.span);
        } else {
            self.unknown_name(first, ctx);
            return None;
        }
        match rest {
            [] => Some(base),
            [f] if f.name == "int" && in_cond && base.ty == Type::String => Some(Expr {
                kind: ExprKind::ToInt(Box::new(base)),
                ty: Type::Int,
                span: path.span,
            }),
            [f, ..] => {
                let help = if f.name == "int" && base.ty != Type::String {
                    Some("`.int` reads a number from a string".to_owned())
                } else {
                    None
                };
                self.diags.push(
                    Diagnostic::new(Code::E0009, f.span, format!("unknown field `{}`", f.name))
                        .with_label("no such field")
                        .with_help_opt(help),
                );
                None
            }
        }
    }

    /// Compiles a regex literal; returns it and its number of capture groups.
    pub fn regex(&mut self, s: &StrLit) -> Option<(String, usize)> {
        let Some(text) = s.as_plain() else {
            self.diags.push(
                Diagnostic::new(Code::E0024, s.span, "a regex cannot interpolate")
                    .with_label("must be a constant")
                    .with_help("use a raw string r\"...\""),
            );
            return None;
        };
        if let Err(e) = regex_syntax::ast::parse::Parser::new().parse(&text) {
            let sp = e.span();
            let at = s.span_of(sp.start.offset..sp.end.offset.max(sp.start.offset + 1));
            self.diags.push(
                Diagnostic::new(Code::E0024, at, "invalid regex")
                    .with_label(e.kind().to_string())
                    .with_help(
                        "regexes use Rust `regex` syntax; write them as raw strings r\"...\"",
                    ),
            );
            return None;
        }
        match regex::Regex::new(&text) {
            Ok(r) => Some((text, r.captures_len() - 1)),
            Err(e) => {
                self.diags.push(
                    Diagnostic::new(Code::E0024, s.span, "invalid regex")
                        .with_label(e.to_string().lines().last().unwrap_or("").to_lowercase()),
                );
                None
            }
        }
    }

    fn operand(&mut self, o: &Operand, task: TaskId) -> Option<Expr> {
        match o {
            Operand::Path(p) => self.path(p, Ctx::Task(task), true),
            Operand::Literal(v) => {
                let (lit, ty) = match &v.kind {
                    ValueKind::Str(s) => match s.as_plain() {
                        Some(t) => (Literal::String(t), Type::String),
                        None => {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::E0023,
                                    s.span,
                                    "a string in a condition cannot interpolate",
                                )
                                .with_label("compare with the value itself")
                                .with_help("write `x == host.dc` instead of `x == \"${host.dc}\"`"),
                            );
                            return None;
                        }
                    },
                    ValueKind::Int(n) => (Literal::Int(i64::try_from(*n).ok()?), Type::Int),
                    ValueKind::Bool(b) => (Literal::Bool(*b), Type::Bool),
                    ValueKind::Duration(d) => (Literal::Duration(*d), Type::Duration),
                    ValueKind::Percent(n) => (
                        Literal::Percent(super::values::percent(*n, v, self.diags)?),
                        Type::Percent,
                    ),
                    _ => return None,
                };
                Some(Expr {
                    kind: ExprKind::Literal(lit),
                    ty,
                    span: v.span,
                })
            }
        }
    }

    fn want(&mut self, e: &Expr, ty: Type, what: &str) -> bool {
        if e.ty == ty {
            return true;
        }
        let help = (e.ty == Type::String && ty == Type::Int)
            .then(|| "read a number with `.int`, e.g. `disk_pct.int`".to_owned());
        self.diags.push(
            Diagnostic::new(
                Code::E0023,
                e.span,
                format!(
                    "{what} expects {}, found {}",
                    ty.with_article(),
                    e.ty.with_article()
                ),
            )
            .with_label(format!("this is {}", e.ty.with_article()))
            .with_help_opt(help),
        );
        false
    }

    /// Types a `when` condition of `task`.
    pub fn condition(&mut self, c: &ast::Cond, task: TaskId) -> Option<Expr> {
        let (kind, ty) = match &c.kind {
            CondKind::Or(a, b) | CondKind::And(a, b) => {
                let a = self.condition(a, task);
                let b = self.condition(b, task);
                let (a, b) = (a?, b?);
                let word = if matches!(c.kind, CondKind::Or(..)) {
                    "`or`"
                } else {
                    "`and`"
                };
                if !(self.want(&a, Type::Bool, word) & self.want(&b, Type::Bool, word)) {
                    return None;
                }
                let k = if matches!(c.kind, CondKind::Or(..)) {
                    ExprKind::Or(Box::new(a), Box::new(b))
                } else {
                    ExprKind::And(Box::new(a), Box::new(b))
                };
                (k, Type::Bool)
            }
            CondKind::Not(a) => {
                let a = self.condition(a, task)?;
                if !self.want(&a, Type::Bool, "`not`") {
                    return None;
                }
                (ExprKind::Not(Box::new(a)), Type::Bool)
            }
            CondKind::Compare { lhs, op, rhs } => {
                let l = self.operand(lhs, task);
                let r = self.operand(rhs, task);
                let (l, r) = (l?, r?);
                if l.ty != r.ty {
                    let help = ((l.ty == Type::String && r.ty == Type::Int) || (l.ty == Type::Int && r.ty == Type::String))
                        .then(|| "captures and stdout are strings: read a number with `.int`, e.g. `disk_pct.int > 90`".to_owned());
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0023,
                            c.span,
                            format!(
                                "cannot compare {} with {}",
                                l.ty.with_article(),
                                r.ty.with_article()
                            ),
                        )
                        .with_label(format!("{} here", l.ty.with_article()))
                        .with_related(r.span, format!("{} here", r.ty.with_article()))
                        .with_help_opt(help),
                    );
                    return None;
                }
                let ordering = !matches!(op, ast::CmpOp::Eq | ast::CmpOp::Ne);
                if ordering && matches!(l.ty, Type::String | Type::Bool) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0023,
                            c.span,
                            format!("`{}` does not order {}", op.as_str(), l.ty.with_article()),
                        )
                        .with_label("only numbers, durations and percentages are ordered")
                        .with_help_opt(
                            (l.ty == Type::String).then(|| "read a number with `.int`".to_owned()),
                        ),
                    );
                    return None;
                }
                (ExprKind::Compare(*op, Box::new(l), Box::new(r)), Type::Bool)
            }
            CondKind::Match { lhs, regex } => {
                let l = self.operand(lhs, task);
                let re = self.regex(regex);
                let (l, (re, _)) = (l?, re?);
                if !self.want(&l, Type::String, "`=~`") {
                    return None;
                }
                (ExprKind::Match(Box::new(l), re), Type::Bool)
            }
            CondKind::Contains { lhs, rhs } => {
                let l = self.operand(lhs, task);
                let r = self.operand(rhs, task);
                let (l, r) = (l?, r?);
                if !(self.want(&l, Type::String, "`contains`")
                    & self.want(&r, Type::String, "`contains`"))
                {
                    return None;
                }
                (ExprKind::Contains(Box::new(l), Box::new(r)), Type::Bool)
            }
            CondKind::Operand(o) => {
                let e = self.operand(o, task)?;
                if e.ty != Type::Bool {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0023,
                            e.span,
                            format!("a condition must be a bool, found {}", e.ty.with_article()),
                        )
                        .with_label("not true or false")
                        .with_help(
                            "compare it, e.g. `x == \"value\"`, or use a task field such as `t.ok`",
                        ),
                    );
                    return None;
                }
                return Some(e);
            }
        };
        Some(Expr {
            kind,
            ty,
            span: c.span,
        })
    }
}
