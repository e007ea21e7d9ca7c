//! Inventory: builds the resolved [`Inventory`] (hosts with attributes, groups as host sets)
//! from `inventory { ... }` blocks, and resolves target expressions (`all`, names, globs,
//! lists, `except`, `where`) to [`HostSet`]s. Names resolve as a group first, then a host.
//!
//! Where the blocks come from (inline, an `inventory "FILE"` `.sflow` file, `--inventory`)
//! is decided by the loader in [`crate::check`]; other formats (Ansible INI/YAML, dynamic
//! inventories) plug in there by producing an [`Inventory`] directly.

use crate::ast::{self, InventoryMember, TargetKind, ValueKind};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::program::{Group, Host, HostId, HostSet, Inventory, Transport};
use crate::span::Span;
use std::collections::{BTreeMap, HashMap};

/// Host attributes with a meaning of their own; any other attribute is a free string.
pub const KNOWN_HOST_ATTRS: &[&str] = &["address", "port", "user", "jump", "transport"];

/// Builds the inventory of one block. Problems go to `diags`; the result is always usable.
pub fn build(block: &ast::InventoryBlock, diags: &mut Vec<Diagnostic>) -> Inventory {
    let mut b = Builder {
        inv: Inventory::default(),
        index: HashMap::new(),
        diags,
    };
    b.run(block);
    b.inv
}

struct Builder<'d> {
    inv: Inventory,
    index: HashMap<String, HostId>,
    diags: &'d mut Vec<Diagnostic>,
}

fn host_id(n: usize) -> HostId {
    HostId(u32::try_from(n).unwrap_or(u32::MAX))
}

/// A host attribute as a string, if its type allows one.
fn attr_string(v: &ast::Value) -> Option<String> {
    match &v.kind {
        ValueKind::Str(s) => s.as_plain(),
        ValueKind::Int(i) => Some(i.to_string()),
        ValueKind::Bool(b) => Some(b.to_string()),
        ValueKind::Name(n) => Some(n.name.clone()),
        _ => None,
    }
}

