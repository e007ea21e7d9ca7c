//! The append-only, hash-chained audit log: takes [`AuditEntry`] records (commands, rollbacks,
//! windows, gates, operator actions), appends them as JSON lines (mode 0600) each carrying the
//! SHA-256 of the line before it, and verifies a log, naming the first broken record.
//!
//! Canonical form: the hash of a record is the SHA-256 of its line's exact UTF-8 bytes, without
//! the final newline. The first record's `prev` is [`GENESIS`]. Because a chain alone cannot
//! show that its last lines were edited or cut off, a head file (`<log>.head`) holds the number
//! of records, the log's length and the last record's hash; it is rewritten after every append.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};

use crate::secret::Redactor;

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The audit log's default location, relative to the workflow's directory.
pub const DEFAULT_PATH: &str = ".sflow/audit.jsonl";

/// Appended to the log's file name to name its head file.
pub const HEAD_SUFFIX: &str = ".head";

/// Byte length of the head file: `{count:020} {len:020} {hash}\n`. Fixed so that it can be
/// rewritten in place with one positioned write.
const HEAD_LEN: usize = 20 + 1 + 20 + 1 + 64 + 1;

/// What an operator did, as recorded in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorAction {
    /// Confirmed the plan summary (or passed `--yes`).
    Confirm,
    /// Pressed Ctrl-C (once: drain, twice: stop in-flight commands).
    Interrupt,
    /// Resumed an interrupted, halted or deferred run.
    Resume,
    /// Ran with `--ignore-windows`; the reason is mandatory.
    IgnoreWindows,
    /// Chose to run again the tasks whose outcome is unknown after a crash.
    RerunUnknown,
    /// Chose to treat the tasks whose outcome is unknown as done.
    SkipUnknown,
    /// Resumed with `--replan`, accepting a changed workflow or inventory.
    Replan,
}

/// One event worth auditing. Commands appear exactly as sent, with secrets masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEntry {
    /// A command is about to be sent to a host.
    CommandStart {
        /// Host name in the inventory.
        host: String,
        /// Task name.
        task: String,
        /// Attempt number, from 1.
        attempt: u32,
        /// The command as sent, secrets masked.
        command: String,
    },
    /// A command finished (or could not finish).
    CommandEnd {
        /// Host name.
        host: String,
        /// Task name.
        task: String,
        /// Attempt number, from 1.
        attempt: u32,
        /// Exit code, absent when the command was killed or the connection lost.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// Wall time of the command.
        duration_ms: u64,
        /// The task state it led to (`ok`, `failed`, `timed_out`, ...).
        outcome: String,
    },
    /// A rollback step on a host.
    Rollback {
        /// Host name.
        host: String,
        /// The task being rolled back.
        task: String,
        /// What happened (started, ok, failed with code).
        detail: String,
    },
    /// A maintenance window opened, closed, was waited for or deferred work.
    Window {
        /// Window name.
        window: String,
        /// What happened.
        event: String,
        /// The host concerned, when it concerns one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    /// A wave's gate decided.
    Gate {
        /// Wave name.
        wave: String,
        /// `pass`, `halt`, ...
        decision: String,
        /// Why (failure counts, verification verdicts).
        detail: String,
    },
    /// An operator acted.
    Operator {
        /// What they did.
        action: OperatorAction,
        /// `user@host`.
        user: String,
        /// The reason given (mandatory for `ignore_windows`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A hook command ran on the controller (`approve` before anything connects).
    Hook {
        /// `approve`.
        hook: String,
        /// The command, secrets masked.
        command: String,
        /// `succeeded`, `exited with 3`, `timed out after 5m`, ...
        outcome: String,
        /// Its exit code, absent when killed or stopped at the timeout.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// Its standard output.
        stdout: String,
        /// Its standard error.
        stderr: String,
    },
    /// The head file was missing and rebuilt from an intact log: recorded so that deleting the
    /// head to hide a cut-off tail leaves a trace.
    HeadRecovered {
        /// Records found in the log when the head was rebuilt.
        records: u64,
    },
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When it happened (UTC, RFC 3339).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub ts: DateTime<Utc>,
    /// The run it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// SHA-256 (hex) of the previous line, or [`GENESIS`].
    pub prev: String,
}

/// Errors of writing or reading an audit log.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AuditError {
    /// The file system refused.
    #[error("cannot access audit log {path}")]
    #[diagnostic(code(sflow::audit::io))]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// Appending was refused because the existing log does not verify.
    #[error("audit log {path} is broken at line {}: {}", problem.line, problem.kind)]
    #[diagnostic(
        code(sflow::audit::broken),
        help("inspect it with `sflow audit verify`; move it aside to start a new log")
    )]
    Broken {
        /// The file.
        path: PathBuf,
        /// The first problem found.
        problem: Problem,
    },
}

