//! The run's event stream: the one `Event` type (timestamp, elapsed, kind) that every reporter,
//! the journal and notifications consume; states, cancel reasons and exit codes as data.
//!
//! Input: what the dispatcher decides. Output: values that serialise to one JSON object per line
//! (`{"timestamp":…,"elapsed_ms":…,"kind":"task_finished",…}`). Commands and outputs in events are
//! already masked: a secret value never reaches an `Event`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Wall-clock time (from the run's [`Clock`](super::clock::Clock)).
    pub timestamp: DateTime<Utc>,
    /// Time since the run started.
    #[serde(rename = "elapsed_ms", with = "millis")]
    pub elapsed: Duration,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The event as one line of NDJSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serialising plain data with string keys cannot fail; fall back to a marker rather
        // than panic if it ever did.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"kind\":\"unserialisable\",\"error\":\"{e}\"}}"))
    }
}

/// Anything that consumes the event stream: reporters, the journal, notifications.
/// Called synchronously by the dispatcher, in order; a `task_started` event reaches every sink
/// before its command is sent.
pub trait EventSink: Send {
    /// Receives one event.
    fn event(&mut self, event: &Event);

    /// Receives one event to keep: the engine gives each event by value to the last of its
    /// sinks, so that a sink that stores events (the journal) takes them without copying.
    fn event_owned(&mut self, event: Event) {
        self.event(&event);
    }

    /// A gate that a task's command must pass before it is sent (the journal: its
    /// `task_started` must be durable first). The engine uses the first sink's gate it finds.
    fn launch_gate(&self) -> Option<std::sync::Arc<dyn LaunchGate>> {
        None
    }
}

/// Holds a task's command until what a sink recorded before it is durable. The dispatcher
/// takes a ticket right after emitting `task_started` and launches the command once the ticket
/// is open, waking once per opening rather than once per command.
pub trait LaunchGate: Send + Sync {
    /// A ticket covering every event the sink has received so far.
    fn ticket(&self) -> u64;
    /// Whether the command holding `ticket` may go (also once the gate has failed: the runner
    /// then refuses the command itself).
    fn is_open(&self, ticket: u64) -> bool;
    /// Resolves once `ticket` is open.
    fn opened(
        &self,
        ticket: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;
}

/// A sink that keeps every event (for tests and for library users who want the stream).
#[derive(Debug, Clone, Default)]
pub struct Recorder(pub std::sync::Arc<std::sync::Mutex<Vec<Event>>>);

impl Recorder {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.0
            .lock()
            .map(|v| v.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The kinds of the events so far.
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events().into_iter().map(|e| e.kind).collect()
    }
}

impl EventSink for Recorder {
    fn event(&mut self, event: &Event) {
        match self.0.lock() {
            Ok(mut v) => v.push(event.clone()),
            Err(e) => e.into_inner().push(event.clone()),
        }
    }
}

/// What happened. Serialised with a `kind` tag in snake case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The run begins (after confirmation).
    RunStarted {
        workflow: String,
        change: Option<String>,
        hosts: usize,
        tasks: usize,
        /// Task-on-host pairs: the units of work of the whole run.
        work: usize,
        waves: Vec<String>,
        dry_run: bool,
    },
    /// The run ended; nothing follows.
    RunFinished {
        status: RunStatus,
        exit_code: u8,
        ok: usize,
        failed: usize,
        deferred: usize,
        interrupted: usize,
    },
    /// A wave begins.
    WaveStarted {
        wave: String,
        index: usize,
        hosts: Vec<String>,
    },
    /// A wave's work is over (gate included).
    WaveFinished {
        wave: String,
        index: usize,
        ok: usize,
        failed: usize,
        deferred: usize,
        passed: bool,
    },
    /// A host took a slot and starts its first task of the wave.
    HostStarted { host: String, wave: String },
    /// A host reached its final state for this run.
    HostFinished {
        host: String,
        wave: String,
        state: HostState,
    },
    /// One attempt of a task starts on a host (emitted before the command is sent).
    TaskStarted {
        host: String,
        task: String,
        attempt: u32,
        /// The command after interpolation, secrets masked.
        command: String,
        local: bool,
    },
    /// A task reached its final state on a host.
    TaskFinished {
        host: String,
        task: String,
        state: TaskState,
        attempts: u32,
        exit: Option<i32>,
        #[serde(rename = "duration_ms", with = "millis")]
        duration: Duration,
        /// Why the task ended without running to completion, if it did.
        reason: Option<CancelReason>,
        failure: Option<Failure>,
        stdout: String,
        stderr: String,
    },
    /// An attempt failed and another follows after `delay`.
    TaskRetrying {
        host: String,
        task: String,
        attempt: u32,
        #[serde(rename = "delay_ms", with = "millis")]
        delay: Duration,
        failure: Failure,
    },
    /// A host waits for its windows to open (`--wait`).
    WindowWait {
        host: String,
        task: String,
        until: DateTime<Utc>,
    },
    /// A host's window closed while a command was running.
    WindowExpired {
        host: String,
        task: String,
        on_expire: OnExpire,
    },
    /// Work on a host could not start in its window and is left for the next occurrence.
    Deferred {
        host: String,
        tasks: Vec<String>,
        next_open: Option<DateTime<Utc>>,
    },
    /// The decision of a wave's gate (`verify` tasks and `max_failures`).
    GateResult {
        wave: String,
        passed: bool,
        failed_hosts: Vec<String>,
        allowed: usize,
        after_bake: bool,
    },
    /// A wave passed and the run bakes before re-checking the gate.
    BakeStarted {
        wave: String,
        #[serde(rename = "duration_ms", with = "millis")]
        duration: Duration,
    },
    /// The run stops starting work.
    Halted {
        reason: HaltReason,
        wave: Option<String>,
    },
    /// Rollback begins over these hosts (in the order they will be rolled back).
    RollbackStarted {
        scope: RollbackScope,
        hosts: Vec<String>,
    },
    /// One rollback command finished on a host.
    RollbackStep {
        host: String,
        task: String,
        command: String,
        ok: bool,
        exit: Option<i32>,
    },
    /// Rollback is over.
    RollbackFinished { ok: usize, failed: usize },
    /// The adaptive throttle changed a group's limit.
    ThrottleChanged {
        group: String,
        from: usize,
        to: usize,
        reason: ThrottleReason,
    },
    /// Something the operator did.
    OperatorAction { action: OperatorAction },
    /// A configuration verification (`verify NAME { … }`) gave its verdict on a host.
    VerificationFinished {
        verify: String,
        host: String,
        passed: bool,
        detail: String,
    },
    /// At the end of the run: every verify block over all its hosts (verdicts, diffs, drift
    /// across hosts and the fleet summary). Capture texts in it are masked.
    VerificationReport {
        report: Box<crate::verify::FleetReport>,
    },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every host succeeded.
    Succeeded,
    /// Some hosts failed, within the failure budgets.
    Failed,
    /// A gate or a failure budget stopped the rollout.
    Halted,
    /// Some work could not start in its window; resume carries it on.
    Deferred,
    /// The operator interrupted the run.
    Interrupted,
}

