//! Renders an [`Inventory`] and a [`Workflow`] as `.sflow` source, the text the checker then
//! reads. Input: API values; output: one file's text, or the value that cannot be written.
//!
//! Strings are escaped (or written raw) so that any text stays one string literal; names and
//! fragments in the language's syntax (targets, conditions, template calls) are refused when
//! they could end the construct they sit in, so nothing given to the API can add items or
//! attributes of its own. Everything else (unknown names, bad windows, cycles) is left to the
//! checker, which reports it exactly as for a file.

use super::workflow::{Body, Expect, OnExpire, OnMismatch, Task, Verification, WaveSize, Waves};
use super::{ApiError, Inventory, Threshold, Workflow};
use std::fmt::Write as _;
use std::time::Duration;

/// The whole file: imports, the inline inventory and the workflow.
pub(crate) fn render(inv: &Inventory, wf: &Workflow) -> Result<String, ApiError> {
    let mut out = String::new();
    for module in &wf.imports {
        let _ = writeln!(out, "import {}", literal(module));
    }
    inventory(&mut out, inv)?;
    workflow(&mut out, wf)?;
    Ok(out)
}

fn inventory(out: &mut String, inv: &Inventory) -> Result<(), ApiError> {
    out.push_str("inventory {\n");
    if inv.default_user.is_some() || inv.default_port.is_some() {
        out.push_str("defaults {\n");
        if let Some(u) = &inv.default_user {
            let _ = writeln!(out, "user = {}", literal(u));
        }
        if let Some(p) = inv.default_port {
            let _ = writeln!(out, "port = {p}");
        }
        out.push_str("}\n");
    }
    for h in &inv.hosts {
        let _ = writeln!(out, "host {} {{", name("host name", &h.name)?);
        if let Some(a) = &h.address {
            let _ = writeln!(out, "address = {}", literal(a));
        }
        if let Some(p) = h.port {
            let _ = writeln!(out, "port = {p}");
        }
        if let Some(u) = &h.user {
            let _ = writeln!(out, "user = {}", literal(u));
        }
        if let Some(j) = &h.jump {
            let _ = writeln!(out, "jump = {}", name("jump host", j)?);
        }
        for (k, v) in &h.attributes {
            let _ = writeln!(out, "{} = {}", name("attribute name", k)?, literal(v));
        }
        out.push_str("}\n");
    }
    for (g, members) in &inv.groups {
        let names = members
            .iter()
            .map(|m| name("group member", m))
            .collect::<Result<Vec<_>, _>>()?;
        let _ = writeln!(
            out,
            "group {} = [{}]",
            name("group name", g)?,
            names.join(", ")
        );
    }
    out.push_str("}\n");
    Ok(())
}

