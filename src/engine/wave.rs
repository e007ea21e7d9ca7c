//! Waves: run one wave's work, decide its gate (`max_failures` over failed hosts, verify tasks
//! included), bake and re-check, and on a halt roll back per `rollback_scope`.
//!
//! Input: the dispatcher's state at a wave's start. Output: gate, bake, rollback and wave
//! events; hosts' final states.

use super::dispatcher::{Dispatcher, Timer};
use super::event::{CancelReason, EventKind, HaltReason, HostState, RollbackScope, TaskState};
use tokio::time::Instant;

impl Dispatcher {
    /// Runs wave `w` to its end: work, gate, bake, rollback on halt.
    pub(crate) async fn run_wave(&mut self, w: usize) {
        self.wave = w;
        self.failed_in_wave = 0;
        self.barrier_cache.clear();
        let spec = self.spec.clone();
        let wave = &spec.waves[w];
        self.emit(EventKind::WaveStarted {
            wave: wave.name.clone(),
            index: w,
            hosts: wave
                .hosts
                .iter()
                .map(|&h| spec.hosts[h].name.clone())
                .collect(),
        });
        self.drive().await;
        let deferred = || {
            self.wave_hosts(w)
                .any(|h| self.hosts[h].deferred || self.hosts[h].window_interrupted)
        };
        let mut passed = false;
        if !self.stop_starting() && !deferred() {
            passed = self.gate(w, false);
            let last = w + 1 == spec.waves.len();
            if passed && !spec.rollout.bake.is_zero() && !last {
                self.emit(EventKind::BakeStarted {
                    wave: wave.name.clone(),
                    duration: spec.rollout.bake,
                });
                self.baking = true;
                self.push_timer(Instant::now() + spec.rollout.bake, Timer::Bake);
                self.drive().await;
                if !self.stop_starting() {
                    self.rerun_verify(w);
                    self.drive().await;
                    if !self.stop_starting() {
                        passed = self.gate(w, true);
                        if !passed {
                            self.halt(HaltReason::BakeFailed);
                        }
                    }
                }
            }
        }
        if self.halted.is_some() && spec.rollout.auto_rollback && self.interrupts == 0 {
            let scope = spec.rollout.rollback_scope;
            let waves: Vec<usize> = match scope {
                RollbackScope::All => (0..=w).rev().collect(),
                RollbackScope::Wave | RollbackScope::Host => vec![w],
            };
            self.queue_rollback(&waves, scope);
            self.drive().await;
        }
        let reason = if self.interrupts > 0 {
            CancelReason::Interrupted
        } else if self.halted.is_some() {
            CancelReason::Halted
        } else {
            CancelReason::NotReached
        };
        for h in spec.waves[w].hosts.iter().copied() {
            self.cancel_pending(h, &reason);
            self.maybe_finish_host(h);
        }
        self.finish_wave_event(w, passed);
    }

    /// Decides the gate of wave `w`: its failed hosts against `max_failures`.
    fn gate(&mut self, w: usize, after_bake: bool) -> bool {
        let spec = self.spec.clone();
        let wave = &spec.waves[w];
        let failed_hosts: Vec<String> = wave
            .hosts
            .iter()
            .filter(|&&h| self.hosts[h].failed)
            .map(|&h| spec.hosts[h].name.clone())
            .collect();
        let allowed = spec
            .rollout
            .max_failures
            .map_or(wave.hosts.len(), |m| m.allowed(wave.hosts.len()));
        let passed = failed_hosts.len() <= allowed;
        self.emit(EventKind::GateResult {
            wave: wave.name.clone(),
            passed,
            failed_hosts,
            allowed,
            after_bake,
        });
        passed
    }

    /// Puts the wave's verify tasks back to pending on its hosts where they passed.
    fn rerun_verify(&mut self, w: usize) {
        let spec = self.spec.clone();
        for &h in &spec.waves[w].hosts {
            if self.hosts[h].failed {
                continue;
            }
            for &t in &spec.rollout.verify {
                if let Some(slot) = self.hosts[h].slot_mut(t) {
                    if slot.state == TaskState::Ok {
                        slot.state = TaskState::Pending;
                    }
                }
            }
        }
    }

    /// Emits `wave_finished` with the wave's host counts.
    pub(crate) fn finish_wave_event(&mut self, w: usize, passed: bool) {
        let count = |s: HostState| {
            self.wave_hosts(w)
                .filter(|&h| self.hosts[h].reported == Some(s))
                .count()
        };
        let (ok, failed, deferred) = (
            count(HostState::Ok),
            count(HostState::Failed),
            count(HostState::Deferred),
        );
        let wave = self.spec.waves[w].name.clone();
        self.emit(EventKind::WaveFinished {
            wave,
            index: w,
            ok,
            failed,
            deferred,
            passed,
        });
    }
}
