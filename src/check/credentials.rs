//! Credential detection: string literals that look like a password, a token or a private key
//! are errors (E0028), since credentials must come from `secret` declarations. Input:
//! attributes and string literals; output: diagnostics.

use crate::ast::{Attr, StrLit, StrPart, Value, ValueKind};
use crate::diagnostic::{Code, Diagnostic};

/// Words that make an attribute or variable name a credential holder.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
];

/// Whether `name` names a credential (`password`, `DB_PASSWORD`, `api_token`...).
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
}

fn diag(span: crate::span::Span, what: &str) -> Diagnostic {
    Diagnostic::new(Code::E0028, span, format!("{what} in a string literal"))
        .with_label("this looks like a credential")
        .with_help("declare it with `secret NAME = prompt(\"...\")`, `env(\"VAR\")` or `command(\"...\")` and pass it with `stdin = NAME`")
}

/// Checks an attribute (and the values inside it) for credentials. `diags = None` skips it.
pub fn check_attr(a: &Attr, diags: Option<&mut Vec<Diagnostic>>) {
    let Some(diags) = diags else { return };
    if is_secret_name(&a.key.name) {
        if let ValueKind::Str(s) = &a.value.kind {
            if s.as_plain().is_some_and(|t| !t.is_empty()) {
                diags.push(diag(
                    s.span,
                    &format!("`{}` holds a credential", a.key.name),
                ));
                return;
            }
        }
    }
    check_value(&a.value, diags);
}

/// Checks every string inside a value.
pub fn check_value(v: &Value, diags: &mut Vec<Diagnostic>) {
    match &v.kind {
        ValueKind::Str(s) => check_str(s, diags),
        ValueKind::List(xs) => xs.iter().for_each(|x| check_value(x, diags)),
        ValueKind::Map(attrs) => attrs.iter().for_each(|a| check_attr(a, Some(diags))),
        ValueKind::Call { args, .. } => args.iter().for_each(|x| check_value(x, diags)),
        _ => {}
    }
}

/// Checks a string's literal text for private key blocks and `PASSWORD=value` assignments.
pub fn check_str(s: &StrLit, diags: &mut Vec<Diagnostic>) {
    for p in &s.parts {
        let StrPart::Text {
            text,
            span,
            verbatim,
        } = p
        else {
            continue;
        };
        let at = |r: std::ops::Range<usize>| if *verbatim { span.slice(r) } else { *span };
        if let Some(i) = text.find("-----BEGIN") {
            if text[i..]
                .lines()
                .next()
                .is_some_and(|l| l.contains("PRIVATE KEY"))
            {
                diags.push(diag(at(i..i + 10), "a private key"));
                return;
            }
        }
        if let Some(r) = assignment(text) {
            diags.push(diag(at(r), "a password assignment"));
            return;
        }
    }
}

/// The range of a `NAME=value` where NAME names a credential and value is a literal (not a
/// `$VAR` or `$(cmd)` expansion, not empty).
fn assignment(text: &str) -> Option<std::ops::Range<usize>> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i > 0 {
            let mut s = i;
            while s > 0
                && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_' || b[s - 1] == b'-')
            {
                s -= 1;
            }
            let name = &text[s..i];
            let v = i + 1;
            let mut e = v;
            while e < b.len() && !b[e].is_ascii_whitespace() {
                e += 1;
            }
            let value = text[v..e].trim_matches(['\'', '"']);
            if !name.is_empty()
                && is_secret_name(name)
                && !value.is_empty()
                && !value.starts_with('$')
            {
                return Some(s..e);
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments() {
        assert_eq!(assignment("env DB_PASSWORD=hunter2 ./run"), Some(4..23));
        assert_eq!(assignment("PASSWORD=$PW ./run"), None);
        assert_eq!(assignment("x=1 token= y"), None);
        assert_eq!(assignment("curl --data api_key='abc'"), Some(12..25));
    }
}
