//! The bridge from a [`Plan`] to the engine's [`RunSpec`]: hosts of the waves, tasks with their
//! host lists and dependencies (barriers included), commands as templates, `when` conditions as
//! evaluators, window sets as `WindowCheck`s, limit pools as counted groups.
//!
//! Input: a `Plan` and the run-time choices (secret values, `--wait`, `--ignore-windows`,
//! `--max-failures`). Output: a `RunSpec`. No decision is added: everything comes from the plan.

use super::event::{OnExpire, RollbackScope};
use super::interp::{Piece, Template};
use super::limits::{LimitsConfig, PerGroup};
use super::spec::{
    CapturePass, CaptureRole, Condition, HostFacts, HostSpec, RolloutPolicy, RunSpec, TaskSpec,
    Threshold, WaveSpec, WindowCheck, WindowPolicy,
};
use crate::plan::{self, CapturePoint, Cond, Field, Op, Part, Pass, Plan, Site, TaskNames};
use crate::verify::{CaptureSpec, Expectation, VerifySpec};
use crate::window::WindowSet;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Run-time choices that are not part of the plan.
#[derive(Debug, Clone, Default)]
pub struct RunChoices {
    /// Secret values by name (obtained by the CLI).
    pub secrets: BTreeMap<String, String>,
    /// `--wait`.
    pub wait: bool,
    /// `--ignore-windows REASON`.
    pub ignore_windows: Option<String>,
    /// `--max-failures`: overrides the plan's run-wide failure budget.
    pub failure_budget: Option<Threshold>,
}

impl WindowCheck for WindowSet {
    fn remaining(&self, at: DateTime<Utc>) -> Option<Duration> {
        WindowSet::remaining(self, at).map(|d| d.to_std().unwrap_or(Duration::ZERO))
    }

    fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        WindowSet::next_open(self, at)
    }
}

/// The path the engine's `HostFacts::value` understands for a plan site.
fn site_path(plan: &Plan, site: &Site) -> String {
    match site {
        Site::HostAttr(a) => format!("host.{a}"),
        Site::HostName => "host.name".to_string(),
        Site::Capture(t) => plan.capture_name(*t),
        Site::Task(t, f) => format!("{}.{}", plan.task_name(*t), f.as_str()),
    }
}

fn template(plan: &Plan, cmd: &plan::Command) -> Template {
    let pieces = cmd
        .parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => Piece::Text(t.clone()),
            Part::Site { site, raw } => Piece::Value {
                path: site_path(plan, site),
                raw: *raw,
            },
        })
        .collect();
    Template { pieces }
}

fn threshold(c: plan::HostCount) -> Threshold {
    match c {
        plan::HostCount::Count(n) => Threshold::Count(n as usize),
        plan::HostCount::Percent(p) => Threshold::Percent(u32::from(p)),
    }
}

