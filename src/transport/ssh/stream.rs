//! The socket under a libssh2 session (TCP, or one end of a socket pair for a jump-host
//! tunnel) and how libssh2's non-blocking calls wait on it: input a libssh2 operation, output
//! its result once the socket lets it finish.
//!
//! Why not async-ssh2-lite's own `TcpStream` impl: it never clears tokio's readiness (libssh2
//! reads the fd itself), so every wait degenerates into a 1 ms sleep loop, and its read path
//! asserts on a block direction that libssh2 can legitimately report (a read that must first
//! send a window adjust blocks outbound). Here readiness is cleared through `try_io` exactly
//! when libssh2 reports `EAGAIN`, so an idle wait costs nothing.
//!
//! Several tasks can drive one session (a channel per command, the keepalive task, tunnels
//! through a bastion), and one task's libssh2 call may read packets meant for another's
//! channel into libssh2's buffers without a new socket event. Callers that wait on channel
//! data therefore also wake on a short, growing fallback timer ([`FALLBACK_MAX`]).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use async_ssh2_lite::ssh2::{self, BlockDirections, Session};
use async_ssh2_lite::{AsyncSessionStream, Error as LiteError};
use async_trait::async_trait;
use tokio::io::{Interest, Ready};
use tokio::net::{TcpStream, UnixStream};

/// Upper bound of the fallback re-poll interval while waiting for channel data.
pub const FALLBACK_MAX: Duration = Duration::from_millis(50);

/// Socket-ready retries that libssh2 answers EAGAIN, in a row, after which a wait goes to the
/// fallback timer instead (see `x_with`).
const SPIN_LIMIT: u32 = 8;

/// The transport under one SSH session.
#[derive(Debug)]
pub enum SshSocket {
    /// A direct TCP connection (with `TCP_NODELAY`).
    Tcp(TcpStream),
    /// One end of a socket pair whose other end is pumped through a bastion's channel.
    Tunnel(UnixStream, Arc<InboundClock>),
}

/// When bytes last arrived from the peer (for keepalive miss detection on tunnels).
#[derive(Debug)]
pub struct InboundClock {
    origin: Instant,
    last_ms: AtomicU64,
}

impl InboundClock {
    /// A clock reading "now".
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Records inbound bytes now.
    pub fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn age(&self) -> Duration {
        let now = self.origin.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

impl AsRawFd for SshSocket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Self::Tcp(s) => s.as_raw_fd(),
            Self::Tunnel(s, _) => s.as_raw_fd(),
        }
    }
}

impl SshSocket {
    async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        match self {
            Self::Tcp(s) => s.ready(interest).await,
            Self::Tunnel(s, _) => s.ready(interest).await,
        }
    }

    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        match self {
            Self::Tcp(s) => s.try_io(interest, f),
            Self::Tunnel(s, _) => s.try_io(interest, f),
        }
    }

    /// Ready when any direction libssh2 waits on is. Only those directions are polled: a
    /// registered interest in writability would wake the task on every freed byte of send
    /// buffer. `interest` is never empty.
    fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<()>> {
        if interest.is_readable() {
            let r = match self {
                Self::Tcp(s) => s.poll_read_ready(cx),
                Self::Tunnel(s, _) => s.poll_read_ready(cx),
            };
            if r.is_ready() || !interest.is_writable() {
                return r;
            }
        }
        match self {
            Self::Tcp(s) => s.poll_write_ready(cx),
            Self::Tunnel(s, _) => s.poll_write_ready(cx),
        }
    }

    /// A handle that tells how long ago the peer last sent anything (the session owns the
    /// socket itself).
    pub fn probe(&self) -> Probe {
        match self {
            Self::Tcp(s) => Probe::Tcp(s.as_raw_fd()),
            Self::Tunnel(_, clock) => Probe::Tunnel(clock.clone()),
        }
    }
}

/// Inbound-activity probe of a session's socket, for keepalive miss detection.
#[derive(Debug, Clone)]
pub enum Probe {
    /// The TCP socket's fd (valid while the session that owns the socket lives).
    Tcp(RawFd),
    /// The tunnel pump's clock.
    Tunnel(Arc<InboundClock>),
}

impl Probe {
    /// How long since the peer last sent anything: `TCP_INFO` on Linux for TCP, the pump's
    /// clock for tunnels; `None` where unknown.
    pub fn inbound_age(&self) -> Option<Duration> {
        match self {
            Self::Tcp(fd) => tcp_last_data_recv(*fd),
            Self::Tunnel(clock) => Some(clock.age()),
        }
    }
}

#[cfg(target_os = "linux")]
fn tcp_last_data_recv(fd: RawFd) -> Option<Duration> {
    // SAFETY: getsockopt writes at most `len` bytes into a zeroed tcp_info we own.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::tcp_info>()).ok()?;
        let rc = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::addr_of_mut!(info).cast(),
            &mut len,
        );
        (rc == 0).then(|| Duration::from_millis(u64::from(info.tcpi_last_data_recv)))
    }
}

