//! Admission control: whether a host may take a slot now under `max_servers`, `per_group`,
//! `per ATTR`, all at once, plus `per_host`, `stagger` and the adaptive throttle.
//!
//! Input: the `parallel { … }` settings and each host's groups and attributes. Output: yes/no
//! answers, the next instant a host may start (stagger) and throttle changes. Pure data: no
//! IO and no clock of its own (instants are passed in), so every rule is unit-tested.

use super::adaptive::{Aimd, Baselines, Sample};
use super::event::ThrottleReason;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// `per_group`: one limit for every group, or one per named group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PerGroup {
    /// No per-group limit.
    #[default]
    None,
    /// The same limit for every group.
    All(usize),
    /// Limits for the named groups; other groups are unlimited.
    Map(BTreeMap<String, usize>),
}

impl PerGroup {
    fn limit(&self, group: &str) -> Option<usize> {
        match self {
            PerGroup::None => None,
            PerGroup::All(n) => Some(*n),
            PerGroup::Map(m) => m.get(group).copied(),
        }
    }
}

/// The `parallel { … }` block, as the engine applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsConfig {
    /// Hosts with work in flight, fleet-wide.
    pub max_servers: Option<usize>,
    /// Hosts with work in flight per group.
    pub per_group: PerGroup,
    /// `per ATTR = N`: hosts with work in flight per distinct value of a host attribute.
    pub per_attr: Vec<(String, usize)>,
    /// Tasks in flight on one host (default 1).
    pub per_host: usize,
    /// Least gap between starting consecutive hosts.
    pub stagger: Duration,
    /// Adaptive throttling per group.
    pub adaptive: bool,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_servers: None,
            per_group: PerGroup::None,
            per_attr: Vec::new(),
            per_host: 1,
            stagger: Duration::ZERO,
            adaptive: false,
        }
    }
}

/// What the limiter needs to know about a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostLimitInfo {
    /// Groups the host belongs to.
    pub groups: Vec<String>,
    /// The host's attributes (for `per ATTR`).
    pub attrs: BTreeMap<String, String>,
}

/// A counted thing: the fleet, a group, or one value of an attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKey {
    /// Every host (`max_servers`).
    Fleet,
    /// A group (`per_group`, adaptive).
    Group(String),
    /// `per ATTR`: the attribute and the host's value of it.
    Attr(String, String),
}

impl std::fmt::Display for LimitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitKey::Fleet => f.write_str("fleet"),
            LimitKey::Group(g) => write!(f, "group {g}"),
            LimitKey::Attr(a, v) => write!(f, "{a}={v}"),
        }
    }
}

#[derive(Debug)]
struct Counter {
    key: LimitKey,
    in_flight: usize,
    /// `None`: counted but unlimited (kept so adaptive or tests can see it).
    limit: Option<usize>,
    adaptive: Option<Aimd>,
}

impl Counter {
    fn effective(&self) -> Option<usize> {
        match (&self.adaptive, self.limit) {
            (Some(a), Some(l)) => Some(a.limit().min(l)),
            (Some(a), None) => Some(a.limit()),
            (None, l) => l,
        }
    }
}

/// A limit that changed, for a `throttle_changed` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleChange {
    /// The group.
    pub group: String,
    /// Limit before.
    pub from: usize,
    /// Limit after.
    pub to: usize,
    /// Why.
    pub reason: ThrottleReason,
}

/// The admission state of a run.
#[derive(Debug)]
pub struct Limiter {
    counters: Vec<Counter>,
    /// For each host, the counters it occupies while it holds a slot.
    host_keys: Vec<Vec<usize>>,
    /// For each host, the adaptive counters (its groups) it reports to.
    host_groups: Vec<Vec<usize>>,
    holding: Vec<bool>,
    per_host: usize,
    stagger: Duration,
    last_start: Option<Instant>,
    baselines: Baselines,
    /// The fleet counter, when `max_servers` is set.
    fleet: Option<usize>,
}

/// The implicit group of hosts that belong to none, for adaptive throttling.
pub const UNGROUPED: &str = "all";

