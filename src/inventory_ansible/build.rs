//! The format-independent half of the Ansible readers: the readers record hosts, groups,
//! children and vars into a [`Builder`]; [`Builder::finish`] resolves the group graph, merges
//! vars with Ansible's precedence and maps connection vars to sflow attributes.

use super::error::{InventoryError, InventoryErrorKind};
use super::{pattern, ssh_args, AnsibleInventory, InventoryGroup, InventoryHost};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

/// Ansible's implicit group of every host.
const ALL: &str = "all";
/// Ansible's implicit group of hosts that are in no other group.
const UNGROUPED: &str = "ungrouped";

/// A variable's value as text, with where it was written.
#[derive(Debug, Clone)]
pub(super) struct Var {
    pub value: String,
    pub span: Option<Range<usize>>,
}

#[derive(Debug)]
struct HostEntry {
    name: String,
    vars: BTreeMap<String, Var>,
    span: Option<Range<usize>>,
}

#[derive(Debug)]
struct GroupEntry {
    name: String,
    vars: BTreeMap<String, Var>,
    hosts: Vec<usize>,
    children: Vec<(usize, Option<Range<usize>>)>,
    span: Option<Range<usize>>,
}

/// Collects what a reader finds; see the module docs.
pub(super) struct Builder<'t> {
    file: String,
    text: &'t str,
    hosts: Vec<HostEntry>,
    host_index: HashMap<String, usize>,
    groups: Vec<GroupEntry>,
    group_index: HashMap<String, usize>,
    errors: Vec<InventoryError>,
    warnings: Vec<InventoryError>,
}

