//! Checking: parsed files → the typed, resolved [`Program`], with every problem found in one
//! pass as diagnostics sorted by position. [`check_file`] is the front end's entry point: it
//! reads the file, its imports (`std/…` from the embedded `stdlib/`, or relative paths) and
//! its inventory (inline, `inventory "FILE"`, or `--inventory`), then [`check_program`]
//! resolves and type-checks without IO.

pub mod credentials;
mod expr;
mod load;
mod rollout;
mod task;
mod values;
mod workflow;

#[cfg(test)]
mod tests;

pub use load::{stdlib_module, Disk, FileSystem, MemoryFs, STDLIB};
pub use values::describe_value;

use crate::ast;
use crate::diagnostic::{self, did_you_mean, Code, Diagnostic, Severity};
use crate::inventory::{self, Resolver};
use crate::program::{Inventory, Program};
use crate::span::{FileId, SourceMap, Span};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Options of a check run.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// `--inventory FILE`: replaces the inventory the files declare.
    pub inventory: Option<PathBuf>,
    /// `--workflow NAME`: check (and keep in the program) only this workflow.
    pub workflow: Option<String>,
    /// The instant window fitting is computed from (the clock at the edge; fixed in tests).
    pub now: DateTime<Utc>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            inventory: None,
            workflow: None,
            now: Utc::now(),
        }
    }
}

/// The result of checking one file.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The program, when there is no error (warnings allowed).
    pub program: Option<Program>,
    /// Every problem, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .count()
    }
}

/// Where the inventory of a program comes from, once loaded.
#[derive(Debug, Clone)]
pub enum InventoryInput {
    /// None was declared or given.
    Missing,
    /// A `.sflow` inventory block (inline, or the block of an inventory file).
    Block(ast::InventoryBlock),
    /// Already resolved (future loaders: Ansible INI/YAML, dynamic inventories).
    Resolved(Inventory),
}

/// Reads, parses and checks the file at `path` with everything it names.
pub fn check_file(
    sources: &mut SourceMap,
    path: &Path,
    fs: &dyn FileSystem,
    opts: &CheckOptions,
) -> Result<Outcome, std::io::Error> {
    let text = fs.read(path)?;
    let id = sources.add(crate::span::SourceFile::new(
        path.display().to_string(),
        Some(path.to_path_buf()),
        text,
    ));
    Ok(check_loaded(sources, id, fs, opts))
}

/// Checks source text already in `sources` (relative paths resolve against its path, or the
/// current directory).
pub fn check_loaded(
    sources: &mut SourceMap,
    main: FileId,
    fs: &dyn FileSystem,
    opts: &CheckOptions,
) -> Outcome {
    let mut diags = Vec::new();
    let loaded = load::load(sources, main, fs, opts, &mut diags);
    let program = check_program(
        &loaded.main,
        &loaded.templates,
        loaded.inventory,
        opts,
        &mut diags,
    );
    diagnostic::sort(&mut diags);
    let has_errors = diags.iter().any(|d| d.severity() == Severity::Error);
    Outcome {
        program: (!has_errors).then_some(program),
        diagnostics: diags,
    }
}

/// Resolves and type-checks a parsed file (no IO). Always returns a program; it is only
/// meaningful when no error was pushed to `diags`.
pub fn check_program(
    main: &ast::File,
    templates: &[ast::Template],
    inventory: InventoryInput,
    opts: &CheckOptions,
    diags: &mut Vec<Diagnostic>,
) -> Program {
    let missing = matches!(inventory, InventoryInput::Missing);
    let inv = match inventory {
        InventoryInput::Missing => Inventory::default(),
        InventoryInput::Block(b) => inventory::build(&b, diags),
        InventoryInput::Resolved(i) => i,
    };
    let mut tmap: HashMap<&str, &ast::Template> = HashMap::new();
    for t in templates {
        if let Some(first) = tmap.get(t.name.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    Code::E0010,
                    t.name.span,
                    format!("template `{}` is declared twice", t.name.name),
                )
                .with_label("declared again here")
                .with_related(first.name.span, "first declared here"),
            );
            continue;
        }
        tmap.insert(&t.name.name, t);
        for a in &t.attrs {
            credentials::check_attr(a, Some(diags));
        }
    }
    let workflows: Vec<&ast::Workflow> = main
        .items
        .iter()
        .filter_map(|i| match i {
            ast::Item::Workflow(w) => Some(w),
            _ => None,
        })
        .collect();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for w in &workflows {
        if let Some(first) = seen.get(w.name.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    Code::E0010,
                    w.name.span,
                    format!("workflow `{}` is declared twice", w.name.name),
                )
                .with_label("declared again here")
                .with_related(*first, "first declared here"),
            );
        }
        seen.insert(&w.name.name, w.name.span);
    }
    let picked: Vec<&ast::Workflow> = match &opts.workflow {
        None => workflows.clone(),
        Some(name) => {
            let p: Vec<&ast::Workflow> = workflows
                .iter()
                .copied()
                .filter(|w| &w.name.name == name)
                .collect();
            if p.is_empty() {
                let span = workflows
                    .first()
                    .map_or(Span::new(main.file, 0, 0), |w| w.name.span);
                let help = did_you_mean(name, workflows.iter().map(|w| w.name.name.as_str()));
                diags.push(
                    Diagnostic::new(Code::E0031, span, format!("no workflow named `{name}`"))
                        .with_label("the file declares these workflows")
                        .with_help_opt(help),
                );
            }
            p
        }
    };
    let mut resolver = Resolver::new(&inv);
    resolver.quiet = missing;
    let mut out = Vec::new();
    for w in picked {
        if missing && w.members.iter().any(|m| matches!(m, ast::Member::Task(_))) {
            diags.push(
                Diagnostic::new(Code::E0008, w.name.span, format!("workflow `{}` has tasks but no inventory", w.name.name))
                    .with_label("its targets cannot be resolved")
                    .with_help("add `inventory \"hosts.sflow\"` or an `inventory { ... }` block, or pass `--inventory FILE`"),
            );
        }
        let mut c = workflow::WfChecker::new(&inv, &resolver, &tmap, opts, missing, diags);
        out.push(c.workflow(w));
    }
    Program {
        inventory: inv,
        workflows: out,
    }
}
