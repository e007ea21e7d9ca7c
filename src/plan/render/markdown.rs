//! The plan as a markdown pull-request comment: a summary table, windows, limits, one section
//! per wave (host lists collapsible, tasks as a table) and the forecast timeline.

use super::text::{limits_lines, on_expire, rollout_line};
use super::{capture_notes, host_names, route_groups, step_notes, utc, wave_windows};
use crate::plan::duration::format as dur;
use crate::plan::forecast::Forecast;
use crate::plan::Plan;
use std::fmt::Write as _;

/// Renders the plan (and the forecast when given) as markdown.
pub fn markdown(plan: &Plan, forecast: Option<&Forecast>) -> String {
    let mut o = String::new();
    let _ = write_markdown(&mut o, plan, forecast);
    o
}

/// Escapes what would break a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

fn write_markdown(o: &mut String, plan: &Plan, forecast: Option<&Forecast>) -> std::fmt::Result {
    writeln!(o, "## sflow plan: `{}`", plan.workflow)?;
    writeln!(o)?;
    if let Some(d) = &plan.description {
        writeln!(o, "{d}")?;
        writeln!(o)?;
    }
    let hosts: usize = plan.waves.iter().map(|w| w.hosts.len()).sum();
    writeln!(o, "| | |")?;
    writeln!(o, "|---|---|")?;
    writeln!(
        o,
        "| change | {} |",
        plan.change.as_deref().map_or("(none)".into(), cell)
    )?;
    writeln!(o, "| plan hash | `sha256:{}` |", plan.hash)?;
    for (k, v) in &plan.params {
        writeln!(o, "| param `{k}` | `{}` |", cell(&v.to_text()))?;
    }
    writeln!(
        o,
        "| scope | {hosts} hosts in {} waves, {} task instances |",
        plan.waves.len(),
        plan.task_instances()
    )?;
    writeln!(
        o,
        "| windows | cutoff {}, on_expire {} |",
        dur(plan.windows.cutoff),
        on_expire(plan.windows.on_expire)
    )?;
    writeln!(o, "| limits | {} |", cell(&limits_lines(plan).join("; ")))?;
    writeln!(o, "| rollout | {} |", cell(&rollout_line(plan)))?;
    writeln!(o)?;

    if !plan.windows.declared.is_empty() {
        writeln!(o, "### Windows")?;
        writeln!(o)?;
        writeln!(o, "| target | window |")?;
        writeln!(o, "|---|---|")?;
        for w in &plan.windows.declared {
            writeln!(o, "| {} | `{}` |", cell(&w.target), cell(w.spec.source()))?;
        }
        if let Some(set) = plan.windows.sets.first() {
            if !set.blackouts.is_empty() {
                let days: Vec<String> = set.blackouts.iter().map(ToString::to_string).collect();
                writeln!(o, "| blackout | {} |", days.join(", "))?;
            }
        }
        writeln!(o)?;
    }

    for (i, wave) in plan.waves.iter().enumerate() {
        writeln!(
            o,
            "### Wave {}: `{}` ({} host{})",
            i + 1,
            wave.name,
            wave.hosts.len(),
            if wave.hosts.len() == 1 { "" } else { "s" }
        )?;
        writeln!(o)?;
        for line in wave_windows(plan, forecast, i) {
            writeln!(o, "- window {}", line.replace('"', "`"))?;
        }
        writeln!(o)?;
        for (route, hosts) in route_groups(wave) {
            let r = &plan.routes[route as usize];
            writeln!(
                o,
                "<details><summary>{} host{}: {}</summary>",
                hosts.len(),
                if hosts.len() == 1 { "" } else { "s" },
                host_names(plan, &hosts)
            )?;
            writeln!(o)?;
            for h in &hosts {
                if let Some(host) = plan.hosts.get(*h as usize) {
                    writeln!(o, "- `{}` ({})", host.name, host.address)?;
                }
            }
            writeln!(o)?;
            writeln!(o, "</details>")?;
            writeln!(o)?;
            writeln!(o, "| # | task | command | notes |")?;
            writeln!(o, "|---|---|---|---|")?;
            for (n, step) in r.steps.iter().enumerate() {
                let task = &plan.tasks[step.task as usize];
                let names = |t| plan.capture_name(t);
                let mut command = format!("`{}`", task.run.display(plan, &names));
                if let Some(rb) = &task.rollback {
                    command.push_str(&format!("<br>rollback: `{}`", rb.display(plan, &names)));
                }
                writeln!(
                    o,
                    "| {} | {} | {} | {} |",
                    n + 1,
                    task.name,
                    cell(&command),
                    cell(&step_notes(plan, r, step).join("; "))
                )?;
            }
            for note in capture_notes(plan, r) {
                writeln!(o)?;
                writeln!(o, "{note}")?;
            }
            writeln!(o)?;
        }
    }

    if let Some(f) = forecast {
        writeln!(o, "### Forecast from {}", utc(f.at))?;
        writeln!(o)?;
        writeln!(
            o,
            "| wave | hosts | tasks | work | start | end | occurrences | fits |"
        )?;
        writeln!(o, "|---|---:|---:|---:|---|---|---:|---|")?;
        for w in &f.waves {
            writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
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
                    "**no**"
                }
            )?;
        }
        writeln!(o)?;
        match f.finish {
            Some(end) => writeln!(o, "Expected to finish **{}**.", utc(end))?,
            None => writeln!(o, "**Cannot finish: a wave is blocked.**")?,
        }
        for w in &f.warnings {
            writeln!(o)?;
            writeln!(o, "> **warning:** {}", cell(w))?;
        }
    }
    Ok(())
}
