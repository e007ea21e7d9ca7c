//! Starting work: for each host of the current wave, in order, the next tasks whose
//! dependencies and barriers are done, whose `when` holds, whose windows fit and for which the
//! limits grant a slot.
//!
//! Input: the dispatcher's state. Output: attempts launched, tasks skipped, cancelled or
//! deferred, window waits, stagger timers.

use super::dispatcher::{Dispatcher, Timer};
use super::event::{CancelReason, EventKind, Failure, TaskState};
use super::interp::{Template, Value};
use super::runner::CommandRequest;
use super::spec::{HostFacts, HostId, TaskId};
use super::windows::{fit, Fit};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// Whether a pending task may go.
enum Ready {
    Go,
    Wait,
    Cancel(CancelReason),
}

/// The state of a barrier dependency over its hosts in the current wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Barrier {
    Done,
    Waiting,
    Failed,
}

impl Dispatcher {
    /// Starts whatever may start now.
    pub(crate) fn schedule(&mut self) {
        if self.stop_starting() {
            return;
        }
        let w = self.wave;
        let n = self.spec.waves.get(w).map_or(0, |w| w.hosts.len());
        for i in 0..n {
            let h = self.spec.waves[w].hosts[i];
            // With the fleet full, only hosts holding a slot can start anything: skipping the
            // others keeps a pass over 1,000 waiting hosts cheap.
            if self.limiter.fleet_full() && !self.limiter.holds(h) {
                continue;
            }
            self.schedule_host(h);
            if self.stop_starting() {
                return;
            }
        }
    }

    fn schedule_host(&mut self, h: HostId) {
        let per_host = self.limiter.per_host();
        {
            let hr = &self.hosts[h];
            let idle = hr.failed || hr.deferred || hr.window_interrupted || hr.rolling_back;
            if idle || hr.waiting_until.is_some() || hr.slots.iter().all(|s| s.state.is_final()) {
                return;
            }
        }
        let mut i = 0;
        while i < self.hosts[h].slots.len() && !self.stop_starting() {
            let hr = &self.hosts[h];
            if hr.in_flight + hr.retry_pending >= per_host || hr.failed || hr.deferred {
                break;
            }
            let slot = &hr.slots[i];
            let t = slot.task;
            match slot.state {
                TaskState::Pending => {}
                TaskState::Running if per_host == 1 => break,
                _ => {
                    i += 1;
                    continue;
                }
            }
            if self.settle_done(h, t) {
                i += 1;
                continue;
            }
            match self.readiness(h, t) {
                Ready::Go => {}
                Ready::Wait if per_host == 1 => break,
                Ready::Wait => {
                    i += 1;
                    continue;
                }
                Ready::Cancel(reason) => {
                    self.finish_task(h, t, TaskState::Cancelled, Some(reason), None);
                    i += 1;
                    continue;
                }
            }
            match self.condition(h, t) {
                Ok(true) => {}
                Ok(false) => {
                    self.finish_task(h, t, TaskState::Skipped, None, None);
                    i += 1;
                    continue;
                }
                Err(message) => {
                    self.finish_task(
                        h,
                        t,
                        TaskState::Failed,
                        None,
                        Some(Failure::Evaluation { message }),
                    );
                    self.host_failed(h, t);
                    break;
                }
            }
            let Some(closes_in) = self.window_fit(h, t) else {
                break;
            };
            if !self.take_slot(h) {
                break;
            }
            match self.build_request(h, t) {
                Ok((request, display)) => {
                    self.launch(h, t, request, display);
                    self.watch_window(h, closes_in);
                }
                Err(message) => {
                    self.finish_task(
                        h,
                        t,
                        TaskState::Failed,
                        None,
                        Some(Failure::Evaluation { message }),
                    );
                    self.host_failed(h, t);
                    break;
                }
            }
            i += 1;
        }
        if self.hosts[h].in_flight == 0 && self.hosts[h].retry_pending == 0 {
            // Waiting on a barrier or a window does not hold a slot others could use.
            self.limiter.release(h);
        }
        self.maybe_finish_host(h);
    }