impl RunStatus {
    /// The process exit code of `sflow run` for this status.
    pub fn exit_code(self) -> u8 {
        match self {
            RunStatus::Succeeded => exit_code::SUCCESS,
            RunStatus::Failed => exit_code::HOSTS_FAILED,
            RunStatus::Halted => exit_code::HALTED,
            RunStatus::Deferred => exit_code::DEFERRED,
            RunStatus::Interrupted => exit_code::INTERRUPTED,
        }
    }
}

/// Named exit codes of `sflow run` (documented in `docs/engine.md`).
pub mod exit_code {
    /// Every host succeeded.
    pub const SUCCESS: u8 = 0;
    /// Some hosts failed (within the failure budgets).
    pub const HOSTS_FAILED: u8 = 1;
    /// Bad flags, unreadable files, a workflow that does not compile, a plan whose hash differs.
    pub const USAGE: u8 = 2;
    /// A gate or a failure budget halted the rollout.
    pub const HALTED: u8 = 3;
    /// Work was deferred by maintenance windows.
    pub const DEFERRED: u8 = 4;
    /// The operator interrupted the run (Ctrl-C), or declined the confirmation.
    pub const INTERRUPTED: u8 = 130;
}

/// A host's state in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Not started yet.
    Pending,
    /// Has work in flight or waiting.
    Running,
    /// Every task ok, skipped or failed with `allow_failure`.
    Ok,
    /// A task failed.
    Failed,
    /// Some work could not start in the host's window.
    Deferred,
    /// A command was stopped (window expiry with `abort`, or a second Ctrl-C).
    Interrupted,
    /// Never started or stopped early because the run halted or was interrupted.
    Cancelled,
    /// Its changes were rolled back.
    RolledBack,
}

impl HostState {
    /// Its name as serialised (`rolled_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Pending => "pending",
            HostState::Running => "running",
            HostState::Ok => "ok",
            HostState::Failed => "failed",
            HostState::Deferred => "deferred",
            HostState::Interrupted => "interrupted",
            HostState::Cancelled => "cancelled",
            HostState::RolledBack => "rolled_back",
        }
    }

    /// Whether the host will do nothing more in this run.
    pub fn is_final(self) -> bool {
        !matches!(self, HostState::Pending | HostState::Running)
    }
}

/// A task's state on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Not started.
    Pending,
    /// An attempt is in flight (or waits for its retry delay).
    Running,
    /// Exited 0.
    Ok,
    /// Failed after its retries: fails the host.
    Failed,
    /// Failed, but `allow_failure` keeps the host going.
    FailedAllowed,
    /// Its `when` was false (counts as done for dependents).
    Skipped,
    /// Will not run in this run (see the `CancelReason`).
    Cancelled,
    /// Could not start in its window; resume runs it.
    Deferred,
    /// Its command was stopped while running.
    Interrupted,
}

