//! The checked program: the typed, resolved form of the workflows of a run, produced by
//! [`crate::check`] and consumed by the plan, the engine and the LSP. Names are resolved to
//! ids, target expressions to host sets, attributes to typed values; nothing here needs the
//! syntax tree again. Spans are kept for messages at run time.

use crate::span::Span;
use std::collections::BTreeMap;
use std::time::Duration;

mod hosts;
mod verify;

pub use hosts::HostSet;
pub use verify::{CapturePoint, Change, OnMismatch, Verify, VerifyCapture, VerifyExpect};

/// Everything the later phases need.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The resolved inventory.
    pub inventory: Inventory,
    /// The workflows, in source order (only the one picked by `--workflow` when given).
    pub workflows: Vec<Workflow>,
}

impl Program {
    /// The workflow named `name`.
    pub fn workflow(&self, name: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.name == name)
    }
}

/// Index of a host in [`Inventory::hosts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub u32);

/// The resolved inventory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Hosts, indexed by [`HostId`], in declaration order (hosts only named in a group come
    /// after the declared ones, in order of first mention).
    pub hosts: Vec<Host>,
    /// Groups by name.
    pub groups: BTreeMap<String, Group>,
}

impl Inventory {
    /// The host with `id`.
    ///
    /// # Panics
    /// If `id` is not from this inventory (a programming error).
    pub fn host(&self, id: HostId) -> &Host {
        &self.hosts[id.0 as usize]
    }

    /// The host named `name`.
    pub fn host_by_name(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Every host.
    pub fn all(&self) -> HostSet {
        HostSet(self.hosts.iter().map(|h| h.id).collect())
    }

    /// The names of the hosts of `set`, in order.
    pub fn names(&self, set: &HostSet) -> Vec<&str> {
        set.iter().map(|h| self.host(h).name.as_str()).collect()
    }
}

/// How sflow reaches a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OpenSSH-compatible SSH (the default).
    Ssh,
    /// Commands run on the controller itself.
    Local,
}

/// One host with its connection settings and free attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Its id.
    pub id: HostId,
    /// Its name.
    pub name: String,
    /// Address to connect to (default: the name).
    pub address: String,
    /// SSH port (default 22).
    pub port: u16,
    /// SSH user (none: the SSH configuration decides).
    pub user: Option<String>,
    /// Host to tunnel through.
    pub jump: Option<HostId>,
    /// How to reach it.
    pub transport: Transport,
    /// Every attribute as a string, known ones included (`address`, `port`, `user`, ...),
    /// defaults applied: what `where`, `host.ATTR` and `per ATTR` read.
    pub attrs: BTreeMap<String, String>,
    /// Where it was declared (`None` for a host only named in a group).
    pub span: Option<Span>,
}

/// A named group of hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Its name.
    pub name: String,
    /// Its members.
    pub hosts: HostSet,
    /// Where it was declared.
    pub span: Span,
}

/// Index of a task in [`Workflow::tasks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

/// A checked workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// Where it was declared.
    pub span: Span,
    /// `description = "..."`.
    pub description: Option<String>,
    /// `change = "..."`: the change ticket.
    pub change: Option<String>,
    /// `param` declarations in order.
    pub params: Vec<Param>,
    /// `secret` declarations in order: sources only, never values.
    pub secrets: Vec<Secret>,
    /// `sudo_password = SECRET`: the secret written to `sudo -S` for tasks with `sudo = true`.
    pub sudo_password: Option<String>,
    /// `approve { command = ... }`.
    pub approve: Option<Approve>,
    /// `notify { ... }`.
    pub notify: Option<Notify>,
    /// `window` declarations in order.
    pub windows: Vec<Window>,
    /// `windows { ... }` settings (defaults when absent).
    pub window_settings: WindowSettings,
    /// `parallel { ... }` limits (defaults when absent).
    pub parallel: Parallel,
    /// Tasks in the order written, indexed by [`TaskId`].
    pub tasks: Vec<Task>,
    /// The rollout (one wave of every targeted host when absent).
    pub rollout: Rollout,
    /// `verify` blocks in order.
    pub verifies: Vec<Verify>,
}

