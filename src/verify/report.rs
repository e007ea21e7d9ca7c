//! Verification reports: takes the per-host capture outcomes and drift reports of verify
//! blocks, returns per-host reports with their action and a fleet summary with host counts.
//! Rendering (human, markdown, JSON) is in `render`.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::drift::DriftReport;
use super::expect::{CaptureOutcome, OnMismatch, Verdict};
use super::VerifySpec;

/// What the engine does with a host after verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostAction {
    /// Nothing to do.
    None,
    /// Report a warning (unexpected changes, or a problem under `on_mismatch = "warn"`).
    Warn,
    /// Fail the host (`on_mismatch = "fail"`).
    Fail,
    /// Run the host's rollbacks (`on_mismatch = "rollback"`).
    Rollback,
}

impl HostAction {
    /// The action `on_mismatch` asks for.
    pub fn from_on_mismatch(on_mismatch: OnMismatch) -> Self {
        match on_mismatch {
            OnMismatch::Fail => Self::Fail,
            OnMismatch::Warn => Self::Warn,
            OnMismatch::Rollback => Self::Rollback,
        }
    }
}

/// One host's verification in one verify block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    /// The host's name.
    pub host: String,
    /// One outcome per capture, in spec order.
    pub captures: Vec<CaptureOutcome>,
    /// The captures on which this host is a drift outlier.
    pub drifted: Vec<String>,
    /// What the engine should do: `on_mismatch` on a mismatch or drift, a warning for an
    /// unexpected change alone, else nothing.
    pub action: HostAction,
}

impl HostReport {
    /// True when some capture has this verdict.
    pub fn has(&self, verdict: Verdict) -> bool {
        self.captures.iter().any(|c| c.verdict == verdict)
    }

    /// True when nothing is wrong: no mismatch, no unexpected change, no drift (captures
    /// that were not compared do not count against it).
    pub fn as_expected(&self) -> bool {
        !self.has(Verdict::Mismatch)
            && !self.has(Verdict::UnexpectedChange)
            && self.drifted.is_empty()
    }
}

/// Host counts per category. A host counts once per category it falls in; the categories
/// other than `as_expected` may overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Hosts reported.
    pub hosts: usize,
    /// Hosts with nothing wrong (see [`HostReport::as_expected`]).
    pub as_expected: usize,
    /// Hosts with a capture that changed without an expectation.
    pub unexpected_change: usize,
    /// Hosts with a capture whose expectation failed (or whose command failed).
    pub mismatch: usize,
    /// Hosts that disagree with the baseline of some `across` comparison.
    pub drifted: usize,
    /// Hosts with a capture that was not compared (before or after not taken).
    pub not_compared: usize,
}

impl Summary {
    /// Counts hosts by name across host reports; a host in several reports counts once,
    /// and is as expected only if it is in all of them.
    fn of<'a>(hosts: impl IntoIterator<Item = &'a HostReport>) -> Self {
        #[derive(Default)]
        struct Flags {
            unexpected: bool,
            mismatch: bool,
            drifted: bool,
            not_compared: bool,
        }
        let mut order: Vec<&str> = Vec::new();
        let mut flags: HashMap<&str, Flags> = HashMap::new();
        for h in hosts {
            let f = flags.entry(h.host.as_str()).or_insert_with(|| {
                order.push(h.host.as_str());
                Flags::default()
            });
            f.unexpected |= h.has(Verdict::UnexpectedChange);
            f.mismatch |= h.has(Verdict::Mismatch);
            f.drifted |= !h.drifted.is_empty();
            f.not_compared |= h.has(Verdict::NotCompared);
        }
        let mut s = Summary {
            hosts: order.len(),
            ..Summary::default()
        };
        for f in flags.values() {
            s.unexpected_change += usize::from(f.unexpected);
            s.mismatch += usize::from(f.mismatch);
            s.drifted += usize::from(f.drifted);
            s.not_compared += usize::from(f.not_compared);
            s.as_expected += usize::from(!f.unexpected && !f.mismatch && !f.drifted);
        }
        s
    }
}

/// The verification of one verify block over its hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The verify block's name.
    pub name: String,
    /// Its `on_mismatch`.
    pub on_mismatch: OnMismatch,
    /// One report per host, in the order given.
    pub hosts: Vec<HostReport>,
    /// One drift report per capture when the block has `across`.
    pub drift: Vec<DriftReport>,
    /// Host counts.
    pub summary: Summary,
}

impl VerifyReport {
    /// Assembles the report from each host's outcomes and the drift reports.
    pub fn new(
        spec: &VerifySpec,
        outcomes: Vec<(String, Vec<CaptureOutcome>)>,
        drift: Vec<DriftReport>,
    ) -> Self {
        let mut drifted: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for d in &drift {
            for host in d.drifted_hosts() {
                drifted.entry(host).or_default().insert(d.capture.as_str());
            }
        }
        let hosts: Vec<HostReport> = outcomes
            .into_iter()
            .map(|(host, captures)| {
                // Spec order, not alphabetical: the report lists captures as written.
                let drifted: Vec<String> =
                    drifted.get(host.as_str()).map_or_else(Vec::new, |set| {
                        spec.captures
                            .iter()
                            .filter(|c| set.contains(c.name.as_str()))
                            .map(|c| c.name.clone())
                            .collect()
                    });
                let mut report = HostReport {
                    host,
                    captures,
                    drifted,
                    action: HostAction::None,
                };
                report.action = if report.has(Verdict::Mismatch) || !report.drifted.is_empty() {
                    HostAction::from_on_mismatch(spec.on_mismatch)
                } else if report.has(Verdict::UnexpectedChange) {
                    HostAction::Warn
                } else {
                    HostAction::None
                };
                report
            })
            .collect();
        let summary = Summary::of(&hosts);
        Self {
            name: spec.name.clone(),
            on_mismatch: spec.on_mismatch,
            hosts,
            drift,
            summary,
        }
    }

    /// The report of one host, by name.
    pub fn host(&self, name: &str) -> Option<&HostReport> {
        self.hosts.iter().find(|h| h.host == name)
    }
}

/// The verification of every verify block of a run, with a fleet-wide summary.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FleetReport {
    /// One report per verify block, in source order.
    pub blocks: Vec<VerifyReport>,
    /// Host counts over all blocks (each host once per category).
    pub summary: Summary,
}

impl FleetReport {
    /// Gathers the blocks' reports and sums up their hosts.
    pub fn new(blocks: Vec<VerifyReport>) -> Self {
        let summary = Summary::of(blocks.iter().flat_map(|b| &b.hosts));
        Self { blocks, summary }
    }

    /// The strongest action for a host over all blocks (rollback > fail > warn > none).
    pub fn action(&self, host: &str) -> HostAction {
        self.blocks
            .iter()
            .filter_map(|b| b.host(host))
            .map(|h| h.action)
            .max()
            .unwrap_or(HostAction::None)
    }
}
