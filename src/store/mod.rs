//! The run store: takes journal writes (runs, host and task transitions, outputs, captures,
//! events) and hands back runs, reports, logs and the state a resume starts from. [`RunStore`]
//! is the interface (so that a shared PostgreSQL store can follow); [`SqliteStore`] is the
//! default, a WAL-mode SQLite file at `.sflow/state.db` beside the workflow.

mod checkpointer;
pub(crate) mod intent;
mod report;
mod sqlite;
mod sqlite_read;
mod sqlite_write;

pub use report::{render_log, render_runs, render_show, ShowFormat};
pub use sqlite::{SqliteStore, StoreOptions};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The store's default location, relative to the workflow's directory.
pub const DEFAULT_PATH: &str = ".sflow/state.db";

/// The environment variable naming another store path (the `--state` flag wins over it).
pub const STATE_ENV: &str = "SFLOW_STATE";

/// Most bytes of one stream (stdout or stderr) of one attempt kept in the store. Longer output
/// keeps its first [`OUTPUT_HEAD`] bytes and its last `OUTPUT_CAP - OUTPUT_HEAD` bytes (errors
/// are usually at the end), joined by a line saying how much was left out.
pub const OUTPUT_CAP: usize = 64 * 1024;

/// Bytes kept from the start of an output longer than [`OUTPUT_CAP`].
pub const OUTPUT_HEAD: usize = 16 * 1024;

/// A run's identifier: `YYYYMMDD-HHMMSS-xxxx` (UTC start time and 4 random hex digits).
pub type RunId = String;

/// Task state names the store itself interprets; every other state is stored as the engine
/// names it.
pub mod state {
    /// A task attempt whose start is journaled and whose end is not (yet).
    pub const RUNNING: &str = "running";
    /// A task attempt that started and never finished in a run whose controller is gone.
    pub const UNKNOWN: &str = "unknown";
    /// A task of unknown outcome the operator chose to treat as done (`--skip-unknown`).
    pub const ASSUMED_DONE: &str = "assumed_done";
    /// Finished states that count as done: a resume never runs them again.
    pub const DONE: &[&str] = &["ok", "skipped", "failed_allowed", ASSUMED_DONE];
}

/// The life of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The controller is (or was, if it crashed) running it.
    Running,
    /// Every host finished its tasks.
    Succeeded,
    /// Finished, some hosts failed.
    Failed,
    /// Stopped by a gate or the failure budget.
    Halted,
    /// Work left for the next window.
    Deferred,
    /// Stopped by the operator.
    Interrupted,
}

impl RunStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Halted => "halted",
            Self::Deferred => "deferred",
            Self::Interrupted => "interrupted",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "halted" => Self::Halted,
            "deferred" => Self::Deferred,
            "interrupted" => Self::Interrupted,
            _ => return None,
        })
    }

    /// True when the run may be resumed.
    pub fn is_resumable(self) -> bool {
        !matches!(self, Self::Succeeded)
    }
}

/// What is known of a run when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    /// The workflow's name.
    pub workflow: String,
    /// The workflow file as given on the command line.
    pub workflow_path: String,
    /// The plan, serialised as `sflow plan -o` writes it.
    pub plan_json: String,
    /// The plan's hash.
    pub plan_hash: String,
    /// Parameters given with `--param`, secrets excluded.
    pub params: BTreeMap<String, String>,
    /// `user@host` of the operator.
    pub operator: String,
    /// The change ticket the run is made under, if one was given.
    pub change_ticket: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// The controller's process id (a resume refuses a run whose controller is alive).
    pub controller_pid: u32,
    /// The controller's host name.
    pub controller_host: String,
}

