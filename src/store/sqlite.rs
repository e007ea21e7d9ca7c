//! The SQLite run store: one file in WAL mode (readers never block the writer), written in
//! immediate transactions with a busy timeout so that a locked store fails clearly.

use super::{
    host_name, process_alive, state, HostDetail, LogEntry, NewRun, RunDetail, RunId, RunStatus,
    RunStore, RunSummary, StoreError, TaskState, Write,
};
use crate::secret::Redactor;
use crate::timestamp::Stamp;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension as _, TransactionBehavior};
use rustc_hash::FxHashMap;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The schema version this code writes and reads.
const SCHEMA_VERSION: i64 = 3;

/// The `task_attempts` table of schema 2 under `$name` (the migration from schema 1 builds
/// it beside the old table, then renames it).
macro_rules! task_attempts_table {
    ($name:literal) => {
        concat!(
            "CREATE TABLE ",
            $name,
            " (
    seq         INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    host        TEXT NOT NULL,
    task        TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    state       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    exit_code   INTEGER,
    duration_ms INTEGER,
    command     TEXT NOT NULL DEFAULT '',
    stdout      TEXT NOT NULL DEFAULT '',
    stderr      TEXT NOT NULL DEFAULT ''
);
"
        )
    };
}

/// Version 1 kept `task_attempts` under a `(run_id, host, task, attempt)` primary key: every
/// start and end updated an index in host order, scattered over the file (a quarter of the
/// store's time in the journal benchmark, BENCHMARKS.md "Journal"). Version 2 appends
/// attempts in the order they happen (an index on the run only) and finds an attempt's row
/// through the writer's own map ([`SqliteStore::apply`]).
const MIGRATE_1_TO_2: &str = concat!(
    task_attempts_table!("task_attempts_v2"),
    "INSERT INTO task_attempts_v2 (run_id, host, task, attempt, state, started_at, ended_at,
    exit_code, duration_ms, command, stdout, stderr)
    SELECT run_id, host, task, attempt, state, started_at, ended_at, exit_code, duration_ms,
    command, stdout, stderr FROM task_attempts ORDER BY rowid;
DROP TABLE task_attempts;
ALTER TABLE task_attempts_v2 RENAME TO task_attempts;
CREATE INDEX task_attempts_run ON task_attempts (run_id);
"
);

/// Version 3 adds how much of each run's intent log is folded into the tables (see
/// `intent.rs`): a checkpoint moves it in the same transaction as the writes it folds.
const MIGRATE_2_TO_3: &str = "
CREATE TABLE intent_folds (
    run_id TEXT PRIMARY KEY,
    folded INTEGER NOT NULL
);
";

const SCHEMA: &str = concat!(
    "
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    workflow        TEXT NOT NULL,
    workflow_path   TEXT NOT NULL,
    plan_json       TEXT NOT NULL,
    plan_hash       TEXT NOT NULL,
    params          TEXT NOT NULL,
    operator        TEXT NOT NULL,
    change_ticket   TEXT,
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    status          TEXT NOT NULL,
    controller_pid  INTEGER NOT NULL,
    controller_host TEXT NOT NULL
);
CREATE TABLE host_states (
    seq     INTEGER PRIMARY KEY,
    run_id  TEXT NOT NULL,
    host    TEXT NOT NULL,
    state   TEXT NOT NULL,
    at      TEXT NOT NULL,
    reason  TEXT
);
CREATE INDEX host_states_run ON host_states (run_id, host, seq);
",
    task_attempts_table!("task_attempts"),
    "CREATE INDEX task_attempts_run ON task_attempts (run_id);
