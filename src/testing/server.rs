//! The fleet's SSH server side (russh): accept loop per host, a handler per connection, a
//! spawned task per channel that collects env and stdin, asks the responder, applies the
//! host's fault and answers. The handler itself never blocks on a command.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use russh::keys::ssh_key::PublicKey;
use russh::keys::PrivateKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, ChannelMsg, Sig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{Exit, Fault, Recorded, Reply, Request, Responder};
use crate::transport::ssh::stop;

pub(super) struct Shared {
    /// Client keys accepted: the fleet's own, then any the builder added.
    pub authorized: Vec<PublicKey>,
    pub log: Mutex<Vec<Recorded>>,
    /// The next fake process group id handed to a wrapped command.
    pub next_pgid: std::sync::atomic::AtomicU32,
}

pub(super) struct HostState {
    pub index: usize,
    pub name: String,
    pub fault: Mutex<Fault>,
    pub responder: Responder,
    pub key: PrivateKey,
    pub connections: Mutex<u32>,
    /// Sockets held open by `HangOnConnect`.
    pub held: Mutex<Vec<TcpStream>>,
    /// Controls of the SSH connections accepted so far.
    pub controls: Mutex<Vec<std::sync::Weak<Control>>>,
    /// Commands still running, by their fake process group id: sending `true` stops one.
    pub running: Mutex<HashMap<u32, watch::Sender<bool>>>,
    /// Process group ids that kill requests targeted, in arrival order.
    pub stops: Mutex<Vec<u32>>,
    /// Set once the test releases held process group id lines ([`Fault::LateMarker`]).
    pub markers: watch::Sender<bool>,
    /// Direct-tcpip channels open through this host.
    pub tunnels: AtomicUsize,
}

/// A listener whose accept queue is full and stays so: a queued connection nobody accepts.
pub(super) struct Blackhole {
    _listener: TcpListener,
    _queued: TcpStream,
}

/// Binds `addr` again with a listen queue of one connection and fills it, so that Linux drops
/// every later SYN to it (the client's connect hangs, as towards a black-holed address).
pub(super) async fn blackhole(addr: std::net::SocketAddr) -> std::io::Result<Blackhole> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(addr)?;
    let listener = socket.listen(0)?;
    let queued = TcpStream::connect(addr).await?;
    Ok(Blackhole {
        _listener: listener,
        _queued: queued,
    })
}

