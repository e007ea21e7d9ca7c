//! Shared set-up of the store's, the journal's and resume's unit tests: a store in a
//! directory, a new run, task starts and ends, a pid no process has.

use super::{host_name, NewRun, SqliteStore, StoreOptions, Write};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::Path;

/// `n` seconds after a fixed instant.
pub(crate) fn t(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + n, 0).unwrap_or_default()
}

/// A run of `workflow` controlled by process `pid` on this host.
pub(crate) fn new_run(workflow: &str, pid: u32) -> NewRun {
    NewRun {
        workflow: workflow.to_owned(),
        workflow_path: format!("{workflow}.sflow"),
        plan_json: "{\"waves\":[]}".to_owned(),
        plan_hash: "ab".repeat(32),
        params: BTreeMap::from([("release".to_owned(), "1.2".to_owned())]),
        operator: "alice@ctl".to_owned(),
        change_ticket: Some("CHG-42".to_owned()),
        started_at: t(0),
        controller_pid: pid,
        controller_host: host_name(),
    }
}

/// A pid that certainly belongs to no live process: a child we started and reaped.
pub(crate) fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let pid = child.id();
    let _ = child.wait();
    pid
}

/// Opens (creating) the store at `path`.
pub(crate) fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, &StoreOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Attempt `attempt` of `task` on `host` started at `t(at)` running `run TASK`.
pub(crate) fn started(host: &str, task: &str, attempt: u32, at: i64) -> Write {
    Write::TaskStarted {
        host: host.into(),
        task: task.into(),
        attempt,
        at: t(at),
        command: format!("run {task}"),
    }
}

/// Attempt `attempt` of `task` on `host` ended at `t(at)`; its stdout is `TASK on HOST`.
pub(crate) fn finished(
    host: &str,
    task: &str,
    attempt: u32,
    at: i64,
    state: &str,
    code: i32,
) -> Write {
    Write::TaskFinished {
        host: host.into(),
        task: task.into(),
        attempt,
        at: t(at),
        state: state.into(),
        exit_code: Some(code),
        duration_ms: 1000,
        stdout: format!("{task} on {host}\n"),
        stderr: String::new(),
    }
}

/// A store at `dir/state.db` holding one new run of `w` by process `pid`.
pub(crate) fn store_with_run(dir: &Path, pid: u32) -> (SqliteStore, String) {
    use super::RunStore as _;
    let mut s = open(&dir.join("state.db"));
    let id = s
        .create_run(&new_run("w", pid))
        .unwrap_or_else(|e| panic!("{e}"));
    (s, id)
}
