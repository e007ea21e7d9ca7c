//! The in-process SSH test fleet (cargo feature `testing`): many virtual hosts, each a real
//! SSH server (russh) on its own 127.1.x.y address with its own host key, answering `exec`
//! requests from a Rust closure or a scripted table, recording every command, with per-host
//! fault injection. Input a [`FleetBuilder`]; output a running [`Fleet`] with the addresses,
//! a known_hosts file, the client key and ready-made [`SshOptions`].
//!
//! ```no_run
//! # async fn demo() {
//! use sflow::testing::{Fleet, Reply, Script};
//! let fleet = Fleet::builder()
//!     .hosts(50)
//!     .script(Script::new().on("uptime", Reply::ok("up 3 days\n")))
//!     .start()
//!     .await
//!     .unwrap();
//! let ssh = sflow::transport::ssh::SshTransport::new(fleet.ssh_options()).unwrap();
//! # }
//! ```

mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};

use crate::transport::ssh::SshOptions;
use crate::transport::HostSpec;

/// One `exec` request as the fleet received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Host name (`host-000`...).
    pub host: String,
    /// Authenticated user.
    pub user: String,
    /// The command line.
    pub command: String,
    /// Everything written to stdin before EOF.
    pub stdin: Vec<u8>,
    /// Environment variables set by `env` requests.
    pub env: Vec<(String, String)>,
}

/// How a command ends in the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Exit code.
    Code(u32),
    /// Killed by a signal (name without `SIG`).
    Signal(String),
}

/// The fleet's answer to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Stdout.
    pub stdout: Vec<u8>,
    /// Stderr.
    pub stderr: Vec<u8>,
    /// Exit.
    pub exit: Exit,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// Exit 0 with this stdout.
    pub fn ok(stdout: impl Into<Vec<u8>>) -> Self {
        Self {
            stdout: stdout.into(),
            stderr: Vec::new(),
            exit: Exit::Code(0),
            delay: Duration::ZERO,
        }
    }

    /// Exit `code` with this stderr.
    pub fn fail(code: u32, stderr: impl Into<Vec<u8>>) -> Self {
        Self {
            stdout: Vec::new(),
            stderr: stderr.into(),
            exit: Exit::Code(code),
            delay: Duration::ZERO,
        }
    }

    /// Killed by `signal`.
    pub fn signal(signal: &str) -> Self {
        Self {
            exit: Exit::Signal(signal.to_string()),
            ..Self::ok("")
        }
    }

    /// Adds stderr.
    #[must_use]
    pub fn stderr(mut self, stderr: impl Into<Vec<u8>>) -> Self {
        self.stderr = stderr.into();
        self
    }

    /// Answers after `delay`.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Answers a request.