impl Builder<'_> {
    fn run(&mut self, block: &ast::InventoryBlock) {
        let mut defaults: Vec<&ast::Attr> = Vec::new();
        let mut hosts: Vec<(&ast::Ident, &[ast::Attr], Span)> = Vec::new();
        let mut groups: Vec<(&ast::Ident, &ast::Target, Span)> = Vec::new();
        for m in &block.members {
            match m {
                InventoryMember::Defaults { attrs, .. } => defaults.extend(attrs.iter()),
                InventoryMember::Host { name, attrs, span } => hosts.push((name, attrs, *span)),
                InventoryMember::Group { name, target, span } => {
                    groups.push((name, target, *span));
                }
            }
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (name, attrs, span) in &hosts {
            if let Some(first) = seen.get(name.name.as_str()) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0010,
                        name.span,
                        format!("host `{}` is declared twice", name.name),
                    )
                    .with_label("declared again here")
                    .with_related(*first, "first declared here"),
                );
                continue;
            }
            seen.insert(&name.name, name.span);
            self.add_host(&name.name, Some(*span), &defaults, attrs);
        }
        // Group names, for resolving names and rejecting duplicates.
        let mut group_decl: HashMap<&str, usize> = HashMap::new();
        for (i, (name, _, _)) in groups.iter().enumerate() {
            if let Some(&first) = group_decl.get(name.name.as_str()) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0010,
                        name.span,
                        format!("group `{}` is declared twice", name.name),
                    )
                    .with_label("declared again here")
                    .with_related(groups[first].0.span, "first declared here"),
                );
                continue;
            }
            if let Some(h) = self.index.get(&name.name) {
                let hspan = self.inv.host(*h).span.unwrap_or(name.span);
                self.diags.push(
                    Diagnostic::new(
                        Code::E0010,
                        name.span,
                        format!("`{}` is both a group and a host", name.name),
                    )
                    .with_label("group declared here")
                    .with_related(hspan, "host declared here")
                    .with_help("names resolve as a group first: rename one of them"),
                );
            }
            group_decl.insert(&name.name, i);
        }
        // Hosts only named in groups get the defaults, in order of first mention.
        let group_names: Vec<&str> = group_decl.keys().copied().collect();
        for (_, target, _) in &groups {
            let mut names = Vec::new();
            collect_names(target, &mut names);
            for n in names {
                if group_decl.contains_key(n.name.as_str()) || self.index.contains_key(&n.name) {
                    continue;
                }
                if let Some(help) = did_you_mean(&n.name, group_names.iter().copied()) {
                    // Close to a group name: a typo, not a new host.
                    self.diags.push(
                        Diagnostic::new(Code::E0009, n.span, format!("unknown group `{}`", n.name))
                            .with_label("no group of this name")
                            .with_help(help),
                    );
                    continue;
                }
                self.add_host(&n.name, None, &defaults, &[]);
            }
        }
        // `jump` names a host: resolve once every host exists.
        for (name, attrs, _) in &hosts {
            for a in attrs.iter().chain(defaults.iter().copied()) {
                if a.key.name != "jump" {
                    continue;
                }
                let Some(&id) = self.index.get(&name.name) else {
                    continue;
                };
                if self.inv.host(id).jump.is_some() {
                    continue;
                }
                match attr_string(&a.value) {
                    Some(j) => match self.index.get(&j) {
                        Some(&jid) => self.inv.hosts[id.0 as usize].jump = Some(jid),
                        None => {
                            let names: Vec<&str> =
                                self.inv.hosts.iter().map(|h| h.name.as_str()).collect();
                            let help = did_you_mean(&j, names);
                            self.diags.push(
                                Diagnostic::new(
                                    Code::E0009,
                                    a.value.span,
                                    format!("unknown host `{j}`"),
                                )
                                .with_label("no host of this name")
                                .with_help_opt(help),
                            );
                        }
                    },
                    None => self.type_error(&a.value, "a host name"),
                }
            }
        }
        // Groups, resolved on demand so that they may refer to each other in any order.
        let mut state: Vec<GroupState> = vec![GroupState::Todo; groups.len()];
        for i in 0..groups.len() {
            self.resolve_group(i, &groups, &group_decl, &mut state);
        }
        for (i, (name, _, span)) in groups.iter().enumerate() {
            if group_decl.get(name.name.as_str()) != Some(&i) {
                continue;
            }
            if let GroupState::Done(set) = &state[i] {
                self.inv.groups.insert(
                    name.name.clone(),
                    Group {
                        name: name.name.clone(),
                        hosts: set.clone(),
                        span: *span,
                    },
                );
            }
        }
    }

    fn resolve_group(
        &mut self,
        i: usize,
        groups: &[(&ast::Ident, &ast::Target, Span)],
        decl: &HashMap<&str, usize>,
        state: &mut Vec<GroupState>,
    ) -> HostSet {
        match &state[i] {
            GroupState::Done(s) => return s.clone(),
            GroupState::Active => {
                let (name, _, _) = groups[i];
                self.diags.push(
                    Diagnostic::new(
                        Code::E0011,
                        name.span,
                        format!("group `{}` contains itself", name.name),
                    )
                    .with_label("this group refers back to itself through its members"),
                );
                return HostSet::new();
            }
            GroupState::Todo => {}
        }
        state[i] = GroupState::Active;
        let target = groups[i].1;
        let set = self.eval(target, groups, decl, state);
        state[i] = GroupState::Done(set.clone());
        set
    }

    fn eval(
        &mut self,
        t: &ast::Target,
        groups: &[(&ast::Ident, &ast::Target, Span)],
        decl: &HashMap<&str, usize>,
        state: &mut Vec<GroupState>,
    ) -> HostSet {
        match &t.kind {
            TargetKind::Name(n) => {
                if let Some(&g) = decl.get(n.name.as_str()) {
                    self.resolve_group(g, groups, decl, state)
                } else if let Some(&h) = self.index.get(&n.name) {
                    HostSet::from_ids([h])
                } else {
                    HostSet::new() // reported when collecting implicit hosts
                }
            }
            TargetKind::List(items) => items.iter().fold(HostSet::new(), |acc, x| {
                let s = self.eval(x, groups, decl, state);
                acc.union(&s)
            }),
            TargetKind::Except(a, b) => {
                let a = self.eval(a, groups, decl, state);
                let b = self.eval(b, groups, decl, state);
                a.difference(&b)
            }
            TargetKind::Where {
                base,
                attr,
                equal,
                value,
            } => {
                let s = self.eval(base, groups, decl, state);
                filter_where(
                    &self.inv,
                    &s,
                    &attr.name,
                    *equal,
                    &value.as_plain().unwrap_or_default(),
                )
            }
            TargetKind::All | TargetKind::Glob(_) => {
                Resolver::new(&self.inv).resolve(t, self.diags)
            }
        }
    }

    fn type_error(&mut self, v: &ast::Value, expected: &str) {
        self.diags.push(
            Diagnostic::new(Code::E0013, v.span, format!("expected {expected}"))
                .with_label(format!("this is {}", crate::check::describe_value(v))),
        );
    }

    fn add_host(
        &mut self,
        name: &str,
        span: Option<Span>,
        defaults: &[&ast::Attr],
        attrs: &[ast::Attr],
    ) {
        let id = host_id(self.inv.hosts.len());
        let mut host = Host {
            id,
            name: name.to_owned(),
            address: name.to_owned(),
            port: 22,
            user: None,
            jump: None,
            transport: Transport::Ssh,
            attrs: BTreeMap::new(),
            span,
        };
        let mut own: HashMap<&str, Span> = HashMap::new();
        for a in attrs {
            if let Some(first) = own.get(a.key.name.as_str()) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0010,
                        a.key.span,
                        format!("attribute `{}` is set twice", a.key.name),
                    )
                    .with_label("set again here")
                    .with_related(*first, "first set here"),
                );
            }
            own.insert(&a.key.name, a.key.span);
        }
        // Defaults first, so that the host's own attributes override them. Defaults are
        // checked once, for the first host (their errors would repeat for every host).
        let check_defaults = self.inv.hosts.is_empty();
        for (a, report) in defaults
            .iter()
            .map(|a| (*a, check_defaults))
            .chain(attrs.iter().map(|a| (a, true)))
        {
            crate::check::credentials::check_attr(a, self.diags_if(report));
            match a.key.name.as_str() {
                "jump" => {} // resolved once every host exists
                "port" => match &a.value.kind {
                    ValueKind::Int(p) if (1..=65535).contains(p) => {
                        host.port = u16::try_from(*p).unwrap_or(22);
                    }
                    ValueKind::Int(_) => {
                        if report {
                            self.diags.push(
                                Diagnostic::new(Code::E0015, a.value.span, "port out of range")
                                    .with_label("a port is 1 to 65535"),
                            );
                        }
                    }
                    _ => {
                        if report {
                            self.type_error(&a.value, "a port number");
                        }
                    }
                },
                "transport" => match attr_string(&a.value).as_deref() {
                    Some("ssh") => host.transport = Transport::Ssh,
                    Some("local") => host.transport = Transport::Local,
                    _ => {
                        if report {
                            self.diags.push(
                                Diagnostic::new(Code::E0015, a.value.span, "unknown transport")
                                    .with_label("expected \"ssh\" or \"local\""),
                            );
                        }
                    }
                },
                key => match attr_string(&a.value) {
                    Some(v) => {
                        if key == "address" {
                            host.address = v.clone();
                        } else if key == "user" {
                            host.user = Some(v.clone());
                        }
                        host.attrs.insert(key.to_owned(), v);
                    }
                    None => {
                        if report {
                            self.type_error(&a.value, "a string, a number or a bool");
                        }
                    }
                },
            }
            if a.key.name == "port" || a.key.name == "transport" {
                if let Some(v) = attr_string(&a.value) {
                    host.attrs.insert(a.key.name.clone(), v);
                }
            }
        }
        self.index.insert(name.to_owned(), id);
        self.inv.hosts.push(host);
    }

    fn diags_if(&mut self, report: bool) -> Option<&mut Vec<Diagnostic>> {
        report.then_some(&mut *self.diags)
    }
}

