//! Typed reading of attribute values: each reader takes an [`ast::Value`], returns the typed
//! value or `None` after reporting a wrong type (E0013) or a value out of range (E0015).
//! Also the block schema check: unknown (E0012) and repeated (E0010) attributes.

use crate::ast::{self, Attr, Ident, StrLit, Value, ValueKind};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::program::HostCount;
use std::collections::BTreeMap;
use std::time::Duration;

/// "a string", "an int"... for messages.
pub fn describe_value(v: &Value) -> &'static str {
    match &v.kind {
        ValueKind::Str(_) => "a string",
        ValueKind::Int(_) => "a number",
        ValueKind::Percent(_) => "a percentage",
        ValueKind::Duration(_) => "a duration",
        ValueKind::Bool(_) => "a bool",
        ValueKind::List(_) => "a list",
        ValueKind::Map(_) => "a map",
        ValueKind::Name(_) => "a name",
        ValueKind::Call { .. } => "a call",
        ValueKind::Target(_) => "a target expression",
    }
}

/// Reports that `v` is not of the `expected` type.
pub fn type_error(diags: &mut Vec<Diagnostic>, v: &Value, expected: &str, help: Option<String>) {
    diags.push(
        Diagnostic::new(
            Code::E0013,
            v.span,
            format!("expected {expected}, found {}", describe_value(v)),
        )
        .with_label(format!("expected {expected}"))
        .with_help_opt(help),
    );
}

/// Checks attribute names against `known` and returns them by name (first wins).
pub fn by_key<'a>(
    attrs: &'a [Attr],
    known: &[&str],
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<&'a str, &'a Attr> {
    let mut out: BTreeMap<&str, &Attr> = BTreeMap::new();
    for a in attrs {
        let k = a.key.name.as_str();
        if !known.contains(&k) {
            let help = did_you_mean(k, known.iter().copied()).or_else(|| {
                Some(format!(
                    "{what} attributes are {}",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            });
            diags.push(
                Diagnostic::new(
                    Code::E0012,
                    a.key.span,
                    format!("unknown attribute `{k}` in {what}"),
                )
                .with_label("not an attribute here")
                .with_help_opt(help),
            );
            continue;
        }
        if let Some(first) = out.get(k) {
            diags.push(
                Diagnostic::new(
                    Code::E0010,
                    a.key.span,
                    format!("attribute `{k}` is set twice"),
                )
                .with_label("set again here")
                .with_related(first.key.span, "first set here"),
            );
            continue;
        }
        out.insert(k, a);
    }
    out
}

/// A duration; an int gets a "add a unit" help.
pub fn duration(v: &Value, diags: &mut Vec<Diagnostic>) -> Option<Duration> {
    match &v.kind {
        ValueKind::Duration(d) => Some(*d),
        ValueKind::Int(n) => {
            type_error(
                diags,
                v,
                "a duration",
                Some(format!("add a unit: `{n}s`, `{n}m` or `{n}h`")),
            );
            None
        }
        _ => {
            type_error(
                diags,
                v,
                "a duration",
                Some("durations are written `30s`, `5m`, `1h30m`".into()),
            );
            None
        }
    }
}

/// A non-negative integer that fits in `u32`.
pub fn int(v: &Value, diags: &mut Vec<Diagnostic>) -> Option<u32> {
    match &v.kind {
        ValueKind::Int(n) => match u32::try_from(*n) {
            Ok(n) => Some(n),
            Err(_) => {
                diags.push(
                    Diagnostic::new(Code::E0006, v.span, "number too large")
                        .with_label("at most 4294967295"),
                );
                None
            }
        },
        _ => {
            type_error(diags, v, "a number", None);
            None
        }
    }
}

/// A positive integer.
pub fn positive(v: &Value, diags: &mut Vec<Diagnostic>) -> Option<u32> {
    let n = int(v, diags)?;
    if n == 0 {
        diags.push(
            Diagnostic::new(Code::E0015, v.span, "must be at least 1")
                .with_label("0 is not allowed here"),
        );
        return None;
    }
    Some(n)
}

/// `true` / `false`.
pub fn boolean(v: &Value, diags: &mut Vec<Diagnostic>) -> Option<bool> {
    match &v.kind {
        ValueKind::Bool(b) => Some(*b),
        ValueKind::Str(s) if matches!(s.as_plain().as_deref(), Some("true" | "false")) => {
            type_error(
                diags,
                v,
                "a bool",
                Some("write `true` or `false` without quotes".into()),
            );
            None
        }
        _ => {
            type_error(diags, v, "a bool", None);
            None
        }
    }
}

/// A string literal (any form).
pub fn string<'a>(v: &'a Value, diags: &mut Vec<Diagnostic>) -> Option<&'a StrLit> {
    match &v.kind {
        ValueKind::Str(s) => Some(s),
        ValueKind::Name(n) => {
            type_error(
                diags,
                v,
                "a string",
                Some(format!("quote it: \"{}\"", n.name)),
            );
            None
        }
        _ => {
            type_error(diags, v, "a string", None);
            None
        }
    }
}

