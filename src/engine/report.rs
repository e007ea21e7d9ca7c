//! Reporters: turn the event stream into what people and programs read. Progress bars per wave
//! and overall on a terminal (indicatif), plain lines otherwise, NDJSON with `--format json`;
//! and the final summary table of a `RunResult`.
//!
//! Input: `Event`s only (and the `RunResult` built from them). Output: text on a writer.

use super::event::{Event, EventKind, EventSink, HostState, TaskState};
use super::result::RunResult;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

/// Writes each event as one line of JSON.
pub struct JsonReporter<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonReporter<W> {
    /// A reporter writing to `out`.
    pub fn new(out: W) -> Self {
        JsonReporter { out }
    }
}

impl<W: Write + Send> EventSink for JsonReporter<W> {
    fn event(&mut self, event: &Event) {
        // A closed pipe must not stop the run: the journal, not stdout, is the record.
        let _ = writeln!(self.out, "{}", event.to_json_line());
        let _ = self.out.flush();
    }
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn short(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

fn state_word(s: TaskState) -> &'static str {
    match s {
        TaskState::Pending => "pending",
        TaskState::Running => "running",
        TaskState::Ok => "ok",
        TaskState::Failed => "FAILED",
        TaskState::FailedAllowed => "failed (allowed)",
        TaskState::Skipped => "skipped",
        TaskState::Cancelled => "cancelled",
        TaskState::Deferred => "deferred",
        TaskState::Interrupted => "interrupted",
    }
}

fn host_word(s: HostState) -> &'static str {
    match s {
        HostState::Pending => "pending",
        HostState::Running => "running",
        HostState::Ok => "ok",
        HostState::Failed => "FAILED",
        HostState::Deferred => "deferred",
        HostState::Interrupted => "interrupted",
        HostState::Cancelled => "cancelled",
        HostState::RolledBack => "rolled back",
    }
}

