//! Writing the SQLite store: journal batches in one transaction each (an attempt that starts
//! and ends in one batch becomes one row), the run's intent log (appended at once, folded into
//! the tables at checkpoints), and the recovery of intent logs a dead controller left behind.

use super::checkpointer::Checkpointer;
use super::intent::{self, IntentLog};
use super::sqlite::{attempt_hash, attempt_key, db_err, ts, AttemptRows};
use super::{cap_output, state, RunId, RunStatus, SqliteStore, StoreError, Write};
use crate::secret::Redactor;
use crate::timestamp::Stamp;
use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension as _, TransactionBehavior};
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::sync::LazyLock;

/// The index of the first `TaskFinished` of each attempt in `writes`, by the attempt's
/// [`attempt_hash`] (a 64-bit key hashes and compares faster than the names; what two
/// attempts sharing a hash cost is checked by [`end_of`]).
fn ends_by_attempt(writes: &[Write]) -> FxHashMap<u64, usize> {
    let mut ends = FxHashMap::with_capacity_and_hasher(writes.len() / 2, Default::default());
    for (i, w) in writes.iter().enumerate() {
        if let Write::TaskFinished {
            host,
            task,
            attempt,
            ..
        } = w
        {
            ends.entry(attempt_hash(host, task, *attempt)).or_insert(i);
        }
    }
    ends
}

/// Where in `writes`, after `i`, the attempt `(host, task, attempt)` started at `i` ends, by
/// its `hash` in `ends`; `None` also when the end found is another attempt's that shares the
/// hash (the attempt is then written as a start and an end, as one not ending in the batch).
fn end_of(
    ends: &FxHashMap<u64, usize>,
    writes: &[Write],
    i: usize,
    (host, task, attempt): (&str, &str, u32),
    hash: u64,
) -> Option<usize> {
    let j = *ends.get(&hash)?;
    match writes.get(j) {
        Some(Write::TaskFinished {
            host: h,
            task: t,
            attempt: a,
            ..
        }) if j > i && h == host && t == task && *a == attempt => Some(j),
        _ => None,
    }
}

/// `text` as the store keeps it: masked by `redactor` when one is given and the text leaks a
/// secret, else as it is.
fn masked<'a>(redactor: Option<&Redactor>, text: &'a str) -> Cow<'a, str> {
    match redactor {
        Some(r) if r.leaks(text) => Cow::Owned(r.redact(text)),
        _ => Cow::Borrowed(text),
    }
}

/// An output or captured value as the store keeps it: capped and masked, unless it comes
/// from the intent log (`redactor` is `None`), which holds it so already.
fn kept<'a>(redactor: Option<&Redactor>, text: &'a str) -> Cow<'a, str> {
    if redactor.is_none() {
        return Cow::Borrowed(text);
    }
    match cap_output(text) {
        Cow::Borrowed(t) => masked(redactor, t),
        Cow::Owned(t) => Cow::Owned(masked(redactor, &t).into_owned()),
    }
}

/// Whole attempts (started and ended within one batch) inserted by one statement: one
/// statement per row costs SQLite as much again in executing statements as in storing rows.
const WHOLE_ROWS: usize = 32;

/// The columns of a whole attempt's row, [`WHOLE_COLUMNS`] parameters each. `OR FAIL`: a
/// statement of many rows that could abort halfway makes SQLite copy every page it changes
/// into a statement journal first; a failure fails the whole fold's transaction anyway.
const WHOLE_INSERT: &str = "INSERT OR FAIL INTO task_attempts (run_id, host, task, attempt, state,
    started_at, ended_at, exit_code, duration_ms, command, stdout, stderr) VALUES ";
const WHOLE_COLUMNS: usize = 12;

/// `INSERT` of `n` whole attempts.
fn whole_insert(n: usize) -> String {
    let mut sql = WHOLE_INSERT.to_owned();
    for row in 0..n {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..WHOLE_COLUMNS {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push('?');
        }
        sql.push(')');
    }
    sql
}

/// A whole attempt waiting to be inserted with others.
struct Whole<'w> {
    host: &'w str,
    task: &'w str,
    attempt: u32,
    state: &'w str,
    started_at: Stamp,
    ended_at: Stamp,
    exit_code: Option<i32>,
    duration_ms: i64,
    command: Cow<'w, str>,
    stdout: Cow<'w, str>,
    stderr: Cow<'w, str>,
}