impl RunSpec {
    /// The engine's view of `plan`.
    pub fn from_plan(plan: &Plan, choices: RunChoices) -> RunSpec {
        // Engine host ids: the hosts of the waves, in wave order.
        let mut id_of: HashMap<u32, usize> = HashMap::new();
        let mut hosts: Vec<HostSpec> = Vec::new();
        let mut waves = Vec::new();
        let mut pools_of: HashMap<u32, Vec<String>> = HashMap::new();
        for pool in &plan.limits.pools {
            for &h in &pool.hosts {
                pools_of.entry(h).or_default().push(pool.name.clone());
            }
        }
        let mut task_hosts: Vec<Vec<usize>> = vec![Vec::new(); plan.tasks.len()];
        let mut task_after: Vec<Vec<usize>> = vec![Vec::new(); plan.tasks.len()];
        let mut captures = Captures {
            first: plan.tasks.len(),
            ..Captures::default()
        };
        for wave in &plan.waves {
            let mut ids = Vec::new();
            for wh in &wave.hosts {
                let Some(ph) = plan.hosts.get(wh.host as usize) else {
                    continue;
                };
                let id = *id_of.entry(wh.host).or_insert_with(|| {
                    let windows: Vec<Arc<dyn WindowCheck>> = plan
                        .windows
                        .sets
                        .get(wh.window as usize)
                        .filter(|s| !s.is_always())
                        .map(|s| Arc::new(s.clone()) as Arc<dyn WindowCheck>)
                        .into_iter()
                        .collect();
                    hosts.push(HostSpec {
                        name: ph.name.clone(),
                        groups: pools_of.get(&wh.host).cloned().unwrap_or_default(),
                        attrs: ph.attrs.clone(),
                        windows,
                    });
                    hosts.len() - 1
                });
                ids.push(id);
                let Some(route) = plan.routes.get(wh.route as usize) else {
                    continue;
                };
                for step in &route.steps {
                    let t = step.task as usize;
                    if let Some(th) = task_hosts.get_mut(t) {
                        th.push(id);
                    }
                    let deps = step
                        .after
                        .iter()
                        .filter_map(|&s| route.steps.get(s as usize).map(|d| d.task as usize))
                        .chain(step.barriers.iter().map(|&b| b as usize));
                    if let Some(after) = task_after.get_mut(t) {
                        for d in deps {
                            if !after.contains(&d) {
                                after.push(d);
                            }
                        }
                    }
                }
            }
            waves.push(WaveSpec {
                name: wave.name.clone(),
                hosts: ids.clone(),
            });
            for (wh, &id) in wave.hosts.iter().zip(&ids) {
                if let Some(route) = plan.routes.get(wh.route as usize) {
                    captures.add_route(plan, route, id, &mut task_after);
                }
            }
        }
        let plan_arc = Arc::new(plan.clone());
        let tasks = plan
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| TaskSpec {
                name: t.name.clone(),
                hosts: std::mem::take(&mut task_hosts[i]),
                after: std::mem::take(&mut task_after[i]),
                when: t.when.clone().map(|c| condition(plan_arc.clone(), c)),
                run: template(plan, &t.run),
                rollback: t.rollback.as_ref().map(|r| template(plan, r)),
                timeout: t.timeout,
                retry: t.retry,
                retry_delay: t.retry_delay,
                estimate: t.estimate,
                sudo: t.sudo,
                allow_failure: t.allow_failure,
                capture: t.capture.clone(),
                local: t.local,
                env: t
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), template(plan, v)))
                    .collect(),
                stdin: t.stdin.clone(),
                capture_of: None,
            })
            .chain(captures.tasks(plan))
            .collect();
        let limits = LimitsConfig {
            max_servers: plan.limits.max_servers.map(|n| n as usize),
            per_group: if plan.limits.pools.is_empty() {
                PerGroup::None
            } else {
                PerGroup::Map(
                    plan.limits
                        .pools
                        .iter()
                        .map(|p| (p.name.clone(), p.limit as usize))
                        .collect(),
                )
            },
            per_attr: Vec::new(),
            per_host: plan.limits.per_host.max(1) as usize,
            stagger: plan.limits.stagger,
            adaptive: plan.limits.adaptive,
        };
        let without_rollout = plan.waves.len() == 1
            && plan.waves[0].name == "all"
            && plan.rollout.verify.is_empty()
            && !plan.rollout.auto_rollback;
        let rollout = RolloutPolicy {
            verify: plan.rollout.verify.iter().map(|&t| t as usize).collect(),
            // Without a rollout block (one wave `all`, no gate, no rollback) a failed host does
            // not stop the others: the run ends `failed` (exit 1), unless a failure budget says
            // otherwise.
            max_failures: (!without_rollout).then(|| threshold(plan.rollout.max_failures)),
            failure_budget: choices
                .failure_budget
                .or(plan.rollout.failure_budget.map(threshold)),
            auto_rollback: plan.rollout.auto_rollback,
            rollback_scope: match plan.rollout.rollback_scope {
                plan::RollbackScope::Wave => RollbackScope::Wave,
                plan::RollbackScope::All => RollbackScope::All,
            },
            bake: plan.rollout.bake,
        };
        let windows = WindowPolicy {
            cutoff: plan.windows.cutoff,
            on_expire: match plan.windows.on_expire {
                plan::OnExpire::Finish => OnExpire::Finish,
                plan::OnExpire::Abort => OnExpire::Abort,
                plan::OnExpire::Rollback => OnExpire::Rollback,
            },
            wait: choices.wait,
            ignore: choices.ignore_windows,
        };
        RunSpec {
            workflow: plan.workflow.clone(),
            change: plan.change.clone(),
            hosts,
            tasks,
            waves,
            limits,
            rollout,
            windows,
            params: plan
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.to_text()))
                .collect(),
            secrets: choices.secrets,
            sudo_password: plan.sudo_password.clone(),
            verifies: plan.verifies.iter().map(|v| verify_spec(plan, v)).collect(),
        }
    }
}