fn workflow(out: &mut String, wf: &Workflow) -> Result<(), ApiError> {
    let _ = writeln!(out, "workflow {} {{", name("workflow name", &wf.name)?);
    if let Some(d) = &wf.description {
        let _ = writeln!(out, "description = {}", literal(d));
    }
    if let Some(c) = &wf.change {
        let _ = writeln!(out, "change = {}", literal(c));
    }
    for (target, spec) in &wf.windows {
        let _ = writeln!(
            out,
            "window {} = {}",
            fragment("window target", target)?,
            literal(spec)
        );
    }
    if let Some(p) = &wf.window_policy {
        out.push_str("windows {\n");
        if let Some(c) = p.cutoff {
            let _ = writeln!(out, "cutoff = {}", duration(c));
        }
        let expire = match p.on_expire {
            OnExpire::Finish => "finish",
            OnExpire::Abort => "abort",
            OnExpire::Rollback => "rollback",
        };
        let _ = writeln!(out, "on_expire = {}", string(expire));
        out.push_str("}\n");
    }
    if let Some(p) = &wf.parallel {
        out.push_str("parallel {\n");
        if let Some(n) = p.max_servers {
            let _ = writeln!(out, "max_servers = {n}");
        }
        if let Some(n) = p.per_group {
            let _ = writeln!(out, "per_group = {n}");
        }
        for (attr, n) in &p.per_attribute {
            let _ = writeln!(out, "per {} = {n}", name("attribute name", attr)?);
        }
        if let Some(n) = p.per_host {
            let _ = writeln!(out, "per_host = {n}");
        }
        if let Some(s) = p.stagger {
            let _ = writeln!(out, "stagger = {}", duration(s));
        }
        if p.adaptive {
            out.push_str("adaptive = true\n");
        }
        out.push_str("}\n");
    }
    for t in &wf.tasks {
        task(out, t)?;
    }
    if let Some(r) = &wf.rollout {
        out.push_str("rollout {\n");
        match &r.waves {
            Waves::Named(waves) => {
                for (n, target) in waves {
                    let _ = writeln!(
                        out,
                        "wave {} = {}",
                        name("wave name", n)?,
                        fragment("wave target", target)?
                    );
                }
            }
            Waves::Sized(sizes, target) => {
                let sizes: Vec<String> = sizes
                    .iter()
                    .map(|s| match s {
                        WaveSize::Hosts(n) => n.to_string(),
                        WaveSize::Percent(p) => format!("{p}%"),
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "waves = [{}] of {}",
                    sizes.join(", "),
                    fragment("wave target", target)?
                );
            }
        }
        if !r.verify.is_empty() {
            let _ = writeln!(out, "verify = [{}]", names("gate task", &r.verify)?);
        }
        if let Some(m) = r.max_failures {
            let _ = writeln!(out, "max_failures = {}", threshold(m));
        }
        if let Some(on) = r.auto_rollback {
            let _ = writeln!(out, "auto_rollback = {on}");
        }
        if r.rollback_all {
            out.push_str("rollback_scope = \"all\"\n");
        }
        if let Some(b) = r.bake {
            let _ = writeln!(out, "bake = {}", duration(b));
        }
        out.push_str("}\n");
    }
    for v in &wf.verifications {
        verification(out, v)?;
    }
    out.push_str("}\n");
    Ok(())
}

fn task(out: &mut String, t: &Task) -> Result<(), ApiError> {
    let task_name = name("task name", &t.name)?;
    let Some(target) = &t.target else {
        return Err(ApiError::Incomplete {
            what: format!("task `{task_name}`"),
            missing: "a target (`Task::on`)",
        });
    };
    let _ = write!(
        out,
        "task {task_name} on {}",
        fragment("task target", target)?
    );
    if !t.after.is_empty() {
        let _ = write!(out, " after {}", names("dependency", &t.after)?);
    }
    if let Some(c) = &t.when {
        let _ = write!(out, " when {}", fragment("condition", c)?);
    }
    out.push_str(" {\n");
    match &t.body {
        Some(Body::Run(cmd)) => {
            let _ = writeln!(out, "run = {}", string(cmd));
        }
        Some(Body::Use(call)) => {
            let _ = writeln!(out, "use = {}", fragment("template call", call)?);
        }
        None => {
            return Err(ApiError::Incomplete {
                what: format!("task `{task_name}`"),
                missing: "a command (`Task::run`) or a template call (`Task::uses`)",
            })
        }
    }
    if let Some(r) = &t.rollback {
        let _ = writeln!(out, "rollback = {}", string(r));
    }
    for (key, d) in [
        ("timeout", t.timeout),
        ("retry_delay", t.retry_delay),
        ("estimate", t.estimate),
    ] {
        if let Some(d) = d {
            let _ = writeln!(out, "{key} = {}", duration(d));
        }
    }
    if let Some(n) = t.retry {
        let _ = writeln!(out, "retry = {n}");
    }
    for (key, on) in [
        ("sudo", t.sudo),
        ("allow_failure", t.allow_failure),
        ("local", t.local),
    ] {
        if on {
            let _ = writeln!(out, "{key} = true");
        }
    }
    if let Some(c) = &t.capture {
        let _ = writeln!(out, "capture = {}", name("capture name", c)?);
    }
    if !t.env.is_empty() {
        out.push_str("env = {\n");
        for (k, v) in &t.env {
            let _ = writeln!(out, "{} = {}", name("environment variable", k)?, string(v));
        }
        out.push_str("}\n");
    }
    out.push_str("}\n");
    Ok(())
}

fn verification(out: &mut String, v: &Verification) -> Result<(), ApiError> {
    let _ = writeln!(out, "verify {} {{", name("verification name", &v.name)?);
    if let Some(b) = &v.before {
        let _ = writeln!(out, "before = {}", name("task name", b)?);
    }
    if let Some(a) = &v.after {
        let _ = writeln!(out, "after = {}", name("task name", a)?);
    }
    for (n, cmd) in &v.captures {
        let _ = writeln!(
            out,
            "capture {} = {}",
            name("capture name", n)?,
            string(cmd)
        );
    }
    for e in &v.expects {
        expect(out, e)?;
    }
    if let Some(m) = v.on_mismatch {
        let word = match m {
            OnMismatch::Fail => "fail",
            OnMismatch::Warn => "warn",
            OnMismatch::Rollback => "rollback",
        };
        let _ = writeln!(out, "on_mismatch = {}", string(word));
    }
    if let Some(a) = &v.across {
        let _ = writeln!(out, "across = {}", fragment("drift target", a)?);
    }
    out.push_str("}\n");
    Ok(())
}

fn expect(out: &mut String, e: &Expect) -> Result<(), ApiError> {
    let _ = writeln!(out, "expect {} {{", name("capture name", &e.capture)?);
    if let Some(p) = &e.pattern {
        let _ = writeln!(out, "match = {}", raw(p));
    }
    let _ = writeln!(out, "change = {}", string(e.change.as_str()));
    if let Some(v) = &e.equals {
        let _ = writeln!(out, "equals = {}", literal(v));
    }
    if let Some(v) = &e.contains {
        let _ = writeln!(out, "contains = {}", literal(v));
    }
    if let Some(r) = &e.matches {
        let _ = writeln!(out, "matches = {}", raw(r));
    }
    if let Some(v) = e.versions {
        let _ = writeln!(out, "versions = {}", string(v.as_str()));
    }
    out.push_str("}\n");
    Ok(())
}

/// A plain string literal holding exactly `s` (interpolation `${...}` stays active, as the
/// API documents for commands).
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string literal holding exactly `s` with no interpolation (`$` escaped): for values
/// that are data, not commands (addresses, attributes, window specs, tickets).
pub(crate) fn literal(s: &str) -> String {
    string(s).replace('$', "\\$")
}

/// A raw string literal holding exactly `s`, with as many `#` as it takes.
pub(crate) fn raw(s: &str) -> String {
    let mut hashes = String::new();
    while s.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{s}\"{hashes}")
}