impl HostState {
    fn fault(&self) -> Fault {
        self.fault.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

pub(super) async fn accept_loop(listener: TcpListener, host: Arc<HostState>, shared: Arc<Shared>) {
    let config = Arc::new(russh::server::Config {
        keys: vec![host.key.clone()],
        auth_rejection_time: Duration::from_millis(5),
        auth_rejection_time_initial: Some(Duration::ZERO),
        nodelay: true,
        // Larger than anything a test writes, so that a peer that stops reading fills the
        // socket rather than the SSH window.
        window_size: if host.fault() == Fault::StopReading {
            64 * 1024 * 1024
        } else {
            russh::server::Config::default().window_size
        },
        ..Default::default()
    });
    while let Ok((socket, _)) = listener.accept().await {
        let n = {
            let mut c = host.connections.lock().unwrap_or_else(|e| e.into_inner());
            *c += 1;
            *c
        };
        match host.fault() {
            Fault::DropFirstConnections(k) if n <= k => {
                drop(socket);
                continue;
            }
            Fault::HangOnConnect => {
                if let Ok(mut held) = host.held.lock() {
                    held.push(socket);
                }
                continue;
            }
            _ => {}
        }
        let _ = socket.set_nodelay(true);
        // A duplicate of the accepted socket lets a fault drop the connection abruptly while
        // russh still owns the stream.
        let Ok(std_sock) = socket.into_std() else {
            continue;
        };
        let Ok(dup) = std_sock.try_clone() else {
            continue;
        };
        let Ok(socket) = TcpStream::from_std(std_sock) else {
            continue;
        };
        let control = Arc::new(Control {
            frozen: AtomicBool::new(false),
            deaf: AtomicBool::new(false),
            dup,
        });
        if let Ok(mut all) = host.controls.lock() {
            all.retain(|c| c.strong_count() > 0);
            all.push(Arc::downgrade(&control));
        }
        let stream = Freezable {
            inner: socket,
            control: control.clone(),
        };
        let handler = Handler {
            host: host.clone(),
            shared: shared.clone(),
            control,
            user: String::new(),
            pending: Vec::new(),
        };
        let config = config.clone();
        tokio::spawn(async move {
            if let Ok(session) = russh::server::run_stream(config, stream, handler).await {
                let _ = session.await;
            }
        });
    }
}

/// Fault controls of one connection.
pub(super) struct Control {
    frozen: AtomicBool,
    deaf: AtomicBool,
    dup: std::net::TcpStream,
}

impl Control {
    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    fn stop_reading(&self) {
        self.deaf.store(true, Ordering::SeqCst);
    }

    pub(super) fn kill(&self) {
        let _ = self.dup.shutdown(std::net::Shutdown::Both);
    }
}

/// The connection's stream; once frozen it neither reads nor writes again, once deaf it no
/// longer reads.
struct Freezable {
    inner: TcpStream,
    control: Arc<Control>,
}

impl AsyncRead for Freezable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.control.frozen.load(Ordering::SeqCst) || self.control.deaf.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Freezable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.control.frozen.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.control.frozen.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

struct Handler {
    host: Arc<HostState>,
    shared: Arc<Shared>,
    control: Arc<Control>,
    user: String,
    pending: Vec<ChannelOpenHandle>,
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        _offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.host.fault() {
            Fault::HangBeforeAuth => std::future::pending::<()>().await,
            Fault::DropDuringAuth => self.control.kill(),
            _ => {}
        }
        Ok(Auth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let known = self
            .shared
            .authorized
            .iter()
            .any(|k| k.key_data() == key.public_key.key_data());
        if self.host.fault() == Fault::RejectAuth || !known {
            return Ok(Auth::reject());
        }
        self.user = user.to_string();
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.host.fault() == Fault::HangAfterAuth {
            // Authentication has completed: from now on nothing is read or sent, and the open
            // request is kept pending (dropping it would send a rejection).
            self.control.freeze();
            self.pending.push(reply);
            return Ok(());
        }
        if self.host.fault() == Fault::RejectChannels {
            // Dropping `reply` rejects the open.
            return Ok(());
        }
        reply.accept().await;
        let ctx = Exec {
            host: self.host.clone(),
            shared: self.shared.clone(),
            control: self.control.clone(),
            user: self.user.clone(),
            handle: session.handle(),
        };
        tokio::spawn(ctx.serve(channel));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Ok(port) = u16::try_from(port_to_connect) else {
            return Ok(());
        };
        let (target, host) = (host_to_connect.to_string(), self.host.clone());
        // The connect may hang (a black-holed target): never in the handler.
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect((target.as_str(), port)).await else {
                // Dropping `reply` rejects the channel.
                return;
            };
            reply.accept().await;
            host.tunnels.fetch_add(1, Ordering::SeqCst);
            let mut stream = channel.into_stream();
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
            host.tunnels.fetch_sub(1, Ordering::SeqCst);
        });
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let refused = match self.host.fault() {
            Fault::RejectExec => true,
            Fault::RefuseKill => stop::parse_kill(&String::from_utf8_lossy(data)).is_some(),
            _ => false,
        };
        if refused {
            return session.channel_failure(channel);
        }
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.host.fault() {
            Fault::RejectEnv => session.channel_failure(channel),
            // No answer at all: the client waits for one.
            Fault::HangEnv => Ok(()),
            _ => session.channel_success(channel),
        }
    }
}

/// One channel's command.
struct Exec {
    host: Arc<HostState>,
    shared: Arc<Shared>,
    control: Arc<Control>,
    user: String,
    handle: russh::server::Handle,
}

