//! `sflow fmt [--check] FILE…`: rewrites `.sflow` files (directories: every `.sflow` file
//! under them) in the canonical layout of [`crate::fmt`]; with `--check`, writes nothing and
//! names on stdout the files that would change. A file with syntax errors is left alone and
//! its diagnostics go to stderr.

use super::exit;
use crate::diagnostic::render;
use crate::span::{SourceFile, SourceMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `sflow fmt`.
#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// The `.sflow` files to format; a directory stands for every `.sflow` file under it.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write nothing; exit 1 and name the files that are not formatted.
    #[arg(long)]
    pub check: bool,
}

/// Runs `sflow fmt`.
pub fn run(args: &FmtArgs) -> ExitCode {
    let mut files = Vec::new();
    for f in &args.files {
        if let Err(e) = collect(f, &mut files) {
            eprintln!(
                "error: cannot read `{}`: {}",
                f.display(),
                e.to_string().to_lowercase()
            );
            return ExitCode::from(exit::USAGE);
        }
    }
    let mut sources = SourceMap::new();
    let mut failed = false;
    let mut stdout = std::io::stdout().lock();
    for path in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "error: cannot read `{}`: {}",
                    path.display(),
                    e.to_string().to_lowercase()
                );
                return ExitCode::from(exit::USAGE);
            }
        };
        let id = sources.add(SourceFile::new(
            path.display().to_string(),
            Some(path.clone()),
            text.clone(),
        ));
        let formatted = match crate::fmt::format_file(id, &text) {
            Ok(f) => f,
            Err(diags) => {
                let color =
                    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                eprint!("{}", render::render_human(&diags, &sources, color));
                eprintln!(
                    "error: `{}` has syntax errors: not formatted",
                    path.display()
                );
                failed = true;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        if args.check {
            let _ = writeln!(stdout, "{}", path.display());
            failed = true;
        } else if let Err(e) = std::fs::write(&path, formatted) {
            eprintln!(
                "error: cannot write `{}`: {}",
                path.display(),
                e.to_string().to_lowercase()
            );
            return ExitCode::from(exit::USAGE);
        } else {
            let _ = writeln!(stdout, "formatted {}", path.display());
        }
    }
    ExitCode::from(if failed { exit::FAILED } else { exit::OK })
}

/// Adds `path` (a file) or every `.sflow` file under it (a directory), sorted, to `out`.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !std::fs::metadata(path)?.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect(&e, out)?;
        } else if e.extension().is_some_and(|x| x == "sflow") {
            out.push(e);
        }
    }
    Ok(())
}