impl Limiter {
    /// Builds the counters for these hosts (indexed as given).
    pub fn new(config: &LimitsConfig, hosts: &[HostLimitInfo]) -> Self {
        let mut index: BTreeMap<LimitKey, usize> = BTreeMap::new();
        let mut counters: Vec<Counter> = Vec::new();
        let mut group_sizes: BTreeMap<String, usize> = BTreeMap::new();
        for h in hosts {
            for g in &h.groups {
                *group_sizes.entry(g.clone()).or_default() += 1;
            }
            if h.groups.is_empty() {
                *group_sizes.entry(UNGROUPED.to_string()).or_default() += 1;
            }
        }
        let mut counter = |key: LimitKey, limit: Option<usize>, adaptive: Option<Aimd>| -> usize {
            *index.entry(key.clone()).or_insert_with(|| {
                counters.push(Counter {
                    key,
                    in_flight: 0,
                    limit,
                    adaptive,
                });
                counters.len() - 1
            })
        };
        let mut host_keys = Vec::with_capacity(hosts.len());
        let mut host_groups = Vec::with_capacity(hosts.len());
        for h in hosts {
            let mut keys = Vec::new();
            let mut groups = Vec::new();
            if config.max_servers.is_some() {
                keys.push(counter(LimitKey::Fleet, config.max_servers, None));
            }
            let names: Vec<String> = if h.groups.is_empty() {
                vec![UNGROUPED.to_string()]
            } else {
                h.groups.clone()
            };
            for g in &names {
                let limit = if h.groups.is_empty() {
                    None
                } else {
                    config.per_group.limit(g)
                };
                if limit.is_none() && !config.adaptive {
                    continue;
                }
                let ceiling = limit
                    .or(config.max_servers)
                    .unwrap_or_else(|| group_sizes.get(g).copied().unwrap_or(1));
                let adaptive = config.adaptive.then(|| Aimd::new(ceiling));
                let id = counter(LimitKey::Group(g.clone()), limit, adaptive);
                keys.push(id);
                if config.adaptive {
                    groups.push(id);
                }
            }
            for (attr, n) in &config.per_attr {
                // A host without the attribute shares the counter of the empty value.
                let value = h.attrs.get(attr).cloned().unwrap_or_default();
                keys.push(counter(LimitKey::Attr(attr.clone(), value), Some(*n), None));
            }
            host_keys.push(keys);
            host_groups.push(groups);
        }
        let fleet = index.get(&LimitKey::Fleet).copied();
        Limiter {
            fleet,
            counters,
            host_keys,
            host_groups,
            holding: vec![false; hosts.len()],
            per_host: config.per_host.max(1),
            stagger: config.stagger,
            last_start: None,
            baselines: Baselines::default(),
        }
    }

    /// Tasks allowed in flight on one host.
    pub fn per_host(&self) -> usize {
        self.per_host
    }

    /// Whether `host` holds a slot.
    pub fn holds(&self, host: usize) -> bool {
        self.holding.get(host).copied().unwrap_or(false)
    }

    /// Whether `host` could take a slot now (ignoring stagger).
    pub fn can_admit(&self, host: usize) -> bool {
        if self.holds(host) {
            return true;
        }
        self.host_keys.get(host).is_some_and(|keys| {
            keys.iter().all(|&k| {
                let c = &self.counters[k];
                c.effective().is_none_or(|l| c.in_flight < l)
            })
        })
    }

    /// Whether `max_servers` hosts hold a slot: no host without one can start.
    pub fn fleet_full(&self) -> bool {
        self.fleet.is_some_and(|k| {
            let c = &self.counters[k];
            c.effective().is_some_and(|l| c.in_flight >= l)
        })
    }

    /// The earliest instant a host's first start may happen, given `stagger`.
    pub fn stagger_ready_at(&self) -> Option<Instant> {
        if self.stagger.is_zero() {
            return None;
        }
        self.last_start.map(|t| t + self.stagger)
    }

    /// Takes a slot for `host`; `first_start` records the start for stagger. Returns false
    /// (and takes nothing) if a limit forbids it.
    pub fn admit(&mut self, host: usize, now: Instant, first_start: bool) -> bool {
        if self.holds(host) {
            return true;
        }
        if !self.can_admit(host) {
            return false;
        }
        for &k in &self.host_keys[host] {
            self.counters[k].in_flight += 1;
        }
        self.holding[host] = true;
        if first_start {
            self.last_start = Some(now);
        }
        true
    }

    /// Gives back `host`'s slot (no-op if it holds none).
    pub fn release(&mut self, host: usize) {
        if !self.holds(host) {
            return;
        }
        for &k in &self.host_keys[host] {
            self.counters[k].in_flight = self.counters[k].in_flight.saturating_sub(1);
        }
        self.holding[host] = false;
    }

    /// Hosts holding a slot, per counter, with the counter's current limit.
    pub fn usage(&self) -> Vec<(LimitKey, usize, Option<usize>)> {
        self.counters
            .iter()
            .map(|c| (c.key.clone(), c.in_flight, c.effective()))
            .collect()
    }