impl Exec {
    async fn serve(self, mut channel: Channel<Msg>) {
        let mut env = Vec::new();
        let mut command = None;
        let mut stdin = Vec::new();
        let mut running: Option<Running> = None;
        // The client sends stdin then EOF; the command is answered once stdin is complete.
        loop {
            match channel.wait().await {
                Some(ChannelMsg::SetEnv {
                    variable_name,
                    variable_value,
                    ..
                }) => env.push((variable_name, variable_value)),
                Some(ChannelMsg::Exec { command: c, .. }) => {
                    let line = String::from_utf8_lossy(&c).into_owned();
                    if let Some(pgid) = stop::parse_kill(&line) {
                        self.answer_kill(&mut channel, pgid).await;
                        return;
                    }
                    let Some(inner) = stop::unwrap(&line) else {
                        command = Some(line);
                        continue;
                    };
                    if self.host.fault() == Fault::NoProcessGroupMarker {
                        command = Some(inner.to_string());
                        continue;
                    }
                    // As a shell would: the process group id first, on stderr.
                    let pgid = self.shared.next_pgid.fetch_add(1, Ordering::SeqCst);
                    let (tx, rx) = watch::channel(false);
                    if let Ok(mut r) = self.host.running.lock() {
                        r.insert(pgid, tx);
                    }
                    running = Some(Running {
                        host: self.host.clone(),
                        pgid,
                        stop: rx,
                    });
                    if let Fault::LateMarker(d) = self.host.fault() {
                        let mut release = self.host.markers.subscribe();
                        let _ = tokio::time::timeout(d, release.wait_for(|r| *r)).await;
                    }
                    let marker = format!("\x1esflow-pgid:{pgid}\n");
                    let _ = channel.extended_data_bytes(1, marker.into_bytes()).await;
                    if self.host.fault() == Fault::StopReading {
                        self.control.stop_reading();
                    }
                    command = Some(inner.to_string());
                }
                Some(ChannelMsg::Data { data }) => stdin.extend_from_slice(&data),
                Some(ChannelMsg::Eof) => break,
                Some(ChannelMsg::Close) | None => return,
                Some(_) => {}
            }
        }
        let Some(command) = command else { return };
        let request = Request {
            host: self.host.name.clone(),
            user: self.user.clone(),
            command,
            stdin,
            env,
        };
        if let Ok(mut log) = self.shared.log.lock() {
            log.push(Recorded {
                host_index: self.host.index,
                request: request.clone(),
            });
        }
        let mut reply: Reply = (self.host.responder)(&request);
        if !reply.delay.is_zero() && !pause(reply.delay, running.as_mut()).await {
            return self.terminated(&channel).await;
        }
        let fault = self.host.fault();
        match &fault {
            Fault::DropMidCommand => {
                let half = reply.stdout.len() / 2;
                let _ = channel.data_bytes(reply.stdout[..half].to_vec()).await;
                // Let the partial output leave before the abrupt drop.
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.control.kill();
                return;
            }
            Fault::Trickle { chunk, every } => {
                for part in reply.stdout.chunks((*chunk).max(1)) {
                    if channel.data_bytes(part.to_vec()).await.is_err() {
                        return;
                    }
                    if !pause(*every, running.as_mut()).await {
                        return self.terminated(&channel).await;
                    }
                }
                reply.stdout.clear();
            }
            Fault::HugeOutput(n) => {
                let block = vec![b'x'; 64 * 1024];
                let mut left = *n;
                while left > 0 {
                    let take = usize::try_from(left.min(block.len() as u64)).unwrap_or(block.len());
                    if channel.data_bytes(block[..take].to_vec()).await.is_err() {
                        return;
                    }
                    left -= take as u64;
                }
                reply.stdout.clear();
            }
            Fault::ExitSignal(sig) => reply.exit = Exit::Signal(sig.clone()),
            _ => {}
        }
        if !reply.stdout.is_empty() && channel.data_bytes(reply.stdout).await.is_err() {
            return;
        }
        if !reply.stderr.is_empty() && channel.extended_data_bytes(1, reply.stderr).await.is_err() {
            return;
        }
        match reply.exit {
            Exit::Code(c) => {
                let _ = channel.exit_status(c).await;
            }
            Exit::Signal(s) => {
                let sig = match s.as_str() {
                    "KILL" => Sig::KILL,
                    "TERM" => Sig::TERM,
                    "INT" => Sig::INT,
                    "HUP" => Sig::HUP,
                    "SEGV" => Sig::SEGV,
                    "ABRT" => Sig::ABRT,
                    _ => Sig::Custom(s),
                };
                let _ = self
                    .handle
                    .exit_signal_request(channel.id(), sig, false, String::new(), String::new())
                    .await;
            }
        }
        let _ = channel.eof().await;
        let _ = channel.close().await;
    }

    /// A stopped command ends as a shell killed by SIGTERM would.
    async fn terminated(&self, channel: &Channel<Msg>) {
        let _ = self
            .handle
            .exit_signal_request(channel.id(), Sig::TERM, false, String::new(), String::new())
            .await;
        let _ = channel.eof().await;
        let _ = channel.close().await;
    }

    /// Answers a kill request as the transport's kill script would.
    async fn answer_kill(&self, channel: &mut Channel<Msg>, pgid: u32) {
        if let Ok(mut s) = self.host.stops.lock() {
            s.push(pgid);
        }
        match self.host.fault() {
            Fault::KillAnswer(text) => return finish(channel, text.into_bytes()).await,
            Fault::SilentKill => {
                // Held open, unanswered, until the client gives up on it.
                while !matches!(channel.wait().await, Some(ChannelMsg::Close) | None) {}
                return;
            }
            Fault::DropOnKill => {
                let _ = channel.data_bytes(b"termin".to_vec()).await;
                // Let the first bytes leave before the abrupt drop.
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.control.kill();
                return;
            }
            _ => {}
        }
        let target = self
            .host
            .running
            .lock()
            .ok()
            .and_then(|mut r| r.remove(&pgid));
        let said = match target {
            None => "gone\n",
            Some(tx) => {
                let _ = tx.send(true);
                if self.host.fault() == Fault::IgnoreTerm {
                    "killed\n"
                } else {
                    "terminated\n"
                }
            }
        };
        finish(channel, said.as_bytes().to_vec()).await;
    }
}

/// Answers a kill request with `said` and exit 0.
async fn finish(channel: &Channel<Msg>, said: Vec<u8>) {
    let _ = channel.data_bytes(said).await;
    let _ = channel.exit_status(0).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
}

/// A wrapped command in flight; leaves the host's table when dropped.
struct Running {
    host: Arc<HostState>,
    pgid: u32,
    stop: watch::Receiver<bool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut r) = self.host.running.lock() {
            r.remove(&self.pgid);
        }
    }
}

/// Waits `d`; false when the command was stopped first.
async fn pause(d: Duration, running: Option<&mut Running>) -> bool {
    let Some(r) = running else {
        tokio::time::sleep(d).await;
        return true;
    };
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        _ = r.stop.wait_for(|stopped| *stopped) => false,
    }
}
