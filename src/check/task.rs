//! Checking a task's body: `use` of a template (arguments, substitution), the typed
//! attributes, commands and the `when` condition. Input: the task's AST; output: the fields
//! of its [`crate::program::Task`].

use super::expr::Ctx;
use super::workflow::{WfChecker, TASK_ATTRS};
use super::{credentials, values as v};
use crate::ast::{self, Attr, StrLit, StrPart, Value, ValueKind};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::program::{TaskId, Type};
use std::collections::HashMap;
use std::time::Duration;

impl WfChecker<'_> {
    pub fn task_body(&mut self, id: TaskId) {
        let t = self.task_ast[id.0 as usize];
        for a in &t.attrs {
            credentials::check_attr(a, Some(self.diags));
        }
        let own = v::by_key(&t.attrs, TASK_ATTRS, "task", self.diags);
        let mut merged: Vec<Attr> = Vec::new();
        if let Some(u) = own.get("use") {
            if let Some((name, attrs)) = self.expand(u) {
                self.tasks[id.0 as usize].template = Some(name);
                merged = attrs
                    .into_iter()
                    .filter(|a| !own.contains_key(a.key.name.as_str()))
                    .collect();
            }
            if let Some(r) = own.get("run") {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0015,
                        r.key.span,
                        "a task has `run` or `use`, not both",
                    )
                    .with_label("`run` given here")
                    .with_related(u.key.span, "`use` given here"),
                );
            }
        }
        merged.extend(
            own.values()
                .filter(|a| a.key.name != "use")
                .map(|a| (*a).clone()),
        );
        let attrs: HashMap<&str, &Attr> = merged.iter().map(|a| (a.key.name.as_str(), a)).collect();
        let ctx = Ctx::Task(id);
        match attrs.get("run") {
            Some(a) => {
                if let Some(s) = v::string(&a.value, self.diags) {
                    let c = self.command(s, ctx);
                    self.tasks[id.0 as usize].run = c;
                }
            }
            None if !own.contains_key("use") => self.diags.push(
                Diagnostic::new(
                    Code::E0014,
                    t.name.span,
                    format!("task `{}` has no `run`", t.name.name),
                )
                .with_label("nothing to run")
                .with_help("add `run = \"command\"` or `use = TEMPLATE(...)`"),
            ),
            None => {}
        }
        if let Some(a) = attrs.get("rollback") {
            if let Some(s) = v::string(&a.value, self.diags) {
                let c = self.command(s, ctx);
                self.tasks[id.0 as usize].rollback = Some(c);
            }
        }
        let dur = |c: &mut Self, k: &str| attrs.get(k).and_then(|a| v::duration(&a.value, c.diags));
        if let Some(d) = dur(self, "timeout") {
            if d == Duration::ZERO {
                self.diags.push(
                    Diagnostic::new(Code::E0015, attrs["timeout"].value.span, "a zero timeout")
                        .with_label("the command could never run"),
                );
            }
            self.tasks[id.0 as usize].timeout = d;
        }
        if let Some(d) = dur(self, "estimate") {
            self.tasks[id.0 as usize].estimate = d;
        }
        if let Some(d) = dur(self, "retry_delay") {
            self.tasks[id.0 as usize].retry_delay = d;
        }
        if let Some(n) = attrs
            .get("retry")
            .and_then(|a| v::int(&a.value, self.diags))
        {
            self.tasks[id.0 as usize].retry = n;
        }
        let flag = |c: &mut Self, k: &str| attrs.get(k).and_then(|a| v::boolean(&a.value, c.diags));
        if let Some(b) = flag(self, "sudo") {
            self.tasks[id.0 as usize].sudo = b;
        }
        if let Some(b) = flag(self, "allow_failure") {
            self.tasks[id.0 as usize].allow_failure = b;
        }
        if let Some(b) = flag(self, "local") {
            self.tasks[id.0 as usize].local = b;
        }
        if let Some(a) = attrs.get("capture") {
            if let Some(n) = v::name(&a.value, self.diags) {
                self.tasks[id.0 as usize].capture = Some(n.name.clone());
            }
        }
        if let Some(a) = attrs.get("env") {
            match &a.value.kind {
                ValueKind::Map(entries) => {
                    for e in entries {
                        if let Some(s) = v::string(&e.value, self.diags) {
                            let c = self.command(s, ctx);
                            self.tasks[id.0 as usize].env.insert(e.key.name.clone(), c);
                        }
                    }
                }
                _ => v::type_error(
                    self.diags,
                    &a.value,
                    "a map",
                    Some("write `env = { NAME = \"value\" }`".into()),
                ),
            }
        }
        if let Some(a) = attrs.get("stdin") {
            if let Some(n) = v::name(&a.value, self.diags) {
                if self.secrets.iter().any(|s| s.name == n.name) {
                    self.tasks[id.0 as usize].stdin = Some(n.name.clone());
                } else {
                    let names: Vec<&str> = self.secrets.iter().map(|s| s.name.as_str()).collect();
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0009,
                            n.span,
                            format!("unknown secret `{}`", n.name),
                        )
                        .with_label("no secret of this name")
                        .with_help_opt(
                            did_you_mean(&n.name, names).or_else(|| {
                                Some("declare it with `secret NAME = prompt(\"...\")`".into())
                            }),
                        ),
                    );
                }
            }
        }
        if let Some(c) = &t.when {
            let e = self.condition(c, id);
            self.tasks[id.0 as usize].when = e;
        }
    }

    /// Expands `use = NAME(args)`: the template's attributes with its parameters replaced.
    fn expand(&mut self, u: &Attr) -> Option<(String, Vec<Attr>)> {
        let (name, args): (&ast::Ident, &[Value]) = match &u.value.kind {
            ValueKind::Call { name, args } => (name, args.as_slice()),
            ValueKind::Name(n) => (n, &[]),
            _ => {
                v::type_error(
                    self.diags,
                    &u.value,
                    "a template use",
                    Some("write `use = TEMPLATE(args)`".into()),
                );
                return None;
            }
        };
        let Some(tpl) = self.templates.get(name.name.as_str()).copied() else {
            let names: Vec<&str> = self.templates.keys().copied().collect();
            self.diags.push(
                Diagnostic::new(
                    Code::E0009,
                    name.span,
                    format!("unknown template `{}`", name.name),
                )
                .with_label("no template of this name")
                .with_help_opt(did_you_mean(&name.name, names).or_else(|| {
                    Some("declare it with `template NAME(...) { ... }` or import it".into())
                })),
            );
            return None;
        };
        if args.len() > tpl.params.len() {
            self.diags.push(
                Diagnostic::new(
                    Code::E0029,
                    args[tpl.params.len()].span,
                    format!(
                        "`{}` takes {} argument(s), {} given",
                        name.name,
                        tpl.params.len(),
                        args.len()
                    ),
                )
                .with_label("extra argument")
                .with_related(tpl.name.span, "template declared here"),
            );
            return None;
        }
        let mut bound: HashMap<&str, Value> = HashMap::new();
        let mut ok = true;
        for (i, prm) in tpl.params.iter().enumerate() {
            let val = match args.get(i).or(prm.default.as_ref()) {
                Some(v) => v.clone(),
                None => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0029,
                            u.value.span,
                            format!("missing argument `{}` of `{}`", prm.name.name, name.name),
                        )
                        .with_label(format!("`{}` has no default", prm.name.name))
                        .with_related(prm.span, "parameter declared here"),
                    );
                    ok = false;
                    continue;
                }
            };
            let want = match prm.ty.name.as_str() {
                "string" => Some(Type::String),
                "int" => Some(Type::Int),
                "bool" => Some(Type::Bool),
                "duration" => Some(Type::Duration),
                "percent" => Some(Type::Percent),
                _ => None,
            };
            let fits = matches!(
                (&val.kind, want),
                (ValueKind::Str(_), Some(Type::String))
                    | (ValueKind::Int(_), Some(Type::Int))
                    | (ValueKind::Bool(_), Some(Type::Bool))
                    | (ValueKind::Duration(_), Some(Type::Duration))
                    | (ValueKind::Percent(_), Some(Type::Percent))
            );
            if !fits {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0029,
                        val.span,
                        format!(
                            "argument `{}` of `{}` expects a {}",
                            prm.name.name, name.name, prm.ty.name
                        ),
                    )
                    .with_label(format!("this is {}", v::describe_value(&val)))
                    .with_related(prm.span, "parameter declared here"),
                );
                ok = false;
            }
            bound.insert(&prm.name.name, val);
        }
        if !ok {
            return None;
        }
        let attrs = tpl
            .attrs
            .iter()
            .map(|a| substitute_attr(a, &bound, u.value.span))
            .collect();
        Some((name.name.clone(), attrs))
    }
}

