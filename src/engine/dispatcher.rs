//! The dispatcher: owns the clock, the limits, the timers, operator signals and the run state;
//! starts attempts on per-host executors and turns their messages into state changes and
//! events. Everything that decides happens here, on one task, so runs are deterministic.
//!
//! Input: a `RunSpec`, a `Runner`, a `Clock`, event sinks and an operator control channel.
//! Output: the `Event` stream and the `RunResult`.

use super::clock::{Clock, RealClock};
use super::event::{
    CancelReason, Event, EventKind, EventSink, Failure, HaltReason, HostState, OperatorAction,
    TaskState,
};
use super::executor::{run_attempt, Attempt, AttemptOutcome, Msg};
use super::interp::Secrets;
use super::limits::Limiter;
use super::result::{ResultBuilder, RunResult};
use super::runner::Runner;
use super::spec::{HostId, RunSpec, TaskId, TaskOutcome};
use super::state::{HostRun, Slot};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// What the operator can ask of a running run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Ctrl-C: the first starts nothing new and lets in-flight commands finish; the second
    /// stops in-flight commands.
    Interrupt,
}

/// How to run: clock, sinks, operator input.
pub struct RunOptions {
    /// Where wall-clock time comes from.
    pub clock: Arc<dyn Clock>,
    /// Consumers of the event stream, called in order.
    pub sinks: Vec<Box<dyn EventSink>>,
    /// Operator input (Ctrl-C); `None`: no operator.
    pub control: Option<mpsc::UnboundedReceiver<Control>>,
    /// Record the confirmation as an operator action (`Some(by_flag)`).
    pub confirmed: Option<bool>,
    /// Work an earlier session of this run finished, by `(host, task)` name, with the outcome
    /// it had (resume): such a task is not started again; it takes that outcome as is, so that
    /// dependencies, captures, `when` and `${…}` see what really happened.
    pub done: HashMap<(String, String), TaskOutcome>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            clock: Arc::new(RealClock),
            sinks: Vec::new(),
            control: None,
            confirmed: None,
            done: HashMap::new(),
        }
    }
}

/// Executes `spec` over `runner`: the entry point of the engine.
pub async fn execute(spec: RunSpec, runner: Arc<dyn Runner>, options: RunOptions) -> RunResult {
    Dispatcher::new(spec, runner, options).run().await
}

/// Something the dispatcher waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The retry delay of a task on a host is over.
    Retry(HostId, TaskId),
    /// `--wait`: a host's windows should fit now.
    WindowOpen(HostId),
    /// A host's window closes (generation guards against stale timers).
    WindowClose(HostId, u64),
    /// `stagger` lets the next host start.
    Stagger,
    /// The wave has baked.
    Bake,
}

impl Timer {
    /// Timers that keep a wave alive (a window-close timer alone does not).
    fn is_live(self) -> bool {
        !matches!(self, Timer::WindowClose(..))
    }
}

pub(crate) struct Dispatcher {
    pub(crate) spec: Arc<RunSpec>,
    pub(crate) runner: Arc<dyn Runner>,
    pub(crate) clock: Arc<dyn Clock>,
    sinks: Vec<Box<dyn EventSink>>,
    /// The sinks' launch gate, and the commands it holds (with their tickets), in launch order.
    gate: Option<Arc<dyn super::event::LaunchGate>>,
    held: VecDeque<(u64, Attempt)>,
    result: ResultBuilder,
    pub(crate) secrets: Secrets,
    pub(crate) limiter: Limiter,
    pub(crate) hosts: Vec<HostRun>,
    start: Instant,
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    control: Option<mpsc::UnboundedReceiver<Control>>,
    confirmed: Option<bool>,
    timers: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    timer_seq: u64,
    live_timers: usize,
    pub(crate) stagger_timer: Option<Instant>,
    pub(crate) stops: HashMap<(HostId, TaskId), oneshot::Sender<()>>,
    pub(crate) in_flight: usize,
    /// Ctrl-C presses.
    pub(crate) interrupts: u8,
    pub(crate) halted: Option<HaltReason>,
    /// Index of the current wave.
    pub(crate) wave: usize,
    pub(crate) failed_in_wave: usize,
    pub(crate) failed_total: usize,
    pub(crate) rollback_queue: VecDeque<Vec<HostId>>,
    pub(crate) rollbacks_running: usize,
    pub(crate) rollback_tally: (usize, usize),
    pub(crate) baking: bool,
    pub(crate) barrier_cache: HashMap<TaskId, super::schedule::Barrier>,
    pub(crate) rollback_open: bool,
    pub(crate) rollback_display: HashMap<(HostId, TaskId), String>,
    /// [`RunOptions::done`] by index; an entry is taken when its task would start.
    pub(crate) done: HashMap<(HostId, TaskId), TaskOutcome>,
}

