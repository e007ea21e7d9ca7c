//! Tests of the run store: round trips, unknown tasks, caps, secrets, concurrency, locking.

use super::fixtures::{dead_pid, finished, new_run, open, started, t};
use super::*;
use crate::secret::{Redactor, Secret};
use std::time::{Duration, Instant};

const CANARY: &str = "canary-store-5e1d";

fn host_state(host: &str, state: &str, at: i64) -> Write {
    Write::HostState {
        host: host.into(),
        state: state.into(),
        at: t(at),
        reason: None,
    }
}

#[test]
fn a_run_round_trips_through_show_log_and_runs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut s = open(&dir.path().join("state.db"));
    let id = s
        .create_run(&new_run("patch", dead_pid()))
        .unwrap_or_else(|e| panic!("{e}"));
    let writes = vec![
        host_state("web1", "running", 1),
        started("web1", "backup", 1, 1),
        finished("web1", "backup", 1, 2, "failed", 1),
        started("web1", "backup", 2, 3),
        finished("web1", "backup", 2, 4, "ok", 0),
        Write::Captured {
            host: "web1".into(),
            task: "backup".into(),
            name: "version".into(),
            value: "1.2.3".into(),
            at: t(4),
        },
        host_state("web1", "ok", 5),
        host_state("web2", "deferred", 5),
        Write::Event {
            at: t(5),
            kind: "gate".into(),
            wave: Some("canary".into()),
            host: None,
            task: None,
            detail: serde_json::json!({"decision": "pass"}),
        },
        Write::RunStatus {
            status: RunStatus::Deferred,
            at: t(6),
        },
    ];
    s.apply(&id, &writes).unwrap_or_else(|e| panic!("{e}"));

    let runs = s.runs(10).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Deferred);
    assert_eq!(runs[0].ended_at, Some(t(6)));
    assert_eq!(
        runs[0].hosts,
        BTreeMap::from([("deferred".into(), 1), ("ok".into(), 1)])
    );

    let d = s.show(&id).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.hosts.len(), 2);
    let web1 = &d.hosts[0];
    assert_eq!((web1.host.as_str(), web1.state.as_str()), ("web1", "ok"));
    assert_eq!(web1.transitions.len(), 2);
    assert_eq!(web1.tasks[0].attempts.len(), 2);
    assert_eq!(web1.tasks[0].state, "ok");
    assert_eq!(
        web1.tasks[0].captures.get("version").map(String::as_str),
        Some("1.2.3")
    );
    assert_eq!(d.events[0].detail["decision"], "pass");
    assert_eq!(d.params.get("release").map(String::as_str), Some("1.2"));

    let log = s
        .log(&id, Some("web1"), Some("backup"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].exit_code, Some(0));
    assert_eq!(log[0].command, "run backup");
    assert!(s
        .log(&id, Some("web2"), None)
        .map(|l| l.is_empty())
        .unwrap_or(false));

    for f in [ShowFormat::Human, ShowFormat::Markdown, ShowFormat::Json] {
        let text = render_show(&d, None, f);
        assert!(
            text.contains("web1") && text.contains("CHG-42"),
            "{f:?}: {text}"
        );
    }
    assert!(render_runs(&runs, ShowFormat::Human).contains(&id));
    assert!(render_log(&log).contains("$ run backup"));
}

#[test]
fn started_and_never_finished_is_unknown_once_the_controller_is_gone() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut s = open(&dir.path().join("state.db"));
    let dead = s
        .create_run(&new_run("a", dead_pid()))
        .unwrap_or_else(|e| panic!("{e}"));
    let live = s
        .create_run(&new_run("b", std::process::id()))
        .unwrap_or_else(|e| panic!("{e}"));
    for id in [&dead, &live] {
        let w = [
            started("h", "t1", 1, 1),
            finished("h", "t1", 1, 2, "ok", 0),
            started("h", "t2", 1, 3),
        ];
        s.apply(id, &w).unwrap_or_else(|e| panic!("{e}"));
    }
    let states = s.task_states(&dead).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(states.len(), 2);
    assert!(states[0].is_done());
    assert!(states[1].is_unknown(), "{states:?}");
    let states = s.task_states(&live).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(states[1].state, state::RUNNING);
    assert_eq!(s.latest_unfinished(None).ok().flatten(), Some(live.clone()));
    assert_eq!(
        s.latest_unfinished(Some("a.sflow")).ok().flatten(),
        Some(dead.clone())
    );
}