impl Workflow {
    /// The task with `id`.
    ///
    /// # Panics
    /// If `id` is not from this workflow (a programming error).
    pub fn task(&self, id: TaskId) -> &Task {
        &self.tasks[id.0 as usize]
    }

    /// The task named `name`.
    pub fn task_by_name(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// Indexes into [`Workflow::windows`] of the windows covering `host`.
    pub fn windows_of(&self, host: HostId) -> Vec<usize> {
        self.windows
            .iter()
            .enumerate()
            .filter(|(_, w)| w.hosts.contains(host))
            .map(|(i, _)| i)
            .collect()
    }

    /// The window set a host is subject to: every window covering it (all must be open)
    /// minus the blackout dates. `None` when the workflow declares no window (always open).
    pub fn window_set(&self, host: HostId) -> Option<crate::window::WindowSet> {
        if self.windows.is_empty() {
            return None;
        }
        let specs = self
            .windows_of(host)
            .into_iter()
            .map(|i| self.windows[i].spec.clone())
            .collect();
        Some(crate::window::WindowSet::new(
            specs,
            self.window_settings.blackout.clone(),
        ))
    }

    /// The order tasks run in on `host` when one task runs at a time (`per_host = 1`):
    /// see [`host_order`].
    pub fn host_order(&self, host: HostId) -> Vec<TaskId> {
        host_order(&self.tasks, host)
    }

    /// Every host some task targets.
    pub fn targeted_hosts(&self) -> HostSet {
        self.tasks
            .iter()
            .fold(HostSet::new(), |acc, t| acc.union(&t.hosts))
    }
}

/// The tasks targeting `host` in the order they run there one at a time: dependency order
/// (among the dependencies that also run on the host), ties broken by the order written.
/// Dependencies on tasks that do not run on the host (barriers) delay a task but do not
/// reorder it. Tasks in a dependency cycle are left out (the checker rejects cycles).
pub fn host_order(tasks: &[Task], host: HostId) -> Vec<TaskId> {
    let on: Vec<&Task> = tasks.iter().filter(|t| t.hosts.contains(host)).collect();
    let local = |id: TaskId| on.iter().any(|t| t.id == id);
    let mut pending: BTreeMap<TaskId, usize> = on
        .iter()
        .map(|t| (t.id, t.deps.iter().filter(|d| local(**d)).count()))
        .collect();
    let mut order = Vec::with_capacity(on.len());
    // Smallest written index among the ready tasks, one at a time.
    while let Some((&next, _)) = pending.iter().find(|(_, n)| **n == 0) {
        pending.remove(&next);
        order.push(next);
        for t in &on {
            if t.deps.contains(&next) {
                if let Some(n) = pending.get_mut(&t.id) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
    order
}

/// Types of params, template parameters and condition values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Text.
    String,
    /// A signed integer.
    Int,
    /// `true` / `false`.
    Bool,
    /// A duration.
    Duration,
    /// A percentage.
    Percent,
}

impl Type {
    /// The name with its article, for messages: "an int", "a string".
    pub fn with_article(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Int => "an int",
            Type::Bool => "a bool",
            Type::Duration => "a duration",
            Type::Percent => "a percent",
        }
    }

    /// The name as written in source.
    pub fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Int => "int",
            Type::Bool => "bool",
            Type::Duration => "duration",
            Type::Percent => "percent",
        }
    }
}

/// A literal value of one of the [`Type`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// Text.
    String(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Duration.
    Duration(Duration),
    /// Percentage 0–100.
    Percent(u8),
}

/// `param NAME: TYPE = DEFAULT` (set with `--param NAME=VALUE`).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// The default (none: the param must be given on the command line).
    pub default: Option<Literal>,
    /// Where it was declared.
    pub span: Span,
}

/// Where a secret's value comes from at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Ask on the terminal with this prompt.
    Prompt(String),
    /// Read this environment variable of the controller.
    Env(String),
    /// Run this command on the controller and take its stdout (trailing newline removed).
    Command(String),
}