impl Dispatcher {
    fn new(spec: RunSpec, runner: Arc<dyn Runner>, options: RunOptions) -> Self {
        let infos: Vec<_> = spec.hosts.iter().map(|h| h.limit_info()).collect();
        let limiter = Limiter::new(&spec.limits, &infos);
        let mut wave_of = vec![0usize; spec.hosts.len()];
        for (w, wave) in spec.waves.iter().enumerate() {
            for &h in &wave.hosts {
                if let Some(slot) = wave_of.get_mut(h) {
                    *slot = w;
                }
            }
        }
        let mut mine: Vec<Vec<TaskId>> = vec![Vec::new(); spec.hosts.len()];
        for (t, task) in spec.tasks.iter().enumerate() {
            for &h in &task.hosts {
                if let Some(m) = mine.get_mut(h) {
                    if m.last() != Some(&t) {
                        m.push(t);
                    }
                }
            }
        }
        let hosts = (0..spec.hosts.len())
            .map(|h| HostRun::new(&spec, &mine[h], wave_of[h]))
            .collect();
        let secrets = Secrets::new(spec.secrets.values().cloned());
        let done = super::done::resolve(&spec, options.done);
        let (tx, rx) = mpsc::unbounded_channel();
        let gate = options.sinks.iter().find_map(|s| s.launch_gate());
        Dispatcher {
            spec: Arc::new(spec),
            runner,
            clock: options.clock,
            sinks: options.sinks,
            gate,
            held: VecDeque::new(),
            result: ResultBuilder::default(),
            secrets,
            limiter,
            hosts,
            start: Instant::now(),
            tx,
            rx,
            control: options.control,
            confirmed: options.confirmed,
            timers: BinaryHeap::new(),
            timer_seq: 0,
            live_timers: 0,
            stagger_timer: None,
            stops: HashMap::new(),
            in_flight: 0,
            interrupts: 0,
            halted: None,
            wave: 0,
            failed_in_wave: 0,
            failed_total: 0,
            rollback_queue: VecDeque::new(),
            rollbacks_running: 0,
            rollback_tally: (0, 0),
            baking: false,
            barrier_cache: HashMap::new(),
            rollback_open: false,
            rollback_display: HashMap::new(),
            done,
        }
    }

    /// Sends one event to the result and every sink.
    pub(crate) fn emit(&mut self, kind: EventKind) {
        let ev = Event {
            timestamp: self.clock.now(),
            elapsed: self.start.elapsed(),
            kind,
        };
        self.result.apply(&ev);
        if let Some((last, others)) = self.sinks.split_last_mut() {
            for s in others {
                s.event(&ev);
            }
            last.event_owned(ev);
        }
    }

    /// Whether starting new work is forbidden (halt or Ctrl-C).
    pub(crate) fn stop_starting(&self) -> bool {
        self.interrupts > 0 || self.halted.is_some()
    }

    pub(crate) fn push_timer(&mut self, at: Instant, timer: Timer) {
        self.timer_seq += 1;
        if timer.is_live() {
            self.live_timers += 1;
        }
        self.timers.push(Reverse((at, self.timer_seq, timer)));
    }

