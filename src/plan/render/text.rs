//! The plan as plain text for a reviewer's terminal: header, windows, limits, rollout policy,
//! waves with their hosts, windows and tasks, and the forecast timeline.

use super::{capture_notes, host_names, route_groups, step_notes, utc, wave_windows};
use crate::plan::duration::format as dur;
use crate::plan::forecast::{human, Forecast};
use crate::plan::{HostCount, OnExpire, Plan, RollbackScope};
use std::fmt::Write as _;

/// Renders the plan (and the forecast when given) as text.
pub fn text(plan: &Plan, forecast: Option<&Forecast>) -> String {
    let mut o = String::new();
    let _ = write_text(&mut o, plan, forecast);
    o
}

pub(crate) fn on_expire(e: OnExpire) -> &'static str {
    match e {
        OnExpire::Finish => "finish",
        OnExpire::Abort => "abort",
        OnExpire::Rollback => "rollback",
    }
}

pub(crate) fn count(c: HostCount) -> String {
    match c {
        HostCount::Count(n) => n.to_string(),
        HostCount::Percent(p) => format!("{p}%"),
    }
}

pub(crate) fn limits_lines(plan: &Plan) -> Vec<String> {
    let l = &plan.limits;
    let mut out = vec![format!(
        "max_servers {}, per_host {}, stagger {}{}",
        l.max_servers
            .map_or_else(|| "unlimited".to_string(), |m| m.to_string()),
        l.per_host,
        dur(l.stagger),
        if l.adaptive { ", adaptive" } else { "" }
    )];
    for p in &l.pools {
        out.push(format!(
            "{}: at most {} of {} host{}",
            p.name,
            p.limit,
            p.hosts.len(),
            if p.hosts.len() == 1 { "" } else { "s" }
        ));
    }
    out
}

pub(crate) fn rollout_line(plan: &Plan) -> String {
    let r = &plan.rollout;
    let verify: Vec<&str> = r
        .verify
        .iter()
        .map(|t| plan.tasks[*t as usize].name.as_str())
        .collect();
    format!(
        "gate: {}; max_failures {} per wave{}; auto_rollback {}{}; bake {}",
        if verify.is_empty() {
            "none".to_string()
        } else {
            verify.join(", ")
        },
        count(r.max_failures),
        r.failure_budget
            .map_or_else(String::new, |b| format!(", {} in the whole run", count(b))),
        if r.auto_rollback { "on" } else { "off" },
        if r.auto_rollback {
            match r.rollback_scope {
                RollbackScope::Wave => " (scope: the failing wave)",
                RollbackScope::All => " (scope: every changed host, newest wave first)",
            }
        } else {
            ""
        },
        dur(r.bake)
    )
}

