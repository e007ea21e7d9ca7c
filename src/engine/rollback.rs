//! Rollback: which hosts and commands, in which order (waves newest first, each host's
//! completed tasks newest first), run in batches no wider than `max_servers`.
//!
//! Input: the hosts' completed tasks. Output: rollback executors started, rollback events,
//! hosts marked rolled back (or failed when an undo command fails).

use super::dispatcher::Dispatcher;
use super::event::{EventKind, RollbackScope};
use super::executor::{run_rollback, RollbackCommand};
use super::spec::{HostId, TaskId};

impl Dispatcher {
    /// The undo commands of `h`, newest completed task first.
    fn rollback_steps(&self, h: HostId) -> Vec<TaskId> {
        self.hosts[h]
            .completed
            .iter()
            .rev()
            .copied()
            .filter(|&t| self.spec.tasks[t].rollback.is_some())
            .collect()
    }

    /// Queues the rollback of the changed hosts of `waves` (in that order).
    pub(crate) fn queue_rollback(&mut self, waves: &[usize], scope: RollbackScope) {
        let width = self.spec.limits.max_servers.unwrap_or(usize::MAX).max(1);
        let mut order = Vec::new();
        for &w in waves {
            let hosts: Vec<HostId> = self
                .wave_hosts(w)
                .filter(|&h| !self.hosts[h].rolled_back && !self.rollback_steps(h).is_empty())
                .collect();
            order.extend(hosts.iter().copied());
            for chunk in hosts.chunks(width) {
                self.rollback_queue.push_back(chunk.to_vec());
            }
        }
        self.queue_host_list(order, scope);
    }

    /// Queues the rollback of one host whose window expired with `on_expire = "rollback"`.
    pub(crate) fn queue_host_rollback(&mut self, h: HostId) {
        if self.rollback_steps(h).is_empty() {
            return;
        }
        self.rollback_queue.push_back(vec![h]);
        self.queue_host_list(vec![h], RollbackScope::Host);
    }

    fn queue_host_list(&mut self, hosts: Vec<HostId>, scope: RollbackScope) {
        if hosts.is_empty() {
            return;
        }
        self.rollback_open = true;
        let names = hosts
            .iter()
            .map(|&h| self.spec.hosts[h].name.clone())
            .collect();
        self.emit(EventKind::RollbackStarted {
            scope,
            hosts: names,
        });
    }

    /// Starts the next batch when the previous one is done.
    pub(crate) fn start_queued_rollbacks(&mut self) {
        if self.rollbacks_running > 0 {
            return;
        }
        let Some(batch) = self.rollback_queue.pop_front() else {
            return;
        };
        for h in batch {
            let mut steps = Vec::new();
            for t in self.rollback_steps(h) {
                let Some(template) = self.spec.tasks[t].rollback.clone() else {
                    continue;
                };
                match self.request_for(h, t, &template) {
                    Ok((request, display)) => {
                        self.rollback_display.insert((h, t), display);
                        steps.push(RollbackCommand {
                            task: t,
                            request,
                            timeout: self.spec.tasks[t].timeout,
                        });
                    }
                    Err(message) => {
                        // An undo command that cannot be built is a failed undo: report it
                        // and stop this host's rollback, as a failing command would.
                        self.rollback_display.insert((h, t), format!("<{message}>"));
                        self.on_rollback_step(h, t, false, None);
                        break;
                    }
                }
            }
            self.hosts[h].rolling_back = true;
            self.rollbacks_running += 1;
            let tx = self.tx.clone();
            tokio::spawn(run_rollback(self.runner.clone(), h, steps, tx));
        }
    }

    /// One undo command ended.
    pub(crate) fn on_rollback_step(&mut self, h: HostId, t: TaskId, ok: bool, exit: Option<i32>) {
        if ok {
            self.rollback_tally.0 += 1;
        } else {
            self.rollback_tally.1 += 1;
            self.hosts[h].rollback_failed = true;
        }
        let command = self.rollback_display.remove(&(h, t)).unwrap_or_default();
        self.emit(EventKind::RollbackStep {
            host: self.spec.hosts[h].name.clone(),
            task: self.spec.tasks[t].name.clone(),
            command,
            ok,
            exit,
        });
    }

    /// A host's rollback sequence ended.
    pub(crate) fn on_rollback_done(&mut self, h: HostId, ok: bool) {
        self.rollbacks_running = self.rollbacks_running.saturating_sub(1);
        self.hosts[h].rolling_back = false;
        if ok && !self.hosts[h].rollback_failed {
            self.hosts[h].rolled_back = true;
        } else {
            self.hosts[h].rollback_failed = true;
        }
        self.maybe_finish_host(h);
    }

    /// Emits `rollback_finished` once every queued rollback ended.
    pub(crate) fn finish_rollback_session(&mut self) {
        if !self.rollback_open || self.rollbacks_running > 0 || !self.rollback_queue.is_empty() {
            return;
        }
        self.rollback_open = false;
        let (ok, failed) = std::mem::take(&mut self.rollback_tally);
        self.emit(EventKind::RollbackFinished { ok, failed });
    }
}