pub type Responder = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A small table: the first rule whose pattern equals the command (or, for `on_prefix`,
/// starts it) answers; otherwise exit 127 "command not found".
#[derive(Debug, Clone, Default)]
pub struct Script {
    rules: Vec<(String, bool, Reply)>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers exactly `command` with `reply`.
    #[must_use]
    pub fn on(mut self, command: &str, reply: Reply) -> Self {
        self.rules.push((command.to_string(), false, reply));
        self
    }

    /// Answers every command starting with `prefix` with `reply`.
    #[must_use]
    pub fn on_prefix(mut self, prefix: &str, reply: Reply) -> Self {
        self.rules.push((prefix.to_string(), true, reply));
        self
    }

    /// The reply for `command`.
    pub fn answer(&self, command: &str) -> Reply {
        self.rules
            .iter()
            .find(|(p, prefix, _)| {
                if *prefix {
                    command.starts_with(p.as_str())
                } else {
                    command == p
                }
            })
            .map_or_else(
                || Reply::fail(127, format!("sh: {command}: command not found\n")),
                |(_, _, r)| r.clone(),
            )
    }

    fn into_responder(self) -> Responder {
        Arc::new(move |r: &Request| self.answer(&r.command))
    }
}

/// A fault injected on one host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Behave.
    #[default]
    None,
    /// Nothing listens: connections are refused (set at build time only).
    Refuse,
    /// Connection attempts go unanswered, as to a black-holed address: the host's listen
    /// queue is kept full, so the kernel drops every further SYN (set at build time only).
    /// Through a jump host, the bastion's direct-tcpip open is never answered either.
    Blackhole,
    /// The first `n` connections are accepted and closed at once (a flaky network).
    DropFirstConnections(u32),
    /// Accept TCP and never say anything (handshake hangs).
    HangOnConnect,
    /// Hang inside authentication.
    HangBeforeAuth,
    /// Freeze the connection once authenticated (at the first channel open): nothing is read
    /// or sent again, so channel opens and keepalives go unanswered.
    HangAfterAuth,
    /// Reject every credential.
    RejectAuth,
    /// Present a host key other than the one in the fleet's known_hosts.
    WrongHostKey,
    /// Send part of the output, then drop the TCP connection.
    DropMidCommand,
    /// Send stdout `chunk` bytes at a time, one chunk every `every`.
    Trickle {
        /// Bytes per chunk.
        chunk: usize,
        /// Pause between chunks.
        every: Duration,
    },
    /// Answer every command with this many bytes of stdout.
    HugeOutput(u64),
    /// End every command with this signal.
    ExitSignal(String),
    /// Refuse every new session channel (the connection itself stays up).
    RejectChannels,
    /// Refuse `exec` requests (as a server with a forced command or a broken shell might).
    RejectExec,
    /// Refuse `env` requests (as OpenSSH does for names outside `AcceptEnv`).
    RejectEnv,
    /// A login shell that does not run the transport's wrap (csh, fish): no process group id
    /// is reported, so a timed-out command cannot be signalled.
    NoProcessGroupMarker,
    /// Commands outlive SIGTERM: a kill request on a running command answers that SIGKILL
    /// was needed.
    IgnoreTerm,
    /// The shell's process group id line comes late: after this delay, or as soon as
    /// [`Fleet::release_markers`] is called for the host (a slow login shell).
    LateMarker(Duration),
    /// Kill requests are answered with this text instead of what the kill script prints (and
    /// stop nothing): `gone\n` as for a command that already ended, or anything unexpected.
    KillAnswer(String),
    /// Kill requests are received and never answered.
    SilentKill,
    /// Kill requests are refused at `exec` (other commands run).
    RefuseKill,
    /// A kill request drops the connection after the first bytes of its answer.
    DropOnKill,
    /// `env` requests are never answered.
    HangEnv,
    /// The connection is dropped while the client offers its key.
    DropDuringAuth,
    /// Once a command has started (its process group id sent), the connection stops reading
    /// from the client (it still writes): the client's writes block on a full socket, its
    /// channel opens and keepalives go unanswered. Takes effect for connections accepted
    /// after it is set; the host's receive window is enlarged (set at build time) so that
    /// the socket, not the SSH window, is what fills.
    StopReading,
}

/// A received command with the host index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Index of the host in [`Fleet::hosts`].
    pub host_index: usize,
    /// The request.
    pub request: Request,
}

/// One virtual host.
#[derive(Debug, Clone)]
pub struct FleetHost {
    /// Name (`host-000`...).
    pub name: String,
    /// Listening address (127.1.x.y and a port).
    pub addr: SocketAddr,
    /// The host key as in known_hosts (`ssh-ed25519 AAAA...`).
    pub host_key: String,
    /// Its `SHA256:` fingerprint.
    pub fingerprint: String,
}

/// Builds a fleet.
pub struct FleetBuilder {
    hosts: usize,
    responder: Responder,
    per_host: HashMap<usize, Responder>,
    faults: HashMap<usize, Fault>,
    user: String,
    authorized: Vec<String>,
}

impl Default for FleetBuilder {
    fn default() -> Self {
        Self {
            hosts: 1,
            responder: Script::new().into_responder(),
            per_host: HashMap::new(),
            faults: HashMap::new(),
            user: "sflow".into(),
            authorized: Vec::new(),
        }
    }
}

impl FleetBuilder {
    /// Number of hosts (default 1).
    #[must_use]
    pub fn hosts(mut self, n: usize) -> Self {
        self.hosts = n;
        self
    }

    /// Every host answers with this closure.
    #[must_use]
    pub fn respond(mut self, f: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        self.responder = Arc::new(f);
        self
    }

    /// Every host answers from this table.
    #[must_use]
    pub fn script(mut self, script: Script) -> Self {
        self.responder = script.into_responder();
        self
    }

    /// Host `i` answers from its own table.
    #[must_use]
    pub fn host_script(mut self, i: usize, script: Script) -> Self {
        self.per_host.insert(i, script.into_responder());
        self
    }

