//! Checking one workflow: its members, tasks (targets, dependencies, cycles, attributes,
//! templates, conditions) and, through [`super::rollout`], windows, parallelism, rollout and
//! verification. Input: the workflow's AST and the resolved inventory; output: a
//! [`program::Workflow`] and diagnostics.

use super::{credentials, values as v, CheckOptions};
use crate::ast::{self, Member, ValueKind};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::inventory::Resolver;
use crate::program::{self as p, HostSet, Inventory, TaskId, Type};
use crate::span::Span;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Attributes a task knows.
pub const TASK_ATTRS: &[&str] = &[
    "run",
    "use",
    "rollback",
    "timeout",
    "retry",
    "retry_delay",
    "estimate",
    "sudo",
    "allow_failure",
    "capture",
    "local",
    "env",
    "stdin",
];

pub struct WfChecker<'a> {
    pub inv: &'a Inventory,
    pub resolver: &'a Resolver<'a>,
    pub templates: &'a HashMap<&'a str, &'a ast::Template>,
    pub opts: &'a CheckOptions,
    pub no_inventory: bool,
    pub diags: &'a mut Vec<Diagnostic>,
    // Filled while checking.
    pub params: Vec<p::Param>,
    pub secrets: Vec<p::Secret>,
    pub tasks: Vec<p::Task>,
    /// AST of each checked task, by id.
    pub task_ast: Vec<&'a ast::Task>,
    pub task_ids: HashMap<String, TaskId>,
    /// Capture name → the task that captures it, and where.
    pub captures: HashMap<String, (TaskId, Span)>,
    /// Captures read somewhere (conditions, interpolations).
    pub captures_read: HashSet<TaskId>,
    /// Per task: hosts on which each other task is guaranteed to have run before it.
    pub reach_cache: HashMap<TaskId, HashMap<TaskId, HostSet>>,
    pub has_cycle: bool,
    /// `parallel { per_host }`, once known (1 by default).
    pub per_host: u32,
}

impl<'a> WfChecker<'a> {
    pub fn new(
        inv: &'a Inventory,
        resolver: &'a Resolver<'a>,
        templates: &'a HashMap<&'a str, &'a ast::Template>,
        opts: &'a CheckOptions,
        no_inventory: bool,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
        WfChecker {
            inv,
            resolver,
            templates,
            opts,
            no_inventory,
            diags,
            params: Vec::new(),
            secrets: Vec::new(),
            tasks: Vec::new(),
            task_ast: Vec::new(),
            task_ids: HashMap::new(),
            captures: HashMap::new(),
            captures_read: HashSet::new(),
            reach_cache: HashMap::new(),
            has_cycle: false,
            per_host: 1,
        }
    }

    pub fn resolve(&mut self, t: &ast::Target) -> HostSet {
        self.resolver.resolve(t, self.diags)
    }