/// One human line for an event, or `None` for events not worth a line (task starts).
pub fn describe(event: &Event) -> Option<String> {
    let line = match &event.kind {
        EventKind::RunStarted { workflow, hosts, work, waves, .. } => {
            format!("run {workflow}: {hosts} hosts, {work} task runs, waves {}", waves.join(" → "))
        }
        EventKind::RunFinished { status, ok, failed, deferred, interrupted, .. } => format!(
            "run finished: {} (ok {ok}, failed {failed}, deferred {deferred}, interrupted {interrupted})",
            serde_json::to_value(status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        ),
        EventKind::WaveStarted { wave, hosts, .. } => format!("wave {wave}: {} hosts", hosts.len()),
        EventKind::WaveFinished { wave, ok, failed, deferred, passed, .. } => format!(
            "wave {wave} done: ok {ok}, failed {failed}, deferred {deferred}{}",
            if *passed { "" } else { " (gate not passed)" }
        ),
        EventKind::HostStarted { .. } | EventKind::TaskStarted { .. } => return None,
        EventKind::HostFinished { host, state, .. } => format!("{host}: {}", host_word(*state)),
        EventKind::TaskFinished { host, task, state, duration, exit, .. } => {
            let exit = match (state, exit) {
                (TaskState::Failed | TaskState::FailedAllowed, Some(code)) => format!(", exit {code}"),
                _ => String::new(),
            };
            format!("{host} {task}: {} ({}{exit})", state_word(*state), short(*duration))
        }
        EventKind::TaskRetrying { host, task, attempt, delay, .. } => {
            format!("{host} {task}: attempt {attempt} failed, retrying in {}", short(*delay))
        }
        EventKind::WindowWait { host, until, .. } => format!("{host}: waiting for its window ({until})"),
        EventKind::WindowExpired { host, task, on_expire } => {
            format!("{host} {task}: window closed ({on_expire:?})").to_lowercase()
        }
        EventKind::Deferred { host, tasks, next_open } => format!(
            "{host}: deferred {} task(s){}",
            tasks.len(),
            next_open.map(|t| format!(", next window {t}")).unwrap_or_default()
        ),
        EventKind::GateResult { wave, passed, failed_hosts, allowed, after_bake } => format!(
            "gate {wave}{}: {} ({} failed, {allowed} allowed)",
            if *after_bake { " after bake" } else { "" },
            if *passed { "passed" } else { "NOT PASSED" },
            failed_hosts.len()
        ),
        EventKind::BakeStarted { wave, duration } => format!("wave {wave}: baking {}", short(*duration)),
        EventKind::Halted { reason, wave } => format!(
            "HALTED{}: {}",
            wave.as_ref().map(|w| format!(" in wave {w}")).unwrap_or_default(),
            serde_json::to_string(reason).unwrap_or_default()
        ),
        EventKind::RollbackStarted { hosts, .. } => format!("rolling back {} host(s): {}", hosts.len(), hosts.join(", ")),
        EventKind::RollbackStep { host, task, ok, .. } => {
            format!("{host} rollback of {task}: {}", if *ok { "ok" } else { "FAILED" })
        }
        EventKind::RollbackFinished { ok, failed } => format!("rollback finished: {ok} ok, {failed} failed"),
        EventKind::ThrottleChanged { group, from, to, reason } => {
            format!("throttle {group}: {from} → {to} ({reason:?})").to_lowercase()
        }
        EventKind::OperatorAction { action } => {
            format!("operator: {}", serde_json::to_string(action).unwrap_or_default())
        }
        EventKind::VerificationFinished { verify, host, passed, detail } => {
            format!("{host} verify {verify}: {} {detail}", if *passed { "ok" } else { "MISMATCH" })
        }
        EventKind::VerificationReport { report } => {
            let s = &report.summary;
            format!(
                "verification: {} host(s), {} as expected, {} unexpected change, {} mismatch, {} drifted",
                s.hosts, s.as_expected, s.unexpected_change, s.mismatch, s.drifted
            )
        }
    };
    Some(format!("[{}] {line}", clock(event.elapsed)))
}

/// Plain lines, one per notable event (for logs and pipes).
pub struct PlainReporter<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> PlainReporter<W> {
    /// A reporter writing to `out`.
    pub fn new(out: W) -> Self {
        PlainReporter { out }
    }
}

impl<W: Write + Send> EventSink for PlainReporter<W> {
    fn event(&mut self, event: &Event) {
        if let Some(line) = describe(event) {
            let _ = writeln!(self.out, "{line}");
        }
    }
}

/// Counts shown beside the bars.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Tasks ok.
    pub ok: usize,
    /// Tasks failed.
    pub failed: usize,
    /// Tasks running.
    pub running: usize,
    /// Tasks deferred.
    pub deferred: usize,
    /// Tasks skipped.
    pub skipped: usize,
}

/// Progress bars on a terminal: one overall (task runs), one per wave (hosts), with counts
/// and the hosts running longest; notable lines printed above the bars.
pub struct ProgressReporter {
    multi: MultiProgress,
    overall: ProgressBar,
    waves: Vec<ProgressBar>,
    counts: Counts,
    running_since: HashMap<String, Duration>,
    now: Duration,
}

impl ProgressReporter {
    /// Bars drawn on stderr.
    pub fn stderr() -> Self {
        Self::with_target(ProgressDrawTarget::stderr())
    }

