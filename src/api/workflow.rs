//! The code form of a `workflow { }` block: [`Workflow`] with its [`Task`]s, rollout
//! ([`ProgressiveExecution`]), [`Verification`]s, windows and [`Parallelization`]. Input:
//! builder calls; output: values that [`super::source`] renders to `.sflow` text.
//!
//! Targets, conditions and template calls are written in the language's own syntax
//! (`"web_servers except web01"`, `"check.failed"`, `r#"restart("nginx")"#`) so that they
//! mean exactly what they mean in a file.

use super::Threshold;
use std::time::Duration;

/// A workflow: tasks, their order, windows, rollout, parallelism and verification.
///
/// ```
/// use sflow::api::{Parallelization, Task, Workflow};
/// use std::time::Duration;
/// let mut wf = Workflow::new("patch");
/// wf.set_change("CHG-1")
///     .set_maintenance_window("web_servers", "Sun 01:00-03:00 UTC")
///     .set_parallelization(Parallelization::new().max_servers(10).stagger(Duration::from_secs(2)))
///     .add_task(Task::new("update").on("web_servers").run("apt-get update"));
/// assert_eq!(wf.tasks().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) change: Option<String>,
    pub(crate) imports: Vec<String>,
    pub(crate) windows: Vec<(String, String)>,
    pub(crate) window_policy: Option<WindowPolicy>,
    pub(crate) parallel: Option<Parallelization>,
    pub(crate) tasks: Vec<Task>,
    pub(crate) rollout: Option<ProgressiveExecution>,
    pub(crate) verifications: Vec<Verification>,
}