    pub fn workflow(&mut self, w: &'a ast::Workflow) -> p::Workflow {
        let mut description = None;
        let mut change = None;
        let mut sudo_password = None;
        let mut seen_blocks: HashMap<&str, Span> = HashMap::new();
        let mut blocks: HashMap<&str, &ast::Block> = HashMap::new();
        let mut windows = Vec::new();
        let mut parallel = None;
        let mut rollout = None;
        let mut verifies = Vec::new();
        let mut tasks = Vec::new();
        let mut names: HashMap<String, Span> = HashMap::new();
        for m in &w.members {
            match m {
                Member::Attr(a) => {
                    credentials::check_attr(a, Some(self.diags));
                    match a.key.name.as_str() {
                        "description" => description = v::plain(&a.value, self.diags),
                        "change" => change = v::plain(&a.value, self.diags),
                        // Secrets may be declared after this line: resolved once all are known.
                        "sudo_password" => sudo_password = v::name(&a.value, self.diags),
                        k => self.diags.push(
                            Diagnostic::new(
                                Code::E0012,
                                a.key.span,
                                format!("unknown attribute `{k}` in workflow"),
                            )
                            .with_label("not an attribute here")
                            .with_help_opt(
                                did_you_mean(k, ["description", "change", "sudo_password"])
                                    .or_else(|| {
                                        Some(
                                            "workflow attributes are `description`, `change` and `sudo_password`"
                                                .to_owned(),
                                        )
                                    }),
                            ),
                        ),
                    }
                }
                Member::Param(pd) => self.param(pd, &mut names),
                Member::Secret { name, source, span } => {
                    self.secret(name, source, *span, &mut names)
                }
                Member::Block(b) => {
                    let k = b.keyword.name.as_str();
                    if let Some(first) = seen_blocks.get(k) {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0010,
                                b.keyword.span,
                                format!("a second `{k}` block"),
                            )
                            .with_label("declared again here")
                            .with_related(*first, "first declared here"),
                        );
                        continue;
                    }
                    seen_blocks.insert(k, b.keyword.span);
                    blocks.insert(k, b);
                }
                Member::Window { target, spec, span } => windows.push((target, spec, *span)),
                Member::Parallel(pa) => {
                    if let Some(first) = seen_blocks.get("parallel") {
                        self.diags.push(
                            Diagnostic::new(Code::E0010, pa.span, "a second `parallel` block")
                                .with_label("declared again here")
                                .with_related(*first, "first declared here"),
                        );
                        continue;
                    }
                    seen_blocks.insert("parallel", pa.span);
                    parallel = Some(pa);
                }
                Member::Rollout(r) => {
                    if let Some(first) = seen_blocks.get("rollout") {
                        self.diags.push(
                            Diagnostic::new(Code::E0010, r.span, "a second `rollout` block")
                                .with_label("declared again here")
                                .with_related(*first, "first declared here"),
                        );
                        continue;
                    }
                    seen_blocks.insert("rollout", r.span);
                    rollout = Some(r);
                }
                Member::Verify(vb) => verifies.push(vb),
                Member::Task(t) => tasks.push(t),
            }
        }
        let sudo_password = sudo_password.and_then(|n| self.secret_ref(n, "sudo_password"));
        self.declare_tasks(&tasks);
        self.dependencies();
        for i in 0..self.tasks.len() {
            self.task_body(TaskId(u32::try_from(i).unwrap_or(u32::MAX)));
        }
        let approve = blocks.get("approve").and_then(|b| self.approve(b));
        let notify = blocks.get("notify").and_then(|b| self.notify(b));
        let window_settings = blocks
            .get("windows")
            .map(|b| self.window_settings(b))
            .unwrap_or_default();
        let windows = self.windows(&windows, &window_settings);
        let parallel = parallel.map(|pa| self.parallel(pa)).unwrap_or_default();
        self.per_host = parallel.per_host;
        let rollout = self.rollout(rollout);
        let verifies = self.verifies(&verifies);
        self.warnings();
        p::Workflow {
            name: w.name.name.clone(),
            span: w.name.span,
            description,
            change,
            params: std::mem::take(&mut self.params),
            secrets: std::mem::take(&mut self.secrets),
            sudo_password,
            approve,
            notify,
            windows,
            window_settings,
            parallel,
            tasks: std::mem::take(&mut self.tasks),
            rollout,
            verifies,
        }
    }

    /// A reference to a declared secret (`sudo_password = NAME`), or a diagnostic.
    fn secret_ref(&mut self, n: &ast::Ident, what: &str) -> Option<String> {
        if self.secrets.iter().any(|s| s.name == n.name) {
            return Some(n.name.clone());
        }
        let names: Vec<&str> = self.secrets.iter().map(|s| s.name.as_str()).collect();
        self.diags.push(
            Diagnostic::new(
                Code::E0009,
                n.span,
                format!("unknown secret `{}` for `{what}`", n.name),
            )
            .with_label("no secret of this name")
            .with_help_opt(
                did_you_mean(&n.name, names)
                    .or_else(|| Some("declare it with `secret NAME = prompt(\"...\")`".into())),
            ),
        );
        None
    }

    fn declare_name(
        &mut self,
        what: &str,
        name: &ast::Ident,
        names: &mut HashMap<String, Span>,
    ) -> bool {
        if let Some(first) = names.get(&name.name) {
            self.diags.push(
                Diagnostic::new(
                    Code::E0010,
                    name.span,
                    format!("{what} `{}` is declared twice", name.name),
                )
                .with_label("declared again here")
                .with_related(*first, "first declared here"),
            );
            return false;
        }
        names.insert(name.name.clone(), name.span);
        true
    }

    fn param(&mut self, pd: &ast::Param, names: &mut HashMap<String, Span>) {
        if !self.declare_name("param", &pd.name, names) {
            return;
        }
        let Some(ty) = self.type_name(&pd.ty) else {
            return;
        };
        let default = pd.default.as_ref().and_then(|d| self.literal_of(d, ty));
        self.params.push(p::Param {
            name: pd.name.name.clone(),
            ty,
            default,
            span: pd.span,
        });
    }

    pub fn type_name(&mut self, t: &ast::Ident) -> Option<Type> {
        const TYPES: [(&str, Type); 5] = [
            ("string", Type::String),
            ("int", Type::Int),
            ("bool", Type::Bool),
            ("duration", Type::Duration),
            ("percent", Type::Percent),
        ];
        match TYPES.iter().find(|(n, _)| *n == t.name) {
            Some((_, ty)) => Some(*ty),
            None => {
                self.diags.push(
                    Diagnostic::new(Code::E0009, t.span, format!("unknown type `{}`", t.name))
                        .with_label("not a type")
                        .with_help_opt(
                            did_you_mean(&t.name, TYPES.iter().map(|(n, _)| *n)).or_else(|| {
                                Some(
                                    "types are `string`, `int`, `bool`, `duration`, `percent`"
                                        .to_owned(),
                                )
                            }),
                        ),
                );
                None
            }
        }
    }

    /// A literal of type `ty`, or a type error.
    pub fn literal_of(&mut self, val: &ast::Value, ty: Type) -> Option<p::Literal> {
        let lit = match (&val.kind, ty) {
            (ValueKind::Str(s), Type::String) => {
                p::Literal::String(v::plain(val, self.diags).or_else(|| s.as_plain())?)
            }
            (ValueKind::Int(n), Type::Int) => p::Literal::Int(i64::try_from(*n).ok()?),
            (ValueKind::Bool(b), Type::Bool) => p::Literal::Bool(*b),
            (ValueKind::Duration(d), Type::Duration) => p::Literal::Duration(*d),
            (ValueKind::Percent(n), Type::Percent) => {
                p::Literal::Percent(v::percent(*n, val, self.diags)?)
            }
            _ => {
                v::type_error(self.diags, val, &format!("a {}", ty.name()), None);
                return None;
            }
        };
        Some(lit)
    }

    fn secret(
        &mut self,
        name: &ast::Ident,
        source: &ast::Value,
        span: Span,
        names: &mut HashMap<String, Span>,
    ) {
        if !self.declare_name("secret", name, names) {
            return;
        }
        let help = "write `prompt(\"...\")`, `env(\"VAR\")` or `command(\"...\")`";
        let ValueKind::Call { name: f, args } = &source.kind else {
            let is_literal = matches!(source.kind, ValueKind::Str(_));
            if is_literal {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0028,
                        source.span,
                        "a secret's value written in the workflow",
                    )
                    .with_label("this literal would be the credential")
                    .with_help(help),
                );
            } else {
                v::type_error(self.diags, source, "a secret source", Some(help.to_owned()));
            }
            return;
        };
        let arg = match args.as_slice() {
            [a] => v::plain(a, self.diags),
            _ => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0013,
                        source.span,
                        format!("`{}` takes one string", f.name),
                    )
                    .with_label("expected one argument")
                    .with_help(help),
                );
                None
            }
        };
        let Some(arg) = arg else { return };
        let source = match f.name.as_str() {
            "prompt" => p::SecretSource::Prompt(arg),
            "env" => p::SecretSource::Env(arg),
            "command" => p::SecretSource::Command(arg),
            other => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0015,
                        f.span,
                        format!("unknown secret source `{other}`"),
                    )
                    .with_label("not a secret source")
                    .with_help_opt(
                        did_you_mean(other, ["prompt", "env", "command"])
                            .or_else(|| Some(help.to_owned())),
                    ),
                );
                return;
            }
        };
        self.secrets.push(p::Secret {
            name: name.name.clone(),
            source,
            span,
        });
    }

    fn declare_tasks(&mut self, tasks: &[&'a ast::Task]) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for t in tasks {
            if let Some(first) = seen.get(t.name.name.as_str()) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0010,
                        t.name.span,
                        format!("task `{}` is declared twice", t.name.name),
                    )
                    .with_label("declared again here")
                    .with_related(*first, "first declared here"),
                );
                continue;
            }
            seen.insert(&t.name.name, t.name.span);
            let id = TaskId(u32::try_from(self.tasks.len()).unwrap_or(u32::MAX));
            let hosts = self.resolve(&t.target);
            self.task_ids.insert(t.name.name.clone(), id);
            self.task_ast.push(t);
            self.tasks.push(p::Task {
                id,
                name: t.name.name.clone(),
                span: t.span,
                hosts,
                deps: Vec::new(),
                when: None,
                run: p::CommandTemplate::default(),
                rollback: None,
                timeout: p::DEFAULT_TIMEOUT,
                retry: 0,
                retry_delay: p::DEFAULT_RETRY_DELAY,
                estimate: p::DEFAULT_ESTIMATE,
                sudo: false,
                allow_failure: false,
                capture: None,
                local: false,
                env: BTreeMap::new(),
                stdin: None,
                template: None,
            });
            // Captures are declared before bodies are checked, so that any task may read them.
            if let Some(a) = t.attrs.iter().find(|a| a.key.name == "capture") {
                if let ValueKind::Name(n) = &a.value.kind {
                    if let Some((_, first)) = self.captures.get(&n.name) {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0010,
                                n.span,
                                format!("capture `{}` is declared twice", n.name),
                            )
                            .with_label("declared again here")
                            .with_related(*first, "first declared here"),
                        );
                    } else {
                        self.captures.insert(n.name.clone(), (id, n.span));
                    }
                }
            }
        }
    }

    pub fn task_names(&self) -> Vec<&str> {
        self.tasks.iter().map(|t| t.name.as_str()).collect()
    }

    /// Resolves a task name, reporting unknown ones.
    pub fn task_ref(&mut self, n: &ast::Ident) -> Option<TaskId> {
        if let Some(id) = self.task_ids.get(&n.name) {
            return Some(*id);
        }
        let help = did_you_mean(&n.name, self.task_names());
        self.diags.push(
            Diagnostic::new(Code::E0009, n.span, format!("unknown task `{}`", n.name))
                .with_label("no task of this name")
                .with_help_opt(help),
        );
        None
    }

    fn dependencies(&mut self) {
        for i in 0..self.tasks.len() {
            let t = self.task_ast[i];
            let mut deps = Vec::new();
            for d in &t.after {
                if let Some(id) = self.task_ref(d) {
                    if !deps.contains(&id) {
                        deps.push(id);
                    }
                }
            }
            self.tasks[i].deps = deps;
        }
        // Cycles: strongly connected components with more than one task, or a self-loop.
        let mut g = petgraph::graphmap::DiGraphMap::<
            u32,
            (),
            std::collections::hash_map::RandomState,
        >::default();
        for t in &self.tasks {
            g.add_node(t.id.0);
            for d in &t.deps {
                g.add_edge(t.id.0, d.0, ());
            }
        }
        for mut scc in petgraph::algo::tarjan_scc(&g) {
            let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            self.has_cycle = true;
            scc.sort_unstable();
            let first = self.task_ast[scc[0] as usize];
            let names: Vec<String> = scc
                .iter()
                .map(|i| format!("`{}`", self.tasks[*i as usize].name))
                .collect();
            let mut d = Diagnostic::new(
                Code::E0011,
                first.name.span,
                format!("dependency cycle between {}", names.join(", ")),
            )
            .with_label("this task is part of the cycle")
            .with_help("remove one of the `after` dependencies");
            for &i in &scc {
                let t = self.task_ast[i as usize];
                for dep in &t.after {
                    if self
                        .task_ids
                        .get(&dep.name)
                        .is_some_and(|id| scc.contains(&id.0))
                    {
                        d = d.with_related(
                            dep.span,
                            format!("`{}` waits for `{}`", t.name.name, dep.name),
                        );
                    }
                }
            }
            self.diags.push(d);
        }
    }

    /// Hosts of `task` on which `anc` is guaranteed to have run before it: the union over
    /// `after` paths from `task` to `anc` of the hosts every task on the path targets.
    pub fn guaranteed_before(&mut self, task: TaskId, anc: TaskId) -> HostSet {
        if !self.reach_cache.contains_key(&task) {
            let mut carried: HashMap<TaskId, HostSet> = HashMap::new();
            let mut work = vec![(task, self.tasks[task.0 as usize].hosts.clone())];
            while let Some((t, hs)) = work.pop() {
                for &d in &self.tasks[t.0 as usize].deps {
                    let new = hs.intersection(&self.tasks[d.0 as usize].hosts);
                    let cur = carried.entry(d).or_default();
                    let merged = cur.union(&new);
                    if merged.len() != cur.len() {
                        *cur = merged.clone();
                        work.push((d, merged));
                    }
                }
            }
            self.reach_cache.insert(task, carried);
        }
        self.reach_cache
            .get(&task)
            .and_then(|m| m.get(&anc))
            .cloned()
            .unwrap_or_default()
    }

    fn warnings(&mut self) {
        if self.no_inventory {
            return;
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if t.hosts.is_empty() {
                let target = &self.task_ast[i].target;
                self.diags.push(
                    Diagnostic::new(
                        Code::W0002,
                        target.span,
                        format!("task `{}` targets no host", t.name),
                    )
                    .with_label("this target resolves to no host")
                    .with_help("check the group, the `where` filter or the glob"),
                );
            }
        }
        let mut unread: Vec<(&String, &(TaskId, Span))> = self
            .captures
            .iter()
            .filter(|(_, (t, _))| !self.captures_read.contains(t))
            .collect();
        unread.sort_by_key(|(_, (_, s))| *s);
        for (name, (_, span)) in unread {
            self.diags.push(
                Diagnostic::new(
                    Code::W0003,
                    *span,
                    format!("capture `{name}` is never read"),
                )
                .with_label("kept here")
                .with_help(format!(
                    "use it in a `when` condition or as `${{{name}}}`, or remove `capture`"
                )),
            );
        }
    }
}
