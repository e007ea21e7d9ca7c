//! Per-host executors: run one attempt of a task (with its timeout, stoppable by the
//! dispatcher), or one host's rollback sequence, and report back by message only.
//!
//! Input: a ready `CommandRequest` from the dispatcher. Output: `Msg`s on the dispatcher's
//! channel. Executors decide nothing: retries, states and events are the dispatcher's.

use super::runner::{CommandOutput, CommandRequest, Runner};
use super::spec::{HostId, TaskId};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttemptOutcome {
    /// The command ran to its end.
    Exited(CommandOutput),
    /// It ran past its timeout and was stopped.
    TimedOut,
    /// The host could not run it.
    Connection(String),
    /// The dispatcher stopped it (window abort, second Ctrl-C).
    Stopped,
}

/// A message from an executor to the dispatcher.
#[derive(Debug)]
pub(crate) enum Msg {
    /// An attempt ended.
    Attempt {
        host: HostId,
        task: TaskId,
        outcome: AttemptOutcome,
        took: Duration,
    },
    /// One rollback command ended.
    RollbackStep {
        host: HostId,
        task: TaskId,
        ok: bool,
        exit: Option<i32>,
    },
    /// A host's rollback sequence ended (`ok`: every command succeeded).
    RollbackDone { host: HostId, ok: bool },
}

/// One attempt to run.
pub(crate) struct Attempt {
    pub host: HostId,
    pub task: TaskId,
    pub request: CommandRequest,
    pub timeout: Duration,
    pub stop: oneshot::Receiver<()>,
}

/// Runs one attempt and reports its outcome.
pub(crate) async fn run_attempt(
    runner: Arc<dyn Runner>,
    a: Attempt,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let started = Instant::now();
    let mut stop = a.stop;
    let stopped = async move {
        // A dropped sender is not a stop request: keep waiting for the command.
        if stop.try_recv().is_ok() || (&mut stop).await.is_ok() {
            return;
        }
        std::future::pending::<()>().await;
    };
    let outcome = tokio::select! {
        biased;
        () = stopped => AttemptOutcome::Stopped,
        r = tokio::time::timeout(a.timeout, runner.run(a.request)) => match r {
            Ok(Ok(out)) => AttemptOutcome::Exited(out),
            Ok(Err(e)) => AttemptOutcome::Connection(e.message),
            Err(_) => AttemptOutcome::TimedOut,
        },
    };
    let _ = tx.send(Msg::Attempt {
        host: a.host,
        task: a.task,
        outcome,
        took: started.elapsed(),
    });
}

/// One rollback command of a host.
pub(crate) struct RollbackCommand {
    pub task: TaskId,
    pub request: CommandRequest,
    pub timeout: Duration,
}

/// Runs a host's rollback commands in order, stopping at the first that fails (later undo
/// steps may rely on earlier ones).
pub(crate) async fn run_rollback(
    runner: Arc<dyn Runner>,
    host: HostId,
    steps: Vec<RollbackCommand>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let mut all_ok = true;
    for step in steps {
        let r = tokio::time::timeout(step.timeout, runner.run(step.request)).await;
        let exit = match &r {
            Ok(Ok(out)) => out.exit,
            _ => None,
        };
        let ok = exit == Some(0);
        let _ = tx.send(Msg::RollbackStep {
            host,
            task: step.task,
            ok,
            exit,
        });
        if !ok {
            all_ok = false;
            break;
        }
    }
    let _ = tx.send(Msg::RollbackDone { host, ok: all_ok });
}
