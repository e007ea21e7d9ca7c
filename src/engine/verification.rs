//! Configuration verification at run time: once every after-capture of a `verify` block ran
//! on a host, its before/after samples go to the verify module and the verdict becomes a
//! `verification_finished` event; `on_mismatch = "fail"` fails the host (which counts
//! against the wave's budget), `"rollback"` also runs the host's rollbacks, `"warn"` only
//! reports.
//! At the end of the run every block is evaluated over all its hosts, which adds drift
//! `across` hosts, and the whole report becomes a `verification_report` event.
//!
//! Input: the hosts' capture tasks' outputs. Output: events and, on a mismatch, a failed host.

use super::dispatcher::Dispatcher;
use super::event::{EventKind, TaskState};
use super::spec::{
    CapturePass, HostId, HostSpec, RolloutPolicy, RunSpec, TaskId, TaskSpec, WaveSpec, WindowPolicy,
};
use crate::verify::{self, CaptureInput, FleetReport, HostAction, HostCaptures, Sample};

impl Dispatcher {
    /// Called when task `t` reached its final state on `h`.
    pub(crate) fn after_capture(&mut self, h: HostId, t: TaskId) {
        let Some(role) = self.spec.tasks[t].capture_of.clone() else {
            return;
        };
        if role.pass != CapturePass::After {
            return;
        }
        let v = role.verify;
        let spec = self.spec.clone();
        let pending = self.hosts[h].slots.iter().any(|s| {
            spec.tasks[s.task]
                .capture_of
                .as_ref()
                .is_some_and(|r| r.verify == v && r.pass == CapturePass::After)
                && !s.state.is_final()
        });
        if pending {
            return;
        }
        let Some(block) = spec.verifies.get(v) else {
            return;
        };
        let Some(captures) = self.host_captures(h, v) else {
            return;
        };
        let host = &spec.hosts[h];
        let (passed, detail, action) = match verify::verify(block, &[captures]) {
            Ok(report) => match report.hosts.first() {
                Some(r) => {
                    let detail = r
                        .captures
                        .iter()
                        .map(|c| {
                            let why = if c.reasons.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", c.reasons.join("; "))
                            };
                            format!("{}: {}{why}", c.capture, c.verdict.as_str())
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    (r.as_expected(), detail, r.action)
                }
                None => (false, "no report".to_string(), HostAction::Fail),
            },
            Err(e) => (false, e.to_string(), HostAction::Fail),
        };
        self.emit(EventKind::VerificationFinished {
            verify: block.name.clone(),
            host: host.name.clone(),
            passed,
            detail: self.secrets.mask(&detail),
        });
        if matches!(action, HostAction::Fail | HostAction::Rollback) {
            self.host_failed(h, t);
        }
        if action == HostAction::Rollback && !self.hosts[h].rolled_back {
            // Undoes the host's completed tasks, newest first, as a window expiry does.
            self.queue_host_rollback(h);
        }
    }

    /// The samples of verify block `v` on host `h` (texts masked), or `None` when the block
    /// has no capture task on that host.
    fn host_captures(&self, h: HostId, v: usize) -> Option<HostCaptures> {
        let spec = &self.spec;
        let block = spec.verifies.get(v)?;
        // The block's capture tasks on this host: (capture, pass, slot).
        let mine: Vec<_> = self.hosts[h]
            .slots
            .iter()
            .filter_map(|s| {
                let r = spec.tasks[s.task].capture_of.as_ref()?;
                (r.verify == v).then_some((r.capture.as_str(), r.pass, s))
            })
            .collect();
        if mine.is_empty() {
            return None;
        }
        let sample = |name: &str, pass: CapturePass| -> Sample {
            match mine.iter().find(|(c, p, _)| *c == name && *p == pass) {
                Some((_, _, s)) if s.state == TaskState::Ok => {
                    Sample::Output(self.secrets.mask(&s.stdout))
                }
                Some((_, _, s))
                    if matches!(s.state, TaskState::FailedAllowed | TaskState::Failed) =>
                {
                    let why = match s.exit {
                        Some(code) => format!("exit {code}: {}", s.stderr.trim()),
                        None => s.stderr.trim().to_string(),
                    };
                    Sample::Failed(self.secrets.mask(&why))
                }
                _ => Sample::Missing,
            }
        };
        let host = &spec.hosts[h];
        let mut captures = HostCaptures::new(host.name.clone());
        captures.facts.clone_from(&host.attrs);
        for c in &block.captures {
            captures = captures.capture(CaptureInput::new(
                c.name.clone(),
                sample(&c.name, CapturePass::Before),
                sample(&c.name, CapturePass::After),
            ));
        }
        Some(captures)
    }

    /// At the end of the run: evaluates every verify block over all hosts that have its
    /// captures, with drift across the `across` target, and emits the whole report. Hosts
    /// have finished by then, so drift is reported (a `verification_finished` event per
    /// drifted host and block) but changes no host's state.
    pub(crate) fn verification_report(&mut self) {
        if self.spec.verifies.is_empty() {
            return;
        }
        let spec = self.spec.clone();
        let mut blocks = Vec::new();
        for (v, block) in spec.verifies.iter().enumerate() {
            let hosts: Vec<HostCaptures> = (0..spec.hosts.len())
                .filter_map(|h| self.host_captures(h, v))
                .collect();
            if hosts.is_empty() {
                continue;
            }
            // A block that cannot be evaluated was already reported per host.
            if let Ok(report) = verify::verify(block, &hosts) {
                blocks.push(report);
            }
        }
        let report = FleetReport::new(blocks);
        let drifted: Vec<(String, String, String)> = report
            .blocks
            .iter()
            .flat_map(|b| {
                b.hosts.iter().filter(|h| !h.drifted.is_empty()).map(|h| {
                    (
                        b.name.clone(),
                        h.host.clone(),
                        format!("drift on {}", h.drifted.join(", ")),
                    )
                })
            })
            .collect();
        for (verify, host, detail) in drifted {
            self.emit(EventKind::VerificationFinished {
                verify,
                host,
                passed: false,
                detail,
            });
        }
        self.emit(EventKind::VerificationReport {
            report: Box::new(report),
        });
    }
}

/// The read-only audit of `spec` (`sflow verify`): only the after-captures of its verify
/// blocks, on the hosts they target, in one wave, outside any window, with no dependency,
/// rollback, gate or other task. A block without `across` is compared across every host that
/// has its captures, since drift is what an audit looks for.
pub fn audit_spec(spec: &RunSpec) -> RunSpec {
    let tasks: Vec<TaskSpec> = spec
        .tasks
        .iter()
        .filter(|t| {
            t.capture_of
                .as_ref()
                .is_some_and(|r| r.pass == CapturePass::After)
        })
        .map(|t| TaskSpec {
            after: Vec::new(),
            when: None,
            rollback: None,
            allow_failure: true,
            ..t.clone()
        })
        .collect();
    let mut targeted: Vec<HostId> = Vec::new();
    for t in &tasks {
        for &h in &t.hosts {
            if !targeted.contains(&h) {
                targeted.push(h);
            }
        }
    }
    let hosts: Vec<HostSpec> = spec
        .hosts
        .iter()
        .map(|h| HostSpec {
            windows: Vec::new(),
            ..h.clone()
        })
        .collect();
    let verifies = spec
        .verifies
        .iter()
        .enumerate()
        .map(|(v, block)| {
            let mut block = block.clone();
            if block.across.is_none() {
                let mut names: Vec<String> = Vec::new();
                for t in tasks
                    .iter()
                    .filter(|t| t.capture_of.as_ref().is_some_and(|r| r.verify == v))
                {
                    for &h in &t.hosts {
                        let name = &spec.hosts[h].name;
                        if !names.contains(name) {
                            names.push(name.clone());
                        }
                    }
                }
                block.across = Some(names);
            }
            block
        })
        .collect();
    // Everything else (limits, parameters, secrets, ...) is the run's own.
    RunSpec {
        hosts,
        tasks,
        waves: vec![WaveSpec {
            name: "audit".to_string(),
            hosts: targeted,
        }],
        rollout: RolloutPolicy::default(),
        windows: WindowPolicy::default(),
        verifies,
        ..spec.clone()
    }
}