fn write_text(o: &mut String, plan: &Plan, forecast: Option<&Forecast>) -> std::fmt::Result {
    writeln!(o, "plan for workflow {}", plan.workflow)?;
    if let Some(d) = &plan.description {
        writeln!(o, "  description  {d}")?;
    }
    writeln!(
        o,
        "  change       {}",
        plan.change.as_deref().unwrap_or("(none)")
    )?;
    writeln!(o, "  plan hash    sha256:{}", plan.hash)?;
    for (k, v) in &plan.params {
        writeln!(o, "  param        {k} = {}", v.to_text())?;
    }
    let hosts: usize = plan.waves.iter().map(|w| w.hosts.len()).sum();
    writeln!(
        o,
        "  scope        {hosts} host{} in {} wave{}, {} task instances",
        if hosts == 1 { "" } else { "s" },
        plan.waves.len(),
        if plan.waves.len() == 1 { "" } else { "s" },
        plan.task_instances()
    )?;
    if plan.approve.is_some() || !plan.secrets.is_empty() {
        if let Some(a) = &plan.approve {
            writeln!(
                o,
                "  approval     {}",
                a.display(plan, &|t| plan.capture_name(t))
            )?;
        }
        for s in &plan.secrets {
            writeln!(o, "  secret       {} ({:?})", s.name, s.source)?;
        }
    }

    writeln!(o)?;
    writeln!(
        o,
        "windows (cutoff {}, on_expire {})",
        dur(plan.windows.cutoff),
        on_expire(plan.windows.on_expire)
    )?;
    if plan.windows.declared.is_empty() {
        writeln!(o, "  none: every host is always open")?;
    }
    for w in &plan.windows.declared {
        writeln!(o, "  {:<20} \"{}\"", w.target, w.spec)?;
    }
    if let Some(set) = plan.windows.sets.first() {
        if !set.blackouts.is_empty() {
            let days: Vec<String> = set.blackouts.iter().map(ToString::to_string).collect();
            writeln!(o, "  blackout             {}", days.join(", "))?;
        }
    }

    writeln!(o)?;
    writeln!(o, "limits")?;
    for line in limits_lines(plan) {
        writeln!(o, "  {line}")?;
    }
    writeln!(o)?;
    writeln!(o, "rollout")?;
    writeln!(o, "  {}", rollout_line(plan))?;

    for (i, wave) in plan.waves.iter().enumerate() {
        writeln!(o)?;
        writeln!(
            o,
            "wave {} `{}`: {} host{}",
            i + 1,
            wave.name,
            wave.hosts.len(),
            if wave.hosts.len() == 1 { "" } else { "s" }
        )?;
        for line in wave_windows(plan, forecast, i) {
            writeln!(o, "  window  {line}")?;
        }
        for (route, hosts) in route_groups(wave) {
            let r = &plan.routes[route as usize];
            writeln!(o, "  on {}:", host_names(plan, &hosts))?;
            for (n, step) in r.steps.iter().enumerate() {
                let task = &plan.tasks[step.task as usize];
                writeln!(
                    o,
                    "    {}. {}  [{}]",
                    n + 1,
                    task.name,
                    step_notes(plan, r, step).join("; ")
                )?;
                let names = |t| plan.capture_name(t);
                for line in task.run.display(plan, &names).lines() {
                    writeln!(o, "         $ {line}")?;
                }
                if let Some(rb) = &task.rollback {
                    writeln!(o, "         rollback: {}", rb.display(plan, &names))?;
                }
            }
            for note in capture_notes(plan, r) {
                writeln!(o, "    {note}")?;
            }
        }
    }

    if let Some(f) = forecast {
        writeln!(o)?;
        write_forecast(o, f)?;
    }
    Ok(())
}

fn write_forecast(o: &mut String, f: &Forecast) -> std::fmt::Result {
    writeln!(o, "forecast from {}", utc(f.at))?;
    writeln!(
        o,
        "  {:<12} {:>5} {:>6} {:>8}  {:<20} {:<20} {:>4}  fits",
        "wave", "hosts", "tasks", "work", "start", "end", "occ"
    )?;
    for w in &f.waves {
        writeln!(
            o,
            "  {:<12} {:>5} {:>6} {:>8}  {:<20} {:<20} {:>4}  {}",
            w.name,
            w.hosts,
            w.task_instances,
            dur(w.work),
            w.start.map_or_else(|| "-".into(), utc),
            w.end.map_or_else(|| "-".into(), utc),
            w.occurrences,
            if w.blocked.is_some() {
                "blocked"
            } else if w.fits {
                "yes"
            } else {
                "no"
            }
        )?;
    }
    match f.finish {
        Some(end) => writeln!(
            o,
            "  expected to finish {} ({} after the start of the forecast), using {} occurrence{} of its busiest window",
            utc(end),
            human(end - f.at),
            f.occurrences,
            if f.occurrences == 1 { "" } else { "s" }
        )?,
        None => writeln!(o, "  cannot finish: a wave is blocked")?,
    }
    for w in &f.warnings {
        writeln!(o, "  warning: {w}")?;
    }
    Ok(())
}