/// One journal write. A batch of them is applied in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// The serde form is the intent log's (`intent.rs`): compact, times in microseconds.
pub enum Write {
    /// The run changed status; a status other than `running` also ends it.
    RunStatus {
        /// The new status.
        status: RunStatus,
        /// When.
        #[serde(with = "chrono::serde::ts_microseconds")]
        at: DateTime<Utc>,
    },
    /// A host changed state (`pending`, `running`, `ok`, `failed`, `deferred`, ...).
    HostState {
        /// Host name.
        host: String,
        /// The new state.
        state: String,
        /// When.
        #[serde(with = "chrono::serde::ts_microseconds")]
        at: DateTime<Utc>,
        /// Why, when there is a reason worth keeping.
        reason: Option<String>,
    },
    /// A task attempt is about to send its command.
    TaskStarted {
        /// Host name.
        host: String,
        /// Task name.
        task: String,
        /// Attempt number, from 1.
        attempt: u32,
        /// When.
        #[serde(with = "chrono::serde::ts_microseconds")]
        at: DateTime<Utc>,
        /// The command as sent, secrets masked.
        command: String,
    },
    /// A task attempt ended (or was decided without running: skipped, cancelled).
    TaskFinished {
        /// Host name.
        host: String,
        /// Task name.
        task: String,
        /// Attempt number, from 1.
        attempt: u32,
        /// When.
        #[serde(with = "chrono::serde::ts_microseconds")]
        at: DateTime<Utc>,
        /// The state it ended in (`ok`, `failed`, `skipped`, `timed_out`, `cancelled`, ...).
        state: String,
        /// The exit code, when the command exited.
        exit_code: Option<i32>,
        /// Wall time of the attempt.
        duration_ms: u64,
        /// Standard output (capped by the store).
        stdout: String,
        /// Standard error (capped by the store).
        stderr: String,
    },
    /// A task captured a value.
    Captured {
        /// Host name.
        host: String,
        /// Task name.
        task: String,
        /// The capture's name.
        name: String,
        /// The value.
        value: String,
        /// When.
        #[serde(with = "chrono::serde::ts_microseconds")]
        at: DateTime<Utc>,
    },
    /// Anything else worth showing in a report: waves, gates, verification, windows,
    /// rollbacks, throttle changes, operator actions.
    Event {
        /// When.
        #[serde(with = "chrono::serde::ts_microseconds")]
        at: DateTime<Utc>,
        /// What kind (`wave_started`, `gate`, `verification`, `window_expired`, ...).
        kind: String,
        /// The wave concerned.
        wave: Option<String>,
        /// The host concerned.
        host: Option<String>,
        /// The task concerned.
        task: Option<String>,
        /// Details as JSON.
        #[serde(with = "json_text")]
        detail: serde_json::Value,
    },
}

/// A JSON value as its text: the intent log's binary format cannot carry a self-describing
/// value.
mod json_text {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &serde_json::Value, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<serde_json::Value, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}

/// A run as listed by `sflow runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id.
    pub id: RunId,
    /// The workflow's name.
    pub workflow: String,
    /// The workflow file.
    pub workflow_path: String,
    /// Its status.
    pub status: RunStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended, if it did.
    pub ended_at: Option<DateTime<Utc>>,
    /// `user@host`.
    pub operator: String,
    /// The change ticket.
    pub change_ticket: Option<String>,
    /// Number of hosts in each latest state.
    pub hosts: BTreeMap<String, u64>,
}

/// Everything recorded about a run: the report of `sflow show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// The summary line.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The plan's hash.
    pub plan_hash: String,
    /// Parameters, secrets excluded.
    pub params: BTreeMap<String, String>,
    /// Per host, in name order.
    pub hosts: Vec<HostDetail>,
    /// Waves, gates, verification results, windows, rollbacks, in order.
    pub events: Vec<EventRow>,
}

/// One host of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDetail {
    /// Host name.
    pub host: String,
    /// Its latest state.
    pub state: String,
    /// Every state it went through.
    pub transitions: Vec<Transition>,
    /// Its tasks, in the order they first started.
    pub tasks: Vec<TaskDetail>,
}

/// A host state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The new state.
    pub state: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: Option<String>,
}