/// `secret NAME = SOURCE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    /// Its name.
    pub name: String,
    /// Its source.
    pub source: SecretSource,
    /// Where it was declared.
    pub span: Span,
}

/// `approve { command = "..." }`: must exit 0 before anything runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Approve {
    /// The command, run on the controller.
    pub command: CommandTemplate,
    /// Where it was declared.
    pub span: Span,
}

/// Events a `notify` command can be called on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotifyEvent {
    /// The run started.
    Started,
    /// A wave finished and passed.
    WaveDone,
    /// A host or the run failed.
    Failed,
    /// A rollback started.
    Rollback,
    /// Work was deferred to a later window.
    Deferred,
    /// The run finished.
    Done,
}

impl NotifyEvent {
    /// Every event with its source name.
    pub const ALL: [(&'static str, NotifyEvent); 6] = [
        ("started", NotifyEvent::Started),
        ("wave_done", NotifyEvent::WaveDone),
        ("failed", NotifyEvent::Failed),
        ("rollback", NotifyEvent::Rollback),
        ("deferred", NotifyEvent::Deferred),
        ("done", NotifyEvent::Done),
    ];
}

/// `notify { on = [...]  command = "..." }`: the event JSON goes to the command's stdin.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    /// Events that trigger the command (default: failed, rollback, done).
    pub on: Vec<NotifyEvent>,
    /// The command, run on the controller.
    pub command: CommandTemplate,
    /// `timeout = 30s`: longest one call may take (default: 10s).
    pub timeout: Option<std::time::Duration>,
    /// Where it was declared.
    pub span: Span,
}

/// `window TARGET = "SPEC"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Hosts it covers.
    pub hosts: HostSet,
    /// The parsed spec.
    pub spec: crate::window::WindowSpec,
    /// Span of the spec string literal.
    pub spec_span: Span,
    /// The whole declaration.
    pub span: Span,
}

/// What happens to a command still running when its window closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExpire {
    /// Let it end, start nothing new.
    #[default]
    Finish,
    /// Stop it and mark the host interrupted.
    Abort,
    /// Stop it, then run the host's rollbacks.
    Rollback,
}

/// `windows { cutoff  on_expire  blackout }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowSettings {
    /// Least time left in the window to start a task (default 0).
    pub cutoff: Duration,
    /// See [`OnExpire`].
    pub on_expire: OnExpire,
    /// Dates never open (in each window's zone).
    pub blackout: Vec<chrono::NaiveDate>,
}

/// Per-group limit of `parallel`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PerGroup {
    /// No per-group limit.
    #[default]
    None,
    /// `per_group = N`: the same limit for every group.
    Uniform(u32),
    /// `per_group = { g = N ... }`.
    ByGroup(BTreeMap<String, u32>),
}

/// `parallel { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Parallel {
    /// Hosts with work in flight fleet-wide (none: unlimited).
    pub max_servers: Option<u32>,
    /// Per-group limits.
    pub per_group: PerGroup,
    /// `per ATTR = N`: at most N hosts per distinct value of host attribute ATTR.
    pub per_attr: Vec<(String, u32)>,
    /// Tasks in flight on one host (default 1).
    pub per_host: u32,
    /// Least gap between starting consecutive hosts (default 0).
    pub stagger: Duration,
    /// Back off when latency or connection errors rise.
    pub adaptive: bool,
}

impl Default for Parallel {
    fn default() -> Self {
        Parallel {
            max_servers: None,
            per_group: PerGroup::None,
            per_attr: Vec::new(),
            per_host: 1,
            stagger: Duration::ZERO,
            adaptive: false,
        }
    }
}

/// Default `timeout` of a task.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default `estimate` of a task.
pub const DEFAULT_ESTIMATE: Duration = Duration::from_secs(60);
/// Default `retry_delay` of a task (doubles at each attempt).
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(5);