/// Converts an Ansible inventory read by [`crate::inventory_ansible`] (attributes already
/// mapped to sflow's names) into the resolved inventory; spans point into `file`.
pub fn from_ansible(
    a: &crate::inventory_ansible::AnsibleInventory,
    file: crate::span::FileId,
    diags: &mut Vec<Diagnostic>,
) -> Inventory {
    let mut inv = Inventory::default();
    let mut index: HashMap<&str, HostId> = HashMap::new();
    let span =
        |r: &Option<std::ops::Range<usize>>| r.as_ref().map(|r| Span::new(file, r.start, r.end));
    for h in &a.hosts {
        let id = host_id(inv.hosts.len());
        index.insert(&h.name, id);
        let at = span(&h.span).unwrap_or(Span::new(file, 0, 0));
        let port = match h.attrs.get("port") {
            None => 22,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).unwrap_or_else(|| {
                diags.push(
                    Diagnostic::new(
                        Code::E0032,
                        at,
                        format!("port `{p}` of host `{}` is not a port number", h.name),
                    )
                    .with_label("a port is 1 to 65535"),
                );
                22
            }),
        };
        inv.hosts.push(Host {
            id,
            name: h.name.clone(),
            address: h
                .attrs
                .get("address")
                .cloned()
                .unwrap_or_else(|| h.name.clone()),
            port,
            user: h.attrs.get("user").cloned(),
            jump: None,
            transport: if h.attrs.get("transport").map(String::as_str) == Some("local") {
                Transport::Local
            } else {
                Transport::Ssh
            },
            attrs: h.attrs.clone(),
            span: span(&h.span),
        });
    }
    for (i, h) in a.hosts.iter().enumerate() {
        if let Some(j) = h.attrs.get("jump") {
            inv.hosts[i].jump = index.get(j.as_str()).copied();
        }
    }
    for g in &a.groups {
        let hosts = HostSet::from_ids(
            g.hosts
                .iter()
                .filter_map(|n| index.get(n.as_str()).copied()),
        );
        inv.groups.insert(
            g.name.clone(),
            Group {
                name: g.name.clone(),
                hosts,
                span: span(&g.span).unwrap_or(Span::new(file, 0, 0)),
            },
        );
    }
    inv
}