/// One task on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDetail {
    /// Task name.
    pub task: String,
    /// The latest attempt's state (`unknown` for one started but never finished once the run's
    /// controller is gone).
    pub state: String,
    /// Every attempt.
    pub attempts: Vec<Attempt>,
    /// Captured values.
    pub captures: BTreeMap<String, String>,
}

/// One attempt of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Its state.
    pub state: String,
    /// When the command was (about to be) sent.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Wall time.
    pub duration_ms: Option<u64>,
}

/// An event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    /// When.
    pub at: DateTime<Utc>,
    /// What kind.
    pub kind: String,
    /// The wave concerned.
    pub wave: Option<String>,
    /// The host concerned.
    pub host: Option<String>,
    /// The task concerned.
    pub task: Option<String>,
    /// Details.
    pub detail: serde_json::Value,
}

/// A command and its output, for `sflow log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Host name.
    pub host: String,
    /// Task name.
    pub task: String,
    /// Attempt number.
    pub attempt: u32,
    /// State.
    pub state: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Wall time.
    pub duration_ms: Option<u64>,
    /// The command as sent, secrets masked.
    pub command: String,
    /// Standard output (capped).
    pub stdout: String,
    /// Standard error (capped).
    pub stderr: String,
}

/// The latest state of one task on one host, as a resume needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    /// Host name.
    pub host: String,
    /// Task name.
    pub task: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// The latest attempt's state; [`state::UNKNOWN`] when it started and never finished.
    pub state: String,
}

impl TaskState {
    /// True when a resume must not run it again.
    pub fn is_done(&self) -> bool {
        state::DONE.contains(&self.state.as_str())
    }

    /// True when its outcome is unknown (started, never finished, controller gone).
    pub fn is_unknown(&self) -> bool {
        self.state == state::UNKNOWN
    }
}

/// Errors of the store.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StoreError {
    /// Another process holds the store's write lock past the busy timeout.
    #[error("state store {path} is locked by another process (gave up after {waited_ms} ms)")]
    #[diagnostic(
        code(sflow::store::locked),
        help("another sflow may be writing it; wait for it, or choose another store with --state or SFLOW_STATE")
    )]
    Locked {
        /// The store file.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u64,
    },
    /// A command that reads runs found no store (it does not create one).
    #[error("no state store at {path}: no run was recorded there yet")]
    #[diagnostic(
        code(sflow::store::missing),
        help("a run is recorded in .sflow/state.db beside its workflow; from another directory, give that store with --state PATH or SFLOW_STATE")
    )]
    Missing {
        /// The store file looked for.
        path: PathBuf,
    },
    /// SQLite failed otherwise.
    #[error("state store {path}: {message}")]
    #[diagnostic(code(sflow::store::database))]
    Database {
        /// The store file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// The store directory could not be created.
    #[error("cannot create the state store directory {path}")]
    #[diagnostic(code(sflow::store::io))]
    Io {
        /// The directory.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The store was written by a newer sflow.
    #[error("state store {path} has schema version {found}; this sflow knows up to {known}")]
    #[diagnostic(
        code(sflow::store::version),
        help("use a newer sflow, or another store")
    )]
    Version {
        /// The store file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this sflow knows.
        known: i64,
    },
    /// No run matches the id given.
    #[error("no run `{id}` in the state store")]
    #[diagnostic(code(sflow::store::no_run), help("`sflow runs` lists the runs"))]
    NoRun {
        /// The id (or prefix) asked for.
        id: String,
    },
    /// Several runs start with the prefix given.
    #[error("run id prefix `{id}` is ambiguous: {candidates}")]
    #[diagnostic(code(sflow::store::ambiguous))]
    Ambiguous {
        /// The prefix.
        id: String,
        /// Some of the runs it matches.
        candidates: String,
    },
    /// A stored value could not be read back.
    #[error("state store {path}: corrupt value in {what}")]
    #[diagnostic(code(sflow::store::corrupt))]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// Which column.
        what: String,
    },
}

