//! The journal: takes a run's engine events without blocking the engine, turns them into
//! store [`Write`]s and [`AuditEntry`]s and makes them durable from one thread in groups (one
//! append to the store, which for SQLite is one `write` to the run's intent log, and one audit
//! append per batch), and lets a command wait until everything recorded before it is durable,
//! so that a task's start is on disk before its command is sent.
//!
//! Ordering: records (events) are committed in the order they were handed over. A
//! [`DurableWaiter::wait`] started after a record resolves only once that record is committed
//! (or fails once the journal has failed: a command that cannot be journaled is not sent).

mod session;
mod sink;

pub use session::{resume, start, JournalStatus, Session, SessionConfig, SessionError};
use sink::Translator;
pub use sink::{JournalSink, JournaledRunner};

use crate::audit::{AuditEntry, AuditLog};
use crate::engine::Event;
use crate::store::{RunId, RunStore, Write};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why the journal stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum JournalError {
    /// A write to the store or the audit log failed; nothing after it is journaled.
    #[error("journal failed: {0}")]
    #[diagnostic(code(sflow::journal::failed))]
    Failed(String),
    /// The journal was closed before the record was committed.
    #[error("journal closed")]
    #[diagnostic(code(sflow::journal::closed))]
    Closed,
}

/// An audit record to append, and when it happened.
pub type AuditItem = (DateTime<Utc>, AuditEntry);

/// Records handed over and not yet taken by the journal thread.
#[derive(Default)]
struct Inbox {
    /// Engine events, translated on the journal thread.
    events: Vec<Event>,
    /// Records handed over ready-made (tests), committed before the events of their batch.
    writes: Vec<Write>,
    audit: Vec<AuditItem>,
    /// How the journal thread is to translate events, once the sink gives it.
    translator: Option<Translator>,
    /// Sequence number of the last record in the inbox.
    last: u64,
    /// Records in the inbox.
    records: usize,
    /// The journal thread waits until the inbox holds this many records (0: it is not
    /// waiting): the record that reaches it wakes the thread. Otherwise the recorder only
    /// appends, without a system call.
    wake_at: usize,
    /// No more records will come.
    closed: bool,
}

struct Shared {
    inbox: Mutex<Inbox>,
    arrived: Condvar,
    /// Sequence number of the last record handed to the journal thread.
    enqueued: AtomicU64,
    /// Sequence number of the last record committed.
    durable: AtomicU64,
    /// Commands waiting for a record to be committed: its number, and the task to wake.
    waiting: Mutex<Vec<(u64, Waker)>>,
    failed: Mutex<Option<JournalError>>,
}

impl Shared {
    fn new() -> Self {
        Self {
            inbox: Mutex::new(Inbox::default()),
            arrived: Condvar::new(),
            enqueued: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            waiting: Mutex::new(Vec::new()),
            failed: Mutex::new(None),
        }
    }

    fn failure(&self) -> Option<JournalError> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn fail(&self, e: JournalError) {
        let mut slot = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(e);
        }
        drop(slot);
        // Wake every waiter so that it sees the failure.
        let all = std::mem::take(&mut *self.waiters());
        all.into_iter().for_each(|(_, w)| w.wake());
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Waker)>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records up to `seq` are committed: wakes the commands that waited for them, and only
    /// those.
    fn committed(&self, seq: u64) {
        self.durable.store(seq, Ordering::SeqCst);
        let mut waiting = self.waiters();
        let (ready, left): (Vec<_>, Vec<_>) = std::mem::take(&mut *waiting)
            .into_iter()
            .partition(|(target, _)| *target <= seq);
        *waiting = left;
        drop(waiting);
        ready.into_iter().for_each(|(_, w)| w.wake());
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The journal of one run. Dropping it commits what was recorded and stops its thread.
pub struct Journal {
    run: RunId,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("run", &self.run).finish()
    }
}

