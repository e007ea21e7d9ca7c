//! The forecast: a plan and an instant in, the expected timeline of every wave out (window
//! occurrences, start, end, whether each wave fits in one occurrence), from a list-scheduling
//! simulation of the limits and the task estimates. No IO; the clock is an argument.
//!
//! # The model (also in `docs/plan.md`)
//!
//! - Waves run one after the other: a wave is ready when the previous one ended, plus `bake`
//!   (the verify re-run after the bake is not timed).
//! - A host starts (takes a `max_servers` slot and one slot of each of its pools) when its
//!   first step may start, hosts in wave order, consecutive host starts at least `stagger`
//!   apart. It keeps its slots until its last step ends, including while it waits for a later
//!   window occurrence.
//! - A step takes exactly its `estimate`. On a host, steps start in route order (with
//!   `per_host > 1`, any step whose dependencies are done, up to `per_host` at once), after
//!   their barrier tasks ended on every host of the wave that runs them.
//! - A step starts only while the host's window set is open with at least
//!   `max(cutoff, estimate)` left (the contract: at least the cutoff and at least the
//!   estimate); otherwise it waits for the first occurrence that leaves that much. A step that
//!   starts in a later occurrence of its window set than the wave's first one is deferred: the
//!   wave does not fit in one occurrence.
//! - Failures, retries, `when` conditions (every task is assumed to run) and verification
//!   captures are not timed.

use super::{Plan, Wave};
use crate::window::{Interval, WindowSet};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};
use std::time::Duration;

/// How many occurrences to look through for one that leaves enough time for a step.
const OCCURRENCE_SEARCH: usize = 1000;

/// The expected timeline of a plan from an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forecast {
    /// The instant the forecast starts from (`--at`).
    pub at: DateTime<Utc>,
    /// Waves in order (those after a blocked wave are not simulated and absent).
    pub waves: Vec<WaveForecast>,
    /// When the last wave is expected to end; `None` when a wave is blocked.
    pub finish: Option<DateTime<Utc>>,
    /// The most occurrences of any one window set that the rollout uses.
    pub occurrences: usize,
    /// Waves that do not fit in one occurrence, or cannot run: one line each, with the numbers.
    pub warnings: Vec<String>,
}

/// The forecast of one wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaveForecast {
    /// Its name.
    pub name: String,
    /// Its hosts.
    pub hosts: usize,
    /// Task instances (steps over its hosts).
    pub task_instances: usize,
    /// Sum of the estimates of its task instances.
    #[serde(with = "super::duration")]
    pub work: Duration,
    /// When it may start: the forecast's instant, or the previous wave's end plus `bake`.
    pub ready: DateTime<Utc>,
    /// The occurrence open at `ready`, or the next, of each window set of its hosts.
    pub windows: Vec<WindowOccurrence>,
    /// When its first step starts.
    pub start: Option<DateTime<Utc>>,
    /// When its last step ends.
    pub end: Option<DateTime<Utc>>,
    /// The most occurrences of one of its window sets in which its steps start.
    pub occurrences: usize,
    /// Task instances that had to wait for a later occurrence.
    pub deferred: usize,
    /// Every step starts in the first occurrence it could use.
    pub fits: bool,
    /// Why the wave cannot run to its end, when it cannot.
    pub blocked: Option<String>,
}

/// The next occurrence of a window set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowOccurrence {
    /// Index into the plan's window sets.
    pub set: u32,
    /// The whole occurrence open at the wave's ready instant or next; `None`: the set never
    /// opens again.
    pub next: Option<Interval>,
}

