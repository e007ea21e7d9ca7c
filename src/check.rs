//! Checking: parsed files → the typed, resolved [`Program`], with every problem found in one
//! pass as diagnostics sorted by position. [`check_file`] is the front end's entry point: it
//! reads the file, its imports (`std/…` from the embedded `stdlib/`, or relative paths) and
//! its inventory (inline, `inventory "FILE"`, or `--inventory`), then [`check_program`]
//! resolves and type-checks without IO.
//!
//! # Language decisions and extensions (for the language reference)
//!
//! Where the contract is silent, the checker decides as follows.
//!
//! - **Programs.** Each file given to `sflow check` is its own program: its imports, its
//!   inventory. An imported file contributes its templates (and its own imports) only.
//!   `import "std/NAME"` reads the embedded `stdlib/NAME.sflow` (`std/apt`, `std/systemd`).
//! - **Strings.** Triple-quoted strings have the escapes and `${...}` of plain strings; the
//!   first line break after `"""`, the blank indentation before the closing `"""` and the
//!   indentation common to all non-blank lines are removed.
//! - **Interpolation** `${x}` reads a `param`, a capture, `host.ATTR` (`host.name` is the
//!   host's name) or `TASK.FIELD` (`ok failed skipped exit stdout stderr`). Captures and task
//!   fields obey the `when` rule: only ancestors on the same host. A secret is never
//!   interpolated (E0030): it reaches a command through `stdin = SECRET`.
//! - **Conditions.** `.int` reads an integer from a string (whitespace trimmed). Comparisons
//!   need the same type on both sides; `< <= > >=` only order ints, durations, percents.
//! - **Params** have the types `string`, `int`, `bool`, `duration`, `percent`.
//! - **Templates.** `use = NAME(args)` (or `use = NAME` without arguments). The template's
//!   attributes are defaults: the task's own attributes override them. Arguments are bound at
//!   check time: a `${p}` site gets the value shell-quoted, `${raw p}` as is; an attribute
//!   whose value is the bare name `p` gets the argument value. `run` and `use` together are an
//!   error.
//! - **Blocks.** Attributes may be separated by commas; maps `{ k = v }` take host names and
//!   identifiers as keys.
//! - **Inventory.** A name in a group that is neither a group nor a declared host becomes a
//!   host with the defaults, unless it is one typo away from a group name (then E0009). A name
//!   that is both a group and a host is an error. Non-string attribute values (ints, bools)
//!   are kept as text for `where` and `host.ATTR`; `where name == "x"` filters on host names.
//!   `inventory "FILE"` reads `.sflow` files; other formats and `inventory command(...)` are
//!   reported as not supported yet (E0008).
//! - **Windows.** Every declared window counts for coverage even when its spec is wrong. A
//!   task can never fit (E0027) when `max(estimate, cutoff)` exceeds the longest occurrence
//!   of its host's window set (all covering windows intersected, blackouts removed) over the
//!   next 400 days. `cutoff` defaults to 0, `on_expire` to `"finish"`.
//! - **Rollout.** Waves hold only hosts some task targets; a named wave holding none is E0020.
//!   `waves = [...] of TARGET` sizes are cumulative (counts and percentages must each grow,
//!   the last must cover the whole target); a size that adds no host for the fleet at hand
//!   (10% of 7 hosts after 1) makes no wave; the waves are named `wave1`, `wave2`... by
//!   position in the list. Extension: `max_failures_total = N | P%` is a run-wide failure
//!   budget (count, or percent of every targeted host) that halts the run whatever the wave
//!   ([`crate::program::Rollout::failure_budget`]). `max_failures` defaults to 0.
//! - **Verify.** A block applies to the hosts of its `before`/`after` tasks (every targeted
//!   host when it names neither). `before` must run before `after` on every host both
//!   target: through `after` dependencies or, with `per_host = 1`, by the per-host order
//!   ([`crate::program::host_order`]). Each `expect` needs `change`.
//! - **Notify.** `on` takes `"started" "wave_done" "failed" "rollback" "deferred" "done"`
//!   (default failed, rollback, done).
//! - **Credentials** (E0028): a `-----BEGIN ... PRIVATE KEY` block, a `NAME=value` where NAME
//!   contains password/passwd/passphrase/secret/token/api_key/private_key and value is a
//!   literal (not `$VAR`), or an attribute or env key with such a name holding a literal.

pub mod credentials;
mod expr;
mod load;
mod rollout;
mod task;
mod values;
mod verify;
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
    /// Already resolved (Ansible INI/YAML/JSON, and later dynamic inventories).
    Resolved(Inventory),
    /// Declared but unusable, already reported (unreadable file, errors in it): targets are
    /// not resolved and no further inventory error is reported.
    Broken,
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
    let broken = matches!(inventory, InventoryInput::Broken);
    let inv = match inventory {
        InventoryInput::Missing | InventoryInput::Broken => Inventory::default(),
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
    resolver.quiet = missing || broken;
    let mut out = Vec::new();
    for w in picked {
        if missing && w.members.iter().any(|m| matches!(m, ast::Member::Task(_))) {
            diags.push(
                Diagnostic::new(Code::E0008, w.name.span, format!("workflow `{}` has tasks but no inventory", w.name.name))
                    .with_label("its targets cannot be resolved")
                    .with_help("add `inventory \"hosts.sflow\"` or an `inventory { ... }` block, or pass `--inventory FILE`"),
            );
        }
        let mut c =
            workflow::WfChecker::new(&inv, &resolver, &tmap, opts, missing || broken, diags);
        out.push(c.workflow(w));
    }
    Program {
        inventory: inv,
        workflows: out,
    }
}