/// A `verify` block for the verify module, with its `across` target resolved to host names
/// (each host is verified on its own samples as soon as they are in; drift across hosts is
/// evaluated at the end of the run).
fn verify_spec(plan: &Plan, v: &plan::Verify) -> VerifySpec {
    let mut spec = VerifySpec::new(v.name.clone());
    spec.on_mismatch = v.on_mismatch.parse().unwrap_or_default();
    spec.across = v.across.as_ref().map(|hosts| {
        hosts
            .iter()
            .filter_map(|&h| plan.hosts.get(h as usize).map(|x| x.name.clone()))
            .collect()
    });
    for (i, c) in v.captures.iter().enumerate() {
        let mut cs = CaptureSpec::new(c.name.clone());
        if let Some(e) = v.expects.iter().find(|e| e.capture as usize == i) {
            cs = cs.expect(Expectation {
                match_regex: e.matcher.clone(),
                change: e.change.parse().unwrap_or_default(),
                equals: e.equals.clone(),
                contains: e.contains.clone(),
                matches: e.matches.clone(),
                versions: e.versions.as_deref().and_then(|v| v.parse().ok()),
            });
        }
        spec = spec.capture(cs);
    }
    spec
}

/// Where a capture runs, at task level (route step indices resolved to tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Point {
    Start,
    End,
    Before(usize),
    After(usize),
}

/// (verify, capture index, before?, point).
type CaptureKey = (usize, usize, bool, Point);

/// The capture commands of `verify` blocks, as tasks appended after the plan's own.
#[derive(Default)]
struct Captures {
    /// Index of the first capture task.
    first: usize,
    ids: HashMap<CaptureKey, usize>,
    keys: Vec<CaptureKey>,
    hosts: Vec<Vec<usize>>,
    after: Vec<Vec<usize>>,
}

fn push_unique(v: &mut Vec<usize>, x: usize) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl Captures {
    /// Adds the captures of `route` on engine host `id`, with their dependencies: a capture
    /// before a step waits for that step's dependencies and the step waits for it; one at the
    /// start comes before every step without dependency; one after a step (or at the end)
    /// waits for it (for all of them); an after-capture also waits for its before-capture.
    fn add_route(
        &mut self,
        plan: &Plan,
        route: &plan::Route,
        id: usize,
        task_after: &mut [Vec<usize>],
    ) {
        let step_task = |i: u32| route.steps.get(i as usize).map(|s| s.task as usize);
        let mut here: HashMap<(usize, usize, bool), usize> = HashMap::new();
        for cr in &route.captures {
            let point = match cr.at {
                CapturePoint::Start => Point::Start,
                CapturePoint::End => Point::End,
                CapturePoint::BeforeStep(i) => match step_task(i) {
                    Some(t) => Point::Before(t),
                    None => continue,
                },
                CapturePoint::AfterStep(i) => match step_task(i) {
                    Some(t) => Point::After(t),
                    None => continue,
                },
            };
            let before = cr.pass == Pass::Before;
            let Some(v) = plan.verifies.get(cr.verify as usize) else {
                continue;
            };
            for ci in 0..v.captures.len() {
                let key = (cr.verify as usize, ci, before, point);
                let n = match self.ids.get(&key) {
                    Some(&n) => n,
                    None => {
                        self.keys.push(key);
                        self.hosts.push(Vec::new());
                        self.after.push(Vec::new());
                        self.ids.insert(key, self.keys.len() - 1);
                        self.keys.len() - 1
                    }
                };
                push_unique(&mut self.hosts[n], id);
                here.insert((key.0, ci, before), n);
                let me = self.first + n;
                match point {
                    Point::Start => {
                        for step in route.steps.iter().filter(|s| s.after.is_empty()) {
                            if let Some(a) = task_after.get_mut(step.task as usize) {
                                push_unique(a, me);
                            }
                        }
                    }
                    Point::End => {
                        for step in &route.steps {
                            push_unique(&mut self.after[n], step.task as usize);
                        }
                    }
                    Point::Before(t) => {
                        if let Some(step) = route.steps.iter().find(|s| s.task as usize == t) {
                            for d in step.after.iter().filter_map(|&i| step_task(i)) {
                                push_unique(&mut self.after[n], d);
                            }
                        }
                        if let Some(a) = task_after.get_mut(t) {
                            push_unique(a, me);
                        }
                    }
                    Point::After(t) => push_unique(&mut self.after[n], t),
                }
            }
        }
        for (&(v, ci, before), &n) in &here {
            if !before {
                if let Some(&b) = here.get(&(v, ci, true)) {
                    push_unique(&mut self.after[n], self.first + b);
                }
            }
        }
    }

    fn tasks(&mut self, plan: &Plan) -> Vec<TaskSpec> {
        let mut out = Vec::with_capacity(self.keys.len());
        for (n, &(v, ci, before, _)) in self.keys.iter().enumerate() {
            let Some(cap) = plan
                .verifies
                .get(v)
                .and_then(|verify| verify.captures.get(ci).map(|c| (verify, c)))
            else {
                continue;
            };
            let (verify, cap) = cap;
            let pass = if before {
                CapturePass::Before
            } else {
                CapturePass::After
            };
            let side = if before { "before" } else { "after" };
            let hosts = std::mem::take(&mut self.hosts[n]);
            let mut t = TaskSpec::new(format!("{}.{}@{side}", verify.name, cap.name), hosts, "");
            t.run = template(plan, &cap.command);
            t.after = std::mem::take(&mut self.after[n]);
            // A capture that fails is a verification sample (`failed`), not a host failure.
            t.allow_failure = true;
            t.estimate = Duration::from_secs(1);
            t.capture_of = Some(CaptureRole {
                verify: v,
                capture: cap.name.clone(),
                pass,
            });
            out.push(t);
        }
        out
    }
}

