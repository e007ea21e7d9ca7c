//! Configuration verification at run time: once every after-capture of a `verify` block ran
//! on a host, its before/after samples go to the verify module and the verdict becomes a
//! `verification_finished` event; `on_mismatch = "fail"` (or `"rollback"`) fails the host.
//!
//! Input: the host's capture tasks' outputs. Output: events and, on a mismatch, a failed host.

use super::dispatcher::Dispatcher;
use super::event::{EventKind, TaskState};
use super::spec::{CapturePass, HostId, TaskId};
use crate::verify::{self, CaptureInput, HostAction, HostCaptures, Sample};

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
        let hr = &self.hosts[h];
        // The block's capture tasks on this host: (capture, pass, slot).
        let mine: Vec<_> = hr
            .slots
            .iter()
            .filter_map(|s| {
                let r = spec.tasks[s.task].capture_of.as_ref()?;
                (r.verify == v).then_some((r.capture.clone(), r.pass, s))
            })
            .collect();
        if mine
            .iter()
            .any(|(_, pass, s)| *pass == CapturePass::After && !s.state.is_final())
        {
            return;
        }
        let Some(block) = spec.verifies.get(v) else {
            return;
        };
        let sample = |name: &str, pass: CapturePass| -> Sample {
            match mine.iter().find(|(c, p, _)| c == name && *p == pass) {
                Some((_, _, s)) if s.state == TaskState::Ok => Sample::Output(s.stdout.clone()),
                Some((_, _, s))
                    if matches!(s.state, TaskState::FailedAllowed | TaskState::Failed) =>
                {
                    Sample::Failed(match s.exit {
                        Some(code) => format!("exit {code}: {}", s.stderr.trim()),
                        None => s.stderr.trim().to_string(),
                    })
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
    }
}
