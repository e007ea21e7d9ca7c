//! `sflow runs`, `sflow show RUN` and `sflow log RUN`: read the run store and print the run
//! list, one run's report, or its commands with their outputs.

use crate::store::{self, RunStore as _, ShowFormat, SqliteStore, StoreError, StoreOptions};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::exit;

/// Where the run store is, for every command that reads or writes it.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The run store (default: $SFLOW_STATE, else .sflow/state.db beside the workflow, or in
    /// the current directory)
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
}

impl StateArgs {
    /// The store path these arguments choose, for a workflow file if there is one.
    pub fn path(&self, workflow: Option<&Path>) -> PathBuf {
        store::store_path(self.state.as_deref(), workflow)
    }
}

/// Arguments of `sflow runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// Output format
    #[arg(long, value_enum, default_value = "human")]
    pub format: ShowFormat,
    /// Show at most this many runs, newest first
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Arguments of `sflow show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run's id, or a unique prefix of it
    pub run: String,
    #[command(flatten)]
    pub state: StateArgs,
    /// Only this host
    #[arg(long)]
    pub host: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "human")]
    pub format: ShowFormat,
}

/// Arguments of `sflow log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The run's id, or a unique prefix of it
    pub run: String,
    #[command(flatten)]
    pub state: StateArgs,
    /// Only this host
    #[arg(long)]
    pub host: Option<String>,
    /// Only this task
    #[arg(long)]
    pub task: Option<String>,
}

fn open_existing(state: &StateArgs) -> Result<SqliteStore, StoreError> {
    let opts = StoreOptions {
        create: false,
        ..StoreOptions::default()
    };
    SqliteStore::open(&state.path(None), &opts)
}

fn report(result: Result<String, StoreError>) -> ExitCode {
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::from(exit::USAGE)
        }
    }
}

/// Runs `sflow runs`.
pub fn runs(args: &RunsArgs) -> ExitCode {
    report(open_existing(&args.state).and_then(|s| {
        let runs = s.runs(args.limit)?;
        Ok(store::render_runs(&runs, args.format))
    }))
}

/// Runs `sflow show`.
pub fn show(args: &ShowArgs) -> ExitCode {
    report(open_existing(&args.state).and_then(|s| {
        let id = s.resolve(&args.run)?;
        let detail = s.show(&id)?;
        Ok(store::render_show(
            &detail,
            args.host.as_deref(),
            args.format,
        ))
    }))
}

/// Runs `sflow log`.
pub fn log(args: &LogArgs) -> ExitCode {
    report(open_existing(&args.state).and_then(|s| {
        let id = s.resolve(&args.run)?;
        let entries = s.log(&id, args.host.as_deref(), args.task.as_deref())?;
        Ok(store::render_log(&entries))
    }))
}
