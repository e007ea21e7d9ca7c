//! The answers of the language server, from an [`Analysis`]: hover text, definition
//! locations, completion items, formatting edits and published diagnostics.

use super::analysis::{range, Analysis, SymKind};
use super::text::{uri_of, LineIndex};
use crate::ast::{self, InventoryDecl, InventoryMember, Item, Member};
use crate::diagnostic::{Diagnostic, Severity};
use crate::program::Program;
use crate::span::{FileId, Span};
use chrono::{DateTime, Utc};
use lsp_types as lsp;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// How many window occurrences a hover lists.
const NEXT_OCCURRENCES: usize = 3;
/// How many hosts a hover lists before summarising.
const MAX_LISTED_HOSTS: usize = 20;

/// Diagnostics grouped by the file they are in (`None`: the document itself).
pub(crate) fn diagnostics(
    a: &Analysis,
    uri: &lsp::Uri,
) -> BTreeMap<String, (lsp::Uri, Vec<lsp::Diagnostic>)> {
    let mut out: BTreeMap<String, (lsp::Uri, Vec<lsp::Diagnostic>)> = BTreeMap::new();
    out.insert(uri.as_str().to_string(), (uri.clone(), Vec::new()));
    for d in &a.diagnostics {
        let Some(file_uri) = file_uri(a, d.span.file, uri) else {
            continue;
        };
        let converted = convert(a, d, uri);
        out.entry(file_uri.as_str().to_string())
            .or_insert_with(|| (file_uri.clone(), Vec::new()))
            .1
            .push(converted);
    }
    out
}

fn file_uri(a: &Analysis, file: FileId, doc: &lsp::Uri) -> Option<lsp::Uri> {
    if file == a.main {
        return Some(doc.clone());
    }
    a.sources.get(file).path.as_deref().and_then(uri_of)
}

fn lsp_range(a: &Analysis, span: Span) -> lsp::Range {
    let f = a.sources.get(span.file);
    LineIndex::new(&f.text).range(span.start as usize, span.end as usize)
}

fn convert(a: &Analysis, d: &Diagnostic, doc: &lsp::Uri) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if let Some(label) = &d.label {
        let _ = write!(message, ": {label}");
    }
    if let Some(help) = &d.help {
        let _ = write!(message, "\nhelp: {help}");
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .related
        .iter()
        .filter_map(|l| {
            Some(lsp::DiagnosticRelatedInformation {
                location: lsp::Location::new(file_uri(a, l.span.file, doc)?, lsp_range(a, l.span)),
                message: l.message.clone(),
            })
        })
        .collect();
    lsp::Diagnostic {
        range: lsp_range(a, d.span),
        severity: Some(match d.severity() {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        }),
        code: Some(lsp::NumberOrString::String(d.code.as_str().to_string())),
        source: Some("sflow".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..lsp::Diagnostic::default()
    }
}

/// Markdown for what is at byte `offset`.
pub(crate) fn hover(
    a: &Analysis,
    good: Option<&Program>,
    offset: usize,
    now: DateTime<Utc>,
) -> Option<lsp::Hover> {
    let s = a.sym_at(offset)?;
    let text = match &s.kind {
        SymKind::Target | SymKind::HostDef | SymKind::GroupDef => target_hover(a, good, &s.name)?,
        SymKind::TaskDef(wf) | SymKind::TaskRef(wf) => task_hover(a, good, *wf, &s.name)?,
        SymKind::TemplateDef | SymKind::TemplateRef => {
            let t = a.templates.iter().find(|t| t.name == s.name)?;
            let mut out = format!("```sflow\ntemplate {}\n```", t.signature);
            if let Some(m) = &t.module {
                let _ = write!(out, "\nfrom `{m}`");
            }
            if let Some(doc) = &t.doc {
                let _ = write!(out, "\n\n{doc}");
            }
            out
        }
        SymKind::WindowSpec => window_hover(&s.name, now),
        SymKind::Import => {
            let names: Vec<&str> = a
                .templates
                .iter()
                .filter(|t| t.module.as_deref() == Some(s.name.as_str()))
                .map(|t| t.name.as_str())
                .collect();
            if names.is_empty() {
                format!("import `{}`", s.name)
            } else {
                format!("`{}`: templates {}", s.name, code_list(&names))
            }
        }
        SymKind::HostAttr => {
            let prog = good?;
            let mut values: Vec<String> = prog
                .inventory
                .hosts
                .iter()
                .filter_map(|h| {
                    h.attrs
                        .get(&s.name)
                        .map(|v| format!("`{}` = `{v}`", h.name))
                })
                .collect();
            values.truncate(MAX_LISTED_HOSTS);
            format!("host attribute `{}`\n\n{}", s.name, values.join("  \n"))
        }
    };
    Some(lsp::Hover {
        contents: lsp::HoverContents::Markup(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value: text,
        }),
        range: Some(LineIndex::new(&a.text).range(s.range.start, s.range.end)),
    })
}

