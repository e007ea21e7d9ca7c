//! `sflow plan`: check a workflow, lower it into a plan, forecast it from `--at`, and print it
//! as text, markdown, JSON or DOT (`-o` also writes the JSON plan for `sflow run`).

use crate::check::{self, CheckOptions, Disk};
use crate::diagnostic;
use crate::plan::{self, forecast::forecast, render, Plan, PlanError};
use crate::program::Program;
use crate::span::SourceMap;
use crate::window::WindowSet;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `sflow plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The workflow file.
    pub file: PathBuf,
    /// Inventory file (overrides the one the workflow names).
    #[arg(long)]
    pub inventory: Option<PathBuf>,
    /// The workflow, when the file holds several.
    #[arg(long)]
    pub workflow: Option<String>,
    /// A param value, `NAME=VALUE` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// The instant the forecast starts from (RFC 3339 or a date); default now.
    #[arg(long)]
    pub at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Also write the plan as JSON to this file (for `sflow run`).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Output formats of `sflow plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For a reviewer's terminal.
    Text,
    /// A pull-request comment.
    Markdown,
    /// The plan itself.
    Json,
    /// The task graph for Graphviz.
    Dot,
}

/// Prints a plan error the way every subcommand prints errors; returns the exit code.
pub(crate) fn report_error(e: PlanError) -> ExitCode {
    eprintln!("{:?}", miette::Report::new(e));
    ExitCode::from(super::exit::FAILED)
}

/// Window sets of the plan that never open again from `at`, with the hosts they hold back.
pub fn closed_for_good(plan: &Plan, at: DateTime<Utc>) -> Vec<(usize, Vec<u32>)> {
    plan.windows
        .sets
        .iter()
        .enumerate()
        .filter(|(_, set)| !WindowSet::can_ever_open(set, at))
        .map(|(i, _)| {
            let hosts = plan
                .waves
                .iter()
                .flat_map(|w| &w.hosts)
                .filter(|h| h.window as usize == i)
                .map(|h| h.host)
                .collect();
            (i, hosts)
        })
        .filter(|(_, hosts): &(usize, Vec<u32>)| !hosts.is_empty())
        .collect()
}

/// Runs `sflow plan`.
pub fn run(args: PlanArgs) -> ExitCode {
    let at = match args.at.as_deref().map(super::windows::parse_instant) {
        None => Utc::now(),
        Some(Some(t)) => t,
        Some(None) => {
            eprintln!("error: `--at` wants an RFC 3339 instant such as 2026-11-28T12:00:00Z");
            return ExitCode::from(super::exit::USAGE);
        }
    };
    let params = match args
        .params
        .iter()
        .map(|p| plan::parse_param(p))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return ExitCode::from(super::exit::USAGE);
        }
    };
    let program = match load(
        &args.file,
        args.inventory.as_deref(),
        args.workflow.as_deref(),
        at,
    ) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let plan = match plan::lower(&program, args.workflow.as_deref(), &params) {
        Ok(p) => p,
        Err(e) => return report_error(e),
    };
    let closed = closed_for_good(&plan, at);
    if !closed.is_empty() {
        for (set, hosts) in &closed {
            let specs: Vec<String> = plan.windows.sets[*set]
                .windows
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect();
            eprintln!(
                "error: the window {} of {} never opens again after {}",
                specs.join(" and "),
                render::host_names(&plan, hosts),
                at.format("%Y-%m-%d %H:%M UTC")
            );
        }
        eprintln!("help: update its one-off dates, or remove the window");
        return ExitCode::from(super::exit::FAILED);
    }
    if let Some(path) = &args.output {
        if let Err(e) = std::fs::write(path, plan.to_json() + "\n") {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(super::exit::USAGE);
        }
    }
    let out = match args.format {
        PlanFormat::Json => plan.to_json() + "\n",
        PlanFormat::Dot => render::dot(&plan),
        PlanFormat::Text => render::text(&plan, Some(&forecast(&plan, at))),
        PlanFormat::Markdown => render::markdown(&plan, Some(&forecast(&plan, at))),
    };
    print!("{out}");
    ExitCode::from(super::exit::OK)
}

/// Reads and checks `file` (with `inventory` when given, keeping only `workflow` when given)
/// into a program. Diagnostics go to stderr; on errors the exit code comes back instead.
pub(crate) fn load(
    file: &Path,
    inventory: Option<&Path>,
    workflow: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Program, ExitCode> {
    let opts = CheckOptions {
        inventory: inventory.map(Path::to_path_buf),
        workflow: workflow.map(str::to_string),
        now,
    };
    let mut sources = SourceMap::new();
    let outcome = match check::check_file(&mut sources, file, &Disk, &opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "error: cannot read `{}`: {}",
                file.display(),
                e.to_string().to_lowercase()
            );
            return Err(ExitCode::from(super::exit::USAGE));
        }
    };
    if !outcome.diagnostics.is_empty() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!(
            "{}",
            diagnostic::render::render_human(&outcome.diagnostics, &sources, color)
        );
    }
    outcome
        .program
        .ok_or_else(|| ExitCode::from(super::exit::FAILED))
}
