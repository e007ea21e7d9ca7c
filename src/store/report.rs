//! Renders what the store holds for people and programs: the run list (`sflow runs`), one run's
//! report (`sflow show`, human / JSON / Markdown) and its commands with outputs (`sflow log`).

use super::{LogEntry, RunDetail, RunStatus, RunSummary};
use chrono::{DateTime, Utc};
use std::fmt::Write as _;

/// Output formats of `sflow show` (and, without Markdown, of `sflow runs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// Aligned text for a terminal.
    Human,
    /// One JSON document.
    Json,
    /// A Markdown report, e.g. for a change ticket.
    Markdown,
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn took(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> String {
    end.and_then(|e| (e - start).to_std().ok())
        .map(|d| {
            humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
        })
        .unwrap_or_else(|| "-".to_owned())
}

fn counts(s: &RunSummary) -> String {
    if s.hosts.is_empty() {
        return "-".to_owned();
    }
    s.hosts
        .iter()
        .map(|(state, n)| format!("{state} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn status(s: RunStatus) -> &'static str {
    s.as_str()
}

/// The run list as a table (`human`) or a JSON array (`json`).
pub fn render_runs(runs: &[RunSummary], format: ShowFormat) -> String {
    if format == ShowFormat::Json {
        return serde_json::to_string_pretty(runs).unwrap_or_default() + "\n";
    }
    let header = [
        "ID", "WORKFLOW", "STATUS", "STARTED", "OPERATOR", "CHANGE", "HOSTS",
    ];
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.workflow.clone(),
                status(r.status).to_owned(),
                when(r.started_at),
                r.operator.clone(),
                r.change_ticket.clone().unwrap_or_else(|| "-".to_owned()),
                counts(r),
            ]
        })
        .collect();
    let table = table(&header, &rows, format == ShowFormat::Markdown);
    if runs.is_empty() {
        "no runs recorded\n".to_owned()
    } else {
        table
    }
}

fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]], markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(N));
        for r in rows {
            let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        return out;
    }
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    out.push_str(&line(header.to_vec()));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// One run's report, optionally limited to one host.
pub fn render_show(run: &RunDetail, host: Option<&str>, format: ShowFormat) -> String {
    let hosts: Vec<_> = run
        .hosts
        .iter()
        .filter(|h| host.is_none_or(|name| h.host == name))
        .collect();
    let events: Vec<_> = run
        .events
        .iter()
        .filter(|e| host.is_none_or(|name| e.host.is_none() || e.host.as_deref() == Some(name)))
        .collect();
    if format == ShowFormat::Json {
        let mut v = serde_json::to_value(run).unwrap_or_default();
        v["hosts"] = serde_json::to_value(&hosts).unwrap_or_default();
        v["events"] = serde_json::to_value(&events).unwrap_or_default();
        return serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    }
    let md = format == ShowFormat::Markdown;
    let s = &run.summary;
    let mut out = String::new();
    if md {
        let _ = writeln!(out, "# Run {} of `{}`\n", s.id, s.workflow);
    } else {
        let _ = writeln!(out, "run {} of {} ({})", s.id, s.workflow, s.workflow_path);
    }
    let facts = [
        ("status", status(s.status).to_owned()),
        ("operator", s.operator.clone()),
        (
            "change",
            s.change_ticket.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        ("started", when(s.started_at)),
        ("ended", s.ended_at.map_or_else(|| "-".to_owned(), when)),
        ("took", took(s.started_at, s.ended_at)),
        ("plan hash", run.plan_hash.clone()),
        ("hosts", counts(s)),
    ];
    for (k, v) in facts {
        if md {
            let _ = writeln!(out, "- **{k}**: {v}");
        } else {
            let _ = writeln!(out, "  {k:<10} {v}");
        }
    }
    if !run.params.is_empty() {
        let p: Vec<String> = run.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if md {
            let _ = writeln!(out, "- **params**: {}", p.join(", "));
        } else {
            let _ = writeln!(out, "  {:<10} {}", "params", p.join(", "));
        }
    }

    if !events.is_empty() {
        let _ = writeln!(out, "{}", if md { "\n## Timeline\n" } else { "\ntimeline" });
        let rows: Vec<[String; 4]> = events
            .iter()
            .map(|e| {
                let mut what = Vec::new();
                if let Some(w) = &e.wave {
                    what.push(format!("wave {w}"));
                }
                if let Some(h) = &e.host {
                    what.push(format!("host {h}"));
                }
                if let Some(t) = &e.task {
                    what.push(format!("task {t}"));
                }
                let detail = match &e.detail {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                [when(e.at), e.kind.clone(), what.join(" "), detail]
            })
            .collect();
        out.push_str(&indent(
            &table(&["AT", "EVENT", "WHERE", "DETAIL"], &rows, md),
            md,
        ));
    }

    let _ = writeln!(out, "{}", if md { "\n## Hosts\n" } else { "\nhosts" });
    let mut rows: Vec<[String; 6]> = Vec::new();
    for h in &hosts {
        if h.tasks.is_empty() {
            rows.push([
                h.host.clone(),
                h.state.clone(),
                "-".into(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for (i, t) in h.tasks.iter().enumerate() {
            let last = t.attempts.last();
            let captures: Vec<String> = t
                .captures
                .iter()
                .map(|(k, v)| format!("{k}={}", v.trim()))
                .collect();
            rows.push([
                if i == 0 {
                    h.host.clone()
                } else {
                    String::new()
                },
                if i == 0 {
                    h.state.clone()
                } else {
                    String::new()
                },
                t.task.clone(),
                format!(
                    "{}{}",
                    t.state,
                    if t.attempts.len() > 1 {
                        format!(" ({} attempts)", t.attempts.len())
                    } else {
                        String::new()
                    }
                ),
                last.map(|a| {
                    let code = a
                        .exit_code
                        .map_or_else(|| "-".to_owned(), |c| c.to_string());
                    let ms = a
                        .duration_ms
                        .map_or_else(|| "-".to_owned(), |d| format!("{:.1}s", d as f64 / 1000.0));
                    format!("exit {code}, {ms}")
                })
                .unwrap_or_default(),
                captures.join(" "),
            ]);
        }
    }
    out.push_str(&indent(
        &table(
            &["HOST", "STATE", "TASK", "RESULT", "EXIT, TIME", "CAPTURED"],
            &rows,
            md,
        ),
        md,
    ));
    out
}

fn indent(text: &str, markdown: bool) -> String {
    if markdown {
        return text.to_owned();
    }
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// The commands of a run with their outputs, in the order they started.
pub fn render_log(entries: &[LogEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let code = e
            .exit_code
            .map_or_else(|| "-".to_owned(), |c| c.to_string());
        let _ = writeln!(
            out,
            "== {} / {} (attempt {}) {} exit {code} at {}",
            e.host,
            e.task,
            e.attempt,
            e.state,
            when(e.started_at)
        );
        let _ = writeln!(out, "$ {}", e.command);
        for (name, text) in [("stdout", &e.stdout), ("stderr", &e.stderr)] {
            if !text.is_empty() {
                let _ = writeln!(out, "-- {name}");
                out.push_str(text);
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    if entries.is_empty() {
        out.push_str("no commands recorded\n");
    }
    out
}
