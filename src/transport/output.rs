//! What a finished command hands back: exit status or signal, capped stdout/stderr with a
//! truncation mark, and connect/auth/exec timings.

use std::fmt;
use std::time::Duration;

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// Normal exit with this code.
    Code(i32),
    /// Killed by this signal (name without `SIG`, e.g. `KILL`).
    Signal(String),
}

impl ExitStatus {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        matches!(self, Self::Code(0))
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(c) => write!(f, "exit code {c}"),
            Self::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// One captured output stream, kept up to a cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first `cap` bytes.
    pub bytes: Vec<u8>,
    /// Total bytes the command wrote to this stream.
    pub total: u64,
    /// True when `total` exceeded the cap and bytes were dropped.
    pub truncated: bool,
}

impl Captured {
    /// The kept bytes as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Appends a chunk, keeping at most `cap` bytes.
    pub(crate) fn push(&mut self, chunk: &[u8], cap: usize) {
        self.total += chunk.len() as u64;
        let room = cap.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// Replaces every occurrence of `secret` by `***` (a sudo password echoed back).
    pub(crate) fn scrub(&mut self, secret: &[u8]) {
        if secret.is_empty() || self.bytes.len() < secret.len() {
            return;
        }
        let mut out = Vec::with_capacity(self.bytes.len());
        let mut i = 0;
        while i < self.bytes.len() {
            if self.bytes[i..].starts_with(secret) {
                out.extend_from_slice(b"***");
                i += secret.len();
            } else {
                out.push(self.bytes[i]);
                i += 1;
            }
        }
        self.bytes = out;
    }
}

/// Where the time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// TCP connect + SSH handshake + host-key check (zero on a reused connection).
    pub connect: Duration,
    /// Authentication (zero on a reused connection).
    pub auth: Duration,
    /// Channel open to exit status.
    pub exec: Duration,
    /// True when the command ran on a connection opened earlier.
    pub reused: bool,
}

/// The result of a command that ran to completion (whatever its exit status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code or signal.
    pub exit: ExitStatus,
    /// Captured stdout.
    pub stdout: Captured,
    /// Captured stderr.
    pub stderr: Captured,
    /// Timings.
    pub timings: Timings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_cap_and_counts_the_rest() {
        let mut c = Captured::default();
        c.push(b"hello", 3);
        c.push(b"world", 3);
        assert_eq!(c.bytes, b"hel");
        assert_eq!(c.total, 10);
        assert!(c.truncated);
        let mut d = Captured::default();
        d.push(b"abc", 3);
        assert!(!d.truncated);
    }

    #[test]
    fn scrub_replaces_every_occurrence() {
        let mut c = Captured {
            bytes: b"pw=s3cr3t and s3cr3t".to_vec(),
            ..Captured::default()
        };
        c.scrub(b"s3cr3t");
        assert_eq!(c.text(), "pw=*** and ***");
        assert_eq!(
            ExitStatus::Signal("KILL".into()).to_string(),
            "killed by signal KILL"
        );
        assert!(ExitStatus::Code(0).success());
    }
}