    async fn run(mut self) -> RunResult {
        let spec = self.spec.clone();
        self.emit(EventKind::RunStarted {
            workflow: spec.workflow.clone(),
            change: spec.change.clone(),
            hosts: spec.hosts.len(),
            tasks: spec.tasks.len(),
            work: self.hosts.iter().map(|h| h.slots.len()).sum(),
            waves: spec.waves.iter().map(|w| w.name.clone()).collect(),
            dry_run: false,
        });
        if let Some(by_flag) = self.confirmed {
            self.emit(EventKind::OperatorAction {
                action: OperatorAction::Confirmed { by_flag },
            });
        }
        if let Some(reason) = &spec.windows.ignore {
            self.emit(EventKind::OperatorAction {
                action: OperatorAction::IgnoreWindows {
                    reason: reason.clone(),
                },
            });
        }
        let mut deferred_before = false;
        let mut last_wave = None;
        for w in 0..spec.waves.len() {
            if self.stop_starting() || deferred_before {
                break;
            }
            last_wave = Some(w);
            self.run_wave(w).await;
            deferred_before = self
                .wave_hosts(w)
                .any(|h| self.hosts[h].deferred || self.hosts[h].window_interrupted);
        }
        // Waves never reached.
        let first_unreached = last_wave.map_or(0, |w| w + 1);
        for w in first_unreached..spec.waves.len() {
            let reason = if self.interrupts > 0 {
                CancelReason::Interrupted
            } else if self.halted.is_some() {
                CancelReason::Halted
            } else {
                CancelReason::WindowClosed
            };
            self.emit(EventKind::WaveStarted {
                wave: spec.waves[w].name.clone(),
                index: w,
                hosts: spec.waves[w]
                    .hosts
                    .iter()
                    .map(|&h| spec.hosts[h].name.clone())
                    .collect(),
            });
            for &h in &spec.waves[w].hosts {
                if reason == CancelReason::WindowClosed {
                    self.defer_host(h, None);
                } else {
                    self.cancel_pending(h, &reason);
                }
                self.maybe_finish_host(h);
            }
            self.finish_wave_event(w, false);
        }
        self.verification_report();
        let status = self.status();
        let count = |s: HostState| self.hosts.iter().filter(|h| h.reported == Some(s)).count();
        let (ok, failed, deferred, interrupted) = (
            count(HostState::Ok),
            count(HostState::Failed),
            count(HostState::Deferred),
            count(HostState::Interrupted),
        );
        self.emit(EventKind::RunFinished {
            status,
            exit_code: status.exit_code(),
            ok,
            failed,
            deferred,
            interrupted,
        });
        self.result.build()
    }

