//! The execution plan: a checked [`Program`](crate::program::Program) lowered (by [`lower`]) into
//! the exact, serialisable description of what runs where, in which wave, inside which windows
//! and under which limits. The engine executes nothing but a [`Plan`].
//!
//! # Walking a plan
//!
//! A plan is self-contained: it needs neither the source nor the inventory file.
//! - [`Plan::waves`] run in order. A [`Wave`] lists its hosts as [`WaveHost`]s: an index into
//!   [`Plan::hosts`] (connection settings and attributes), a [`Route`] (the host's task DAG)
//!   and a [`WindowSet`] (index into [`Windows::sets`]).
//! - A [`Route`] lists [`Step`]s in the order a host runs them when nothing runs in parallel
//!   (dependency order, then the order written). `Step::after` holds the steps of the same
//!   route it waits for; `Step::barriers` the tasks that must first have finished on every host
//!   of the current wave that runs them (listed per wave in [`Wave::barriers`]).
//! - Tasks ([`Plan::tasks`]) hold the commands, with params substituted and run-time sites
//!   left for the engine ([`Command`]); the engine quotes run-time values with
//!   [`shell_quote`].
//! - Verification captures run at the [`CapturePoint`]s of the route.
//! - [`Limits`] holds every concurrency limit; per-group and per-attribute limits are resolved
//!   into [`Pool`]s of host indices.
//!
//! [`Plan::hash`] is the SHA-256 of the canonical JSON of everything else ([`Plan::compute_hash`]):
//! it changes when any command, host, window, limit or param value changes, and never because of
//! comments, layout or the instant the plan was made.

mod command;
pub mod duration;
pub mod forecast;
pub mod hostlist;
mod lower;
pub mod render;

#[cfg(test)]
mod tests;

pub use command::{shell_quote, Command, Cond, Field, Op, Part, Site, TaskNames, Value};
pub use lower::{lower, parse_param, pick_workflow, target_label, PlanError};

use crate::window::WindowSet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// The version of the plan format; a plan with another version is refused by `sflow run`.
pub const PLAN_FORMAT: u32 = 1;

/// The execution plan of one workflow over one inventory with one set of param values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT`] when written.
    pub format: u32,
    /// Hex SHA-256 of the canonical serialisation of every other field.
    pub hash: String,
    /// The workflow's name.
    pub workflow: String,
    /// `description = "..."`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The change ticket (`change = "..."`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// Param values used (given with `--param`, else the default).
    pub params: BTreeMap<String, Value>,
    /// Secrets to obtain before running (never their values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// The secret (by name) that `sudo = true` tasks give to `sudo -S` on stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo_password: Option<String>,
    /// Runs on the controller and must exit 0 before anything runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve: Option<Command>,
    /// Event notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// Every host the plan touches (targeted hosts, then jump hosts they need), in inventory
    /// order.
    pub hosts: Vec<Host>,
    /// Task definitions, in the order written.
    pub tasks: Vec<Task>,
    /// Distinct per-host task DAGs; hosts running the same tasks share one.
    pub routes: Vec<Route>,
    /// Waves in the order they run (empty waves are dropped).
    pub waves: Vec<Wave>,
    /// Windows, their settings and the distinct window sets hosts are subject to.
    pub windows: Windows,
    /// Concurrency limits.
    pub limits: Limits,
    /// Wave gating, failure budget and rollback policy.
    pub rollout: RolloutPolicy,
    /// Verification blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifies: Vec<Verify>,
    /// The whole inventory the plan was made against (names and a digest), so that a sealed
    /// plan refuses any other inventory, not only changes to the hosts it runs on. Empty in
    /// plans written before it existed.
    #[serde(default, skip_serializing_if = "InventoryDigest::is_empty")]
    pub inventory: InventoryDigest,
}