/// A string without interpolation.
pub fn plain(v: &Value, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let s = string(v, diags)?;
    match s.as_plain() {
        Some(t) => Some(t),
        None => {
            diags.push(
                Diagnostic::new(Code::E0005, s.span, "interpolation is not allowed here")
                    .with_label("this string must be a constant")
                    .with_help("write `\\${` for a literal `${`"),
            );
            None
        }
    }
}

/// A percentage 0–100.
pub fn percent(n: u64, v: &Value, diags: &mut Vec<Diagnostic>) -> Option<u8> {
    match u8::try_from(n) {
        Ok(p) if p <= 100 => Some(p),
        _ => {
            diags.push(
                Diagnostic::new(Code::E0015, v.span, "percentage above 100%")
                    .with_label("at most 100%"),
            );
            None
        }
    }
}

/// A host count: `5` or `10%`.
pub fn host_count(v: &Value, diags: &mut Vec<Diagnostic>) -> Option<HostCount> {
    match &v.kind {
        ValueKind::Int(_) => int(v, diags).map(HostCount::Count),
        ValueKind::Percent(p) => percent(*p, v, diags).map(HostCount::Percent),
        _ => {
            type_error(diags, v, "a number or a percentage", None);
            None
        }
    }
}

/// A bare name.
pub fn name<'a>(v: &'a Value, diags: &mut Vec<Diagnostic>) -> Option<&'a Ident> {
    match &v.kind {
        ValueKind::Name(n) => Some(n),
        ValueKind::Str(s) => {
            let help = s.as_plain().map(|t| format!("remove the quotes: {t}"));
            type_error(diags, v, "a name", help);
            None
        }
        _ => {
            type_error(diags, v, "a name", None);
            None
        }
    }
}

/// A list of names (a single name counts as a list of one).
pub fn names<'a>(v: &'a Value, diags: &mut Vec<Diagnostic>) -> Vec<&'a Ident> {
    match &v.kind {
        ValueKind::List(items) => items.iter().filter_map(|i| name(i, diags)).collect(),
        _ => name(v, diags).into_iter().collect(),
    }
}

/// A value read as a target expression: a name, a glob string, a list, or a target.
pub fn target(v: &Value, diags: &mut Vec<Diagnostic>) -> Option<ast::Target> {
    let kind = match &v.kind {
        ValueKind::Name(n) => ast::TargetKind::Name(n.clone()),
        ValueKind::Str(s) => ast::TargetKind::Glob(s.clone()),
        ValueKind::Target(t) => return Some(t.clone()),
        ValueKind::List(items) => {
            ast::TargetKind::List(items.iter().filter_map(|i| target(i, diags)).collect())
        }
        _ => {
            type_error(diags, v, "a target", None);
            return None;
        }
    };
    Some(ast::Target { kind, span: v.span })
}

/// One of a fixed set of strings.
pub fn choice<T: Copy>(v: &Value, options: &[(&str, T)], diags: &mut Vec<Diagnostic>) -> Option<T> {
    let text = plain(v, diags)?;
    if let Some((_, t)) = options.iter().find(|(n, _)| *n == text) {
        return Some(*t);
    }
    let list = options
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let help = did_you_mean(&text, options.iter().map(|(n, _)| *n))
        .unwrap_or_else(|| format!("expected one of {list}"));
    diags.push(
        Diagnostic::new(Code::E0015, v.span, format!("invalid value \"{text}\""))
            .with_label(format!("expected one of {list}"))
            .with_help(help),
    );
    None
}
