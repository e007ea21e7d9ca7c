//! One document, analysed: the checker's diagnostics and program (the same as `sflow check`),
//! the syntax tree, the templates in scope, and the named things under each source range
//! ([`Sym`]) that hover, go to definition and completion look up.

use crate::ast::{self, CondKind, InventoryDecl, InventoryMember, Item, Member, Operand};
use crate::ast::{StrLit, StrPart, TargetKind, ValueKind};
use crate::check::{check_loaded, CheckOptions, Disk};
use crate::diagnostic::Diagnostic;
use crate::program::Program;
use crate::span::{FileId, SourceFile, SourceMap, Span};
use chrono::{DateTime, Utc};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What a name in the source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SymKind {
    /// `task NAME` (workflow index).
    TaskDef(usize),
    /// A task named in `after`, `before`, `verify`, or a condition (workflow index).
    TaskRef(usize),
    /// A group or host in a target expression, or a `jump` value.
    Target,
    /// `host NAME` in an inline inventory.
    HostDef,
    /// `group NAME` in an inline inventory.
    GroupDef,
    /// `template NAME(...)`.
    TemplateDef,
    /// `use = NAME(...)`.
    TemplateRef,
    /// The spec string of `window TARGET = "..."`.
    WindowSpec,
    /// The path string of `import "..."`.
    Import,
    /// `host.ATTR` in a condition or interpolation (the attribute's name).
    HostAttr,
}

/// A named thing at a source range of the document.
#[derive(Debug, Clone)]
pub(crate) struct Sym {
    pub kind: SymKind,
    pub name: String,
    pub range: Range<usize>,
}

/// A template in scope: defined in the document, an imported file or the stdlib.
#[derive(Debug, Clone)]
pub(crate) struct TemplateInfo {
    pub name: String,
    /// `name(p: type = default, ...)`.
    pub signature: String,
    pub doc: Option<String>,
    /// Where it is defined: a file on disk (`None` for the document itself or the stdlib),
    /// the byte range of its name, and that file's text.
    pub def: Option<(Option<PathBuf>, Range<usize>, String)>,
    /// The stdlib module that defines it, if any.
    pub module: Option<String>,
}

/// The analysis of one document.
pub(crate) struct Analysis {
    pub text: String,
    pub path: Option<PathBuf>,
    pub ast: ast::File,
    /// Everything the checker read; the document is [`Analysis::main`].
    pub sources: SourceMap,
    pub main: FileId,
    pub diagnostics: Vec<Diagnostic>,
    /// The checked program when the document has no error.
    pub program: Option<Program>,
    pub templates: Vec<TemplateInfo>,
    pub syms: Vec<Sym>,
}