impl Journal {
    /// Starts the journal thread writing run `run` into `store` and, if given, `audit`.
    pub fn start(store: Box<dyn RunStore>, audit: Option<AuditLog>, run: RunId) -> Self {
        let shared = Arc::new(Shared::new());
        let thread_shared = Arc::clone(&shared);
        let thread_run = run.clone();
        let thread = std::thread::Builder::new()
            .name("sflow-journal".to_owned())
            .spawn(move || writer(store, audit, &thread_run, &thread_shared));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                shared.inbox().closed = true;
                shared.fail(JournalError::Failed(format!(
                    "cannot start its thread: {e}"
                )));
                None
            }
        };
        Self {
            run,
            shared,
            thread,
        }
    }

    /// The run being journaled.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Hands records to the journal thread ready-made; returns at once (tests: the sink hands
    /// over events).
    #[cfg(test)]
    pub fn record(&self, writes: Vec<Write>, audit: Vec<AuditItem>) {
        self.record_with(|inbox| {
            inbox.writes.extend(writes);
            inbox.audit.extend(audit);
        });
    }

    /// Hands one engine event to the journal thread, which translates it into store writes and
    /// audit records; returns at once. The event is one record for [`DurableWaiter::wait`].
    pub fn record_event(&self, event: Event) {
        self.record_with(|inbox| inbox.events.push(event));
    }

    /// Sets how the journal thread translates events, before the first is recorded.
    fn set_translator(&self, translator: Translator) {
        self.shared.inbox().translator = Some(translator);
    }

    /// Adds one record to the inbox with `fill`, under the inbox's lock.
    fn record_with(&self, fill: impl FnOnce(&mut Inbox)) {
        let mut inbox = self.shared.inbox();
        if inbox.closed {
            drop(inbox);
            self.shared.fail(JournalError::Closed);
            return;
        }
        fill(&mut inbox);
        inbox.records += 1;
        // Numbered under the inbox's lock, so that the durable watermark covers exactly the
        // records the journal thread has taken.
        inbox.last += 1;
        self.shared.enqueued.store(inbox.last, Ordering::SeqCst);
        if inbox.wake_at != 0 && inbox.records >= inbox.wake_at {
            inbox.wake_at = 0;
            self.shared.arrived.notify_one();
        }
    }

    /// A handle that waits for durability, for the command path.
    pub fn waiter(&self) -> DurableWaiter {
        DurableWaiter {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The failure that stopped the journal, if any.
    pub fn failure(&self) -> Option<JournalError> {
        self.shared.failure()
    }

    fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Commits everything recorded, stops the thread, and reports any failure.
    pub fn close(mut self) -> Result<(), JournalError> {
        self.shutdown();
        self.shared.failure().map_or(Ok(()), Err)
    }

    fn shutdown(&mut self) {
        let mut inbox = self.shared.inbox();
        inbox.closed = true;
        drop(inbox);
        self.shared.arrived.notify_one();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                self.shared
                    .fail(JournalError::Failed("its thread panicked".to_owned()));
            }
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits until everything recorded so far is committed. Cheap to clone.
#[derive(Clone)]
pub struct DurableWaiter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DurableWaiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DurableWaiter")
    }
}

impl DurableWaiter {
    /// Resolves once every record handed to the journal before this call is committed; fails
    /// when the journal has failed or closed first.
    pub fn wait(&self) -> impl Future<Output = Result<(), JournalError>> + Send + 'static {
        self.wait_for(self.shared.enqueued.load(Ordering::SeqCst))
    }

    /// The failure that stopped the journal, if any.
    pub fn failure(&self) -> Option<JournalError> {
        self.shared.failure()
    }

    /// Resolves once the records up to number `target` are committed (as [`Self::wait`]).
    fn wait_for(
        &self,
        target: u64,
    ) -> impl Future<Output = Result<(), JournalError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        std::future::poll_fn(move |cx| {
            let settled = || match shared.failure() {
                Some(e) => Some(Err(e)),
                None => (shared.durable.load(Ordering::SeqCst) >= target).then_some(Ok(())),
            };
            if let Some(r) = settled() {
                return Poll::Ready(r);
            }
            let mut waiting = shared.waiters();
            // Checked again under the lock that `committed` and `fail` take after changing
            // the state: either this sees the change, or they see this waiter.
            if let Some(r) = settled() {
                return Poll::Ready(r);
            }
            waiting.push((target, cx.waker().clone()));
            Poll::Pending
        })
    }
}

/// The engine's launch gate over the journal: a task's command goes once everything recorded
/// before it is committed, or once the journal has failed (the [`JournaledRunner`] then refuses
/// it).
impl crate::engine::LaunchGate for DurableWaiter {
    fn ticket(&self) -> u64 {
        self.shared.enqueued.load(Ordering::SeqCst)
    }