    /// Feeds a finished attempt of `task` on `host` to the adaptive throttle.
    /// `took` is `None` for a connection error.
    pub fn observe(
        &mut self,
        host: usize,
        task: &str,
        took: Option<Duration>,
    ) -> Vec<ThrottleChange> {
        let Some(groups) = self.host_groups.get(host) else {
            return Vec::new();
        };
        if groups.is_empty() {
            return Vec::new();
        }
        let sample = match took {
            Some(d) => Sample::Latency {
                ratio: self.baselines.ratio(task, d),
            },
            None => Sample::ConnectionError,
        };
        let mut changes = Vec::new();
        for &g in groups {
            let c = &mut self.counters[g];
            if let Some((from, to, reason)) = c.adaptive.as_mut().and_then(|a| a.observe(sample)) {
                let group = match &c.key {
                    LimitKey::Group(name) => name.clone(),
                    other => other.to_string(),
                };
                changes.push(ThrottleChange {
                    group,
                    from,
                    to,
                    reason,
                });
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(groups: &[&str], dc: &str) -> HostLimitInfo {
        HostLimitInfo {
            groups: groups.iter().map(|g| g.to_string()).collect(),
            attrs: [("dc".to_string(), dc.to_string())].into_iter().collect(),
        }
    }

    /// Admits hosts in order while possible and returns which were admitted.
    fn fill(l: &mut Limiter, n: usize) -> Vec<usize> {
        let now = Instant::now();
        (0..n).filter(|&h| l.admit(h, now, true)).collect()
    }

    #[test]
    fn every_limit_applies_at_once() {
        // 4 web in fra1, 4 db (2 fra1, 2 ams1).
        let hosts: Vec<_> = (0..4)
            .map(|_| host(&["web"], "fra1"))
            .chain((0..4).map(|i| host(&["db"], if i < 2 { "fra1" } else { "ams1" })))
            .collect();
        let config = LimitsConfig {
            max_servers: Some(4),
            per_group: PerGroup::Map([("db".to_string(), 1)].into_iter().collect()),
            per_attr: vec![("dc".to_string(), 3)],
            ..LimitsConfig::default()
        };
        let mut l = Limiter::new(&config, &hosts);
        // per dc=3 stops web at 3 (all fra1); db limited to 1; the fleet cap 4 is reached.
        assert_eq!(fill(&mut l, 8), vec![0, 1, 2, 6]);
        l.release(6);
        assert!(
            !l.can_admit(4),
            "db04-fra1 is blocked by dc=fra1 (3 in flight)"
        );
        assert!(l.can_admit(7));
        l.release(0);
        assert!(l.can_admit(4));
        assert!(l.admit(4, Instant::now(), true));
        assert!(!l.can_admit(7), "per_group db = 1");
    }

    #[test]
    fn uniform_per_group_and_release_is_idempotent() {
        let hosts = vec![host(&["a"], "x"), host(&["a"], "x"), host(&["b"], "x")];
        let config = LimitsConfig {
            per_group: PerGroup::All(1),
            ..LimitsConfig::default()
        };
        let mut l = Limiter::new(&config, &hosts);
        assert_eq!(fill(&mut l, 3), vec![0, 2]);
        l.release(0);
        l.release(0);
        assert_eq!(l.usage().iter().map(|u| u.1).sum::<usize>(), 1);
        assert!(l.admit(1, Instant::now(), false));
    }

    #[test]
    fn stagger_spaces_first_starts() {
        let config = LimitsConfig {
            stagger: Duration::from_secs(2),
            ..LimitsConfig::default()
        };
        let mut l = Limiter::new(&config, &[host(&[], "x"), host(&[], "x")]);
        assert_eq!(l.stagger_ready_at(), None);
        let t0 = Instant::now();
        assert!(l.admit(0, t0, true));
        assert_eq!(l.stagger_ready_at(), Some(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn adaptive_limit_caps_admission_and_recovers() {
        let hosts: Vec<_> = (0..8).map(|_| host(&["web"], "x")).collect();
        let config = LimitsConfig {
            per_group: PerGroup::All(4),
            adaptive: true,
            ..LimitsConfig::default()
        };
        let mut l = Limiter::new(&config, &hosts);
        assert_eq!(fill(&mut l, 8).len(), 4);
        let changes = l.observe(0, "t", None);
        assert_eq!(
            changes,
            vec![ThrottleChange {
                group: "web".into(),
                from: 4,
                to: 2,
                reason: ThrottleReason::ConnectionErrors
            }]
        );
        for h in 0..4 {
            l.release(h);
        }
        assert_eq!(fill(&mut l, 8).len(), 2);
        let mut grown = Vec::new();
        for _ in 0..20 {
            grown.extend(l.observe(0, "t", Some(Duration::from_millis(10))));
        }
        assert_eq!(grown.last().map(|c| c.to), Some(4), "{grown:?}");
        assert!(grown.iter().all(|c| c.reason == ThrottleReason::Recovery));
    }
}
