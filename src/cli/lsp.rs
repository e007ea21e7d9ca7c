//! `sflow lsp`: runs the language server on stdin/stdout (see [`crate::lsp`]).

use super::exit;
use std::process::ExitCode;

/// Arguments of `sflow lsp`.
#[derive(Debug, clap::Args)]
pub struct LspArgs {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

/// Runs `sflow lsp` until the editor sends `exit`.
pub fn run(_args: &LspArgs) -> ExitCode {
    match crate::lsp::run_stdio() {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}
