//! Configuration verification: takes a verify block as plain data ([`VerifySpec`]) and each
//! host's before/after capture outputs ([`HostCaptures`]), returns a [`VerifyReport`] with
//! verdicts, diffs, drift across hosts and a summary, renderable as text, markdown or JSON.
//!
//! Pure: the engine runs the capture commands and feeds their outputs in; nothing here does
//! IO, and nothing panics on captured text, which remote hosts control.
//!
//! ```
//! use sflow::verify::{verify, CaptureInput, CaptureSpec, ChangeKind, Expectation,
//!     HostCaptures, Sample, Verdict, VerifySpec};
//! let spec = VerifySpec::new("pkgs").capture(CaptureSpec::new("ver").expect(Expectation {
//!     match_regex: Some(r"openssl\s+(\S+)".into()),
//!     change: ChangeKind::VersionIncrease,
//!     ..Expectation::default()
//! }));
//! let host = HostCaptures::new("web01")
//!     .fact("os", "debian")
//!     .capture(CaptureInput::new("ver", Sample::Output("openssl 3.0.11-1~deb12u1".into()),
//!         Sample::Output("openssl 3.0.11-1~deb12u2".into())));
//! let report = verify(&spec, &[host]).unwrap();
//! assert_eq!(report.hosts[0].captures[0].verdict, Verdict::AsExpected);
//! ```

pub mod diff;
pub mod drift;
pub mod expect;
pub mod render;
pub mod report;
pub mod version;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

pub use drift::{detect_drift, DriftGroup, DriftReport};
pub use expect::{
    evaluate, CaptureOutcome, ChangeKind, CompiledExpectation, Entry, ExpectError, Expectation,
    OnMismatch, Pair, Pairing, Sample, Verdict,
};
pub use report::{FleetReport, HostAction, HostReport, Summary, VerifyReport};
pub use version::VersionScheme;

/// One capture of a verify block: its name and its expectation, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureSpec {
    /// The capture's name.
    pub name: String,
    /// Its `expect` block; without one, any change is reported as unexpected.
    pub expect: Option<Expectation>,
}

impl CaptureSpec {
    /// A capture without an expectation.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            expect: None,
        }
    }

    /// Sets the expectation.
    pub fn expect(mut self, expect: Expectation) -> Self {
        self.expect = Some(expect);
        self
    }
}

/// A `verify` block as plain data, with its `across` target already resolved to hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifySpec {
    /// The block's name.
    pub name: String,
    /// Its captures, in source order.
    pub captures: Vec<CaptureSpec>,
    /// What a host does on a mismatch or drift.
    pub on_mismatch: OnMismatch,
    /// The hosts of the `across` target, in target order (the tie rule uses it).
    pub across: Option<Vec<String>>,
}

impl VerifySpec {
    /// An empty block with `on_mismatch = "fail"` and no `across`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            captures: Vec::new(),
            on_mismatch: OnMismatch::default(),
            across: None,
        }
    }

    /// Adds a capture.
    pub fn capture(mut self, capture: CaptureSpec) -> Self {
        self.captures.push(capture);
        self
    }
}

/// One host's recorded before/after samples of one capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureInput {
    /// The capture's name, as in [`CaptureSpec::name`].
    pub name: String,
    /// Taken at the `before` point.
    pub before: Sample,
    /// Taken at the `after` point.
    pub after: Sample,
}

impl CaptureInput {
    /// A capture's two samples.
    pub fn new(name: impl Into<String>, before: Sample, after: Sample) -> Self {
        Self {
            name: name.into(),
            before,
            after,
        }
    }
}

/// Everything the engine recorded for one host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostCaptures {
    /// The host's name.
    pub host: String,
    /// Its inventory attributes; `versions`, `os` and `os_family` choose the version scheme.
    pub facts: BTreeMap<String, String>,
    /// Its samples; captures of the spec that are absent here count as not taken.
    pub captures: Vec<CaptureInput>,
}

impl HostCaptures {
    /// A host with no facts and no samples.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            ..Self::default()
        }
    }

    /// Adds a fact.
    pub fn fact(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.facts.insert(name.into(), value.into());
        self
    }

    /// Adds a capture's samples.
    pub fn capture(mut self, capture: CaptureInput) -> Self {
        self.captures.push(capture);
        self
    }
}

/// A verify block that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("verify `{block}`, expectation on `{capture}`")]
pub struct VerifyError {
    /// The verify block.
    pub block: String,
    /// The capture whose expectation is wrong.
    pub capture: String,
    /// What is wrong.
    #[source]
    #[diagnostic_source]
    pub source: ExpectError,
}

/// Evaluates a verify block over the hosts' samples: one outcome per host and capture (in
/// spec order), drift for each capture across the `across` hosts, and the summary.
pub fn verify(spec: &VerifySpec, hosts: &[HostCaptures]) -> Result<VerifyReport, VerifyError> {
    let compiled = spec
        .captures
        .iter()
        .map(|c| {
            c.expect
                .as_ref()
                .map(Expectation::compile)
                .transpose()
                .map_err(|source| VerifyError {
                    block: spec.name.clone(),
                    capture: c.name.clone(),
                    source,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let missing = Sample::Missing;
    let outcomes: Vec<(String, Vec<CaptureOutcome>)> = hosts
        .iter()
        .map(|h| {
            let captures = spec
                .captures
                .iter()
                .zip(&compiled)
                .map(|(c, exp)| {
                    let input = h.captures.iter().find(|i| i.name == c.name);
                    let declared = c.expect.as_ref().and_then(|e| e.versions);
                    let scheme =
                        VersionScheme::choose(declared, &|f| h.facts.get(f).map(String::as_str));
                    evaluate(
                        &c.name,
                        input.map_or(&missing, |i| &i.before),
                        input.map_or(&missing, |i| &i.after),
                        exp.as_ref(),
                        scheme,
                    )
                })
                .collect();
            (h.host.clone(), captures)
        })
        .collect();
    let by_host: HashMap<&str, &Vec<CaptureOutcome>> = outcomes
        .iter()
        .map(|(h, caps)| (h.as_str(), caps))
        .collect();
    let drift = match &spec.across {
        None => Vec::new(),
        Some(across) => spec
            .captures
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let values: Vec<(String, Option<String>)> = across
                    .iter()
                    .map(|host| {
                        let value = by_host
                            .get(host.as_str())
                            .and_then(|caps| caps.get(i))
                            .and_then(|outcome| outcome.after_value.clone());
                        (host.clone(), value)
                    })
                    .collect();
                detect_drift(&c.name, &values)
            })
            .collect(),
    };
    Ok(VerifyReport::new(spec, outcomes, drift))
}
