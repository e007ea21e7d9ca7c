//! The dispatcher's per-host run state: each task's slot in the host's static order
//! (dependency order, then as written), and the host's flags.
//!
//! Input: the `RunSpec`. Output: mutable state owned by the dispatcher only.

use super::event::{HostState, TaskState};
use super::spec::{RunSpec, TaskId, TaskOutcome};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// One task on one host.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub task: TaskId,
    pub state: TaskState,
    pub attempts: u32,
    pub exit: Option<i32>,
    pub last_took: Duration,
    pub stdout: String,
    pub stderr: String,
}

/// One host's state.
#[derive(Debug)]
pub(crate) struct HostRun {
    pub wave: usize,
    /// Its tasks in the order they run: dependencies first, then as written.
    pub slots: Vec<Slot>,
    pub in_flight: usize,
    pub retry_pending: usize,
    /// Took its first slot (stagger and `host_started` apply once).
    pub started: bool,
    pub failed: bool,
    pub deferred: bool,
    pub interrupted: bool,
    /// Its window expired with `abort` or `rollback`.
    pub window_interrupted: bool,
    /// `on_expire = "rollback"` is due once in-flight commands stopped.
    pub expire_rollback: bool,
    pub rolling_back: bool,
    pub rolled_back: bool,
    pub rollback_failed: bool,
    /// `--wait`: sleeping until its windows fit.
    pub waiting_until: Option<Instant>,
    /// The instant its window closes, and the timer generation watching it.
    pub window_close_at: Option<Instant>,
    pub window_gen: u64,
    /// Tasks that succeeded, in completion order (rollback runs them backwards).
    pub completed: Vec<TaskId>,
    pub results: BTreeMap<String, TaskOutcome>,
    pub captures: BTreeMap<String, String>,
    /// The state last reported in `host_finished`.
    pub reported: Option<HostState>,
}

impl HostRun {
    /// `mine`: the tasks targeting this host, as written.
    pub fn new(spec: &RunSpec, mine: &[TaskId], wave: usize) -> Self {
        let slots = host_order(spec, mine)
            .into_iter()
            .map(|task| Slot {
                task,
                state: TaskState::Pending,
                attempts: 0,
                exit: None,
                last_took: Duration::ZERO,
                stdout: String::new(),
                stderr: String::new(),
            })
            .collect();
        HostRun {
            wave,
            slots,
            in_flight: 0,
            retry_pending: 0,
            started: false,
            failed: false,
            deferred: false,
            interrupted: false,
            window_interrupted: false,
            expire_rollback: false,
            rolling_back: false,
            rolled_back: false,
            rollback_failed: false,
            waiting_until: None,
            window_close_at: None,
            window_gen: 0,
            completed: Vec::new(),
            results: BTreeMap::new(),
            captures: BTreeMap::new(),
            reported: None,
        }
    }

    pub fn slot(&self, t: TaskId) -> Option<&Slot> {
        self.slots.iter().find(|s| s.task == t)
    }

    pub fn slot_mut(&mut self, t: TaskId) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.task == t)
    }

    /// The host's state once nothing of it is pending.
    pub fn final_state(&self) -> HostState {
        if self.rollback_failed || self.failed && !self.rolled_back {
            return HostState::Failed;
        }
        if self.rolled_back {
            return HostState::RolledBack;
        }
        if self.interrupted {
            return HostState::Interrupted;
        }
        if self.deferred || self.slots.iter().any(|s| s.state == TaskState::Deferred) {
            return HostState::Deferred;
        }
        if self.slots.iter().any(|s| s.state == TaskState::Cancelled) {
            return HostState::Cancelled;
        }
        HostState::Ok
    }
}

/// The tasks of a host in run order: a topological order of their on-host dependencies,
/// the earliest-written ready task first.
pub(crate) fn host_order(spec: &RunSpec, mine: &[TaskId]) -> Vec<TaskId> {
    let mut done = vec![false; spec.tasks.len()];
    let mut order = Vec::with_capacity(mine.len());
    while order.len() < mine.len() {
        let next = mine.iter().copied().find(|&t| {
            !done[t]
                && spec.tasks[t]
                    .after
                    .iter()
                    .all(|&d| done.get(d).copied().unwrap_or(true) || !mine.contains(&d))
        });
        // A cycle is the checker's to reject; append the rest as written rather than loop.
        let Some(t) = next else {
            order.extend(mine.iter().copied().filter(|&t| !done[t]));
            break;
        };
        done[t] = true;
        order.push(t);
    }
    order
}