    fn is_open(&self, ticket: u64) -> bool {
        self.shared.durable.load(Ordering::SeqCst) >= ticket || self.shared.failure().is_some()
    }

    fn opened(&self, ticket: u64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let wait = self.wait_for(ticket);
        Box::pin(async move {
            let _ = wait.await;
        })
    }
}

/// Records a batch waits for, at most [`LINGER`]: each batch costs a few system calls and
/// wakes the commands waiting for it, so that a busy run writes fewer, larger batches.
pub const GATHER: usize = 64;

/// Longest time the first record of a batch waits for [`GATHER`] others.
pub const LINGER: Duration = Duration::from_micros(200);

/// What the journal thread takes from the inbox at once.
#[derive(Default)]
struct Batch {
    events: Vec<Event>,
    writes: Vec<Write>,
    audit: Vec<AuditItem>,
    translator: Translator,
}

/// Takes everything in the inbox into `batch`, waiting for records while it is empty and,
/// once one has come, up to [`LINGER`] for [`GATHER`] of them; `None` once it is closed and
/// empty.
fn take(shared: &Shared, batch: &mut Batch) -> Option<u64> {
    let mut inbox = shared.inbox();
    while inbox.records == 0 {
        if inbox.closed {
            return None;
        }
        inbox.wake_at = 1;
        inbox = shared
            .arrived
            .wait(inbox)
            .unwrap_or_else(PoisonError::into_inner);
    }
    let deadline = Instant::now() + LINGER;
    while inbox.records < GATHER && !inbox.closed {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        inbox.wake_at = GATHER;
        inbox = shared
            .arrived
            .wait_timeout(inbox, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    inbox.wake_at = 0;
    inbox.records = 0;
    // The batch's lists are empty: swapping hands the inbox their room.
    std::mem::swap(&mut inbox.events, &mut batch.events);
    std::mem::swap(&mut inbox.writes, &mut batch.writes);
    std::mem::swap(&mut inbox.audit, &mut batch.audit);
    if let Some(t) = inbox.translator.take() {
        batch.translator = t;
    }
    Some(inbox.last)
}

fn writer(mut store: Box<dyn RunStore>, mut audit: Option<AuditLog>, run: &str, shared: &Shared) {
    let mut batch = Batch::default();
    while let Some(last) = take(shared, &mut batch) {
        if shared.failure().is_some() {
            // Keep taking so that the inbox does not grow, but write nothing after a failure:
            // the journal must not have holes.
            batch.events.clear();
            batch.writes.clear();
            batch.audit.clear();
            continue;
        }
        let Batch {
            events,
            writes,
            audit: entries,
            translator,
        } = &mut batch;
        for e in events.drain(..) {
            translator.translate(e, writes, entries);
        }
        if !writes.is_empty() {
            // The store keeps the list; the next one is sized like it.
            let room = writes.capacity();
            let writes = std::mem::replace(writes, Vec::with_capacity(room));
            if let Err(e) = store.append(run, writes) {
                shared.fail(JournalError::Failed(e.to_string()));
                continue;
            }
        }
        if let Some(log) = audit.as_mut().filter(|_| !entries.is_empty()) {
            if let Err(e) = log.append_batch(Some(run), entries.drain(..)) {
                shared.fail(JournalError::Failed(e.to_string()));
                continue;
            }
        }
        entries.clear();
        shared.committed(last);
    }
    // Everything appended is durable already (the store checkpoints it in the background);
    // folding the rest now spares the next reader.
    if let Err(e) = store.close_journal() {
        shared.fail(JournalError::Failed(e.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Redactor;
    use crate::store::fixtures::{self, store_with_run, t as at};
    use crate::store::{NewRun, SqliteStore, StoreError, StoreOptions};
    use std::time::Duration;

    fn start(host: &str, n: i64) -> Write {
        fixtures::started(host, "t", 1, n)
    }

    #[tokio::test]
    async fn a_start_is_committed_before_the_waiter_resolves() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (store, id) = store_with_run(dir.path(), std::process::id());
        let audit = AuditLog::open(&dir.path().join("audit.jsonl"), Redactor::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let journal = Journal::start(Box::new(store), Some(audit), id.clone());
        let waiter = journal.waiter();
        for i in 0..200 {
            let host = format!("h{i}");
            journal.record(
                vec![start(&host, i)],
                vec![(
                    at(i),
                    AuditEntry::CommandStart {
                        host: host.clone(),
                        task: "t".into(),
                        attempt: 1,
                        command: "true".into(),
                    },
                )],
            );
            waiter.wait().await.unwrap_or_else(|e| panic!("{e}"));
            // The start is on disk (in the run's intent log), not just buffered.
            let db = dir.path().join("state.db");
            let (on_disk, _, _) =
                crate::store::intent::read_from(&crate::store::intent::path_of(&db, &id), 0)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .unwrap_or_default();
            assert!(
                on_disk.contains(&start(&host, i)),
                "start of {host} not durable when the waiter resolved"
            );
            if i % 50 == 0 {
                let report = crate::audit::verify(&dir.path().join("audit.jsonl"))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(report.records, u64::try_from(i).unwrap_or(0) + 1);
            }
        }
        assert_eq!(journal.close(), Ok(()));
        // Closing folded everything into the tables and removed the intent log.
        let db = dir.path().join("state.db");
        let reader =
            SqliteStore::open(&db, &StoreOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let log = reader
            .log(&id, None, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log.len(), 200);
        assert!(!crate::store::intent::path_of(&db, &id).exists());
    }

    /// A store that fails every write, to check that commands are refused afterwards.
    struct Broken;

    impl RunStore for Broken {
        fn create_run(&mut self, _: &NewRun) -> Result<RunId, StoreError> {
            Ok(String::new())
        }
        fn apply(&mut self, _: &str, _: &[Write]) -> Result<(), StoreError> {
            Err(StoreError::Locked {
                path: "x".into(),
                waited_ms: 0,
            })
        }
        fn record_resume(
            &mut self,
            _: &str,
            _: u32,
            _: &str,
            _: Option<(&str, &str)>,
        ) -> Result<(), StoreError> {
            Ok(())
        }
        fn runs(&self, _: usize) -> Result<Vec<crate::store::RunSummary>, StoreError> {
            Ok(Vec::new())
        }
        fn resolve(&self, id: &str) -> Result<RunId, StoreError> {
            Ok(id.to_owned())
        }
        fn show(&self, id: &str) -> Result<crate::store::RunDetail, StoreError> {
            Err(StoreError::NoRun { id: id.to_owned() })
        }
        fn plan(&self, id: &str) -> Result<(String, String), StoreError> {
            Err(StoreError::NoRun { id: id.to_owned() })
        }
        fn log(
            &self,
            _: &str,
            _: Option<&str>,
            _: Option<&str>,
        ) -> Result<Vec<crate::store::LogEntry>, StoreError> {
            Ok(Vec::new())
        }
        fn task_states(&self, _: &str) -> Result<Vec<crate::store::TaskState>, StoreError> {
            Ok(Vec::new())
        }
        fn latest_unfinished(&self, _: Option<&str>) -> Result<Option<RunId>, StoreError> {
            Ok(None)
        }
        fn controller(&self, _: &str) -> Result<(u32, String), StoreError> {
            Ok((0, String::new()))
        }
    }

    #[tokio::test]
    async fn a_failed_store_fails_every_later_wait() {
        let journal = Journal::start(Box::new(Broken), None, "r".into());
        journal.record(vec![start("h", 0)], Vec::new());
        let r = tokio::time::timeout(Duration::from_secs(5), journal.waiter().wait()).await;
        assert!(matches!(r, Ok(Err(JournalError::Failed(_)))), "{r:?}");
        journal.record(vec![start("h", 1)], Vec::new());
        let r = tokio::time::timeout(Duration::from_secs(5), journal.waiter().wait()).await;
        assert!(matches!(r, Ok(Err(JournalError::Failed(_)))), "{r:?}");
        assert!(journal.close().is_err());
    }

    #[tokio::test]
    async fn a_commit_wakes_the_waits_it_covers_and_only_those() {
        let shared = Arc::new(Shared::new());
        let waiter = DurableWaiter {
            shared: Arc::clone(&shared),
        };
        let mut waits = Vec::new();
        for seq in 1..=3 {
            shared.enqueued.store(seq, Ordering::SeqCst);
            waits.push(tokio::spawn(waiter.wait()));
        }
        let settle = || tokio::time::sleep(Duration::from_millis(20));
        settle().await;
        assert_eq!(shared.waiters().len(), 3);
        shared.committed(2);
        settle().await;
        assert_eq!(
            shared.waiters().iter().map(|w| w.0).collect::<Vec<_>>(),
            [3]
        );
        let mut waits = waits.into_iter();
        for _ in 0..2 {
            let w = waits.next().unwrap_or_else(|| panic!("three waits"));
            assert!(w.is_finished());
            assert!(matches!(w.await, Ok(Ok(()))));
        }
        shared.fail(JournalError::Failed("disk full".into()));
        let last = waits.next().unwrap_or_else(|| panic!("three waits"));
        let r = tokio::time::timeout(Duration::from_secs(5), last).await;
        assert!(matches!(r, Ok(Ok(Err(JournalError::Failed(_))))), "{r:?}");
        assert!(shared.waiters().is_empty());
    }

    /// Runs nothing, but fails the command unless its `task_started` is in the run's intent
    /// log on disk when it is sent.
    struct ChecksIntentLog {
        log: std::path::PathBuf,
        sent: Arc<AtomicU64>,
    }

    impl crate::engine::Runner for ChecksIntentLog {
        fn run(&self, req: crate::engine::CommandRequest) -> crate::engine::runner::RunFuture {
            let (writes, _, _) = crate::store::intent::read_from(&self.log, 0)
                .ok()
                .flatten()
                .unwrap_or_default();
            let durable = writes.iter().any(|w| {
                matches!(w, Write::TaskStarted { host, task, .. }
                    if *host == req.host && *task == req.task)
            });
            self.sent.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                Ok(crate::engine::CommandOutput {
                    exit: Some(if durable { 0 } else { 1 }),
                    ..Default::default()
                })
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_command_is_sent_after_its_start_is_in_the_intent_log() {
        use crate::engine::{execute, HostSpec, RunOptions, RunSpec, TaskSpec, WaveSpec};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let all: Vec<usize> = (0..40).collect();
        let tasks = (0..4)
            .map(|k| {
                let mut t = TaskSpec::new(format!("t{k}"), all.clone(), format!("step {k}"));
                if k > 0 {
                    t.after = vec![k - 1];
                }
                t
            })
            .collect();
        let mut spec = RunSpec {
            workflow: "gate".into(),
            hosts: (0..40).map(|i| HostSpec::named(format!("h{i}"))).collect(),
            tasks,
            waves: vec![WaveSpec {
                name: "all".into(),
                hosts: all,
            }],
            ..RunSpec::default()
        };
        spec.limits.max_servers = Some(10);
        let cfg = SessionConfig {
            state: dir.path().join("state.db"),
            audit: Some(dir.path().join("audit.jsonl")),
            redactor: Redactor::default(),
            operator: "tester@ctl".into(),
        };
        let run = fixtures::new_run("gate", std::process::id());
        let sent = Arc::new(AtomicU64::new(0));
        // The run's id is known once the session starts; the log's path follows from it.
        let probe = Arc::new(Mutex::new(None::<std::path::PathBuf>));
        struct Deferred(Arc<Mutex<Option<std::path::PathBuf>>>, Arc<AtomicU64>);
        impl crate::engine::Runner for Deferred {
            fn run(&self, req: crate::engine::CommandRequest) -> crate::engine::runner::RunFuture {
                let log = self
                    .0
                    .lock()
                    .ok()
                    .and_then(|p| p.clone())
                    .unwrap_or_default();
                ChecksIntentLog {
                    log,
                    sent: Arc::clone(&self.1),
                }
                .run(req)
            }
        }
        let inner = Arc::new(Deferred(Arc::clone(&probe), Arc::clone(&sent)));
        let session =
            crate::journal::start(&cfg, &run, &spec, inner).unwrap_or_else(|e| panic!("{e}"));
        *probe.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(crate::store::intent::path_of(&cfg.state, &session.run));
        let options = RunOptions {
            sinks: vec![Box::new(session.sink)],
            ..RunOptions::default()
        };
        let result = execute(spec, session.runner, options).await;
        assert_eq!(sent.load(Ordering::SeqCst), 160);
        assert_eq!(result.status, crate::engine::RunStatus::Succeeded);
        assert_eq!(session.status.failure(), None);
    }

    #[tokio::test]
    async fn a_wait_with_nothing_recorded_resolves_at_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (store, id) = store_with_run(dir.path(), std::process::id());
        let journal = Journal::start(Box::new(store), None, id);
        assert_eq!(journal.waiter().wait().await, Ok(()));
    }
}