#[test]
fn run_ids_resolve_from_unique_prefixes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut s = open(&dir.path().join("state.db"));
    let a = s
        .create_run(&new_run("a", 1))
        .unwrap_or_else(|e| panic!("{e}"));
    let b = s
        .create_run(&new_run("b", 1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a, b);
    assert_eq!(s.resolve(&a).ok(), Some(a.clone()));
    assert!(matches!(s.resolve("20"), Err(StoreError::Ambiguous { .. })));
    assert!(matches!(s.resolve("nope"), Err(StoreError::NoRun { .. })));
}

#[test]
fn long_output_is_capped_keeping_head_and_tail() {
    let long: String = "é".repeat(OUTPUT_CAP); // two bytes each: twice the cap
    let capped = cap_output(&long);
    assert!(capped.len() <= OUTPUT_CAP + 64, "{}", capped.len());
    assert!(capped.contains("bytes omitted"));
    assert!(capped.starts_with('é') && capped.ends_with('é'));
    assert_eq!(cap_output("short"), "short");
}

#[test]
fn secrets_never_reach_the_store_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("state.db");
    let secret = Secret::new("token", CANARY);
    let opts = StoreOptions {
        redactor: Redactor::new([&secret]),
        ..StoreOptions::default()
    };
    let mut s = SqliteStore::open(&path, &opts).unwrap_or_else(|e| panic!("{e}"));
    let mut run = new_run("a", 1);
    run.params.insert("p".into(), CANARY.into());
    run.plan_json = format!("{{\"x\":\"{CANARY}\"}}");
    let id = s.create_run(&run).unwrap_or_else(|e| panic!("{e}"));
    let writes = [
        Write::TaskStarted {
            host: "h".into(),
            task: "t".into(),
            attempt: 1,
            at: t(1),
            command: format!("echo {CANARY}"),
        },
        Write::TaskFinished {
            host: "h".into(),
            task: "t".into(),
            attempt: 1,
            at: t(2),
            state: "ok".into(),
            exit_code: Some(0),
            duration_ms: 1,
            stdout: format!("{CANARY}\n"),
            stderr: CANARY.into(),
        },
        Write::Captured {
            host: "h".into(),
            task: "t".into(),
            name: "c".into(),
            value: CANARY.into(),
            at: t(2),
        },
        Write::HostState {
            host: "h".into(),
            state: "failed".into(),
            at: t(3),
            reason: Some(CANARY.into()),
        },
        Write::Event {
            at: t(3),
            kind: "gate".into(),
            wave: None,
            host: None,
            task: None,
            detail: serde_json::json!({ "why": CANARY }),
        },
    ];
    s.apply(&id, &writes).unwrap_or_else(|e| panic!("{e}"));
    let log = s.log(&id, None, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log[0].command, "echo ***");
    drop(s);
    for entry in std::fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
    {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        let needle = CANARY.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "canary in {}",
            entry.path().display()
        );
    }
}