/// The first thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line number (from 1) where it shows.
    pub line: usize,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What can be wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The line does not end with a newline: the file was cut or a write was interrupted.
    Unterminated,
    /// The line is not a record (not JSON, or a field missing).
    NotARecord(String),
    /// The record's number is not the next one: records were removed, inserted or reordered.
    OutOfSequence {
        /// The number the line should hold.
        expected: u64,
        /// The number it holds.
        found: u64,
    },
    /// The record's `prev` is not the hash of the line before it.
    ChainBroken,
    /// The head file is missing, so the last records cannot be checked.
    HeadMissing,
    /// The head file is not in its format.
    HeadUnreadable,
    /// The head counts more records than the log has: records were removed from the end.
    RecordsRemovedAtEnd {
        /// Records the head counts.
        head: u64,
        /// Records in the log.
        found: u64,
    },
    /// The last record's hash is not the head's: it was edited.
    LastEdited,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unterminated => f.write_str("the line is cut off (no final newline)"),
            Self::NotARecord(e) => write!(f, "not a valid audit record ({e}): edited?"),
            Self::OutOfSequence { expected, found } => write!(
                f,
                "holds record #{found} where #{expected} was expected: records were removed, inserted or reordered"
            ),
            Self::ChainBroken => f.write_str(
                "its `prev` does not match the hash of the line before: that line (or this one) was edited",
            ),
            Self::HeadMissing => f.write_str("the head file is missing: the last records cannot be checked"),
            Self::HeadUnreadable => f.write_str("the head file is not in its format"),
            Self::RecordsRemovedAtEnd { head, found } => write!(
                f,
                "the head counts {head} records but the log has {found}: records were removed from the end"
            ),
            Self::LastEdited => f.write_str("the last record does not match the head's hash: it was edited"),
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Intact records before the first problem (all of them when there is none).
    pub records: u64,
    /// The first problem, if any.
    pub problem: Option<Problem>,
    /// Things worth knowing that are not tampering (a record left unanchored by a crash).
    pub warnings: Vec<String>,
}

impl VerifyReport {
    /// True when the log is intact.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// The chain's state after some records.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    count: u64,
    len: u64,
    hash: String,
}

impl Head {
    fn genesis() -> Self {
        Self {
            count: 0,
            len: 0,
            hash: GENESIS.to_owned(),
        }
    }

    fn encode(&self) -> String {
        format!("{:020} {:020} {}\n", self.count, self.len, self.hash)
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.trim_end_matches('\n').split(' ');
        let count = parts.next()?.parse().ok()?;
        let len = parts.next()?.parse().ok()?;
        let hash = parts.next()?;
        if hash.len() != 64
            || !hash.bytes().all(|b| b.is_ascii_hexdigit())
            || parts.next().is_some()
        {
            return None;
        }
        Some(Self {
            count,
            len,
            hash: hash.to_owned(),
        })
    }
}

/// SHA-256 (hex) of one line, without its newline: the chain's canonical form.
pub fn line_hash(line: &[u8]) -> String {
    // `hex::encode` collects the digits one `char` at a time; this is on the journal's path
    // twice per task.
    let mut digits = [0u8; 64];
    // Cannot fail: a SHA-256 digest is 32 bytes, 64 digits.
    let _ = hex::encode_to_slice(Sha256::digest(line), &mut digits);
    // Hex digits are ASCII, so this is never empty; `from_utf8_lossy` would inspect them
    // chunk by chunk (measurable at two hashes per task).
    std::str::from_utf8(&digits).unwrap_or_default().to_owned()
}