/// A checked task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// Its name.
    pub name: String,
    /// Where it was declared (whole task).
    pub span: Span,
    /// Hosts it runs on, in stable order.
    pub hosts: HostSet,
    /// `after` dependencies, in the order written.
    pub deps: Vec<TaskId>,
    /// Guard: `when` condition.
    pub when: Option<Expr>,
    /// The command (from `run`, or from the template of `use`).
    pub run: CommandTemplate,
    /// Undo command.
    pub rollback: Option<CommandTemplate>,
    /// Kill the command after this long (default 30m).
    pub timeout: Duration,
    /// Extra attempts after a failure.
    pub retry: u32,
    /// Delay before the first retry; doubles each time (default 5s).
    pub retry_delay: Duration,
    /// Expected duration (default 1m).
    pub estimate: Duration,
    /// Run through sudo.
    pub sudo: bool,
    /// A failure does not fail the host.
    pub allow_failure: bool,
    /// Keep stdout under this name.
    pub capture: Option<String>,
    /// Run on the controller, once per target host.
    pub local: bool,
    /// Environment variables.
    pub env: BTreeMap<String, CommandTemplate>,
    /// A secret fed to the command's stdin.
    pub stdin: Option<String>,
    /// The template used (`use = NAME(...)`), for messages.
    pub template: Option<String>,
}

/// A command or string with interpolation sites, resolved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommandTemplate {
    /// Literal text and interpolation sites in order.
    pub parts: Vec<TemplatePart>,
}

impl CommandTemplate {
    /// A template with only literal text.
    pub fn literal(text: impl Into<String>) -> Self {
        CommandTemplate {
            parts: vec![TemplatePart::Text(text.into())],
        }
    }
}

/// A piece of a [`CommandTemplate`].
#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    /// Literal text.
    Text(String),
    /// `${value}` (shell-quoted) or `${raw value}` (as is).
    Interp {
        /// What is inserted.
        value: ValueRef,
        /// Insert as is instead of shell-quoted.
        raw: bool,
        /// Where it was written.
        span: Span,
    },
}

/// A run-time value a condition or an interpolation reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueRef {
    /// A workflow `param`.
    Param(String),
    /// `host.ATTR` of the current host.
    HostAttr(String),
    /// `host.name`: the current host's name.
    HostName,
    /// A named capture (`capture = NAME` on a task): the task's stdout on this host.
    Capture(TaskId),
    /// `TASK.FIELD` on the current host.
    TaskField(TaskId, TaskField),
}

/// Fields of a task's outcome on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskField {
    /// Succeeded (bool).
    Ok,
    /// Failed (bool).
    Failed,
    /// Skipped (bool).
    Skipped,
    /// Exit status (int).
    Exit,
    /// Standard output (string).
    Stdout,
    /// Standard error (string).
    Stderr,
}

impl TaskField {
    /// Every field with its source name.
    pub const ALL: [(&'static str, TaskField); 6] = [
        ("ok", TaskField::Ok),
        ("failed", TaskField::Failed),
        ("skipped", TaskField::Skipped),
        ("exit", TaskField::Exit),
        ("stdout", TaskField::Stdout),
        ("stderr", TaskField::Stderr),
    ];

    /// The type of the field.
    pub fn ty(self) -> Type {
        match self {
            TaskField::Ok | TaskField::Failed | TaskField::Skipped => Type::Bool,
            TaskField::Exit => Type::Int,
            TaskField::Stdout | TaskField::Stderr => Type::String,
        }
    }
}

/// A typed condition expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The node.
    pub kind: ExprKind,
    /// Its type.
    pub ty: Type,
    /// Where it was written.
    pub span: Span,
}

/// The nodes of [`Expr`].
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A constant.
    Literal(Literal),
    /// A run-time value.
    Value(ValueRef),
    /// `.int`: a string parsed as an integer (whitespace trimmed; not a number → the
    /// condition is an error at run time and the task fails).
    ToInt(Box<Expr>),
    /// `a OP b` (both sides of the same type; `< <= > >=` only on int, duration, percent).
    Compare(crate::ast::CmpOp, Box<Expr>, Box<Expr>),
    /// `a =~ r"regex"` (the regex compiles).
    Match(Box<Expr>, String),
    /// `a contains b` (strings).
    Contains(Box<Expr>, Box<Expr>),
    /// `a and b`.
    And(Box<Expr>, Box<Expr>),
    /// `a or b`.
    Or(Box<Expr>, Box<Expr>),
    /// `not a`.
    Not(Box<Expr>),
}