#[cfg(not(target_os = "linux"))]
fn tcp_last_data_recv(_fd: RawFd) -> Option<Duration> {
    None
}

fn interest_of(dirs: BlockDirections) -> Option<Interest> {
    match dirs {
        BlockDirections::None => None,
        BlockDirections::Inbound => Some(Interest::READABLE),
        BlockDirections::Outbound => Some(Interest::WRITABLE),
        BlockDirections::Both => Some(Interest::READABLE | Interest::WRITABLE),
    }
}

/// Re-polls shortly rather than never (nothing to wait on) or than in a busy loop (readiness
/// that never clears).
fn wake_soon<T>(cx: &Context<'_>) -> Poll<T> {
    let waker = cx.waker().clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        waker.wake();
    });
    Poll::Pending
}

fn would_block(e: &ssh2::Error) -> bool {
    async_ssh2_lite::util::ssh2_error_is_would_block(e)
}

#[async_trait]
impl AsyncSessionStream for SshSocket {
    async fn x_with<R>(
        &self,
        mut op: impl FnMut() -> Result<R, ssh2::Error> + Send,
        sess: &Session,
        _expected: BlockDirections,
        _sleep: Option<Duration>,
    ) -> Result<R, LiteError> {
        let mut fallback = Duration::from_millis(1);
        let mut idle = 0u32;
        loop {
            match op() {
                Ok(x) => return Ok(x),
                Err(e) if !would_block(&e) => return Err(e.into()),
                Err(_) => {}
            }
            let Some(interest) = interest_of(sess.block_directions()) else {
                // libssh2 is waiting on nothing in particular: data already buffered for
                // another caller; retry soon rather than spin.
                tokio::time::sleep(fallback).await;
                fallback = (fallback * 2).min(FALLBACK_MAX);
                continue;
            };
            // Wait for the socket, then retry inside try_io so that an EAGAIN clears exactly
            // the readiness we observed (a newer event is not lost).
            loop {
                let ready = tokio::select! {
                    r = self.ready(interest) => r?,
                    () = tokio::time::sleep(fallback) => {
                        fallback = (fallback * 2).min(FALLBACK_MAX);
                        break;
                    }
                };
                // A socket that keeps being ready while libssh2 keeps saying EAGAIN is one
                // libssh2 is not using (a packet another caller left half sent blocks every
                // other packet; a closed socket stays ready forever): wait on the timer, never
                // spin, so that the caller's timeout can fire. Healthy waits see a new socket
                // event per retry and almost never more than one EAGAIN in a row.
                if ready.is_read_closed() || ready.is_write_closed() || ready.is_error() {
                    idle = SPIN_LIMIT;
                }
                if idle >= SPIN_LIMIT {
                    tokio::time::sleep(fallback).await;
                    fallback = (fallback * 2).min(FALLBACK_MAX);
                    idle = 0;
                    break;
                }
                idle += 1;
                // Only an EAGAIN becomes an io error, so try_io fails with `WouldBlock` alone:
                // the socket was not ready after all, or libssh2 needs it again.
                let res = self.try_io(interest, || match op() {
                    Err(e) if would_block(&e) => Err(io::ErrorKind::WouldBlock.into()),
                    done => Ok(done),
                });
                if let Ok(done) = res {
                    return done.map_err(LiteError::Ssh2);
                }
            }
        }
    }

    fn poll_x_with<R>(
        &self,
        cx: &mut Context,
        mut op: impl FnMut() -> Result<R, io::Error> + Send,
        sess: &Session,
        _expected: BlockDirections,
        _sleep: Option<Duration>,
    ) -> Poll<Result<R, io::Error>> {
        // An EAGAIN clears the readiness it met, so the socket is ready twice in one call only
        // when it is closed or failed (readiness that never clears).
        let mut was_ready = false;
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
            let Some(interest) = interest_of(sess.block_directions()) else {
                // libssh2 says EAGAIN yet waits on no direction: its data sits in buffers
                // another caller filled.
                return wake_soon(cx);
            };
            ready!(self.poll_ready(cx, interest))?;
            if was_ready {
                // Ready again right after an EAGAIN: a socket that can no longer change.
                return wake_soon(cx);
            }
            was_ready = true;
            match self.try_io(interest, &mut op) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libssh2_block_directions_become_socket_interests() {
        assert_eq!(interest_of(BlockDirections::None), None);
        assert_eq!(
            interest_of(BlockDirections::Inbound),
            Some(Interest::READABLE)
        );
        assert_eq!(
            interest_of(BlockDirections::Outbound),
            Some(Interest::WRITABLE)
        );
        assert_eq!(
            interest_of(BlockDirections::Both),
            Some(Interest::READABLE | Interest::WRITABLE)
        );
    }
}