    /// Injects a fault on host `i`.
    #[must_use]
    pub fn fault(mut self, i: usize, fault: Fault) -> Self {
        self.faults.insert(i, fault);
        self
    }

    /// The user the fleet expects (default `sflow`); `HostSpec`s carry it.
    #[must_use]
    pub fn user(mut self, user: &str) -> Self {
        self.user = user.to_string();
        self
    }

    /// Every host also accepts this client key (`ssh-ed25519 AAAA...`, as in a `.pub` file),
    /// besides the fleet's own.
    #[must_use]
    pub fn authorize(mut self, public_key: &str) -> Self {
        self.authorized.push(public_key.trim().to_string());
        self
    }

    /// Starts every host; returns once all listen.
    pub async fn start(self) -> std::io::Result<Fleet> {
        let dir = TempDir::new()?;
        let client = PrivateKey::from(Ed25519Keypair::from_seed(&random_seed()));
        let client_key_path = dir.path.join("client_ed25519");
        let pem = client
            .to_openssh(LineEnding::LF)
            .map_err(std::io::Error::other)?;
        write_private(&client_key_path, pem.as_bytes())?;
        let shared = Arc::new(server::Shared {
            authorized: std::iter::once(Ok(client.public_key().clone()))
                .chain(self.authorized.iter().map(|k| PublicKey::from_openssh(k)))
                .collect::<Result<_, _>>()
                .map_err(std::io::Error::other)?,
            log: Mutex::new(Vec::new()),
            next_pgid: std::sync::atomic::AtomicU32::new(4000),
        });
        let mut hosts = Vec::with_capacity(self.hosts);
        let mut states = Vec::with_capacity(self.hosts);
        let mut known = String::new();
        let mut blackholes = Vec::new();
        for i in 0..self.hosts {
            let ip = std::net::Ipv4Addr::new(
                127,
                1,
                u8::try_from(i / 250).unwrap_or(255),
                u8::try_from(i % 250 + 1).unwrap_or(255),
            );
            let name = format!("host-{i:03}");
            let recorded_key = PrivateKey::from(Ed25519Keypair::from_seed(&random_seed()));
            let fault = self.faults.get(&i).cloned().unwrap_or_default();
            let served_key = if fault == Fault::WrongHostKey {
                PrivateKey::from(Ed25519Keypair::from_seed(&random_seed()))
            } else {
                recorded_key.clone()
            };
            let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
            let addr = listener.local_addr()?;
            let public = recorded_key
                .public_key()
                .to_openssh()
                .map_err(std::io::Error::other)?;
            known.push_str(&format!("[{}]:{} {}\n", ip, addr.port(), public));
            let state = Arc::new(server::HostState {
                index: i,
                name: name.clone(),
                fault: Mutex::new(fault.clone()),
                responder: self
                    .per_host
                    .get(&i)
                    .cloned()
                    .unwrap_or_else(|| self.responder.clone()),
                key: served_key,
                connections: Mutex::new(0),
                held: Mutex::new(Vec::new()),
                controls: Mutex::new(Vec::new()),
                running: Mutex::new(HashMap::new()),
                stops: Mutex::new(Vec::new()),
                markers: tokio::sync::watch::channel(false).0,
                tunnels: std::sync::atomic::AtomicUsize::new(0),
            });
            if fault == Fault::Refuse {
                // The port stays bound by nobody: connections are refused.
                drop(listener);
            } else if fault == Fault::Blackhole {
                drop(listener);
                blackholes.push(server::blackhole(addr).await?);
            } else {
                tokio::spawn(server::accept_loop(listener, state.clone(), shared.clone()));
            }
            hosts.push(FleetHost {
                name,
                addr,
                host_key: public,
                fingerprint: recorded_key
                    .public_key()
                    .fingerprint(HashAlg::Sha256)
                    .to_string(),
            });
            states.push(state);
        }
        let known_hosts_path = dir.path.join("known_hosts");
        std::fs::write(&known_hosts_path, known)?;
        Ok(Fleet {
            hosts,
            states,
            shared,
            user: self.user,
            client_key_path,
            client_public_key: client
                .public_key()
                .to_openssh()
                .map_err(std::io::Error::other)?,
            known_hosts_path,
            _blackholes: blackholes,
            _dir: dir,
        })
    }
}