    pub(crate) fn wave_hosts(&self, w: usize) -> impl Iterator<Item = HostId> + '_ {
        self.spec
            .waves
            .get(w)
            .into_iter()
            .flat_map(|wave| wave.hosts.iter().copied())
    }

    /// Runs until nothing is in flight, no timer is pending and no rollback runs.
    pub(crate) async fn drive(&mut self) {
        loop {
            self.schedule();
            self.start_queued_rollbacks();
            if self.in_flight == 0
                && self.live_timers == 0
                && self.rollbacks_running == 0
                && self.rollback_queue.is_empty()
            {
                self.finish_rollback_session();
                return;
            }
            let next = self.timers.peek().map(|Reverse((at, _, _))| *at);
            let control_open = self.control.is_some();
            let opened = self
                .release()
                .and_then(|ticket| self.gate.as_ref().map(|g| g.opened(ticket)));
            let gated = opened.is_some();
            tokio::select! {
                biased;
                ctl = recv_control(&mut self.control), if control_open => match ctl {
                    Some(Control::Interrupt) => self.on_interrupt(),
                    None => self.control = None,
                },
                () = async { if let Some(o) = opened { o.await } }, if gated => {}
                msg = self.rx.recv() => {
                    if let Some(msg) = msg {
                        self.on_msg(msg);
                    }
                    // Take every message already there before the next scheduling pass.
                    while let Ok(msg) = self.rx.try_recv() {
                        self.on_msg(msg);
                    }
                }
                () = sleep_until_opt(next) => self.on_timer(),
            }
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, _, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if timer.is_live() {
                self.live_timers = self.live_timers.saturating_sub(1);
            }
            match timer {
                Timer::Retry(h, t) => self.on_retry_due(h, t),
                Timer::WindowOpen(h) => self.hosts[h].waiting_until = None,
                Timer::WindowClose(h, generation) => self.on_window_close(h, generation),
                Timer::Stagger => self.stagger_timer = None,
                Timer::Bake => self.baking = false,
            }
        }
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Attempt {
                host,
                task,
                outcome,
                took,
            } => self.on_attempt(host, task, outcome, took),
            Msg::RollbackStep {
                host,
                task,
                ok,
                exit,
            } => self.on_rollback_step(host, task, ok, exit),
            Msg::RollbackDone { host, ok } => self.on_rollback_done(host, ok),
        }
    }

    fn on_interrupt(&mut self) {
        self.interrupts = self.interrupts.saturating_add(1);
        if self.interrupts == 1 {
            self.emit(EventKind::OperatorAction {
                action: OperatorAction::Interrupt,
            });
            self.drop_waiting_timers(&CancelReason::Interrupted);
        } else {
            self.emit(EventKind::OperatorAction {
                action: OperatorAction::ForceInterrupt,
            });
            for (_, stop) in self.stops.drain() {
                let _ = stop.send(());
            }
        }
    }

    /// Halts the rollout: nothing new starts; in-flight commands finish.
    pub(crate) fn halt(&mut self, reason: HaltReason) {
        if self.halted.is_some() {
            return;
        }
        let wave = self.spec.waves.get(self.wave).map(|w| w.name.clone());
        self.halted = Some(reason.clone());
        self.emit(EventKind::Halted { reason, wave });
        self.drop_waiting_timers(&CancelReason::Halted);
    }

    /// Forgets retry, window-wait, stagger and bake timers: their work will not start.
    fn drop_waiting_timers(&mut self, reason: &CancelReason) {
        let timers = std::mem::take(&mut self.timers);
        let mut dropped = Vec::new();
        for Reverse((at, seq, timer)) in timers {
            if timer.is_live() {
                self.live_timers = self.live_timers.saturating_sub(1);
                dropped.push(timer);
            } else {
                self.timers.push(Reverse((at, seq, timer)));
            }
        }
        self.stagger_timer = None;
        self.baking = false;
        for timer in dropped {
            match timer {
                Timer::Retry(h, t) => {
                    self.hosts[h].retry_pending = self.hosts[h].retry_pending.saturating_sub(1);
                    self.finish_task(h, t, TaskState::Cancelled, Some(reason.clone()), None);
                    self.maybe_finish_host(h);
                }
                Timer::WindowOpen(h) => self.hosts[h].waiting_until = None,
                _ => {}
            }
        }
    }

    fn on_attempt(&mut self, h: HostId, t: TaskId, outcome: AttemptOutcome, took: Duration) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.hosts[h].in_flight = self.hosts[h].in_flight.saturating_sub(1);
        self.stops.remove(&(h, t));
        let name = self.spec.tasks[t].name.clone();
        let observed = match &outcome {
            AttemptOutcome::Exited(_) | AttemptOutcome::TimedOut => Some(Some(took)),
            AttemptOutcome::Connection(_) => Some(None),
            AttemptOutcome::Stopped => None,
        };
        if let Some(took) = observed {
            for c in self.limiter.observe(h, &name, took) {
                self.emit(EventKind::ThrottleChanged {
                    group: c.group,
                    from: c.from,
                    to: c.to,
                    reason: c.reason,
                });
            }
        }
        if let Some(slot) = self.hosts[h].slot_mut(t) {
            slot.last_took = took;
        }
        let failure = match outcome {
            AttemptOutcome::Exited(out) => {
                let stdout = self.secrets.mask(&out.stdout);
                let stderr = self.secrets.mask(&out.stderr);
                if let Some(slot) = self.hosts[h].slot_mut(t) {
                    slot.exit = out.exit;
                    slot.stdout = stdout;
                    slot.stderr = stderr;
                }
                if out.exit == Some(0) {
                    self.task_succeeded(h, t);
                    self.maybe_finish_host(h);
                    return;
                }
                Failure::Exit { code: out.exit }
            }
            AttemptOutcome::TimedOut => Failure::Timeout {
                after: self.spec.tasks[t].timeout,
            },
            AttemptOutcome::Connection(message) => Failure::Connection {
                message: self.secrets.mask(&message),
            },
            AttemptOutcome::Stopped => {
                self.hosts[h].interrupted = true;
                self.finish_task(
                    h,
                    t,
                    TaskState::Interrupted,
                    Some(CancelReason::Interrupted),
                    None,
                );
                let reason = if self.hosts[h].window_interrupted {
                    CancelReason::WindowExpired
                } else {
                    CancelReason::Interrupted
                };
                self.cancel_pending(h, &reason);
                if self.hosts[h].expire_rollback && self.hosts[h].in_flight == 0 {
                    self.hosts[h].expire_rollback = false;
                    self.queue_host_rollback(h);
                }
                self.maybe_finish_host(h);
                return;
            }
        };
        self.attempt_failed(h, t, failure);
        self.maybe_finish_host(h);
    }

    pub(crate) fn task_succeeded(&mut self, h: HostId, t: TaskId) {
        let task = &self.spec.tasks[t];
        if let Some(capture) = &task.capture {
            let value = self.hosts[h]
                .slot(t)
                .map(|s| s.stdout.trim_end_matches(['\n', '\r']).to_string())
                .unwrap_or_default();
            self.hosts[h].captures.insert(capture.clone(), value);
        }
        self.hosts[h].completed.push(t);
        self.finish_task(h, t, TaskState::Ok, None, None);
        self.after_capture(h, t);
    }

    fn attempt_failed(&mut self, h: HostId, t: TaskId, failure: Failure) {
        let task = &self.spec.tasks[t];
        let attempts = self.hosts[h].slot(t).map_or(1, |s| s.attempts);
        let may_retry =
            attempts <= task.retry && !self.stop_starting() && !self.hosts[h].window_interrupted;
        if may_retry {
            let factor = 1u32
                .checked_shl(attempts.saturating_sub(1))
                .unwrap_or(u32::MAX);
            let delay = task.retry_delay.saturating_mul(factor);
            self.emit(EventKind::TaskRetrying {
                host: self.spec.hosts[h].name.clone(),
                task: task.name.clone(),
                attempt: attempts,
                delay,
                failure,
            });
            self.hosts[h].retry_pending += 1;
            self.push_timer(Instant::now() + delay, Timer::Retry(h, t));
            return;
        }
        if task.allow_failure {
            self.finish_task(h, t, TaskState::FailedAllowed, None, Some(failure));
            self.after_capture(h, t);
        } else {
            self.finish_task(h, t, TaskState::Failed, None, Some(failure));
            self.host_failed(h, t);
        }
    }

    /// A task failed for good on `h`: the host fails, its other pending tasks are cancelled, and
    /// the failure budgets are checked.
    pub(crate) fn host_failed(&mut self, h: HostId, t: TaskId) {
        let name = self.spec.tasks[t].name.clone();
        self.cancel_pending(h, &CancelReason::HostFailed { task: name });
        if self.hosts[h].failed {
            return;
        }
        self.hosts[h].failed = true;
        self.failed_in_wave += 1;
        self.failed_total += 1;
        let wave_size = self.spec.waves.get(self.wave).map_or(0, |w| w.hosts.len());
        if let Some(max) = self.spec.rollout.max_failures {
            let allowed = max.allowed(wave_size);
            if self.failed_in_wave > allowed {
                self.halt(HaltReason::WaveFailures {
                    failed: self.failed_in_wave,
                    allowed,
                });
            }
        }
        if let Some(budget) = self.spec.rollout.failure_budget {
            let allowed = budget.allowed(self.spec.hosts.len());
            if self.failed_total > allowed {
                self.halt(HaltReason::FailureBudget {
                    failed: self.failed_total,
                    allowed,
                });
            }
        }
    }

    /// Records a task's final state on a host and emits `task_finished`.
    pub(crate) fn finish_task(
        &mut self,
        h: HostId,
        t: TaskId,
        state: TaskState,
        reason: Option<CancelReason>,
        failure: Option<Failure>,
    ) {
        let task_name = self.spec.tasks[t].name.clone();
        let Some(slot) = self.hosts[h].slot_mut(t) else {
            return;
        };
        slot.state = state;
        let (attempts, exit, duration, stdout, stderr) = (
            slot.attempts,
            slot.exit,
            slot.last_took,
            slot.stdout.clone(),
            slot.stderr.clone(),
        );
        self.hosts[h].results.insert(
            task_name.clone(),
            TaskOutcome {
                state: Some(state),
                exit,
                stdout: stdout.clone(),
                stderr: stderr.clone(),
            },
        );
        self.emit(EventKind::TaskFinished {
            host: self.spec.hosts[h].name.clone(),
            task: task_name,
            state,
            attempts,
            exit,
            duration,
            reason,
            failure,
            stdout,
            stderr,
        });
    }

    /// Cancels every task of `h` that has not started.
    pub(crate) fn cancel_pending(&mut self, h: HostId, reason: &CancelReason) {
        let pending: Vec<TaskId> = self.hosts[h]
            .slots
            .iter()
            .filter(|s| s.state == TaskState::Pending)
            .map(|s| s.task)
            .collect();
        for t in pending {
            self.finish_task(h, t, TaskState::Cancelled, Some(reason.clone()), None);
        }
    }

    /// Reports `h` finished once nothing of it is in flight or pending (again if its state
    /// changed, e.g. after a rollback).
    pub(crate) fn maybe_finish_host(&mut self, h: HostId) {
        let hr = &self.hosts[h];
        if hr.in_flight > 0
            || hr.retry_pending > 0
            || hr.rolling_back
            || hr.slots.iter().any(|s| !s.state.is_final())
        {
            return;
        }
        self.limiter.release(h);
        let state = hr.final_state();
        if hr.reported == Some(state) {
            return;
        }
        self.hosts[h].reported = Some(state);
        let wave = self
            .spec
            .waves
            .get(self.hosts[h].wave)
            .map(|w| w.name.clone())
            .unwrap_or_default();
        self.emit(EventKind::HostFinished {
            host: self.spec.hosts[h].name.clone(),
            wave,
            state,
        });
    }

    /// Starts an attempt of `t` on `h` (the slot and the window were checked by the caller).
    pub(crate) fn launch(
        &mut self,
        h: HostId,
        t: TaskId,
        request: super::runner::CommandRequest,
        display: String,
    ) {
        let spec = self.spec.clone();
        let task = &spec.tasks[t];
        let Some(slot) = self.hosts[h].slot_mut(t) else {
            return;
        };
        slot.state = TaskState::Running;
        slot.attempts += 1;
        let attempt = slot.attempts;
        self.emit(EventKind::TaskStarted {
            host: self.spec.hosts[h].name.clone(),
            task: task.name.clone(),
            attempt,
            command: display,
            local: task.local,
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        self.stops.insert((h, t), stop_tx);
        self.in_flight += 1;
        self.hosts[h].in_flight += 1;
        let mut a = Attempt {
            host: h,
            task: t,
            request,
            timeout: task.timeout,
            stop: stop_rx,
        };
        match &self.gate {
            Some(gate) => {
                a.request.released = true;
                self.held.push_back((gate.ticket(), a));
            }
            None => {
                tokio::spawn(run_attempt(self.runner.clone(), a, self.tx.clone()));
            }
        }
    }

    /// Launches the held commands whose tickets are open, in order; the ticket of the first
    /// one still held.
    fn release(&mut self) -> Option<u64> {
        let gate = self.gate.as_deref()?;
        while let Some((ticket, _)) = self.held.front() {
            if !gate.is_open(*ticket) {
                return Some(*ticket);
            }
            if let Some((_, a)) = self.held.pop_front() {
                tokio::spawn(run_attempt(self.runner.clone(), a, self.tx.clone()));
            }
        }
        None
    }

    fn status(&self) -> super::event::RunStatus {
        use super::event::RunStatus;
        if self.interrupts > 0 {
            return RunStatus::Interrupted;
        }
        if self.halted.is_some() {
            return RunStatus::Halted;
        }
        if self
            .hosts
            .iter()
            .any(|h| h.reported == Some(HostState::Deferred) || h.window_interrupted)
        {
            return RunStatus::Deferred;
        }
        if self
            .hosts
            .iter()
            .any(|h| matches!(h.reported, Some(HostState::Failed | HostState::Interrupted)))
        {
            return RunStatus::Failed;
        }
        RunStatus::Succeeded
    }

    pub(crate) fn slot_state(&self, h: HostId, t: TaskId) -> Option<TaskState> {
        self.hosts[h].slot(t).map(|s: &Slot| s.state)
    }
}

async fn recv_control(control: &mut Option<mpsc::UnboundedReceiver<Control>>) -> Option<Control> {
    match control {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
