//! Hooks around a run, both commands on the controller: `approve` must exit 0 before anything
//! connects (its output goes to the audit log), and `notify` gets each selected event as one
//! JSON line on stdin, through a bounded queue and under a timeout so that it never stalls the
//! dispatcher nor holds the run past its end.
//!
//! Input: the hook commands (from the plan or `--approve` / `--notify`) and the run's events.
//! Output: an approval (or a refusal), notifications, and warnings for failing or slow hooks.

use crate::audit::{AuditEntry, AuditLog};
use crate::engine::{Event, EventKind, EventSink, HostState};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

/// How long one `notify` call may take, and how long the end of a run waits for the queue to
/// drain, unless `--hook-timeout` says otherwise.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `approve` may take before the run is refused: long enough for a ticket system.
pub const APPROVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Events waiting for the notify command; beyond this, new events are dropped (and counted)
/// rather than making the dispatcher wait.
pub const NOTIFY_QUEUE: usize = 256;

/// The events `notify` is called on when the workflow does not say.
pub const DEFAULT_NOTIFY_ON: [&str; 3] = ["failed", "rollback", "done"];

/// The names `notify { on = [...] }` accepts.
pub const NOTIFY_EVENTS: [&str; 6] = [
    "started",
    "wave_done",
    "failed",
    "rollback",
    "deferred",
    "done",
];

/// Output kept from a hook, per stream; the rest is read and dropped.
const OUTPUT_CAP: usize = 64 * 1024;

/// Why a run did not get its approval.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum HookError {
    /// The approval command ran and did not exit 0 (or ran out of time).
    #[error("the approval command `{command}` {outcome}: nothing was run")]
    #[diagnostic(
        code(sflow::hooks::not_approved),
        help("its output is in the audit log{}", tail(.stderr))
    )]
    NotApproved {
        /// The command.
        command: String,
        /// `exited with 3`, `was killed by a signal`, `timed out after 5m`.
        outcome: String,
        /// The end of its stderr, for the help line.
        stderr: String,
    },
    /// The approval command could not be started.
    #[error("the approval command `{command}` could not start: {reason}")]
    #[diagnostic(code(sflow::hooks::spawn))]
    Spawn {
        /// The command.
        command: String,
        /// The OS error.
        reason: String,
    },
    /// The approval could not be written to the audit log, so the run cannot be accounted for.
    #[error("cannot record the approval in the audit log: {0}")]
    #[diagnostic(code(sflow::hooks::audit))]
    Audit(#[source] crate::audit::AuditError),
}

fn tail(stderr: &str) -> String {
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    if last.is_empty() {
        String::new()
    } else {
        format!("; it said: {last}")
    }
}

/// What a hook command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    /// Its exit code (`None`: killed by a signal or stopped at the timeout).
    pub exit_code: Option<i32>,
    /// Whether it was stopped at the timeout.
    pub timed_out: bool,
    /// Its standard output (at most 64 KiB).
    pub stdout: String,
    /// Its standard error (at most 64 KiB).
    pub stderr: String,
}

impl HookRun {
    /// Exited 0 in time.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    fn outcome(&self, timeout: Duration) -> String {
        match (self.timed_out, self.exit_code) {
            (true, _) => format!(
                "timed out after {}",
                humantime::format_duration(Duration::from_secs(timeout.as_secs().max(1)))
            ),
            (false, Some(0)) => "succeeded".to_owned(),
            (false, Some(c)) => format!("exited with {c}"),
            (false, None) => "was killed by a signal".to_owned(),
        }
    }
}

/// Kills the hook's whole process group when dropped: `sh -c` may have started children that
/// would otherwise outlive a timeout and keep the output pipes open.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: kill(2) with a negative pid signals the group we created for the hook;
            // it touches no memory of ours.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