    fn readiness(&mut self, h: HostId, t: TaskId) -> Ready {
        let spec = self.spec.clone();
        for &d in &spec.tasks[t].after {
            if let Some(state) = self.slot_state(h, d) {
                if state.is_done() {
                    continue;
                }
                if state.is_final() {
                    return Ready::Cancel(CancelReason::DependencyNotDone {
                        task: spec.tasks[d].name.clone(),
                    });
                }
                return Ready::Wait;
            }
            let shares_host = spec.tasks[d]
                .hosts
                .iter()
                .any(|dh| spec.tasks[t].hosts.contains(dh));
            if shares_host {
                // A dependency on other hosts of this task only: not a barrier, not here.
                continue;
            }
            match self.barrier(d) {
                Barrier::Done => {}
                Barrier::Waiting => return Ready::Wait,
                Barrier::Failed => {
                    return Ready::Cancel(CancelReason::BarrierFailed {
                        task: spec.tasks[d].name.clone(),
                    })
                }
            }
        }
        Ready::Go
    }

    /// Whether task `d` finished on all its hosts of the current wave.
    fn barrier(&mut self, d: TaskId) -> Barrier {
        if let Some(b) = self.barrier_cache.get(&d) {
            return *b;
        }
        let mut result = Barrier::Done;
        for &dh in &self.spec.tasks[d].hosts {
            if self.hosts[dh].wave != self.wave {
                continue;
            }
            match self.slot_state(dh, d) {
                Some(s) if s.is_done() => {}
                Some(s) if s.is_final() => {
                    result = Barrier::Failed;
                    break;
                }
                _ => result = Barrier::Waiting,
            }
        }
        if result != Barrier::Waiting {
            self.barrier_cache.insert(d, result);
        }
        result
    }

    fn condition(&self, h: HostId, t: TaskId) -> Result<bool, String> {
        let Some(when) = &self.spec.tasks[t].when else {
            return Ok(true);
        };
        let hr = &self.hosts[h];
        let facts = HostFacts {
            host: &self.spec.hosts[h],
            params: &self.spec.params,
            results: &hr.results,
            captures: &hr.captures,
        };
        when(&facts)
    }

    /// `Some(closes_in)` when the task may start now; `None` when the host now waits or is
    /// deferred.
    fn window_fit(&mut self, h: HostId, t: TaskId) -> Option<Option<Duration>> {
        let spec = self.spec.clone();
        let windows = &spec.hosts[h].windows;
        if spec.windows.ignore.is_some() || windows.is_empty() {
            return Some(None);
        }
        let need = spec.windows.cutoff.max(spec.tasks[t].estimate);
        match fit(windows, self.clock.now(), need) {
            Fit::Now { closes_in } => Some(closes_in),
            Fit::Later { next: Some(next) } if spec.windows.wait => {
                let until = self.clock.instant_at(next);
                self.hosts[h].waiting_until = Some(until);
                self.push_timer(until, Timer::WindowOpen(h));
                self.emit(EventKind::WindowWait {
                    host: spec.hosts[h].name.clone(),
                    task: spec.tasks[t].name.clone(),
                    until: next,
                });
                None
            }
            Fit::Later { next } => {
                self.defer_host(h, next);
                None
            }
        }
    }

    /// Marks every task of `h` not yet started as deferred.
    pub(crate) fn defer_host(&mut self, h: HostId, next: Option<DateTime<Utc>>) {
        let pending: Vec<TaskId> = self.hosts[h]
            .slots
            .iter()
            .filter(|s| s.state == TaskState::Pending)
            .map(|s| s.task)
            .collect();
        self.hosts[h].deferred = true;
        if pending.is_empty() {
            return;
        }
        for &t in &pending {
            self.finish_task(
                h,
                t,
                TaskState::Deferred,
                Some(CancelReason::WindowClosed),
                None,
            );
        }
        self.emit(EventKind::Deferred {
            host: self.spec.hosts[h].name.clone(),
            tasks: pending
                .iter()
                .map(|&t| self.spec.tasks[t].name.clone())
                .collect(),
            next_open: next,
        });
    }

    /// Takes a slot for `h` if it holds none; false when a limit or the stagger says wait.
    fn take_slot(&mut self, h: HostId) -> bool {
        if self.limiter.holds(h) {
            return true;
        }
        let now = Instant::now();
        let first = !self.hosts[h].started;
        if first {
            if let Some(ready) = self.limiter.stagger_ready_at() {
                if ready > now {
                    if self.stagger_timer.is_none() {
                        self.stagger_timer = Some(ready);
                        self.push_timer(ready, Timer::Stagger);
                    }
                    return false;
                }
            }
        }
        if !self.limiter.admit(h, now, first) {
            return false;
        }
        if first {
            self.hosts[h].started = true;
            let wave = self
                .spec
                .waves
                .get(self.hosts[h].wave)
                .map(|w| w.name.clone())
                .unwrap_or_default();
            self.emit(EventKind::HostStarted {
                host: self.spec.hosts[h].name.clone(),
                wave,
            });
        }
        true
    }

