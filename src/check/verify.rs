//! Checking `verify` blocks: before/after points and their order on every host, captures,
//! expectations (regexes with a capture group, change kinds), `on_mismatch`, `across`.
//! Input: the blocks' AST and the checked tasks; output: [`crate::program::Verify`] values.

use super::expr::Ctx;
use super::workflow::WfChecker;
use super::{credentials, values as v};
use crate::ast;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::program::{self as p, CapturePoint, HostSet, TaskId};
use crate::span::Span;
use std::collections::{BTreeMap, HashMap};

impl WfChecker<'_> {
    pub fn verifies(&mut self, blocks: &[&ast::Verify]) -> Vec<p::Verify> {
        let mut out = Vec::new();
        let mut names: HashMap<&str, Span> = HashMap::new();
        let targeted = self
            .tasks
            .iter()
            .fold(HostSet::new(), |acc, t| acc.union(&t.hosts));
        for b in blocks {
            if let Some(first) = names.get(b.name.name.as_str()) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0010,
                        b.name.span,
                        format!("verify `{}` is declared twice", b.name.name),
                    )
                    .with_label("declared again here")
                    .with_related(*first, "first declared here"),
                );
                continue;
            }
            names.insert(&b.name.name, b.name.span);
            b.attrs
                .iter()
                .for_each(|a| credentials::check_attr(a, Some(self.diags)));
            let attrs = v::by_key(
                &b.attrs,
                &["before", "after", "on_mismatch", "across"],
                "verify",
                self.diags,
            );
            let point = |c: &mut Self, k: &str| {
                attrs
                    .get(k)
                    .and_then(|a| v::name(&a.value, c.diags))
                    .and_then(|n| c.task_ref(n))
            };
            let before = point(self, "before");
            let after = point(self, "after");
            if let (Some(bt), Some(at)) = (before, after) {
                self.order(bt, at, &attrs);
            }
            let hosts = match (before, after) {
                (None, None) => targeted.clone(),
                _ => [before, after]
                    .iter()
                    .flatten()
                    .fold(HostSet::new(), |acc, t| {
                        acc.union(&self.tasks[t.0 as usize].hosts)
                    }),
            };
            let mut captures: Vec<p::VerifyCapture> = Vec::new();
            let mut cap_spans: HashMap<&str, Span> = HashMap::new();
            for c in &b.captures {
                credentials::check_str(&c.command, self.diags);
                if let Some(first) = cap_spans.get(c.name.name.as_str()) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0010,
                            c.name.span,
                            format!("capture `{}` is declared twice", c.name.name),
                        )
                        .with_label("declared again here")
                        .with_related(*first, "first declared here"),
                    );
                    continue;
                }
                cap_spans.insert(&c.name.name, c.name.span);
                let command = self.command(&c.command, Ctx::Host);
                captures.push(p::VerifyCapture {
                    name: c.name.name.clone(),
                    command,
                    span: c.span,
                });
            }
            let mut expects = Vec::new();
            for e in &b.expects {
                let Some(idx) = captures.iter().position(|c| c.name == e.name.name) else {
                    let help = did_you_mean(&e.name.name, captures.iter().map(|c| c.name.as_str()));
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0009,
                            e.name.span,
                            format!("unknown capture `{}`", e.name.name),
                        )
                        .with_label("no capture of this name in this verify block")
                        .with_help_opt(help.or_else(|| {
                            Some(format!(
                                "declare it with `capture {} = \"command\"`",
                                e.name.name
                            ))
                        })),
                    );
                    continue;
                };
                let ea = v::by_key(
                    &e.attrs,
                    &[
                        "match", "change", "equals", "contains", "matches", "versions",
                    ],
                    "expect",
                    self.diags,
                );
                let mut matcher = None;
                if let Some(a) = ea.get("match") {
                    if let Some(s) = v::string(&a.value, self.diags) {
                        if let Some((re, groups)) = self.regex(s) {
                            if groups == 0 {
                                self.diags.push(
                                    Diagnostic::new(Code::E0025, s.span, "the regex has no capture group")
                                        .with_label("group 1 of this regex is compared")
                                        .with_help("put the compared part in parentheses, e.g. r\"openssl\\s+(\\S+)\""),
                                );
                            } else {
                                matcher = Some(re);
                            }
                        }
                    }
                }
                let text = |key: &str, diags: &mut Vec<Diagnostic>| {
                    ea.get(key).and_then(|a| {
                        v::string(&a.value, diags).and_then(|s| {
                            let plain = s.as_plain();
                            if plain.is_none() {
                                diags.push(
                                    Diagnostic::new(
                                        Code::E0024,
                                        s.span,
                                        format!("`{key}` cannot interpolate"),
                                    )
                                    .with_label("must be a constant")
                                    .with_help("expected values are compared as written"),
                                );
                            }
                            plain
                        })
                    })
                };
                let equals = text("equals", self.diags);
                let contains = text("contains", self.diags);
                let matches = ea
                    .get("matches")
                    .and_then(|a| v::string(&a.value, self.diags))
                    .and_then(|s| self.regex(s))
                    .map(|(re, _)| re);
                let versions = ea.get("versions").and_then(|a| {
                    const OPTS: [(&str, &str); 4] = [
                        ("deb", "deb"),
                        ("rpm", "rpm"),
                        ("semver", "semver"),
                        ("numeric", "numeric"),
                    ];
                    v::choice(&a.value, &OPTS, self.diags).map(str::to_owned)
                });
                let checks_value = equals.is_some() || contains.is_some() || matches.is_some();
                let change = match ea.get("change") {
                    Some(a) => {
                        v::choice(&a.value, &p::Change::ALL, self.diags).unwrap_or(p::Change::Any)
                    }
                    // A check of the after value alone needs no change kind.
                    None if checks_value => p::Change::Any,
                    None => {
                        self.diags.push(
                            Diagnostic::new(Code::E0014, e.name.span, format!("`expect {}` needs `change`", e.name.name))
                                .with_label("no `change` in this block")
                                .with_help("add `change = \"unchanged\"` (or changed, any, version_increase, ...)"),
                        );
                        p::Change::Any
                    }
                };
                expects.push(p::VerifyExpect {
                    capture: idx,
                    matcher,
                    change,
                    equals,
                    contains,
                    matches,
                    versions,
                    span: e.span,
                });
            }
            let on_mismatch = attrs
                .get("on_mismatch")
                .and_then(|a| {
                    const OPTS: [(&str, p::OnMismatch); 3] = [
                        ("fail", p::OnMismatch::Fail),
                        ("warn", p::OnMismatch::Warn),
                        ("rollback", p::OnMismatch::Rollback),
                    ];
                    v::choice(&a.value, &OPTS, self.diags)
                })
                .unwrap_or_default();
            let across = attrs
                .get("across")
                .and_then(|a| v::target(&a.value, self.diags))
                .map(|t| self.resolve(&t));
            out.push(p::Verify {
                name: b.name.name.clone(),
                before: before.map_or(CapturePoint::Start, CapturePoint::Before),
                after: after.map_or(CapturePoint::End, CapturePoint::After),
                captures,
                expects,
                on_mismatch,
                across,
                hosts,
                span: b.span,
            });
        }
        out
    }

    /// E0026: `before` must run before `after` on every host both target.
    fn order(&mut self, before: TaskId, after: TaskId, attrs: &BTreeMap<&str, &ast::Attr>) {
        if before == after || self.has_cycle {
            return;
        }
        let both = self.tasks[before.0 as usize]
            .hosts
            .intersection(&self.tasks[after.0 as usize].hosts);
        let g = self.guaranteed_before(after, before);
        // One task at a time per host: the written order also decides (see `host_order`).
        let mut orders: HashMap<Vec<TaskId>, bool> = HashMap::new();
        let bad = both.difference(&g).iter().find(|&h| {
            if self.per_host != 1 {
                return true;
            }
            let sig: Vec<TaskId> = self
                .tasks
                .iter()
                .filter(|t| t.hosts.contains(h))
                .map(|t| t.id)
                .collect();
            let ok = *orders.entry(sig).or_insert_with(|| {
                let order = p::host_order(&self.tasks, h);
                let pos = |t: TaskId| order.iter().position(|x| *x == t);
                matches!((pos(before), pos(after)), (Some(b), Some(a)) if b < a)
            });
            !ok
        });
        let Some(h) = bad else { return };
        let (bn, an) = (
            self.tasks[before.0 as usize].name.clone(),
            self.tasks[after.0 as usize].name.clone(),
        );
        let (Some(ba), Some(aa)) = (attrs.get("before"), attrs.get("after")) else {
            return;
        };
        self.diags.push(
            Diagnostic::new(
                Code::E0026,
                aa.value.span,
                format!(
                    "`{an}` may run before `{bn}` on `{}`",
                    self.inv.host(h).name
                ),
            )
            .with_label(format!("`{an}` does not come after `{bn}`"))
            .with_related(ba.value.span, "captured before this task")
            .with_help(format!(
                "add `after {bn}` (directly or through other tasks) to task `{an}`"
            )),
        );
    }
}
