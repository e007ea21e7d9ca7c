//! What the engine executes: hosts, tasks, waves, limits and policies with every name resolved
//! to an index, built from a `Plan` (`RunSpec::from_plan`, once the plan IR exists) or directly
//! by tests.
//!
//! Input: the plan's decisions. Output: flat, index-addressed data the dispatcher walks; the
//! engine adds no scheduling decision of its own here. Conditions and windows stay behind
//! small traits so the plan's own representations plug in without a second format.

use super::event::{OnExpire, RollbackScope, TaskState};
use super::interp::Template;
use super::limits::{HostLimitInfo, LimitsConfig};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Index of a host in [`RunSpec::hosts`].
pub type HostId = usize;
/// Index of a task in [`RunSpec::tasks`] (the order written).
pub type TaskId = usize;

/// Everything a run needs.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// The workflow's name.
    pub workflow: String,
    /// The change ticket, if any.
    pub change: Option<String>,
    /// Hosts (only those some task targets).
    pub hosts: Vec<HostSpec>,
    /// Tasks in the order written.
    pub tasks: Vec<TaskSpec>,
    /// Waves in order; every targeted host is in exactly one.
    pub waves: Vec<WaveSpec>,
    /// `parallel { … }`.
    pub limits: LimitsConfig,
    /// `rollout { … }` policies (verify tasks, failure budgets, rollback, bake).
    pub rollout: RolloutPolicy,
    /// `windows { … }` policies.
    pub windows: WindowPolicy,
    /// Parameter values (`--param`, defaults).
    pub params: BTreeMap<String, String>,
    /// Secret values by name: used for `stdin = NAME` and masked everywhere.
    pub secrets: BTreeMap<String, String>,
    /// `sudo_password = NAME`: the secret `sudo = true` tasks feed to `sudo -S`.
    pub sudo_password: Option<String>,
    /// Configuration verification blocks; their captures are tasks with a
    /// [`TaskSpec::capture_of`].
    pub verifies: Vec<crate::verify::VerifySpec>,
}

/// Which side of a verification a capture task takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapturePass {
    /// Before the change.
    Before,
    /// After the change: once every after-capture of the block ran, the host is verified.
    After,
}

/// Marks a task as one capture of a `verify` block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaptureRole {
    /// Index into [`RunSpec::verifies`].
    pub verify: usize,
    /// The capture's name.
    pub capture: String,
    /// Before or after.
    pub pass: CapturePass,
}

/// One host.
#[derive(Clone, Default)]
pub struct HostSpec {
    /// The inventory name.
    pub name: String,
    /// Groups it belongs to (for `per_group` and adaptive throttling).
    pub groups: Vec<String>,
    /// Its attributes (`address`, `dc`, …) for `per ATTR`, `host.ATTR` and `when`.
    pub attrs: BTreeMap<String, String>,
    /// Windows covering it: it may start a task only when all are open.
    pub windows: Vec<Arc<dyn WindowCheck>>,
}

impl fmt::Debug for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostSpec")
            .field("name", &self.name)
            .field("groups", &self.groups)
            .field("attrs", &self.attrs)
            .field("windows", &self.windows.len())
            .finish()
    }
}

impl HostSpec {
    /// A host with no groups, attributes or windows.
    pub fn named(name: impl Into<String>) -> Self {
        HostSpec {
            name: name.into(),
            ..HostSpec::default()
        }
    }

    pub(crate) fn limit_info(&self) -> HostLimitInfo {
        HostLimitInfo {
            groups: self.groups.clone(),
            attrs: self.attrs.clone(),
        }
    }
}