/// Forecasts `plan` from `at`.
pub fn forecast(plan: &Plan, at: DateTime<Utc>) -> Forecast {
    let mut cursors: Vec<Cursor<'_>> = plan.windows.sets.iter().map(Cursor::new).collect();
    let mut waves = Vec::new();
    let mut warnings = Vec::new();
    let mut used: Vec<HashSet<DateTime<Utc>>> = vec![HashSet::new(); cursors.len()];
    let mut ready = at;
    let mut finish = Some(at);
    for wave in &plan.waves {
        let sim = Sim::new(plan, wave, ready, &mut cursors, true);
        let result = sim.run();
        let mut sets: Vec<u32> = wave.hosts.iter().map(|h| h.window).collect();
        sets.sort_unstable();
        sets.dedup();
        let windows = sets
            .iter()
            .map(|s| WindowOccurrence {
                set: *s,
                next: plan.windows.sets[*s as usize].occurrence_at_or_after(ready),
            })
            .collect();
        let occurrences = result
            .occurrences
            .iter()
            .map(HashSet::len)
            .max()
            .unwrap_or(0);
        for (set, ends) in result.occurrences.iter().enumerate() {
            used[set].extend(ends.iter().copied());
        }
        let fits = result.deferred == 0 && result.blocked.is_none();
        let task_instances: usize = wave
            .hosts
            .iter()
            .map(|h| plan.routes[h.route as usize].steps.len())
            .sum();
        let work = wave
            .hosts
            .iter()
            .flat_map(|h| &plan.routes[h.route as usize].steps)
            .map(|s| plan.tasks[s.task as usize].estimate)
            .sum();
        if let Some(reason) = &result.blocked {
            warnings.push(format!("wave `{}` cannot run: {reason}", wave.name));
        } else if result.deferred > 0 {
            warnings.push(deferral_warning(plan, wave, ready, &result, &mut cursors));
        }
        let forecast = WaveForecast {
            name: wave.name.clone(),
            hosts: wave.hosts.len(),
            task_instances,
            work,
            ready,
            windows,
            start: result.start,
            end: result.end,
            occurrences,
            deferred: result.deferred,
            fits,
            blocked: result.blocked.clone(),
        };
        waves.push(forecast);
        if result.blocked.is_some() {
            finish = None;
            break;
        }
        let end = result.end.unwrap_or(ready);
        finish = Some(end);
        ready = end + to_delta(plan.rollout.bake);
    }
    Forecast {
        at,
        waves,
        finish,
        occurrences: used.iter().map(HashSet::len).max().unwrap_or(0),
        warnings,
    }
}

