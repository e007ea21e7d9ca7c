//! The journal's two hooks into the engine: [`JournalSink`] turns each engine [`Event`] into
//! store writes and audit records, and [`JournaledRunner`] wraps the engine's `Runner` so that
//! a command is sent only once everything recorded before it (its `task_started`) is durable.

use super::{AuditItem, DurableWaiter, Journal};
use crate::audit::{AuditEntry, OperatorAction as AuditAction};
use crate::engine::event::OperatorAction;
use crate::engine::runner::{ConnectionError, RunFuture};
use crate::engine::{Event, EventKind, EventSink, RunSpec, Runner};
use crate::resume::HostTask;
use crate::store::{RunStatus, Write};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The engine's run status as the store names it.
fn run_status(s: crate::engine::RunStatus) -> RunStatus {
    use crate::engine::RunStatus as E;
    match s {
        E::Succeeded => RunStatus::Succeeded,
        E::Failed => RunStatus::Failed,
        E::Halted => RunStatus::Halted,
        E::Deferred => RunStatus::Deferred,
        E::Interrupted => RunStatus::Interrupted,
    }
}

/// The snake-case name serde gives a unit enum value (`TaskState::Ok` → `ok`).
fn name_of<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

/// The `kind` tag of an event and the event's fields as JSON.
fn kind_and_detail(kind: &EventKind) -> (String, serde_json::Value) {
    let mut v = serde_json::to_value(kind).unwrap_or_default();
    let name = v
        .as_object_mut()
        .and_then(|o| o.remove("kind"))
        .and_then(|k| k.as_str().map(str::to_owned))
        .unwrap_or_else(|| "event".to_owned());
    (name, v)
}

/// An engine event sink writing the run's journal and audit log. It hands each event to the
/// journal thread as it is; the [`Translator`] there turns it into store writes and audit
/// records, off the engine's thread.
pub struct JournalSink {
    journal: Journal,
    /// Offer the engine the launch gate (always, outside tests).
    gated: bool,
}

impl std::fmt::Debug for JournalSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalSink")
            .field("journal", &self.journal)
            .finish()
    }
}

impl JournalSink {
    /// A sink for a run of `spec`, recorded by `operator` (`user@host`). `attempt_base` gives
    /// the attempts already made per `(host, task)` when resuming (empty for a new run).
    pub fn new(
        journal: Journal,
        spec: &RunSpec,
        operator: String,
        attempt_base: HashMap<(String, String), u32>,
        done_before: HashSet<HostTask>,
    ) -> Self {
        let captures = spec
            .tasks
            .iter()
            .filter_map(|t| t.capture.clone().map(|c| (t.name.clone(), c)))
            .collect();
        journal.set_translator(Translator {
            operator,
            attempt_base,
            captures,
            done_before,
        });
        Self {
            journal,
            gated: true,
        }
    }

    /// The sink without its launch gate, for tests on tokio's paused clock: the dispatcher
    /// waiting on the journal thread would let paused time jump ahead. Commands are then held
    /// only by a [`JournaledRunner`], if the test uses one.
    #[cfg(any(test, feature = "testing"))]
    pub fn without_launch_gate(mut self) -> Self {
        self.gated = false;
        self
    }

    /// The waiter the [`JournaledRunner`] uses.
    pub fn waiter(&self) -> DurableWaiter {
        self.journal.waiter()
    }

    /// The journal (to close it and see whether it failed).
    pub fn into_journal(self) -> Journal {
        self.journal
    }
}

/// Turns engine events into store writes and audit records, on the journal thread.
#[derive(Debug, Default)]
pub(super) struct Translator {
    operator: String,
    /// Attempts made by earlier sessions of this run (a resume continues their numbering).
    attempt_base: HashMap<(String, String), u32>,
    /// Task name → capture name.
    captures: HashMap<String, String>,
    /// Tasks an earlier session finished: a resumed engine settles them from the journal
    /// (`RunOptions::done`) without running them, and their events are not journaled again.
    done_before: HashSet<HostTask>,
}

impl Translator {
    fn was_done_before(&self, host: &str, task: &str) -> bool {
        !self.done_before.is_empty()
            && self
                .done_before
                .contains(&(host.to_owned(), task.to_owned()))
    }