impl Analysis {
    /// Checks `text`, the document at `path` (imports and inventories resolve against it).
    pub fn new(text: &str, path: Option<PathBuf>, now: DateTime<Utc>) -> Analysis {
        let mut sources = SourceMap::new();
        let name = path.as_ref().and_then(|p| p.file_name()).map_or_else(
            || "untitled.sflow".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let main = sources.add(SourceFile::new(name, path.clone(), text));
        let opts = CheckOptions {
            now,
            ..CheckOptions::default()
        };
        let out = check_loaded(&mut sources, main, &Disk, &opts);
        let (ast, _) = crate::syntax::parse(main, text);
        let templates = templates_in_scope(&ast, text, path.as_deref());
        let syms = collect_syms(&ast);
        Analysis {
            text: text.to_string(),
            path,
            ast,
            sources,
            main,
            diagnostics: out.diagnostics,
            program: out.program,
            templates,
            syms,
        }
    }

    /// The innermost named thing at byte `offset` (a cursor just after a name counts).
    pub fn sym_at(&self, offset: usize) -> Option<&Sym> {
        self.syms
            .iter()
            .filter(|s| s.range.start <= offset && offset <= s.range.end)
            .min_by_key(|s| s.range.len())
    }

    /// The workflows of the document.
    pub fn workflows(&self) -> Vec<&ast::Workflow> {
        self.ast
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Workflow(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    /// The index of the workflow around byte `offset` (else the last one before it).
    pub fn workflow_at(&self, offset: usize) -> Option<usize> {
        let wfs = self.workflows();
        wfs.iter()
            .position(|w| range(w.span).contains(&offset))
            .or_else(|| wfs.iter().rposition(|w| (w.span.start as usize) <= offset))
    }

    /// The tasks of workflow `wf`.
    pub fn tasks(&self, wf: usize) -> Vec<&ast::Task> {
        self.workflows()
            .get(wf)
            .map(|w| {
                w.members
                    .iter()
                    .filter_map(|m| match m {
                        Member::Task(t) => Some(t),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The source text under `span` of the document.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(range(span)).unwrap_or("")
    }
}

/// `path` without `.` components and with `..` applied where possible (no IO).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A span's byte range.
pub(crate) fn range(span: Span) -> Range<usize> {
    span.start as usize..span.end as usize
}

/// Templates of the document, its local imports (one level) and the stdlib modules it imports.
fn templates_in_scope(file: &ast::File, text: &str, path: Option<&Path>) -> Vec<TemplateInfo> {
    let mut out = Vec::new();
    add_templates(file, text, None, None, &mut out);
    for item in &file.items {
        let Item::Import(imp) = item else { continue };
        let Some(name) = imp.path.as_plain() else {
            continue;
        };
        if let Some(src) = crate::stdlib::source(&name) {
            let (f, _) = crate::syntax::parse(FileId(0), src);
            let before = out.len();
            add_templates(&f, src, None, Some(name.clone()), &mut out);
            // The stdlib has no file to jump to.
            out[before..].iter_mut().for_each(|t| t.def = None);
        } else if let Some(dir) = path.and_then(Path::parent) {
            let p = normalize(&dir.join(&name));
            if let Ok(src) = std::fs::read_to_string(&p) {
                let (f, _) = crate::syntax::parse(FileId(0), &src);
                add_templates(&f, &src, Some(p), None, &mut out);
            }
        }
    }
    out
}

fn add_templates(
    file: &ast::File,
    text: &str,
    path: Option<PathBuf>,
    module: Option<String>,
    out: &mut Vec<TemplateInfo>,
) {
    for item in &file.items {
        let Item::Template(t) = item else { continue };
        let params: Vec<String> = t
            .params
            .iter()
            .map(|p| {
                let default = p
                    .default
                    .as_ref()
                    .and_then(|d| text.get(range(d.span)))
                    .map(|d| format!(" = {d}"))
                    .unwrap_or_default();
                format!("{}: {}{default}", p.name.name, p.ty.name)
            })
            .collect();
        out.push(TemplateInfo {
            name: t.name.name.clone(),
            signature: format!("{}({})", t.name.name, params.join(", ")),
            doc: crate::stdlib::doc_comment(text, t.span.start as usize),
            def: Some((path.clone(), range(t.name.span), text.to_string())),
            module: module.clone(),
        });
    }
}

fn sym(kind: SymKind, ident: &ast::Ident) -> Sym {
    Sym {
        kind,
        name: ident.name.clone(),
        range: range(ident.span),
    }
}

fn collect_syms(file: &ast::File) -> Vec<Sym> {
    let mut out = Vec::new();
    let mut wf = 0;
    for item in &file.items {
        match item {
            Item::Import(i) => out.push(Sym {
                kind: SymKind::Import,
                name: i.path.as_plain().unwrap_or_default(),
                range: range(i.path.span),
            }),
            Item::Inventory(InventoryDecl::Inline(b)) => {
                for m in &b.members {
                    match m {
                        InventoryMember::Host { name, attrs, .. } => {
                            out.push(sym(SymKind::HostDef, name));
                            attr_syms(attrs, None, &[], &mut out);
                        }
                        InventoryMember::Group { name, target, .. } => {
                            out.push(sym(SymKind::GroupDef, name));
                            target_syms(target, &mut out);
                        }
                        InventoryMember::Defaults { .. } => {}
                    }
                }
            }
            Item::Inventory(_) => {}
            Item::Template(t) => {
                out.push(sym(SymKind::TemplateDef, &t.name));
                attr_syms(&t.attrs, None, &[], &mut out);
            }
            Item::Workflow(w) => {
                let tasks: Vec<String> = w
                    .members
                    .iter()
                    .filter_map(|m| match m {
                        Member::Task(t) => Some(t.name.name.clone()),
                        _ => None,
                    })
                    .collect();
                for m in &w.members {
                    member_syms(m, wf, &tasks, &mut out);
                }
                wf += 1;
            }
        }
    }
    out
}

fn member_syms(m: &Member, wf: usize, tasks: &[String], out: &mut Vec<Sym>) {
    match m {
        Member::Task(t) => {
            out.push(sym(SymKind::TaskDef(wf), &t.name));
            target_syms(&t.target, out);
            for a in &t.after {
                out.push(sym(SymKind::TaskRef(wf), a));
            }
            if let Some(c) = &t.when {
                cond_syms(c, wf, tasks, out);
            }
            attr_syms(&t.attrs, Some(wf), tasks, out);
        }
        Member::Window { target, spec, .. } => {
            target_syms(target, out);
            out.push(Sym {
                kind: SymKind::WindowSpec,
                name: spec.as_plain().unwrap_or_default(),
                range: range(spec.span),
            });
        }
        Member::Rollout(r) => {
            for w in &r.waves {
                target_syms(&w.target, out);
            }
            if let Some(s) = &r.sizes {
                target_syms(&s.of, out);
            }
            attr_syms(&r.attrs, Some(wf), tasks, out);
        }
        Member::Verify(v) => attr_syms(&v.attrs, Some(wf), tasks, out),
        _ => {}
    }
}

/// Names inside attribute values: tasks (`before`, `after`, `verify`), targets (`across`,
/// `jump`), template uses, and interpolations.
fn attr_syms(attrs: &[ast::Attr], wf: Option<usize>, tasks: &[String], out: &mut Vec<Sym>) {
    for a in attrs {
        let key = a.key.name.as_str();
        match (&a.value.kind, key, wf) {
            (ValueKind::Name(n), "before" | "after", Some(wf)) => {
                out.push(sym(SymKind::TaskRef(wf), n));
            }
            (ValueKind::List(xs), "verify", Some(wf)) => {
                for x in xs {
                    if let ValueKind::Name(n) = &x.kind {
                        out.push(sym(SymKind::TaskRef(wf), n));
                    }
                }
            }
            (ValueKind::Name(n), "across" | "jump", _) => out.push(sym(SymKind::Target, n)),
            (ValueKind::Target(t), "across", _) => target_syms(t, out),
            (ValueKind::Call { name, .. }, "use", _) => out.push(sym(SymKind::TemplateRef, name)),
            (ValueKind::Str(s), _, _) => str_syms(s, wf, tasks, out),
            _ => {}
        }
    }
}

fn str_syms(s: &StrLit, wf: Option<usize>, tasks: &[String], out: &mut Vec<Sym>) {
    for p in &s.parts {
        if let StrPart::Interp { path, .. } = p {
            path_syms(path, wf, tasks, out);
        }
    }
}

fn path_syms(path: &ast::Path, wf: Option<usize>, tasks: &[String], out: &mut Vec<Sym>) {
    let Some(first) = path.segments.first() else {
        return;
    };
    if first.name == "host" {
        if let Some(attr) = path.segments.get(1) {
            out.push(sym(SymKind::HostAttr, attr));
        }
    } else if let Some(wf) = wf.filter(|_| tasks.contains(&first.name)) {
        out.push(sym(SymKind::TaskRef(wf), first));
    }
}

fn cond_syms(c: &ast::Cond, wf: usize, tasks: &[String], out: &mut Vec<Sym>) {
    let operand = |o: &Operand, out: &mut Vec<Sym>| {
        if let Operand::Path(p) = o {
            path_syms(p, Some(wf), tasks, out);
        }
    };
    match &c.kind {
        CondKind::Or(a, b) | CondKind::And(a, b) => {
            cond_syms(a, wf, tasks, out);
            cond_syms(b, wf, tasks, out);
        }
        CondKind::Not(a) => cond_syms(a, wf, tasks, out),
        CondKind::Compare { lhs, rhs, .. } | CondKind::Contains { lhs, rhs } => {
            operand(lhs, out);
            operand(rhs, out);
        }
        CondKind::Match { lhs, .. } => operand(lhs, out),
        CondKind::Operand(o) => operand(o, out),
    }
}

fn target_syms(t: &ast::Target, out: &mut Vec<Sym>) {
    match &t.kind {
        TargetKind::Name(n) => out.push(sym(SymKind::Target, n)),
        TargetKind::List(xs) => xs.iter().for_each(|x| target_syms(x, out)),
        TargetKind::Except(a, b) => {
            target_syms(a, out);
            target_syms(b, out);
        }
        TargetKind::Where { base, .. } => target_syms(base, out),
        TargetKind::All | TargetKind::Glob(_) => {}
    }
}
