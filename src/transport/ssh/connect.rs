//! Opening one SSH connection: TCP (or a direct-tcpip tunnel through a pooled bastion),
//! handshake, host-key check, authentication, keepalive task. Input a resolved target; output
//! a live [`Conn`] and its timings. Every libssh2 step is bounded by a tokio timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_ssh2_lite::ssh2::{self, MethodType};
use async_ssh2_lite::{AsyncSession, SessionConfiguration};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::stream::{InboundClock, Probe, SshSocket, FALLBACK_MAX};
use super::{SshTransport, Target};
use crate::transport::error::Phase;
use crate::transport::known_hosts::host_pattern;
use crate::transport::{Timings, TransportError};

/// Key exchanges in order of preference: curve25519 first (fast and modern).
const KEX_PREF: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,\
ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group16-sha512,\
diffie-hellman-group14-sha256,diffie-hellman-group-exchange-sha256";

/// Host key algorithms in order of preference (ed25519 first).
const HOSTKEY_PREF: [&str; 7] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// One live SSH connection, shared by every command to its host.
pub struct Conn {
    pub(crate) session: AsyncSession<SshSocket>,
    pub(crate) label: String,
    probe: Probe,
    dead: watch::Sender<Option<String>>,
    tasks: std::sync::Mutex<Vec<AbortHandle>>,
    /// The bastion this connection tunnels through: kept alive as long as we are.
    _via: Option<Arc<Conn>>,
}

impl Conn {
    /// False once the peer was declared dead.
    pub fn is_alive(&self) -> bool {
        self.dead.borrow().is_none()
    }

    /// Declares the connection dead (first cause wins); waiters on [`Conn::dead`] wake.
    pub(crate) fn mark_dead(&self, cause: impl Into<String>) {
        let cause = cause.into();
        self.dead.send_if_modified(|c| {
            if c.is_none() {
                *c = Some(cause);
                true
            } else {
                false
            }
        });
    }

    /// A receiver that changes when the connection dies.
    pub(crate) fn dead(&self) -> watch::Receiver<Option<String>> {
        self.dead.subscribe()
    }

    /// Why the connection was declared dead, if it was.
    pub(crate) fn cause(&self) -> Option<String> {
        self.dead.borrow().clone()
    }

    /// Waits until the connection is declared dead; returns the cause.
    pub(crate) async fn died(&self) -> String {
        // The sender lives in `self`, so the wait only ends with a cause set.
        let _ = self.dead.subscribe().wait_for(Option::is_some).await;
        self.cause().unwrap_or_default()
    }

    pub(crate) async fn shutdown(&self, limit: Duration) {
        if self.is_alive() {
            let _ = tokio::time::timeout(
                limit,
                self.session.disconnect(
                    Some(ssh2::DisconnectCode::ByApplication),
                    "sflow done",
                    None,
                ),
            )
            .await;
        }
        self.mark_dead("closed");
        self.abort_tasks();
    }