/// Every host name of an inventory and the SHA-256 of all of it (hosts with their address,
/// port, user, jump, transport and attributes; groups with their members).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDigest {
    /// Host names in inventory order.
    pub hosts: Vec<String>,
    /// Hex SHA-256 of the canonical JSON of the inventory.
    pub sha256: String,
}

impl InventoryDigest {
    /// The digest of `inventory`.
    pub fn of(inventory: &crate::program::Inventory) -> Self {
        let hosts: Vec<serde_json::Value> = inventory
            .hosts
            .iter()
            .map(|h| {
                serde_json::json!({
                    "name": h.name,
                    "address": h.address,
                    "port": h.port,
                    "user": h.user,
                    "jump": h.jump.map(|j| inventory.host(j).name.as_str()),
                    "local": matches!(h.transport, crate::program::Transport::Local),
                    "attrs": h.attrs,
                })
            })
            .collect();
        let groups: BTreeMap<&str, Vec<&str>> = inventory
            .groups
            .values()
            .map(|g| (g.name.as_str(), inventory.names(&g.hosts)))
            .collect();
        let canonical = serde_json::json!({ "hosts": hosts, "groups": groups });
        let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
        Self {
            hosts: inventory.hosts.iter().map(|h| h.name.clone()).collect(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        }
    }

    /// Whether the plan carries no digest (written before digests existed).
    pub fn is_empty(&self) -> bool {
        self.sha256.is_empty()
    }
}

/// How sflow reaches a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// SSH (the default).
    Ssh,
    /// Commands run on the controller.
    Local,
}

/// A host with everything needed to connect to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Inventory name.
    pub name: String,
    /// Address to connect to.
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// SSH user (none: the SSH configuration decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Index in [`Plan::hosts`] of the host to tunnel through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump: Option<u32>,
    /// How to reach it.
    pub transport: Transport,
    /// Every attribute as a string (known ones included), for `host.ATTR`.
    pub attrs: BTreeMap<String, String>,
}

/// A task definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Its name.
    pub name: String,
    /// The command.
    pub run: Command,
    /// The undo command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Command>,
    /// Guard; false means skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Cond>,
    /// Kill the command after this long.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Extra attempts after a failure.
    pub retry: u32,
    /// Delay before the first retry, doubling each time.
    #[serde(with = "duration")]
    pub retry_delay: Duration,
    /// Expected duration (window fitting, forecasts).
    #[serde(with = "duration")]
    pub estimate: Duration,
    /// Run through sudo.
    pub sudo: bool,
    /// A failure does not fail the host.
    pub allow_failure: bool,
    /// Keep stdout under this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// Run on the controller, once per target host.
    pub local: bool,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Command>,
    /// A secret (by name) fed to the command's stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

/// A host's task DAG.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    /// Steps in the order run one at a time: dependency order, then the order written.
    pub steps: Vec<Step>,
    /// Verification captures and when they run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<CaptureRun>,
}

/// One task on a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Step {
    /// Index into [`Plan::tasks`].
    pub task: u32,
    /// Indices of the steps of this route that must be done first (done includes skipped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<u32>,
    /// Tasks (indices into [`Plan::tasks`]) that must have finished on every host of the
    /// current wave that runs them: dependencies targeting none of this task's hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub barriers: Vec<u32>,
}

/// The captures of one verify block taken at one point of a route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaptureRun {
    /// Index into [`Plan::verifies`].
    pub verify: u32,
    /// The first (before) or second (after) capture.
    pub pass: Pass,
    /// When it runs.
    pub at: CapturePoint,
}

/// The first or second capture of a verify block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    /// Before the change.
    Before,
    /// After the change.
    After,
}

/// A point of a route where captures run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapturePoint {
    /// Before the host's first step.
    Start,
    /// After the host's last step.
    End,
    /// Before this step (index into [`Route::steps`]) starts.
    BeforeStep(u32),
    /// After this step finished.
    AfterStep(u32),
}