/// A name (identifier or host name) as one token: anything that could end the token is
/// refused here; whether it is a valid name is the parser's call.
fn name<'a>(what: &str, s: &'a str) -> Result<&'a str, ApiError> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(s)
    } else {
        Err(ApiError::Unrepresentable {
            what: what.to_string(),
            value: s.to_string(),
            why: "a name holds only letters, digits, `_`, `.` and `-`",
        })
    }
}

fn names(what: &str, list: &[String]) -> Result<String, ApiError> {
    Ok(list
        .iter()
        .map(|n| name(what, n))
        .collect::<Result<Vec<_>, _>>()?
        .join(", "))
}

/// A fragment in the language's syntax (target, condition, template call) that stays inside
/// the construct it is written in: one line, no comment, no braces outside string literals,
/// every string closed. Strings are skipped by the grammar's own rules (plain and triple
/// strings with backslash escapes, raw strings `r#"…"#` without), so the scan agrees with the
/// parser on where each string ends.
fn fragment<'a>(what: &str, s: &'a str) -> Result<&'a str, ApiError> {
    let refuse = |why| {
        Err(ApiError::Unrepresentable {
            what: what.to_string(),
            value: s.to_string(),
            why,
        })
    };
    if s.trim().is_empty() {
        return refuse("it is empty");
    }
    if s.contains(['\n', '\r']) {
        return refuse("it must fit on one line");
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let end = match b[i] {
            b'{' | b'}' | b'#' => {
                return refuse("`{`, `}` and `#` are allowed only inside strings");
            }
            b'"' if b[i..].starts_with(br#"""""#) => string_end(b, i + 3, br#"""""#, true),
            b'"' => string_end(b, i + 1, b"\"", true),
            b'r' if i == 0 || !is_ident_byte(b[i - 1]) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) == Some(&b'"') {
                    let mut close = vec![b'"'];
                    close.resize(hashes + 1, b'#');
                    string_end(b, i + hashes + 2, &close, false)
                } else {
                    Some(i + 1)
                }
            }
            _ => Some(i + 1),
        };
        match end {
            Some(e) => i = e,
            None => return refuse("a string in it is not closed"),
        }
    }
    Ok(s)
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
}

/// The index just after the `close` that ends a string whose text starts at `from`.
fn string_end(b: &[u8], from: usize, close: &[u8], escapes: bool) -> Option<usize> {
    let mut j = from;
    while j < b.len() {
        if escapes && b[j] == b'\\' {
            j += 2;
        } else if b[j..].starts_with(close) {
            return Some(j + close.len());
        } else {
            j += 1;
        }
    }
    None
}

/// A duration literal: `1h30m`, `2s`, `250ms`.
pub(crate) fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    out
}

fn threshold(t: Threshold) -> String {
    match t {
        Threshold::Count(n) => n.to_string(),
        Threshold::Percent(p) => format!("{p}%"),
    }
}