fn substitute_attr(a: &Attr, bound: &HashMap<&str, Value>, at: crate::span::Span) -> Attr {
    let value = match &a.value.kind {
        ValueKind::Name(n) if bound.contains_key(n.name.as_str()) => bound[n.name.as_str()].clone(),
        ValueKind::Str(s) => Value {
            kind: ValueKind::Str(substitute_str(s, bound, at)),
            span: a.value.span,
        },
        ValueKind::Map(entries) => Value {
            kind: ValueKind::Map(
                entries
                    .iter()
                    .map(|e| substitute_attr(e, bound, at))
                    .collect(),
            ),
            span: a.value.span,
        },
        _ => a.value.clone(),
    };
    Attr {
        key: a.key.clone(),
        value,
        span: a.span,
    }
}

/// Replaces `${param}` sites of a template string by the argument: its text (shell-quoted
/// unless `${raw param}`), or its own parts when the argument interpolates.
fn substitute_str(s: &StrLit, bound: &HashMap<&str, Value>, at: crate::span::Span) -> StrLit {
    let mut parts = Vec::new();
    for part in &s.parts {
        match part {
            StrPart::Interp { path, raw, .. }
                if path.segments.len() == 1
                    && bound.contains_key(path.segments[0].name.as_str()) =>
            {
                let val = &bound[path.segments[0].name.as_str()];
                let text = match &val.kind {
                    ValueKind::Str(a) => match a.as_plain() {
                        Some(t) => t,
                        None => {
                            parts.extend(a.parts.iter().cloned());
                            continue;
                        }
                    },
                    ValueKind::Int(n) | ValueKind::Percent(n) => n.to_string(),
                    ValueKind::Bool(b) => b.to_string(),
                    ValueKind::Duration(d) => d.as_secs().to_string(),
                    _ => String::new(),
                };
                let text = if *raw { text } else { shell_quote(&text) };
                parts.push(StrPart::Text {
                    text,
                    span: at,
                    verbatim: false,
                });
            }
            other => parts.push(other.clone()),
        }
    }
    StrLit {
        form: s.form,
        parts,
        span: s.span,
    }
}

/// Quotes `s` for a POSIX shell (left bare when it only holds safe characters).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}