fn code_list(names: &[&str]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(MAX_LISTED_HOSTS)
        .map(|n| format!("`{n}`"))
        .collect();
    let more = names.len().saturating_sub(MAX_LISTED_HOSTS);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn target_hover(a: &Analysis, good: Option<&Program>, name: &str) -> Option<String> {
    let prog = good.or(a.program.as_ref())?;
    let inv = &prog.inventory;
    // Names resolve as a group first, then a host, as in targets.
    if let Some(g) = inv.groups.get(name) {
        let names = inv.names(&g.hosts);
        return Some(format!(
            "group `{name}`: {} host{}\n\n{}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            code_list(&names)
        ));
    }
    let h = inv.host_by_name(name)?;
    let mut out = format!("host `{}`\n\n", h.name);
    let _ = writeln!(out, "- address: `{}`", h.address);
    let _ = writeln!(out, "- port: `{}`", h.port);
    if let Some(u) = &h.user {
        let _ = writeln!(out, "- user: `{u}`");
    }
    if let Some(j) = h.jump {
        let _ = writeln!(out, "- jump: `{}`", inv.host(j).name);
    }
    for (k, v) in &h.attrs {
        if !crate::inventory::KNOWN_HOST_ATTRS.contains(&k.as_str()) {
            let _ = writeln!(out, "- {k}: `{v}`");
        }
    }
    let groups: Vec<&str> = inv
        .groups
        .values()
        .filter(|g| g.hosts.contains(h.id))
        .map(|g| g.name.as_str())
        .collect();
    if !groups.is_empty() {
        let _ = write!(out, "\ngroups: {}", code_list(&groups));
    }
    Some(out)
}

fn task_hover(a: &Analysis, good: Option<&Program>, wf: usize, name: &str) -> Option<String> {
    let tasks = a.tasks(wf);
    let t = tasks.iter().find(|t| t.name.name == name)?;
    let mut out = format!("```sflow\ntask {name} on {}", a.slice(t.target.span));
    if !t.after.is_empty() {
        let deps: Vec<&str> = t.after.iter().map(|d| d.name.as_str()).collect();
        let _ = write!(out, " after {}", deps.join(", "));
    }
    if let Some(c) = &t.when {
        let _ = write!(out, " when {}", a.slice(c.span));
    }
    out.push_str("\n```");
    let wf_name = a.workflows().get(wf).map(|w| w.name.name.clone());
    let hosts = good.or(a.program.as_ref()).and_then(|p| {
        let w = p.workflow(wf_name.as_deref()?)?;
        let task = w.tasks.iter().find(|x| x.name == name)?;
        Some(
            p.inventory
                .names(&task.hosts)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
    });
    if let Some(hosts) = hosts {
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let _ = write!(
            out,
            "\n\nruns on {} host{}: {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            code_list(&names)
        );
    }
    let dependents: Vec<&str> = tasks
        .iter()
        .filter(|x| x.after.iter().any(|d| d.name == name))
        .map(|x| x.name.name.as_str())
        .collect();
    if !dependents.is_empty() {
        let _ = write!(out, "\n\nneeded by {}", code_list(&dependents));
    }
    Some(out)
}

fn window_hover(spec: &str, now: DateTime<Utc>) -> String {
    match crate::window::WindowSpec::parse(spec) {
        Ok(parsed) => {
            let set = crate::window::WindowSet::single(parsed);
            let mut out = format!("window `{spec}`\n\nnext occurrences:");
            for iv in set.occurrences(now).take(NEXT_OCCURRENCES) {
                if iv.is_unbounded() {
                    let _ = write!(
                        out,
                        "\n- open from {} on",
                        iv.start.format("%a %Y-%m-%d %H:%M UTC")
                    );
                    break;
                }
                let _ = write!(
                    out,
                    "\n- {} → {}",
                    iv.start.format("%a %Y-%m-%d %H:%M"),
                    iv.end.format("%a %Y-%m-%d %H:%M UTC")
                );
            }
            out
        }
        Err(_) => format!("window `{spec}` (invalid: see the diagnostics)"),
    }
}

/// Where what is at byte `offset` is defined.
pub(crate) fn definition(
    a: &Analysis,
    good: Option<&Program>,
    doc: &lsp::Uri,
    offset: usize,
) -> Option<lsp::Location> {
    let s = a.sym_at(offset)?;
    let here = |r: std::ops::Range<usize>| {
        Some(lsp::Location::new(
            doc.clone(),
            LineIndex::new(&a.text).range(r.start, r.end),
        ))
    };
    match &s.kind {
        SymKind::TaskRef(wf) | SymKind::TaskDef(wf) => {
            let t = a.tasks(*wf).into_iter().find(|t| t.name.name == s.name)?;
            here(range(t.name.span))
        }
        SymKind::Target | SymKind::HostDef | SymKind::GroupDef => {
            if let Some(r) = inline_definition(a, &s.name) {
                return here(r);
            }
            // An inventory file: the checked program knows where each host and group is.
            let prog = good.or(a.program.as_ref())?;
            let span = match prog.inventory.groups.get(&s.name) {
                Some(g) => Some(g.span),
                None => prog.inventory.host_by_name(&s.name).and_then(|h| h.span),
            }?;
            let path = super::analysis::normalize(a.sources.get(span.file).path.as_deref()?);
            let text = std::fs::read_to_string(&path).ok()?;
            let r = LineIndex::new(&text).range(span.start as usize, span.end as usize);
            Some(lsp::Location::new(uri_of(&path)?, r))
        }
        SymKind::TemplateRef | SymKind::TemplateDef => {
            let t = a.templates.iter().find(|t| t.name == s.name)?;
            let (path, r, text) = t.def.as_ref()?;
            match path {
                None => here(r.clone()),
                Some(p) => Some(lsp::Location::new(
                    uri_of(p)?,
                    LineIndex::new(text).range(r.start, r.end),
                )),
            }
        }
        SymKind::Import => {
            let dir = a.path.as_deref()?.parent()?;
            let p: PathBuf = super::analysis::normalize(&dir.join(&s.name));
            if !p.is_file() {
                return None;
            }
            Some(lsp::Location::new(uri_of(&p)?, lsp::Range::default()))
        }
        SymKind::WindowSpec | SymKind::HostAttr => None,
    }
}

/// The declaration of group or host `name` in the document's inline inventory.
fn inline_definition(a: &Analysis, name: &str) -> Option<std::ops::Range<usize>> {
    let mut host = None;
    for item in &a.ast.items {
        let Item::Inventory(InventoryDecl::Inline(b)) = item else {
            continue;
        };
        for m in &b.members {
            match m {
                InventoryMember::Group { name: n, .. } if n.name == name => {
                    return Some(range(n.span))
                }
                InventoryMember::Host { name: n, .. } if n.name == name => {
                    host = host.or(Some(range(n.span)))
                }
                _ => {}
            }
        }
    }
    host
}

/// Names that fit where the cursor is.
pub(crate) fn completion(
    a: &Analysis,
    good: Option<&Program>,
    offset: usize,
) -> Vec<lsp::CompletionItem> {
    let line_start = a
        .text
        .get(..offset)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let prefix = a.text.get(line_start..offset).unwrap_or("");
    let wf = a.workflow_at(offset);
    let prog = good.or(a.program.as_ref());
    let all_tasks = tasks_around(a, prog, offset);
    let task_names = |exclude: Option<&str>| -> Vec<lsp::CompletionItem> {
        all_tasks
            .iter()
            .filter(|t| Some(t.as_str()) != exclude)
            .map(|t| item(t, lsp::CompletionItemKind::FUNCTION, "task"))
            .collect()
    };
    let current_task = prefix
        .split_whitespace()
        .skip_while(|w| *w != "task")
        .nth(1)
        .map(str::to_string);

    // `host.` and `TASK.` / `capture.` in conditions and interpolations.
    if let Some(dot) = trailing_path(prefix) {
        let (base, _) = dot;
        if base == "host" {
            let mut keys: Vec<String> = crate::inventory::KNOWN_HOST_ATTRS
                .iter()
                .map(|s| s.to_string())
                .collect();
            if let Some(p) = prog {
                for h in &p.inventory.hosts {
                    keys.extend(h.attrs.keys().cloned());
                }
            }
            keys.sort();
            keys.dedup();
            return keys
                .iter()
                .map(|k| item(k, lsp::CompletionItemKind::FIELD, "host attribute"))
                .collect();
        }
        let is_task = all_tasks.iter().any(|t| t == base);
        if is_task {
            return ["ok", "failed", "skipped", "exit", "stdout", "stderr"]
                .iter()
                .map(|f| item(f, lsp::CompletionItemKind::FIELD, "task result"))
                .collect();
        }
        return vec![item(
            "int",
            lsp::CompletionItemKind::FIELD,
            "the text as an integer",
        )];
    }

    let clause = last_clause(prefix);
    match clause {
        Clause::Use => a
            .templates
            .iter()
            .map(|t| {
                item(
                    &t.name,
                    lsp::CompletionItemKind::FUNCTION,
                    &format!("template {}", t.signature),
                )
            })
            .collect(),
        Clause::Tasks => task_names(current_task.as_deref()),
        Clause::When => {
            let mut out = task_names(current_task.as_deref());
            out.push(item(
                "host",
                lsp::CompletionItemKind::VARIABLE,
                "the host's attributes",
            ));
            for (name, what) in names_in_scope(a, wf) {
                out.push(item(&name, lsp::CompletionItemKind::VARIABLE, what));
            }
            for kw in ["and", "or", "not", "contains"] {
                out.push(item(kw, lsp::CompletionItemKind::KEYWORD, "operator"));
            }
            out
        }
        Clause::Target => {
            let mut out = vec![item("all", lsp::CompletionItemKind::CONSTANT, "every host")];
            match prog {
                Some(p) => {
                    for g in p.inventory.groups.values() {
                        out.push(item(
                            &g.name,
                            lsp::CompletionItemKind::MODULE,
                            &format!("group of {} hosts", g.hosts.len()),
                        ));
                    }
                    for h in &p.inventory.hosts {
                        out.push(item(
                            &h.name,
                            lsp::CompletionItemKind::VALUE,
                            &format!("host {}", h.address),
                        ));
                    }
                }
                None => {
                    for s in &a.syms {
                        match s.kind {
                            SymKind::GroupDef => {
                                out.push(item(&s.name, lsp::CompletionItemKind::MODULE, "group"))
                            }
                            SymKind::HostDef => {
                                out.push(item(&s.name, lsp::CompletionItemKind::VALUE, "host"))
                            }
                            _ => {}
                        }
                    }
                }
            }
            // After a complete target term (not right after a keyword or `=`), an operator
            // may follow.
            let last = prefix.split_whitespace().last().unwrap_or("");
            let after_term = prefix.ends_with(' ')
                && !last.ends_with(['=', ',', '['])
                && !matches!(
                    last,
                    "on" | "of" | "except" | "where" | "window" | "wave" | "group"
                );
            if after_term {
                for kw in ["except", "where"] {
                    out.push(item(
                        kw,
                        lsp::CompletionItemKind::KEYWORD,
                        "target operator",
                    ));
                }
            }
            out
        }
        Clause::None => Vec::new(),
    }
}

/// The task names of the workflow around byte `offset`: from the syntax tree, or, while the
/// text is too broken to parse, from the last good program's workflow of the same name.
fn tasks_around(a: &Analysis, prog: Option<&Program>, offset: usize) -> Vec<String> {
    if let Some(w) = a.workflow_at(offset) {
        let names: Vec<String> = a.tasks(w).iter().map(|t| t.name.name.clone()).collect();
        if !names.is_empty() {
            return names;
        }
    }
    let before = a.text.get(..offset).unwrap_or("");
    let name = before.rmatch_indices("workflow").find_map(|(i, _)| {
        let at_word = i == 0 || before[..i].ends_with(char::is_whitespace);
        let rest = before[i + "workflow".len()..].trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        (at_word && !name.is_empty()).then_some(name)
    });
    name.and_then(|n| {
        prog?
            .workflow(&n)
            .map(|w| w.tasks.iter().map(|t| t.name.clone()).collect())
    })
    .unwrap_or_default()
}

fn item(label: &str, kind: lsp::CompletionItemKind, detail: &str) -> lsp::CompletionItem {
    lsp::CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        ..lsp::CompletionItem::default()
    }
}

/// Params, secrets and captures of workflow `wf`.
fn names_in_scope(a: &Analysis, wf: Option<usize>) -> Vec<(String, &'static str)> {
    let Some(w) = wf.and_then(|i| a.workflows().get(i).copied()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in &w.members {
        match m {
            Member::Param(p) => out.push((p.name.name.clone(), "param")),
            Member::Secret { name, .. } => out.push((name.name.clone(), "secret")),
            Member::Task(t) => {
                for attr in &t.attrs {
                    if let (ast::ValueKind::Name(n), "capture") =
                        (&attr.value.kind, attr.key.name.as_str())
                    {
                        out.push((n.name.clone(), "capture"));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// `(base, partial)` when the prefix ends in `base.partial` (a field access being typed).
fn trailing_path(prefix: &str) -> Option<(&str, &str)> {
    let word_start = prefix
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map_or(0, |i| i + 1);
    let word = &prefix[word_start..];
    let (base, partial) = word.rsplit_once('.')?;
    // A host name such as `web01.example.com` in a target is not a field access.
    let in_expr = prefix.contains(" when ") || prefix.contains("${");
    (in_expr && !base.is_empty() && !base.contains('.')).then_some((base, partial))
}

/// What the cursor's position on its line expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clause {
    Target,
    Tasks,
    When,
    Use,
    None,
}

fn last_clause(prefix: &str) -> Clause {
    let inside_string = prefix.matches('"').count() % 2 == 1 && !prefix.contains("${");
    if inside_string {
        return Clause::None;
    }
    let words: Vec<&str> = prefix
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '(')
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate().rev() {
        let next = words.get(i + 1).copied();
        match *w {
            "when" => return Clause::When,
            "after" if next != Some("=") => return Clause::Tasks,
            "on" if next != Some("=") => return Clause::Target,
            "wave" | "group" | "window" | "of" | "except" => return Clause::Target,
            "use" | "use=" => return Clause::Use,
            "before" | "after=" | "before=" => return Clause::Tasks,
            "across" | "jump" | "across=" | "jump=" => return Clause::Target,
            "verify" if next == Some("=") => return Clause::Tasks,
            "=" if i > 0 => match words[i - 1] {
                "use" => return Clause::Use,
                "before" | "after" | "verify" => return Clause::Tasks,
                "across" | "jump" => return Clause::Target,
                _ => {}
            },
            "{" | "}" => return Clause::None,
            _ => {}
        }
    }
    Clause::None
}

/// The edits that format `text` as `sflow fmt` does: one edit over the whole document, or
/// none when it is already formatted or has syntax errors.
pub(crate) fn formatting(text: &str) -> Vec<lsp::TextEdit> {
    // The file id only labels diagnostics, which are dropped here.
    match crate::fmt::format_file(FileId(0), text) {
        Ok(formatted) if formatted != text => {
            let whole = LineIndex::new(text).range(0, text.len());
            vec![lsp::TextEdit::new(whole, formatted)]
        }
        Ok(_) | Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{last_clause, trailing_path, Clause};

    #[test]
    fn clauses_from_the_line_prefix() {
        assert_eq!(last_clause("  task a on "), Clause::Target);
        assert_eq!(last_clause("  task a on web after "), Clause::Tasks);
        assert_eq!(last_clause("  task a on web after b, "), Clause::Tasks);
        assert_eq!(last_clause("  task a on web after b when "), Clause::When);
        assert_eq!(last_clause("    wave canary = ["), Clause::Target);
        assert_eq!(last_clause("    use = "), Clause::Use);
        assert_eq!(last_clause("    before = "), Clause::Tasks);
        assert_eq!(last_clause("    verify = [a, "), Clause::Tasks);
        assert_eq!(last_clause("    run = \"echo "), Clause::None);
        assert_eq!(last_clause("  notify { on = "), Clause::None);
    }

    #[test]
    fn field_access_only_in_expressions() {
        assert_eq!(trailing_path("  task a on w when b."), Some(("b", "")));
        assert_eq!(trailing_path("  run = \"x ${host.ad"), Some(("host", "ad")));
        assert_eq!(trailing_path("  task a on web01.exa"), None);
    }
}