/// A value while evaluating a condition.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl V {
    fn text(&self) -> String {
        match self {
            V::Str(s) => s.clone(),
            V::Int(i) => i.to_string(),
            V::Bool(b) => b.to_string(),
        }
    }
}

fn condition(plan: Arc<Plan>, cond: Cond) -> Condition {
    Arc::new(
        move |facts: &HostFacts<'_>| match eval(&plan, &cond, facts)? {
            V::Bool(b) => Ok(b),
            other => Err(format!("condition is not true or false: {}", other.text())),
        },
    )
}

fn eval(plan: &Plan, c: &Cond, f: &HostFacts<'_>) -> Result<V, String> {
    Ok(match c {
        Cond::Lit(v) => match v {
            plan::Value::String(s) => V::Str(s.clone()),
            plan::Value::Int(i) => V::Int(*i),
            plan::Value::Bool(b) => V::Bool(*b),
            plan::Value::Duration(d) => V::Int(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            plan::Value::Percent(p) => V::Int(i64::from(*p)),
        },
        Cond::Site(site) => {
            let path = site_path(plan, site);
            let value = f.value(&path);
            match site {
                Site::Task(_, Field::Ok | Field::Failed | Field::Skipped) => {
                    V::Bool(value.as_deref() == Some("true"))
                }
                Site::Task(_, Field::Exit) => V::Int(
                    value
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| format!("`{path}` has no exit code"))?,
                ),
                _ => V::Str(value.ok_or_else(|| format!("no value for `{path}` on this host"))?),
            }
        }
        Cond::ToInt(inner) => {
            let text = eval(plan, inner, f)?.text();
            V::Int(
                text.trim()
                    .parse()
                    .map_err(|_| format!("`{}` is not an integer", text.trim()))?,
            )
        }
        Cond::Cmp(op, a, b) => {
            let (a, b) = (eval(plan, a, f)?, eval(plan, b, f)?);
            let ord = match (&a, &b) {
                (V::Int(x), V::Int(y)) => x.cmp(y),
                (V::Int(x), V::Str(s)) | (V::Str(s), V::Int(x))
                    if s.trim().parse::<i64>().is_ok() =>
                {
                    let y: i64 = s.trim().parse().unwrap_or_default();
                    if matches!(a, V::Int(_)) {
                        x.cmp(&y)
                    } else {
                        y.cmp(x)
                    }
                }
                _ => a.text().cmp(&b.text()),
            };
            V::Bool(match op {
                Op::Eq => ord.is_eq(),
                Op::Ne => ord.is_ne(),
                Op::Lt => ord.is_lt(),
                Op::Le => ord.is_le(),
                Op::Gt => ord.is_gt(),
                Op::Ge => ord.is_ge(),
            })
        }
        Cond::Match(a, re) => {
            let re = regex::Regex::new(re).map_err(|e| format!("bad regex: {e}"))?;
            V::Bool(re.is_match(&eval(plan, a, f)?.text()))
        }
        Cond::Contains(a, b) => {
            V::Bool(eval(plan, a, f)?.text().contains(&eval(plan, b, f)?.text()))
        }
        Cond::And(a, b) => V::Bool(truth(eval(plan, a, f)?)? && truth(eval(plan, b, f)?)?),
        Cond::Or(a, b) => V::Bool(truth(eval(plan, a, f)?)? || truth(eval(plan, b, f)?)?),
        Cond::Not(a) => V::Bool(!truth(eval(plan, a, f)?)?),
    })
}

fn truth(v: V) -> Result<bool, String> {
    match v {
        V::Bool(b) => Ok(b),
        other => Err(format!("`{}` is not true or false", other.text())),
    }
}
