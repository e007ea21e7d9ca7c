//! Drift across hosts: takes one capture's after value on each host of an `across` target,
//! returns a [`DriftReport`]: the baseline (majority) value and the outliers with their diff.
//!
//! Tie rule: groups of equal values are ranked by size, and among groups of the same size
//! by the position of their first host in the order given (the target's order); the first
//! group is the baseline. When the baseline won only by that order, [`DriftReport::tied`] is
//! set so that a reviewer knows the choice was not a majority.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::diff::unified_diff;

/// Hosts that agree on one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftGroup {
    /// The after value they share.
    pub value: String,
    /// The hosts, in the order given.
    pub hosts: Vec<String>,
    /// Unified diff of the baseline against this value (`None` for the baseline itself).
    pub diff: Option<String>,
}

/// Agreement of one capture across hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    /// The capture compared.
    pub capture: String,
    /// The majority value and its hosts; `None` when no host had a value.
    pub baseline: Option<DriftGroup>,
    /// The other values, largest group first, each with its diff against the baseline.
    pub outliers: Vec<DriftGroup>,
    /// True when another group is as large as the baseline (chosen by the tie rule).
    pub tied: bool,
    /// Hosts without an after value (capture failed or not taken): not compared.
    pub missing: Vec<String>,
}

impl DriftReport {
    /// True when some host disagrees with the baseline.
    pub fn has_drift(&self) -> bool {
        !self.outliers.is_empty()
    }

    /// The hosts whose value differs from the baseline, largest group first.
    pub fn drifted_hosts(&self) -> impl Iterator<Item = &str> {
        self.outliers
            .iter()
            .flat_map(|g| g.hosts.iter().map(String::as_str))
    }
}

/// Groups the hosts' values and picks the baseline by the tie rule (see the module docs).
/// `values` holds, in target order, each host and its after value (`None` when missing).
pub fn detect_drift(capture: &str, values: &[(String, Option<String>)]) -> DriftReport {
    // Index of the group for each distinct value, in order of first appearance.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    let mut missing = Vec::new();
    for (host, value) in values {
        let Some(value) = value else {
            missing.push(host.clone());
            continue;
        };
        let i = *index.entry(value.as_str()).or_insert_with(|| {
            groups.push((value.as_str(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(host.clone());
    }
    // Stable sort: among equal sizes, first appearance (target order) stays first.
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    let tied = groups.len() > 1 && groups[0].1.len() == groups[1].1.len();
    let mut groups = groups.into_iter();
    let baseline = groups.next().map(|(value, hosts)| DriftGroup {
        value: value.to_string(),
        hosts,
        diff: None,
    });
    let outliers = match &baseline {
        None => Vec::new(),
        Some(base) => {
            let label = match base.hosts.len() {
                1 => "baseline (1 host)".to_string(),
                n => format!("baseline ({n} hosts)"),
            };
            groups
                .map(|(value, hosts)| {
                    let first = hosts.first().cloned().unwrap_or_default();
                    let other = if hosts.len() > 1 {
                        format!("{first} and {} more", hosts.len() - 1)
                    } else {
                        first
                    };
                    DriftGroup {
                        diff: unified_diff(
                            &with_newline(&base.value),
                            &with_newline(value),
                            &label,
                            &other,
                        ),
                        value: value.to_string(),
                        hosts,
                    }
                })
                .collect()
        }
    };
    DriftReport {
        capture: capture.to_string(),
        baseline,
        outliers,
        tied,
        missing,
    }
}

/// Trimmed values lack a final newline; adding one keeps diffs free of "no newline" notes.
fn with_newline(s: &str) -> String {
    format!("{s}\n")
}