/// A `when` condition, evaluated on each host just before the task would start.
pub type Condition = Arc<dyn Fn(&HostFacts<'_>) -> Result<bool, String> + Send + Sync>;

/// One task.
#[derive(Clone)]
pub struct TaskSpec {
    /// Its name.
    pub name: String,
    /// Hosts it targets, in target order.
    pub hosts: Vec<HostId>,
    /// `after`: per-host dependencies, or barriers when they target none of `hosts`.
    pub after: Vec<TaskId>,
    /// `when`.
    pub when: Option<Condition>,
    /// The command (its sites are filled in per host).
    pub run: Template,
    /// The undo command.
    pub rollback: Option<Template>,
    /// Per attempt.
    pub timeout: Duration,
    /// Extra attempts after a failure.
    pub retry: u32,
    /// Delay before the first retry; doubles each time.
    pub retry_delay: Duration,
    /// Expected duration, for window fitting.
    pub estimate: Duration,
    /// Run through sudo.
    pub sudo: bool,
    /// A failure does not fail the host.
    pub allow_failure: bool,
    /// Keep stdout under this name.
    pub capture: Option<String>,
    /// Run on the controller, once per target host.
    pub local: bool,
    /// Environment of the command (values may hold sites too).
    pub env: BTreeMap<String, Template>,
    /// A secret's name whose value is sent on stdin.
    pub stdin: Option<String>,
    /// Set when the task is a capture of a `verify` block (made by `RunSpec::from_plan`).
    pub capture_of: Option<CaptureRole>,
}

impl fmt::Debug for TaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSpec")
            .field("name", &self.name)
            .field("hosts", &self.hosts)
            .field("after", &self.after)
            .field("when", &self.when.is_some())
            .field("run", &self.run.pieces.len())
            .finish_non_exhaustive()
    }
}

impl TaskSpec {
    /// A task with the contract's defaults (timeout 30m, estimate 1m, retry_delay 5s); `run`
    /// is parsed for `${…}` sites (a malformed one is kept as literal text).
    pub fn new(name: impl Into<String>, hosts: Vec<HostId>, run: impl AsRef<str>) -> Self {
        let run = run.as_ref();
        TaskSpec {
            name: name.into(),
            hosts,
            after: Vec::new(),
            when: None,
            run: Template::parse(run).unwrap_or_else(|_| Template::literal(run)),
            rollback: None,
            timeout: Duration::from_secs(30 * 60),
            retry: 0,
            retry_delay: Duration::from_secs(5),
            estimate: Duration::from_secs(60),
            sudo: false,
            allow_failure: false,
            capture: None,
            local: false,
            env: BTreeMap::new(),
            stdin: None,
            capture_of: None,
        }
    }
}

/// One wave.
#[derive(Debug, Clone, Default)]
pub struct WaveSpec {
    /// Its name (`all` without a rollout block).
    pub name: String,
    /// Its hosts, in order.
    pub hosts: Vec<HostId>,
}

/// A count or a percentage of hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// At most this many.
    Count(usize),
    /// At most this percentage (rounded down) of the hosts concerned.
    Percent(u32),
}

impl Threshold {
    /// The number of hosts allowed out of `total`: the plan's own rule,
    /// [`crate::plan::percent_of_hosts`], so that plan and run agree.
    pub fn allowed(self, total: usize) -> usize {
        match self {
            Threshold::Count(n) => n,
            Threshold::Percent(p) => crate::plan::percent_of_hosts(p, total),
        }
    }
}

/// `rollout { … }` policies, and the run-wide failure budget.
#[derive(Debug, Clone, Default)]
pub struct RolloutPolicy {
    /// Tasks whose results gate the next wave (re-run after `bake`).
    pub verify: Vec<TaskId>,
    /// Failed hosts allowed per wave before halting (default 0).
    pub max_failures: Option<Threshold>,
    /// Failed hosts allowed in the whole run before halting (`--max-failures`,
    /// `rollout { failure_budget = … }`); a percentage is of all hosts.
    pub failure_budget: Option<Threshold>,
    /// Roll back on halt.
    pub auto_rollback: bool,
    /// Which hosts a halt rolls back.
    pub rollback_scope: RollbackScope,
    /// Wait after a wave passed, then re-check its gate.
    pub bake: Duration,
}