    fn base(&self, host: &str, task: &str) -> u32 {
        if self.attempt_base.is_empty() {
            return 0;
        }
        self.attempt_base
            .get(&(host.to_owned(), task.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Appends the store writes and audit records of one event to `writes` and `audit`,
    /// moving the event's texts into them.
    pub(super) fn translate(&self, e: Event, writes: &mut Vec<Write>, audit: &mut Vec<AuditItem>) {
        let at = e.timestamp;
        let mut audit = |entry| audit.push((at, entry));
        match &e.kind {
            EventKind::TaskStarted { host, task, .. }
            | EventKind::TaskRetrying { host, task, .. }
            | EventKind::TaskFinished { host, task, .. }
                if self.was_done_before(host, task) =>
            {
                return
            }
            // A task decided without running in a resumed session must not overwrite the
            // attempts of earlier sessions: it is an event only.
            EventKind::TaskFinished {
                host,
                task,
                attempts: 0,
                ..
            } if self.base(host, task) > 0 => {
                let (kind, detail) = kind_and_detail(&e.kind);
                writes.push(Write::Event {
                    at,
                    kind,
                    wave: None,
                    host: Some(host.clone()),
                    task: Some(task.clone()),
                    detail,
                });
                return;
            }
            _ => {}
        }
        match e.kind {
            EventKind::TaskStarted {
                host,
                task,
                attempt,
                command,
                ..
            } => {
                let attempt = self.base(&host, &task) + attempt;
                audit(AuditEntry::CommandStart {
                    host: host.clone(),
                    task: task.clone(),
                    attempt,
                    command: command.clone(),
                });
                writes.push(Write::TaskStarted {
                    host,
                    task,
                    attempt,
                    at,
                    command,
                });
            }
            EventKind::TaskRetrying {
                host,
                task,
                attempt,
                failure,
                ..
            } => {
                let attempt = self.base(&host, &task) + attempt;
                let exit_code = match failure {
                    crate::engine::event::Failure::Exit { code } => code,
                    _ => None,
                };
                let outcome = name_of(&failure);
                audit(AuditEntry::CommandEnd {
                    host: host.clone(),
                    task: task.clone(),
                    attempt,
                    exit_code,
                    duration_ms: 0,
                    outcome: format!("retry ({outcome})"),
                });
                writes.push(Write::TaskFinished {
                    host,
                    task,
                    attempt,
                    at,
                    state: "failed".to_owned(),
                    exit_code,
                    duration_ms: 0,
                    stdout: String::new(),
                    stderr: String::new(),
                });
            }
            EventKind::TaskFinished {
                host,
                task,
                state,
                attempts,
                exit,
                duration,
                stdout,
                stderr,
                ..
            } => {
                // Attempts of earlier sessions with none now were settled above.
                let attempt = self.base(&host, &task) + attempts;
                let state_name = state.as_str();
                let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
                if attempts > 0 {
                    audit(AuditEntry::CommandEnd {
                        host: host.clone(),
                        task: task.clone(),
                        attempt,
                        exit_code: exit,
                        duration_ms,
                        outcome: state_name.to_owned(),
                    });
                }
                let captured = match self.captures.get(&task) {
                    Some(name) if state.is_done() && attempts > 0 => Some(Write::Captured {
                        host: host.clone(),
                        task: task.clone(),
                        name: name.clone(),
                        value: stdout.trim_end().to_owned(),
                        at,
                    }),
                    _ => None,
                };
                writes.push(Write::TaskFinished {
                    host,
                    task,
                    attempt,
                    at,
                    state: state_name.to_owned(),
                    exit_code: exit,
                    duration_ms,
                    stdout,
                    stderr,
                });
                writes.extend(captured);
            }
            EventKind::HostStarted { host, .. } => writes.push(Write::HostState {
                host,
                state: "running".to_owned(),
                at,
                reason: None,
            }),
            EventKind::HostFinished { host, state, .. } => writes.push(Write::HostState {
                host,
                state: state.as_str().to_owned(),
                at,
                reason: None,
            }),
            other => {
                let (kind, detail) = kind_and_detail(&other);
                let (wave, host, task) = scope_of(&other);
                if let EventKind::RunFinished { status, .. } = other {
                    writes.push(Write::RunStatus {
                        status: run_status(status),
                        at,
                    });
                }
                if let Some(a) = self.audit_of(&other) {
                    audit(a);
                }
                writes.push(Write::Event {
                    at,
                    kind,
                    wave,
                    host,
                    task,
                    detail,
                });
            }
        }
    }

    fn audit_of(&self, kind: &EventKind) -> Option<AuditEntry> {
        Some(match kind {
            EventKind::RollbackStep {
                host,
                task,
                command,
                ok,
                exit,
            } => AuditEntry::Rollback {
                host: host.clone(),
                task: task.clone(),
                detail: format!(
                    "{} (exit {}): {command}",
                    if *ok { "ok" } else { "failed" },
                    exit.map_or_else(|| "-".to_owned(), |c| c.to_string())
                ),
            },
            EventKind::WindowWait { host, task, until } => AuditEntry::Window {
                window: String::new(),
                event: format!("wait until {until} before {task}"),
                host: Some(host.clone()),
            },
            EventKind::WindowExpired {
                host,
                task,
                on_expire,
            } => AuditEntry::Window {
                window: String::new(),
                event: format!("expired during {task} ({})", name_of(on_expire)),
                host: Some(host.clone()),
            },
            EventKind::Deferred { host, tasks, .. } => AuditEntry::Window {
                window: String::new(),
                event: format!("deferred: {}", tasks.join(", ")),
                host: Some(host.clone()),
            },
            EventKind::GateResult {
                wave,
                passed,
                failed_hosts,
                allowed,
                after_bake,
            } => AuditEntry::Gate {
                wave: wave.clone(),
                decision: if *passed { "pass" } else { "halt" }.to_owned(),
                detail: format!(
                    "{} failed host(s), {allowed} allowed{}",
                    failed_hosts.len(),
                    if *after_bake { ", after bake" } else { "" }
                ),
            },
            EventKind::Halted { reason, wave } => AuditEntry::Gate {
                wave: wave.clone().unwrap_or_default(),
                decision: "halt".to_owned(),
                detail: kind_and_detail_reason(reason),
            },
            EventKind::OperatorAction { action } => {
                let (action, reason) = match action {
                    OperatorAction::Confirmed { .. } => (AuditAction::Confirm, None),
                    OperatorAction::Interrupt => (AuditAction::Interrupt, None),
                    OperatorAction::ForceInterrupt => {
                        (AuditAction::Interrupt, Some("second interrupt".to_owned()))
                    }
                    OperatorAction::IgnoreWindows { reason } => {
                        (AuditAction::IgnoreWindows, Some(reason.clone()))
                    }
                };
                AuditEntry::Operator {
                    action,
                    user: self.operator.clone(),
                    reason,
                }
            }
            _ => return None,
        })
    }
}

fn kind_and_detail_reason<T: serde::Serialize>(reason: &T) -> String {
    serde_json::to_string(reason).unwrap_or_default()
}

/// The wave, host and task an event is about, for the store's columns.
fn scope_of(kind: &EventKind) -> (Option<String>, Option<String>, Option<String>) {
    let s = |x: &String| Some(x.clone());
    match kind {
        EventKind::WaveStarted { wave, .. }
        | EventKind::WaveFinished { wave, .. }
        | EventKind::GateResult { wave, .. }
        | EventKind::BakeStarted { wave, .. } => (s(wave), None, None),
        EventKind::Halted { wave, .. } => (wave.clone(), None, None),
        EventKind::WindowWait { host, task, .. }
        | EventKind::WindowExpired { host, task, .. }
        | EventKind::RollbackStep { host, task, .. } => (None, s(host), s(task)),
        EventKind::Deferred { host, .. } | EventKind::VerificationFinished { host, .. } => {
            (None, s(host), None)
        }
        _ => (None, None, None),
    }
}

impl EventSink for JournalSink {
    fn launch_gate(&self) -> Option<Arc<dyn crate::engine::LaunchGate>> {
        self.gated
            .then(|| Arc::new(self.journal.waiter()) as Arc<dyn crate::engine::LaunchGate>)
    }

    fn event(&mut self, event: &Event) {
        self.journal.record_event(event.clone());
    }

    fn event_owned(&mut self, event: Event) {
        self.journal.record_event(event);
    }
}

/// Wraps the engine's runner: a command is sent only after everything journaled before it
/// (its `task_started`) is committed; when the journal has failed, the command is refused as
/// a connection error rather than sent unrecorded.
pub struct JournaledRunner {
    inner: Arc<dyn Runner>,
    waiter: DurableWaiter,
}

impl JournaledRunner {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Runner>, waiter: DurableWaiter) -> Self {
        Self { inner, waiter }
    }
}

impl Runner for JournaledRunner {
    fn run(&self, req: crate::engine::CommandRequest) -> RunFuture {
        // A command the engine released through the sink's launch gate has its start
        // committed already; others (rollback steps, verifications) wait here.
        let durable = (!req.released).then(|| self.waiter.wait());
        let failed = self.waiter.failure();
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let ready = match (durable, failed) {
                (_, Some(e)) => Err(e),
                (Some(durable), None) => durable.await,
                (None, None) => Ok(()),
            };
            if let Err(e) = ready {
                return Err(ConnectionError {
                    host: req.host.clone(),
                    message: format!("not sent: {e}"),
                });
            }
            inner.run(req).await
        })
    }
}
