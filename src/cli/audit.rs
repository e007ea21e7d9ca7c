//! `sflow audit verify [FILE]`: checks an audit log's hash chain and head, prints the first
//! broken record, and turns the outcome into an exit code.

use crate::audit;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use super::exit;

/// Arguments of `sflow audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// Subcommands of `sflow audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify an audit log's hash chain; exits non-zero at the first broken record
    Verify {
        /// The log (default: .sflow/audit.jsonl)
        file: Option<PathBuf>,
    },
}

/// Runs `sflow audit`.
pub fn run(args: &AuditArgs) -> ExitCode {
    match &args.command {
        AuditCommand::Verify { file } => {
            let path = file
                .clone()
                .unwrap_or_else(|| PathBuf::from(audit::DEFAULT_PATH));
            match audit::verify(&path) {
                Ok(report) => {
                    for w in &report.warnings {
                        eprintln!("warning: {w}");
                    }
                    match report.problem {
                        None => {
                            println!(
                                "{}: {} records, chain intact",
                                path.display(),
                                report.records
                            );
                            ExitCode::from(exit::OK)
                        }
                        Some(p) => {
                            eprintln!(
                                "error: {}: line {}: {} ({} intact records before it)",
                                path.display(),
                                p.line,
                                p.kind,
                                report.records
                            );
                            ExitCode::from(exit::FAILED)
                        }
                    }
                }
                Err(e) => {
                    eprintln!("{:?}", miette::Report::new(e));
                    ExitCode::from(exit::USAGE)
                }
            }
        }
    }
}
