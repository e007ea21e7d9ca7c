//! The outcome of a run as a library value: `RunResult`, built from the event stream alone
//! (so every reporter and the result agree by construction).
//!
//! Input: `Event`s. Output: per-host states, task states and outputs, gates, rollbacks,
//! verification results, and the lists of successful, failed and deferred servers.

use super::event::{
    CancelReason, Event, EventKind, EventSink, Failure, HostState, OperatorAction, RunStatus,
    TaskState,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A task's result on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// Task name.
    pub task: String,
    /// Final state.
    pub state: TaskState,
    /// Attempts made.
    pub attempts: u32,
    /// Exit code of the last attempt.
    pub exit: Option<i32>,
    /// Time of the last attempt.
    #[serde(rename = "duration_ms", with = "super::event::millis")]
    pub duration: Duration,
    /// Why it was cancelled, deferred or interrupted.
    pub reason: Option<CancelReason>,
    /// Why it failed.
    pub failure: Option<Failure>,
    /// Standard output (masked).
    pub stdout: String,
    /// Standard error (masked).
    pub stderr: String,
}

/// A host's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostResult {
    /// Final state.
    pub state: HostState,
    /// Its wave.
    pub wave: String,
    /// Its tasks, in the order they finished.
    pub tasks: Vec<TaskResult>,
    /// Rollback commands run on it, in order: (task, ok).
    pub rollbacks: Vec<(String, bool)>,
}

/// A wave gate's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRecord {
    /// The wave.
    pub wave: String,
    /// Passed or not.
    pub passed: bool,
    /// Its failed hosts.
    pub failed_hosts: Vec<String>,
    /// Failures allowed.
    pub allowed: usize,
    /// Whether this is the re-check after `bake`.
    pub after_bake: bool,
}

/// A configuration verification's verdict on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRecord {
    /// The `verify` block.
    pub verify: String,
    /// The host.
    pub host: String,
    /// Its verdict.
    pub passed: bool,
    /// What was compared.
    pub detail: String,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The workflow.
    pub workflow: String,
    /// How it ended.
    pub status: RunStatus,
    /// Hosts whose every task succeeded (or was skipped, or failed with `allow_failure`).
    pub successful_servers: Vec<String>,
    /// Hosts with a failed task.
    pub failed_servers: Vec<String>,
    /// Hosts with work left for the next window.
    pub deferred_servers: Vec<String>,
    /// Hosts whose commands were stopped.
    pub interrupted_servers: Vec<String>,
    /// Hosts rolled back.
    pub rolled_back_servers: Vec<String>,
    /// Hosts never started, or stopped early by a halt.
    pub cancelled_servers: Vec<String>,
    /// Per host.
    pub hosts: BTreeMap<String, HostResult>,
    /// Gate decisions in order.
    pub gates: Vec<GateRecord>,
    /// Configuration verification verdicts.
    pub verification_results: Vec<VerificationRecord>,
    /// The full verification report (per host and capture, drift, summary), when the
    /// workflow has verify blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::verify::FleetReport>,
    /// `--ignore-windows` reason, if the run ignored its windows.
    pub ignored_windows: Option<String>,
    /// Run time.
    #[serde(rename = "elapsed_ms", with = "super::event::millis")]
    pub elapsed: Duration,
}

impl RunResult {
    /// The process exit code of `sflow run`.
    pub fn exit_code(&self) -> u8 {
        self.status.exit_code()
    }
}

/// Builds a [`RunResult`] from events.
#[derive(Debug, Default)]
pub struct ResultBuilder {
    workflow: String,
    status: Option<RunStatus>,
    hosts: BTreeMap<String, HostResult>,
    gates: Vec<GateRecord>,
    verifications: Vec<VerificationRecord>,
    verification: Option<crate::verify::FleetReport>,
    ignored_windows: Option<String>,
    elapsed: Duration,
}

