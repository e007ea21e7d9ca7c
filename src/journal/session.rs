//! Wiring a run session to the journal: takes the store and audit paths, the run (new or
//! resumed), the engine's spec and runner, and hands back the event sink and the wrapped
//! runner to give `engine::execute`, plus a status handle to check the journal afterwards.

use super::{Journal, JournalError, JournalSink, JournaledRunner, Shared};
use crate::audit::{AuditEntry, AuditError, AuditLog, OperatorAction};
use crate::engine::spec::TaskOutcome;
use crate::engine::{RunSpec, Runner};
use crate::resume::{ResumeState, UnknownPolicy};
use crate::secret::Redactor;
use crate::store::{
    host_name, state as store_state, NewRun, RunId, RunStore, SqliteStore, StoreError,
    StoreOptions, Write,
};
use chrono::Utc;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a session journals.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The run store file.
    pub state: PathBuf,
    /// The audit log file (`None`: no audit log).
    pub audit: Option<PathBuf>,
    /// Masks the run's secrets everywhere.
    pub redactor: Redactor,
    /// `user@host` of the operator.
    pub operator: String,
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SessionError {
    /// The store failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    /// The audit log failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Audit(#[from] AuditError),
}

/// A journaled session: give `sink`, `runner` and `done` to `engine::execute`, then ask
/// `status`.
pub struct Session {
    /// The run's id.
    pub run: RunId,
    /// The event sink to add to `RunOptions::sinks`.
    pub sink: JournalSink,
    /// The runner to execute with (sends a command only once its start is durable).
    pub runner: Arc<dyn Runner>,
    /// What earlier sessions finished, for `RunOptions::done` (empty for a new run).
    pub done: HashMap<(String, String), TaskOutcome>,
    /// Whether the journal kept up, once `execute` returned (it drops the sink, which commits).
    pub status: JournalStatus,
}

/// The journal's health, readable after the sink was handed to the engine.
#[derive(Clone)]
pub struct JournalStatus(Arc<Shared>);

impl JournalStatus {
    /// The failure that stopped the journal, if any.
    pub fn failure(&self) -> Option<JournalError> {
        self.0.failure()
    }
}

impl std::fmt::Debug for JournalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JournalStatus({:?})", self.failure())
    }
}

fn open(cfg: &SessionConfig) -> Result<(SqliteStore, Option<AuditLog>), SessionError> {
    let opts = StoreOptions {
        redactor: cfg.redactor.clone(),
        ..StoreOptions::default()
    };
    let store = SqliteStore::open(&cfg.state, &opts)?;
    let audit = match &cfg.audit {
        Some(p) => Some(AuditLog::open(p, cfg.redactor.clone())?),
        None => None,
    };
    Ok((store, audit))
}

/// Records a new run and starts journaling it.
pub fn start(
    cfg: &SessionConfig,
    run: &NewRun,
    spec: &RunSpec,
    runner: Arc<dyn Runner>,
) -> Result<Session, SessionError> {
    let (mut store, audit) = open(cfg)?;
    let id = store.create_run(run)?;
    let journal = Journal::start(Box::new(store), audit, id.clone());
    let status = JournalStatus(journal.shared());
    let sink = JournalSink::new(
        journal,
        spec,
        cfg.operator.clone(),
        HashMap::new(),
        Default::default(),
    );
    let runner: Arc<dyn Runner> = Arc::new(JournaledRunner::new(runner, sink.waiter()));
    Ok(Session {
        run: id,
        sink,
        runner,
        done: HashMap::new(),
        status,
    })
}

/// Records a resume of `state.run` (with the operator's choices) and starts journaling the new
/// session; `replan` is the new plan JSON and hash when the operator accepted a changed plan.
pub fn resume(
    cfg: &SessionConfig,
    state: &ResumeState,
    policy: UnknownPolicy,
    replan: Option<(&str, &str)>,
    spec: &RunSpec,
    runner: Arc<dyn Runner>,
) -> Result<Session, SessionError> {
    let (mut store, mut audit) = open(cfg)?;
    store.record_resume(&state.run, std::process::id(), &host_name(), replan)?;
    if let Some(log) = audit.as_mut() {
        let now = Utc::now();
        let op = |action, reason: Option<String>| {
            (
                now,
                AuditEntry::Operator {
                    action,
                    user: cfg.operator.clone(),
                    reason,
                },
            )
        };
        let mut entries = vec![op(OperatorAction::Resume, None)];
        if !state.unknown.is_empty() {
            let n = Some(format!(
                "{} task(s) of unknown outcome",
                state.unknown.len()
            ));
            match policy {
                UnknownPolicy::Rerun => entries.push(op(OperatorAction::RerunUnknown, n)),
                UnknownPolicy::Skip => entries.push(op(OperatorAction::SkipUnknown, n)),
                UnknownPolicy::Ask => {}
            }
        }
        if let Some((_, hash)) = replan {
            entries.push(op(
                OperatorAction::Replan,
                Some(format!("new plan hash {hash}")),
            ));
        }
        log.append_batch(Some(&state.run), entries)?;
    }
    if policy == UnknownPolicy::Skip && !state.unknown.is_empty() {
        // Closed for good, so that a later resume does not ask about them again.
        let now = Utc::now();
        let closed: Vec<Write> = state
            .unknown
            .iter()
            .map(|(host, task)| Write::TaskFinished {
                host: host.clone(),
                task: task.clone(),
                attempt: state
                    .attempt_base
                    .get(&(host.clone(), task.clone()))
                    .copied()
                    .unwrap_or(1),
                at: now,
                state: store_state::ASSUMED_DONE.to_owned(),
                exit_code: None,
                duration_ms: 0,
                stdout: String::new(),
                stderr: String::new(),
            })
            .collect();
        store.apply(&state.run, &closed)?;
    }
    let journal = Journal::start(Box::new(store), audit, state.run.clone());
    let status = JournalStatus(journal.shared());
    let done_before = state.done.keys().cloned().collect();
    let sink = JournalSink::new(
        journal,
        spec,
        cfg.operator.clone(),
        state.attempt_base.clone(),
        done_before,
    );
    let runner: Arc<dyn Runner> = Arc::new(JournaledRunner::new(runner, sink.waiter()));
    Ok(Session {
        run: state.run.clone(),
        sink,
        runner,
        done: state.done.clone(),
        status,
    })
}