    /// The command of `t` on `h`, interpolated, and its masked display form.
    pub(crate) fn build_request(
        &self,
        h: HostId,
        t: TaskId,
    ) -> Result<(CommandRequest, String), String> {
        let task = &self.spec.tasks[t];
        self.request_for(h, t, &task.run)
    }

    /// A request running `template` with task `t`'s settings on `h`.
    pub(crate) fn request_for(
        &self,
        h: HostId,
        t: TaskId,
        template: &Template,
    ) -> Result<(CommandRequest, String), String> {
        let task = &self.spec.tasks[t];
        let hr = &self.hosts[h];
        let facts = HostFacts {
            host: &self.spec.hosts[h],
            params: &self.spec.params,
            results: &hr.results,
            captures: &hr.captures,
        };
        let secrets = &self.spec.secrets;
        let resolve = |e: &str| -> Option<Value> {
            facts.value(e).map(Value::plain).or_else(|| {
                secrets.get(e).map(|v| Value {
                    text: v.clone(),
                    secret: true,
                })
            })
        };
        let cmd = template.render(&resolve).map_err(|e| e.to_string())?;
        let mut env = BTreeMap::new();
        for (k, v) in &task.env {
            env.insert(
                k.clone(),
                v.render(&resolve).map_err(|e| e.to_string())?.command,
            );
        }
        let stdin = match &task.stdin {
            Some(name) => Some(
                secrets
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("no secret `{name}` for stdin"))?,
            ),
            None => None,
        };
        let sudo_password = match (&self.spec.sudo_password, task.sudo) {
            (Some(name), true) => Some(
                secrets
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("no secret `{name}` for sudo"))?,
            ),
            _ => None,
        };
        let request = CommandRequest {
            host: self.spec.hosts[h].name.clone(),
            host_id: h,
            task: task.name.clone(),
            command: cmd.command,
            sudo: task.sudo,
            sudo_password,
            env,
            stdin,
            local: task.local,
            released: false,
        };
        Ok((request, self.secrets.mask(&cmd.display)))
    }

    /// Arms the timer that fires when `h`'s window closes.
    fn watch_window(&mut self, h: HostId, closes_in: Option<Duration>) {
        let Some(d) = closes_in else { return };
        let at = Instant::now() + d;
        if self.hosts[h].window_close_at == Some(at) {
            return;
        }
        self.hosts[h].window_gen += 1;
        self.hosts[h].window_close_at = Some(at);
        let generation = self.hosts[h].window_gen;
        self.push_timer(at, Timer::WindowClose(h, generation));
    }

    /// A retry delay is over: the task goes back to pending and is started like any other
    /// (windows and all).
    pub(crate) fn on_retry_due(&mut self, h: HostId, t: TaskId) {
        self.hosts[h].retry_pending = self.hosts[h].retry_pending.saturating_sub(1);
        if let Some(slot) = self.hosts[h].slot_mut(t) {
            slot.state = TaskState::Pending;
        }
        if self.hosts[h].window_interrupted {
            self.finish_task(
                h,
                t,
                TaskState::Cancelled,
                Some(CancelReason::WindowExpired),
                None,
            );
        }
        self.maybe_finish_host(h);
    }

    /// `h`'s window closed: `on_expire` decides about its running commands.
    pub(crate) fn on_window_close(&mut self, h: HostId, generation: u64) {
        use super::event::OnExpire;
        if self.hosts[h].window_gen != generation {
            return;
        }
        self.hosts[h].window_close_at = None;
        if self.hosts[h].in_flight == 0 {
            return;
        }
        let running: Vec<TaskId> = self
            .stops
            .keys()
            .filter(|(sh, _)| *sh == h)
            .map(|&(_, t)| t)
            .collect();
        let on_expire = self.spec.windows.on_expire;
        for &t in &running {
            self.emit(EventKind::WindowExpired {
                host: self.spec.hosts[h].name.clone(),
                task: self.spec.tasks[t].name.clone(),
                on_expire,
            });
        }
        if on_expire == OnExpire::Finish {
            return;
        }
        self.hosts[h].window_interrupted = true;
        self.hosts[h].expire_rollback = on_expire == OnExpire::Rollback;
        for t in running {
            if let Some(stop) = self.stops.remove(&(h, t)) {
                let _ = stop.send(());
            }
        }
    }
}
