//! `sflow run FILE|plan.json [--inventory F] [--workflow NAME] [--param k=v]… [--dry-run]
//! [--wait] [--ignore-windows REASON] [--max-failures N|P%] [--format human|json] [--yes]`:
//! compile (or load a sealed plan), show the plan, confirm, then execute it with the engine
//! over the SSH and local transports, reporting progress and a summary.
//!
//! Exit codes (named in [`crate::engine::event::exit_code`]): 0 success, 1 some hosts failed,
//! 2 usage or compile error, 3 halted by a gate or a failure budget, 4 deferred by windows,
//! 130 interrupted (or not confirmed).

use crate::engine::dry_run::dry_run;
use crate::engine::event::exit_code;
use crate::engine::from_plan::RunChoices;
use crate::engine::report::{summary_table, JsonReporter, PlainReporter, ProgressReporter};
use crate::engine::spec::Threshold;
use crate::engine::transport_runner::TransportRunner;
use crate::engine::{execute, Control, EventSink, RealClock, RunOptions, RunSpec};
use crate::hooks::NotifyConfig;
use crate::plan::{self, forecast::forecast, render, Plan, SecretSource};
use crate::secret::{self, SecretError};
use crate::transport::ssh::SshOptions;
use crate::transport::Transports;
use chrono::Utc;
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `sflow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow file, or a plan written by `sflow plan -o plan.json`.
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
    /// Print every command per host after interpolation (secrets masked); connect to nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Sleep until the next window occurrence instead of deferring work.
    #[arg(long)]
    pub wait: bool,
    /// Run outside the windows; the reason is recorded.
    #[arg(long, value_name = "REASON")]
    pub ignore_windows: Option<String>,
    /// Run-wide failure budget: failed hosts allowed (`3`) or a percentage of all hosts (`5%`).
    #[arg(long, value_name = "N|P%")]
    pub max_failures: Option<String>,
    /// Output: progress and a summary, or NDJSON events on stdout.
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Approval command run on the controller before anything connects; it must exit 0
    /// (replaces the workflow's `approve`). Its output goes to the audit log.
    #[arg(long, value_name = "CMD")]
    pub approve: Option<String>,
    /// Notification command: gets each selected event as one JSON line on stdin (replaces the
    /// workflow's `notify` command).
    #[arg(long, value_name = "CMD")]
    pub notify: Option<String>,
    /// Events for the notification command (default: the workflow's `on`, else
    /// `failed,rollback,done`).
    #[arg(long, value_name = "EVENT,…", value_delimiter = ',')]
    pub notify_on: Vec<String>,
    /// Longest one notification may take, and the longest the end of the run waits for them
    /// (default: the workflow's `notify { timeout }`, else 10s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub hook_timeout: Option<std::time::Duration>,
    /// An SSH identity file (repeatable), tried after the agent.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// A known_hosts file to trust (repeatable; default `~/.ssh/known_hosts`).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Vec<PathBuf>,
    #[command(flatten)]
    pub state: super::journal::SessionArgs,
}

/// Output formats of `sflow run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// Progress bars (or plain lines when not a terminal) and a summary table.
    Human,
    /// One JSON event per line on stdout.
    Json,
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(exit_code::USAGE)
}

/// Parses `--max-failures`: `3` or `5%`.
pub fn parse_threshold(text: &str) -> Option<Threshold> {
    let t = text.trim();
    match t.strip_suffix('%') {
        Some(p) => p
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|p| *p <= 100)
            .map(Threshold::Percent),
        None => t.parse::<usize>().ok().map(Threshold::Count),
    }
}

fn load_plan(args: &RunArgs) -> Result<Plan, ExitCode> {
    let is_json = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let text = std::fs::read_to_string(&args.file).map_err(|e| {
            usage(&format!(
                "cannot read `{}`: {}",
                args.file.display(),
                e.to_string().to_lowercase()
            ))
        })?;
        return super::journal::sealed_plan(&text, args.inventory.as_deref());
    }
    let params = args
        .params
        .iter()
        .map(|p| plan::parse_param(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::from(exit_code::USAGE)
        })?;
    let program = super::plan::load(
        &args.file,
        args.inventory.as_deref(),
        args.workflow.as_deref(),
        Utc::now(),
    )
    .map_err(|_| ExitCode::from(exit_code::USAGE))?;
    plan::lower(&program, args.workflow.as_deref(), &params).map_err(|e| {
        eprintln!("{:?}", miette::Report::new(e));
        ExitCode::from(exit_code::USAGE)
    })
}