#[derive(Clone)]
enum GroupState {
    Todo,
    Active,
    Done(HostSet),
}

fn collect_names<'a>(t: &'a ast::Target, out: &mut Vec<&'a ast::Ident>) {
    match &t.kind {
        TargetKind::Name(n) => out.push(n),
        TargetKind::List(xs) => xs.iter().for_each(|x| collect_names(x, out)),
        TargetKind::Except(a, b) => {
            collect_names(a, out);
            collect_names(b, out);
        }
        TargetKind::Where { base, .. } => collect_names(base, out),
        TargetKind::All | TargetKind::Glob(_) => {}
    }
}

fn filter_where(inv: &Inventory, set: &HostSet, attr: &str, equal: bool, value: &str) -> HostSet {
    HostSet::from_ids(set.iter().filter(|h| {
        let host = inv.host(*h);
        let v = if attr == "name" {
            Some(host.name.as_str())
        } else {
            host.attrs.get(attr).map(String::as_str)
        };
        (v == Some(value)) == equal
    }))
}

/// Resolves target expressions against an inventory.
pub struct Resolver<'a> {
    inv: &'a Inventory,
    by_name: HashMap<&'a str, HostId>,
    /// When the inventory is missing, unknown names are not reported (E0008 already was).
    pub quiet: bool,
}

impl<'a> Resolver<'a> {
    /// A resolver over `inv`.
    pub fn new(inv: &'a Inventory) -> Self {
        Resolver {
            inv,
            by_name: inv.hosts.iter().map(|h| (h.name.as_str(), h.id)).collect(),
            quiet: false,
        }
    }

