//! The report queries of the SQLite store: one run's full detail (`sflow show`) and its
//! commands with outputs (`sflow log`), with `running` turned into `unknown` once the run's
//! controller is gone.

use super::sqlite::{empty_host, non_negative, parse_ts, SqliteStore};
use super::{
    state, Attempt, EventRow, HostDetail, LogEntry, RunDetail, StoreError, TaskDetail, Transition,
};
use rusqlite::params;
use std::collections::BTreeMap;

impl SqliteStore {
    pub(super) fn show_run(&self, run: &str) -> Result<RunDetail, StoreError> {
        let row = self.run_row(run)?;
        let summary = self.summary_of(&row)?;
        let alive = self.controller_alive(run)?;
        let params: BTreeMap<String, String> =
            serde_json::from_str(&row.params).map_err(|_| self.corrupt("runs.params"))?;
        let mut hosts: BTreeMap<String, HostDetail> = BTreeMap::new();

        let mut stmt = self
            .conn
            .prepare(
                "SELECT host, state, at, reason FROM host_states WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(&e))?;
        let transitions: Vec<(String, String, String, Option<String>)> = stmt
            .query_map([run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))?;
        for (host, st, at, reason) in transitions {
            let h = hosts
                .entry(host.clone())
                .or_insert_with(|| empty_host(&host));
            h.state.clone_from(&st);
            h.transitions.push(Transition {
                state: st,
                at: parse_ts(&at).ok_or_else(|| self.corrupt("host_states.at"))?,
                reason,
            });
        }

        let mut stmt = self
            .conn
            .prepare(
                "SELECT host, task, attempt, state, started_at, ended_at, exit_code, duration_ms
                 FROM task_attempts WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(&e))?;
        type AttemptRow = (
            String,
            String,
            u32,
            String,
            String,
            Option<String>,
            Option<i32>,
            Option<u64>,
        );
        let attempts: Vec<AttemptRow> = stmt
            .query_map([run], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get::<_, Option<i64>>(7)?.map(non_negative),
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))?;
        for (host, task, attempt, st, started, ended, exit_code, duration_ms) in attempts {
            let st = if st == state::RUNNING && !alive {
                state::UNKNOWN.to_owned()
            } else {
                st
            };
            let h = hosts
                .entry(host.clone())
                .or_insert_with(|| empty_host(&host));
            let pos = match h.tasks.iter().position(|t| t.task == task) {
                Some(p) => p,
                None => {
                    h.tasks.push(TaskDetail {
                        task: task.clone(),
                        state: String::new(),
                        attempts: Vec::new(),
                        captures: BTreeMap::new(),
                    });
                    h.tasks.len() - 1
                }
            };
            let t = &mut h.tasks[pos];
            t.state.clone_from(&st);
            t.attempts.push(Attempt {
                attempt,
                state: st,
                started_at: parse_ts(&started)
                    .ok_or_else(|| self.corrupt("task_attempts.started_at"))?,
                ended_at: ended.as_deref().and_then(parse_ts),
                exit_code,
                duration_ms,
            });
        }

        let mut stmt = self
            .conn
            .prepare("SELECT host, task, name, value FROM captures WHERE run_id = ?1")
            .map_err(|e| self.err(&e))?;
        let captures: Vec<(String, String, String, String)> = stmt
            .query_map([run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))?;
        for (host, task, name, value) in captures {
            let h = hosts
                .entry(host.clone())
                .or_insert_with(|| empty_host(&host));
            match h.tasks.iter_mut().find(|t| t.task == task) {
                Some(t) => {
                    t.captures.insert(name, value);
                }
                None => h.tasks.push(TaskDetail {
                    task,
                    state: String::new(),
                    attempts: Vec::new(),
                    captures: BTreeMap::from([(name, value)]),
                }),
            }
        }

        let mut stmt = self
            .conn
            .prepare(
                "SELECT at, kind, wave, host, task, detail FROM events WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(&e))?;
        type EvRow = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        );
        let rows: Vec<EvRow> = stmt
            .query_map([run], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.err(&e))?;
        let events = rows
            .into_iter()
            .map(|(at, kind, wave, host, task, detail)| {
                Ok(EventRow {
                    at: parse_ts(&at).ok_or_else(|| self.corrupt("events.at"))?,
                    kind,
                    wave,
                    host,
                    task,
                    detail: serde_json::from_str(&detail)
                        .map_err(|_| self.corrupt("events.detail"))?,
                })
            })
            .collect::<Result<_, StoreError>>()?;

        Ok(RunDetail {
            summary,
            plan_hash: row.plan_hash,
            params,
            hosts: hosts.into_values().collect(),
            events,
        })
    }

    pub(super) fn log_entries(
        &self,
        run: &str,
        host: Option<&str>,
        task: Option<&str>,
    ) -> Result<Vec<LogEntry>, StoreError> {
        self.run_row(run)?;
        let alive = self.controller_alive(run)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT host, task, attempt, state, started_at, exit_code, duration_ms, command,
                 stdout, stderr FROM task_attempts
                 WHERE run_id = ?1 AND (?2 IS NULL OR host = ?2) AND (?3 IS NULL OR task = ?3)
                 ORDER BY seq",
            )
            .map_err(|e| self.err(&e))?;
        let rows = stmt
            .query_map(params![run, host, task], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<i32>>(5)?,
                    r.get::<_, Option<i64>>(6)?.map(non_negative),
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, String>(9)?,
                ))
            })
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| self.err(&e))?;
        rows.into_iter()
            .map(
                |(
                    host,
                    task,
                    attempt,
                    st,
                    started,
                    exit_code,
                    duration_ms,
                    command,
                    stdout,
                    stderr,
                )| {
                    Ok(LogEntry {
                        host,
                        task,
                        attempt,
                        state: if st == state::RUNNING && !alive {
                            state::UNKNOWN.to_owned()
                        } else {
                            st
                        },
                        started_at: parse_ts(&started)
                            .ok_or_else(|| self.corrupt("task_attempts.started_at"))?,
                        exit_code,
                        duration_ms,
                        command,
                        stdout,
                        stderr,
                    })
                },
            )
            .collect()
    }
}
