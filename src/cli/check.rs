//! `sflow check FILE… [--inventory F] [--workflow NAME] [--format human|json]
//! [--deny-warnings]`: runs the front end on each file and reports its diagnostics, as
//! miette's graphical report on stderr or as one JSON document on stdout.

use super::exit;
use crate::check::{self, CheckOptions, Disk};
use crate::diagnostic::{self, render, Severity};
use crate::span::SourceMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format of `sflow check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// miette's graphical report on stderr.
    Human,
    /// One JSON document on stdout.
    Json,
}

/// Arguments of `sflow check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The `.sflow` files to check (each is its own program, with its imports and inventory).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Inventory file replacing the one the files declare.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Check only this workflow.
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// Runs `sflow check`.
pub fn run(args: &CheckArgs) -> ExitCode {
    if let Some(inv) = &args.inventory {
        if let Err(e) = std::fs::metadata(inv) {
            eprintln!(
                "error: cannot read inventory `{}`: {}",
                inv.display(),
                e.to_string().to_lowercase()
            );
            return ExitCode::from(exit::USAGE);
        }
    }
    let opts = CheckOptions {
        inventory: args.inventory.clone(),
        workflow: args.workflow.clone(),
        now: chrono::Utc::now(),
    };
    let mut sources = SourceMap::new();
    let mut diags = Vec::new();
    for f in &args.files {
        match check::check_file(&mut sources, f, &Disk, &opts) {
            Ok(out) => diags.extend(out.diagnostics),
            Err(e) => {
                eprintln!(
                    "error: cannot read `{}`: {}",
                    f.display(),
                    e.to_string().to_lowercase()
                );
                return ExitCode::from(exit::USAGE);
            }
        }
    }
    // A file shared by several programs (an inventory) would report its problems once each.
    diagnostic::sort(&mut diags);
    let errors = diags
        .iter()
        .filter(|d| d.severity() == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    let files: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
    match args.format {
        Format::Json => {
            let doc = render::to_json(&files, &diags, &sources);
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            );
        }
        Format::Human => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let text = render::render_human(&diags, &sources, color);
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{text}");
            let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
            let _ = writeln!(
                err,
                "checked {}: {}, {}",
                plural(files.len(), "file"),
                plural(errors, "error"),
                plural(warnings, "warning")
            );
        }
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        ExitCode::from(exit::FAILED)
    } else {
        ExitCode::from(exit::OK)
    }
}
