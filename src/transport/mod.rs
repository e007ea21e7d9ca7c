//! Transports: run one shell command on one host and hand back its exit, capped output and
//! timings. Input: a [`HostSpec`] and a [`RemoteCommand`]; output: [`CommandOutput`] or a
//! per-host [`TransportError`]. Implementations: [`ssh::SshTransport`] (pooled libssh2
//! connections) and [`local::LocalTransport`] (tokio processes); [`Transports`] picks one by
//! the host's [`TransportKind`].

pub mod error;
pub mod known_hosts;
pub mod local;
mod output;
pub mod secret;
pub mod ssh;
pub mod ssh_config;

use std::time::Duration;

use async_trait::async_trait;

pub use error::{ErrorKind, StopOutcome, TransportError};
pub use output::{Captured, CommandOutput, ExitStatus, Timings};
pub use secret::Secret;

/// Default cap on each of stdout and stderr: 1 MiB.
pub const DEFAULT_OUTPUT_CAP: usize = 1024 * 1024;

/// How a host is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TransportKind {
    /// SSH to the host's address (the default).
    #[default]
    Ssh,
    /// A process on the machine running sflow.
    Local,
}

/// A host as the transport sees it: the engine maps each inventory host onto one.
///
/// Fields left `None` are filled from the user's `~/.ssh/config` (`HostName`, `User`, `Port`,
/// `ProxyJump`), then from defaults (the name, the local user, port 22).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostSpec {
    /// The inventory name, used in errors and as the `~/.ssh/config` alias.
    pub name: String,
    /// Address or DNS name to connect to.
    pub address: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// Remote user.
    pub user: Option<String>,
    /// Hosts to tunnel through, outermost first (`jump = bastion`, `ProxyJump a,b`).
    pub jump: Vec<HostSpec>,
    /// SSH or local.
    pub kind: TransportKind,
}

impl HostSpec {
    /// An SSH host with only a name: everything else comes from ssh config or defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            address: None,
            port: None,
            user: None,
            jump: Vec::new(),
            kind: TransportKind::Ssh,
        }
    }

    /// The local machine.
    pub fn local(name: impl Into<String>) -> Self {
        Self {
            kind: TransportKind::Local,
            ..Self::new(name)
        }
    }

    /// Sets the address.
    #[must_use]
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Sets the port.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets the remote user.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Appends a jump host (the first one added is the outermost).
    #[must_use]
    pub fn jump(mut self, bastion: HostSpec) -> Self {
        self.jump.push(bastion);
        self
    }
}

/// sudo for one command: `sudo -n` without a password, `sudo -S` with the password on stdin.
#[derive(Debug, Clone, Default)]
pub struct Sudo {
    /// Target user (`sudo -u`); root when `None`.
    pub user: Option<String>,
    /// Password written to sudo's stdin, never to the command line.
    pub password: Option<Secret>,
}

/// One command to run: a shell command line plus its stdin, environment and limits.
#[derive(Debug, Clone)]
pub struct RemoteCommand {
    /// The shell command line (run by the remote user's shell, or `sh -c` locally).
    pub command: String,
    /// Bytes written to the command's stdin, then EOF. Held as a secret: never logged.
    pub stdin: Option<Secret>,
    /// Environment variables for the command.
    pub env: Vec<(String, String)>,
    /// Run through sudo.
    pub sudo: Option<Sudo>,
    /// Stop the command and report [`TransportError::Timeout`] after this long.
    pub timeout: Option<Duration>,
    /// Cap on each of stdout and stderr; the rest is drained and counted, not kept.
    pub output_cap: usize,
}