/// A running fleet. Dropping it stops every host (their tasks end with the runtime).
pub struct Fleet {
    hosts: Vec<FleetHost>,
    states: Vec<Arc<server::HostState>>,
    shared: Arc<server::Shared>,
    user: String,
    client_key_path: PathBuf,
    client_public_key: String,
    known_hosts_path: PathBuf,
    /// The full listen queues of [`Fault::Blackhole`] hosts.
    _blackholes: Vec<server::Blackhole>,
    _dir: TempDir,
}

impl Fleet {
    /// A builder with one well-behaved host answering "command not found".
    pub fn builder() -> FleetBuilder {
        FleetBuilder::default()
    }

    /// The hosts, in index order.
    pub fn hosts(&self) -> &[FleetHost] {
        &self.hosts
    }

    /// Host `i` as the transport takes it (name, address, port, user).
    pub fn host_spec(&self, i: usize) -> HostSpec {
        let h = &self.hosts[i];
        HostSpec::new(h.name.clone())
            .address(h.addr.ip().to_string())
            .port(h.addr.port())
            .user(self.user.clone())
    }

    /// Every host as a `HostSpec`.
    pub fn host_specs(&self) -> Vec<HostSpec> {
        (0..self.hosts.len()).map(|i| self.host_spec(i)).collect()
    }

    /// Options that trust exactly this fleet: its known_hosts, its client key, no agent,
    /// no user ssh config.
    pub fn ssh_options(&self) -> SshOptions {
        SshOptions {
            identity_files: vec![self.client_key_path.clone()],
            known_hosts_files: vec![self.known_hosts_path.clone()],
            ..SshOptions::default()
        }
    }

    /// The known_hosts file listing every host's (expected) key.
    pub fn known_hosts_path(&self) -> &Path {
        &self.known_hosts_path
    }

    /// The client's private key file (unencrypted, mode 0600).
    pub fn client_key_path(&self) -> &Path {
        &self.client_key_path
    }

    /// The client's public key (`ssh-ed25519 AAAA...`), e.g. for an authorized_keys file.
    pub fn client_public_key(&self) -> &str {
        &self.client_public_key
    }

    /// Every command received so far, in arrival order.
    pub fn commands(&self) -> Vec<Recorded> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The commands host `i` received.
    pub fn commands_on(&self, i: usize) -> Vec<Request> {
        self.commands()
            .into_iter()
            .filter(|r| r.host_index == i)
            .map(|r| r.request)
            .collect()
    }

    /// The process group ids that kill requests (sent on a command timeout) targeted on
    /// host `i`, in arrival order.
    pub fn stop_requests(&self, i: usize) -> Vec<u32> {
        self.states[i]
            .stops
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Commands host `i` is still running (answered neither yet nor stopped).
    pub fn running(&self, i: usize) -> usize {
        self.states[i].running.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Direct-tcpip channels (tunnels to hosts behind it) host `i` holds open as a jump host.
    pub fn tunnels(&self, i: usize) -> usize {
        self.states[i]
            .tunnels
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// TCP connections host `i` accepted so far.
    pub fn connections(&self, i: usize) -> u32 {
        self.states[i].connections.lock().map(|c| *c).unwrap_or(0)
    }

    /// Drops every open SSH connection of host `i` abruptly (as a NAT timeout or a server
    /// restart would); the host keeps accepting new ones.
    pub fn drop_connections(&self, i: usize) {
        let controls = self.states[i]
            .controls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        for c in controls.iter().filter_map(std::sync::Weak::upgrade) {
            c.kill();
        }
    }

    /// Lets host `i`'s held process group id lines ([`Fault::LateMarker`]) go out now, and
    /// every later one at once.
    pub fn release_markers(&self, i: usize) {
        self.states[i].markers.send_replace(true);
    }

    /// Changes host `i`'s fault for new connections and commands (`Refuse` only works at
    /// build time; `WrongHostKey` is fixed at build time).
    pub fn set_fault(&self, i: usize, fault: Fault) {
        if let Ok(mut f) = self.states[i].fault.lock() {
            *f = fault;
        }
    }
}

/// A temporary directory removed on drop (the fleet must not depend on dev-dependencies).
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let seed = random_seed();
        let path = std::env::temp_dir().join(format!("sflow-fleet-{}", hex::encode(&seed[..8])));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn random_seed() -> [u8; 32] {
    rand::random()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}