/// A wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    /// Its name (`canary`, `wave1` for size lists, `all` without a rollout).
    pub name: String,
    /// Its hosts in order (the order hosts are started in).
    pub hosts: Vec<WaveHost>,
    /// For each barrier task of the wave, the hosts of the wave that run it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub barriers: Vec<Barrier>,
}

/// A host of a wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveHost {
    /// Index into [`Plan::hosts`].
    pub host: u32,
    /// Index into [`Plan::routes`].
    pub route: u32,
    /// Index into [`Windows::sets`].
    pub window: u32,
}

/// A barrier of a wave: `task` must have finished on all of `hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Barrier {
    /// Index into [`Plan::tasks`].
    pub task: u32,
    /// Indices into [`Plan::hosts`].
    pub hosts: Vec<u32>,
}

/// What happens to a command still running when its window closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExpire {
    /// Let it end, start nothing new.
    Finish,
    /// Stop it and mark the host interrupted.
    Abort,
    /// Stop it, then run the host's rollbacks.
    Rollback,
}

/// The workflow's windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windows {
    /// Least time left in the window to start a task.
    #[serde(with = "duration")]
    pub cutoff: Duration,
    /// See [`OnExpire`].
    pub on_expire: OnExpire,
    /// The `window` declarations, for display.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub declared: Vec<DeclaredWindow>,
    /// Distinct window sets (with the blackout dates); [`WaveHost::window`] indexes them.
    /// An empty set of windows is always open.
    pub sets: Vec<WindowSet>,
}

/// A `window TARGET = "SPEC"` declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredWindow {
    /// The target: a group name when the hosts are exactly a group, else the host list.
    pub target: String,
    /// The spec.
    pub spec: crate::window::WindowSpec,
    /// Indices into [`Plan::hosts`] of the hosts it covers.
    pub hosts: Vec<u32>,
}

/// Concurrency limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Hosts with work in flight, fleet-wide (none: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_servers: Option<u32>,
    /// Tasks in flight on one host.
    pub per_host: u32,
    /// Least gap between starting consecutive hosts.
    #[serde(with = "duration")]
    pub stagger: Duration,
    /// Back off when latency or connection errors rise.
    pub adaptive: bool,
    /// Limited pools of hosts: at most `limit` of `hosts` with work in flight at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<Pool>,
}

/// A pool of hosts with a limit of hosts in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Where it comes from: `per_group web_servers`, `per dc = fra1`.
    pub name: String,
    /// Hosts in flight at most.
    pub limit: u32,
    /// Indices into [`Plan::hosts`].
    pub hosts: Vec<u32>,
}

/// A number of hosts, absolute or a percentage of a reference set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostCount {
    /// So many hosts.
    Count(u32),
    /// Percent (0–100): of the wave for `max_failures`, of every targeted host for the budget.
    Percent(u8),
}

impl HostCount {
    /// The number of hosts allowed to fail out of `n` (a percentage rounds down: see
    /// [`percent_of_hosts`]).
    pub fn of(self, n: usize) -> usize {
        match self {
            HostCount::Count(c) => c as usize,
            HostCount::Percent(p) => percent_of_hosts(u32::from(p), n),
        }
    }
}

/// `percent`% of `n` hosts as a failure allowance, rounded down: `max_failures = 10%` must
/// never let more than 10% of a wave fail (10% of 15 is 1, not 2), so a percentage smaller
/// than one host allows none (1% of 5 is 0). The plan and the engine both count with this.
pub fn percent_of_hosts(percent: u32, n: usize) -> usize {
    n.saturating_mul(percent as usize) / 100
}

/// Which hosts roll back when a wave halts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackScope {
    /// The failing wave's changed hosts.
    Wave,
    /// Every host changed so far, newest wave first.
    All,
}