impl RemoteCommand {
    /// A command with no stdin, no env, no sudo, no timeout and the default output cap.
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            stdin: None,
            env: Vec::new(),
            sudo: None,
            timeout: None,
            output_cap: DEFAULT_OUTPUT_CAP,
        }
    }

    /// Sets stdin.
    #[must_use]
    pub fn stdin(mut self, stdin: impl Into<Secret>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }

    /// Adds an environment variable.
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Runs through sudo.
    #[must_use]
    pub fn sudo(mut self, sudo: Sudo) -> Self {
        self.sudo = Some(sudo);
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the cap on each output stream.
    #[must_use]
    pub fn output_cap(mut self, cap: usize) -> Self {
        self.output_cap = cap;
        self
    }

    /// The command line actually sent, and the bytes to write to stdin first (a sudo
    /// password), so that secrets never reach the command line.
    pub(crate) fn wrapped(&self) -> (String, Option<Secret>) {
        let Some(sudo) = &self.sudo else {
            return (self.command.clone(), None);
        };
        let mut line = String::from("sudo ");
        match &sudo.password {
            // An empty prompt keeps sudo from writing its prompt into the captured stderr.
            Some(_) => line.push_str("-S -p '' "),
            None => line.push_str("-n "),
        }
        if let Some(user) = &sudo.user {
            line.push_str("-u ");
            line.push_str(&shell_quote(user));
            line.push(' ');
        }
        line.push_str("-- sh -c ");
        line.push_str(&shell_quote(&self.command));
        let first = sudo
            .password
            .as_ref()
            .map(|p| Secret::from(format!("{}\n", p.expose_str())));
        (line, first)
    }
}

/// Quotes a string for a POSIX shell (single quotes, embedded quotes escaped).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs commands on hosts. Implementations keep whatever connections they need between calls.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Opens (or reuses) the session to `host` without running anything: a reachability,
    /// host-key and authentication check.
    async fn open(&self, host: &HostSpec) -> Result<(), TransportError>;

    /// Runs one command on `host`.
    async fn run(
        &self,
        host: &HostSpec,
        command: &RemoteCommand,
    ) -> Result<CommandOutput, TransportError>;

    /// Closes every connection (politely where possible).
    async fn close(&self);
}

/// Both transports behind one value: dispatches on [`HostSpec::kind`].
pub struct Transports {
    /// The SSH transport.
    pub ssh: ssh::SshTransport,
    /// The local transport.
    pub local: local::LocalTransport,
}

impl Transports {
    /// Builds both transports; the SSH side from `options`.
    pub fn new(options: ssh::SshOptions) -> Result<Self, TransportError> {
        Ok(Self {
            ssh: ssh::SshTransport::new(options)?,
            local: local::LocalTransport::new(),
        })
    }
}

#[async_trait]
impl Transport for Transports {
    async fn open(&self, host: &HostSpec) -> Result<(), TransportError> {
        match host.kind {
            TransportKind::Ssh => self.ssh.open(host).await,
            TransportKind::Local => self.local.open(host).await,
        }
    }

    async fn run(
        &self,
        host: &HostSpec,
        command: &RemoteCommand,
    ) -> Result<CommandOutput, TransportError> {
        match host.kind {
            TransportKind::Ssh => self.ssh.run(host, command).await,
            TransportKind::Local => self.local.run(host, command).await,
        }
    }

    async fn close(&self) {
        self.ssh.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_escapes_quotes() {
        assert_eq!(shell_quote("abc-1.2"), "abc-1.2");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn sudo_password_goes_to_stdin_not_the_command_line() {
        let cmd = RemoteCommand::new("id -u").sudo(Sudo {
            user: Some("app".into()),
            password: Some(Secret::from("hunter2")),
        });
        let (line, first) = cmd.wrapped();
        assert_eq!(line, "sudo -S -p '' -u app -- sh -c 'id -u'");
        assert!(!line.contains("hunter2"));
        assert_eq!(
            first.map(|s| s.expose().to_vec()),
            Some(b"hunter2\n".to_vec())
        );
    }

    #[test]
    fn sudo_without_password_never_prompts() {
        let cmd = RemoteCommand::new("true").sudo(Sudo::default());
        assert_eq!(cmd.wrapped().0, "sudo -n -- sh -c true");
        assert!(cmd.wrapped().1.is_none());
        assert_eq!(RemoteCommand::new("x y").wrapped().0, "x y");
    }
}