/// `windows { … }` policies and run-time window options.
#[derive(Debug, Clone, Default)]
pub struct WindowPolicy {
    /// Least time left in the window to start a task.
    pub cutoff: Duration,
    /// What happens to running commands when the window closes.
    pub on_expire: OnExpire,
    /// `--wait`: sleep until the next occurrence instead of deferring.
    pub wait: bool,
    /// `--ignore-windows REASON`.
    pub ignore: Option<String>,
}

/// A maintenance window as the engine queries it (implemented over the window engine).
pub trait WindowCheck: Send + Sync {
    /// Time left until it closes, if it is open at `at`.
    fn remaining(&self, at: DateTime<Utc>) -> Option<Duration>;
    /// The next instant at or after `at` when it is open (`None`: never again).
    fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>>;
}

/// What a task's outcome exposes to later `when` conditions and `${…}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskOutcome {
    /// Final state.
    pub state: Option<TaskState>,
    /// Exit code of the last attempt.
    pub exit: Option<i32>,
    /// Its stdout (masked).
    pub stdout: String,
    /// Its stderr (masked).
    pub stderr: String,
}

/// The facts of one host at one moment: its attributes, the results of its finished tasks,
/// its captures, the parameters.
#[derive(Debug, Clone, Copy)]
pub struct HostFacts<'a> {
    /// The host.
    pub host: &'a HostSpec,
    /// The run's parameters.
    pub params: &'a BTreeMap<String, String>,
    /// Finished tasks on this host, by name.
    pub results: &'a BTreeMap<String, TaskOutcome>,
    /// Captured values on this host, by capture name.
    pub captures: &'a BTreeMap<String, String>,
}

impl HostFacts<'_> {
    /// The value of a path used in `${…}` or a condition: `host.ATTR` (`host.name`,
    /// `host.address` default to the name), `TASK.stdout|stderr|exit|ok|failed|skipped`, a
    /// capture, a parameter.
    pub fn value(&self, path: &str) -> Option<String> {
        if let Some(attr) = path.strip_prefix("host.") {
            return match attr {
                "name" => Some(self.host.name.clone()),
                "address" => Some(
                    self.host
                        .attrs
                        .get("address")
                        .cloned()
                        .unwrap_or_else(|| self.host.name.clone()),
                ),
                _ => self.host.attrs.get(attr).cloned(),
            };
        }
        if let Some(v) = self.captures.get(path) {
            return Some(v.clone());
        }
        if let Some((task, field)) = path.split_once('.') {
            if let Some(r) = self.results.get(task) {
                let flag = |b: bool| Some(b.to_string());
                return match field {
                    "stdout" => Some(r.stdout.clone()),
                    "stderr" => Some(r.stderr.clone()),
                    "exit" => r.exit.map(|e| e.to_string()),
                    "ok" => flag(r.state == Some(TaskState::Ok)),
                    "failed" => flag(matches!(
                        r.state,
                        Some(TaskState::Failed | TaskState::FailedAllowed)
                    )),
                    "skipped" => flag(r.state == Some(TaskState::Skipped)),
                    _ => None,
                };
            }
        }
        self.params.get(path).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::Threshold;
    use crate::plan::HostCount;

    #[test]
    fn percent_budgets_round_down_and_the_plan_agrees() {
        // (percent, hosts, allowed): a percentage never allows more than it says.
        let cases = [
            (10, 15, 1),
            (1, 5, 0),
            (10, 10, 1),
            (10, 9, 0),
            (50, 3, 1),
            (34, 3, 1),
            (100, 7, 7),
            (0, 7, 0),
            (99, 100, 99),
        ];
        for (p, n, want) in cases {
            let engine = Threshold::Percent(p).allowed(n);
            let plan = HostCount::Percent(u8::try_from(p).unwrap_or(u8::MAX)).of(n);
            assert_eq!((engine, plan), (want, want), "{p}% of {n}");
        }
        assert_eq!(Threshold::Count(3).allowed(1), 3);
        assert_eq!(HostCount::Count(3).of(1), 3);
    }
}