    fn abort_tasks(&self) {
        let tasks = self.tasks.lock().map(|mut t| std::mem::take(&mut *t));
        for t in tasks.unwrap_or_default() {
            t.abort();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.abort_tasks();
    }
}

/// libssh2 errors that mean the connection broke, not that a credential was refused.
pub(crate) fn is_connection_failure(e: &async_ssh2_lite::Error) -> bool {
    match e {
        async_ssh2_lite::Error::Io(_) => true,
        async_ssh2_lite::Error::Ssh2(e) => match e.code() {
            // SOCKET_SEND, TIMEOUT, SOCKET_DISCONNECT, SOCKET_TIMEOUT, SOCKET_RECV
            ssh2::ErrorCode::Session(-7 | -9 | -13 | -30 | -43) => true,
            // PUBLICKEY_UNVERIFIED is also what libssh2 returns when no answer to a key offer
            // could be read at all (the socket failed under it); only this message says so.
            ssh2::ErrorCode::Session(-19) => e.message() == NO_USERAUTH_RESPONSE,
            _ => false,
        },
        async_ssh2_lite::Error::Other(_) => false,
    }
}

/// libssh2's message when reading the answer to an authentication request failed.
const NO_USERAUTH_RESPONSE: &str = "Waiting for USERAUTH response";

fn lost(target: &Target, e: impl std::fmt::Display) -> TransportError {
    TransportError::ConnectionLost {
        host: target.name.clone(),
        cause: e.to_string(),
    }
}

fn timed_out(target: &Target, phase: Phase, after: Duration) -> TransportError {
    TransportError::Timeout {
        host: target.name.clone(),
        phase,
        after,
        stopped: None,
    }
}

/// One connection attempt.
pub(crate) async fn connect(
    t: &SshTransport,
    target: &Target,
    chain: &[Target],
) -> Result<(Arc<Conn>, Timings), TransportError> {
    let inner = t.inner();
    let to = inner.opts.timeouts;
    let start = Instant::now();
    // Made before the tunnel, whose pump ends when this connection is declared dead or
    // dropped (the sender goes with it).
    let (dead, _) = watch::channel(None);
    let (socket, via) = match chain.split_last() {
        None => (tcp(target, to.connect).await?, None),
        Some((bastion, rest)) => {
            let (bconn, _) =
                t.connection(bastion, rest)
                    .await
                    .map_err(|e| TransportError::Unreachable {
                        host: target.name.clone(),
                        attempts: 1,
                        cause: format!("via {}: {e}", bastion.name),
                    })?;
            let sock = tunnel(&bconn, target, to.connect, dead.subscribe()).await?;
            (sock, Some(bconn))
        }
    };

    let probe = socket.probe();
    let names = lookup_names(target);
    let hostkey_pref = hostkey_pref(&inner.known.known_types(&names));
    let mut session = new_session(socket, target, KEX_PREF, &hostkey_pref).await?;
    match tokio::time::timeout(to.handshake, session.handshake()).await {
        Err(_) => return Err(timed_out(target, Phase::Handshake, to.handshake)),
        Ok(Err(e)) => return Err(lost(target, format!("handshake failed: {e}"))),
        Ok(Ok(())) => {}
    }
    // Checked synchronously right here, before any further `.await`, with our own Send index.
    let Some((blob, _)) = session.host_key() else {
        return Err(lost(target, "server sent no host key"));
    };
    let key_type = key_type_of(blob);
    let label = if target.name == target.address {
        host_pattern(&target.address, target.port)
    } else {
        format!(
            "{} ({})",
            target.name,
            host_pattern(&target.address, target.port)
        )
    };
    inner.known.check(&label, &names, &key_type, blob)?;
    let connect_time = start.elapsed();

    let auth_start = Instant::now();
    match tokio::time::timeout(to.auth, super::auth::authenticate(t, &session, target)).await {
        Err(_) => return Err(timed_out(target, Phase::Auth, to.auth)),
        Ok(r) => r?,
    }
    let auth_time = auth_start.elapsed();

    let conn = Arc::new(Conn {
        session,
        label: target.name.clone(),
        probe,
        dead,
        tasks: std::sync::Mutex::new(Vec::new()),
        _via: via,
    });
    let keepalive = spawn_keepalive(&conn, inner.opts.keepalive);
    if let Ok(mut t) = conn.tasks.lock() {
        t.push(keepalive);
    }
    Ok((
        conn,
        Timings {
            connect: connect_time,
            auth: auth_time,
            exec: Duration::ZERO,
            reused: false,
        },
    ))
}

/// A libssh2 session on `socket` preferring these key exchanges and host key algorithms.
async fn new_session(
    socket: SshSocket,
    target: &Target,
    kex: &str,
    hostkey: &str,
) -> Result<AsyncSession<SshSocket>, TransportError> {
    let setup = async {
        let mut config = SessionConfiguration::new();
        // libssh2 only sends a keepalive when `keepalive_send` is called and at least
        // `interval` whole seconds passed; 1 s lets our task decide the real interval.
        config.set_keepalive(true, 1);
        let session = AsyncSession::new(socket, config)?;
        session.method_pref(MethodType::Kex, kex).await?;
        session.method_pref(MethodType::HostKey, hostkey).await?;
        Ok(session)
    };
    setup
        .await
        .map_err(|e: async_ssh2_lite::Error| lost(target, format!("session setup: {e}")))
}

/// The names a host's key may be recorded under: the address (`[addr]:port` off port 22)
/// first, where `accept-new` records, then the inventory name.
fn lookup_names(target: &Target) -> Vec<String> {
    let mut names = vec![host_pattern(&target.address, target.port)];
    let by_name = host_pattern(&target.name, target.port);
    if !names.contains(&by_name) {
        names.push(by_name);
    }
    names
}

/// Host key algorithms with the ones recorded for this host first, so the server presents a
/// key we can check (as OpenSSH does).
fn hostkey_pref(known: &[String]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for k in known {
        let group: &[&str] = if k == "ssh-rsa" {
            &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        } else {
            &[k.as_str()]
        };
        for g in group {
            if HOSTKEY_PREF.contains(g) && !out.contains(g) {
                out.push(g);
            }
        }
    }
    for k in HOSTKEY_PREF {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out.join(",")
}

/// The algorithm name at the start of an SSH public key blob.
fn key_type_of(blob: &[u8]) -> String {
    let len = blob
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes) as usize;
    blob.get(4..4 + len)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_else(|| "unknown".into())
}

async fn tcp(target: &Target, limit: Duration) -> Result<SshSocket, TransportError> {
    let addr = (target.address.as_str(), target.port);
    let stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => return Err(timed_out(target, Phase::Connect, limit)),
        Ok(Err(e)) => {
            return Err(TransportError::Unreachable {
                host: target.name.clone(),
                attempts: 1,
                cause: format!("tcp connect to {}:{}: {e}", target.address, target.port),
            })
        }
        Ok(Ok(s)) => s,
    };
    // Without TCP_NODELAY the key exchange's small packets wait on Nagle + delayed ACK:
    // measured 106 ms instead of 17 ms per handshake. A socket refusing the option would
    // still work, only slower, so that is no reason to fail the host.
    let _ = stream.set_nodelay(true);
    Ok(SshSocket::Tcp(stream))
}