CREATE TABLE captures (
    run_id TEXT NOT NULL,
    host   TEXT NOT NULL,
    task   TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  TEXT NOT NULL,
    at     TEXT NOT NULL,
    PRIMARY KEY (run_id, host, task, name)
);
CREATE TABLE events (
    seq    INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    at     TEXT NOT NULL,
    kind   TEXT NOT NULL,
    wave   TEXT,
    host   TEXT,
    task   TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX events_run ON events (run_id, seq);
",
    "CREATE TABLE intent_folds (
    run_id TEXT PRIMARY KEY,
    folded INTEGER NOT NULL
);
"
);

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a write waits for another process's lock before failing with
    /// [`StoreError::Locked`].
    pub busy_timeout: Duration,
    /// Create the file (and its directory) when missing; read-only commands pass `false`.
    pub create: bool,
    /// Sync to disk on every commit (`synchronous=FULL`): survives power loss, costs an fsync
    /// per batch. The default (`NORMAL` in WAL mode) survives a crash of the process.
    pub sync_full: bool,
    /// Masks secret values in everything written.
    pub redactor: Redactor,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            create: true,
            sync_full: false,
            redactor: Redactor::default(),
        }
    }
}

/// The SQLite implementation of [`RunStore`].
pub struct SqliteStore {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    pub(super) busy_ms: u64,
    /// How it was opened (the checkpointer opens its own connection alike).
    pub(super) opts: StoreOptions,
    /// The row of each attempt of the run being written (`apply`), loaded once per run: the
    /// table has no unique index on `(run, host, task, attempt)`, this map keeps it unique.
    pub(super) attempt_rows: Option<(RunId, AttemptRows)>,
    /// The intent log of the run being journaled ([`RunStore::append`]).
    pub(super) intent: Option<super::sqlite_write::OpenIntent>,
}

/// Where the rows of one run's attempts are, for later writes to the same attempt.
#[derive(Debug, Default)]
pub(super) struct AttemptRows {
    /// Attempts by key, with their row.
    pub(super) rows: FxHashMap<AttemptKey, i64>,
    /// Hashes ([`attempt_hash`]) of the attempts written whole (started and ended in one
    /// fold) by this connection, noted when queued, and not in `rows`: nearly every attempt,
    /// and almost never written again, so only a hash is kept and a rare hit looks the row up
    /// in the table.
    pub(super) whole: rustc_hash::FxHashSet<u64>,
}

/// The hash of an attempt in [`AttemptRows::whole`].
pub(super) fn attempt_hash(host: &str, task: &str, attempt: u32) -> u64 {
    use std::hash::BuildHasher as _;
    rustc_hash::FxBuildHasher.hash_one((host, task, attempt))
}

/// An attempt's key in [`SqliteStore::attempt_rows`]: `host`, `task` and `attempt` joined by
/// NUL (which no name holds), so that a lookup can reuse one buffer instead of allocating.
type AttemptKey = String;

/// Writes the [`AttemptKey`] of `(host, task, attempt)` into `buf` and returns it.
pub(super) fn attempt_key<'b>(
    buf: &'b mut String,
    host: &str,
    task: &str,
    attempt: u32,
) -> &'b str {
    use std::fmt::Write as _;
    buf.clear();
    buf.push_str(host);
    buf.push('\0');
    buf.push_str(task);
    buf.push('\0');
    let _ = write!(buf, "{attempt}");
    buf
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// `t` as the store's columns keep it (RFC 3339, milliseconds), without an allocation.
pub(super) fn ts(t: DateTime<Utc>) -> Stamp {
    Stamp::new(t, SecondsFormat::Millis)
}

impl rusqlite::ToSql for Stamp {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

pub(super) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A fresh run id: UTC start time and 4 hex digits that differ between processes and calls.
fn new_run_id(at: DateTime<Utc>) -> RunId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .to_le_bytes(),
    );
    let digest = h.finalize();
    format!(
        "{}-{}",
        at.format("%Y%m%d-%H%M%S"),
        hex::encode(&digest[..2])
    )
}

impl SqliteStore {
    /// Opens (creating if asked) the store at `path`: WAL mode, busy timeout, schema.
    pub fn open(path: &Path, opts: &StoreOptions) -> Result<Self, StoreError> {
        let mut store = Self::connect(path, opts)?;
        store.recover_intents()?;
        Ok(store)
    }

