//! `sflow explain CODE`: prints the long explanation of a diagnostic code with an example,
//! like `rustc --explain`; without a code, lists every code with its title.

use super::exit;
use crate::diagnostic::codes::{lookup, Code};
use std::process::ExitCode;

/// Arguments of `sflow explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The code, e.g. E0009 (omit to list every code).
    pub code: Option<String>,
}

/// Runs `sflow explain`.
pub fn run(args: &ExplainArgs) -> ExitCode {
    let Some(name) = &args.code else {
        for c in Code::ALL {
            println!("{}  {}", c.as_str(), c.title());
        }
        return ExitCode::from(exit::OK);
    };
    match lookup(name) {
        Some(c) => {
            println!(
                "{} ({}): {}\n\n{}",
                c.as_str(),
                c.severity().as_str(),
                c.title(),
                c.explanation()
            );
            ExitCode::from(exit::OK)
        }
        None => {
            eprintln!("error: no diagnostic code `{name}`; `sflow explain` lists them");
            ExitCode::from(exit::USAGE)
        }
    }
}