impl Workflow {
    /// An empty workflow called `name` (an identifier).
    pub fn new(name: impl Into<String>) -> Self {
        Workflow {
            name: name.into(),
            description: None,
            change: None,
            imports: Vec::new(),
            windows: Vec::new(),
            window_policy: None,
            parallel: None,
            tasks: Vec::new(),
            rollout: None,
            verifications: Vec::new(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its tasks, in the order added.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// A one-line description, shown in plans.
    pub fn set_description(&mut self, text: impl Into<String>) -> &mut Self {
        self.description = Some(text.into());
        self
    }

    /// The change ticket, shown in plans and written to the audit log.
    pub fn set_change(&mut self, ticket: impl Into<String>) -> &mut Self {
        self.change = Some(ticket.into());
        self
    }

    /// Imports a stdlib module (`"std/apt"`) so that tasks can [`Task::uses`] its templates.
    pub fn add_import(&mut self, module: impl Into<String>) -> &mut Self {
        self.imports.push(module.into());
        self
    }

    /// Adds a task. Order matters as in a file: on one host, independent tasks run in the
    /// order they were added.
    pub fn add_task(&mut self, task: Task) -> &mut Self {
        self.tasks.push(task);
        self
    }

    /// The maintenance window of the hosts of `target` (a target expression), as a window
    /// spec (`"Sun 01:00-05:00 UTC"`, alternatives joined by ` | `). Call it once per group;
    /// setting the same target again replaces its spec. Once any window is set, every
    /// targeted host must be covered by one (else the checker's E-code, as in a file).
    pub fn set_maintenance_window(
        &mut self,
        target: impl Into<String>,
        spec: impl Into<String>,
    ) -> &mut Self {
        let target = target.into();
        let spec = spec.into();
        match self.windows.iter_mut().find(|(t, _)| *t == target) {
            Some(w) => w.1 = spec,
            None => self.windows.push((target, spec)),
        }
        self
    }

    /// What happens near and at the end of windows (`windows { cutoff on_expire }`).
    pub fn set_window_policy(&mut self, policy: WindowPolicy) -> &mut Self {
        self.window_policy = Some(policy);
        self
    }

    /// Concurrency limits (`parallel { }`).
    pub fn set_parallelization(&mut self, parallel: Parallelization) -> &mut Self {
        self.parallel = Some(parallel);
        self
    }

    /// Waves, gates and rollback (`rollout { }`). Without it the fleet is one wave.
    pub fn set_progressive_execution(&mut self, rollout: ProgressiveExecution) -> &mut Self {
        self.rollout = Some(rollout);
        self
    }

    /// A configuration verification (`verify NAME { }`).
    pub fn add_verification(&mut self, verification: Verification) -> &mut Self {
        self.verifications.push(verification);
        self
    }
}

/// What a task does: a shell command, or a template call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Run(String),
    Use(String),
}

/// One task: where it runs, after what, and what it does.
///
/// Commands are language strings: `${expr}` inserts a value shell-quoted and `${raw expr}`
/// as is; any other `$` (`$(hostname)`, `$HOME`) reaches the shell untouched.
///
/// ```
/// use sflow::api::Task;
/// use std::time::Duration;
/// let t = Task::new("upgrade")
///     .on("fleet")
///     .run("apt-get -y upgrade")
///     .depends_on(["update_repos"])
///     .sudo()
///     .estimate(Duration::from_secs(15 * 60));
/// assert_eq!(t.name(), "upgrade");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub(crate) name: String,
    pub(crate) target: Option<String>,
    pub(crate) after: Vec<String>,
    pub(crate) when: Option<String>,
    pub(crate) body: Option<Body>,
    pub(crate) rollback: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<u32>,
    pub(crate) retry_delay: Option<Duration>,
    pub(crate) estimate: Option<Duration>,
    pub(crate) sudo: bool,
    pub(crate) allow_failure: bool,
    pub(crate) local: bool,
    pub(crate) capture: Option<String>,
    pub(crate) env: Vec<(String, String)>,
}

impl Task {
    /// A task called `name` (an identifier). It needs a target ([`Task::on`]) and a body
    /// ([`Task::run`] or [`Task::uses`]).
    pub fn new(name: impl Into<String>) -> Self {
        Task {
            name: name.into(),
            target: None,
            after: Vec::new(),
            when: None,
            body: None,
            rollback: None,
            timeout: None,
            retry: None,
            retry_delay: None,
            estimate: None,
            sudo: false,
            allow_failure: false,
            local: false,
            capture: None,
            env: Vec::new(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hosts it runs on: a target expression (`"web_servers"`, `"all except db01"`,
    /// `"[web01, web02]"`, `r#"all where dc == "fra1""#`).
    #[must_use]
    pub fn on(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Tasks that must have finished first (per host; a dependency on other hosts is a
    /// barrier), as `after` in a file.
    #[must_use]
    pub fn depends_on<S: Into<String>>(mut self, tasks: impl IntoIterator<Item = S>) -> Self {
        self.after.extend(tasks.into_iter().map(Into::into));
        self
    }

    /// Runs only where `condition` (the language's condition syntax) holds.
    #[must_use]
    pub fn when(mut self, condition: impl Into<String>) -> Self {
        self.when = Some(condition.into());
        self
    }

    /// The shell command.
    #[must_use]
    pub fn run(mut self, command: impl Into<String>) -> Self {
        self.body = Some(Body::Run(command.into()));
        self
    }

    /// A template call instead of a command (`r#"restart("nginx")"#`); import its module
    /// with [`Workflow::add_import`].
    #[must_use]
    pub fn uses(mut self, call: impl Into<String>) -> Self {
        self.body = Some(Body::Use(call.into()));
        self
    }

    /// The command that undoes it (auto rollback, `on_expire = "rollback"`).
    #[must_use]
    pub fn rollback(mut self, command: impl Into<String>) -> Self {
        self.rollback = Some(command.into());
        self
    }

    /// Longest run of one attempt (default 30 minutes).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Extra attempts after a failure.
    #[must_use]
    pub fn retry(mut self, attempts: u32) -> Self {
        self.retry = Some(attempts);
        self
    }

    /// Pause before the first retry (doubled each time).
    #[must_use]
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = Some(delay);
        self
    }

    /// Expected duration, for window fitting and forecasts.
    #[must_use]
    pub fn estimate(mut self, estimate: Duration) -> Self {
        self.estimate = Some(estimate);
        self
    }

    /// Runs through sudo.
    #[must_use]
    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    /// A failure does not fail the host.
    #[must_use]
    pub fn allow_failure(mut self) -> Self {
        self.allow_failure = true;
        self
    }

    /// Runs on the controller, once per target host.
    #[must_use]
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Keeps stdout as the value `name` for `when` and `${name}`.
    #[must_use]
    pub fn capture(mut self, name: impl Into<String>) -> Self {
        self.capture = Some(name.into());
        self
    }

    /// An environment variable of the command.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// One step of `waves = [...] of TARGET`: a host count or a percentage, cumulative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaveSize {
    /// Up to this many hosts in total.
    Hosts(u32),
    /// Up to this percentage of the target in total.
    Percent(u32),
}

/// How waves are formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Waves {
    Named(Vec<(String, String)>),
    Sized(Vec<WaveSize>, String),
}

/// Progressive execution (`rollout { }`): waves in order, each gated by verification tasks,
/// with a failure allowance and automatic rollback.
///
/// ```
/// use sflow::api::{ProgressiveExecution, WaveSize};
/// let canary_first = ProgressiveExecution::new()
///     .wave("canary", "[web01]")
///     .wave("rest", "all except web01")
///     .verify_with(["health"])
///     .auto_rollback(true);
/// let by_size = ProgressiveExecution::sized(
///     [WaveSize::Hosts(1), WaveSize::Percent(50), WaveSize::Percent(100)],
///     "all",
/// );
/// # let _ = (canary_first, by_size);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressiveExecution {
    pub(crate) waves: Waves,
    pub(crate) verify: Vec<String>,
    pub(crate) max_failures: Option<Threshold>,
    pub(crate) auto_rollback: Option<bool>,
    pub(crate) rollback_all: bool,
    pub(crate) bake: Option<Duration>,
}

impl Default for ProgressiveExecution {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressiveExecution {
    /// No waves yet: add them with [`ProgressiveExecution::wave`].
    pub fn new() -> Self {
        ProgressiveExecution {
            waves: Waves::Named(Vec::new()),
            verify: Vec::new(),
            max_failures: None,
            auto_rollback: None,
            rollback_all: false,
            bake: None,
        }
    }

    /// Waves by cumulative size over `target` (`waves = [1, 10%, 100%] of target`).
    pub fn sized(sizes: impl IntoIterator<Item = WaveSize>, target: impl Into<String>) -> Self {
        ProgressiveExecution {
            waves: Waves::Sized(sizes.into_iter().collect(), target.into()),
            ..Self::new()
        }
    }

    /// Adds a named wave of the hosts of `target`, after the ones added before. (On a
    /// rollout made by [`ProgressiveExecution::sized`] this replaces the sized waves.)
    #[must_use]
    pub fn wave(mut self, name: impl Into<String>, target: impl Into<String>) -> Self {
        if let Waves::Sized(..) = self.waves {
            self.waves = Waves::Named(Vec::new());
        }
        if let Waves::Named(w) = &mut self.waves {
            w.push((name.into(), target.into()));
        }
        self
    }

    /// Tasks whose results gate the next wave.
    #[must_use]
    pub fn verify_with<S: Into<String>>(mut self, tasks: impl IntoIterator<Item = S>) -> Self {
        self.verify.extend(tasks.into_iter().map(Into::into));
        self
    }

    /// Failed hosts allowed in a wave before the run halts (default 0).
    #[must_use]
    pub fn max_failures(mut self, allowed: Threshold) -> Self {
        self.max_failures = Some(allowed);
        self
    }

    /// On a halt, run the rollbacks of the failing wave's changed hosts.
    #[must_use]
    pub fn auto_rollback(mut self, on: bool) -> Self {
        self.auto_rollback = Some(on);
        self
    }

    /// Roll back every host changed so far (newest wave first), not only the failing wave.
    #[must_use]
    pub fn rollback_everything(mut self) -> Self {
        self.rollback_all = true;
        self
    }

    /// Wait this long after a wave passes, then check its gate again.
    #[must_use]
    pub fn bake(mut self, wait: Duration) -> Self {
        self.bake = Some(wait);
        self
    }
}

/// Concurrency limits (`parallel { }`).
///
/// ```
/// use sflow::api::Parallelization;
/// use std::time::Duration;
/// let p = Parallelization::new().max_servers(10).per_group(5).stagger(Duration::from_secs(2));
/// # let _ = p;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parallelization {
    pub(crate) max_servers: Option<u32>,
    pub(crate) per_group: Option<u32>,
    pub(crate) per_attribute: Vec<(String, u32)>,
    pub(crate) per_host: Option<u32>,
    pub(crate) stagger: Option<Duration>,
    pub(crate) adaptive: bool,
}

impl Parallelization {
    /// No limits beyond the engine's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hosts with work in flight, fleet-wide.
    #[must_use]
    pub fn max_servers(mut self, n: u32) -> Self {
        self.max_servers = Some(n);
        self
    }

    /// Hosts with work in flight per inventory group.
    #[must_use]
    pub fn per_group(mut self, n: u32) -> Self {
        self.per_group = Some(n);
        self
    }

    /// Hosts with work in flight per distinct value of the host attribute `attr`.
    #[must_use]
    pub fn per_attribute(mut self, attr: impl Into<String>, n: u32) -> Self {
        self.per_attribute.push((attr.into(), n));
        self
    }

    /// Tasks in flight on one host.
    #[must_use]
    pub fn per_host(mut self, n: u32) -> Self {
        self.per_host = Some(n);
        self
    }

    /// Least gap between starting consecutive hosts.
    #[must_use]
    pub fn stagger(mut self, gap: Duration) -> Self {
        self.stagger = Some(gap);
        self
    }

    /// Back off when latency or connection errors rise.
    #[must_use]
    pub fn adaptive(mut self) -> Self {
        self.adaptive = true;
        self
    }
}

/// What a command still running at the end of its window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExpire {
    /// Let it end; start nothing new (the default).
    #[default]
    Finish,
    /// Stop it and mark the host interrupted.
    Abort,
    /// Stop it, then run the host's rollbacks.
    Rollback,
}

/// `windows { cutoff on_expire }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowPolicy {
    /// A task starts only if at least this much of its window is left.
    pub cutoff: Option<Duration>,
    /// What a command running at the close does.
    pub on_expire: OnExpire,
}

/// The change a verification expects between the before and after captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The value is the same.
    Unchanged,
    /// The value differs.
    Changed,
    /// Anything.
    Any,
    /// The extracted version went up (package manager ordering).
    VersionIncrease,
    /// The extracted version went down.
    VersionDecrease,
    /// Appeared.
    Added,
    /// Disappeared.
    Removed,
}

impl Change {
    /// The spelling in the language.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Unchanged => "unchanged",
            Change::Changed => "changed",
            Change::Any => "any",
            Change::VersionIncrease => "version_increase",
            Change::VersionDecrease => "version_decrease",
            Change::Added => "added",
            Change::Removed => "removed",
        }
    }
}