/// Appends the record of a command's start or end to `out` as one JSON line, the exact text
/// serde writes for the [`AuditRecord`] (a test holds them equal), without going through
/// serde's map machinery: the journal writes two of these per task. `false` (nothing
/// written) for any other entry.
fn write_command_record(
    out: &mut Vec<u8>,
    seq: u64,
    ts: DateTime<Utc>,
    run: Option<&str>,
    entry: &AuditEntry,
    prev: &str,
) -> serde_json::Result<bool> {
    fn text(out: &mut Vec<u8>, key: &str, value: &str) -> serde_json::Result<()> {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        if value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
            serde_json::to_writer(&mut *out, value)
        } else {
            // Nothing to escape: the text as it is, quoted.
            out.push(b'"');
            out.extend_from_slice(value.as_bytes());
            out.push(b'"');
            Ok(())
        }
    }
    fn number<N: Serialize>(out: &mut Vec<u8>, key: &str, value: N) -> serde_json::Result<()> {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        serde_json::to_writer(&mut *out, &value)
    }
    let (kind, host, task, attempt) = match entry {
        AuditEntry::CommandStart {
            host,
            task,
            attempt,
            ..
        } => ("command_start", host, task, attempt),
        AuditEntry::CommandEnd {
            host,
            task,
            attempt,
            ..
        } => ("command_end", host, task, attempt),
        _ => return Ok(false),
    };
    out.extend_from_slice(b"{\"seq\":");
    serde_json::to_writer(&mut *out, &seq)?;
    out.extend_from_slice(b",\"ts\":\"");
    crate::timestamp::push(out, ts, chrono::SecondsFormat::AutoSi);
    out.push(b'"');
    if let Some(run) = run {
        text(out, "run", run)?;
    }
    text(out, "kind", kind)?;
    text(out, "host", host)?;
    text(out, "task", task)?;
    number(out, "attempt", attempt)?;
    match entry {
        AuditEntry::CommandStart { command, .. } => text(out, "command", command)?,
        AuditEntry::CommandEnd {
            exit_code,
            duration_ms,
            outcome,
            ..
        } => {
            if let Some(code) = exit_code {
                number(out, "exit_code", code)?;
            }
            number(out, "duration_ms", duration_ms)?;
            text(out, "outcome", outcome)?;
        }
        _ => {}
    }
    // The previous record's hash: 64 hex digits, nothing to escape.
    debug_assert!(prev.bytes().all(|b| b.is_ascii_hexdigit()));
    out.extend_from_slice(b",\"prev\":\"");
    out.extend_from_slice(prev.as_bytes());
    out.extend_from_slice(b"\"}");
    Ok(true)
}

/// The head file of a log.
pub fn head_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(HEAD_SUFFIX);
    PathBuf::from(name)
}

/// Checks `bytes` (whole lines) as the continuation of a chain at `start`; `first_line` numbers
/// the first line for messages. Returns the head after the last line, or the first problem.
fn check_chain(bytes: &[u8], start: &Head, first_line: usize) -> Result<Head, (Head, Problem)> {
    let mut head = start.clone();
    let mut line_no = first_line;
    let mut rest = bytes;
    while !rest.is_empty() {
        let problem = |kind| Problem {
            line: line_no,
            kind,
        };
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err((head, problem(ProblemKind::Unterminated)));
        };
        let line = &rest[..end];
        let record: AuditRecord = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => return Err((head, problem(ProblemKind::NotARecord(e.to_string())))),
        };
        if record.seq != head.count {
            return Err((
                head.clone(),
                problem(ProblemKind::OutOfSequence {
                    expected: head.count,
                    found: record.seq,
                }),
            ));
        }
        if record.prev != head.hash {
            return Err((head, problem(ProblemKind::ChainBroken)));
        }
        head = Head {
            count: head.count + 1,
            len: head.len + end as u64 + 1,
            hash: line_hash(line),
        };
        rest = &rest[end + 1..];
        line_no += 1;
    }
    Ok(head)
}