fn deferral_warning(
    plan: &Plan,
    wave: &Wave,
    ready: DateTime<Utc>,
    result: &SimResult,
    cursors: &mut [Cursor<'_>],
) -> String {
    // The same wave without windows: how long the work takes under the limits alone.
    let free = Sim::new(plan, wave, ready, cursors, false).run();
    let needed = match (free.start, free.end) {
        (Some(s), Some(e)) => e - s,
        _ => TimeDelta::zero(),
    };
    let cutoff = to_delta(plan.windows.cutoff);
    let available = wave
        .hosts
        .first()
        .and_then(|h| plan.windows.sets[h.window as usize].current_or_next(ready))
        .map(|iv| (iv.duration() - cutoff).max(TimeDelta::zero()));
    let occurrences = result
        .occurrences
        .iter()
        .map(HashSet::len)
        .max()
        .unwrap_or(0);
    let mut text = format!(
        "wave `{}` does not fit in one window occurrence: {} task instance{} wait for a later one; \
         the wave needs {} under its limits",
        wave.name,
        result.deferred,
        if result.deferred == 1 { "" } else { "s" },
        human(needed),
    );
    if let Some(avail) = available {
        text.push_str(&format!(
            ", its first occurrence leaves {} after the {} cutoff",
            human(avail),
            human(cutoff)
        ));
    }
    text.push_str(&format!("; it spans {occurrences} occurrences"));
    text
}

/// A duration for messages: `1h30m`, `0s`.
pub fn human(d: TimeDelta) -> String {
    super::duration::format(d.to_std().unwrap_or_default())
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// A window set with the occurrence last found, since the simulation's clock only moves on.
struct Cursor<'a> {
    set: &'a WindowSet,
    current: Option<Interval>,
}

impl<'a> Cursor<'a> {
    fn new(set: &'a WindowSet) -> Self {
        Cursor { set, current: None }
    }

    /// The first instant at or after `t` when the set is open with at least `need` left, and
    /// the occurrence it lies in.
    fn fit(&mut self, t: DateTime<Utc>, need: TimeDelta) -> Option<(DateTime<Utc>, Interval)> {
        if let Some(iv) = self.current {
            if iv.contains(t) && iv.end - t >= need {
                return Some((t, iv));
            }
        }
        for iv in self.set.occurrences(t).take(OCCURRENCE_SEARCH) {
            let start = iv.start.max(t);
            if iv.end - start >= need {
                self.current = Some(iv);
                return Some((start, iv));
            }
        }
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A step ended on a host (wave position, step index).
    Done(usize, usize),
    /// A host waiting for a window may try again.
    Wake(usize),
    /// Pending hosts may try to start (stagger elapsed, or a host woke up).
    TryStart,
}

#[derive(Default)]
struct HostState {
    started: bool,
    finished: bool,
    /// Per step: 0 not started, 1 running, 2 done.
    step: Vec<u8>,
    running: u32,
    done: usize,
    wake_at: Option<DateTime<Utc>>,
}

struct SimResult {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    deferred: usize,
    blocked: Option<String>,
    /// Per window set, the ends of the occurrences steps started in.
    occurrences: Vec<HashSet<DateTime<Utc>>>,
}

struct Sim<'p, 'c, 'w> {
    plan: &'p Plan,
    wave: &'p Wave,
    cursors: &'c mut [Cursor<'w>],
    windows: bool,
    now: DateTime<Utc>,
    cutoff: TimeDelta,
    per_host: u32,
    stagger: TimeDelta,
    free_slots: Option<u32>,
    pool_free: Vec<u32>,
    host_pools: Vec<Vec<usize>>,
    barrier_left: Vec<(u32, usize)>,
    barrier_waiters: Vec<Vec<usize>>,
    hosts: Vec<HostState>,
    pending: BTreeSet<usize>,
    last_start: Option<DateTime<Utc>>,
    try_start_at: Option<DateTime<Utc>>,
    events: BinaryHeap<Reverse<(DateTime<Utc>, u64, Event)>>,
    seq: u64,
    /// Per window set, the end of the first occurrence a step of the wave started in.
    first_occurrence: Vec<Option<DateTime<Utc>>>,
    result: SimResult,
}