impl TaskState {
    /// Its name as serialised (`failed_allowed`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Ok => "ok",
            TaskState::Failed => "failed",
            TaskState::FailedAllowed => "failed_allowed",
            TaskState::Skipped => "skipped",
            TaskState::Cancelled => "cancelled",
            TaskState::Deferred => "deferred",
            TaskState::Interrupted => "interrupted",
        }
    }

    /// Final and lets dependents go on.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            TaskState::Ok | TaskState::FailedAllowed | TaskState::Skipped
        )
    }

    /// Whether the task will do nothing more in this run.
    pub fn is_final(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Running)
    }
}

/// Why a task did not run, or stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum CancelReason {
    /// An earlier task failed on this host.
    HostFailed { task: String },
    /// A barrier dependency did not finish on all its hosts.
    BarrierFailed { task: String },
    /// A dependency on this host will not run (it was cancelled or deferred).
    DependencyNotDone { task: String },
    /// The rollout halted.
    Halted,
    /// The operator interrupted the run.
    Interrupted,
    /// The host's window closed (`on_expire`).
    WindowExpired,
    /// The host's window cannot fit the task.
    WindowClosed,
    /// The run ended before the task could be reached.
    NotReached,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum Failure {
    /// The command exited non-zero (or was killed by a signal: no code).
    Exit { code: Option<i32> },
    /// The command ran longer than its `timeout`.
    Timeout {
        #[serde(rename = "timeout_ms", with = "millis")]
        after: Duration,
    },
    /// The host could not be reached or the session broke.
    Connection { message: String },
    /// The command could not be built (interpolation) or evaluated (`when`).
    Evaluation { message: String },
}

/// Why the run stopped starting work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "halt", rename_all = "snake_case")]
pub enum HaltReason {
    /// A wave had more failed hosts than its `max_failures`.
    WaveFailures { failed: usize, allowed: usize },
    /// The run-wide failure budget was exceeded.
    FailureBudget { failed: usize, allowed: usize },
    /// The gate re-checked after `bake` failed.
    BakeFailed,
}

/// What `on_expire` does to a running command when its window closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExpire {
    /// Let it end; start nothing new.
    #[default]
    Finish,
    /// Stop it; the host is interrupted.
    Abort,
    /// Stop it, then run the host's rollbacks.
    Rollback,
}

/// Which hosts a rollback covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackScope {
    /// The failing wave's changed hosts.
    #[default]
    Wave,
    /// Every host changed so far, newest wave first.
    All,
    /// One host whose window expired with `on_expire = "rollback"`.
    Host,
}

/// Why the adaptive throttle changed a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleReason {
    /// Commands got markedly slower than their baseline.
    Latency,
    /// Connections failed.
    ConnectionErrors,
    /// A round of healthy completions.
    Recovery,
}

/// Something the operator did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OperatorAction {
    /// Confirmed the plan (or passed `--yes`).
    Confirmed { by_flag: bool },
    /// First Ctrl-C: start nothing new.
    Interrupt,
    /// Second Ctrl-C: stop in-flight commands.
    ForceInterrupt,
    /// Ran with `--ignore-windows REASON`.
    IgnoreWindows { reason: String },
}

/// Serde helper: a `Duration` as whole milliseconds.
pub(crate) mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_tagged_ndjson() {
        let ev = Event {
            timestamp: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            elapsed: Duration::from_millis(1500),
            kind: EventKind::TaskFinished {
                host: "web01".into(),
                task: "upgrade".into(),
                state: TaskState::Failed,
                attempts: 3,
                exit: Some(100),
                duration: Duration::from_secs(2),
                reason: None,
                failure: Some(Failure::Exit { code: Some(100) }),
                stdout: String::new(),
                stderr: "E: broken".into(),
            },
        };
        let line = ev.to_json_line();
        assert!(!line.contains('\n'));
        assert!(line.contains("\"kind\":\"task_finished\""), "{line}");
        assert!(line.contains("\"elapsed_ms\":1500"), "{line}");
        assert!(line.contains("\"state\":\"failed\""), "{line}");
        let back: Event = serde_json::from_str(&line)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(back, ev);
    }

    #[test]
    fn statuses_map_to_distinct_exit_codes() {
        let all = [
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Halted,
            RunStatus::Deferred,
            RunStatus::Interrupted,
        ];
        let mut codes: Vec<u8> = all.iter().map(|s| s.exit_code()).collect();
        codes.push(exit_code::USAGE);
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
        assert_eq!(RunStatus::Succeeded.exit_code(), 0);
    }

    #[test]
    fn state_names_are_their_serialised_names() {
        use HostState as H;
        use TaskState as T;
        let name = |v: serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_default();
        for h in [
            H::Pending,
            H::Running,
            H::Ok,
            H::Failed,
            H::Deferred,
            H::Interrupted,
            H::Cancelled,
            H::RolledBack,
        ] {
            assert_eq!(name(serde_json::json!(h)), h.as_str());
        }
        for t in [
            T::Pending,
            T::Running,
            T::Ok,
            T::Failed,
            T::FailedAllowed,
            T::Skipped,
            T::Cancelled,
            T::Deferred,
            T::Interrupted,
        ] {
            assert_eq!(name(serde_json::json!(t)), t.as_str());
        }
    }
}
