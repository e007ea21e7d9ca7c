//! Checking the fleet-level parts of a workflow: `approve`, `notify`, windows (specs parsed by
//! [`crate::window`], coverage, tasks that can never fit), `parallel`, `rollout` (waves,
//! sizes, failure limits) and `verify` blocks. Input: their AST and the checked tasks;
//! output: the matching [`crate::program`] values.

use super::expr::Ctx;
use super::workflow::WfChecker;
use super::{credentials, values as v};
use crate::ast::{self, ValueKind};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::program::{self as p, HostCount, HostId, HostSet};
use crate::span::Span;
use crate::window::{WindowSet, WindowSpec};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// How far ahead window occurrences are searched when fitting tasks (a year and a bit, so
/// that every weekday and every daylight-saving rule is seen).
const FIT_HORIZON_DAYS: i64 = 400;

impl WfChecker<'_> {
    pub fn approve(&mut self, b: &ast::Block) -> Option<p::Approve> {
        b.attrs
            .iter()
            .for_each(|a| credentials::check_attr(a, Some(self.diags)));
        let attrs = v::by_key(&b.attrs, &["command"], "approve", self.diags);
        let Some(a) = attrs.get("command") else {
            self.missing(b, "command");
            return None;
        };
        let s = v::string(&a.value, self.diags)?;
        let command = self.command(s, Ctx::Controller);
        Some(p::Approve {
            command,
            span: b.span,
        })
    }

    fn missing(&mut self, b: &ast::Block, key: &str) {
        self.diags.push(
            Diagnostic::new(
                Code::E0014,
                b.keyword.span,
                format!("`{}` needs `{key}`", b.keyword.name),
            )
            .with_label(format!("no `{key}` in this block"))
            .with_help(format!("add `{key} = \"...\"`")),
        );
    }

    pub fn notify(&mut self, b: &ast::Block) -> Option<p::Notify> {
        b.attrs
            .iter()
            .for_each(|a| credentials::check_attr(a, Some(self.diags)));
        let attrs = v::by_key(
            &b.attrs,
            &["on", "command", "timeout"],
            "notify",
            self.diags,
        );
        let timeout = attrs
            .get("timeout")
            .and_then(|a| v::duration(&a.value, self.diags));
        let mut on = vec![
            p::NotifyEvent::Failed,
            p::NotifyEvent::Rollback,
            p::NotifyEvent::Done,
        ];
        if let Some(a) = attrs.get("on") {
            match &a.value.kind {
                ValueKind::List(items) => {
                    on = items
                        .iter()
                        .filter_map(|i| v::choice(i, &p::NotifyEvent::ALL, self.diags))
                        .collect();
                }
                _ => v::type_error(
                    self.diags,
                    &a.value,
                    "a list of events",
                    Some("write `on = [\"failed\", \"done\"]`".into()),
                ),
            }
        }
        let Some(a) = attrs.get("command") else {
            self.missing(b, "command");
            return None;
        };
        let s = v::string(&a.value, self.diags)?;
        let command = self.command(s, Ctx::Controller);
        Some(p::Notify {
            on,
            command,
            timeout,
            span: b.span,
        })
    }

    pub fn window_settings(&mut self, b: &ast::Block) -> p::WindowSettings {
        let attrs = v::by_key(
            &b.attrs,
            &["cutoff", "on_expire", "blackout"],
            "windows",
            self.diags,
        );
        let mut s = p::WindowSettings::default();
        if let Some(d) = attrs
            .get("cutoff")
            .and_then(|a| v::duration(&a.value, self.diags))
        {
            s.cutoff = d;
        }
        if let Some(a) = attrs.get("on_expire") {
            const OPTS: [(&str, p::OnExpire); 3] = [
                ("finish", p::OnExpire::Finish),
                ("abort", p::OnExpire::Abort),
                ("rollback", p::OnExpire::Rollback),
            ];
            if let Some(o) = v::choice(&a.value, &OPTS, self.diags) {
                s.on_expire = o;
            }
        }
        if let Some(a) = attrs.get("blackout") {
            let items: Vec<&ast::Value> = match &a.value.kind {
                ValueKind::List(items) => items.iter().collect(),
                _ => vec![&a.value],
            };
            for i in items {
                let Some(text) = v::plain(i, self.diags) else {
                    continue;
                };
                match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                    Ok(d) => s.blackout.push(d),
                    Err(_) => self.diags.push(
                        Diagnostic::new(Code::E0015, i.span, format!("invalid date \"{text}\""))
                            .with_label("expected a date YYYY-MM-DD")
                            .with_help("write dates as \"2026-12-24\""),
                    ),
                }
            }
        }
        s
    }

    pub fn windows(
        &mut self,
        decls: &[(&ast::Target, &ast::StrLit, Span)],
        settings: &p::WindowSettings,
    ) -> Vec<p::Window> {
        let mut out = Vec::new();
        // Every declared window counts for coverage, even one whose spec is wrong, so that a
        // typo in a spec does not also report every host as uncovered.
        let mut covered = HostSet::new();
        for (target, spec, span) in decls {
            let hosts = self.resolve(target);
            covered = covered.union(&hosts);
            let Some(text) = spec.as_plain() else {
                self.diags.push(
                    Diagnostic::new(Code::E0016, spec.span, "a window spec cannot interpolate")
                        .with_label("must be a constant"),
                );
                continue;
            };
            match WindowSpec::parse(&text) {
                Ok(parsed) => out.push(p::Window {
                    hosts,
                    spec: parsed,
                    spec_span: spec.span,
                    span: *span,
                }),
                Err(errors) => {
                    for e in errors {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0016,
                                spec.span_of(e.span.clone()),
                                format!("invalid window spec: {}", e.message),
                            )
                            .with_label(e.message.clone())
                            .with_help_opt(e.help.clone()),
                        );
                    }
                }
            }
        }
        if decls.is_empty() || self.no_inventory {
            return out;
        }
        // Coverage: one error per uncovered host, at the first task that targets it.
        let mut reported = HostSet::new();
        for i in 0..self.tasks.len() {
            let missing = self.tasks[i]
                .hosts
                .difference(&covered)
                .difference(&reported);
            for h in missing.iter() {
                let t = self.task_ast[i];
                self.diags.push(
                    Diagnostic::new(
                        Code::E0017,
                        t.target.span,
                        format!(
                            "host `{}` is not covered by any window",
                            self.inv.host(h).name
                        ),
                    )
                    .with_label(format!(
                        "task `{}` targets `{}`",
                        t.name.name,
                        self.inv.host(h).name
                    ))
                    .with_related(decls[0].2, "windows are declared here")
                    .with_help(format!(
                        "add a window for `{}`, or `window {} = \"always\"`",
                        self.inv.host(h).name,
                        self.inv.host(h).name
                    )),
                );
            }
            reported = reported.union(&missing);
        }
        self.fit(&out, settings);
        out
    }

    /// E0027: a task whose estimate (or the cutoff, if longer) exceeds every occurrence of
    /// the windows of one of its hosts.
    fn fit(&mut self, windows: &[p::Window], settings: &p::WindowSettings) {
        let from = self.opts.now;
        let until = from + chrono::TimeDelta::days(FIT_HORIZON_DAYS);
        let mut longest: HashMap<Vec<usize>, Option<Duration>> = HashMap::new();
        // The set of windows covering each host, computed once (hosts × windows), so that the
        // per-task loop below is linear in the task's hosts.
        let mut combos: Vec<Vec<usize>> = Vec::new();
        let mut combo_ids: HashMap<Vec<usize>, usize> = HashMap::new();
        let mut host_combo: Vec<usize> = vec![usize::MAX; self.inv.hosts.len()];
        let mut per_host: Vec<Vec<usize>> = vec![Vec::new(); self.inv.hosts.len()];
        for (j, w) in windows.iter().enumerate() {
            for h in w.hosts.iter() {
                if let Some(v) = per_host.get_mut(h.0 as usize) {
                    v.push(j);
                }
            }
        }
        for (h, combo) in per_host.into_iter().enumerate() {
            let next = combos.len();
            let id = *combo_ids.entry(combo.clone()).or_insert(next);
            if id == next {
                combos.push(combo);
            }
            host_combo[h] = id;
        }
        for i in 0..self.tasks.len() {
            let need = self.tasks[i].estimate.max(settings.cutoff);
            let mut by_combo: BTreeMap<usize, HostId> = BTreeMap::new();
            for h in self.tasks[i].hosts.iter() {
                if let Some(&c) = host_combo.get(h.0 as usize) {
                    by_combo.entry(c).or_insert(h);
                }
            }
            for (c, h) in by_combo {
                let combo = combos[c].clone();
                if combo.is_empty() {
                    continue;
                }
                let l = *longest.entry(combo.clone()).or_insert_with(|| {
                    let set = WindowSet::new(
                        combo.iter().map(|&j| windows[j].spec.clone()).collect(),
                        settings.blackout.clone(),
                    );
                    set.longest_occurrence(from, until)
                        .and_then(|d| d.to_std().ok())
                });
                let Some(l) = l else { continue };
                if need <= l {
                    continue;
                }
                let t = self.task_ast[i];
                let at = t
                    .attrs
                    .iter()
                    .find(|a| a.key.name == "estimate")
                    .map_or(t.name.span, |a| a.value.span);
                let host = self.inv.host(h).name.clone();
                let mut d = Diagnostic::new(
                    Code::E0027,
                    at,
                    format!(
                        "task `{}` needs {} but the window of `{host}` is open at most {}",
                        t.name.name,
                        human(need),
                        human(l)
                    ),
                )
                .with_label("longer than every window occurrence")
                .with_help("lower the `estimate` or `cutoff`, or widen the window");
                for &j in &combo {
                    d = d.with_related(windows[j].spec_span, format!("a window of `{host}`"));
                }
                self.diags.push(d);
                break;
            }
        }
    }

    pub fn parallel(&mut self, pa: &ast::Parallel) -> p::Parallel {
        let attrs = v::by_key(
            &pa.attrs,
            &[
                "max_servers",
                "per_group",
                "per_host",
                "stagger",
                "adaptive",
            ],
            "parallel",
            self.diags,
        );
        let mut out = p::Parallel {
            max_servers: attrs
                .get("max_servers")
                .and_then(|a| v::positive(&a.value, self.diags)),
            ..p::Parallel::default()
        };
        if let Some(a) = attrs.get("per_group") {
            match &a.value.kind {
                ValueKind::Map(entries) => {
                    let mut m = BTreeMap::new();
                    for e in entries {
                        if !self.inv.groups.contains_key(&e.key.name) && !self.no_inventory {
                            let help = did_you_mean(
                                &e.key.name,
                                self.inv.groups.keys().map(String::as_str),
                            );
                            self.diags.push(
                                Diagnostic::new(
                                    Code::E0009,
                                    e.key.span,
                                    format!("unknown group `{}`", e.key.name),
                                )
                                .with_label("no group of this name")
                                .with_help_opt(help),
                            );
                            continue;
                        }
                        if let Some(n) = v::positive(&e.value, self.diags) {
                            self.limit_warning(n, &e.value, out.max_servers, &attrs);
                            m.insert(e.key.name.clone(), n);
                        }
                    }
                    out.per_group = p::PerGroup::ByGroup(m);
                }
                _ => {
                    if let Some(n) = v::positive(&a.value, self.diags) {
                        self.limit_warning(n, &a.value, out.max_servers, &attrs);
                        out.per_group = p::PerGroup::Uniform(n);
                    }
                }
            }
        }
        if let Some(n) = attrs
            .get("per_host")
            .and_then(|a| v::positive(&a.value, self.diags))
        {
            out.per_host = n;
        }
        if let Some(d) = attrs
            .get("stagger")
            .and_then(|a| v::duration(&a.value, self.diags))
        {
            out.stagger = d;
        }
        if let Some(b) = attrs
            .get("adaptive")
            .and_then(|a| v::boolean(&a.value, self.diags))
        {
            out.adaptive = b;
        }
        for per in &pa.per {
            if let Some(n) = v::positive(&per.limit, self.diags) {
                self.limit_warning(n, &per.limit, out.max_servers, &attrs);
                out.per_attr.push((per.attr.name.clone(), n));
            }
        }
        out
    }

    fn limit_warning(
        &mut self,
        n: u32,
        at: &ast::Value,
        max: Option<u32>,
        attrs: &BTreeMap<&str, &ast::Attr>,
    ) {
        let Some(max) = max else { return };
        if n <= max {
            return;
        }
        let mut d = Diagnostic::new(
            Code::W0001,
            at.span,
            format!("limit {n} is above `max_servers` ({max})"),
        )
        .with_label("can never be reached")
        .with_help(format!("lower it to {max} or less"));
        if let Some(m) = attrs.get("max_servers") {
            d = d.with_related(m.value.span, "fleet-wide limit set here");
        }
        self.diags.push(d);
    }

    pub fn rollout(&mut self, r: Option<&ast::Rollout>) -> p::Rollout {
        let targeted = self
            .tasks
            .iter()
            .fold(HostSet::new(), |acc, t| acc.union(&t.hosts));
        let mut out = p::Rollout {
            waves: vec![p::Wave {
                name: "all".into(),
                hosts: targeted.clone(),
                span: None,
            }],
            form: p::WaveForm::Implicit,
            verify: Vec::new(),
            max_failures: HostCount::Count(0),
            failure_budget: None,
            auto_rollback: false,
            rollback_scope: p::RollbackScope::Wave,
            bake: Duration::ZERO,
            span: None,
        };
        let Some(r) = r else { return out };
        out.span = Some(r.span);
        let attrs = v::by_key(
            &r.attrs,
            &[
                "verify",
                "max_failures",
                "max_failures_total",
                "auto_rollback",
                "rollback_scope",
                "bake",
            ],
            "rollout",
            self.diags,
        );
        if let Some(a) = attrs.get("verify") {
            for n in v::names(&a.value, self.diags) {
                if let Some(id) = self.task_ref(n) {
                    out.verify.push(id);
                }
            }
        }
        if let Some(c) = attrs
            .get("max_failures")
            .and_then(|a| v::host_count(&a.value, self.diags))
        {
            out.max_failures = c;
        }
        out.failure_budget = attrs
            .get("max_failures_total")
            .and_then(|a| v::host_count(&a.value, self.diags));
        if let Some(b) = attrs
            .get("auto_rollback")
            .and_then(|a| v::boolean(&a.value, self.diags))
        {
            out.auto_rollback = b;
        }
        if let Some(a) = attrs.get("rollback_scope") {
            const OPTS: [(&str, p::RollbackScope); 2] = [
                ("wave", p::RollbackScope::Wave),
                ("all", p::RollbackScope::All),
            ];
            if let Some(s) = v::choice(&a.value, &OPTS, self.diags) {
                out.rollback_scope = s;
            }
        }
        if let Some(d) = attrs
            .get("bake")
            .and_then(|a| v::duration(&a.value, self.diags))
        {
            out.bake = d;
        }
        if !r.waves.is_empty() && r.sizes.is_some() {
            let s = r.sizes.as_ref().map_or(r.span, |s| s.span);
            self.diags.push(
                Diagnostic::new(
                    Code::E0015,
                    s,
                    "`waves = [...]` and `wave NAME = ...` cannot be mixed",
                )
                .with_label("sizes given here")
                .with_related(r.waves[0].span, "named waves given here"),
            );
            return out;
        }
        if let Some(sizes) = &r.sizes {
            self.sized_waves(sizes, &targeted, &mut out);
        } else if !r.waves.is_empty() {
            self.named_waves(r, &targeted, &mut out);
        }
        out
    }

    fn named_waves(&mut self, r: &ast::Rollout, targeted: &HostSet, out: &mut p::Rollout) {
        let mut waves = Vec::new();
        let mut names: HashMap<&str, Span> = HashMap::new();
        let mut owner: HashMap<HostId, usize> = HashMap::new();
        for w in &r.waves {
            if let Some(first) = names.get(w.name.name.as_str()) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0010,
                        w.name.span,
                        format!("wave `{}` is declared twice", w.name.name),
                    )
                    .with_label("declared again here")
                    .with_related(*first, "first declared here"),
                );
                continue;
            }
            names.insert(&w.name.name, w.name.span);
            let all = self.resolve(&w.target);
            let hosts = all.intersection(targeted);
            if hosts.is_empty() && !self.no_inventory {
                let why = if all.is_empty() {
                    "its target holds no host"
                } else {
                    "no task targets its hosts"
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::E0020,
                        w.target.span,
                        format!("wave `{}` is empty", w.name.name),
                    )
                    .with_label(why)
                    .with_help("remove the wave or fix its target"),
                );
            }
            for h in hosts.iter() {
                if let Some(&prev) = owner.get(&h) {
                    let pw: &ast::Wave = &r.waves[prev];
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0019,
                            w.target.span,
                            format!(
                                "host `{}` is in waves `{}` and `{}`",
                                self.inv.host(h).name,
                                pw.name.name,
                                w.name.name
                            ),
                        )
                        .with_label(format!("`{}` again here", self.inv.host(h).name))
                        .with_related(
                            pw.target.span,
                            format!("already in wave `{}`", pw.name.name),
                        )
                        .with_help(format!(
                            "remove it from one wave, e.g. `{} except {}`",
                            w.target_text(),
                            self.inv.host(h).name
                        )),
                    );
                } else {
                    let idx = r.waves.iter().position(|x| std::ptr::eq(x, w)).unwrap_or(0);
                    owner.insert(h, idx);
                }
            }
            let own = HostSet::from_ids(
                hosts
                    .iter()
                    .filter(|h| r.waves.get(owner[h]).is_some_and(|x| std::ptr::eq(x, w))),
            );
            waves.push(p::Wave {
                name: w.name.name.clone(),
                hosts: own,
                span: Some(w.span),
            });
        }
        self.unwaved(targeted, &owner, r.span);
        out.waves = waves;
        out.form = p::WaveForm::Explicit;
    }

    /// E0018 for targeted hosts in no wave (one per host, at the first task targeting it).
    fn unwaved(&mut self, targeted: &HostSet, owner: &HashMap<HostId, usize>, rollout: Span) {
        if self.no_inventory {
            return;
        }
        for h in targeted.iter().filter(|h| !owner.contains_key(h)) {
            let Some(i) = self.tasks.iter().position(|t| t.hosts.contains(h)) else {
                continue;
            };
            let t = self.task_ast[i];
            self.diags.push(
                Diagnostic::new(
                    Code::E0018,
                    t.target.span,
                    format!("host `{}` is in no wave", self.inv.host(h).name),
                )
                .with_label(format!(
                    "task `{}` targets `{}`",
                    t.name.name,
                    self.inv.host(h).name
                ))
                .with_related(rollout, "the rollout's waves do not include it")
                .with_help("add the host to a wave"),
            );
        }
    }

    fn sized_waves(&mut self, s: &ast::WaveSizes, targeted: &HostSet, out: &mut p::Rollout) {
        let over = self.resolve(&s.of).intersection(targeted);
        let mut sizes = Vec::new();
        let (mut last_count, mut last_pct) = (0u32, 0u8);
        for val in &s.sizes {
            let Some(c) = v::host_count(val, self.diags) else {
                continue;
            };
            let bad = match c {
                HostCount::Count(0) | HostCount::Percent(0) => {
                    Some("a wave size must be at least 1")
                }
                HostCount::Count(n) if n <= last_count => {
                    Some("sizes are cumulative and must grow")
                }
                HostCount::Percent(n) if n <= last_pct => {
                    Some("sizes are cumulative and must grow")
                }
                _ => None,
            };
            if let Some(msg) = bad {
                self.diags.push(
                    Diagnostic::new(Code::E0021, val.span, "invalid wave size")
                        .with_label(msg)
                        .with_help("write increasing cumulative sizes ending with 100%, e.g. [1, 10%, 50%, 100%]"),
                );
                continue;
            }
            match c {
                HostCount::Count(n) => last_count = n,
                HostCount::Percent(n) => last_pct = n,
            }
            sizes.push(c);
        }
        if let Some(last) = sizes.last() {
            let reach = last.of(over.len());
            if reach < over.len() {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0021,
                        s.sizes.last().map_or(s.span, |v| v.span),
                        format!("the last wave size covers {reach} of {} hosts", over.len()),
                    )
                    .with_label("the rollout would stop short")
                    .with_help("end the list with 100%"),
                );
            }
        } else {
            self.diags.push(
                Diagnostic::new(Code::E0021, s.span, "no wave sizes")
                    .with_label("give at least one size, e.g. [100%]"),
            );
        }
        // A size that adds no host for this fleet makes no wave (e.g. 10% of 7 hosts after 1).
        let waves: Vec<p::Wave> = p::split_by_sizes(&over, &sizes)
            .into_iter()
            .enumerate()
            .filter(|(_, w)| !w.is_empty())
            .map(|(i, w)| p::Wave {
                name: format!("wave{}", i + 1),
                hosts: w,
                span: Some(s.span),
            })
            .collect();
        let owner: HashMap<HostId, usize> = waves
            .iter()
            .enumerate()
            .flat_map(|(i, w)| w.hosts.iter().map(move |h| (h, i)))
            .collect();
        self.unwaved(targeted, &owner, s.of.span);
        out.waves = waves;
        out.form = p::WaveForm::Sizes(sizes);
    }
}

/// `1h30m`-style rendering for messages.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

trait TargetText {
    fn target_text(&self) -> String;
}

impl TargetText for ast::Wave {
    fn target_text(&self) -> String {
        match &self.target.kind {
            ast::TargetKind::Name(n) => n.name.clone(),
            _ => "TARGET".into(),
        }
    }
}
