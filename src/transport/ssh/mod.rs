//! The SSH transport on async-ssh2-lite (libssh2): input host descriptions and
//! [`SshOptions`], output command results. One pooled connection per host for the whole run,
//! a channel per command, jump hosts through one shared bastion connection, connect retries
//! with exponential backoff and jitter, and a keepalive task per connection.

mod auth;
mod connect;
mod exec;
pub mod keys;
mod pem;
pub mod stop;
mod stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::known_hosts::{HostKeyPolicy, KnownHosts};
use super::ssh_config::{Given, SshConfig};
use super::{
    CommandOutput, ErrorKind, HostSpec, RemoteCommand, Timings, Transport, TransportError,
};
pub use connect::Conn;
pub use keys::PassphrasePrompt;

/// Connection retries (separate from task retries): exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Connection attempts in total (at least 1).
    pub attempts: u32,
    /// Backoff before the second attempt; doubled each time.
    pub base: Duration,
    /// Cap on one backoff.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(250),
            max: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `n + 1` (n ≥ 1): uniform in `[d/2, d]` with
    /// `d = min(max, base·2^(n-1))`, so that hosts failing together do not retry together.
    pub fn backoff(&self, n: u32, jitter_seed: u64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(20))
            .min(self.max);
        let r = splitmix(jitter_seed) % 1000;
        exp / 2 + exp / 2 * u32::try_from(r).unwrap_or(0) / 1000
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Keepalives: libssh2 sends them only when asked, so a task per connection asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepalivePolicy {
    /// Time between keepalives (whole seconds are what libssh2 honours; at least 1 s).
    pub interval: Duration,
    /// Consecutive keepalives without any inbound byte after which the peer is declared dead.
    pub max_misses: u32,
}

impl Default for KeepalivePolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            max_misses: 3,
        }
    }
}

/// Timeouts of each connection step (libssh2's own timeout does nothing in non-blocking mode,
/// so every step is bounded by a tokio timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect (or the jump host's direct-tcpip channel).
    pub connect: Duration,
    /// SSH key exchange.
    pub handshake: Duration,
    /// Authentication (all methods together).
    pub auth: Duration,
    /// Channel open, env and exec requests, and channel close.
    pub channel: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            auth: Duration::from_secs(15),
            channel: Duration::from_secs(10),
        }
    }
}

/// Everything the SSH transport needs, built once per run.
#[derive(Clone, Default)]
pub struct SshOptions {
    /// Remote user when neither the host nor ssh config names one (else `$USER`).
    pub default_user: Option<String>,
    /// Identity files (`--identity`), tried after the agent.
    pub identity_files: Vec<PathBuf>,
    /// Try the SSH agent at `SSH_AUTH_SOCK` first.
    pub use_agent: bool,
    /// Asks for the passphrase of an encrypted key (never read from a file or argument).
    pub passphrase_prompt: Option<PassphrasePrompt>,
    /// known_hosts files to read (`~/.ssh/known_hosts`, `--known-hosts`).
    pub known_hosts_files: Vec<PathBuf>,
    /// Where `accept-new` records new keys.
    pub known_hosts_write: Option<PathBuf>,
    /// `strict` (default) or `accept-new`.
    pub host_key_policy: HostKeyPolicy,
    /// The ssh config file to read (`~/.ssh/config`), if any.
    pub ssh_config: Option<PathBuf>,
    /// Step timeouts.
    pub timeouts: Timeouts,
    /// Connection retries.
    pub retry: RetryPolicy,
    /// Keepalives.
    pub keepalive: KeepalivePolicy,
}

impl std::fmt::Debug for SshOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshOptions")
            .field("default_user", &self.default_user)
            .field("identity_files", &self.identity_files)
            .field("use_agent", &self.use_agent)
            .field("known_hosts_files", &self.known_hosts_files)
            .field("host_key_policy", &self.host_key_policy)
            .field("ssh_config", &self.ssh_config)
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .field("keepalive", &self.keepalive)
            .finish_non_exhaustive()
    }
}

impl SshOptions {
    /// The user's usual setup: `~/.ssh/config`, `~/.ssh/known_hosts`, the agent if
    /// `SSH_AUTH_SOCK` is set, and the default identity files that exist.
    pub fn user_defaults() -> Self {
        Self::defaults_for(
            std::env::var_os("HOME").map(PathBuf::from),
            std::env::var_os("SSH_AUTH_SOCK").is_some(),
        )
    }