impl<'t> Builder<'t> {
    /// A builder for the source `text` of the file called `file`.
    pub fn new(file: &str, text: &'t str) -> Self {
        let mut b = Builder {
            file: file.to_string(),
            text,
            hosts: Vec::new(),
            host_index: HashMap::new(),
            groups: Vec::new(),
            group_index: HashMap::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        b.group(ALL, None);
        b
    }

    /// Records an error at `range` (the whole file when unknown).
    pub fn error(&mut self, range: Option<Range<usize>>, kind: InventoryErrorKind) {
        let e = InventoryError::at(&self.file, self.text, range.unwrap_or(0..0), kind);
        self.errors.push(e);
    }

    /// Records a warning at `range`.
    pub fn warn(&mut self, range: Option<Range<usize>>, kind: InventoryErrorKind) {
        let e = InventoryError::at(&self.file, self.text, range.unwrap_or(0..0), kind);
        self.warnings.push(e);
    }

    /// The group `name`, created on first mention.
    pub fn group(&mut self, name: &str, span: Option<Range<usize>>) -> usize {
        if let Some(&g) = self.group_index.get(name) {
            if self.groups[g].span.is_none() {
                self.groups[g].span = span;
            }
            return g;
        }
        self.groups.push(GroupEntry {
            name: name.to_string(),
            vars: BTreeMap::new(),
            hosts: Vec::new(),
            children: Vec::new(),
            span,
        });
        let g = self.groups.len() - 1;
        self.group_index.insert(name.to_string(), g);
        g
    }

    /// Adds the hosts of `pattern` (ranges expanded, `:port` applied) to group `group`
    /// and returns them.
    pub fn add_hosts(
        &mut self,
        pattern: &str,
        span: Option<Range<usize>>,
        group: usize,
    ) -> Vec<usize> {
        let (names, port) = match pattern::expand(pattern) {
            Ok(x) => x,
            Err(reason) => {
                self.error(
                    span,
                    InventoryErrorKind::BadHostPattern {
                        pattern: pattern.to_string(),
                        reason,
                    },
                );
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let h = self.host(&name, span.clone());
            if !self.groups[group].hosts.contains(&h) {
                self.groups[group].hosts.push(h);
            }
            if let Some(port) = port {
                self.host_var(
                    h,
                    "ansible_port",
                    Var {
                        value: port.to_string(),
                        span: span.clone(),
                    },
                );
            }
            out.push(h);
        }
        out
    }

    /// The host `name`, if some group already named it.
    pub fn known_host(&self, name: &str) -> Option<usize> {
        self.host_index.get(name).copied()
    }

    fn host(&mut self, name: &str, span: Option<Range<usize>>) -> usize {
        if let Some(&h) = self.host_index.get(name) {
            return h;
        }
        self.hosts.push(HostEntry {
            name: name.to_string(),
            vars: BTreeMap::new(),
            span,
        });
        let h = self.hosts.len() - 1;
        self.host_index.insert(name.to_string(), h);
        h
    }

    /// Sets a host variable (a later definition wins, as in Ansible).
    pub fn host_var(&mut self, host: usize, key: &str, var: Var) {
        self.hosts[host].vars.insert(key.to_string(), var);
    }

    /// Sets a group variable.
    pub fn group_var(&mut self, group: usize, key: &str, var: Var) {
        self.groups[group].vars.insert(key.to_string(), var);
    }

    /// Makes `child` a child group of `parent`.
    pub fn add_child(&mut self, parent: usize, child: usize, span: Option<Range<usize>>) {
        if !self.groups[parent]
            .children
            .iter()
            .any(|(c, _)| *c == child)
        {
            self.groups[parent].children.push((child, span));
        }
    }

    /// Resolves everything recorded.
    ///
    /// # Errors
    /// Every error recorded by the reader or found while resolving, sorted by position.
    pub fn finish(mut self) -> Result<AnsibleInventory, Vec<InventoryError>> {
        let all = 0;
        // Hosts in no group but `all` go to `ungrouped`, as in Ansible.
        let grouped: Vec<bool> = {
            let mut g = vec![false; self.hosts.len()];
            for group in self.groups.iter().skip(1) {
                for &h in &group.hosts {
                    g[h] = true;
                }
            }
            g
        };
        let lonely: Vec<usize> = (0..self.hosts.len()).filter(|&h| !grouped[h]).collect();
        if !lonely.is_empty() {
            let u = self.group(UNGROUPED, None);
            for h in lonely {
                if !self.groups[u].hosts.contains(&h) {
                    self.groups[u].hosts.push(h);
                }
            }
        }
        self.cut_cycles();
        // Every group without a parent hangs under `all`.
        let mut has_parent = vec![false; self.groups.len()];
        for g in &self.groups {
            for (c, _) in &g.children {
                has_parent[*c] = true;
            }
        }
        for (g, has) in has_parent.iter().enumerate().skip(1) {
            if !has {
                self.groups[all].children.push((g, None));
            }
        }
        let order = self.topological_order(all);
        let depth = self.depths(&order);
        let members = self.members(&order);

        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); self.groups.len()];
        for (g, group) in self.groups.iter().enumerate() {
            for (c, _) in &group.children {
                parents[*c].push(g);
            }
        }
        let mut host_groups: Vec<Vec<usize>> = vec![Vec::new(); self.hosts.len()];
        for (g, m) in members.iter().enumerate() {
            for &h in m {
                host_groups[h].push(g);
            }
        }

        for (g, group) in self.groups.iter().enumerate().skip(1) {
            if let Some(&h) = self.host_index.get(&group.name) {
                let span = group.span.clone().or_else(|| self.hosts[h].span.clone());
                let kind = InventoryErrorKind::HostIsGroup(self.groups[g].name.clone());
                let e = InventoryError::at(&self.file, self.text, span.unwrap_or(0..0), kind);
                self.warnings.push(e);
            }
        }

        let mut hosts = Vec::with_capacity(self.hosts.len());
        let mut implicit: Vec<InventoryHost> = Vec::new();
        for (h, entry) in self.hosts.iter().enumerate() {
            let mut gs = host_groups[h].clone();
            gs.sort_by(|a, b| {
                (depth[*a], &self.groups[*a].name).cmp(&(depth[*b], &self.groups[*b].name))
            });
            let mut merged: BTreeMap<String, Var> = BTreeMap::new();
            for g in &gs {
                for (k, v) in &self.groups[*g].vars {
                    merged.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in &entry.vars {
                merged.insert(k.clone(), v.clone());
            }
            let (attrs, hops) = map_vars(
                &merged,
                |span, kind| {
                    let e = InventoryError::at(&self.file, self.text, span.unwrap_or(0..0), kind);
                    self.errors.push(e);
                },
                |span, kind| {
                    let e = InventoryError::at(&self.file, self.text, span.unwrap_or(0..0), kind);
                    self.warnings.push(e);
                },
            );
            for (i, hop) in hops.iter().enumerate() {
                let known = self.host_index.contains_key(&hop.host)
                    || implicit.iter().any(|x| x.name == hop.host);
                if known {
                    continue;
                }
                let mut a = BTreeMap::new();
                if let Some(u) = &hop.user {
                    a.insert("user".to_string(), u.clone());
                }
                if let Some(p) = hop.port {
                    a.insert("port".to_string(), p.to_string());
                }
                if i > 0 {
                    a.insert("jump".to_string(), hops[i - 1].host.clone());
                }
                implicit.push(InventoryHost {
                    name: hop.host.clone(),
                    attrs: a,
                    groups: Vec::new(),
                    span: merged
                        .get("ansible_ssh_common_args")
                        .or_else(|| merged.get("ansible_ssh_extra_args"))
                        .and_then(|v| v.span.clone()),
                    implicit: true,
                });
            }
            let mut names: Vec<String> = gs
                .iter()
                .filter(|g| **g != all)
                .map(|g| self.groups[*g].name.clone())
                .collect();
            names.sort();
            hosts.push(InventoryHost {
                name: entry.name.clone(),
                attrs,
                groups: names,
                span: entry.span.clone(),
                implicit: false,
            });
        }
        hosts.extend(implicit);

        let groups = self
            .groups
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, g)| g.name != UNGROUPED || !g.hosts.is_empty())
            .map(|(g, group)| InventoryGroup {
                name: group.name.clone(),
                hosts: members[g]
                    .iter()
                    .map(|h| self.hosts[*h].name.clone())
                    .collect(),
                children: group
                    .children
                    .iter()
                    .map(|(c, _)| self.groups[*c].name.clone())
                    .collect(),
                vars: group
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value.clone()))
                    .collect(),
                span: group.span.clone(),
            })
            .collect();

        if self.errors.is_empty() {
            let mut warnings = self.warnings;
            warnings.sort_by_key(|e| (e.range.start, e.range.end));
            Ok(AnsibleInventory {
                hosts,
                groups,
                warnings,
            })
        } else {
            let mut errors = self.errors;
            errors.sort_by_key(|e| (e.range.start, e.range.end));
            errors.dedup();
            Err(errors)
        }
    }

    /// Removes `children` edges that close a cycle, reporting each.
    fn cut_cycles(&mut self) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        fn visit(b: &mut Builder<'_>, g: usize, mark: &mut Vec<Mark>) {
            mark[g] = Mark::Open;
            let mut i = 0;
            while i < b.groups[g].children.len() {
                let (c, span) = b.groups[g].children[i].clone();
                match mark[c] {
                    Mark::Open => {
                        let name = b.groups[c].name.clone();
                        b.error(
                            span.or(b.groups[g].span.clone()),
                            InventoryErrorKind::GroupCycle(name),
                        );
                        b.groups[g].children.remove(i);
                        continue;
                    }
                    Mark::New => visit(b, c, mark),
                    Mark::Done => {}
                }
                i += 1;
            }
            mark[g] = Mark::Done;
        }
        let mut mark = vec![Mark::New; self.groups.len()];
        for g in 0..self.groups.len() {
            if mark[g] == Mark::New {
                visit(self, g, &mut mark);
            }
        }
    }

    /// Groups with every parent before its children (the graph has no cycles by now).
    fn topological_order(&self, root: usize) -> Vec<usize> {
        fn post(b: &Builder<'_>, g: usize, seen: &mut Vec<bool>, out: &mut Vec<usize>) {
            seen[g] = true;
            for (c, _) in &b.groups[g].children {
                if !seen[*c] {
                    post(b, *c, seen, out);
                }
            }
            out.push(g);
        }
        let mut seen = vec![false; self.groups.len()];
        let mut out = Vec::with_capacity(self.groups.len());
        post(self, root, &mut seen, &mut out);
        for g in 0..self.groups.len() {
            if !seen[g] {
                post(self, g, &mut seen, &mut out);
            }
        }
        out.reverse();
        out
    }

    /// Longest distance from `all`, which orders group vars as Ansible does.
    fn depths(&self, order: &[usize]) -> Vec<usize> {
        let mut depth = vec![0; self.groups.len()];
        for &g in order {
            for (c, _) in &self.groups[g].children {
                depth[*c] = depth[*c].max(depth[g] + 1);
            }
        }
        depth
    }

    /// Every group's hosts, its own and its descendants', in host order.
    fn members(&self, order: &[usize]) -> Vec<Vec<usize>> {
        let mut sets: Vec<Vec<usize>> = vec![Vec::new(); self.groups.len()];
        for &g in order.iter().rev() {
            let mut m = self.groups[g].hosts.clone();
            for (c, _) in &self.groups[g].children {
                m.extend(sets[*c].iter().copied());
            }
            m.sort_unstable();
            m.dedup();
            sets[g] = m;
        }
        sets
    }
}