/// A number of hosts, absolute or relative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCount {
    /// So many hosts.
    Count(u32),
    /// Percent (0–100) of a reference set (the wave, or the fleet).
    Percent(u8),
}

impl HostCount {
    /// The count for a reference set of `n` hosts (percentages round up, but 0% is 0).
    pub fn of(self, n: usize) -> usize {
        match self {
            HostCount::Count(c) => c as usize,
            HostCount::Percent(p) => (n * p as usize).div_ceil(100),
        }
    }
}

/// Where rollback runs when a wave halts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RollbackScope {
    /// The failing wave's changed hosts.
    #[default]
    Wave,
    /// Every host changed so far, newest wave first.
    All,
}

/// A checked rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// The waves, in order; every targeted host is in exactly one.
    pub waves: Vec<Wave>,
    /// How the waves were written.
    pub form: WaveForm,
    /// Tasks whose results gate the next wave.
    pub verify: Vec<TaskId>,
    /// Failures allowed per wave before halting (count or % of the wave; default 0).
    pub max_failures: HostCount,
    /// `max_failures_total`: failures allowed over the whole run (count or % of every
    /// targeted host) before halting, whatever the wave; `None` = no run-wide budget.
    pub failure_budget: Option<HostCount>,
    /// On halt, run rollbacks.
    pub auto_rollback: bool,
    /// Which hosts roll back.
    pub rollback_scope: RollbackScope,
    /// Wait after a wave passes, then re-run `verify` before going on.
    pub bake: Duration,
    /// Where the rollout block was (`None` when implicit).
    pub span: Option<Span>,
}

/// How the waves were written.
#[derive(Debug, Clone, PartialEq)]
pub enum WaveForm {
    /// No rollout block: every targeted host in one wave.
    Implicit,
    /// `wave NAME = TARGET` lines.
    Explicit,
    /// `waves = [sizes] of TARGET`: cumulative sizes.
    Sizes(Vec<HostCount>),
}

/// One wave: a name and its hosts (only hosts some task targets).
#[derive(Debug, Clone, PartialEq)]
pub struct Wave {
    /// `canary`, or `wave1`, `wave2`... for size lists, `all` when implicit.
    pub name: String,
    /// Its hosts.
    pub hosts: HostSet,
    /// Where it was declared.
    pub span: Option<Span>,
}

/// Split `hosts` into waves by cumulative sizes: wave i holds the hosts from the end of wave
/// i-1 up to `sizes[i].of(n)` (clamped to n). Returns the slices; some may be empty.
pub fn split_by_sizes(hosts: &HostSet, sizes: &[HostCount]) -> Vec<HostSet> {
    let n = hosts.len();
    let mut prev = 0;
    sizes
        .iter()
        .map(|s| {
            let end = s.of(n).clamp(prev, n);
            let w = HostSet(hosts.as_slice()[prev..end].to_vec());
            prev = end;
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let a = HostSet::from_ids([1, 3, 5, 7].map(HostId));
        let b = HostSet::from_ids([2, 3, 7, 9].map(HostId));
        let ids = |s: HostSet| s.iter().map(|h| h.0).collect::<Vec<_>>();
        assert_eq!(ids(a.union(&b)), vec![1, 2, 3, 5, 7, 9]);
        assert_eq!(ids(a.intersection(&b)), vec![3, 7]);
        assert_eq!(ids(a.difference(&b)), vec![1, 5]);
        assert_eq!(ids(b.difference(&HostSet::new())), vec![2, 3, 7, 9]);
    }

    #[test]
    fn sizes_split_cumulatively() {
        let hosts = HostSet::from_ids((0..20).map(HostId));
        let sizes = [
            HostCount::Count(1),
            HostCount::Percent(10),
            HostCount::Percent(50),
            HostCount::Percent(100),
        ];
        let waves = split_by_sizes(&hosts, &sizes);
        let lens: Vec<usize> = waves.iter().map(HostSet::len).collect();
        assert_eq!(lens, vec![1, 1, 8, 10]);
    }
}
