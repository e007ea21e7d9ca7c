//! `sflow windows`: the occurrences of every window of a workflow over a span of days, in the
//! window's zone and in UTC, blackout days marked (text or JSON).

use crate::program::{Program, Workflow};
use crate::window::WindowSet;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `sflow windows`.
#[derive(Debug, Args)]
pub struct WindowsArgs {
    /// The workflow file.
    pub file: PathBuf,
    /// Inventory file (overrides the one the workflow names).
    #[arg(long)]
    pub inventory: Option<PathBuf>,
    /// The workflow, when the file holds several.
    #[arg(long)]
    pub workflow: Option<String>,
    /// Start of the span: an RFC 3339 instant or a date (midnight UTC); default now.
    #[arg(long)]
    pub from: Option<String>,
    /// Length of the span in days.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = WindowsFormat::Text)]
    pub format: WindowsFormat,
}

/// Output formats of `sflow windows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WindowsFormat {
    /// For a terminal.
    Text,
    /// `{"windows": [{"target", "spec", "occurrences": [{"start", "end"}], "blackouts"}]}`.
    Json,
}

/// The occurrences of a workflow's windows over a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowsReport {
    /// Start of the span.
    #[serde(skip)]
    pub from: DateTime<Utc>,
    /// End of the span.
    #[serde(skip)]
    pub until: DateTime<Utc>,
    /// One entry per `window` declaration.
    pub windows: Vec<WindowEntry>,
}

/// One `window` declaration and its occurrences in the span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowEntry {
    /// The group name, or the host list collapsed.
    pub target: String,
    /// The spec as written.
    pub spec: String,
    /// Occurrences starting in the span (the first may have opened before it), blackouts removed.
    pub occurrences: Vec<Occurrence>,
    /// Blackout dates in the span.
    pub blackouts: Vec<NaiveDate>,
    #[serde(skip)]
    zones: Vec<Tz>,
}

/// An occurrence, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Occurrence {
    /// Opening instant (RFC 3339, UTC).
    pub start: DateTime<Utc>,
    /// Closing instant.
    pub end: DateTime<Utc>,
}

/// Parses `--from`: an RFC 3339 instant, or a date meaning its midnight UTC.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    let date: NaiveDate = text.trim().parse().ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The occurrences of every window of `wf` from `from` for `days` days.
pub fn report(program: &Program, wf: &Workflow, from: DateTime<Utc>, days: u32) -> WindowsReport {
    let until = from + TimeDelta::days(i64::from(days));
    let blackout = &wf.window_settings.blackout;
    let windows = wf
        .windows
        .iter()
        .map(|w| {
            let target = crate::plan::target_label(&program.inventory, &w.hosts);
            let spec = w.spec.clone();
            let zones = spec.zones();
            let set = WindowSet::new(vec![spec], blackout.clone());
            // Look from a day before so that an occurrence already open keeps its real start.
            let occurrences = set
                .occurrences(from - TimeDelta::days(1))
                .skip_while(|iv| iv.end <= from)
                .take_while(|iv| iv.start < until)
                .map(|iv| {
                    if iv.is_unbounded() {
                        // `always`: one occurrence covering the span.
                        Occurrence {
                            start: iv.start.max(from),
                            end: until,
                        }
                    } else {
                        Occurrence {
                            start: iv.start,
                            end: iv.end,
                        }
                    }
                })
                .collect();
            let first_day = from.date_naive().pred_opt().unwrap_or(from.date_naive());
            let blackouts = blackout
                .iter()
                .copied()
                .filter(|d| *d >= first_day && *d <= until.date_naive())
                .collect();
            WindowEntry {
                target,
                spec: w.spec.source().to_string(),
                occurrences,
                blackouts,
                zones,
            }
        })
        .collect();
    WindowsReport {
        from,
        until,
        windows,
    }
}

impl WindowsReport {
    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The text for a terminal.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "window occurrences from {} to {}",
            self.from.format("%Y-%m-%d %H:%M UTC"),
            self.until.format("%Y-%m-%d %H:%M UTC")
        );
        if self.windows.is_empty() {
            let _ = writeln!(o, "  no window declared: hosts are always open");
        }
        for w in &self.windows {
            let _ = writeln!(o);
            let _ = writeln!(o, "{}  \"{}\"", w.target, w.spec);
            if w.occurrences.is_empty() {
                let _ = writeln!(o, "  no occurrence in this span");
            }
            for occ in &w.occurrences {
                let iv = crate::window::Interval {
                    start: occ.start,
                    end: occ.end,
                };
                let mut shown: Vec<String> = w
                    .zones
                    .iter()
                    .filter(|z| **z != Tz::UTC)
                    .map(|z| {
                        format!(
                            "{} {}",
                            occ.start.with_timezone(z).format("%a"),
                            crate::plan::render::span_in(&iv, *z)
                        )
                    })
                    .collect();
                shown.push(format!(
                    "{} {}",
                    occ.start.format("%a"),
                    crate::plan::render::span_in(&iv, Tz::UTC)
                ));
                let _ = writeln!(o, "  {}", shown.join("  =  "));
            }
            for d in &w.blackouts {
                let _ = writeln!(o, "  blackout {d} ({})", d.format("%a"));
            }
        }
        o
    }
}

/// Runs `sflow windows`.
pub fn run(args: WindowsArgs) -> ExitCode {
    let from = match args.from.as_deref().map(parse_instant) {
        None => Utc::now(),
        Some(Some(t)) => t,
        Some(None) => {
            eprintln!("error: `--from` wants an RFC 3339 instant or a date YYYY-MM-DD");
            return ExitCode::from(super::exit::USAGE);
        }
    };
    let program = match super::plan::load(
        &args.file,
        args.inventory.as_deref(),
        args.workflow.as_deref(),
        from,
    ) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let wf = match crate::plan::pick_workflow(&program, args.workflow.as_deref()) {
        Ok(wf) => wf,
        Err(e) => return super::plan::report_error(e),
    };
    let report = report(&program, wf, from, args.days);
    match args.format {
        WindowsFormat::Text => print!("{}", report.to_text()),
        WindowsFormat::Json => println!("{}", report.to_json()),
    }
    ExitCode::from(super::exit::OK)
}