/// What a failed verification does to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMismatch {
    /// Fail the host.
    Fail,
    /// Report it only.
    Warn,
    /// Roll the host back.
    Rollback,
}

/// How versions are ordered for `version_increase` / `version_decrease` (`versions = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// dpkg's ordering (epoch, upstream, revision, `~`).
    Deb,
    /// rpmvercmp (with `~` and `^`).
    Rpm,
    /// Semantic versioning.
    Semver,
    /// Numeric segments.
    Numeric,
}

impl Versions {
    /// The spelling in the language.
    pub fn as_str(self) -> &'static str {
        match self {
            Versions::Deb => "deb",
            Versions::Rpm => "rpm",
            Versions::Semver => "semver",
            Versions::Numeric => "numeric",
        }
    }
}

/// An `expect` of a verification: which part of a capture to compare, and how.
///
/// Besides the change between before and after, the after value can be checked on its own
/// (the language's `equals`, `contains` and `matches`); every extracted value must pass.
///
/// ```
/// use sflow::api::{Change, Expect, Versions};
/// let e = Expect::new("nginx", Change::Any)
///     .matching(r"nginx version: nginx/(\S+)")
///     .equals("1.24.0")
///     .versions(Versions::Semver);
/// # let _ = e;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub(crate) capture: String,
    pub(crate) pattern: Option<String>,
    pub(crate) change: Change,
    pub(crate) equals: Option<String>,
    pub(crate) contains: Option<String>,
    pub(crate) matches: Option<String>,
    pub(crate) versions: Option<Versions>,
}