#[test]
fn concurrent_runs_of_different_workflows_do_not_corrupt_each_other() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("state.db");
    drop(open(&path));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = open(&path);
                let id = s
                    .create_run(&new_run(&format!("wf{w}"), 1))
                    .unwrap_or_else(|e| panic!("{e}"));
                for h in 0..20 {
                    let host = format!("w{w}-h{h}");
                    let batch: Vec<Write> = (0..5)
                        .flat_map(|k| {
                            let task = format!("t{k}");
                            [
                                started(&host, &task, 1, k),
                                finished(&host, &task, 1, k, "ok", 0),
                            ]
                        })
                        .collect();
                    s.apply(&id, &batch).unwrap_or_else(|e| panic!("{e}"));
                }
                (w, id)
            })
        })
        .collect();
    let ids: Vec<_> = workers.into_iter().filter_map(|h| h.join().ok()).collect();
    assert_eq!(ids.len(), 4);
    let s = open(&path);
    for (w, id) in ids {
        let states = s.task_states(&id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(states.len(), 100, "run of wf{w}");
        let prefix = format!("w{w}-");
        assert!(states
            .iter()
            .all(|t| t.host.starts_with(&prefix) && t.is_done()));
        let d = s.show(&id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.summary.workflow, format!("wf{w}"));
    }
}

#[test]
fn a_locked_store_errors_clearly_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("state.db");
    let mut s = SqliteStore::open(
        &path,
        &StoreOptions {
            busy_timeout: Duration::from_millis(100),
            ..StoreOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let id = s
        .create_run(&new_run("a", 1))
        .unwrap_or_else(|e| panic!("{e}"));

    let holder = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .unwrap_or_else(|e| panic!("{e}"));

    let begun = Instant::now();
    let err = s.apply(&id, &[host_state("h", "ok", 1)]);
    assert!(begun.elapsed() < Duration::from_secs(3));
    match err {
        Err(e @ StoreError::Locked { .. }) => {
            assert!(e.to_string().contains("locked by another process"))
        }
        other => panic!("expected a lock error, got {other:?}"),
    }
    let reopened = SqliteStore::open(
        &path,
        &StoreOptions {
            busy_timeout: Duration::from_millis(50),
            ..StoreOptions::default()
        },
    );
    // Opening only reads the schema version once it exists, so it succeeds; reads go on too.
    let reader = reopened.unwrap_or_else(|e| panic!("{e}"));
    assert!(reader.runs(10).is_ok());

    holder
        .execute_batch("COMMIT")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.apply(&id, &[host_state("h", "ok", 1)]).is_ok());
}

#[test]
fn the_store_path_comes_from_the_flag_else_beside_the_workflow() {
    let flag = Path::new("/tmp/x.db");
    assert_eq!(store_path(Some(flag), Some(Path::new("a/b.sflow"))), flag);
    if std::env::var_os(STATE_ENV).is_none() {
        assert_eq!(
            store_path(None, Some(Path::new("ops/patch.sflow"))),
            Path::new("ops").join(DEFAULT_PATH)
        );
        assert_eq!(store_path(None, None), Path::new(".").join(DEFAULT_PATH));
    }
}

