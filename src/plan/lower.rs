//! Lowering: a checked [`Program`], a workflow name and `--param` values in, a [`Plan`] out
//! (hosts, per-host routes, waves, window sets, limits, hash). No IO.

use super::command::{Command, Cond, Field, Part, Site, Value};
use super::{
    Barrier, CapturePoint, CaptureRun, DeclaredWindow, Expect, Host, HostCount, InventoryDigest,
    Limits, Notify, OnExpire, Pass, Plan, Pool, RollbackScope, RolloutPolicy, Route, Secret,
    SecretSource, Step, Task, Transport, Verify, VerifyCapture, Wave, WaveHost, Windows,
    PLAN_FORMAT,
};
use crate::program::{self, HostId, HostSet, Program, TaskId, Type, Workflow};
use crate::window::{WindowSet, WindowSpec};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// Why a checked program could not become a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    /// `--workflow` names no workflow.
    #[error("no workflow named `{name}`")]
    #[diagnostic(code(sflow::plan::unknown_workflow), help("{help}"))]
    UnknownWorkflow {
        /// The name given.
        name: String,
        /// The workflows there are.
        help: String,
    },
    /// Several workflows and no `--workflow`.
    #[error("the file holds several workflows: {names}")]
    #[diagnostic(
        code(sflow::plan::which_workflow),
        help("pick one with `--workflow NAME`")
    )]
    WhichWorkflow {
        /// Their names, comma separated.
        names: String,
    },
    /// The file holds no workflow.
    #[error("no workflow to plan")]
    #[diagnostic(code(sflow::plan::no_workflow))]
    NoWorkflow,
    /// `--param` names no param of the workflow.
    #[error("unknown param `{name}`")]
    #[diagnostic(code(sflow::plan::unknown_param), help("{help}"))]
    UnknownParam {
        /// The name given.
        name: String,
        /// The params there are, or the closest one.
        help: String,
    },
    /// A param without default was not given.
    #[error("param `{name}` needs a value")]
    #[diagnostic(
        code(sflow::plan::missing_param),
        help("give it with `--param {name}=VALUE`")
    )]
    MissingParam {
        /// Its name.
        name: String,
    },
    /// A `--param` value does not fit the param's type.
    #[error("param `{name}` is a {ty}, `{value}` is not")]
    #[diagnostic(code(sflow::plan::param_type))]
    ParamType {
        /// Its name.
        name: String,
        /// Its type.
        ty: &'static str,
        /// The value given.
        value: String,
    },
    /// A `--param` argument without `=`.
    #[error("`{0}` is not `NAME=VALUE`")]
    #[diagnostic(code(sflow::plan::param_syntax))]
    ParamSyntax(String),
    /// A window spec the checker should have rejected.
    #[error("invalid window spec `{spec}`: {message}")]
    #[diagnostic(code(sflow::plan::window))]
    Window {
        /// The spec.
        spec: String,
        /// The first problem.
        message: String,
    },
    /// A plan file that is not a plan.
    #[error("not a plan file: {0}")]
    #[diagnostic(code(sflow::plan::bad_file))]
    BadPlanFile(String),
    /// A plan file of another format version.
    #[error("plan format {0} is not supported (this sflow reads format {PLAN_FORMAT})")]
    #[diagnostic(code(sflow::plan::format), help("make the plan again with this sflow"))]
    PlanFormat(u32),
    /// A plan file whose hash does not match its content.
    #[error("the plan's hash does not match its content")]
    #[diagnostic(
        code(sflow::plan::hash),
        help("the file was edited after it was made; make it again with `sflow plan -o`")
    )]
    PlanHash,
}

/// Splits `NAME=VALUE` of `--param`.
pub fn parse_param(arg: &str) -> Result<(String, String), PlanError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(PlanError::ParamSyntax(arg.to_string())),
    }
}

/// Lowers `workflow` (or the only workflow) of `program` with `params` (`--param` pairs) into
/// a plan.
pub fn lower(
    program: &Program,
    workflow: Option<&str>,
    params: &[(String, String)],
) -> Result<Plan, PlanError> {
    let wf = pick_workflow(program, workflow)?;
    let param_values = resolve_params(wf, params)?;
    let mut cx = Lowering::new(program, wf, &param_values);
    let mut plan = cx.plan()?;
    plan.inventory = InventoryDigest::of(&program.inventory);
    plan.hash = plan.compute_hash();
    Ok(plan)
}