impl Expect {
    /// Expects `change` of the capture `capture` (`Change::Any` when only the after value
    /// matters).
    pub fn new(capture: impl Into<String>, change: Change) -> Self {
        Expect {
            capture: capture.into(),
            pattern: None,
            change,
            equals: None,
            contains: None,
            matches: None,
            versions: None,
        }
    }

    /// Compares capture group 1 of this regular expression instead of the whole output
    /// (the language's `match`).
    #[must_use]
    pub fn matching(mut self, regex: impl Into<String>) -> Self {
        self.pattern = Some(regex.into());
        self
    }

    /// Every after value must be exactly `value` (`equals`).
    #[must_use]
    pub fn equals(mut self, value: impl Into<String>) -> Self {
        self.equals = Some(value.into());
        self
    }

    /// Every after value must contain `value` (`contains`).
    #[must_use]
    pub fn contains(mut self, value: impl Into<String>) -> Self {
        self.contains = Some(value.into());
        self
    }

    /// Every after value must match the regular expression `regex` (`matches`).
    #[must_use]
    pub fn matches(mut self, regex: impl Into<String>) -> Self {
        self.matches = Some(regex.into());
        self
    }

    /// Orders versions this way instead of by the host's facts (`versions`).
    #[must_use]
    pub fn versions(mut self, versions: Versions) -> Self {
        self.versions = Some(versions);
        self
    }
}