    /// Opens without folding other runs' intent logs: the checkpointer's own connection.
    pub(super) fn connect(path: &Path, opts: &StoreOptions) -> Result<Self, StoreError> {
        if !path.exists() {
            if !opts.create {
                return Err(StoreError::Missing {
                    path: path.to_owned(),
                });
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                    path: dir.to_owned(),
                    source,
                })?;
            }
            // Outputs may be sensitive: create the file private; SQLite gives its -wal and
            // -shm files the same permissions.
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|source| StoreError::Io {
                    path: path.to_owned(),
                    source,
                })?;
        }
        let busy_ms = u64::try_from(opts.busy_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut store = Self {
            conn: Connection::open(path).map_err(|e| db_err(path, busy_ms, &e))?,
            path: path.to_owned(),
            busy_ms,
            opts: opts.clone(),
            attempt_rows: None,
            intent: None,
        };
        let err = |e: rusqlite::Error| db_err(path, busy_ms, &e);
        store.conn.busy_timeout(opts.busy_timeout).map_err(err)?;
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database {
                path: path.to_owned(),
                message: format!("cannot use WAL mode (journal mode is {mode})"),
            });
        }
        let sync = if opts.sync_full { "FULL" } else { "NORMAL" };
        store
            .conn
            .pragma_update(None, "synchronous", sync)
            .map_err(err)?;
        // Closing the last connection would copy the whole write-ahead log into the database
        // and sync it, at the end of every run (a third of the journal's cost in the journal
        // benchmark); the log stays instead, and the next writer's automatic checkpoints
        // carry it over.
        store
            .conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(err)?;
        store.migrate()?;
        Ok(store)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn err(&self, e: &rusqlite::Error) -> StoreError {
        db_err(&self.path, self.busy_ms, e)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let (path, busy_ms) = (self.path.clone(), self.busy_ms);
        let err = |e: rusqlite::Error| db_err(&path, busy_ms, &e);
        // A plain read first: opening an existing store must not need the write lock, so that
        // `sflow show` works while a run is writing.
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Version {
                path,
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        match version {
            0 => tx.execute_batch(SCHEMA).map_err(err)?,
            1 => {
                tx.execute_batch(MIGRATE_1_TO_2).map_err(err)?;
                tx.execute_batch(MIGRATE_2_TO_3).map_err(err)?;
            }
            2 => tx.execute_batch(MIGRATE_2_TO_3).map_err(err)?,
            _ => {}
        }
        if version < SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The rows of `run`'s attempts, by `(host, task, attempt)`.
    pub(super) fn attempt_rows_of(&self, run: &str) -> Result<AttemptRows, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT host, task, attempt, seq FROM task_attempts WHERE run_id = ?1")
            .map_err(|e| self.err(&e))?;
        let rows = stmt
            .query_map([run], |r| {
                let (host, task): (String, String) = (r.get(0)?, r.get(1)?);
                let key = attempt_key(&mut String::new(), &host, &task, r.get(2)?).to_owned();
                Ok((key, r.get(3)?))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e));
        rows.map(|rows| AttemptRows {
            rows,
            whole: Default::default(),
        })
    }

    fn redact<'a>(&self, s: &'a str) -> std::borrow::Cow<'a, str> {
        if self.opts.redactor.leaks(s) {
            std::borrow::Cow::Owned(self.opts.redactor.redact(s))
        } else {
            std::borrow::Cow::Borrowed(s)
        }
    }

    pub(super) fn corrupt(&self, what: &str) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.to_owned(),
        }
    }

    pub(super) fn summary_of(&self, row: &RunRow) -> Result<RunSummary, StoreError> {
        let hosts = self.host_counts(&row.id)?;
        Ok(RunSummary {
            id: row.id.clone(),
            workflow: row.workflow.clone(),
            workflow_path: row.workflow_path.clone(),
            status: RunStatus::parse(&row.status).ok_or_else(|| self.corrupt("runs.status"))?,
            started_at: parse_ts(&row.started_at).ok_or_else(|| self.corrupt("runs.started_at"))?,
            ended_at: row.ended_at.as_deref().and_then(parse_ts),
            operator: row.operator.clone(),
            change_ticket: row.change_ticket.clone(),
            hosts,
        })
    }

    pub(super) fn run_row(&self, run: &str) -> Result<RunRow, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [run],
                RunRow::from_row,
            )
            .optional()
            .map_err(|e| self.err(&e))?
            .ok_or_else(|| StoreError::NoRun { id: run.to_owned() })
    }

    fn host_counts(&self, run: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT state, COUNT(*) FROM host_states h
                 WHERE run_id = ?1 AND seq = (SELECT MAX(seq) FROM host_states
                                              WHERE run_id = h.run_id AND host = h.host)
                 GROUP BY state",
            )
            .map_err(|e| self.err(&e))?;
        let rows = stmt
            .query_map([run], |r| {
                Ok((r.get::<_, String>(0)?, non_negative(r.get(1)?)))
            })
            .map_err(|e| self.err(&e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(&e))
    }

    /// True when the run's controller may still be running it (so `running` is not `unknown`).
    pub(super) fn controller_alive(&self, run: &str) -> Result<bool, StoreError> {
        let row = self.run_row(run)?;
        Ok(row.status == RunStatus::Running.as_str()
            && row.controller_host == host_name()
            && process_alive(row.controller_pid))
    }
}

