//! Resuming a run: takes the run store's record of an interrupted, halted, deferred or crashed
//! run and the operator's choice for tasks of unknown outcome, and hands back what the next
//! session must not run again (with the outputs they gave) and where attempt numbers continue.

use crate::engine::spec::TaskOutcome;
use crate::engine::TaskState as EngineState;
use crate::store::{host_name, process_alive, RunId, RunStatus, RunStore, StoreError};
use std::collections::{BTreeMap, HashMap};

/// What to do with tasks that started and never finished (outcome unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownPolicy {
    /// Stop and ask the operator (an error when nobody can be asked).
    #[default]
    Ask,
    /// Run them again (`--rerun-unknown`).
    Rerun,
    /// Treat them as done (`--skip-unknown`).
    Skip,
}

/// A `(host, task)` pair.
pub type HostTask = (String, String);

/// What a resumed session starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeState {
    /// The run.
    pub run: RunId,
    /// Tasks not to run again, with the outcome they had (for captures and conditions): give
    /// them to the engine as `RunOptions::done`.
    pub done: HashMap<HostTask, TaskOutcome>,
    /// Attempts made so far per task, so that the new session's attempts number after them.
    pub attempt_base: HashMap<HostTask, u32>,
    /// Tasks whose outcome was unknown, in the order they started.
    pub unknown: Vec<HostTask>,
}

/// Why a run cannot be resumed as asked.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ResumeError {
    /// The store failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    /// There is nothing to resume.
    #[error("no unfinished run to resume")]
    #[diagnostic(code(sflow::resume::none), help("`sflow runs` lists the runs"))]
    NothingToResume,
    /// The run finished successfully.
    #[error("run {run} already succeeded: nothing to resume")]
    #[diagnostic(code(sflow::resume::finished))]
    Finished {
        /// The run.
        run: RunId,
    },
    /// The run's controller is still running it.
    #[error("run {run} is still being run by process {pid} on {host}")]
    #[diagnostic(
        code(sflow::resume::alive),
        help("wait for it to end, or interrupt it (Ctrl-C) first")
    )]
    StillRunning {
        /// The run.
        run: RunId,
        /// The controller's pid.
        pid: u32,
        /// The controller's host.
        host: String,
    },
    /// Some tasks' outcome is unknown and the operator did not say what to do.
    #[error("{} task(s) of run {run} started and never finished: {}", tasks.len(), list(tasks))]
    #[diagnostic(
        code(sflow::resume::unknown),
        help("check those hosts, then resume with --rerun-unknown (run them again) or --skip-unknown (treat them as done)")
    )]
    Unknown {
        /// The run.
        run: RunId,
        /// The tasks.
        tasks: Vec<HostTask>,
    },
}

fn list(tasks: &[HostTask]) -> String {
    let mut shown: Vec<String> = tasks
        .iter()
        .take(5)
        .map(|(h, t)| format!("{t} on {h}"))
        .collect();
    if tasks.len() > 5 {
        shown.push(format!("and {} more", tasks.len() - 5));
    }
    shown.join(", ")
}

/// The run to resume: `requested` (an id or a unique prefix), else the most recent unfinished
/// run (of `workflow_path` when given).
pub fn pick_run(
    store: &dyn RunStore,
    requested: Option<&str>,
    workflow_path: Option<&str>,
) -> Result<RunId, ResumeError> {
    match requested {
        Some(id) => Ok(store.resolve(id)?),
        None => store
            .latest_unfinished(workflow_path)?
            .ok_or(ResumeError::NothingToResume),
    }
}

