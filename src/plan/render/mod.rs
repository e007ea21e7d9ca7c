//! Plan renderers: a [`Plan`] (and its [`Forecast`]) in, text for reviewers, a markdown PR
//! comment, or a Graphviz graph out. The JSON form is [`Plan::to_json`].

mod dot;
mod markdown;
mod text;

pub use dot::dot;
pub use markdown::markdown;
pub use text::text;

use super::forecast::Forecast;
use super::{hostlist, CapturePoint, Pass, Plan, Route, Step, Wave};
use crate::window::Interval;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The hosts of a wave grouped by route, in wave order of each route's first host.
pub(crate) fn route_groups(wave: &Wave) -> Vec<(u32, Vec<u32>)> {
    let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
    for h in &wave.hosts {
        match groups.iter_mut().find(|(r, _)| *r == h.route) {
            Some((_, hosts)) => hosts.push(h.host),
            None => groups.push((h.route, vec![h.host])),
        }
    }
    groups
}

/// Host names of `hosts` (plan indices), collapsed.
pub(crate) fn host_names(plan: &Plan, hosts: &[u32]) -> String {
    let names: Vec<&str> = hosts
        .iter()
        .filter_map(|h| plan.hosts.get(*h as usize))
        .map(|h| h.name.as_str())
        .collect();
    hostlist::collapse(&names)
}

/// `sudo`, `local`, `when`, `after`, barriers, retry: the annotations of a step.
pub(crate) fn step_notes(plan: &Plan, route: &Route, step: &Step) -> Vec<String> {
    let task = &plan.tasks[step.task as usize];
    let mut notes = Vec::new();
    if !step.after.is_empty() {
        let names: Vec<&str> = step
            .after
            .iter()
            .map(|s| {
                plan.tasks[route.steps[*s as usize].task as usize]
                    .name
                    .as_str()
            })
            .collect();
        notes.push(format!("after {}", names.join(", ")));
    }
    if !step.barriers.is_empty() {
        let names: Vec<&str> = step
            .barriers
            .iter()
            .map(|t| plan.tasks[*t as usize].name.as_str())
            .collect();
        notes.push(format!("waits for {} on all its hosts", names.join(", ")));
    }
    if let Some(when) = &task.when {
        notes.push(format!(
            "when {}",
            when.display(plan, &|t| plan.capture_name(t))
        ));
    }
    if task.sudo {
        notes.push("sudo".into());
    }
    if task.local {
        notes.push("on the controller".into());
    }
    if task.retry > 0 {
        notes.push(format!("retry {}", task.retry));
    }
    if task.allow_failure {
        notes.push("may fail".into());
    }
    if let Some(c) = &task.capture {
        notes.push(format!("captures {c}"));
    }
    notes.push(format!(
        "estimate {}",
        super::duration::format(task.estimate)
    ));
    notes
}

/// The verification points of a route, as `verify NAME: before X, after Y`.
pub(crate) fn capture_notes(plan: &Plan, route: &Route) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let point = |at: CapturePoint| -> String {
        let name = |s: u32| {
            route
                .steps
                .get(s as usize)
                .map_or("?", |st| plan.tasks[st.task as usize].name.as_str())
        };
        match at {
            CapturePoint::Start => "at the start".into(),
            CapturePoint::End => "at the end".into(),
            CapturePoint::BeforeStep(s) => format!("before {}", name(s)),
            CapturePoint::AfterStep(s) => format!("after {}", name(s)),
        }
    };
    for v in 0..plan.verifies.len() {
        let runs: Vec<String> = route
            .captures
            .iter()
            .filter(|c| c.verify as usize == v)
            .map(|c| {
                let pass = match c.pass {
                    Pass::Before => "first capture",
                    Pass::After => "second capture",
                };
                format!("{pass} {}", point(c.at))
            })
            .collect();
        if !runs.is_empty() {
            out.push(format!(
                "verify {}: {}",
                plan.verifies[v].name,
                runs.join(", ")
            ));
        }
    }
    out
}

/// `2026-11-29 01:00–03:00 UTC`, with dates on both ends when they differ, and each end's
/// zone abbreviation when a daylight-saving change lies between them.
pub(crate) fn span_in(iv: &Interval, tz: Tz) -> String {
    if iv.is_unbounded() {
        return format!(
            "from {} (always open)",
            iv.start.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
        );
    }
    let s = iv.start.with_timezone(&tz);
    let e = iv.end.with_timezone(&tz);
    let (sz, ez) = (s.format("%Z").to_string(), e.format("%Z").to_string());
    let start = if sz == ez {
        s.format("%H:%M").to_string()
    } else {
        format!("{} {sz}", s.format("%H:%M"))
    };
    if s.date_naive() == e.date_naive() {
        format!(
            "{} {start}–{} {}",
            s.format("%Y-%m-%d"),
            e.format("%H:%M"),
            zone_label(tz, &ez)
        )
    } else {
        format!(
            "{} {start} – {} {} {}",
            s.format("%Y-%m-%d"),
            e.format("%Y-%m-%d"),
            e.format("%H:%M"),
            zone_label(tz, &ez)
        )
    }
}

fn zone_label(tz: Tz, abbreviation: &str) -> String {
    if tz == Tz::UTC {
        "UTC".into()
    } else {
        format!("{} ({abbreviation})", tz.name())
    }
}

/// An instant in UTC for tables.
pub(crate) fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The wave's next occurrences, one line per window set: in each zone of the set, then UTC.
pub(crate) fn wave_windows(
    plan: &Plan,
    forecast: Option<&Forecast>,
    wave_index: usize,
) -> Vec<String> {
    let wave = &plan.waves[wave_index];
    let mut sets: Vec<u32> = wave.hosts.iter().map(|h| h.window).collect();
    sets.sort_unstable();
    sets.dedup();
    let fw = forecast.and_then(|f| f.waves.get(wave_index));
    sets.iter()
        .map(|s| {
            let set = &plan.windows.sets[*s as usize];
            let specs: Vec<String> = if set.windows.is_empty() {
                vec!["no window (always open)".into()]
            } else {
                set.windows.iter().map(|w| format!("\"{w}\"")).collect()
            };
            let mut line = specs.join(" and ");
            if let Some(next) = fw
                .and_then(|f| f.windows.iter().find(|o| o.set == *s))
                .map(|o| o.next)
            {
                match next {
                    None => line.push_str(": never opens again"),
                    Some(iv) => {
                        let mut zones: Vec<Tz> =
                            set.windows.iter().flat_map(|w| w.zones()).collect();
                        zones.sort_by_key(|z| z.name());
                        zones.dedup();
                        zones.retain(|z| *z != Tz::UTC);
                        let mut shown: Vec<String> =
                            zones.iter().map(|z| span_in(&iv, *z)).collect();
                        shown.push(span_in(&iv, Tz::UTC));
                        line.push_str(&format!(": next {}", shown.join(" = ")));
                    }
                }
            }
            line
        })
        .collect()
}