/// A direct-tcpip channel through `bastion` to the target, exposed to libssh2 as one end of a
/// socket pair; a pump task copies bytes between the channel and the other end.
///
/// The pump is never aborted: it ends when either side closes, the bastion dies, or the
/// tunneled connection is declared dead or dropped (`own_dead`), and then closes its channel
/// itself. A channel dropped open makes libssh2 send its close from the drop, which takes no
/// lock on the bastion's session, while other tunnels and commands may be sending on it: that
/// corrupted the bastion's stream (a server then reports a bad packet length or MAC).
async fn tunnel(
    bastion: &Arc<Conn>,
    target: &Target,
    limit: Duration,
    mut own_dead: watch::Receiver<Option<String>>,
) -> Result<SshSocket, TransportError> {
    let open = bastion
        .session
        .channel_direct_tcpip(&target.address, target.port, None);
    let channel = match tokio::time::timeout(limit, open).await {
        Err(_) => return Err(timed_out(target, Phase::Connect, limit)),
        Ok(Err(e)) => {
            return Err(TransportError::Unreachable {
                host: target.name.clone(),
                attempts: 1,
                cause: format!(
                    "via {}: direct-tcpip to {}:{} refused: {e}",
                    bastion.label, target.address, target.port
                ),
            })
        }
        Ok(Ok(c)) => c,
    };
    let (ours, theirs) = UnixStream::pair().map_err(|e| lost(target, e))?;
    let clock = Arc::new(InboundClock::new());
    let pump_clock = clock.clone();
    let mut bastion_dead = bastion.dead();
    tokio::spawn(async move {
        let mut channel = channel;
        let mut from_bastion = channel.stream(0);
        let mut to_bastion = channel.stream(0);
        let (mut rd, mut wr) = theirs.into_split();
        let mut down = vec![0u8; 32 * 1024];
        let mut up = vec![0u8; 32 * 1024];
        let mut fallback = Duration::from_millis(1);
        loop {
            tokio::select! {
                r = from_bastion.read(&mut down) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        pump_clock.touch();
                        fallback = Duration::from_millis(1);
                        if wr.write_all(&down[..n]).await.is_err() { break; }
                    }
                },
                r = rd.read(&mut up) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => if to_bastion.write_all(&up[..n]).await.is_err() { break; },
                },
                // Other tunnels on the same bastion session may have buffered our data.
                () = tokio::time::sleep(fallback) => fallback = (fallback * 2).min(FALLBACK_MAX),
                _ = bastion_dead.changed() => break,
                // Declared dead, or dropped.
                _ = own_dead.changed() => break,
            }
        }
        // Not cut short halfway (see `exec::close_before_drop`), except by the bastion's death.
        tokio::select! {
            _ = channel.close() => {}
            _ = bastion_dead.wait_for(Option::is_some) => {}
        }
    });
    Ok(SshSocket::Tunnel(ours, clock))
}

/// Slack on "nothing arrived since the keepalive was sent": the kernel's receive time has
/// jiffy resolution (up to 10 ms).
const CLOCK_SLACK: Duration = Duration::from_millis(25);

/// Whether the peer sent nothing since a keepalive sent `since_send` ago, given the time
/// since it last sent anything. A reply that came right after the send leaves `age` a hair
/// under `since_send`, so the comparison needs the slack.
fn missed(age: Duration, since_send: Duration) -> bool {
    age > since_send + CLOCK_SLACK
}

