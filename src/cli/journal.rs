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

/// Where a run session journals (`sflow run`, `sflow resume`): the run store and the audit
/// log.
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// The audit log (default: $SFLOW_AUDIT, else the run's own on resume, else
    /// .sflow/audit.jsonl beside the workflow)
    #[arg(long, value_name = "PATH")]
    pub audit: Option<PathBuf>,
}

/// The environment variable choosing the audit log when `--audit` is not given.
pub const AUDIT_ENV: &str = "SFLOW_AUDIT";

impl SessionArgs {
    /// The store path these arguments choose, for a workflow file if there is one.
    pub fn path(&self, workflow: Option<&Path>) -> PathBuf {
        self.state.path(workflow)
    }

    /// The audit log `--audit` or `$SFLOW_AUDIT` chooses, if any.
    pub fn audit_override(&self) -> Option<PathBuf> {
        self.audit.clone().or_else(|| {
            std::env::var_os(AUDIT_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
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
        let mut detail = s.show(&id)?;
        // JSON keeps the report in its event; text forms get it as a section of its own.
        let verification = match args.format {
            ShowFormat::Json => None,
            _ => super::verify::take_report(&mut detail),
        };
        let mut text = store::render_show(&detail, args.host.as_deref(), args.format);
        text.push_str(&super::verify::show_section(
            verification,
            args.host.as_deref(),
            args.format,
        ));
        Ok(text)
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

/// Reads a sealed plan for `sflow run plan.json`, refusing edited content and, when an
/// inventory is given, an inventory that differs from the plan's hosts.
pub(crate) fn sealed_plan(
    text: &str,
    inventory: Option<&Path>,
) -> Result<crate::plan::Plan, ExitCode> {
    let fail = |e: crate::seal::SealError| {
        eprintln!("{:?}", miette::Report::new(e));
        ExitCode::from(exit::USAGE)
    };
    let plan = crate::seal::load(text).map_err(fail)?;
    if let Some(inv) = inventory {
        let program = super::plan::load(inv, None, None, chrono::Utc::now())?;
        crate::seal::check_inventory(&plan, &program.inventory).map_err(fail)?;
    }
    Ok(plan)
}

/// The audit log of a workflow: `.sflow/audit.jsonl` beside it.
pub(crate) fn audit_path(workflow: &Path) -> PathBuf {
    workflow
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(crate::audit::DEFAULT_PATH)
}

/// A redactor for the run's secret values.
pub(crate) fn redactor(
    secrets: &std::collections::BTreeMap<String, String>,
) -> crate::secret::Redactor {
    let held: Vec<crate::secret::Secret> = secrets
        .iter()
        .map(|(k, v)| crate::secret::Secret::new(k.clone(), v.clone()))
        .collect();
    crate::secret::Redactor::new(&held)
}

/// The plan's parameters as strings, for the store.
fn params(plan: &crate::plan::Plan) -> std::collections::BTreeMap<String, String> {
    plan.params
        .iter()
        .map(|(k, v)| {
            let text = match serde_json::to_value(v) {
                Ok(serde_json::Value::Object(o)) => o
                    .values()
                    .next()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .unwrap_or_default(),
                Ok(other) => other.to_string(),
                Err(_) => String::new(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// Starts journaling a new run of `plan` (from `file`) for `sflow run`: records the run in
/// the store and returns the journal's event sink and the runner to execute with.
pub(crate) fn start_session(
    state: &SessionArgs,
    file: &Path,
    inventory: Option<&Path>,
    plan: &crate::plan::Plan,
    spec: &crate::engine::RunSpec,
    secrets: &std::collections::BTreeMap<String, String>,
    runner: std::sync::Arc<dyn crate::engine::Runner>,
) -> Result<crate::journal::Session, ExitCode> {
    let operator = store::operator();
    let cfg = crate::journal::SessionConfig {
        state: state.path(Some(file)),
        audit: Some(state.audit_override().unwrap_or_else(|| audit_path(file))),
        redactor: redactor(secrets),
        operator: operator.clone(),
    };
    let mut recorded = params(plan);
    if let Some(inv) = inventory {
        // Kept so that `sflow resume` recompiles against the same inventory.
        recorded.insert(INVENTORY_PARAM.to_owned(), inv.display().to_string());
    }
    if let Some(audit) = state.audit_override() {
        // Kept so that `sflow resume` continues the same audit log.
        recorded.insert(AUDIT_PARAM.to_owned(), audit.display().to_string());
    }
    let run = store::NewRun {
        workflow: plan.workflow.clone(),
        workflow_path: file.display().to_string(),
        plan_json: plan.to_json(),
        plan_hash: plan.hash.clone(),
        params: recorded,
        operator,
        change_ticket: plan.change.clone(),
        started_at: chrono::Utc::now(),
        controller_pid: std::process::id(),
        controller_host: store::host_name(),
    };
    crate::journal::start(&cfg, &run, spec, runner).map_err(|e| {
        eprintln!("{:?}", miette::Report::new(e));
        ExitCode::from(exit::USAGE)
    })
}

/// The recorded parameter holding the `--inventory` a run was started with.
pub(crate) const INVENTORY_PARAM: &str = "sflow.inventory";

/// The recorded parameter holding the `--audit` log a run was started with.
pub(crate) const AUDIT_PARAM: &str = "sflow.audit";

/// Prints the journal's failure, if any, after a run.
pub(crate) fn report_journal(status: &crate::journal::JournalStatus) {
    if let Some(e) = status.failure() {
        eprintln!("{:?}", miette::Report::new(e));
    }
}
