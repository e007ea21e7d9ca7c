//! A scripted in-memory `Runner` for tests and benchmarks: each command's duration, exit code,
//! outputs or connection error come from a script; it records every call and the highest
//! concurrency seen per host, per group of hosts and fleet-wide.
//!
//! Input: a script closure. Output: command results after a tokio sleep (virtual under paused
//! time) and a log of what ran when.

use super::runner::{CommandOutput, CommandRequest, ConnectionError, RunFuture, Runner};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// What the script decides for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripted {
    /// How long the command takes.
    pub duration: Duration,
    /// Its result.
    pub result: Result<CommandOutput, String>,
}

impl Scripted {
    /// Exits 0 after `duration` with empty output.
    pub fn ok(duration: Duration) -> Self {
        Scripted {
            duration,
            result: Ok(CommandOutput {
                exit: Some(0),
                ..CommandOutput::default()
            }),
        }
    }

    /// Exits 0 after `duration` printing `stdout`.
    pub fn stdout(duration: Duration, stdout: &str) -> Self {
        Scripted {
            duration,
            result: Ok(CommandOutput {
                exit: Some(0),
                stdout: stdout.to_string(),
                stderr: String::new(),
            }),
        }
    }

    /// Exits with `code` after `duration`.
    pub fn exit(duration: Duration, code: i32) -> Self {
        Scripted {
            duration,
            result: Ok(CommandOutput {
                exit: Some(code),
                ..CommandOutput::default()
            }),
        }
    }

    /// Fails to connect after `duration`.
    pub fn connection_error(duration: Duration) -> Self {
        Scripted {
            duration,
            result: Err("connection refused".to_string()),
        }
    }
}

/// One command the fake ran (or began: `end` is `None` if it was stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Host name.
    pub host: String,
    /// Task name.
    pub task: String,
    /// The command as sent.
    pub command: String,
    /// When it started (tokio time).
    pub start: Instant,
    /// When it ended, unless it was dropped first.
    pub end: Option<Instant>,
    /// Whether it ran on the controller.
    pub local: bool,
    /// stdin given.
    pub stdin: Option<String>,
}

type Script = dyn Fn(&CommandRequest, u32) -> Scripted + Send + Sync;
type Classes = dyn Fn(&str) -> Vec<String> + Send + Sync;

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    running_hosts: HashMap<String, usize>,
    running_by_class: BTreeMap<String, usize>,
    max_by_class: BTreeMap<String, usize>,
    max_per_host: usize,
    attempts: HashMap<(String, String), u32>,
}

/// The fake runner. Cheap to clone (shared state).
#[derive(Clone)]
pub struct FakeRunner {
    script: Arc<Script>,
    /// Classes of a host for concurrency accounting (e.g. its groups, `dc=fra1`); "fleet" is
    /// always counted.
    classes: Arc<Classes>,
    state: Arc<Mutex<State>>,
}

impl FakeRunner {
    /// A runner whose commands follow `script(request, attempt_number_on_that_host_task)`.
    pub fn new(script: impl Fn(&CommandRequest, u32) -> Scripted + Send + Sync + 'static) -> Self {
        FakeRunner {
            script: Arc::new(script),
            classes: Arc::new(|_| Vec::new()),
            state: Arc::default(),
        }
    }

    /// Every command succeeds after `d`.
    pub fn always_ok(d: Duration) -> Self {
        FakeRunner::new(move |_, _| Scripted::ok(d))
    }

    /// Counts concurrency per class of host as well as fleet-wide.
    pub fn with_classes(
        mut self,
        classes: impl Fn(&str) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        self.classes = Arc::new(classes);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every call so far, in start order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The highest number of hosts with a command running at once, per class ("fleet" too).
    pub fn max_concurrency(&self) -> BTreeMap<String, usize> {
        self.lock().max_by_class.clone()
    }

    /// The highest number of commands running at once on one host.
    pub fn max_per_host(&self) -> usize {
        self.lock().max_per_host
    }

    /// Names of tasks run on `host`, in start order.
    pub fn tasks_on(&self, host: &str) -> Vec<String> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.host == host)
            .map(|c| c.task.clone())
            .collect()
    }
}

/// Updates the per-host and per-class running counts when a command starts or ends (also on
/// drop, so stopped commands are accounted for).
struct Running {
    state: Arc<Mutex<State>>,
    host: String,
    classes: Vec<String>,
    call: usize,
    finished: bool,
}

impl Running {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let finished = self.finished;
        let call = self.call;
        let host = self.host.clone();
        let classes = self.classes.clone();
        let mut s = self.lock();
        if finished {
            if let Some(c) = s.calls.get_mut(call) {
                c.end = Some(Instant::now());
            }
        }
        let n = s.running_hosts.entry(host.clone()).or_default();
        *n = n.saturating_sub(1);
        if *n == 0 {
            s.running_hosts.remove(&host);
            for class in classes {
                let r = s.running_by_class.entry(class).or_default();
                *r = r.saturating_sub(1);
            }
        }
    }
}

impl Runner for FakeRunner {
    fn run(&self, req: CommandRequest) -> RunFuture {
        let mut classes = (self.classes)(&req.host);
        classes.push("fleet".to_string());
        let state = self.state.clone();
        let scripted = {
            let mut s = self.lock();
            let attempt = s
                .attempts
                .entry((req.host.clone(), req.task.clone()))
                .or_default();
            *attempt += 1;
            let attempt = *attempt;
            drop(s);
            (self.script)(&req, attempt)
        };
        Box::pin(async move {
            let mut guard = {
                let mut s = state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                s.calls.push(Call {
                    host: req.host.clone(),
                    task: req.task.clone(),
                    command: req.command.clone(),
                    start: Instant::now(),
                    end: None,
                    local: req.local,
                    stdin: req.stdin.clone(),
                });
                let call = s.calls.len() - 1;
                let n = s.running_hosts.entry(req.host.clone()).or_default();
                *n += 1;
                let on_host = *n;
                s.max_per_host = s.max_per_host.max(on_host);
                if on_host == 1 {
                    for class in &classes {
                        let r = s.running_by_class.entry(class.clone()).or_default();
                        *r += 1;
                        let r = *r;
                        let m = s.max_by_class.entry(class.clone()).or_default();
                        *m = (*m).max(r);
                    }
                }
                Running {
                    state: state.clone(),
                    host: req.host.clone(),
                    classes,
                    call,
                    finished: false,
                }
            };
            if !scripted.duration.is_zero() {
                tokio::time::sleep(scripted.duration).await;
            }
            guard.finished = true;
            drop(guard);
            scripted.result.map_err(|message| ConnectionError {
                host: req.host.clone(),
                message,
            })
        })
    }
}