/// Obtains every secret of the plan through [`crate::secret::resolve`] (a prompt reads the
/// terminal with echo off), held in memory only.
pub(crate) fn secrets(plan: &Plan) -> Result<BTreeMap<String, String>, SecretError> {
    let mut out = BTreeMap::new();
    for s in &plan.secrets {
        let source = match &s.source {
            SecretSource::Env(var) => secret::SecretSource::Env(var.clone()),
            SecretSource::Command(cmd) => secret::SecretSource::Command(cmd.clone()),
            SecretSource::Prompt(text) => secret::SecretSource::Prompt(format!("{text}: ")),
        };
        let value = secret::resolve(&s.name, &source)?;
        out.insert(s.name.clone(), value.expose().to_owned());
    }
    Ok(out)
}

/// Stand-ins for the secrets in a dry run: nothing is asked for, and every use shows as `***`.
fn masked_secrets(plan: &Plan) -> BTreeMap<String, String> {
    plan.secrets
        .iter()
        .map(|s| (s.name.clone(), secret::MASK.to_owned()))
        .collect()
}

/// Runs the approval hook, recording it in the workflow's audit log; a refusal is a usage
/// error (exit 2) and nothing connects.
pub(crate) async fn approve_run(
    cmd: &str,
    audit: &std::path::Path,
    secrets: &BTreeMap<String, String>,
) -> Result<(), ExitCode> {
    let mut log =
        crate::audit::AuditLog::open(audit, super::journal::redactor(secrets)).map_err(|e| {
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::from(exit_code::USAGE)
        })?;
    crate::hooks::approve(cmd, crate::hooks::APPROVE_TIMEOUT, Some(&mut log))
        .await
        .map(|_| ())
        .map_err(|e| {
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::from(exit_code::USAGE)
        })
}

/// The hooks a plan itself declares (`approve`, `notify`), as `sflow resume` runs them.
pub(crate) fn plan_hooks(plan: &Plan) -> (Option<String>, Option<NotifyConfig>) {
    let approve = plan
        .approve
        .as_ref()
        .map(|c| c.display(plan, &|t| plan.capture_name(t)));
    let notify = plan.notify.as_ref().map(|n| {
        let mut config = NotifyConfig::new(n.command.display(plan, &|t| plan.capture_name(t)));
        config.on.clone_from(&n.on);
        if let Some(ms) = n.timeout_ms {
            config.timeout = std::time::Duration::from_millis(ms);
        }
        config
    });
    (approve, notify)
}

/// The notify hook of this run: `--notify` / `--notify-on` over the workflow's `notify`.
fn notify_config(args: &RunArgs, plan: &Plan) -> Result<Option<NotifyConfig>, String> {
    let mut config = match (args.notify.clone(), plan_hooks(plan).1) {
        (Some(command), declared) => {
            let mut config = NotifyConfig::new(command);
            if let Some(d) = declared {
                config.on = d.on;
                config.timeout = d.timeout;
            }
            config
        }
        (None, Some(declared)) => declared,
        (None, None) if args.notify_on.is_empty() => return Ok(None),
        (None, None) => {
            return Err(
                "`--notify-on` needs a notification command (`--notify` or `notify { … }`)".into(),
            )
        }
    };
    if let Some(t) = args.hook_timeout {
        config.timeout = t;
    }
    if !args.notify_on.is_empty() {
        if let Some(bad) = args
            .notify_on
            .iter()
            .find(|e| !crate::hooks::NOTIFY_EVENTS.contains(&e.as_str()))
        {
            return Err(format!(
                "`--notify-on`: unknown event `{bad}` (known: {})",
                crate::hooks::NOTIFY_EVENTS.join(", ")
            ));
        }
        config.on.clone_from(&args.notify_on);
    }
    Ok(Some(config))
}

pub(crate) fn confirm() -> bool {
    eprint!("run this plan? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// Runs `sflow run`.
/// Executes on the real clock with Ctrl-C forwarded to the dispatcher (once: start nothing
/// new; twice: stop in-flight commands). Shared by `sflow run` and `sflow resume`.
pub(crate) async fn execute_live(
    spec: RunSpec,
    runner: Arc<dyn crate::engine::Runner>,
    sinks: Vec<Box<dyn EventSink>>,
    confirmed: bool,
    done: std::collections::HashMap<(String, String), crate::engine::spec::TaskOutcome>,
) -> crate::engine::RunResult {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(Control::Interrupt).is_err() {
                break;
            }
        }
    });
    let options = RunOptions {
        clock: Arc::new(RealClock),
        sinks,
        control: Some(rx),
        confirmed: Some(confirmed),
        done,
    };
    execute(spec, runner, options).await
}