    /// [`Self::user_defaults`] for this home directory and agent presence.
    fn defaults_for(home: Option<PathBuf>, agent: bool) -> Self {
        let ssh = home.as_ref().map(|h| h.join(".ssh"));
        let default_ids = ssh
            .iter()
            .flat_map(|d| ["id_ed25519", "id_ecdsa", "id_rsa"].map(|n| d.join(n)))
            .filter(|p| p.exists())
            .collect();
        Self {
            identity_files: default_ids,
            use_agent: agent,
            known_hosts_files: ssh.iter().map(|d| d.join("known_hosts")).collect(),
            known_hosts_write: ssh.as_ref().map(|d| d.join("known_hosts")),
            ssh_config: ssh.as_ref().map(|d| d.join("config")),
            ..Self::default()
        }
    }
}

/// A host with every setting decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
}

impl Target {
    fn key(&self) -> String {
        format!("{}@{}:{}", self.user, self.address, self.port)
    }
}

type ConnFuture<'a> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<(Arc<Conn>, Option<Timings>), TransportError>>
            + Send
            + 'a,
    >,
>;

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Conn>>>>;

pub(crate) struct Inner {
    pub opts: SshOptions,
    pub known: KnownHosts,
    pub config: SshConfig,
    pub keys: keys::KeyCache,
    pool: Mutex<HashMap<String, Slot>>,
    seed: u64,
}