impl<'p, 'c, 'w> Sim<'p, 'c, 'w> {
    fn new(
        plan: &'p Plan,
        wave: &'p Wave,
        ready: DateTime<Utc>,
        cursors: &'c mut [Cursor<'w>],
        windows: bool,
    ) -> Self {
        let n = wave.hosts.len();
        let mut host_pools = vec![Vec::new(); n];
        let mut position = std::collections::HashMap::new();
        for (i, h) in wave.hosts.iter().enumerate() {
            position.insert(h.host, i);
        }
        for (p, pool) in plan.limits.pools.iter().enumerate() {
            for h in &pool.hosts {
                if let Some(&i) = position.get(h) {
                    host_pools[i].push(p);
                }
            }
        }
        let barrier_left = wave
            .barriers
            .iter()
            .map(|b| (b.task, b.hosts.len()))
            .collect();
        let hosts = wave
            .hosts
            .iter()
            .map(|h| HostState {
                step: vec![0; plan.routes[h.route as usize].steps.len()],
                ..HostState::default()
            })
            .collect();
        Sim {
            plan,
            wave,
            cursors,
            windows,
            now: ready,
            cutoff: to_delta(plan.windows.cutoff),
            per_host: plan.limits.per_host.max(1),
            stagger: to_delta(plan.limits.stagger),
            free_slots: plan.limits.max_servers.map(|m| m.max(1)),
            pool_free: plan.limits.pools.iter().map(|p| p.limit.max(1)).collect(),
            host_pools,
            barrier_left,
            barrier_waiters: vec![Vec::new(); wave.barriers.len()],
            hosts,
            pending: (0..n).collect(),
            last_start: None,
            try_start_at: None,
            events: BinaryHeap::new(),
            seq: 0,
            first_occurrence: vec![None; plan.windows.sets.len()],
            result: SimResult {
                start: None,
                end: None,
                deferred: 0,
                blocked: None,
                occurrences: vec![HashSet::new(); plan.windows.sets.len()],
            },
        }
    }

    fn push(&mut self, at: DateTime<Utc>, event: Event) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, event)));
    }

    fn run(mut self) -> SimResult {
        self.start_hosts();
        while self.result.blocked.is_none() {
            let Some(Reverse((at, _, event))) = self.events.pop() else {
                break;
            };
            self.now = at;
            match event {
                Event::Done(h, s) => self.step_done(h, s),
                Event::Wake(h) => {
                    if self.hosts[h].wake_at == Some(at) {
                        self.hosts[h].wake_at = None;
                        if self.hosts[h].started {
                            self.progress(h);
                        } else {
                            self.pending.insert(h);
                            self.start_hosts();
                        }
                    }
                }
                Event::TryStart => {
                    if self.try_start_at == Some(at) {
                        self.try_start_at = None;
                    }
                    self.start_hosts();
                }
            }
        }
        if self.result.blocked.is_none() && self.hosts.iter().any(|h| !h.finished) {
            let stuck = self.hosts.iter().position(|h| !h.finished).unwrap_or(0);
            self.result.blocked = Some(format!(
                "host `{}` waits for a barrier that never clears",
                self.host_name(stuck)
            ));
        }
        self.result
    }

    fn host_name(&self, h: usize) -> &str {
        let ix = self.wave.hosts[h].host as usize;
        self.plan.hosts.get(ix).map_or("?", |x| x.name.as_str())
    }

    fn steps(&self, h: usize) -> &'p [super::Step] {
        &self.plan.routes[self.wave.hosts[h].route as usize].steps
    }

    /// When the step may start at or after now given the host's windows; `None`: never.
    fn fit(&mut self, h: usize, s: usize) -> Option<(DateTime<Utc>, Option<Interval>)> {
        if !self.windows {
            return Some((self.now, None));
        }
        let task = self.steps(h)[s].task as usize;
        let need = self.cutoff.max(to_delta(self.plan.tasks[task].estimate));
        let set = self.wave.hosts[h].window as usize;
        self.cursors[set]
            .fit(self.now, need)
            .map(|(t, iv)| (t, Some(iv)))
    }

    fn never_fits(&mut self, h: usize, s: usize) {
        let task = &self.plan.tasks[self.steps(h)[s].task as usize];
        self.result.blocked = Some(format!(
            "task `{}` (estimate {}) never fits in the window of host `{}` from {}",
            task.name,
            human(to_delta(task.estimate)),
            self.host_name(h),
            self.now.format("%Y-%m-%d %H:%M UTC")
        ));
    }

    fn host_fits_limits(&self, h: usize) -> bool {
        self.free_slots.is_none_or(|f| f > 0)
            && self.host_pools[h].iter().all(|p| self.pool_free[*p] > 0)
    }

    fn start_hosts(&mut self) {
        loop {
            if self.free_slots == Some(0) {
                return;
            }
            if let Some(last) = self.last_start {
                let next = last + self.stagger;
                if next > self.now {
                    if self.try_start_at != Some(next) {
                        self.try_start_at = Some(next);
                        self.push(next, Event::TryStart);
                    }
                    return;
                }
            }
            let Some(h) = self
                .pending
                .iter()
                .copied()
                .find(|&h| self.host_fits_limits(h))
            else {
                return;
            };
            self.pending.remove(&h);
            if self.steps(h).is_empty() {
                self.hosts[h].started = true;
                self.hosts[h].finished = true;
                continue;
            }
            // A host whose first step waits for a barrier takes no slot until it clears, so
            // that waiting hosts cannot starve the hosts that would clear it.
            if let Some(b) = self.uncleared_barrier(h, 0) {
                self.wait_for_barrier(b, h);
                continue;
            }
            match self.fit(h, 0) {
                None => {
                    self.never_fits(h, 0);
                    return;
                }
                Some((t, _)) if t > self.now => self.wake(h, t),
                Some(_) => {
                    self.hosts[h].started = true;
                    if let Some(f) = self.free_slots.as_mut() {
                        *f -= 1;
                    }
                    for &p in &self.host_pools[h] {
                        self.pool_free[p] -= 1;
                    }
                    self.last_start = Some(self.now);
                    self.progress(h);
                }
            }
        }
    }

    fn wake(&mut self, h: usize, t: DateTime<Utc>) {
        if self.hosts[h].wake_at != Some(t) {
            self.hosts[h].wake_at = Some(t);
            self.push(t, Event::Wake(h));
        }
    }

    fn uncleared_barrier(&self, h: usize, s: usize) -> Option<u32> {
        self.steps(h)[s]
            .barriers
            .iter()
            .copied()
            .find(|b| !self.barrier_clear(*b))
    }

    fn wait_for_barrier(&mut self, task: u32, h: usize) {
        if let Some(i) = self.wave.barriers.iter().position(|x| x.task == task) {
            if !self.barrier_waiters[i].contains(&h) {
                self.barrier_waiters[i].push(h);
            }
        }
    }

    fn barrier_clear(&self, task: u32) -> bool {
        self.barrier_left
            .iter()
            .find(|(t, _)| *t == task)
            .is_none_or(|(_, left)| *left == 0)
    }

    /// Starts what can start on host `h` now.
    fn progress(&mut self, h: usize) {
        let steps = self.steps(h);
        for (s, step) in steps.iter().enumerate() {
            if self.hosts[h].running >= self.per_host {
                return;
            }
            if self.hosts[h].step[s] != 0 {
                continue;
            }
            let deps_done = step
                .after
                .iter()
                .all(|a| self.hosts[h].step[*a as usize] == 2);
            let blocking = self.uncleared_barrier(h, s);
            if !deps_done || blocking.is_some() {
                if let Some(b) = blocking {
                    self.wait_for_barrier(b, h);
                }
                if self.per_host == 1 {
                    return;
                }
                continue;
            }
            match self.fit(h, s) {
                None => {
                    self.never_fits(h, s);
                    return;
                }
                Some((t, _)) if t > self.now => {
                    self.wake(h, t);
                    return;
                }
                Some((t, iv)) => {
                    if let Some(iv) = iv {
                        // Occurrences are told apart by their end: their start is cut at the
                        // instant they were looked up from.
                        let set = self.wave.hosts[h].window as usize;
                        match self.first_occurrence[set] {
                            None => self.first_occurrence[set] = Some(iv.end),
                            Some(first) if first != iv.end => self.result.deferred += 1,
                            Some(_) => {}
                        }
                        self.result.occurrences[set].insert(iv.end);
                    }
                    let estimate = to_delta(self.plan.tasks[step.task as usize].estimate);
                    self.hosts[h].step[s] = 1;
                    self.hosts[h].running += 1;
                    self.result.start = Some(self.result.start.map_or(t, |x| x.min(t)));
                    self.push(t + estimate, Event::Done(h, s));
                }
            }
        }
    }

    fn step_done(&mut self, h: usize, s: usize) {
        let task = self.steps(h)[s].task;
        let state = &mut self.hosts[h];
        state.step[s] = 2;
        state.running -= 1;
        state.done += 1;
        self.result.end = Some(self.result.end.map_or(self.now, |e| e.max(self.now)));
        if let Some(i) = self.barrier_left.iter().position(|(t, _)| *t == task) {
            self.barrier_left[i].1 = self.barrier_left[i].1.saturating_sub(1);
            if self.barrier_left[i].1 == 0 {
                let mut woke_unstarted = false;
                for waiter in std::mem::take(&mut self.barrier_waiters[i]) {
                    if !self.hosts[waiter].started {
                        self.pending.insert(waiter);
                        woke_unstarted = true;
                    } else if waiter != h {
                        self.progress(waiter);
                    }
                }
                if woke_unstarted {
                    self.start_hosts();
                }
            }
        }
        if self.hosts[h].done == self.hosts[h].step.len() {
            self.hosts[h].finished = true;
            if let Some(f) = self.free_slots.as_mut() {
                *f += 1;
            }
            for &p in &self.host_pools[h] {
                self.pool_free[p] += 1;
            }
            self.start_hosts();
        } else {
            self.progress(h);
        }
    }
}