/// A configuration verification (`verify NAME { }`): captures before and after tasks, and
/// what change is expected.
///
/// ```
/// use sflow::api::{Change, Expect, Verification};
/// let v = Verification::new("package_versions")
///     .before("backup")
///     .after("upgrade_packages")
///     .capture("package_versions", "dpkg -l | grep -E 'openssl|bash'")
///     .expect(Expect::new("package_versions", Change::VersionIncrease)
///         .matching(r"ii\s+openssl\s+(\S+)"));
/// # let _ = v;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub(crate) name: String,
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
    pub(crate) captures: Vec<(String, String)>,
    pub(crate) expects: Vec<Expect>,
    pub(crate) on_mismatch: Option<OnMismatch>,
    pub(crate) across: Option<String>,
}

impl Verification {
    /// A verification called `name` (an identifier).
    pub fn new(name: impl Into<String>) -> Self {
        Verification {
            name: name.into(),
            before: None,
            after: None,
            captures: Vec::new(),
            expects: Vec::new(),
            on_mismatch: None,
            across: None,
        }
    }

    /// Capture before this task runs (default: before the host's first task).
    #[must_use]
    pub fn before(mut self, task: impl Into<String>) -> Self {
        self.before = Some(task.into());
        self
    }

    /// Capture again after this task (default: after the host's last task).
    #[must_use]
    pub fn after(mut self, task: impl Into<String>) -> Self {
        self.after = Some(task.into());
        self
    }

    /// A value to capture: the stdout of `command`.
    #[must_use]
    pub fn capture(mut self, name: impl Into<String>, command: impl Into<String>) -> Self {
        self.captures.push((name.into(), command.into()));
        self
    }

    /// An expectation on one capture.
    #[must_use]
    pub fn expect(mut self, expect: Expect) -> Self {
        self.expects.push(expect);
        self
    }

    /// What a mismatch does (default: fail the host).
    #[must_use]
    pub fn on_mismatch(mut self, action: OnMismatch) -> Self {
        self.on_mismatch = Some(action);
        self
    }

    /// After-values must agree across the hosts of this target (drift).
    #[must_use]
    pub fn across(mut self, target: impl Into<String>) -> Self {
        self.across = Some(target.into());
        self
    }
}
