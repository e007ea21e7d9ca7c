//! Work finished by an earlier session of a run (resume): the dispatcher settles such a task
//! with its recorded outcome when its turn comes instead of starting it.
//!
//! Input: `RunOptions::done` (by host and task name). Output: slots and host facts filled as if
//! the task had just finished, and one `task_finished` event with `attempts: 0`.

use super::dispatcher::Dispatcher;
use super::event::TaskState;
use super::spec::{HostId, RunSpec, TaskId, TaskOutcome};
use std::collections::HashMap;

/// [`super::RunOptions::done`] keyed by index; names the spec does not know are dropped.
pub(crate) fn resolve(
    spec: &RunSpec,
    done: HashMap<(String, String), TaskOutcome>,
) -> HashMap<(HostId, TaskId), TaskOutcome> {
    if done.is_empty() {
        return HashMap::new();
    }
    let hosts: HashMap<&str, HostId> = spec
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    let tasks: HashMap<&str, TaskId> = spec
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    done.into_iter()
        .filter_map(|((h, t), o)| Some(((*hosts.get(h.as_str())?, *tasks.get(t.as_str())?), o)))
        .collect()
}

impl Dispatcher {
    /// Settles `t` on `h` from an earlier session's outcome instead of starting it (resume);
    /// false when an earlier session did not finish it.
    pub(crate) fn settle_done(&mut self, h: HostId, t: TaskId) -> bool {
        if self.done.is_empty() {
            return false;
        }
        let Some(outcome) = self.done.remove(&(h, t)) else {
            return false;
        };
        let state = outcome
            .state
            .filter(|s| s.is_done())
            .unwrap_or(TaskState::Ok);
        if let Some(slot) = self.hosts[h].slot_mut(t) {
            slot.exit = outcome.exit;
            slot.stdout = outcome.stdout;
            slot.stderr = outcome.stderr;
        }
        match state {
            TaskState::Ok => self.task_succeeded(h, t),
            TaskState::FailedAllowed => {
                self.finish_task(h, t, state, None, None);
                self.after_capture(h, t);
            }
            _ => self.finish_task(h, t, state, None, None),
        }
        true
    }
}