pub(super) fn db_err(path: &Path, busy_ms: u64, e: &rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
            path: path.to_owned(),
            waited_ms: busy_ms,
        },
        _ => StoreError::Database {
            path: path.to_owned(),
            message: e.to_string(),
        },
    }
}

const RUN_COLUMNS: &str = "id, workflow, workflow_path, plan_hash, params, operator, change_ticket,
    started_at, ended_at, status, controller_pid, controller_host";

pub(super) struct RunRow {
    id: String,
    workflow: String,
    workflow_path: String,
    pub(super) plan_hash: String,
    pub(super) params: String,
    operator: String,
    change_ticket: Option<String>,
    started_at: String,
    ended_at: Option<String>,
    status: String,
    controller_pid: u32,
    controller_host: String,
}

impl RunRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            workflow: r.get(1)?,
            workflow_path: r.get(2)?,
            plan_hash: r.get(3)?,
            params: r.get(4)?,
            operator: r.get(5)?,
            change_ticket: r.get(6)?,
            started_at: r.get(7)?,
            ended_at: r.get(8)?,
            status: r.get(9)?,
            controller_pid: r.get(10)?,
            controller_host: r.get(11)?,
        })
    }
}

impl RunStore for SqliteStore {
    fn create_run(&mut self, run: &NewRun) -> Result<RunId, StoreError> {
        let params_json = {
            let mut v = serde_json::to_value(&run.params).unwrap_or_default();
            self.opts.redactor.redact_json(&mut v);
            v.to_string()
        };
        let plan_json = self.redact(&run.plan_json).into_owned();
        for _ in 0..8 {
            let id = new_run_id(run.started_at);
            let inserted = self
                .conn
                .execute(
                    "INSERT OR IGNORE INTO runs (id, workflow, workflow_path, plan_json, plan_hash,
                     params, operator, change_ticket, started_at, status, controller_pid,
                     controller_host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        id,
                        run.workflow,
                        run.workflow_path,
                        plan_json,
                        run.plan_hash,
                        params_json,
                        run.operator,
                        run.change_ticket,
                        ts(run.started_at),
                        RunStatus::Running.as_str(),
                        run.controller_pid,
                        run.controller_host,
                    ],
                )
                .map_err(|e| self.err(&e))?;
            if inserted == 1 {
                return Ok(id);
            }
        }
        Err(StoreError::Database {
            path: self.path.clone(),
            message: "could not find a free run id".to_owned(),
        })
    }

    fn apply(&mut self, run: &str, writes: &[Write]) -> Result<(), StoreError> {
        self.write_batch(run, writes, None).map(drop)
    }

    fn append(&mut self, run: &str, writes: Vec<Write>) -> Result<(), StoreError> {
        self.append_intent(run, writes)
    }

    fn pending(&self) -> usize {
        self.intent
            .as_ref()
            .map_or(0, super::sqlite_write::OpenIntent::pending)
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.fold_pending()
    }

    fn close_journal(&mut self) -> Result<(), StoreError> {
        self.end_intent()
    }

    fn record_resume(
        &mut self,
        run: &str,
        controller_pid: u32,
        controller_host: &str,
        replan: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        let (path, busy_ms) = (self.path.clone(), self.busy_ms);
        let err = |e: rusqlite::Error| db_err(&path, busy_ms, &e);
        let plan = replan.map(|(json, hash)| (self.redact(json).into_owned(), hash.to_owned()));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let n = tx
            .execute(
                "UPDATE runs SET controller_pid = ?2, controller_host = ?3, status = 'running',
                 ended_at = NULL WHERE id = ?1",
                params![run, controller_pid, controller_host],
            )
            .map_err(err)?;
        if n == 0 {
            return Err(StoreError::NoRun { id: run.to_owned() });
        }
        if let Some((json, hash)) = plan {
            tx.execute(
                "UPDATE runs SET plan_json = ?2, plan_hash = ?3 WHERE id = ?1",
                params![run, json, hash],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?1"
            ))
            .map_err(|e| self.err(&e))?;
        let rows: Vec<RunRow> = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], RunRow::from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))?;
        rows.iter().map(|r| self.summary_of(r)).collect()
    }

    fn resolve(&self, id: &str) -> Result<RunId, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM runs WHERE id = ?1 OR substr(id, 1, length(?1)) = ?1 LIMIT 4")
            .map_err(|e| self.err(&e))?;
        let ids: Vec<String> = stmt
            .query_map([id], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))?;
        if let Some(exact) = ids.iter().find(|i| *i == id) {
            return Ok(exact.clone());
        }
        match ids.as_slice() {
            [] => Err(StoreError::NoRun { id: id.to_owned() }),
            [one] => Ok(one.clone()),
            many => Err(StoreError::Ambiguous {
                id: id.to_owned(),
                candidates: many.join(", "),
            }),
        }
    }

    fn show(&self, run: &str) -> Result<RunDetail, StoreError> {
        self.show_run(run)
    }

    fn plan(&self, run: &str) -> Result<(String, String), StoreError> {
        self.conn
            .query_row(
                "SELECT plan_json, plan_hash FROM runs WHERE id = ?1",
                [run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(&e))?
            .ok_or_else(|| StoreError::NoRun { id: run.to_owned() })
    }

    fn log(
        &self,
        run: &str,
        host: Option<&str>,
        task: Option<&str>,
    ) -> Result<Vec<LogEntry>, StoreError> {
        self.log_entries(run, host, task)
    }

    fn task_states(&self, run: &str) -> Result<Vec<TaskState>, StoreError> {
        let alive = self.controller_alive(run)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT host, task, attempt, state FROM task_attempts
                 WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(&e))?;
        let rows: Vec<(String, String, u32, String)> = stmt
            .query_map([run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))?;
        // The latest attempt of each task, in the order those attempts were recorded.
        let mut latest: HashMap<(&str, &str), u32> = HashMap::new();
        for (host, task, attempt, _) in &rows {
            let slot = latest.entry((host, task)).or_insert(*attempt);
            *slot = (*slot).max(*attempt);
        }
        let keep: Vec<bool> = rows
            .iter()
            .map(|(h, t, a, _)| latest.get(&(h.as_str(), t.as_str())) == Some(a))
            .collect();
        Ok(rows
            .into_iter()
            .zip(keep)
            .filter(|(_, keep)| *keep)
            .map(|((host, task, attempts, st), _)| TaskState {
                host,
                task,
                attempts,
                state: if st == state::RUNNING && !alive {
                    state::UNKNOWN.to_owned()
                } else {
                    st
                },
            })
            .collect())
    }

    fn latest_unfinished(&self, workflow_path: Option<&str>) -> Result<Option<RunId>, StoreError> {
        self.conn
            .query_row(
                "SELECT id FROM runs WHERE status != 'succeeded' AND (?1 IS NULL OR workflow_path = ?1)
                 ORDER BY started_at DESC, rowid DESC LIMIT 1",
                [workflow_path],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(&e))
    }

    fn controller(&self, run: &str) -> Result<(u32, String), StoreError> {
        let row = self.run_row(run)?;
        Ok((row.controller_pid, row.controller_host))
    }
}

pub(super) fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn empty_host(host: &str) -> HostDetail {
    HostDetail {
        host: host.to_owned(),
        state: String::new(),
        transitions: Vec::new(),
        tasks: Vec::new(),
    }
}