    /// Bars drawn on `target` (hidden in tests).
    pub fn with_target(target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.set_prefix("overall");
        ProgressReporter {
            multi,
            overall,
            waves: Vec::new(),
            counts: Counts::default(),
            running_since: HashMap::new(),
            now: Duration::ZERO,
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    fn message(&self) -> String {
        let c = self.counts;
        let mut msg = format!(
            "ok {} · failed {} · running {} · deferred {} · skipped {}",
            c.ok, c.failed, c.running, c.deferred, c.skipped
        );
        let mut longest: Vec<(&String, &Duration)> = self.running_since.iter().collect();
        longest.sort_by_key(|(h, since)| (**since, (*h).clone()));
        if !longest.is_empty() {
            msg.push_str(" · longest: ");
            let names: Vec<String> = longest
                .iter()
                .take(3)
                .map(|(h, since)| format!("{h} {}", short(self.now.saturating_sub(**since))))
                .collect();
            msg.push_str(&names.join(", "));
        }
        msg
    }
}

impl EventSink for ProgressReporter {
    fn event(&mut self, event: &Event) {
        self.now = event.elapsed;
        match &event.kind {
            EventKind::RunStarted { work, .. } => self.overall.set_length(*work as u64),
            EventKind::WaveStarted { wave, hosts, .. } => {
                let bar = self.multi.add(ProgressBar::new(hosts.len() as u64));
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} hosts")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(wave.clone());
                self.waves.push(bar);
            }
            EventKind::HostFinished { .. } => {
                if let Some(bar) = self.waves.last() {
                    bar.inc(1);
                }
            }
            EventKind::WaveFinished { .. } => {
                if let Some(bar) = self.waves.last() {
                    bar.finish();
                }
            }
            EventKind::TaskStarted { host, .. } => {
                self.counts.running += 1;
                self.running_since
                    .entry(host.clone())
                    .or_insert(event.elapsed);
            }
            EventKind::TaskRetrying { host, .. } => {
                self.counts.running = self.counts.running.saturating_sub(1);
                self.running_since.remove(host);
            }
            EventKind::TaskFinished {
                host,
                state,
                attempts,
                ..
            } => {
                if *attempts > 0
                    && matches!(
                        state,
                        TaskState::Ok
                            | TaskState::Failed
                            | TaskState::FailedAllowed
                            | TaskState::Interrupted
                    )
                {
                    self.counts.running = self.counts.running.saturating_sub(1);
                    self.running_since.remove(host);
                }
                match state {
                    TaskState::Ok => self.counts.ok += 1,
                    TaskState::Failed | TaskState::FailedAllowed | TaskState::Interrupted => {
                        self.counts.failed += 1
                    }
                    TaskState::Deferred => self.counts.deferred += 1,
                    TaskState::Skipped => self.counts.skipped += 1,
                    _ => {}
                }
                self.overall.inc(1);
            }
            EventKind::RunFinished { .. } => self.overall.finish(),
            _ => {}
        }
        self.overall.set_message(self.message());
        let notable = !matches!(
            event.kind,
            EventKind::TaskFinished {
                state: TaskState::Ok | TaskState::Skipped,
                ..
            } | EventKind::HostFinished {
                state: HostState::Ok,
                ..
            }
        );
        if notable {
            if let Some(line) = describe(event) {
                let _ = self.multi.println(line);
            }
        }
    }
}

/// The final summary: one row per host (state, wave, task counts, the first failure), then
/// totals.
pub fn summary_table(result: &RunResult) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "HOST".into(),
        "WAVE".into(),
        "STATE".into(),
        "TASKS ok/failed/skipped/other".into(),
        "NOTE".into(),
    ]];
    for (name, h) in &result.hosts {
        let mut n: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &h.tasks {
            let k = match t.state {
                TaskState::Ok => "ok",
                TaskState::Failed | TaskState::FailedAllowed => "failed",
                TaskState::Skipped => "skipped",
                _ => "other",
            };
            *n.entry(k).or_default() += 1;
        }
        let get = |k: &str| n.get(k).copied().unwrap_or(0);
        let note = h
            .tasks
            .iter()
            .find(|t| t.state == TaskState::Failed || t.state == TaskState::Interrupted)
            .map(|t| match t.exit {
                Some(code) => format!("{} exit {code}", t.task),
                None => format!("{} {}", t.task, state_word(t.state)),
            })
            .unwrap_or_default();
        rows.push([
            name.clone(),
            h.wave.clone(),
            host_word(h.state).to_string(),
            format!(
                "{}/{}/{}/{}",
                get("ok"),
                get("failed"),
                get("skipped"),
                get("other")
            ),
            note,
        ]);
    }
    let mut widths = [0usize; 5];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let _ = write!(line, "{c:<w$}  ", w = widths[i]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{} ok, {} failed, {} deferred, {} interrupted, {} rolled back, {} cancelled; status {}",
        result.successful_servers.len(),
        result.failed_servers.len(),
        result.deferred_servers.len(),
        result.interrupted_servers.len(),
        result.rolled_back_servers.len(),
        result.cancelled_servers.len(),
        serde_json::to_value(result.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::result::ResultBuilder;
    use chrono::DateTime;

    fn ev(kind: EventKind) -> Event {
        Event {
            timestamp: DateTime::UNIX_EPOCH,
            elapsed: Duration::from_secs(61),
            kind,
        }
    }

    fn finished(host: &str, task: &str, state: TaskState, exit: Option<i32>) -> Event {
        ev(EventKind::TaskFinished {
            host: host.into(),
            task: task.into(),
            state,
            attempts: 1,
            exit,
            duration: Duration::from_millis(1500),
            reason: None,
            failure: None,
            stdout: String::new(),
            stderr: String::new(),
        })
    }

    #[test]
    fn json_lines_and_plain_lines() {
        let mut buf = Vec::new();
        JsonReporter::new(&mut buf).event(&finished(
            "web01",
            "upgrade",
            TaskState::Failed,
            Some(100),
        ));
        let text = String::from_utf8_lossy(&buf).to_string();
        assert_eq!(text.lines().count(), 1);
        assert!(text.starts_with("{\"timestamp\":"), "{text}");
        let line = describe(&finished("web01", "upgrade", TaskState::Failed, Some(100)));
        assert_eq!(
            line.as_deref(),
            Some("[00:01:01] web01 upgrade: FAILED (1.5s, exit 100)")
        );
    }

    #[test]
    fn progress_counts_follow_events() {
        let mut p = ProgressReporter::with_target(ProgressDrawTarget::hidden());
        let start = |h: &str| {
            ev(EventKind::TaskStarted {
                host: h.into(),
                task: "t".into(),
                attempt: 1,
                command: "x".into(),
                local: false,
            })
        };
        p.event(&start("a"));
        p.event(&start("b"));
        p.event(&finished("a", "t", TaskState::Ok, Some(0)));
        p.event(&finished("c", "t", TaskState::Deferred, None));
        assert_eq!(
            p.counts(),
            Counts {
                ok: 1,
                failed: 0,
                running: 1,
                deferred: 1,
                skipped: 0
            }
        );
        assert!(p.message().contains("longest: b"), "{}", p.message());
    }

    #[test]
    fn summary_has_a_row_per_host_and_the_first_failure() {
        let mut b = ResultBuilder::default();
        b.apply(&ev(EventKind::WaveStarted {
            wave: "canary".into(),
            index: 0,
            hosts: vec!["web01".into(), "web02".into()],
        }));
        b.apply(&finished("web01", "upgrade", TaskState::Ok, Some(0)));
        b.apply(&finished("web02", "upgrade", TaskState::Failed, Some(100)));
        b.apply(&ev(EventKind::HostFinished {
            host: "web02".into(),
            wave: "canary".into(),
            state: HostState::Failed,
        }));
        let table = summary_table(&b.build());
        let rows: Vec<&str> = table.lines().collect();
        assert!(rows[0].starts_with("HOST"));
        assert!(
            rows[2].contains("web02")
                && rows[2].contains("FAILED")
                && rows[2].contains("upgrade exit 100"),
            "{table}"
        );
    }
}