/// Reads what run `run` did and decides, with `policy`, what a new session must skip.
pub fn prepare(
    store: &dyn RunStore,
    run: &str,
    policy: UnknownPolicy,
) -> Result<ResumeState, ResumeError> {
    let summary = store.show(run)?.summary;
    if summary.status == RunStatus::Succeeded {
        return Err(ResumeError::Finished {
            run: run.to_owned(),
        });
    }
    let (pid, host) = store.controller(run)?;
    if summary.status == RunStatus::Running && host == host_name() && process_alive(pid) {
        return Err(ResumeError::StillRunning {
            run: run.to_owned(),
            pid,
            host,
        });
    }
    let states = store.task_states(run)?;
    let unknown: Vec<HostTask> = states
        .iter()
        .filter(|s| s.is_unknown())
        .map(|s| (s.host.clone(), s.task.clone()))
        .collect();
    if !unknown.is_empty() && policy == UnknownPolicy::Ask {
        return Err(ResumeError::Unknown {
            run: run.to_owned(),
            tasks: unknown,
        });
    }
    // The last attempt of each task is its outcome (the log lists attempts in order).
    let mut last: BTreeMap<HostTask, TaskOutcome> = BTreeMap::new();
    for e in store.log(run, None, None)? {
        let outcome = TaskOutcome {
            state: engine_state(&e.state),
            exit: e.exit_code,
            stdout: e.stdout,
            stderr: e.stderr,
        };
        last.insert((e.host, e.task), outcome);
    }
    let mut done = HashMap::new();
    let mut attempt_base = HashMap::new();
    for s in &states {
        let key = (s.host.clone(), s.task.clone());
        attempt_base.insert(key.clone(), s.attempts);
        let skipped_unknown = s.is_unknown() && policy == UnknownPolicy::Skip;
        if s.is_done() || skipped_unknown {
            let mut out = last.get(&key).cloned().unwrap_or_default();
            out.state = if skipped_unknown {
                Some(EngineState::Ok)
            } else {
                engine_state(&s.state)
            };
            done.insert(key, out);
        }
    }
    Ok(ResumeState {
        run: run.to_owned(),
        done,
        attempt_base,
        unknown,
    })
}

/// The engine's state for a finished task's stored state name.
fn engine_state(stored: &str) -> Option<EngineState> {
    match stored {
        "ok" => Some(EngineState::Ok),
        "skipped" => Some(EngineState::Skipped),
        "failed_allowed" => Some(EngineState::FailedAllowed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures::{dead_pid, finished, started, store_with_run, t as at};
    use crate::store::{SqliteStore, Write};

    /// A run whose controller died: `a` ok and `b` failed then restarted on h1, `a` started on
    /// h2.
    fn crashed_run(dir: &std::path::Path) -> (SqliteStore, RunId) {
        let (mut s, id) = store_with_run(dir, dead_pid());
        let writes = [
            started("h1", "a", 1, 1),
            finished("h1", "a", 1, 2, "ok", 0),
            started("h1", "b", 1, 3),
            finished("h1", "b", 1, 4, "failed", 1),
            started("h1", "b", 2, 5),
            started("h2", "a", 1, 6),
        ];
        s.apply(&id, &writes).unwrap_or_else(|e| panic!("{e}"));
        (s, id)
    }

    #[test]
    fn unknown_tasks_stop_the_resume_unless_a_policy_decides() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (s, id) = crashed_run(dir.path());
        match prepare(&s, &id, UnknownPolicy::Ask) {
            Err(ResumeError::Unknown { tasks, .. }) => assert_eq!(
                tasks,
                vec![("h1".into(), "b".into()), ("h2".into(), "a".into())]
            ),
            other => panic!("expected unknown tasks, got {other:?}"),
        }
        let rerun = prepare(&s, &id, UnknownPolicy::Rerun).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rerun.done.len(), 1);
        let a = rerun.done.get(&("h1".into(), "a".into()));
        assert_eq!(a.map(|d| d.stdout.as_str()), Some("a on h1\n"));
        assert_eq!(a.and_then(|d| d.state), Some(EngineState::Ok));
        assert_eq!(rerun.attempt_base.get(&("h1".into(), "b".into())), Some(&2));
        let skip = prepare(&s, &id, UnknownPolicy::Skip).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(skip.done.len(), 3);
        // Treated as done: the engine sees them as succeeded.
        let h2a = skip.done.get(&("h2".into(), "a".into()));
        assert_eq!(h2a.and_then(|d| d.state), Some(EngineState::Ok));
    }

    #[test]
    fn the_latest_unfinished_run_is_picked_by_default() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (s, id) = crashed_run(dir.path());
        assert_eq!(pick_run(&s, None, None).ok(), Some(id.clone()));
        assert_eq!(pick_run(&s, Some(&id[..10]), None).ok(), Some(id.clone()));
    }

    #[test]
    fn a_live_or_finished_run_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut s, id) = crashed_run(dir.path());
        s.record_resume(&id, std::process::id(), &host_name(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            prepare(&s, &id, UnknownPolicy::Rerun),
            Err(ResumeError::StillRunning { .. })
        ));
        s.apply(
            &id,
            &[Write::RunStatus {
                status: RunStatus::Succeeded,
                at: at(9),
            }],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            prepare(&s, &id, UnknownPolicy::Rerun),
            Err(ResumeError::Finished { .. })
        ));
        assert!(matches!(
            pick_run(&s, None, None),
            Err(ResumeError::NothingToResume)
        ));
    }
}