#[test]
fn a_store_of_schema_1_is_migrated_and_keeps_its_attempts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("state.db");
    // A version-1 store as sflow wrote it: attempts under a (run, host, task, attempt) key.
    {
        let conn = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, workflow TEXT NOT NULL,
                 workflow_path TEXT NOT NULL, plan_json TEXT NOT NULL, plan_hash TEXT NOT NULL,
                 params TEXT NOT NULL, operator TEXT NOT NULL, change_ticket TEXT,
                 started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL,
                 controller_pid INTEGER NOT NULL, controller_host TEXT NOT NULL);
             CREATE TABLE host_states (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL,
                 host TEXT NOT NULL, state TEXT NOT NULL, at TEXT NOT NULL, reason TEXT);
             CREATE INDEX host_states_run ON host_states (run_id, host, seq);
             CREATE TABLE task_attempts (run_id TEXT NOT NULL, host TEXT NOT NULL,
                 task TEXT NOT NULL, attempt INTEGER NOT NULL, state TEXT NOT NULL,
                 started_at TEXT NOT NULL, ended_at TEXT, exit_code INTEGER, duration_ms INTEGER,
                 command TEXT NOT NULL DEFAULT '', stdout TEXT NOT NULL DEFAULT '',
                 stderr TEXT NOT NULL DEFAULT '', PRIMARY KEY (run_id, host, task, attempt));
             CREATE TABLE captures (run_id TEXT NOT NULL, host TEXT NOT NULL, task TEXT NOT NULL,
                 name TEXT NOT NULL, value TEXT NOT NULL, at TEXT NOT NULL,
                 PRIMARY KEY (run_id, host, task, name));
             CREATE TABLE events (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, at TEXT NOT NULL,
                 kind TEXT NOT NULL, wave TEXT, host TEXT, task TEXT, detail TEXT NOT NULL);
             CREATE INDEX events_run ON events (run_id, seq);
             INSERT INTO runs VALUES ('r1', 'patch', 'patch.sflow', '{}', 'h', '{}', 'op@ctl',
                 NULL, '2026-01-01T00:00:00.000Z', NULL, 'interrupted', 1, 'nowhere');
             INSERT INTO task_attempts (run_id, host, task, attempt, state, started_at, ended_at,
                 exit_code, command, stdout) VALUES
                 ('r1', 'web1', 'backup', 1, 'ok', '2026-01-01T00:00:01.000Z',
                  '2026-01-01T00:00:02.000Z', 0, 'tar c /etc', 'done'),
                 ('r1', 'web1', 'upgrade', 1, 'running', '2026-01-01T00:00:03.000Z', NULL,
                  NULL, 'apt-get upgrade', '');
             PRAGMA user_version = 1;",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut s = open(&path);
    let log = s.log("r1", None, None).unwrap_or_else(|e| panic!("{e}"));
    let seen: Vec<_> = log
        .iter()
        .map(|e| {
            (
                e.task.as_str(),
                e.attempt,
                e.state.as_str(),
                e.command.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("backup", 1, "ok", "tar c /etc"),
            ("upgrade", 1, "unknown", "apt-get upgrade")
        ]
    );
    // The migrated store takes new writes, and a finished attempt updates its own row.
    s.apply(
        "r1",
        &[
            finished("web1", "upgrade", 1, 5, "ok", 0),
            started("web1", "reboot", 1, 6),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let states = s.task_states("r1").unwrap_or_else(|e| panic!("{e}"));
    let states: Vec<_> = states
        .iter()
        .map(|t| (t.task.as_str(), t.attempts, t.state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("backup", 1, "ok"),
            ("upgrade", 1, "ok"),
            ("reboot", 1, "unknown")
        ]
    );
    let version: i64 = s
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(version, 3);
    let folds: i64 = s
        .conn
        .query_row("SELECT COUNT(*) FROM intent_folds", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(folds, 0);
}

#[test]
fn the_latest_attempt_of_each_task_decides_its_state() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut s = open(&dir.path().join("state.db"));
    let id = s
        .create_run(&new_run("patch", dead_pid()))
        .unwrap_or_else(|e| panic!("{e}"));
    s.apply(
        &id,
        &[
            started("web1", "a", 1, 1),
            finished("web1", "a", 1, 2, "failed", 1),
            started("web2", "a", 1, 2),
            started("web1", "a", 2, 3),
            finished("web1", "a", 2, 4, "ok", 0),
            // The same attempt reported twice keeps one row.
            finished("web1", "a", 2, 5, "ok", 0),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let states = s.task_states(&id).unwrap_or_else(|e| panic!("{e}"));
    let states: Vec<_> = states
        .iter()
        .map(|t| (t.host.as_str(), t.attempts, t.state.as_str()))
        .collect();
    assert_eq!(states, [("web2", 1, "unknown"), ("web1", 2, "ok")]);
    assert_eq!(
        s.log(&id, Some("web1"), None).map(|l| l.len()).ok(),
        Some(2)
    );
}
