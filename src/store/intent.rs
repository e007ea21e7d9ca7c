//! The intent log: a run's journal writes appended to a private file the moment they happen
//! (one `write` per batch, no SQLite on the command path), read back to fold them into the
//! store's tables at a checkpoint or, after a crash, when the store is next opened.
//!
//! Format: a sequence of frames, each a little-endian `u32` length followed by that many
//! bytes of `postcard`-encoded `Vec<Write>` (one journal batch). A frame is either whole or
//! absent after a crash of the process (a `write` to a regular file is not torn by a kill); a
//! short or undecodable tail (a machine crash mid-write) is ignored, and nothing in it was
//! acknowledged, so no command waited on it was sent.

use super::{cap_output, StoreError, Write};
use crate::secret::Redactor;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Bytes of a frame's length prefix.
const PREFIX: usize = 4;

/// The directory holding the intent logs of the store at `db`: `<db>-intent/`.
pub fn dir_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-intent");
    PathBuf::from(name)
}

/// The intent log of run `run` in the store at `db`.
pub fn path_of(db: &Path, run: &str) -> PathBuf {
    dir_of(db).join(format!("{run}.log"))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Masks secrets and caps outputs in place, so that the file holds only what the store may.
fn sanitise(redactor: &Redactor, w: &mut Write) {
    let red = |s: &mut String| {
        if redactor.leaks(s) {
            *s = redactor.redact(s);
        }
    };
    let cap = |s: &mut String| {
        if let std::borrow::Cow::Owned(capped) = cap_output(s) {
            *s = capped;
        }
    };
    match w {
        Write::RunStatus { .. } => {}
        Write::HostState { reason, .. } => {
            if let Some(r) = reason {
                red(r);
            }
        }
        Write::TaskStarted { command, .. } => red(command),
        Write::TaskFinished { stdout, stderr, .. } => {
            for s in [stdout, stderr] {
                cap(s);
                red(s);
            }
        }
        Write::Captured { value, .. } => {
            cap(value);
            red(value);
        }
        Write::Event { detail, .. } => redactor.redact_json(detail),
    }
}

/// An open intent log, appended to by one session of one run.
#[derive(Debug)]
pub struct IntentLog {
    path: PathBuf,
    file: File,
    /// Bytes in the file: the offset a checkpoint records as folded.
    len: u64,
    buf: Vec<u8>,
    /// Sync each frame to the disk (survives power loss; `StoreOptions::sync_full`).
    sync: bool,
}

impl IntentLog {
    /// Creates (mode 0600, truncating) the log at `path`, and its directory; with `sync`,
    /// every append is synced to the disk before it returns.
    pub fn create(path: &Path, sync: bool) -> Result<Self, StoreError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        if let Some(dir) = path.parent() {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            // Private like the store itself: the logs hold commands and outputs.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io(dir))?;
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(io(path))?;
        Ok(Self {
            path: path.to_owned(),
            file,
            len: 0,
            buf: Vec::new(),
            sync,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.len
    }

    /// Masks and caps `writes`, then appends them as one frame: on return they survive a crash
    /// of this process.
    pub fn append(&mut self, redactor: &Redactor, writes: &mut [Write]) -> Result<(), StoreError> {
        for w in writes.iter_mut() {
            sanitise(redactor, w);
        }
        self.buf.clear();
        self.buf.extend_from_slice(&[0; PREFIX]);
        let buf = std::mem::take(&mut self.buf);
        let mut buf = postcard::to_extend(&writes, buf).map_err(|e| StoreError::Database {
            path: self.path.clone(),
            message: format!("cannot encode a journal batch: {e}"),
        })?;
        let body = u32::try_from(buf.len() - PREFIX).map_err(|_| StoreError::Database {
            path: self.path.clone(),
            message: "a journal batch over 4 GiB".to_owned(),
        })?;
        buf[..PREFIX].copy_from_slice(&body.to_le_bytes());
        let mut written = self.file.write_all(&buf);
        if self.sync && written.is_ok() {
            written = self.file.sync_data();
        }
        self.buf = buf;
        written.map_err(io(&self.path))?;
        self.len += self.buf.len() as u64;
        Ok(())
    }
}

/// The writes of the whole frames of `bytes` from `offset` on, and the offset after the last
/// whole frame.
pub fn decode_from(bytes: &[u8], offset: u64) -> (Vec<Write>, u64) {
    let mut at = usize::try_from(offset).unwrap_or(usize::MAX);
    let mut writes = Vec::new();
    while let Some(prefix) = bytes.get(at..at + PREFIX) {
        let mut len = [0u8; PREFIX];
        len.copy_from_slice(prefix);
        let len = u32::from_le_bytes(len) as usize;
        let Some(body) = bytes.get(at + PREFIX..at + PREFIX + len) else {
            break;
        };
        match postcard::from_bytes::<Vec<Write>>(body) {
            Ok(batch) => writes.extend(batch),
            Err(_) => break,
        }
        at += PREFIX + len;
    }
    (writes, at as u64)
}

/// Reads the log at `path` from `offset`: its writes, the offset after them and the file's
/// length (more than that offset when its end could not be decoded), or `None` when the file
/// is gone (another process folded and removed it).
pub fn read_from(path: &Path, offset: u64) -> Result<Option<(Vec<Write>, u64, u64)>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let (writes, end) = decode_from(&bytes, offset);
            Ok(Some((writes, end, bytes.len() as u64)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// The run ids that have an intent log in the store at `db`.
pub fn runs_with_logs(db: &Path) -> Result<Vec<String>, StoreError> {
    let dir = dir_of(db);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir)(e)),
    };
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(&dir))?;
        let name = entry.file_name();
        if let Some(run) = name.to_str().and_then(|n| n.strip_suffix(".log")) {
            runs.push(run.to_owned());
        }
    }
    runs.sort();
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures::{self, t};

    #[test]
    fn frames_read_back_in_order_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = path_of(&dir.path().join("state.db"), "r1");
        let mut log = IntentLog::create(&path, false).unwrap_or_else(|e| panic!("{e}"));
        let mut first = vec![fixtures::started("h1", "a", 1, 0)];
        let mut second = vec![
            fixtures::started("h2", "a", 1, 1),
            Write::Event {
                at: t(2),
                kind: "gate".into(),
                wave: Some("w".into()),
                host: None,
                task: None,
                detail: serde_json::json!({"passed": true, "n": [1, 2]}),
            },
        ];
        log.append(&Redactor::default(), &mut first)
            .unwrap_or_else(|e| panic!("{e}"));
        let after_first = log.written();
        log.append(&Redactor::default(), &mut second)
            .unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bytes.len() as u64, log.written());
        let (all, end) = decode_from(&bytes, 0);
        assert_eq!(all, [first.clone(), second.clone()].concat());
        assert_eq!(end, log.written());
        let (rest, _) = decode_from(&bytes, after_first);
        assert_eq!(rest, second);
        // A frame cut short (a machine crash mid-write) ends the log at the frame before it.
        let (cut, end) = decode_from(&bytes[..bytes.len() - 3], 0);
        assert_eq!((cut, end), (first, after_first));
        assert_eq!(
            runs_with_logs(&dir.path().join("state.db")).ok(),
            Some(vec!["r1".to_owned()])
        );
    }

    #[test]
    fn a_synced_log_reads_back_alike() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = path_of(&dir.path().join("state.db"), "r1");
        let mut log = IntentLog::create(&path, true).unwrap_or_else(|e| panic!("{e}"));
        let mut batch = vec![fixtures::started("h1", "a", 1, 0)];
        log.append(&Redactor::default(), &mut batch)
            .unwrap_or_else(|e| panic!("{e}"));
        let read = read_from(&path, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, Some((batch, log.written(), log.written())));
    }

    #[test]
    fn secrets_are_masked_and_outputs_capped_before_they_reach_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = path_of(&dir.path().join("state.db"), "r1");
        let mut log = IntentLog::create(&path, false).unwrap_or_else(|e| panic!("{e}"));
        let secret = crate::secret::Secret::new("canary", "canary-3141");
        let redactor = Redactor::new([&secret]);
        let mut writes = vec![Write::TaskFinished {
            host: "h".into(),
            task: "a".into(),
            attempt: 1,
            at: t(0),
            state: "ok".into(),
            exit_code: Some(0),
            duration_ms: 1,
            stdout: format!("canary-3141 {}", "x".repeat(crate::store::OUTPUT_CAP * 2)),
            stderr: "canary-3141".into(),
        }];
        log.append(&redactor, &mut writes)
            .unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!bytes.windows(11).any(|w| w == b"canary-3141"));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_default()
        };
        assert_eq!(mode(&path), 0o600);
        assert_eq!(path.parent().map(mode), Some(0o700));
        assert!(
            bytes.len() < crate::store::OUTPUT_CAP + 1024,
            "{}",
            bytes.len()
        );
    }
}