/// Verifies the log at `path` and its head file: every record chains to the one before it, the
/// numbering has no gap, and the last record is the one the head names.
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let head_file = match std::fs::read(head_path(path)) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let tail = match check_chain(&bytes, &Head::genesis(), 1) {
        Ok(tail) => tail,
        Err((good, problem)) => {
            return Ok(VerifyReport {
                records: good.count,
                problem: Some(problem),
                warnings: Vec::new(),
            })
        }
    };
    let last_line = usize::try_from(tail.count).unwrap_or(usize::MAX).max(1);
    let report = |problem: Option<ProblemKind>, warnings| VerifyReport {
        records: tail.count,
        problem: problem.map(|kind| Problem {
            line: last_line,
            kind,
        }),
        warnings,
    };
    let Some(head_bytes) = head_file else {
        return Ok(if tail.count == 0 {
            report(None, Vec::new())
        } else {
            report(Some(ProblemKind::HeadMissing), Vec::new())
        });
    };
    let Some(head) = Head::decode(&head_bytes) else {
        return Ok(report(Some(ProblemKind::HeadUnreadable), Vec::new()));
    };
    if head.count > tail.count {
        return Ok(report(
            Some(ProblemKind::RecordsRemovedAtEnd {
                head: head.count,
                found: tail.count,
            }),
            Vec::new(),
        ));
    }
    if head.count == tail.count {
        let kind =
            (head.hash != tail.hash || head.len != tail.len).then_some(ProblemKind::LastEdited);
        return Ok(report(kind, Vec::new()));
    }
    // More records than the head counts: a crash between appending and rewriting the head
    // leaves one batch behind, and the records the head does count must still match it.
    let prefix = usize::try_from(head.len).ok().and_then(|l| bytes.get(..l));
    let matches =
        prefix.is_some_and(|p| check_chain(p, &Head::genesis(), 1).is_ok_and(|h| h == head));
    if !matches {
        let line = usize::try_from(head.count).unwrap_or(usize::MAX).max(1);
        return Ok(VerifyReport {
            records: tail.count,
            problem: Some(Problem {
                line,
                kind: ProblemKind::LastEdited,
            }),
            warnings: Vec::new(),
        });
    }
    // Appending well-chained records needs no secret (the chain is not keyed), so a tail
    // the head does not count is not evidence of tampering: it is what a crash leaves.
    let warning = format!(
        "the last {} record(s) are not yet anchored by the head (a crash during an append?)",
        tail.count - head.count
    );
    Ok(report(None, vec![warning]))
}

/// Holds an exclusive `flock` on a file until dropped.
struct Locked<'a>(&'a File);

