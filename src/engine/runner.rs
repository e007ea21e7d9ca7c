//! The engine's one door to the world: `Runner` runs one command on one host (or on the
//! controller for `local` tasks). Implemented over the transports; a scripted fake (feature
//! `testing`) stands in for them in tests and benchmarks.
//!
//! Input: a `CommandRequest`. Output: the exit status and outputs, or a connection error.
//! Dropping the returned future must stop the command (timeouts, aborts, Ctrl-C twice).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use thiserror::Error;

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    /// The host's inventory name.
    pub host: String,
    /// The host's index in the run.
    pub host_id: usize,
    /// The task it belongs to (for scripting fakes and logs).
    pub task: String,
    /// The command as sent (may hold interpolated values; never log it: log the display form).
    pub command: String,
    /// Run through sudo.
    pub sudo: bool,
    /// With `sudo`: the password for `sudo -S` (a secret's value: it goes to stdin, first line,
    /// never to the command line). Without it sudo runs with `-n` and never prompts.
    pub sudo_password: Option<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Bytes for stdin (a secret's value).
    pub stdin: Option<String>,
    /// Run on the controller rather than on the host.
    pub local: bool,
    /// Released by a sink's [`LaunchGate`](super::event::LaunchGate): what the sinks recorded
    /// before the command (its `task_started`) is already durable.
    pub released: bool,
}

/// What a finished command gives back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code (`None`: killed by a signal).
    pub exit: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// The host could not run the command at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("connection to {host} failed: {message}")]
pub struct ConnectionError {
    /// The host.
    pub host: String,
    /// What went wrong.
    pub message: String,
}

/// A boxed command future.
pub type RunFuture =
    Pin<Box<dyn Future<Output = Result<CommandOutput, ConnectionError>> + Send + 'static>>;

/// Runs commands on hosts.
pub trait Runner: Send + Sync + 'static {
    /// Runs `req`; the future resolves when the command ends.
    fn run(&self, req: CommandRequest) -> RunFuture;
}