pub fn run(args: RunArgs) -> ExitCode {
    let failure_budget = match args.max_failures.as_deref().map(parse_threshold) {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => return usage("`--max-failures` wants a count (`3`) or a percentage (`5%`)"),
    };
    if args
        .ignore_windows
        .as_deref()
        .is_some_and(|r| r.trim().is_empty())
    {
        return usage("`--ignore-windows` needs a reason");
    }
    let plan = match load_plan(&args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let notify = match notify_config(&args, &plan) {
        Ok(n) => n,
        Err(e) => return usage(&e),
    };
    let human = args.format == RunFormat::Human;
    if human && !args.dry_run {
        eprint!(
            "{}",
            render::text(&plan, Some(&forecast(&plan, Utc::now())))
        );
    }
    let secret_values = if args.dry_run {
        masked_secrets(&plan)
    } else {
        match secrets(&plan) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{:?}", miette::Report::new(e));
                return ExitCode::from(exit_code::USAGE);
            }
        }
    };
    let choices = RunChoices {
        secrets: secret_values.clone(),
        wait: args.wait,
        ignore_windows: args.ignore_windows.clone(),
        failure_budget,
    };
    let spec = RunSpec::from_plan(&plan, choices);
    if args.dry_run {
        let mut out = std::io::stdout().lock();
        for line in dry_run(&spec) {
            let notes = if line.notes.is_empty() {
                String::new()
            } else {
                format!("  # {}", line.notes.join(", "))
            };
            let _ = writeln!(
                out,
                "[{}] {} {}: {}{notes}",
                line.wave, line.host, line.task, line.command
            );
        }
        return ExitCode::from(exit_code::SUCCESS);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return usage("not a terminal: confirm with `--yes`");
        }
        if !confirm() {
            eprintln!("not confirmed: nothing was run");
            return ExitCode::from(exit_code::INTERRUPTED);
        }
    }
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
        let transports = match Transports::new(ssh) {
            Ok(t) => t,
            Err(e) => return Err(usage(&e.to_string())),
        };
        let transport: Arc<dyn crate::transport::Transport> = Arc::new(transports);
        let approve = args.approve.clone().or_else(|| {
            plan.approve
                .as_ref()
                .map(|a| a.display(&plan, &|t| plan.capture_name(t)))
        });
        if let Some(cmd) = approve {
            let audit = args
                .state
                .audit_override()
                .unwrap_or_else(|| super::journal::audit_path(&args.file));
            approve_run(&cmd, &audit, &secret_values).await?;
        }
        let notify = notify.map(crate::hooks::start_notify);
        let runner = Arc::new(TransportRunner::new(&plan, transport.clone()));
        let journal = super::journal::start_session(
            &args.state,
            &args.file,
            args.inventory.as_deref(),
            &plan,
            &spec,
            &secret_values,
            runner,
        )?;
        let sink: Box<dyn EventSink> = match args.format {
            RunFormat::Json => Box::new(JsonReporter::new(std::io::stdout())),
            RunFormat::Human if std::io::stderr().is_terminal() => {
                Box::new(ProgressReporter::stderr())
            }
            RunFormat::Human => Box::new(PlainReporter::new(std::io::stderr())),
        };
        let mut sinks = vec![sink];
        let notify = notify.map(|(sink, handle)| {
            sinks.push(Box::new(sink));
            handle
        });
        // Last: the engine gives the last sink its events by value, which spares the journal
        // a copy of each.
        sinks.push(Box::new(journal.sink));
        let result = execute_live(spec, journal.runner, sinks, args.yes, journal.done).await;
        transport.close().await;
        if let Some(handle) = notify {
            // Warnings were printed as they happened; this only bounds the wait.
            handle.finish().await;
        }
        super::journal::report_journal(&journal.status);
        Ok(result)
    });
    match result {
        Ok(result) => {
            if human {
                print!("{}", summary_table(&result));
                if let Some(report) = &result.verification {
                    print!("\n{}", report.render_human());
                }
            }
            ExitCode::from(result.exit_code())
        }
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_as_counts_or_percentages() {
        assert_eq!(parse_threshold("3"), Some(Threshold::Count(3)));
        assert_eq!(parse_threshold(" 5% "), Some(Threshold::Percent(5)));
        assert_eq!(parse_threshold("101%"), None);
        assert_eq!(parse_threshold("x"), None);
    }
}