/// The SSH transport. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct SshTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTransport")
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl SshTransport {
    /// Loads known_hosts and ssh config once; connections open lazily.
    pub fn new(opts: SshOptions) -> Result<Self, TransportError> {
        let known = KnownHosts::load(
            &opts.known_hosts_files,
            opts.known_hosts_write.clone(),
            opts.host_key_policy,
        )?;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let config = match &opts.ssh_config {
            Some(p) => SshConfig::load(p, home)?,
            None => SshConfig::default(),
        };
        let seed = u64::from(std::process::id())
            ^ u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
                    & u128::from(u64::MAX),
            )
            .unwrap_or(0);
        Ok(Self {
            inner: Arc::new(Inner {
                keys: keys::KeyCache::new(opts.passphrase_prompt.clone()),
                opts,
                known,
                config,
                pool: Mutex::new(HashMap::new()),
                seed,
            }),
        })
    }

    /// Number of live pooled connections (bastions included).
    pub fn open_connections(&self) -> usize {
        let pool = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        pool.values()
            .filter(|s| {
                s.try_lock()
                    .map(|c| c.as_ref().is_some_and(|c| c.is_alive()))
                    .unwrap_or(true)
            })
            .count()
    }

    fn resolve(&self, spec: &HostSpec) -> (Target, Vec<Target>) {
        self.resolve_as(spec, std::env::var("USER").ok())
    }

    /// [`Self::resolve`] with the local user given (`$USER`, if set).
    fn resolve_as(&self, spec: &HostSpec, local_user: Option<String>) -> (Target, Vec<Target>) {
        let given = Given {
            address: spec.address.clone(),
            user: spec.user.clone(),
            fallback_user: self.inner.opts.default_user.clone(),
            local_user,
        };
        let cfg = self.inner.config.host_for(&spec.name, &given);
        let user = spec
            .user
            .clone()
            .or(cfg.user)
            .or_else(|| self.inner.opts.default_user.clone())
            .or_else(|| given.local_user.clone())
            .unwrap_or_else(|| "root".into());
        let target = Target {
            name: spec.name.clone(),
            address: spec
                .address
                .clone()
                .or(cfg.host_name)
                .unwrap_or_else(|| spec.name.clone()),
            port: spec.port.or(cfg.port).unwrap_or(22),
            user,
            identity_files: cfg.identity_files,
        };
        let hops = if spec.jump.is_empty() {
            cfg.proxy_jump.unwrap_or_default()
        } else {
            spec.jump.clone()
        };
        let chain = hops
            .iter()
            .map(|h| {
                // A hop's own jump settings are ignored: the chain is the target's.
                let bare = HostSpec {
                    jump: Vec::new(),
                    ..h.clone()
                };
                self.resolve_as(&bare, given.local_user.clone()).0
            })
            .collect();
        (target, chain)
    }

    /// The pooled connection to `target` through `chain`, opening it if needed.
    /// Returns the connection and, when it was opened now, its connect/auth timings.
    fn connection<'a>(&'a self, target: &'a Target, chain: &'a [Target]) -> ConnFuture<'a> {
        Box::pin(async move {
            let mut key = String::new();
            for hop in chain {
                key.push_str(&hop.key());
                key.push('>');
            }
            key.push_str(&target.key());
            let slot = {
                let mut pool = self
                    .inner
                    .pool
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                pool.entry(key).or_default().clone()
            };
            // Held across the connect: concurrent users of one host wait for one connection.
            let mut guard = slot.lock().await;
            if let Some(c) = guard.as_ref() {
                if c.is_alive() {
                    return Ok((c.clone(), None));
                }
            }
            *guard = None;
            let (conn, timings) = self.connect_with_retries(target, chain).await?;
            *guard = Some(conn.clone());
            Ok((conn, Some(timings)))
        })
    }

    async fn connect_with_retries(
        &self,
        target: &Target,
        chain: &[Target],
    ) -> Result<(Arc<Conn>, Timings), TransportError> {
        let policy = self.inner.opts.retry;
        let attempts = policy.attempts.max(1);
        let mut n = 1;
        loop {
            let e = match connect::connect(self, target, chain).await {
                Ok(c) => return Ok(c),
                Err(e) if !e.is_transient() => return Err(e),
                Err(e) => e,
            };
            tracing::debug!(host = %target.name, attempt = n, error = %e, "connect failed");
            if n == attempts {
                let cause = match e {
                    TransportError::Unreachable { cause, .. } => cause,
                    e => strip_host(&e.to_string(), &target.name),
                };
                return Err(TransportError::Unreachable {
                    host: target.name.clone(),
                    attempts,
                    cause,
                });
            }
            let seed = self.inner.seed ^ u64::from(n) ^ hash(&target.key());
            tokio::time::sleep(policy.backoff(n, seed)).await;
            n += 1;
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn strip_host(msg: &str, host: &str) -> String {
    msg.strip_prefix(host)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(msg)
        .to_string()
}

#[async_trait]
impl Transport for SshTransport {
    async fn open(&self, host: &HostSpec) -> Result<(), TransportError> {
        let (target, chain) = self.resolve(host);
        self.connection(&target, &chain).await.map(|_| ())
    }

    async fn run(
        &self,
        host: &HostSpec,
        command: &RemoteCommand,
    ) -> Result<CommandOutput, TransportError> {
        let (target, chain) = self.resolve(host);
        let to = self.inner.opts.timeouts;
        let (mut conn, mut opened) = self.connection(&target, &chain).await?;
        let mut start = Instant::now();
        let ch = match exec::open(&conn, &target.name, &to).await {
            Ok(ch) => ch,
            // A pooled connection that died while idle (NAT timeout, server restart) fails
            // here, before anything ran on the host: reconnect once and carry on.
            Err(e)
                if opened.is_none()
                    && matches!(e.kind(), ErrorKind::ConnectionLost | ErrorKind::Protocol) =>
            {
                tracing::debug!(host = %target.name, error = %e, "stale pooled connection");
                conn.mark_dead(e.to_string());
                (conn, opened) = self.connection(&target, &chain).await?;
                start = Instant::now();
                exec::open(&conn, &target.name, &to).await?
            }
            Err(e) => return Err(e),
        };
        let result = exec::run(&conn, ch, &target.name, command, &to).await;
        let exec_time = start.elapsed();
        let (exit, stdout, stderr) = result?;
        let timings = match opened {
            Some(t) => Timings {
                exec: exec_time,
                ..t
            },
            None => Timings {
                exec: exec_time,
                reused: true,
                ..Timings::default()
            },
        };
        Ok(CommandOutput {
            exit,
            stdout,
            stderr,
            timings,
        })
    }

    async fn close(&self) {
        let slots: Vec<Slot> = {
            let mut pool = self
                .inner
                .pool
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pool.drain().map(|(_, s)| s).collect()
        };
        // Targets first, bastions last: a bastion's tunnels die with it.
        for slot in slots.iter().rev() {
            if let Some(conn) = slot.lock().await.take() {
                conn.shutdown(self.inner.opts.timeouts.channel).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        for seed in 0..50 {
            let b1 = p.backoff(1, seed);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = p.backoff(3, seed);
            assert!(b3 >= Duration::from_millis(150) && b3 <= Duration::from_millis(300));
        }
        let distinct: std::collections::HashSet<_> = (0..20).map(|s| p.backoff(2, s)).collect();
        assert!(distinct.len() > 10, "jitter spreads retries");
    }

    #[test]
    fn resolve_fills_from_ssh_config_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "Host web1\n HostName 10.1.1.1\n Port 2200\n ProxyJump jumper@bastion\n",
        )
        .unwrap();
        let t = SshTransport::new(SshOptions {
            ssh_config: Some(cfg),
            default_user: Some("ops".into()),
            ..SshOptions::default()
        })
        .unwrap();
        let (target, chain) = t.resolve(&HostSpec::new("web1"));
        assert_eq!(target.address, "10.1.1.1");
        assert_eq!(target.port, 2200);
        assert_eq!(target.user, "ops");
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].address, "bastion");
        assert_eq!(chain[0].user, "jumper");
        let (explicit, none) =
            t.resolve(&HostSpec::new("web1").address("1.2.3.4").port(22).user("x"));
        assert_eq!((explicit.address.as_str(), explicit.port), ("1.2.3.4", 22));
        assert_eq!(none.len(), 1);
        assert_eq!(strip_host("h: boom", "h"), "boom");
    }

    #[test]
    fn resolve_applies_match_blocks_with_the_inventory_user() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(&cfg, "Match user deploy host 10.*\n Port 2201\n").unwrap();
        let t = SshTransport::new(SshOptions {
            ssh_config: Some(cfg),
            ..SshOptions::default()
        })
        .unwrap();
        let spec = HostSpec::new("db").address("10.0.0.5");
        assert_eq!(t.resolve(&spec.clone().user("deploy")).0.port, 2201);
        assert_eq!(t.resolve(&spec.user("ops")).0.port, 22);
    }

    #[test]
    fn user_defaults_follow_home_and_the_agent_socket() {
        let o = SshOptions::user_defaults();
        assert_eq!(o.use_agent, std::env::var_os("SSH_AUTH_SOCK").is_some());
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir(&ssh).unwrap();
        std::fs::write(ssh.join("id_ecdsa"), "").unwrap();
        let o = SshOptions::defaults_for(Some(home.path().to_path_buf()), true);
        assert!(o.use_agent);
        // Only the default identity files that exist.
        assert_eq!(o.identity_files, vec![ssh.join("id_ecdsa")]);
        assert_eq!(o.known_hosts_files, vec![ssh.join("known_hosts")]);
        assert_eq!(o.known_hosts_write, Some(ssh.join("known_hosts")));
        assert_eq!(o.ssh_config, Some(ssh.join("config")));
        let homeless = SshOptions::defaults_for(None, false);
        assert!(!homeless.use_agent && homeless.identity_files.is_empty());
        assert!(homeless.known_hosts_files.is_empty() && homeless.ssh_config.is_none());
    }

    #[test]
    fn the_remote_user_falls_back_to_the_local_user_then_root() {
        let t = SshTransport::new(SshOptions::default()).unwrap();
        let spec = HostSpec::new("web1");
        assert_eq!(t.resolve_as(&spec, Some("alice".into())).0.user, "alice");
        assert_eq!(t.resolve_as(&spec, None).0.user, "root");
        // A hop gets the same local user as the target.
        let (_, chain) = t.resolve_as(&spec.jump(HostSpec::new("bastion")), None);
        assert_eq!(chain[0].user, "root");
    }

    #[test]
    fn an_unreadable_known_hosts_file_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: it exists but cannot be read as one.
        let err = SshTransport::new(SshOptions {
            known_hosts_files: vec![dir.path().to_path_buf()],
            ..SshOptions::default()
        })
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn debug_shows_settings_but_not_the_prompt() {
        let t = SshTransport::new(SshOptions {
            identity_files: vec![PathBuf::from("id_test")],
            passphrase_prompt: Some(Arc::new(|_: &std::path::Path| None)),
            ..SshOptions::default()
        })
        .unwrap();
        let d = format!("{t:?}");
        assert!(d.starts_with("SshTransport"), "{d}");
        assert!(d.contains("id_test") && d.contains("Strict"), "{d}");
        assert!(!d.contains("passphrase_prompt"), "{d}");
    }
}