/// The statements that insert whole attempts: [`WHOLE_ROWS`] at once, and one.
struct WholeInserts<'c> {
    many: rusqlite::CachedStatement<'c>,
    one: rusqlite::CachedStatement<'c>,
}

impl<'c> WholeInserts<'c> {
    fn new(tx: &'c rusqlite::Transaction<'_>) -> rusqlite::Result<Self> {
        static ONE: LazyLock<String> = LazyLock::new(|| whole_insert(1));
        static MANY: LazyLock<String> = LazyLock::new(|| whole_insert(WHOLE_ROWS));
        Ok(Self {
            many: tx.prepare_cached(&MANY)?,
            one: tx.prepare_cached(&ONE)?,
        })
    }
}

/// Inserts the pending whole attempts, [`WHOLE_ROWS`] per statement and the rest one by one
/// (their hashes were noted in [`AttemptRows::whole`] when they were queued).
fn insert_wholes(
    inserts: &mut WholeInserts<'_>,
    run: &str,
    pending: &mut Vec<Whole<'_>>,
) -> rusqlite::Result<()> {
    let mut done = 0;
    while done < pending.len() {
        let (n, stmt) = if pending.len() - done >= WHOLE_ROWS {
            (WHOLE_ROWS, &mut inserts.many)
        } else {
            (1, &mut inserts.one)
        };
        for (r, w) in pending[done..done + n].iter().enumerate() {
            let at = r * WHOLE_COLUMNS;
            stmt.raw_bind_parameter(at + 1, run)?;
            stmt.raw_bind_parameter(at + 2, w.host)?;
            stmt.raw_bind_parameter(at + 3, w.task)?;
            stmt.raw_bind_parameter(at + 4, w.attempt)?;
            stmt.raw_bind_parameter(at + 5, w.state)?;
            stmt.raw_bind_parameter(at + 6, &w.started_at)?;
            stmt.raw_bind_parameter(at + 7, &w.ended_at)?;
            stmt.raw_bind_parameter(at + 8, w.exit_code)?;
            stmt.raw_bind_parameter(at + 9, w.duration_ms)?;
            stmt.raw_bind_parameter(at + 10, w.command.as_ref())?;
            stmt.raw_bind_parameter(at + 11, w.stdout.as_ref())?;
            stmt.raw_bind_parameter(at + 12, w.stderr.as_ref())?;
        }
        stmt.raw_execute()?;
        done += n;
    }
    pending.clear();
    Ok(())
}

/// The row of attempt `key` (`host`, `task`, `attempt`, whose [`attempt_hash`] is `hash`) of
/// `run`, if it has one: from `rows.rows`, or, when its hash is among the whole attempts, from
/// the table (then kept). Whole attempts still queued must be inserted first.
fn row_of(
    tx: &rusqlite::Transaction<'_>,
    run: &str,
    rows: &mut AttemptRows,
    key: &str,
    hash: u64,
    (host, task, attempt): (&str, &str, u32),
) -> rusqlite::Result<Option<i64>> {
    if let Some(&seq) = rows.rows.get(key) {
        return Ok(Some(seq));
    }
    if !rows.whole.contains(&hash) {
        return Ok(None);
    }
    // Another attempt may share the hash: the table says.
    let seq: Option<i64> = tx
        .prepare_cached(
            "SELECT seq FROM task_attempts
             WHERE run_id = ?1 AND host = ?2 AND task = ?3 AND attempt = ?4
             ORDER BY seq LIMIT 1",
        )?
        .query_row(params![run, host, task, attempt], |r| r.get(0))
        .optional()?;
    if let Some(seq) = seq {
        rows.rows.insert(key.to_owned(), seq);
    }
    Ok(seq)
}

/// How much of `run`'s intent log is in the tables.
fn folded_offset(conn: &Connection, run: &str) -> rusqlite::Result<u64> {
    let folded: Option<i64> = conn
        .query_row(
            "SELECT folded FROM intent_folds WHERE run_id = ?1",
            [run],
            |r| r.get(0),
        )
        .optional()?;
    Ok(folded.and_then(|f| u64::try_from(f).ok()).unwrap_or(0))
}