/// Wave gating and rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutPolicy {
    /// Tasks (indices into [`Plan::tasks`]) whose results gate the next wave.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<u32>,
    /// Hosts allowed to fail per wave before halting.
    pub max_failures: HostCount,
    /// Failures allowed over the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_budget: Option<HostCount>,
    /// On halt, run rollbacks.
    pub auto_rollback: bool,
    /// Which hosts roll back.
    pub rollback_scope: RollbackScope,
    /// Wait after a wave passes, then re-run `verify`.
    #[serde(with = "duration")]
    pub bake: Duration,
}

/// A secret to obtain at run time (the source only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Its name.
    pub name: String,
    /// Where the value comes from.
    pub source: SecretSource,
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// Ask on the terminal with this prompt.
    Prompt(String),
    /// This environment variable of the controller.
    Env(String),
    /// The stdout of this command on the controller.
    Command(String),
}

/// `notify { on = [...]  command = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// Event names: `started`, `wave_done`, `failed`, `rollback`, `deferred`, `done`.
    pub on: Vec<String>,
    /// The command; the event JSON goes to its stdin.
    pub command: Command,
    /// `timeout`, in milliseconds: longest one call may take (absent: the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// A `verify` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verify {
    /// Its name.
    pub name: String,
    /// `capture NAME = "command"` in order.
    pub captures: Vec<VerifyCapture>,
    /// Expectations in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expects: Vec<Expect>,
    /// What a mismatch does: `fail`, `warn` or `rollback`.
    pub on_mismatch: String,
    /// After-values must agree across these hosts (indices into [`Plan::hosts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub across: Option<Vec<u32>>,
}

/// A verification capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyCapture {
    /// Its name.
    pub name: String,
    /// The command.
    pub command: Command,
}

/// `expect NAME { match  change }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expect {
    /// Index into [`Verify::captures`].
    pub capture: u32,
    /// Regex whose group 1 is compared (whole output when absent).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "match")]
    pub matcher: Option<String>,
    /// `unchanged`, `changed`, `any`, `version_increase`, `version_decrease`, `added`, `removed`.
    pub change: String,
    /// Every after value must be exactly this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// Every after value must contain this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// A regex every after value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// The declared version ordering (`deb`, `rpm`, `semver`, `numeric`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<String>,
}

impl Plan {
    /// The SHA-256 (hex) of the canonical JSON of the plan with an empty `hash` field.
    pub fn compute_hash(&self) -> String {
        let mut copy = self.clone();
        copy.hash = String::new();
        // Serialising plain data to memory cannot fail; an empty input would still hash.
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// Whether `hash` matches the content (a plan edited by hand does not).
    pub fn hash_is_valid(&self) -> bool {
        self.hash == self.compute_hash()
    }

    /// The plan as pretty JSON (what `sflow plan --format json` prints).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a plan written by [`Plan::to_json`], refusing another format version or a
    /// hash that does not match.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let plan: Plan =
            serde_json::from_str(text).map_err(|e| PlanError::BadPlanFile(e.to_string()))?;
        if plan.format != PLAN_FORMAT {
            return Err(PlanError::PlanFormat(plan.format));
        }
        if !plan.hash_is_valid() {
            return Err(PlanError::PlanHash);
        }
        Ok(plan)
    }

    /// The number of task instances (steps over every host).
    pub fn task_instances(&self) -> usize {
        self.waves
            .iter()
            .flat_map(|w| &w.hosts)
            .map(|h| self.routes[h.route as usize].steps.len())
            .sum()
    }

    /// The name of the capture of task `index`.
    pub fn capture_name(&self, index: u32) -> String {
        self.tasks
            .get(index as usize)
            .and_then(|t| t.capture.clone())
            .unwrap_or_else(|| format!("task{index}.stdout"))
    }
}

impl TaskNames for Plan {
    fn task_name(&self, index: u32) -> &str {
        self.tasks
            .get(index as usize)
            .map_or("?", |t| t.name.as_str())
    }
}
