//! The command line: argument parsing (clap) and one function per subcommand; the only place
//! where `miette::Report` and process exit codes appear.

use clap::{Parser, Subcommand};

pub mod audit;
pub mod check;
pub mod explain;
pub mod fmt;
pub mod inventory;
pub mod journal;
pub mod lsp;
pub mod plan;
pub mod resume;
pub mod run;
pub mod verify;
pub mod windows;
use std::process::ExitCode;

/// Exit codes shared by every subcommand (documented in README.md).
pub mod exit {
    /// Everything went as asked.
    pub const OK: u8 = 0;
    /// The input had errors (check), or some hosts failed (run).
    pub const FAILED: u8 = 1;
    /// Usage or IO error: bad flags, unreadable files.
    pub const USAGE: u8 = 2;
}

#[derive(Debug, Parser)]
#[command(
    name = "sflow",
    version,
    about = "Agentless fleet maintenance workflows over SSH"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check workflows: parse, resolve and type-check, report every problem.
    Check(check::CheckArgs),
    /// Rewrite files in the canonical layout (`--check`: only report the ones that differ).
    Fmt(fmt::FmtArgs),
    /// Explain a diagnostic code, with an example.
    Explain(explain::ExplainArgs),
    /// Print the hosts, attributes and groups an inventory resolves to.
    Inventory(inventory::InventoryArgs),
    /// Run the language server on stdio (for editors).
    Lsp(lsp::LspArgs),
    /// Check the audit log
    Audit(audit::AuditArgs),
    /// List recorded runs
    Runs(journal::RunsArgs),
    /// Show one run's report
    Show(journal::ShowArgs),
    /// Show the commands of a run and their outputs
    Log(journal::LogArgs),
    /// Continue an interrupted, halted, deferred or crashed run
    Resume(Box<resume::ResumeArgs>),
    /// Show the execution plan: waves, windows, tasks per host, limits and a forecast.
    Plan(plan::PlanArgs),
    /// Run a workflow (or a saved plan): waves, windows, limits, gates, rollback.
    Run(Box<run::RunArgs>),
    /// List the occurrences of a workflow's windows over the coming days.
    Windows(windows::WindowsArgs),
    /// Read-only audit: run only the verify captures, print values and drift across hosts.
    Verify(verify::VerifyArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Inventory(args) => inventory::run(&args),
        Command::Lsp(args) => lsp::run(&args),
        Command::Audit(args) => audit::run(&args),
        Command::Runs(args) => journal::runs(&args),
        Command::Show(args) => journal::show(&args),
        Command::Log(args) => journal::log(&args),
        Command::Resume(args) => resume::run(&args),
        Command::Plan(args) => plan::run(args),
        Command::Run(args) => run::run(*args),
        Command::Windows(args) => windows::run(args),
        Command::Verify(args) => verify::run(&args),
    }
}