async fn read_capped(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = OUTPUT_CAP.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

/// Runs `command` with `sh -c` on the controller, writes `input` to its stdin, and waits for it
/// at most `timeout` (then kills its process group).
pub async fn run_hook(command: &str, input: &[u8], timeout: Duration) -> std::io::Result<HookRun> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let mut guard = GroupGuard(child.id().and_then(|p| i32::try_from(p).ok()));
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let body = async {
        let feed = async {
            if let Some(mut w) = stdin {
                // A hook that exits without reading its stdin is not an error.
                let _ = w.write_all(input).await;
                let _ = w.shutdown().await;
            }
        };
        let out = async {
            match stdout {
                Some(r) => read_capped(r).await,
                None => Vec::new(),
            }
        };
        let err = async {
            match stderr {
                Some(r) => read_capped(r).await,
                None => Vec::new(),
            }
        };
        let ((), out, err, status) = tokio::join!(feed, out, err, child.wait());
        (out, err, status)
    };
    match tokio::time::timeout(timeout, body).await {
        Ok((out, err, status)) => {
            let status = status?;
            // The hook ended on its own: its group is gone or holds only stragglers we leave.
            guard.0 = None;
            Ok(HookRun {
                exit_code: status.code(),
                timed_out: false,
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::from_utf8_lossy(&err).into_owned(),
            })
        }
        Err(_) => Ok(HookRun {
            exit_code: None,
            timed_out: true,
            stdout: String::new(),
            stderr: String::new(),
        }),
    }
}

/// Runs the approval command; `Ok` only when it exited 0 within `timeout`. Its outcome and
/// output are appended to `audit` (redacted by the log) whether it approved or not.
pub async fn approve(
    command: &str,
    timeout: Duration,
    audit: Option<&mut AuditLog>,
) -> Result<HookRun, HookError> {
    let run = run_hook(command, &[], timeout)
        .await
        .map_err(|e| HookError::Spawn {
            command: command.to_owned(),
            reason: e.to_string().to_lowercase(),
        })?;
    if let Some(log) = audit {
        let entry = AuditEntry::Hook {
            hook: "approve".to_owned(),
            command: command.to_owned(),
            outcome: run.outcome(timeout),
            exit_code: run.exit_code,
            stdout: run.stdout.clone(),
            stderr: run.stderr.clone(),
        };
        log.append(None, chrono::Utc::now(), entry)
            .map_err(HookError::Audit)?;
    }
    if run.succeeded() {
        Ok(run)
    } else {
        Err(HookError::NotApproved {
            command: command.to_owned(),
            outcome: run.outcome(timeout),
            stderr: run.stderr,
        })
    }
}

/// Whether `kind` is one of the events named `on` (names from [`NOTIFY_EVENTS`]).
pub fn selects(on: &[String], kind: &EventKind) -> bool {
    let name = match kind {
        EventKind::RunStarted { .. } => "started",
        EventKind::WaveFinished { .. } => "wave_done",
        EventKind::HostFinished {
            state: HostState::Failed,
            ..
        }
        | EventKind::Halted { .. } => "failed",
        EventKind::RollbackStarted { .. } | EventKind::RollbackFinished { .. } => "rollback",
        EventKind::Deferred { .. } => "deferred",
        EventKind::RunFinished { .. } => "done",
        _ => return false,
    };
    on.iter().any(|o| o == name)
}

/// A `notify` hook: the command, the events it wants and its timeout.
#[derive(Clone)]
pub struct NotifyConfig {
    /// Run with `sh -c` on the controller, once per event, the event's JSON line on stdin.
    pub command: String,
    /// Event names (see [`NOTIFY_EVENTS`]).
    pub on: Vec<String>,
    /// Longest one call may take; also how long the end of the run waits for the queue.
    pub timeout: Duration,
    /// Queue length (see [`NOTIFY_QUEUE`]).
    pub queue: usize,
    /// Called with each warning (a failing, slow or overrun hook) as it happens.
    pub warn: Arc<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("command", &self.command)
            .field("on", &self.on)
            .field("timeout", &self.timeout)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl NotifyConfig {
    /// A hook with the default events, timeout and queue, warning on stderr.
    pub fn new(command: impl Into<String>) -> Self {
        NotifyConfig {
            command: command.into(),
            on: DEFAULT_NOTIFY_ON.iter().map(|s| (*s).to_owned()).collect(),
            timeout: DEFAULT_NOTIFY_TIMEOUT,
            queue: NOTIFY_QUEUE,
            warn: Arc::new(|w| eprintln!("warning: {w}")),
        }
    }
}

/// What the notify hook did over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyReport {
    /// Calls that exited 0 in time.
    pub delivered: usize,
    /// Calls that failed or timed out.
    pub failed: usize,
    /// Events dropped because the queue was full.
    pub dropped: usize,
    /// Events still queued when the end-of-run wait ran out.
    pub abandoned: usize,
    /// Every warning, in order.
    pub warnings: Vec<String>,
}