/// The intent log of the run this store is journaling, and the thread folding it.
#[derive(Debug)]
pub(super) struct OpenIntent {
    run: RunId,
    log: IntentLog,
    checkpointer: Checkpointer,
}

impl OpenIntent {
    /// Writes appended and not yet in the tables.
    pub(super) fn pending(&self) -> usize {
        self.checkpointer.pending()
    }
}

impl SqliteStore {
    /// Applies `writes` to `run` in one immediate transaction. With `fold = Some((from, to))`
    /// they are the intent log's bytes `from..to`: the transaction also moves the run's folded
    /// offset from `from` to `to`, and writes nothing (returns `false`) when another process
    /// has moved it first.
    pub(super) fn write_batch(
        &mut self,
        run: &str,
        writes: &[Write],
        fold: Option<(u64, u64)>,
    ) -> Result<bool, StoreError> {
        let (path, busy_ms) = (self.path.clone(), self.busy_ms);
        let err = |e: rusqlite::Error| db_err(&path, busy_ms, &e);
        let redactor = self.opts.redactor.clone();
        // What the intent log holds was masked and capped when it was appended.
        let clean = fold.is_none().then_some(&redactor);
        let red = |s| masked(clean, s);
        // Taken out while writing and put back only after the commit: a failed transaction
        // leaves no row numbers behind that the database does not have.
        let mut rows = match self.attempt_rows.take() {
            Some((r, rows)) if r == run => rows,
            _ => self.attempt_rows_of(run)?,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        // The two statements of nearly every write, looked up once per batch.
        let mut insert_start = tx
            .prepare_cached(
                "INSERT INTO task_attempts (run_id, host, task, attempt, state,
                 started_at, command) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(err)?;
        let mut update_end = tx
            .prepare_cached(
                "UPDATE task_attempts SET state = ?2, ended_at = ?3, exit_code = ?4,
                 duration_ms = ?5, stdout = ?6, stderr = ?7 WHERE seq = ?1",
            )
            .map_err(err)?;
        if let Some((from, _)) = fold {
            if folded_offset(&tx, run).map_err(err)? != from {
                self.attempt_rows = None;
                return Ok(false);
            }
        }
        let mut wholes: Vec<Whole<'_>> = Vec::with_capacity(WHOLE_ROWS);
        let mut whole_inserts = WholeInserts::new(&tx).map_err(err)?;
        let mut insert_host = tx
            .prepare_cached(
                "INSERT INTO host_states (run_id, host, state, at, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(err)?;
        // An attempt that starts and ends within one batch (every attempt shorter than the
        // time between checkpoints) becomes one row written once.
        let ends = ends_by_attempt(writes);
        let mut merged = vec![false; writes.len()];
        let mut scratch = String::new();
        for (i, w) in writes.iter().enumerate() {
            match w {
                Write::RunStatus { status, at } => {
                    let ended = (*status != RunStatus::Running).then(|| ts(*at));
                    tx.prepare_cached("UPDATE runs SET status = ?2, ended_at = ?3 WHERE id = ?1")
                        .and_then(|mut s| s.execute(params![run, status.as_str(), ended]))
                        .map_err(err)?;
                }
                Write::HostState {
                    host,
                    state,
                    at,
                    reason,
                } => {
                    insert_host
                        .execute(params![
                            run,
                            host,
                            state,
                            ts(*at),
                            reason.as_deref().map(red)
                        ])
                        .map_err(err)?;
                }
                Write::TaskStarted {
                    host,
                    task,
                    attempt,
                    at,
                    command,
                } => {
                    let hash = attempt_hash(host, task, *attempt);
                    // Rare: this attempt may be a queued whole one, which has no row yet.
                    if !wholes.is_empty() && rows.whole.contains(&hash) {
                        insert_wholes(&mut whole_inserts, run, &mut wholes).map_err(err)?;
                    }
                    let key = attempt_key(&mut scratch, host, task, *attempt);
                    let row = row_of(&tx, run, &mut rows, key, hash, (host, task, *attempt));
                    if let Some(seq) = row.map_err(err)? {
                        tx.prepare_cached(
                            "UPDATE task_attempts SET state = ?2, started_at = ?3, command = ?4
                             WHERE seq = ?1",
                        )
                        .and_then(|mut s| {
                            s.execute(params![seq, state::RUNNING, ts(*at), red(command)])
                        })
                        .map_err(err)?;
                    } else if let Some((
                        j,
                        Write::TaskFinished {
                            at: ended,
                            state,
                            exit_code,
                            duration_ms,
                            stdout,
                            stderr,
                            ..
                        },
                    )) = end_of(&ends, writes, i, (host, task, *attempt), hash)
                        .map(|j| (j, &writes[j]))
                    {
                        merged[j] = true;
                        rows.whole.insert(hash);
                        wholes.push(Whole {
                            host,
                            task,
                            attempt: *attempt,
                            state,
                            started_at: ts(*at),
                            ended_at: ts(*ended),
                            exit_code: *exit_code,
                            duration_ms: i64::try_from(*duration_ms).unwrap_or(i64::MAX),
                            command: red(command),
                            stdout: kept(clean, stdout),
                            stderr: kept(clean, stderr),
                        });
                        if wholes.len() == WHOLE_ROWS {
                            insert_wholes(&mut whole_inserts, run, &mut wholes).map_err(err)?;
                        }
                    } else {
                        // Rows keep the order of their writes.
                        insert_wholes(&mut whole_inserts, run, &mut wholes).map_err(err)?;
                        insert_start
                            .execute(params![
                                run,
                                host,
                                task,
                                attempt,
                                state::RUNNING,
                                ts(*at),
                                red(command)
                            ])
                            .map_err(err)?;
                        rows.rows.insert(key.to_owned(), tx.last_insert_rowid());
                    }
                }
                Write::TaskFinished { .. } if merged[i] => {}
                Write::TaskFinished {
                    host,
                    task,
                    attempt,
                    at,
                    state,
                    exit_code,
                    duration_ms,
                    stdout,
                    stderr,
                } => {
                    let (out, errs) = (kept(clean, stdout), kept(clean, stderr));
                    let duration = i64::try_from(*duration_ms).unwrap_or(i64::MAX);
                    insert_wholes(&mut whole_inserts, run, &mut wholes).map_err(err)?;
                    let key = attempt_key(&mut scratch, host, task, *attempt);
                    let hash = attempt_hash(host, task, *attempt);
                    let row = row_of(&tx, run, &mut rows, key, hash, (host, task, *attempt));
                    if let Some(seq) = row.map_err(err)? {
                        update_end
                            .execute(params![seq, state, ts(*at), exit_code, duration, out, errs])
                            .map_err(err)?;
                    } else {
                        tx.prepare_cached(
                            "INSERT INTO task_attempts (run_id, host, task, attempt, state,
                             started_at, ended_at, exit_code, duration_ms, stdout, stderr)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10)",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                run,
                                host,
                                task,
                                attempt,
                                state,
                                ts(*at),
                                exit_code,
                                duration,
                                out,
                                errs
                            ])
                        })
                        .map_err(err)?;
                        rows.rows.insert(key.to_owned(), tx.last_insert_rowid());
                    }
                }
                Write::Captured {
                    host,
                    task,
                    name,
                    value,
                    at,
                } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO captures (run_id, host, task, name, value, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![run, host, task, name, kept(clean, value), ts(*at)])
                    })
                    .map_err(err)?;
                }
                Write::Event {
                    at,
                    kind,
                    wave,
                    host,
                    task,
                    detail,
                } => {
                    let detail = match clean {
                        Some(r) => {
                            let mut d = detail.clone();
                            r.redact_json(&mut d);
                            Cow::Owned(d)
                        }
                        None => Cow::Borrowed(detail),
                    };
                    tx.prepare_cached(
                        "INSERT INTO events (run_id, at, kind, wave, host, task, detail)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            run,
                            ts(*at),
                            kind,
                            wave,
                            host,
                            task,
                            detail.to_string()
                        ])
                    })
                    .map_err(err)?;
                }
            }
        }
        insert_wholes(&mut whole_inserts, run, &mut wholes).map_err(err)?;
        drop((insert_start, update_end, wholes, whole_inserts, insert_host));
        if let Some((_, to)) = fold {
            tx.execute(
                "INSERT OR REPLACE INTO intent_folds (run_id, folded) VALUES (?1, ?2)",
                params![run, i64::try_from(to).unwrap_or(i64::MAX)],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.attempt_rows = Some((run.to_owned(), rows));
        Ok(true)
    }

    /// Makes `writes` durable in `run`'s intent log and keeps them for the next checkpoint.
    pub(super) fn append_intent(
        &mut self,
        run: &str,
        mut writes: Vec<Write>,
    ) -> Result<(), StoreError> {
        if self.intent.as_ref().map(|o| o.run.as_str()) != Some(run) {
            self.begin_intent(run)?;
        }
        let Some(open) = self.intent.as_mut() else {
            return Err(self.corrupt("intent log not open"));
        };
        open.log.append(&self.opts.redactor, &mut writes)?;
        open.checkpointer.send(open.log.written(), writes)
    }

    /// Starts a fresh intent log for `run`, after folding whatever an earlier session left.
    fn begin_intent(&mut self, run: &str) -> Result<(), StoreError> {
        self.end_intent()?;
        self.recover_run(run, true)?;
        // Reset before the file is created: a crash between the two leaves an empty log.
        self.conn
            .execute(
                "INSERT OR REPLACE INTO intent_folds (run_id, folded) VALUES (?1, 0)",
                [run],
            )
            .map_err(|e| self.err(&e))?;
        let log = IntentLog::create(&intent::path_of(self.path(), run), self.opts.sync_full)?;
        let folding = SqliteStore::connect(self.path(), &self.opts)?;
        // A fold writes thousands of rows in one transaction: room for their pages keeps
        // SQLite from spilling them to its log before the commit.
        folding
            .conn
            .pragma_update(None, "cache_size", -32_768)
            .map_err(|e| self.err(&e))?;
        self.intent = Some(OpenIntent {
            run: run.to_owned(),
            log,
            checkpointer: Checkpointer::start(folding, run.to_owned(), 0)?,
        });
        Ok(())
    }

    /// Moves the writes appended so far into the tables.
    pub(super) fn fold_pending(&mut self) -> Result<(), StoreError> {
        match &self.intent {
            Some(open) => open.checkpointer.flush(),
            None => Ok(()),
        }
    }

    /// Folds the rest of the intent log and removes it: the run's session is over.
    pub(super) fn end_intent(&mut self) -> Result<(), StoreError> {
        if let Some(open) = self.intent.take() {
            open.checkpointer.finish()?;
            remove(open.log.path())?;
        }
        Ok(())
    }

    /// Folds the intent logs that controllers no longer alive left behind.
    pub(super) fn recover_intents(&mut self) -> Result<(), StoreError> {
        for run in intent::runs_with_logs(self.path())? {
            if self.intent.as_ref().is_some_and(|o| o.run == run) {
                continue;
            }
            self.recover_run(&run, false)?;
        }
        Ok(())
    }

    /// Folds what `run`'s intent log holds beyond its folded offset and removes the log;
    /// unless `forced`, only when the run's controller is no longer alive.
    fn recover_run(&mut self, run: &str, forced: bool) -> Result<(), StoreError> {
        let path = intent::path_of(self.path(), run);
        if !path.exists() {
            return Ok(());
        }
        match self.run_row(run) {
            Ok(_) => {}
            // Not a run of this store: not ours to fold.
            Err(StoreError::NoRun { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        if !forced && self.controller_alive(run)? {
            return Ok(());
        }
        let from = folded_offset(&self.conn, run).map_err(|e| self.err(&e))?;
        let Some((mut writes, to, len)) = intent::read_from(&path, from)? else {
            return Ok(());
        };
        if len > to {
            // A frame cut short (a machine crash mid-write) or damaged: nothing after it was
            // acknowledged, but the report says that it was there.
            writes.push(Write::Event {
                at: Utc::now(),
                kind: "intent_log_tail_ignored".to_owned(),
                wave: None,
                host: None,
                task: None,
                detail: serde_json::json!({
                    "bytes": len - to,
                    "at_offset": to,
                    "why": "not a whole journal batch: a write cut short by a crash of the machine, or damage",
                }),
            });
        }
        if !writes.is_empty() && !self.write_batch(run, &writes, Some((from, to)))? {
            // Another process folded it meanwhile; it removes the file.
            return Ok(());
        }
        remove(&path)
    }
}

fn remove(path: &std::path::Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures::{dead_pid, finished, open, started, store_with_run, t};
    use crate::store::RunStore as _;

    fn host_state(host: &str, at: i64) -> Write {
        Write::HostState {
            host: host.into(),
            state: "running".into(),
            at: t(at),
            reason: None,
        }
    }

    fn host_state_rows(s: &SqliteStore, run: &str) -> i64 {
        s.conn
            .query_row(
                "SELECT COUNT(*) FROM host_states WHERE run_id = ?1",
                [run],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_attempts_end_is_found_by_its_hash_and_never_taken_from_another_attempt_sharing_it() {
        let writes = vec![
            started("h1", "a", 1, 0),
            started("h2", "b", 1, 1),
            finished("h2", "b", 1, 2, "ok", 0),
            finished("h1", "a", 1, 3, "ok", 0),
            started("h1", "a", 2, 4),
        ];
        let ends = ends_by_attempt(&writes);
        let (a1, b1) = (attempt_hash("h1", "a", 1), attempt_hash("h2", "b", 1));
        assert_eq!(end_of(&ends, &writes, 0, ("h1", "a", 1), a1), Some(3));
        assert_eq!(end_of(&ends, &writes, 1, ("h2", "b", 1), b1), Some(2));
        // An attempt with no end in the batch, and an end before the start, are not ends.
        let a2 = attempt_hash("h1", "a", 2);
        assert_eq!(end_of(&ends, &writes, 4, ("h1", "a", 2), a2), None);
        assert_eq!(end_of(&ends, &writes, 4, ("h1", "a", 1), a1), None);
        // Two attempts sharing a hash: the end kept under it is the other attempt's.
        let shared: FxHashMap<u64, usize> = [(a1, 2)].into_iter().collect();
        assert_eq!(end_of(&shared, &writes, 0, ("h1", "a", 1), a1), None);
        let shared: FxHashMap<u64, usize> = [(b1, 3)].into_iter().collect();
        assert_eq!(end_of(&shared, &writes, 1, ("h2", "b", 1), b1), None);
    }

    #[test]
    fn a_whole_attempts_row_is_looked_up_only_when_its_hash_is_known_and_must_exist() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut s, id) = store_with_run(dir.path(), dead_pid());
        s.apply(
            &id,
            &[started("h1", "a", 1, 1), finished("h1", "a", 1, 2, "ok", 0)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let tx = s.conn.transaction().unwrap_or_else(|e| panic!("{e}"));
        let mut rows = AttemptRows::default();
        // The row of attempt 1 of task `a` on `host`, and its key.
        let find = |rows: &mut AttemptRows, host: &str| {
            let key = attempt_key(&mut String::new(), host, "a", 1).to_owned();
            let hash = attempt_hash(host, "a", 1);
            let found = row_of(&tx, &id, rows, &key, hash, (host, "a", 1));
            (found.unwrap_or_else(|e| panic!("{e}")), key)
        };
        // A hash known without a row (as when two attempts share one): no row.
        rows.whole.insert(attempt_hash("h2", "a", 1));
        assert_eq!(find(&mut rows, "h2").0, None);
        // An unknown hash is not looked up: no row, even though the table has one.
        assert_eq!(find(&mut rows, "h1").0, None);
        // A known hash finds the row, which is kept by its key from then on.
        rows.whole.insert(attempt_hash("h1", "a", 1));
        let (seq, key) = find(&mut rows, "h1");
        assert!(seq.is_some());
        assert_eq!(rows.rows.get(&key).copied(), seq);
    }

    #[test]
    fn a_queued_whole_attempt_started_again_in_its_batch_keeps_one_row() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut s, id) = store_with_run(dir.path(), dead_pid());
        let batch = [
            started("h1", "a", 1, 1),
            finished("h1", "a", 1, 2, "ok", 0),
            started("h1", "a", 1, 3),
        ];
        s.apply(&id, &batch).unwrap_or_else(|e| panic!("{e}"));
        let log = s.log(&id, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log.len(), 1, "{log:?}");
        // The second start updated the row (a dead controller's running attempt reads back
        // as unknown).
        assert_eq!(
            (log[0].state.as_str(), log[0].started_at),
            (state::UNKNOWN, t(3))
        );
    }

    #[test]
    fn whole_attempts_inserted_many_per_statement_keep_their_order_fields_and_rows() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut s, id) = store_with_run(dir.path(), dead_pid());
        // 75 whole attempts (two full statements and singles), a host state among them, and
        // an attempt left running in the middle, which the rows before it must precede.
        let mut batch = Vec::new();
        for i in 0..75_i64 {
            let host = format!("h{i:02}");
            if i == 40 {
                batch.push(started("late", "a", 1, i));
            }
            if i % 10 == 0 {
                batch.push(host_state(&host, i));
            }
            batch.push(started(&host, "a", 1, i));
            batch.push(finished(
                &host,
                "a",
                1,
                i + 1,
                "ok",
                i32::try_from(i).unwrap_or(0),
            ));
        }
        s.apply(&id, &batch).unwrap_or_else(|e| panic!("{e}"));
        let log = s.log(&id, None, None).unwrap_or_else(|e| panic!("{e}"));
        let order: Vec<&str> = log.iter().map(|l| l.host.as_str()).collect();
        let mut expected: Vec<String> = (0..75).map(|i| format!("h{i:02}")).collect();
        expected.insert(40, "late".into());
        assert_eq!(order, expected);
        for (i, l) in log.iter().filter(|l| l.host != "late").enumerate() {
            let i = i64::try_from(i).unwrap_or(0);
            assert_eq!(
                (l.state.as_str(), l.exit_code, l.started_at, l.duration_ms),
                ("ok", Some(i32::try_from(i).unwrap_or(0)), t(i), Some(1000))
            );
            assert_eq!(
                (l.command.as_str(), l.stdout.as_str()),
                ("run a", &*format!("a on {}\n", l.host))
            );
        }
        assert_eq!(host_state_rows(&s, &id), 8);
        // Each whole row is found again by its key: a later end updates it, not a new row.
        let again: Vec<Write> = [0, 31, 32, 63, 64, 74]
            .iter()
            .map(|i| finished(&format!("h{i:02}"), "a", 1, 100, "failed", 99))
            .collect();
        s.apply(&id, &again).unwrap_or_else(|e| panic!("{e}"));
        let log = s.log(&id, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log.len(), 76);
        let failed: Vec<&str> = log
            .iter()
            .filter(|l| l.exit_code == Some(99))
            .map(|l| l.host.as_str())
            .collect();
        assert_eq!(failed, ["h00", "h31", "h32", "h63", "h64", "h74"]);
    }

    #[test]
    fn an_attempt_started_and_ended_in_one_batch_is_one_row_with_both() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut s, id) = store_with_run(dir.path(), dead_pid());
        let batch = [
            started("h1", "a", 1, 1),
            Write::HostState {
                host: "h1".into(),
                state: "deferred".into(),
                at: t(1),
                reason: Some("window closed".into()),
            },
            finished("h1", "a", 1, 3, "ok", 0),
            started("h1", "b", 1, 4),
        ];
        s.apply(&id, &batch).unwrap_or_else(|e| panic!("{e}"));
        let rows: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM task_attempts", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows, 2);
        let reason: String = s
            .conn
            .query_row("SELECT reason FROM host_states", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reason, "window closed");
        let log = s.log(&id, None, None).unwrap_or_else(|e| panic!("{e}"));
        let a = &log[0];
        assert_eq!(
            (a.task.as_str(), a.state.as_str(), a.command.as_str()),
            ("a", "ok", "run a")
        );
        assert_eq!((a.started_at, a.exit_code), (t(1), Some(0)));
        assert_eq!(a.stdout, "a on h1\n");
        assert_eq!(log[1].state, state::UNKNOWN);
        // The merged row is found again by a later end of the same attempt.
        s.apply(&id, &[finished("h1", "a", 1, 5, "failed", 2)])
            .unwrap_or_else(|e| panic!("{e}"));
        let log = s
            .log(&id, Some("h1"), Some("a"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((log.len(), log[0].exit_code), (1, Some(2)));
    }

    /// The intent log a controller that died left: `batches` appended, the first `folded` of
    /// them checkpointed.
    fn left_behind(s: &mut SqliteStore, run: &str, batches: Vec<Vec<Write>>, folded: usize) {
        let mut log = IntentLog::create(&intent::path_of(s.path(), run), false)
            .unwrap_or_else(|e| panic!("{e}"));
        for (i, mut batch) in batches.into_iter().enumerate() {
            let from = log.written();
            log.append(&crate::secret::Redactor::default(), &mut batch)
                .unwrap_or_else(|e| panic!("{e}"));
            if i < folded {
                let done = s.write_batch(run, &batch, Some((from, log.written())));
                assert_eq!(done.ok(), Some(true));
            }
        }
    }

    #[test]
    fn appended_writes_a_dead_controller_never_checkpointed_are_recovered_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = dir.path().join("state.db");
        let (mut s, id) = store_with_run(dir.path(), dead_pid());
        let first = vec![host_state("h1", 0), started("h1", "a", 1, 1)];
        let second = vec![
            finished("h1", "a", 1, 2, "ok", 0),
            host_state("h2", 2),
            started("h2", "a", 1, 3),
        ];
        left_behind(&mut s, &id, vec![first, second], 1);
        // And the start of a third batch that a crash of the machine cut short.
        {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(intent::path_of(&db, &id))
                .unwrap_or_else(|e| panic!("{e}"));
            f.write_all(&[200, 0, 0, 0, 1, 2])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // Only the first batch is in the tables.
        assert_eq!(s.log(&id, None, None).map(|l| l.len()).ok(), Some(1));
        drop(s);

        let s = open(&db);
        assert!(!intent::path_of(&db, &id).exists());
        let states = s.task_states(&id).unwrap_or_else(|e| panic!("{e}"));
        let states: Vec<_> = states
            .iter()
            .map(|t| (t.host.as_str(), t.state.as_str()))
            .collect();
        assert_eq!(states, [("h1", "ok"), ("h2", state::UNKNOWN)]);
        // Folded exactly once: the checkpointed host state is not written again.
        assert_eq!(host_state_rows(&s, &id), 2);
        // The cut-short tail is reported in the run's timeline, not silently dropped.
        let detail = s.show(&id).unwrap_or_else(|e| panic!("{e}"));
        let tail: Vec<_> = detail
            .events
            .iter()
            .filter(|e| e.kind == "intent_log_tail_ignored")
            .map(|e| e.detail["bytes"].as_u64())
            .collect();
        assert_eq!(tail, [Some(6)]);
        drop(s);
        assert_eq!(host_state_rows(&open(&db), &id), 2);
    }

    #[test]
    fn a_live_controllers_log_is_left_to_it_until_a_resumed_session_takes_it_over() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = dir.path().join("state.db");
        let (mut s, id) = store_with_run(dir.path(), std::process::id());
        left_behind(&mut s, &id, vec![vec![started("h1", "a", 1, 1)]], 0);
        drop(s);
        let mut s = open(&db);
        assert_eq!(s.log(&id, None, None).map(|l| l.len()).ok(), Some(0));
        assert!(intent::path_of(&db, &id).exists());
        // A new session of the run folds what the earlier one left before it starts its own.
        s.append(&id, vec![finished("h1", "a", 1, 2, "ok", 0)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.log(&id, None, None).map(|l| l.len()).ok(), Some(1));
        assert_eq!(s.pending(), 1);
        s.checkpoint().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.pending(), 0);
        let log = s.log(&id, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((log.len(), log[0].state.as_str()), (1, "ok"));
        s.close_journal().unwrap_or_else(|e| panic!("{e}"));
        assert!(!intent::path_of(&db, &id).exists());
    }

    #[test]
    fn a_checkpoint_after_another_process_folded_the_log_fails_instead_of_writing_twice() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = dir.path().join("state.db");
        // The recorded controller is dead, so a second process takes the log over.
        let (mut s, id) = store_with_run(dir.path(), dead_pid());
        s.append(&id, vec![host_state("h1", 0)])
            .unwrap_or_else(|e| panic!("{e}"));
        let other = open(&db);
        assert_eq!(host_state_rows(&other, &id), 1);
        let e = s
            .checkpoint()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("another process folded"), "{e}");
        assert_eq!(host_state_rows(&other, &id), 1);
    }
}
