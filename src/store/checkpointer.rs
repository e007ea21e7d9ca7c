//! The checkpointer: a thread with its own connection that folds a run's intent log into the
//! store's tables while the run goes on, so that appending (the command path) never waits for
//! SQLite. Takes the batches appended to the log, with the log's length after each; folds them
//! in large transactions, each moving the run's folded offset.

use super::{RunId, SqliteStore, StoreError, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Writes gathered before a fold: large transactions are cheap per row, and an attempt that
/// starts and ends within one becomes a single row.
pub const FOLD_AT: usize = 4096;

/// Longest time appended writes wait for a fold when fewer than [`FOLD_AT`] arrive, so that
/// `sflow show` on a live run is at most this far behind.
pub const FOLD_EVERY: Duration = Duration::from_millis(500);

enum Job {
    /// Writes appended to the log, and the log's length after them.
    Batch(u64, Vec<Write>),
    /// Fold everything received, then answer.
    Flush(mpsc::Sender<Result<(), String>>),
}

/// The checkpointing thread of one run's intent log.
#[derive(Debug)]
pub(super) struct Checkpointer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Writes sent and not yet folded.
    queued: Arc<AtomicUsize>,
    /// Why folding stopped, once it did.
    failed: Arc<Mutex<Option<String>>>,
    path: std::path::PathBuf,
}

impl Checkpointer {
    /// Starts folding `run`'s log, `folded` bytes of which are in the tables, through `store`.
    pub(super) fn start(store: SqliteStore, run: RunId, folded: u64) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(Mutex::new(None));
        let path = store.path().to_owned();
        let state = Folding {
            store,
            run,
            folded,
            queued: Arc::clone(&queued),
            failed: Arc::clone(&failed),
        };
        let thread = std::thread::Builder::new()
            .name("sflow-checkpoint".to_owned())
            .spawn(move || state.run(&rx))
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            queued,
            failed,
            path,
        })
    }

    fn failure(&self) -> Result<(), StoreError> {
        match &*self.failed.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(message) => Err(self.error(message.clone())),
            None => Ok(()),
        }
    }

    fn error(&self, message: String) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            message: format!("checkpoint failed: {message}"),
        }
    }

    /// Hands over writes appended to the log, which is `end` bytes long after them.
    pub(super) fn send(&self, end: u64, writes: Vec<Write>) -> Result<(), StoreError> {
        self.failure()?;
        self.queued.fetch_add(writes.len(), Ordering::SeqCst);
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(Job::Batch(end, writes)).is_ok());
        if sent {
            Ok(())
        } else {
            self.failure()?;
            Err(self.error("its thread stopped".to_owned()))
        }
    }

    /// Writes sent and not yet folded.
    pub(super) fn pending(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Folds everything sent so far, and returns once it is in the tables.
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        self.failure()?;
        let (reply, answer) = mpsc::channel();
        let asked = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(Job::Flush(reply)).is_ok());
        match asked.then(|| answer.recv()) {
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(message))) => Err(self.error(message)),
            _ => {
                self.failure()?;
                Err(self.error("its thread stopped".to_owned()))
            }
        }
    }

    /// Folds everything sent and stops the thread.
    pub(super) fn finish(mut self) -> Result<(), StoreError> {
        let flushed = self.flush();
        self.stop();
        flushed
    }

    fn stop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                let mut slot = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
                slot.get_or_insert_with(|| "its thread panicked".to_owned());
            }
        }
    }
}

impl Drop for Checkpointer {
    /// Folds what was sent before the thread stops (what it cannot fold stays in the log, for
    /// the next opener to recover).
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread's side.
struct Folding {
    store: SqliteStore,
    run: RunId,
    folded: u64,
    queued: Arc<AtomicUsize>,
    failed: Arc<Mutex<Option<String>>>,
}

impl Folding {
    fn run(mut self, rx: &mpsc::Receiver<Job>) {
        let mut gathered: Vec<Write> = Vec::new();
        let mut end = self.folded;
        loop {
            let job = match rx.recv_timeout(FOLD_EVERY) {
                Ok(job) => Some(job),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match job {
                Some(Job::Batch(e, writes)) => {
                    end = e;
                    gathered.extend(writes);
                    if gathered.len() >= FOLD_AT {
                        // A failure stays in `failed`, for the next send or flush to report.
                        let _ = self.fold(&mut gathered, end);
                    }
                }
                Some(Job::Flush(reply)) => {
                    let r = self.fold(&mut gathered, end);
                    let _ = reply.send(r);
                }
                None => {
                    let _ = self.fold(&mut gathered, end);
                }
            }
        }
        let _ = self.fold(&mut gathered, end);
    }

    /// Folds `gathered` (the log up to `end`); after a failure, folds nothing more.
    fn fold(&mut self, gathered: &mut Vec<Write>, end: u64) -> Result<(), String> {
        if let Some(message) = &*self.failed.lock().unwrap_or_else(PoisonError::into_inner) {
            return Err(message.clone());
        }
        if gathered.is_empty() {
            return Ok(());
        }
        let result = match self
            .store
            .write_batch(&self.run, gathered, Some((self.folded, end)))
        {
            Ok(true) => Ok(()),
            Ok(false) => Err("another process folded this run's intent log".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        match &result {
            Ok(()) => {
                self.folded = end;
                self.queued.fetch_sub(gathered.len(), Ordering::SeqCst);
                gathered.clear();
            }
            Err(message) => {
                let mut slot = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
                slot.get_or_insert_with(|| message.clone());
            }
        }
        result
    }
}