struct Shared {
    report: Mutex<NotifyReport>,
    warn: Arc<dyn Fn(&str) + Send + Sync>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut NotifyReport)) {
        let mut r = self.report.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut r);
    }

    fn warn(&self, message: String) {
        (self.warn)(&message);
        self.update(|r| r.warnings.push(message));
    }
}

/// The event sink feeding the notify hook: never waits (a full queue drops the event).
pub struct NotifySink {
    tx: mpsc::Sender<(String, String)>,
    on: Vec<String>,
    shared: Arc<Shared>,
    overrun: bool,
}

impl EventSink for NotifySink {
    fn event(&mut self, event: &Event) {
        if !selects(&self.on, &event.kind) {
            return;
        }
        let name = kind_name(&event.kind);
        match self.tx.try_send((name.clone(), event.to_json_line())) {
            Ok(()) => self.overrun = false,
            Err(_) => {
                self.shared.update(|r| r.dropped += 1);
                // One warning per overrun, not one per dropped event.
                if !self.overrun {
                    self.overrun = true;
                    self.shared.warn(format!(
                        "notify hook is too slow: its queue is full, `{name}` and the events after it are dropped until it catches up"
                    ));
                }
            }
        }
    }
}

fn kind_name(kind: &EventKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// The running notify worker; [`NotifyHandle::finish`] waits for it after the run.
pub struct NotifyHandle {
    worker: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
    timeout: Duration,
    queued: Arc<std::sync::atomic::AtomicUsize>,
}

/// Starts the notify worker (inside a tokio runtime): returns the sink to give the engine and
/// the handle to finish with once the run is over (after the sink was dropped with the run).
pub fn start_notify(config: NotifyConfig) -> (NotifySink, NotifyHandle) {
    let (tx, mut rx) = mpsc::channel::<(String, String)>(config.queue.max(1));
    let shared = Arc::new(Shared {
        report: Mutex::new(NotifyReport::default()),
        warn: config.warn.clone(),
    });
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let worker_shared = shared.clone();
    let worker_queued = queued.clone();
    let command = config.command.clone();
    let timeout = config.timeout;
    let worker = tokio::spawn(async move {
        while let Some((name, line)) = rx.recv().await {
            worker_queued.store(rx.len(), std::sync::atomic::Ordering::Relaxed);
            let input = format!("{line}\n");
            let warning = match run_hook(&command, input.as_bytes(), timeout).await {
                Ok(run) if run.succeeded() => None,
                Ok(run) => Some(format!(
                    "notify hook {} on `{name}`{}",
                    run.outcome(timeout),
                    tail(&run.stderr)
                )),
                Err(e) => Some(format!(
                    "notify hook could not start on `{name}`: {}",
                    e.to_string().to_lowercase()
                )),
            };
            match warning {
                None => worker_shared.update(|r| r.delivered += 1),
                Some(w) => {
                    worker_shared.update(|r| r.failed += 1);
                    worker_shared.warn(w);
                }
            }
        }
    });
    let sink = NotifySink {
        tx,
        on: config.on,
        shared: shared.clone(),
        overrun: false,
    };
    let handle = NotifyHandle {
        worker,
        shared,
        timeout,
        queued,
    };
    (sink, handle)
}

impl NotifyHandle {
    /// Waits for the queued events to be delivered, at most one timeout; then stops the hook
    /// (killing a call in progress) and reports what was abandoned. Call it once the sink is
    /// gone (the engine drops its sinks when the run ends), else it waits the full timeout.
    pub async fn finish(mut self) -> NotifyReport {
        if tokio::time::timeout(self.timeout, &mut self.worker)
            .await
            .is_err()
        {
            self.worker.abort();
            let _ = (&mut self.worker).await;
            // The call in progress and everything still queued behind it.
            let left = self.queued.load(std::sync::atomic::Ordering::Relaxed) + 1;
            self.shared.update(|r| r.abandoned = left);
            self.shared.warn(format!(
                "notify hook still busy {} after the run: {left} notification(s) abandoned",
                humantime::format_duration(self.timeout)
            ));
        }
        self.shared
            .report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests;