/// The keepalive task: every `interval`, if nothing arrived since the previous keepalive was
/// sent, count a miss; after `max_misses` in a row the peer is declared dead and in-flight
/// commands fail with `ConnectionLost`. A failing send is fatal at once. The task ends as
/// soon as the connection is declared dead (by it or by a command) or dropped.
fn spawn_keepalive(conn: &Arc<Conn>, policy: super::KeepalivePolicy) -> AbortHandle {
    let weak = Arc::downgrade(conn);
    let mut dead = conn.dead();
    let interval = policy.interval.max(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut misses = 0u32;
        let mut sent: Option<Instant> = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                // Declared dead, or dropped (the sender goes with it): nothing to keep alive.
                _ = dead.wait_for(Option::is_some) => return,
            }
            let Some(conn) = weak.upgrade() else { return };
            if let Some(at) = sent {
                match conn.probe.inbound_age() {
                    Some(age) if missed(age, at.elapsed()) => misses += 1,
                    _ => misses = 0,
                }
                if misses >= policy.max_misses {
                    conn.mark_dead(format!(
                        "no reply to {misses} keepalives ({} apart)",
                        humantime::format_duration(interval)
                    ));
                    return;
                }
            }
            // Never waits: libssh2 drops a keepalive it cannot send at once (a socket the peer
            // stopped reading), and the silence counts as a miss at the next tick.
            let at = Instant::now();
            if let Err(e) = conn.session.keepalive_send().await {
                conn.mark_dead(format!("keepalive failed: {e}"));
                return;
            }
            sent = Some(at);
        }
    })
    .abort_handle()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_right_after_the_send_is_not_a_miss() {
        let sent = Duration::from_millis(1000);
        // The reply came 0.1 ms after the send, measured with a coarse clock.
        assert!(!missed(Duration::from_millis(1000), sent));
        assert!(!missed(Duration::from_millis(1004), sent));
        // Nothing since well before the send.
        assert!(missed(Duration::from_millis(2000), sent));
    }

    #[test]
    fn connection_failures_are_told_from_refusals() {
        use async_ssh2_lite::Error;
        use ssh2::ErrorCode::Session;
        let ssh = |code, msg| Error::Ssh2(ssh2::Error::new(Session(code), msg));
        let io = Error::Io(std::io::ErrorKind::ConnectionReset.into());
        assert!(is_connection_failure(&io));
        for code in [-7, -9, -13, -30, -43] {
            assert!(is_connection_failure(&ssh(code, "socket")), "{code}");
        }
        assert!(is_connection_failure(&ssh(-19, NO_USERAUTH_RESPONSE)));
        // A key the server refused, a refused channel, the library's own complaints.
        assert!(!is_connection_failure(&ssh(
            -19,
            "Username/PublicKey combination invalid"
        )));
        assert!(!is_connection_failure(&ssh(-21, "Channel open failure")));
        assert!(!is_connection_failure(&Error::Other(
            "no identities".into()
        )));
    }

    #[tokio::test]
    async fn algorithms_libssh2_lacks_fail_the_session_setup() {
        let target = Target {
            name: "web1".into(),
            address: "10.0.0.1".into(),
            port: 22,
            user: "ops".into(),
            identity_files: Vec::new(),
        };
        let clock = Arc::new(InboundClock::new());
        let socket = || SshSocket::Tunnel(UnixStream::pair().unwrap().0, clock.clone());
        let ours = hostkey_pref(&[]);
        assert!(new_session(socket(), &target, KEX_PREF, &ours)
            .await
            .is_ok());
        for (kex, hostkey) in [("no-such-kex", ours.as_str()), (KEX_PREF, "no-such-key")] {
            let e = new_session(socket(), &target, kex, hostkey)
                .await
                .err()
                .expect("an algorithm libssh2 lacks is refused");
            assert_eq!(e.kind(), crate::transport::ErrorKind::ConnectionLost, "{e}");
            assert!(e.to_string().starts_with("web1: "), "{e}");
            assert!(e.to_string().contains("session setup: "), "{e}");
        }
    }

    #[test]
    fn recorded_host_key_types_come_first() {
        assert!(hostkey_pref(&["ssh-rsa".into()])
            .starts_with("rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-ed25519,"));
        let none = hostkey_pref(&[]);
        assert_eq!(none, HOSTKEY_PREF.join(","));
        assert_eq!(hostkey_pref(&["x-unknown".into()]), none);
        assert_eq!(key_type_of(b"\0\0\0\x0bssh-ed25519rest"), "ssh-ed25519");
        assert_eq!(key_type_of(b"\0\0\0\x7fshort"), "unknown");
    }
}
