//! `sflow resume [RUN] [--wait] [--yes] [--rerun-unknown|--skip-unknown] [--replan]`: takes an
//! interrupted, halted, deferred or crashed run from the store, checks that the workflow and
//! inventory still give its plan, and runs what is left with the same plan, journaled.

use super::journal::{redactor, SessionArgs, AUDIT_PARAM, INVENTORY_PARAM};
use crate::engine::event::exit_code;
use crate::engine::from_plan::RunChoices;
use crate::engine::report::{summary_table, PlainReporter, ProgressReporter};
use crate::engine::transport_runner::TransportRunner;
use crate::engine::{EventSink, RunSpec};
use crate::plan::{self, Plan};
use crate::resume::{self, ResumeError, UnknownPolicy};
use crate::store::{self, RunStore as _, SqliteStore, StoreOptions};
use crate::transport::ssh::SshOptions;
use crate::transport::Transports;
use clap::Args;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `sflow resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run (id or unique prefix; default: the most recent unfinished run)
    pub run: Option<String>,
    #[command(flatten)]
    pub state: SessionArgs,
    /// Sleep until the next window occurrence instead of deferring work
    #[arg(long)]
    pub wait: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Run again the tasks that started and never finished
    #[arg(long, conflicts_with = "skip_unknown")]
    pub rerun_unknown: bool,
    /// Treat the tasks that started and never finished as done
    #[arg(long)]
    pub skip_unknown: bool,
    /// Accept a changed workflow or inventory: run the new plan and record its hash
    #[arg(long)]
    pub replan: bool,
    /// An SSH identity file (repeatable), tried after the agent
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// A known_hosts file to trust (repeatable; default `~/.ssh/known_hosts`)
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Vec<PathBuf>,
}

fn fail(e: impl miette::Diagnostic + Send + Sync + 'static) -> ExitCode {
    eprintln!("{:?}", miette::Report::new(e));
    ExitCode::from(exit_code::USAGE)
}

fn ask(question: &str) -> Option<String> {
    eprint!("{question} ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    Some(line.trim().to_lowercase())
}

/// The plan the files on disk give now for the run's workflow, params and inventory.
fn current_plan(recorded: &Plan, detail: &store::RunDetail) -> Result<Plan, ExitCode> {
    let file = Path::new(&detail.summary.workflow_path);
    if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        let text = std::fs::read_to_string(file).map_err(|e| {
            eprintln!("error: cannot read `{}`: {e}", file.display());
            ExitCode::from(exit_code::USAGE)
        })?;
        return crate::seal::load(&text).map_err(fail);
    }
    let inventory = detail.params.get(INVENTORY_PARAM).map(PathBuf::from);
    let params: Vec<(String, String)> = detail
        .params
        .iter()
        .filter(|(k, _)| k.as_str() != INVENTORY_PARAM && k.as_str() != AUDIT_PARAM)
        .filter(|(k, _)| recorded.params.contains_key(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let program = super::plan::load(
        file,
        inventory.as_deref(),
        Some(&recorded.workflow),
        chrono::Utc::now(),
    )?;
    plan::lower(&program, Some(&recorded.workflow), &params).map_err(fail)
}

/// The audit log to continue: `--audit` or `$SFLOW_AUDIT`, else the one the run recorded,
/// else the default beside the workflow.
fn audit_log(args: &ResumeArgs, detail: &store::RunDetail) -> PathBuf {
    args.state
        .audit_override()
        .or_else(|| detail.params.get(AUDIT_PARAM).map(PathBuf::from))
        .unwrap_or_else(|| super::journal::audit_path(Path::new(&detail.summary.workflow_path)))
}

/// Runs `sflow resume`.
pub fn run(args: &ResumeArgs) -> ExitCode {
    let path = args.state.path(None);
    let opts = StoreOptions {
        create: false,
        ..StoreOptions::default()
    };
    let st = match SqliteStore::open(&path, &opts) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let run = match resume::pick_run(&st, args.run.as_deref(), None) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut policy = if args.rerun_unknown {
        UnknownPolicy::Rerun
    } else if args.skip_unknown {
        UnknownPolicy::Skip
    } else {
        UnknownPolicy::Ask
    };
    let state = match resume::prepare(&st, &run, policy) {
        Ok(s) => s,
        Err(e @ ResumeError::Unknown { .. }) if std::io::stdin().is_terminal() => {
            eprintln!("{e}");
            policy = match ask("run them again, treat them as done, or stop? [rerun/skip/STOP]")
                .as_deref()
            {
                Some("rerun" | "r") => UnknownPolicy::Rerun,
                Some("skip" | "s") => UnknownPolicy::Skip,
                _ => return ExitCode::from(exit_code::INTERRUPTED),
            };
            match resume::prepare(&st, &run, policy) {
                Ok(s) => s,
                Err(e) => return fail(e),
            }
        }
        Err(e) => return fail(e),
    };
    let detail = match st.show(&run) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let recorded = match st.plan(&run).map(|(json, _)| crate::seal::load(&json)) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return fail(e),
        Err(e) => return fail(e),
    };
    drop(st);
    let current = match current_plan(&recorded, &detail) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (plan, replan) = match crate::seal::check_unchanged(&recorded, &current) {
        Ok(()) => (recorded, None),
        Err(_) if args.replan => {
            let json = current.to_json();
            let hash = current.hash.clone();
            (current, Some((json, hash)))
        }
        Err(e) => return fail(e),
    };
    eprintln!(
        "resuming run {run} of {}: {} task(s) done, {} of unknown outcome ({})",
        plan.workflow,
        state.done.len(),
        state.unknown.len(),
        match policy {
            UnknownPolicy::Rerun => "run again",
            UnknownPolicy::Skip => "treated as done",
            UnknownPolicy::Ask => "none",
        }
    );
    let secret_values = match super::run::secrets(&plan) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit_code::USAGE);
        }
    };
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("error: not a terminal: confirm with `--yes`");
            return ExitCode::from(exit_code::USAGE);
        }
        if !super::run::confirm() {
            eprintln!("not confirmed: nothing was run");
            return ExitCode::from(exit_code::INTERRUPTED);
        }
    }
    let choices = RunChoices {
        secrets: secret_values.clone(),
        wait: args.wait,
        ignore_windows: None,
        failure_budget: None,
    };
    let spec = RunSpec::from_plan(&plan, choices);
    let audit_path = audit_log(args, &detail);
    let cfg = crate::journal::SessionConfig {
        state: path,
        audit: Some(audit_path.clone()),
        redactor: redactor(&secret_values),
        operator: store::operator(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(exit_code::USAGE);
        }
    };
    let mut ssh = SshOptions::user_defaults();
    ssh.identity_files.extend(args.identity.iter().cloned());
    if !args.known_hosts.is_empty() {
        ssh.known_hosts_files.clone_from(&args.known_hosts);
    }
    let result = runtime.block_on(async move {
        let transports = Transports::new(ssh).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(exit_code::USAGE)
        })?;
        let transport: Arc<dyn crate::transport::Transport> = Arc::new(transports);
        // The workflow's own hooks apply to every session of the run: approval before anything
        // connects again, notifications of this session's events.
        let (approve, notify) = super::run::plan_hooks(&plan);
        if let Some(cmd) = approve {
            super::run::approve_run(&cmd, &audit_path, &secret_values).await?;
        }
        let notify = notify.map(crate::hooks::start_notify);
        let runner = Arc::new(TransportRunner::new(&plan, transport.clone()));
        let replan_ref = replan.as_ref().map(|(j, h)| (j.as_str(), h.as_str()));
        let session = crate::journal::resume(&cfg, &state, policy, replan_ref, &spec, runner)
            .map_err(fail)?;
        let reporter: Box<dyn EventSink> = if std::io::stderr().is_terminal() {
            Box::new(ProgressReporter::stderr())
        } else {
            Box::new(PlainReporter::new(std::io::stderr()))
        };
        let mut sinks = vec![reporter];
        let notify = notify.map(|(sink, handle)| {
            sinks.push(Box::new(sink));
            handle
        });
        // Last: the engine gives the last sink its events by value, which spares the journal
        // a copy of each.
        sinks.push(Box::new(session.sink));
        let result =
            super::run::execute_live(spec, session.runner, sinks, args.yes, session.done).await;
        transport.close().await;
        if let Some(handle) = notify {
            handle.finish().await;
        }
        super::journal::report_journal(&session.status);
        Ok::<_, ExitCode>(result)
    });
    match result {
        Ok(result) => {
            print!("{}", summary_table(&result));
            // Captures taken by earlier sessions come back with their tasks (the done-set), so
            // the report covers the whole run, as at the end of `sflow run`.
            if let Some(report) = &result.verification {
                print!("\n{}", report.render_human());
            }
            ExitCode::from(result.exit_code())
        }
        Err(code) => code,
    }
}