/// The workflow named `name`, or the only one of the program.
pub fn pick_workflow<'a>(
    program: &'a Program,
    name: Option<&str>,
) -> Result<&'a Workflow, PlanError> {
    let names = || {
        program
            .workflows
            .iter()
            .map(|w| format!("`{}`", w.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (name, program.workflows.as_slice()) {
        (Some(n), _) => program
            .workflow(n)
            .ok_or_else(|| PlanError::UnknownWorkflow {
                name: n.to_string(),
                help: format!("the workflows are {}", names()),
            }),
        (None, []) => Err(PlanError::NoWorkflow),
        (None, [one]) => Ok(one),
        (None, _) => Err(PlanError::WhichWorkflow { names: names() }),
    }
}

fn resolve_params(
    wf: &Workflow,
    given: &[(String, String)],
) -> Result<BTreeMap<String, Value>, PlanError> {
    for (name, _) in given {
        if !wf.params.iter().any(|p| &p.name == name) {
            let closest = wf
                .params
                .iter()
                .min_by_key(|p| strsim::levenshtein(&p.name, name))
                .filter(|p| strsim::levenshtein(&p.name, name) <= 2);
            let help = match closest {
                Some(p) => format!("did you mean `{}`?", p.name),
                None if wf.params.is_empty() => format!("workflow `{}` has no params", wf.name),
                None => format!(
                    "the params are {}",
                    wf.params
                        .iter()
                        .map(|p| format!("`{}`", p.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(PlanError::UnknownParam {
                name: name.clone(),
                help,
            });
        }
    }
    let mut values = BTreeMap::new();
    for p in &wf.params {
        // The last `--param` of a name wins, as with most command lines.
        let value = match given.iter().rev().find(|(n, _)| n == &p.name) {
            Some((_, text)) => typed_value(p.ty, text).ok_or_else(|| PlanError::ParamType {
                name: p.name.clone(),
                ty: p.ty.name(),
                value: text.clone(),
            })?,
            None => match &p.default {
                Some(lit) => literal(lit),
                None => {
                    return Err(PlanError::MissingParam {
                        name: p.name.clone(),
                    })
                }
            },
        };
        values.insert(p.name.clone(), value);
    }
    Ok(values)
}

fn typed_value(ty: Type, text: &str) -> Option<Value> {
    let t = text.trim();
    Some(match ty {
        Type::String => Value::String(text.to_string()),
        Type::Int => Value::Int(t.parse().ok()?),
        Type::Bool => Value::Bool(t.parse().ok()?),
        Type::Duration => Value::Duration(super::duration::parse(t)?),
        Type::Percent => {
            let p: u8 = t.strip_suffix('%').unwrap_or(t).trim().parse().ok()?;
            (p <= 100).then_some(Value::Percent(p))?
        }
    })
}

fn literal(lit: &program::Literal) -> Value {
    match lit {
        program::Literal::String(s) => Value::String(s.clone()),
        program::Literal::Int(i) => Value::Int(*i),
        program::Literal::Bool(b) => Value::Bool(*b),
        program::Literal::Duration(d) => Value::Duration(*d),
        program::Literal::Percent(p) => Value::Percent(*p),
    }
}

fn count(c: program::HostCount) -> HostCount {
    match c {
        program::HostCount::Count(n) => HostCount::Count(n),
        program::HostCount::Percent(p) => HostCount::Percent(p),
    }
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct Lowering<'a> {
    program: &'a Program,
    wf: &'a Workflow,
    params: &'a BTreeMap<String, Value>,
    /// Plan host index of each inventory host the plan touches.
    host_index: HashMap<HostId, u32>,
    host_ids: Vec<HostId>,
}

impl<'a> Lowering<'a> {
    fn new(program: &'a Program, wf: &'a Workflow, params: &'a BTreeMap<String, Value>) -> Self {
        let targeted = wf.targeted_hosts();
        let mut ids: Vec<HostId> = targeted.iter().collect();
        // Jump hosts travel with the plan, since connecting needs them.
        let mut k = 0;
        while k < ids.len() {
            if let Some(jump) = program
                .inventory
                .hosts
                .get(ids[k].0 as usize)
                .and_then(|h| h.jump)
            {
                if !ids.contains(&jump) {
                    ids.push(jump);
                }
            }
            k += 1;
        }
        ids.sort_unstable();
        let host_index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, u32_of(i)))
            .collect();
        Lowering {
            program,
            wf,
            params,
            host_index,
            host_ids: ids,
        }
    }

    fn indices(&self, set: &HostSet) -> Vec<u32> {
        set.iter()
            .filter_map(|h| self.host_index.get(&h).copied())
            .collect()
    }

    fn plan(&mut self) -> Result<Plan, PlanError> {
        let wf = self.wf;
        let hosts = self.hosts();
        let tasks = wf.tasks.iter().map(|t| self.task(t)).collect();
        let (sets, host_sets) = self.window_sets()?;
        let mut routes: Vec<Route> = Vec::new();
        let mut route_ids: HashMap<Route, u32> = HashMap::new();
        let mut host_route: HashMap<HostId, u32> = HashMap::new();
        // Whether a dependency is a barrier depends on the two tasks only, not on the host.
        let barrier: Vec<Vec<TaskId>> = wf
            .tasks
            .iter()
            .map(|t| {
                t.deps
                    .iter()
                    .copied()
                    .filter(|d| !wf.task(*d).hosts.iter().any(|h| t.hosts.contains(h)))
                    .collect()
            })
            .collect();
        for h in wf.targeted_hosts().iter() {
            let route = self.route(h, &barrier);
            let next = u32_of(routes.len());
            let id = *route_ids.entry(route.clone()).or_insert_with(|| {
                routes.push(route);
                next
            });
            host_route.insert(h, id);
        }
        let mut waves = Vec::new();
        for wave in &wf.rollout.waves {
            let members: Vec<WaveHost> = wave
                .hosts
                .iter()
                .filter_map(|h| {
                    Some(WaveHost {
                        host: *self.host_index.get(&h)?,
                        route: *host_route.get(&h)?,
                        window: *host_sets.get(&h)?,
                    })
                })
                .collect();
            if members.is_empty() {
                continue;
            }
            let barriers = barriers_of(&members, &routes);
            waves.push(Wave {
                name: wave.name.clone(),
                hosts: members,
                barriers,
            });
        }
        let declared = wf
            .windows
            .iter()
            .map(|w| {
                Ok(DeclaredWindow {
                    target: self.target_label(&w.hosts),
                    spec: w.spec.clone(),
                    hosts: self.indices(&w.hosts),
                })
            })
            .collect::<Result<Vec<_>, PlanError>>()?;
        Ok(Plan {
            format: PLAN_FORMAT,
            hash: String::new(),
            workflow: wf.name.clone(),
            description: wf.description.clone(),
            change: wf.change.clone(),
            params: self.params.clone(),
            secrets: wf
                .secrets
                .iter()
                .map(|s| Secret {
                    name: s.name.clone(),
                    source: match &s.source {
                        program::SecretSource::Prompt(p) => SecretSource::Prompt(p.clone()),
                        program::SecretSource::Env(v) => SecretSource::Env(v.clone()),
                        program::SecretSource::Command(c) => SecretSource::Command(c.clone()),
                    },
                })
                .collect(),
            sudo_password: wf.sudo_password.clone(),
            approve: wf.approve.as_ref().map(|a| self.command(&a.command)),
            notify: wf.notify.as_ref().map(|n| Notify {
                on: n
                    .on
                    .iter()
                    .filter_map(|e| {
                        program::NotifyEvent::ALL
                            .iter()
                            .find(|(_, v)| v == e)
                            .map(|(name, _)| (*name).to_string())
                    })
                    .collect(),
                command: self.command(&n.command),
                timeout_ms: n
                    .timeout
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }),
            hosts,
            tasks,
            routes,
            waves,
            windows: Windows {
                cutoff: wf.window_settings.cutoff,
                on_expire: match wf.window_settings.on_expire {
                    program::OnExpire::Finish => OnExpire::Finish,
                    program::OnExpire::Abort => OnExpire::Abort,
                    program::OnExpire::Rollback => OnExpire::Rollback,
                },
                declared,
                sets,
            },
            limits: self.limits(),
            rollout: RolloutPolicy {
                verify: wf.rollout.verify.iter().map(|t| t.0).collect(),
                max_failures: count(wf.rollout.max_failures),
                failure_budget: wf.rollout.failure_budget.map(count),
                auto_rollback: wf.rollout.auto_rollback,
                rollback_scope: match wf.rollout.rollback_scope {
                    program::RollbackScope::Wave => RollbackScope::Wave,
                    program::RollbackScope::All => RollbackScope::All,
                },
                bake: wf.rollout.bake,
            },
            verifies: wf.verifies.iter().map(|v| self.verify(v)).collect(),
            inventory: InventoryDigest::default(),
        })
    }

    fn hosts(&self) -> Vec<Host> {
        self.host_ids
            .iter()
            .filter_map(|id| self.program.inventory.hosts.get(id.0 as usize))
            .map(|h| Host {
                name: h.name.clone(),
                address: h.address.clone(),
                port: h.port,
                user: h.user.clone(),
                jump: h.jump.and_then(|j| self.host_index.get(&j).copied()),
                transport: match h.transport {
                    program::Transport::Ssh => Transport::Ssh,
                    program::Transport::Local => Transport::Local,
                },
                attrs: h.attrs.clone(),
            })
            .collect()
    }

    fn target_label(&self, set: &HostSet) -> String {
        target_label(&self.program.inventory, set)
    }

    fn task(&self, t: &program::Task) -> Task {
        Task {
            name: t.name.clone(),
            run: self.command(&t.run),
            rollback: t.rollback.as_ref().map(|c| self.command(c)),
            when: t.when.as_ref().map(|e| self.cond(e)),
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
                .map(|(k, v)| (k.clone(), self.command(v)))
                .collect(),
            stdin: t.stdin.clone(),
        }
    }

    fn command(&self, c: &program::CommandTemplate) -> Command {
        let mut parts: Vec<Part> = Vec::new();
        let push_text = |parts: &mut Vec<Part>, text: &str| {
            if let Some(Part::Text(prev)) = parts.last_mut() {
                prev.push_str(text);
            } else {
                parts.push(Part::Text(text.to_string()));
            }
        };
        for part in &c.parts {
            match part {
                program::TemplatePart::Text(t) => push_text(&mut parts, t),
                program::TemplatePart::Interp { value, raw, .. } => match value {
                    program::ValueRef::Param(name) => {
                        let text = self
                            .params
                            .get(name)
                            .map(Value::to_text)
                            .unwrap_or_default();
                        let text = if *raw {
                            text
                        } else {
                            super::shell_quote(&text)
                        };
                        push_text(&mut parts, &text);
                    }
                    other => parts.push(Part::Site {
                        site: site(other),
                        raw: *raw,
                    }),
                },
            }
        }
        Command { parts }
    }

    fn cond(&self, e: &program::Expr) -> Cond {
        use program::ExprKind as K;
        let b = |e: &program::Expr| Box::new(self.cond(e));
        match &e.kind {
            K::Literal(l) => Cond::Lit(literal(l)),
            K::Value(program::ValueRef::Param(name)) => Cond::Lit(
                self.params
                    .get(name)
                    .cloned()
                    .unwrap_or(Value::String(String::new())),
            ),
            K::Value(v) => Cond::Site(site(v)),
            K::ToInt(a) => Cond::ToInt(b(a)),
            K::Compare(op, l, r) => Cond::Cmp((*op).into(), b(l), b(r)),
            K::Match(a, re) => Cond::Match(b(a), re.clone()),
            K::Contains(l, r) => Cond::Contains(b(l), b(r)),
            K::And(l, r) => Cond::And(b(l), b(r)),
            K::Or(l, r) => Cond::Or(b(l), b(r)),
            K::Not(a) => Cond::Not(b(a)),
        }
    }

    /// The task DAG of host `h`: its tasks in dependency order, then the order written.
    /// `barrier[t]` lists the dependencies of task `t` that target none of its hosts.
    fn route(&self, h: HostId, barrier: &[Vec<TaskId>]) -> Route {
        let wf = self.wf;
        let mine: Vec<TaskId> = wf
            .tasks
            .iter()
            .filter(|t| t.hosts.contains(h))
            .map(|t| t.id)
            .collect();
        let pos: HashMap<TaskId, usize> = mine.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let mut local_deps: Vec<Vec<usize>> = vec![Vec::new(); mine.len()];
        let mut barriers: Vec<Vec<u32>> = vec![Vec::new(); mine.len()];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); mine.len()];
        for (i, t) in mine.iter().enumerate() {
            let task = wf.task(*t);
            for d in &task.deps {
                if let Some(&j) = pos.get(d) {
                    local_deps[i].push(j);
                    dependents[j].push(i);
                } else if barrier[t.0 as usize].contains(d) {
                    barriers[i].push(d.0);
                }
                // Otherwise the dependency runs on other hosts of this task, not on `h`: it
                // does not order anything here.
            }
        }
        // Kahn's algorithm, smallest written position first among the ready tasks. The
        // checker rejects cycles; a task left over anyway keeps its written order at the end.
        let mut indegree: Vec<usize> = local_deps.iter().map(Vec::len).collect();
        let mut ready: BinaryHeap<Reverse<usize>> = (0..mine.len())
            .filter(|i| indegree[*i] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(mine.len());
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &k in &dependents[i] {
                indegree[k] -= 1;
                if indegree[k] == 0 {
                    ready.push(Reverse(k));
                }
            }
        }
        for i in 0..mine.len() {
            if !order.contains(&i) {
                order.push(i);
            }
        }
        let step_of: HashMap<usize, u32> = order
            .iter()
            .enumerate()
            .map(|(s, i)| (*i, u32_of(s)))
            .collect();
        let steps: Vec<Step> = order
            .iter()
            .map(|&i| {
                let mut after: Vec<u32> = local_deps[i].iter().map(|j| step_of[j]).collect();
                after.sort_unstable();
                after.dedup();
                Step {
                    task: mine[i].0,
                    after,
                    barriers: barriers[i].clone(),
                }
            })
            .collect();
        let step_for =
            |t: TaskId| -> Option<u32> { pos.get(&t).and_then(|i| step_of.get(i)).copied() };
        let mut captures = Vec::new();
        for (v, verify) in wf.verifies.iter().enumerate() {
            if !verify.hosts.contains(h) {
                continue;
            }
            for (pass, point) in [(Pass::Before, verify.before), (Pass::After, verify.after)] {
                let at = match point {
                    program::CapturePoint::Start => CapturePoint::Start,
                    program::CapturePoint::End => CapturePoint::End,
                    program::CapturePoint::Before(t) => {
                        step_for(t).map_or(CapturePoint::Start, CapturePoint::BeforeStep)
                    }
                    program::CapturePoint::After(t) => {
                        step_for(t).map_or(CapturePoint::End, CapturePoint::AfterStep)
                    }
                };
                captures.push(CaptureRun {
                    verify: u32_of(v),
                    pass,
                    at,
                });
            }
        }
        Route { steps, captures }
    }

    /// The distinct window sets, and each targeted host's set.
    #[allow(clippy::type_complexity)]
    fn window_sets(&self) -> Result<(Vec<WindowSet>, HashMap<HostId, u32>), PlanError> {
        let wf = self.wf;
        let specs: Vec<&WindowSpec> = wf.windows.iter().map(|w| &w.spec).collect();
        let mut sets = Vec::new();
        let mut by_key: HashMap<Vec<usize>, u32> = HashMap::new();
        let mut of_host = HashMap::new();
        for h in wf.targeted_hosts().iter() {
            let key: Vec<usize> = wf
                .windows
                .iter()
                .enumerate()
                .filter(|(_, w)| w.hosts.contains(h))
                .map(|(i, _)| i)
                .collect();
            let next = u32_of(sets.len());
            let id = *by_key.entry(key.clone()).or_insert_with(|| {
                sets.push(WindowSet::new(
                    key.iter().map(|i| specs[*i].clone()).collect(),
                    wf.window_settings.blackout.clone(),
                ));
                next
            });
            of_host.insert(h, id);
        }
        Ok((sets, of_host))
    }

    fn limits(&self) -> Limits {
        let wf = self.wf;
        let inv = &self.program.inventory;
        let mut pools = Vec::new();
        let mut push = |name: String, limit: u32, hosts: Vec<u32>| {
            if !hosts.is_empty() {
                pools.push(Pool { name, limit, hosts });
            }
        };
        match &wf.parallel.per_group {
            program::PerGroup::None => {}
            program::PerGroup::ByGroup(map) => {
                for (group, limit) in map {
                    if let Some(g) = inv.groups.get(group) {
                        push(format!("per_group {group}"), *limit, self.indices(&g.hosts));
                    }
                }
            }
            program::PerGroup::Uniform(limit) => {
                // Each host counts in its smallest group (ties: first by name), so that a
                // catch-all group such as `fleet` does not throttle everything to one group's
                // limit.
                let mut members: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
                for &id in &self.host_ids {
                    let smallest = inv
                        .groups
                        .values()
                        .filter(|g| g.hosts.contains(id))
                        .min_by_key(|g| (g.hosts.len(), g.name.as_str()));
                    if let (Some(g), Some(&ix)) = (smallest, self.host_index.get(&id)) {
                        members.entry(g.name.as_str()).or_default().push(ix);
                    }
                }
                for (group, hosts) in members {
                    push(format!("per_group {group}"), *limit, hosts);
                }
            }
        }
        for (attr, limit) in &wf.parallel.per_attr {
            let mut by_value: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
            for &id in &self.host_ids {
                if let (Some(v), Some(&ix)) = (
                    inv.hosts.get(id.0 as usize).and_then(|h| h.attrs.get(attr)),
                    self.host_index.get(&id),
                ) {
                    by_value.entry(v.as_str()).or_default().push(ix);
                }
            }
            for (value, hosts) in by_value {
                push(format!("per {attr} = {value}"), *limit, hosts);
            }
        }
        Limits {
            max_servers: wf.parallel.max_servers,
            per_host: wf.parallel.per_host.max(1),
            stagger: wf.parallel.stagger,
            adaptive: wf.parallel.adaptive,
            pools,
        }
    }

    fn verify(&self, v: &program::Verify) -> Verify {
        Verify {
            name: v.name.clone(),
            captures: v
                .captures
                .iter()
                .map(|c| VerifyCapture {
                    name: c.name.clone(),
                    command: self.command(&c.command),
                })
                .collect(),
            expects: v
                .expects
                .iter()
                .map(|e| Expect {
                    capture: u32_of(e.capture),
                    matcher: e.matcher.clone(),
                    change: program::Change::ALL
                        .iter()
                        .find(|(_, c)| *c == e.change)
                        .map_or("any", |(n, _)| n)
                        .to_string(),
                    equals: e.equals.clone(),
                    contains: e.contains.clone(),
                    matches: e.matches.clone(),
                    versions: e.versions.clone(),
                })
                .collect(),
            on_mismatch: match v.on_mismatch {
                program::OnMismatch::Fail => "fail",
                program::OnMismatch::Warn => "warn",
                program::OnMismatch::Rollback => "rollback",
            }
            .to_string(),
            across: v.across.as_ref().map(|a| self.indices(a)),
        }
    }
}

/// A name for a set of hosts: the smallest group with exactly these hosts, else the host list
/// collapsed (`web[01-03].example.com`).
pub fn target_label(inventory: &program::Inventory, set: &HostSet) -> String {
    inventory
        .groups
        .values()
        .filter(|g| g.hosts == *set)
        .min_by_key(|g| g.hosts.len())
        .map_or_else(
            || super::hostlist::collapse(&inventory.names(set)),
            |g| g.name.clone(),
        )
}

fn site(v: &program::ValueRef) -> Site {
    match v {
        program::ValueRef::Param(name) => Site::HostAttr(format!("param.{name}")),
        program::ValueRef::HostAttr(a) => Site::HostAttr(a.clone()),
        program::ValueRef::HostName => Site::HostName,
        program::ValueRef::Capture(t) => Site::Capture(t.0),
        program::ValueRef::TaskField(t, f) => Site::Task(
            t.0,
            match f {
                program::TaskField::Ok => Field::Ok,
                program::TaskField::Failed => Field::Failed,
                program::TaskField::Skipped => Field::Skipped,
                program::TaskField::Exit => Field::Exit,
                program::TaskField::Stdout => Field::Stdout,
                program::TaskField::Stderr => Field::Stderr,
            },
        ),
    }
}

/// For each barrier task of the wave's routes, the wave's hosts whose route runs it.
fn barriers_of(members: &[WaveHost], routes: &[Route]) -> Vec<Barrier> {
    let mut wanted: Vec<u32> = members
        .iter()
        .flat_map(|m| routes[m.route as usize].steps.iter())
        .flat_map(|s| s.barriers.iter().copied())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    wanted
        .into_iter()
        .map(|task| Barrier {
            task,
            hosts: members
                .iter()
                .filter(|m| {
                    routes[m.route as usize]
                        .steps
                        .iter()
                        .any(|s| s.task == task)
                })
                .map(|m| m.host)
                .collect(),
        })
        .collect()
}