impl ResultBuilder {
    /// Folds one event in.
    pub fn apply(&mut self, ev: &Event) {
        self.elapsed = ev.elapsed;
        match &ev.kind {
            EventKind::RunStarted { workflow, .. } => self.workflow.clone_from(workflow),
            EventKind::RunFinished { status, .. } => self.status = Some(*status),
            EventKind::WaveStarted { wave, hosts, .. } => {
                for h in hosts {
                    self.hosts.entry(h.clone()).or_insert_with(|| HostResult {
                        state: HostState::Pending,
                        wave: wave.clone(),
                        tasks: Vec::new(),
                        rollbacks: Vec::new(),
                    });
                }
            }
            EventKind::HostStarted { host, .. } => self.host(host).state = HostState::Running,
            EventKind::HostFinished { host, state, .. } => self.host(host).state = *state,
            EventKind::TaskFinished {
                host,
                task,
                state,
                attempts,
                exit,
                duration,
                reason,
                failure,
                stdout,
                stderr,
            } => {
                let r = TaskResult {
                    task: task.clone(),
                    state: *state,
                    attempts: *attempts,
                    exit: *exit,
                    duration: *duration,
                    reason: reason.clone(),
                    failure: failure.clone(),
                    stdout: stdout.clone(),
                    stderr: stderr.clone(),
                };
                let h = self.host(host);
                // A re-run after bake replaces the earlier result of the same task.
                h.tasks.retain(|t| t.task != *task);
                h.tasks.push(r);
            }
            EventKind::RollbackStep { host, task, ok, .. } => {
                self.host(host).rollbacks.push((task.clone(), *ok))
            }
            EventKind::GateResult {
                wave,
                passed,
                failed_hosts,
                allowed,
                after_bake,
            } => self.gates.push(GateRecord {
                wave: wave.clone(),
                passed: *passed,
                failed_hosts: failed_hosts.clone(),
                allowed: *allowed,
                after_bake: *after_bake,
            }),
            EventKind::VerificationFinished {
                verify,
                host,
                passed,
                detail,
            } => {
                self.verifications.push(VerificationRecord {
                    verify: verify.clone(),
                    host: host.clone(),
                    passed: *passed,
                    detail: detail.clone(),
                });
            }
            EventKind::VerificationReport { report } => {
                self.verification = Some((**report).clone());
            }
            EventKind::OperatorAction {
                action: OperatorAction::IgnoreWindows { reason },
            } => {
                self.ignored_windows = Some(reason.clone());
            }
            _ => {}
        }
    }

    fn host(&mut self, name: &str) -> &mut HostResult {
        self.hosts
            .entry(name.to_string())
            .or_insert_with(|| HostResult {
                state: HostState::Pending,
                wave: String::new(),
                tasks: Vec::new(),
                rollbacks: Vec::new(),
            })
    }

    /// The result so far (status `interrupted` if the run never reported its end).
    pub fn build(&self) -> RunResult {
        let with = |s: HostState| -> Vec<String> {
            self.hosts
                .iter()
                .filter(|(_, h)| h.state == s)
                .map(|(n, _)| n.clone())
                .collect()
        };
        let mut cancelled = with(HostState::Cancelled);
        cancelled.extend(with(HostState::Pending));
        RunResult {
            workflow: self.workflow.clone(),
            status: self.status.unwrap_or(RunStatus::Interrupted),
            successful_servers: with(HostState::Ok),
            failed_servers: with(HostState::Failed),
            deferred_servers: with(HostState::Deferred),
            interrupted_servers: with(HostState::Interrupted),
            rolled_back_servers: with(HostState::RolledBack),
            cancelled_servers: cancelled,
            hosts: self.hosts.clone(),
            gates: self.gates.clone(),
            verification_results: self.verifications.clone(),
            verification: self.verification.clone(),
            ignored_windows: self.ignored_windows.clone(),
            elapsed: self.elapsed,
        }
    }
}

/// A sink that builds a [`RunResult`] readable after the run.
#[derive(Debug, Clone, Default)]
pub struct ResultSink(pub Arc<Mutex<ResultBuilder>>);

impl ResultSink {
    /// The result so far.
    pub fn result(&self) -> RunResult {
        match self.0.lock() {
            Ok(b) => b.build(),
            Err(e) => e.into_inner().build(),
        }
    }
}

impl EventSink for ResultSink {
    fn event(&mut self, event: &Event) {
        match self.0.lock() {
            Ok(mut b) => b.apply(event),
            Err(e) => e.into_inner().apply(event),
        }
    }
}