/// Maps merged Ansible vars to sflow attributes; returns them and the jump chain, if any.
fn map_vars(
    vars: &BTreeMap<String, Var>,
    mut error: impl FnMut(Option<Range<usize>>, InventoryErrorKind),
    mut warn: impl FnMut(Option<Range<usize>>, InventoryErrorKind),
) -> (BTreeMap<String, String>, Vec<ssh_args::Hop>) {
    const CONSUMED: &[&str] = &[
        "ansible_host",
        "ansible_ssh_host",
        "ansible_port",
        "ansible_ssh_port",
        "ansible_user",
        "ansible_ssh_user",
    ];
    let bad = |var: &str, v: &Var, reason: &str| InventoryErrorKind::BadVar {
        var: var.to_string(),
        value: v.value.clone(),
        reason: reason.to_string(),
    };
    let mut attrs: BTreeMap<String, String> = vars
        .iter()
        .filter(|(k, _)| !CONSUMED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let pick = |a: &'static str, b: &'static str| {
        vars.get(a)
            .map(|v| (a, v))
            .or_else(|| vars.get(b).map(|v| (b, v)))
    };
    if let Some((_, v)) = pick("ansible_host", "ansible_ssh_host") {
        attrs.insert("address".to_string(), v.value.clone());
    }
    if let Some((k, v)) = pick("ansible_port", "ansible_ssh_port") {
        match v.value.trim().parse::<u16>() {
            Ok(p) if p > 0 => {
                attrs.insert("port".to_string(), p.to_string());
            }
            _ => error(v.span.clone(), bad(k, v, "not a port number (1-65535)")),
        }
    }
    if let Some((_, v)) = pick("ansible_user", "ansible_ssh_user") {
        attrs.insert("user".to_string(), v.value.clone());
    }
    if let Some(v) = vars.get("ansible_connection") {
        match v.value.trim() {
            "local" => {
                attrs.remove("ansible_connection");
                attrs.insert("transport".to_string(), "local".to_string());
            }
            "ssh" | "smart" | "paramiko" | "paramiko_ssh" | "" => {
                attrs.remove("ansible_connection");
            }
            _ => warn(
                v.span.clone(),
                bad(
                    "ansible_connection",
                    v,
                    "sflow reaches hosts over ssh or locally; kept as a plain attribute",
                ),
            ),
        }
    }
    let mut hops = Vec::new();
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        let Some(v) = vars.get(key) else { continue };
        match ssh_args::find_jump(&v.value) {
            Ok(Some(jump)) => {
                if let Some(last) = jump.hops.last() {
                    attrs.insert("jump".to_string(), last.host.clone());
                }
                if jump.only_jump {
                    attrs.remove(key);
                }
                hops = jump.hops;
            }
            Ok(None) => {}
            Err(reason) => error(v.span.clone(), bad(key, v, &reason)),
        }
    }
    (attrs, hops)
}
