//! Per-host transport errors: one variant per documented failure, each naming the host, and a
//! stable [`ErrorKind`] for the engine's retry and reporting decisions.

use std::path::PathBuf;
use std::time::Duration;

/// Stable error kinds (what the engine and reports match on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Could not connect after every retry.
    Unreachable,
    /// The server refused every credential.
    AuthRejected,
    /// The host's key is not in known_hosts (policy `strict`).
    HostKeyUnknown,
    /// The host's key differs from the recorded one (always refused).
    HostKeyChanged,
    /// A step or the command outran its timeout.
    Timeout,
    /// The connection died (dropped, or keepalives missed) while in use.
    ConnectionLost,
    /// SSH protocol or channel failure on an open connection.
    Protocol,
    /// A local process could not be started.
    Spawn,
    /// Bad configuration: key files, known_hosts, ssh config.
    Config,
}

impl ErrorKind {
    /// The stable name used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::AuthRejected => "auth-rejected",
            Self::HostKeyUnknown => "host-key-unknown",
            Self::HostKeyChanged => "host-key-changed",
            Self::Timeout => "timeout",
            Self::ConnectionLost => "connection-lost",
            Self::Protocol => "protocol",
            Self::Spawn => "spawn",
            Self::Config => "config",
        }
    }
}

/// The step that timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect (or the jump host's direct-tcpip channel).
    Connect,
    /// SSH key exchange.
    Handshake,
    /// Authentication.
    Auth,
    /// Opening a channel and starting the command.
    ChannelOpen,
    /// The command itself.
    Command,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Handshake => "handshake",
            Self::Auth => "authentication",
            Self::ChannelOpen => "channel open",
            Self::Command => "command",
        })
    }
}

/// What became of a timed-out command's process group (SIGTERM, then SIGKILL after a grace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// It ended on SIGTERM.
    Terminated,
    /// It outlived SIGTERM's grace and was sent SIGKILL.
    Killed,
    /// It had already ended when the signal was sent.
    AlreadyExited,
    /// It could not be signalled (no process group id seen, the connection failed...): it
    /// may still be running.
    Failed(String),
}

impl StopOutcome {
    /// True when the process group is known to be stopped.
    pub fn stopped(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }

    fn suffix(outcome: Option<&Self>) -> String {
        match outcome {
            None => String::new(),
            Some(Self::Terminated) => "; process group terminated (SIGTERM)".into(),
            Some(Self::Killed) => "; process group killed (SIGKILL after the grace)".into(),
            Some(Self::AlreadyExited) => "; process group had already exited".into(),
            Some(Self::Failed(why)) => {
                format!("; could not stop the process group, it may still run: {why}")
            }
        }
    }
}

/// A transport failure on one host.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Connecting failed `attempts` times; `cause` is the last failure.
    #[error("{host}: unreachable after {attempts} attempt(s): {cause}")]
    Unreachable {
        /// Host name.
        host: String,
        /// Attempts made.
        attempts: u32,
        /// The last cause.
        cause: String,
    },
    /// No credential was accepted.
    #[error("{host}: authentication as `{user}` rejected (tried: {tried})")]
    AuthRejected {
        /// Host name.
        host: String,
        /// Remote user.
        user: String,
        /// Methods and keys tried.
        tried: String,
    },
    /// Unknown host key under policy `strict`.
    #[error(
        "{host}: host key not in known_hosts ({key_type} {fingerprint}); \
         add it after checking the fingerprint, or use --accept-new-host-keys"
    )]
    HostKeyUnknown {
        /// Host name (and address) as looked up.
        host: String,
        /// Key type, e.g. `ssh-ed25519`.
        key_type: String,
        /// `SHA256:...` fingerprint of the presented key.
        fingerprint: String,
    },
    /// The host presented a different key than the one recorded.
    #[error(
        "{host}: HOST KEY CHANGED: presented {key_type} {fingerprint}, known_hosts has \
         {expected} ({known_at}); refusing the host (possible man-in-the-middle)"
    )]
    HostKeyChanged {
        /// Host name (and address) as looked up.
        host: String,
        /// Presented key type.
        key_type: String,
        /// Presented key fingerprint.
        fingerprint: String,
        /// Recorded key type and fingerprint.
        expected: String,
        /// Where the recorded key is (`file:line`).
        known_at: String,
    },
    /// A step outran its timeout.
    #[error(
        "{host}: {phase} timed out after {}{}",
        humantime::format_duration(*.after),
        StopOutcome::suffix(.stopped.as_ref())
    )]
    Timeout {
        /// Host name.
        host: String,
        /// The step.
        phase: Phase,
        /// The limit that was hit.
        after: Duration,
        /// For a command timeout: what became of its process group; `None` for the
        /// connection steps, where nothing ran yet.
        stopped: Option<StopOutcome>,
    },
    /// The connection died while in use.
    #[error("{host}: connection lost: {cause}")]
    ConnectionLost {
        /// Host name.
        host: String,
        /// What was seen.
        cause: String,
    },
    /// Protocol or channel failure.
    #[error("{host}: ssh {step} failed: {cause}")]
    Protocol {
        /// Host name.
        host: String,
        /// The step (channel open, exec, read...).
        step: &'static str,
        /// libssh2's message.
        cause: String,
    },
    /// A local process could not be started.
    #[error("{host}: cannot start local command: {cause}")]
    Spawn {
        /// Host name.
        host: String,
        /// The OS error.
        cause: String,
    },
    /// A configuration file could not be used.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl TransportError {
    /// The stable kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } => ErrorKind::Unreachable,
            Self::AuthRejected { .. } => ErrorKind::AuthRejected,
            Self::HostKeyUnknown { .. } => ErrorKind::HostKeyUnknown,
            Self::HostKeyChanged { .. } => ErrorKind::HostKeyChanged,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::ConnectionLost { .. } => ErrorKind::ConnectionLost,
            Self::Protocol { .. } => ErrorKind::Protocol,
            Self::Spawn { .. } => ErrorKind::Spawn,
            Self::Config { .. } => ErrorKind::Config,
        }
    }

    /// True for failures worth a new connection attempt (network-level, not policy).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Unreachable | ErrorKind::ConnectionLost | ErrorKind::Timeout
        )
    }
}