impl<'a> Locked<'a> {
    fn new(file: &'a File) -> std::io::Result<Self> {
        // SAFETY: flock takes a valid open descriptor, which `file` owns for the guard's life.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            Ok(Self(file))
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `new`; unlocking cannot fail in a way we could act on.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// A writer appending records to an audit log. Several processes may append to the same log:
/// each append takes an exclusive lock and continues the chain from the head file.
pub struct AuditLog {
    path: PathBuf,
    log: File,
    head: File,
    redactor: Redactor,
    /// The head as this writer left it: while the log still has its length, nobody else
    /// appended, and the head need not be read back from its file.
    last: Option<Head>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

fn open_private(path: &Path, append: bool) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).create(true).mode(0o600);
    if append {
        opts.append(true);
    } else {
        opts.write(true);
    }
    let file = opts.open(path)?;
    // `mode` applies only when the file is created: tighten an older, wider file too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

impl AuditLog {
    /// Opens (creating with mode 0600, and its directory) the log at `path`. Every string of
    /// every record is passed through `redactor` before it is written.
    pub fn open(path: &Path, redactor: Redactor) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let log = open_private(path, true).map_err(io)?;
        let head = open_private(&head_path(path), false).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            log,
            head,
            redactor,
            last: None,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record; returns its number.
    pub fn append(
        &mut self,
        run: Option<&str>,
        at: DateTime<Utc>,
        entry: AuditEntry,
    ) -> Result<u64, AuditError> {
        self.append_batch(run, std::iter::once((at, entry)))
    }

    /// Appends records in one write under one lock; returns the number of the last one.
    pub fn append_batch(
        &mut self,
        run: Option<&str>,
        entries: impl IntoIterator<Item = (DateTime<Utc>, AuditEntry)>,
    ) -> Result<u64, AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let _lock = Locked::new(&self.log).map_err(io)?;
        let log_len = self.log.metadata().map_err(io)?.len();
        let (mut head, ours) = match self.last.take() {
            Some(h) if h.len == log_len => (h, true),
            _ => (self.current_head()?, false),
        };
        let mut entries: Vec<_> = entries.into_iter().collect();
        // About what a command's record takes, so that the batch's text is not moved as it
        // grows.
        let mut buf = Vec::with_capacity(entries.len() * 320);
        if !ours && head.count > 0 && self.head_is_absent().map_err(io)? {
            entries.insert(
                0,
                (
                    Utc::now(),
                    AuditEntry::HeadRecovered {
                        records: head.count,
                    },
                ),
            );
        }
        let mut last = head.count;
        for (ts, entry) in entries {
            let start = buf.len();
            let direct = self.redactor.is_empty()
                && write_command_record(&mut buf, head.count, ts, run, &entry, &head.hash)
                    .map_err(|e| io(e.into()))?;
            if !direct {
                let record = AuditRecord {
                    seq: head.count,
                    ts,
                    run: run.map(str::to_owned),
                    entry,
                    prev: std::mem::take(&mut head.hash),
                };
                self.redactor
                    .write_json(&mut buf, &record)
                    .map_err(|e| io(e.into()))?;
            }
            let line = &buf[start..];
            last = head.count;
            head.count += 1;
            head.len += line.len() as u64 + 1;
            head.hash = line_hash(line);
            buf.push(b'\n');
        }
        (&self.log).write_all(&buf).map_err(io)?;
        self.head
            .write_all_at(head.encode().as_bytes(), 0)
            .map_err(io)?;
        self.last = Some(head);
        Ok(last)
    }

    fn head_is_absent(&self) -> std::io::Result<bool> {
        Ok(self.head.metadata()?.len() < HEAD_LEN as u64)
    }

    /// The chain's head, reconciled with the log on disk (called under the lock).
    fn current_head(&self) -> Result<Head, AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let broken = |problem| AuditError::Broken {
            path: self.path.clone(),
            problem,
        };
        let log_len = self.log.metadata().map_err(io)?.len();
        let mut raw = [0u8; HEAD_LEN];
        let head = if self.head_is_absent().map_err(io)? {
            None
        } else {
            self.head.read_exact_at(&mut raw, 0).map_err(io)?;
            Some(Head::decode(&raw).ok_or_else(|| {
                broken(Problem {
                    line: 0,
                    kind: ProblemKind::HeadUnreadable,
                })
            })?)
        };
        match head {
            Some(h) if h.len == log_len => Ok(h),
            Some(h) if h.len < log_len => {
                // A previous writer died between its append and its head update.
                let mut rest = Vec::new();
                let mut f = &self.log;
                std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(h.len)).map_err(io)?;
                f.read_to_end(&mut rest).map_err(io)?;
                let first = usize::try_from(h.count)
                    .unwrap_or(usize::MAX)
                    .saturating_add(1);
                check_chain(&rest, &h, first).map_err(|(_, p)| broken(p))
            }
            Some(h) => Err(broken(Problem {
                line: usize::try_from(h.count).unwrap_or(usize::MAX),
                kind: ProblemKind::RecordsRemovedAtEnd {
                    head: h.count,
                    found: 0,
                },
            })),
            None if log_len == 0 => Ok(Head::genesis()),
            None => {
                let all = std::fs::read(&self.path).map_err(io)?;
                check_chain(&all, &Head::genesis(), 1).map_err(|(_, p)| broken(p))
            }
        }
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
