//! `sflow verify FILE [--inventory F] [--workflow W] [--param k=v]… [--format human|json|markdown]`:
//! a read-only audit of a fleet. Runs only the after-captures of the workflow's verify blocks
//! (no task, no rollback, no before-capture, no journal), then prints each host's capture
//! values and the drift report across hosts. Also renders the verification report of a
//! recorded run for `sflow show`.
//!
//! Exit codes: 0 no drift and every capture ran, 1 a capture failed or a host could not be
//! reached (no drift), 2 usage or compile error, [`DRIFT`] drift found.

use crate::engine::event::exit_code;
use crate::engine::from_plan::RunChoices;
use crate::engine::transport_runner::TransportRunner;
use crate::engine::verification::audit_spec;
use crate::engine::{execute, RealClock, RunOptions, RunResult, RunSpec, Runner};
use crate::plan;
use crate::store::{RunDetail, ShowFormat};
use crate::transport::ssh::SshOptions;
use crate::transport::Transports;
use crate::verify::FleetReport;
use chrono::Utc;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit code of `sflow verify` when some host drifted from the baseline of a capture.
pub const DRIFT: u8 = 5;

/// The kind of the journal event that holds a run's verification report.
const REPORT_EVENT: &str = "verification_report";

/// Arguments of `sflow verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
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
    /// Output format of the report.
    #[arg(long, value_enum, default_value = "human")]
    pub format: ShowFormat,
    /// An SSH identity file (repeatable), tried after the agent.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// A known_hosts file to trust (repeatable; default `~/.ssh/known_hosts`).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Vec<PathBuf>,
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(exit_code::USAGE)
}

/// Runs the audit of `spec` (a full run spec; only its after-captures are sent) over
/// `runner` and returns the run's result, whose `verification` holds the report.
pub async fn audit(spec: &RunSpec, runner: Arc<dyn Runner>) -> RunResult {
    let options = RunOptions {
        clock: Arc::new(RealClock),
        ..RunOptions::default()
    };
    execute(audit_spec(spec), runner, options).await
}

/// The exit code of an audit: drift first, then failed captures or hosts.
pub fn audit_exit_code(result: &RunResult) -> u8 {
    let report = result.verification.as_ref();
    if report.is_some_and(|r| r.summary.drifted > 0) {
        DRIFT
    } else if !result.failed_servers.is_empty()
        || !result.interrupted_servers.is_empty()
        || report.is_some_and(|r| r.summary.mismatch > 0)
    {
        exit_code::HOSTS_FAILED
    } else {
        exit_code::SUCCESS
    }
}

/// The report in the asked format (JSON: the report itself, pretty-printed).
pub fn render(report: &FleetReport, format: ShowFormat) -> String {
    match format {
        ShowFormat::Human => report.render_human(),
        ShowFormat::Markdown => report.render_markdown(),
        ShowFormat::Json => report.to_json().unwrap_or_default() + "\n",
    }
}

/// For `sflow show` in human or markdown form: takes a recorded run's verification report
/// out of its timeline (where its JSON would be unreadable), leaving a one-line summary.
pub fn take_report(run: &mut RunDetail) -> Option<FleetReport> {
    let mut found = None;
    for e in run.events.iter_mut().filter(|e| e.kind == REPORT_EVENT) {
        let Some(report) = e
            .detail
            .get("report")
            .and_then(|r| serde_json::from_value::<FleetReport>(r.clone()).ok())
        else {
            continue;
        };
        let s = &report.summary;
        e.detail = serde_json::Value::String(format!(
            "{} hosts: {} as expected, {} unexpected change, {} mismatch, {} drifted",
            s.hosts, s.as_expected, s.unexpected_change, s.mismatch, s.drifted
        ));
        found = Some(report);
    }
    found
}

/// The verification section `sflow show` appends, restricted to one host when asked.
pub fn show_section(report: Option<FleetReport>, host: Option<&str>, format: ShowFormat) -> String {
    let Some(mut report) = report else {
        return String::new();
    };
    if let Some(name) = host {
        for b in &mut report.blocks {
            b.hosts.retain(|h| h.host == name);
        }
    }
    format!("\n{}", render(&report, format))
}

/// Runs `sflow verify`.
pub fn run(args: &VerifyArgs) -> ExitCode {
    let params = match args
        .params
        .iter()
        .map(|p| plan::parse_param(p))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return ExitCode::from(exit_code::USAGE);
        }
    };
    let program = match super::plan::load(
        &args.file,
        args.inventory.as_deref(),
        args.workflow.as_deref(),
        Utc::now(),
    ) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let plan = match plan::lower(&program, args.workflow.as_deref(), &params) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return ExitCode::from(exit_code::USAGE);
        }
    };
    if plan.verifies.is_empty() {
        return usage("the workflow has no verify block: nothing to capture");
    }
    let secrets = match super::run::secrets(&plan) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return ExitCode::from(exit_code::USAGE);
        }
    };
    let spec = RunSpec::from_plan(
        &plan,
        RunChoices {
            secrets,
            ..RunChoices::default()
        },
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage(&format!("cannot start the runtime: {e}")),
    };
    let mut ssh = SshOptions::user_defaults();
    ssh.identity_files.extend(args.identity.iter().cloned());
    if !args.known_hosts.is_empty() {
        ssh.known_hosts_files.clone_from(&args.known_hosts);
    }
    let result = runtime.block_on(async move {
        let transports = Transports::new(ssh).map_err(|e| usage(&e.to_string()))?;
        let transport: Arc<dyn crate::transport::Transport> = Arc::new(transports);
        let runner = Arc::new(TransportRunner::new(&plan, transport.clone()));
        let result = audit(&spec, runner).await;
        transport.close().await;
        Ok::<_, ExitCode>(result)
    });
    let result = match result {
        Ok(r) => r,
        Err(code) => return code,
    };
    let report = result.verification.clone().unwrap_or_default();
    print!("{}", render(&report, args.format));
    ExitCode::from(audit_exit_code(&result))
}