    /// The hosts `t` denotes. Unknown names are reported (with "did you mean") and denote no
    /// host.
    pub fn resolve(&self, t: &ast::Target, diags: &mut Vec<Diagnostic>) -> HostSet {
        match &t.kind {
            TargetKind::All => self.inv.all(),
            TargetKind::Name(n) => {
                if let Some(g) = self.inv.groups.get(&n.name) {
                    g.hosts.clone()
                } else if let Some(&h) = self.by_name.get(n.name.as_str()) {
                    HostSet::from_ids([h])
                } else {
                    if !self.quiet {
                        let candidates = self
                            .inv
                            .groups
                            .keys()
                            .map(String::as_str)
                            .chain(self.inv.hosts.iter().map(|h| h.name.as_str()));
                        self.diags_unknown(n, candidates, diags);
                    }
                    HostSet::new()
                }
            }
            TargetKind::Glob(s) => {
                let pattern = s.as_plain().unwrap_or_default();
                HostSet::from_ids(
                    self.inv
                        .hosts
                        .iter()
                        .filter(|h| glob_match(&pattern, &h.name))
                        .map(|h| h.id),
                )
            }
            TargetKind::List(xs) => xs
                .iter()
                .fold(HostSet::new(), |acc, x| acc.union(&self.resolve(x, diags))),
            TargetKind::Except(a, b) => self.resolve(a, diags).difference(&self.resolve(b, diags)),
            TargetKind::Where {
                base,
                attr,
                equal,
                value,
            } => {
                let s = self.resolve(base, diags);
                filter_where(
                    self.inv,
                    &s,
                    &attr.name,
                    *equal,
                    &value.as_plain().unwrap_or_default(),
                )
            }
        }
    }

    fn diags_unknown<'c>(
        &self,
        n: &ast::Ident,
        candidates: impl Iterator<Item = &'c str>,
        diags: &mut Vec<Diagnostic>,
    ) {
        diags.push(
            Diagnostic::new(
                Code::E0009,
                n.span,
                format!("unknown group or host `{}`", n.name),
            )
            .with_label("no group or host of this name")
            .with_help_opt(did_you_mean(&n.name, candidates)),
        );
    }
}

/// Shell-style glob on host names: `*` any run of characters, `?` one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::FileId;

    fn inv(src: &str) -> (Inventory, Vec<Diagnostic>) {
        let (file, mut diags) = crate::syntax::parse(FileId(0), src);
        let Some(ast::Item::Inventory(ast::InventoryDecl::Inline(b))) = file.items.first() else {
            return (Inventory::default(), diags);
        };
        let i = build(b, &mut diags);
        (i, diags)
    }

    fn check(src: &str, group: &str, expect: &[&str]) {
        let (i, diags) = inv(src);
        assert!(diags.is_empty(), "{diags:?}");
        let g = &i.groups[group];
        assert_eq!(i.names(&g.hosts), expect);
    }

    const FLEET: &str = r#"inventory {
      defaults { user = "ops" }
      host web01 { dc = "fra1" }
      host web02 { dc = "ams1" }
      host db01 { dc = "fra1" port = 2222 }
      group web = [web01, web02]
      group fra = all where dc == "fra1"
      group notweb = all except web
      group early = later
      group later = "web*"
      group extra = [web01, cache09]
    }"#;

    #[test]
    fn groups_resolve_in_any_order() {
        check(FLEET, "web", &["web01", "web02"]);
        check(FLEET, "fra", &["web01", "db01"]);
        check(FLEET, "early", &["web01", "web02"]);
        check(FLEET, "extra", &["web01", "cache09"]);
    }

    #[test]
    fn implicit_hosts_get_defaults() {
        let (i, _) = inv(FLEET);
        let h = i.host_by_name("cache09").map(|h| h.user.clone());
        assert_eq!(h, Some(Some("ops".to_owned())));
        assert_eq!(i.host_by_name("db01").map(|h| h.port), Some(2222));
        // `all except web` was resolved with the implicit host.
        check(FLEET, "notweb", &["db01", "cache09"]);
    }

    #[test]
    fn group_cycles_and_typos_are_reported() {
        let (_, d) = inv("inventory { group a = b  group b = [a] group web = [wbe] }");
        let codes: Vec<&str> = d.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, vec!["E0009", "E0011"]);
    }

    #[test]
    fn globs() {
        assert!(glob_match("web0*", "web01.example.com"));
        assert!(glob_match("db0?", "db01"));
        assert!(!glob_match("db0?", "db011"));
        assert!(glob_match("*", ""));
    }
}
