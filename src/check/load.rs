//! Loading: the files a program is made of. Parses the main file, follows its imports
//! (`import "std/NAME"` from the embedded `stdlib/`, or a path relative to the importing
//! file) and reads its inventory (inline, `inventory "FILE"` relative to the file, or the
//! `--inventory` override). File access goes through [`FileSystem`] so tests use memory.
//!
//! An imported file contributes its templates (and its own imports); workflows and
//! inventories in an imported file are not part of the importing program.

use super::{CheckOptions, InventoryInput};
use crate::ast::{self, InventoryDecl, Item};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, SourceFile, SourceMap, Span};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Read access to files.
pub trait FileSystem {
    /// The text of the file at `path`.
    fn read(&self, path: &Path) -> std::io::Result<String>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disk;

impl FileSystem for Disk {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Files in memory, for tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryFs(pub HashMap<PathBuf, String>);

impl FileSystem for MemoryFs {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }
}

/// The standard library, embedded in the binary: `(import name, source)`.
pub const STDLIB: &[(&str, &str)] = &[
    ("std/apt", include_str!("../../stdlib/apt.sflow")),
    ("std/systemd", include_str!("../../stdlib/systemd.sflow")),
];

/// The source of the stdlib module `name` (`std/apt`).
pub fn stdlib_module(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".sflow").unwrap_or(name);
    STDLIB.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// A program's files, parsed.
pub struct Loaded {
    pub main: ast::File,
    pub templates: Vec<ast::Template>,
    pub inventory: InventoryInput,
}

fn dir_of(sources: &SourceMap, id: FileId) -> PathBuf {
    sources
        .get(id)
        .path
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The display name of `rel` named from the file `from`: relative to that file's display
/// name, so that messages show paths the way the user wrote them (never the machine's
/// absolute path unless the user gave one).
fn display_join(sources: &SourceMap, from: FileId, rel: &str) -> String {
    let base = Path::new(&sources.get(from).name)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    base.join(rel)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect::<PathBuf>()
        .display()
        .to_string()
}

fn parse(sources: &SourceMap, id: FileId, diags: &mut Vec<Diagnostic>) -> ast::File {
    let (file, d) = crate::syntax::parse(id, &sources.get(id).text);
    diags.extend(d);
    file
}

/// Reads `path` into `sources` (once per path) and parses it.
fn read_file(
    sources: &mut SourceMap,
    fs: &dyn FileSystem,
    path: &Path,
    shown: &str,
    at: Span,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<FileId> {
    if let Some(id) = sources.find_path(path) {
        return Some(id);
    }
    match fs.read(path) {
        Ok(text) => Some(sources.add(SourceFile::new(shown, Some(path.to_path_buf()), text))),
        Err(e) => {
            diags.push(
                Diagnostic::new(Code::E0007, at, format!("cannot read {what} `{shown}`"))
                    .with_label(e.to_string().to_lowercase())
                    .with_help("paths are relative to the file that names them"),
            );
            None
        }
    }
}

pub fn load(
    sources: &mut SourceMap,
    main: FileId,
    fs: &dyn FileSystem,
    opts: &CheckOptions,
    diags: &mut Vec<Diagnostic>,
) -> Loaded {
    let file = parse(sources, main, diags);
    let mut templates = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: Vec<(FileId, ast::File)> = Vec::new();
    collect(&file, &mut templates);
    for i in &file.items {
        if let Item::Import(imp) = i {
            import(sources, fs, main, imp, &mut seen, &mut queue, diags);
        }
    }
    while let Some((id, f)) = queue.pop() {
        collect(&f, &mut templates);
        for i in &f.items {
            if let Item::Import(imp) = i {
                import(sources, fs, id, imp, &mut seen, &mut queue, diags);
            }
        }
    }
    let inventory = inventory(sources, fs, main, &file, opts, diags);
    Loaded {
        main: file,
        templates,
        inventory,
    }
}

fn collect(f: &ast::File, out: &mut Vec<ast::Template>) {
    for i in &f.items {
        if let Item::Template(t) = i {
            out.push(t.clone());
        }
    }
}

fn import(
    sources: &mut SourceMap,
    fs: &dyn FileSystem,
    from: FileId,
    imp: &ast::Import,
    seen: &mut HashSet<String>,
    queue: &mut Vec<(FileId, ast::File)>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(name) = imp.path.as_plain() else {
        diags.push(
            Diagnostic::new(
                Code::E0005,
                imp.path.span,
                "an import path cannot interpolate",
            )
            .with_label("must be a constant"),
        );
        return;
    };
    if let Some(module) = name.strip_prefix("std/") {
        if !seen.insert(name.clone()) {
            return;
        }
        match stdlib_module(&name) {
            Some(text) => {
                let id = sources.add(SourceFile::new(format!("std/{module}"), None, text));
                let f = parse(sources, id, diags);
                queue.push((id, f));
            }
            None => {
                let known: Vec<&str> = STDLIB.iter().map(|(n, _)| *n).collect();
                diags.push(
                    Diagnostic::new(
                        Code::E0007,
                        imp.path.span,
                        format!("no standard module `{name}`"),
                    )
                    .with_label("not in the standard library")
                    .with_help_opt(
                        crate::diagnostic::did_you_mean(&name, known.iter().copied())
                            .or_else(|| Some(format!("modules: {}", known.join(", ")))),
                    ),
                );
            }
        }
        return;
    }
    let path = dir_of(sources, from).join(&name);
    if !seen.insert(path.display().to_string()) {
        return;
    }
    if let Some(id) = read_file(
        sources,
        fs,
        &path,
        &display_join(sources, from, &name),
        imp.path.span,
        "import",
        diags,
    ) {
        let f = parse(sources, id, diags);
        queue.push((id, f));
    }
}

fn inventory(
    sources: &mut SourceMap,
    fs: &dyn FileSystem,
    main: FileId,
    file: &ast::File,
    opts: &CheckOptions,
    diags: &mut Vec<Diagnostic>,
) -> InventoryInput {
    if let Some(path) = &opts.inventory {
        let at = Span::new(main, 0, 0);
        return match read_file(
            sources,
            fs,
            path,
            &path.display().to_string(),
            at,
            "inventory",
            diags,
        ) {
            Some(id) => inventory_any(sources, id, at, diags),
            None => InventoryInput::Broken,
        };
    }
    let decls: Vec<&InventoryDecl> = file
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Inventory(d) => Some(d),
            _ => None,
        })
        .collect();
    let span_of = |d: &InventoryDecl| match d {
        InventoryDecl::Inline(b) => b.span,
        InventoryDecl::File { span, .. } | InventoryDecl::Command { span, .. } => *span,
    };
    for extra in decls.iter().skip(1) {
        diags.push(
            Diagnostic::new(Code::E0008, span_of(extra), "a second inventory")
                .with_label("only one inventory per program")
                .with_related(span_of(decls[0]), "the first inventory"),
        );
    }
    match decls.first() {
        None => InventoryInput::Missing,
        Some(InventoryDecl::Inline(b)) => InventoryInput::Block(b.clone()),
        Some(InventoryDecl::File { path, span }) => {
            let Some(name) = path.as_plain() else {
                diags.push(
                    Diagnostic::new(
                        Code::E0005,
                        path.span,
                        "an inventory path cannot interpolate",
                    )
                    .with_label("must be a constant"),
                );
                return InventoryInput::Broken;
            };
            let full = dir_of(sources, main).join(&name);
            let shown = display_join(sources, main, &name);
            match read_file(sources, fs, &full, &shown, path.span, "inventory", diags) {
                Some(id) => inventory_any(sources, id, *span, diags),
                None => InventoryInput::Broken,
            }
        }
        Some(InventoryDecl::Command { span, .. }) => {
            diags.push(
                Diagnostic::new(
                    Code::E0008,
                    *span,
                    "dynamic inventories are not supported yet",
                )
                .with_label("`inventory command(...)` is planned")
                .with_help(
                    "write the hosts in an `inventory { ... }` block or a `.sflow` inventory file",
                ),
            );
            InventoryInput::Broken
        }
    }
}

/// The inventory of a file: a `.sflow` file's `inventory { ... }` block, or an Ansible
/// inventory (INI, YAML, or `--list` JSON; chosen by extension, else by content) read by
/// [`crate::inventory_ansible`].
fn inventory_any(
    sources: &SourceMap,
    id: FileId,
    at: Span,
    diags: &mut Vec<Diagnostic>,
) -> InventoryInput {
    let f = sources.get(id);
    if f.name.ends_with(".sflow") {
        return inventory_file(sources, id, at, diags);
    }
    match crate::inventory_ansible::parse_file(&f.name, &f.text) {
        Ok(inv) => {
            for w in &inv.warnings {
                diags.push(
                    Diagnostic::new(
                        Code::W0004,
                        Span::new(id, w.range.start, w.range.end),
                        w.kind.to_string(),
                    )
                    .with_label(w.kind.code())
                    .with_help_opt(w.kind.help().map(str::to_owned)),
                );
            }
            InventoryInput::Resolved(crate::inventory::from_ansible(&inv, id, diags))
        }
        Err(errors) => {
            for e in errors {
                diags.push(
                    Diagnostic::new(
                        Code::E0032,
                        Span::new(id, e.range.start, e.range.end),
                        e.kind.to_string(),
                    )
                    .with_label(e.kind.code())
                    .with_help_opt(e.kind.help().map(str::to_owned)),
                );
            }
            InventoryInput::Broken
        }
    }
}

/// The inventory block of a `.sflow` inventory file.
fn inventory_file(
    sources: &SourceMap,
    id: FileId,
    at: Span,
    diags: &mut Vec<Diagnostic>,
) -> InventoryInput {
    let f = parse(sources, id, diags);
    let block = f.items.into_iter().find_map(|i| match i {
        Item::Inventory(InventoryDecl::Inline(b)) => Some(b),
        _ => None,
    });
    match block {
        Some(b) => InventoryInput::Block(b),
        None => {
            diags.push(
                Diagnostic::new(
                    Code::E0008,
                    at,
                    format!(
                        "`{}` has no `inventory {{ ... }}` block",
                        sources.get(id).name
                    ),
                )
                .with_label("named as the inventory here"),
            );
            InventoryInput::Broken
        }
    }
}