/// The interface of a run store. Writes of one batch are atomic; reads see committed data.
pub trait RunStore: Send {
    /// Records a new run and returns its id.
    fn create_run(&mut self, run: &NewRun) -> Result<RunId, StoreError>;
    /// Applies journal writes to a run, all or nothing, durably before returning.
    fn apply(&mut self, run: &str, writes: &[Write]) -> Result<(), StoreError>;
    /// Makes journal writes durable before returning, possibly in a cheaper form than
    /// [`apply`](Self::apply) that readers see only after the next
    /// [`checkpoint`](Self::checkpoint) (the SQLite store appends them to the run's intent
    /// log). By default the same as `apply`.
    fn append(&mut self, run: &str, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply(run, &writes)
    }
    /// Writes appended and not yet checkpointed.
    fn pending(&self) -> usize {
        0
    }
    /// Moves appended writes where readers see them.
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Checkpoints and ends the session's journaling (the SQLite store removes the intent
    /// log).
    fn close_journal(&mut self) -> Result<(), StoreError> {
        self.checkpoint()
    }
    /// Records a resume: the new controller, and the new plan when it was replanned.
    fn record_resume(
        &mut self,
        run: &str,
        controller_pid: u32,
        controller_host: &str,
        replan: Option<(&str, &str)>,
    ) -> Result<(), StoreError>;
    /// Runs, newest first.
    fn runs(&self, limit: usize) -> Result<Vec<RunSummary>, StoreError>;
    /// The full id of the run `id` names (a full id or a unique prefix).
    fn resolve(&self, id: &str) -> Result<RunId, StoreError>;
    /// Everything about a run.
    fn show(&self, run: &str) -> Result<RunDetail, StoreError>;
    /// The plan JSON and hash of a run.
    fn plan(&self, run: &str) -> Result<(String, String), StoreError>;
    /// Commands and outputs, optionally of one host and/or one task.
    fn log(
        &self,
        run: &str,
        host: Option<&str>,
        task: Option<&str>,
    ) -> Result<Vec<LogEntry>, StoreError>;
    /// The latest state of every task that has one; tasks started and never finished are
    /// [`state::UNKNOWN`] unless the run's controller is still alive.
    fn task_states(&self, run: &str) -> Result<Vec<TaskState>, StoreError>;
    /// The most recent run that is not finished (any status but `succeeded`), optionally of
    /// one workflow file.
    fn latest_unfinished(&self, workflow_path: Option<&str>) -> Result<Option<RunId>, StoreError>;
    /// The `(pid, host)` of the run's controller, to tell a live run from a crashed one.
    fn controller(&self, run: &str) -> Result<(u32, String), StoreError>;
}

/// The store path: the flag if given, else `SFLOW_STATE`, else `.sflow/state.db` beside the
/// workflow (or in the current directory when there is no workflow).
pub fn store_path(flag: Option<&Path>, workflow: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_owned();
    }
    if let Some(p) = std::env::var_os(STATE_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    let dir = workflow
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(DEFAULT_PATH)
}

/// `text` cut to [`OUTPUT_CAP`] bytes as documented there, on character boundaries.
pub fn cap_output(text: &str) -> Cow<'_, str> {
    if text.len() <= OUTPUT_CAP {
        return Cow::Borrowed(text);
    }
    let mut head_end = OUTPUT_HEAD;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - (OUTPUT_CAP - OUTPUT_HEAD);
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let omitted = tail_start - head_end;
    Cow::Owned(format!(
        "{}\n[sflow: {omitted} bytes omitted]\n{}",
        &text[..head_end],
        &text[tail_start..]
    ))
}

/// True when the process `pid` exists on this machine.
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// This machine's host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The login name of this process's user from the password database.
fn passwd_user() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage (or null); we copy the name out
    // at once and use no other passwd call meanwhile.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_str()
            .ok()
            .map(str::to_owned)
    }
}

/// `user@host` of whoever runs this process.
pub fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(passwd_user)
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{user}@{}", host_name())
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
