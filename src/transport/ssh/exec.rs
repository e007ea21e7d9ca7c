//! One command on an open connection: a fresh channel, env requests (refused names exported
//! in the command line instead), exec, stdin then EOF while stdout/stderr are read with caps,
//! then the exit status or signal. Input a [`Conn`] and a command; output exit and output.

use std::sync::Arc;
use std::time::Duration;

use async_ssh2_lite::AsyncChannel;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::connect::{is_connection_failure, Conn};
use super::stop::{self, MarkerFilter};
use super::stream::{SshSocket, FALLBACK_MAX};
use super::Timeouts;
use crate::transport::error::Phase;
use crate::transport::{shell_quote, Captured, ExitStatus, RemoteCommand, TransportError};

pub(crate) type Channel = AsyncChannel<SshSocket>;

/// How long a timed-out command's channel close may take before we give up on it.
const CLOSE_ON_TIMEOUT: Duration = Duration::from_millis(300);

/// Bounds a libssh2 step: `Timeout` on expiry, `Protocol` (or `ConnectionLost` when the
/// connection is dead) on error.
async fn step<T>(
    conn: &Conn,
    host: &str,
    name: &'static str,
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, async_ssh2_lite::Error>>,
) -> Result<T, TransportError> {
    match tokio::time::timeout(limit, fut).await {
        Err(_) => Err(TransportError::Timeout {
            host: host.to_string(),
            phase: Phase::ChannelOpen,
            after: limit,
            stopped: None,
        }),
        Ok(Err(e)) => Err(failure(conn, host, name, &e)),
        Ok(Ok(v)) => Ok(v),
    }
}

fn failure(
    conn: &Conn,
    host: &str,
    step: &'static str,
    e: &async_ssh2_lite::Error,
) -> TransportError {
    if is_connection_failure(e) {
        conn.mark_dead(format!("{step}: {e}"));
    }
    // Dead now, or declared dead before by another user of the connection (the keepalive
    // task, a read): the step failed because the connection did.
    match conn.cause() {
        Some(cause) => TransportError::ConnectionLost {
            host: host.to_string(),
            cause,
        },
        None => TransportError::Protocol {
            host: host.to_string(),
            step,
            cause: e.to_string(),
        },
    }
}

/// A read error on an exec'd channel is the connection failing under us (libssh2 says
/// "transport read" for a peer that vanished): the connection is retired.
fn read_failed(conn: &Conn, host: &str, e: &std::io::Error) -> TransportError {
    let cause = format!("read: {e}");
    conn.mark_dead(cause.clone());
    TransportError::ConnectionLost {
        host: host.to_string(),
        cause: conn.cause().unwrap_or(cause),
    }
}

/// Runs `command`; on timeout the channel is closed and `Timeout` returned.
/// Opens the command's channel (nothing has run on the host yet if this fails).
pub(crate) async fn open(
    conn: &Conn,
    host: &str,
    to: &Timeouts,
) -> Result<Channel, TransportError> {
    step(
        conn,
        host,
        "channel open",
        to.channel,
        conn.session.channel_session(),
    )
    .await
}

pub(crate) async fn run(
    conn: &Arc<Conn>,
    mut ch: Channel,
    host: &str,
    command: &RemoteCommand,
    to: &Timeouts,
) -> Result<(ExitStatus, Captured, Captured), TransportError> {
    let (mut line, first_stdin) = command.wrapped();
    let start = async {
        let mut refused = Vec::new();
        for (k, v) in &command.env {
            // OpenSSH accepts only names listed in AcceptEnv; others go in the command line.
            match tokio::time::timeout(to.channel, ch.setenv(k, v)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => refused.push(format!("export {}={};", k, shell_quote(v))),
                Err(_) => {
                    return Err(TransportError::Timeout {
                        host: host.to_string(),
                        phase: Phase::ChannelOpen,
                        after: to.channel,
                        stopped: None,
                    })
                }
            }
        }
        if !refused.is_empty() {
            line = format!("{} {line}", refused.join(" "));
        }
        step(conn, host, "exec", to.channel, ch.exec(&stop::wrap(&line))).await
    };
    if let Err(e) = start.await {
        close_before_drop(conn, ch, to.channel).await;
        return Err(e);
    }

    let mut input = Vec::new();
    if let Some(p) = &first_stdin {
        input.extend_from_slice(p.expose());
    }
    if let Some(s) = &command.stdin {
        input.extend_from_slice(s.expose());
    }
    // Dropped before the command ended (the engine's own timeout, an abort): the guard takes
    // the channel and stops the remote process group in the background.
    let mut guard = StopOnDrop {
        conn: conn.clone(),
        ch: None,
        seen: Seen::default(),
        to: *to,
        rt: tokio::runtime::Handle::current(),
    };
    let ch = guard.ch.insert(ch);
    let seen = &mut guard.seen;
    let body = io(conn, host, ch, &input, command.output_cap, to.channel, seen);
    let result = match command.timeout {
        None => body.await,
        Some(limit) => match tokio::time::timeout(limit, body).await {
            Ok(r) => r,
            Err(_) => {
                // The ssh2 bindings expose no `signal` request: the process group the command
                // reported (waited for a little if it has not yet) is signalled from a second
                // channel, then this one is closed without waiting for the server's close.
                let wait = to.channel.min(stop::MARKER_WAIT);
                let pgid = stop::await_marker(ch, &mut seen.marker, wait).await;
                let stopped = stop::stop(conn, pgid, to).await;
                let _ = tokio::time::timeout(CLOSE_ON_TIMEOUT, ch.close()).await;
                retire_if_wedged(conn, seen.fed);
                Err(TransportError::Timeout {
                    host: host.to_string(),
                    phase: Phase::Command,
                    after: limit,
                    stopped: Some(stopped),
                })
            }
        },
    };
    // Finished, failed or stopped here: nothing is left for the guard to do but the close.
    // A command that timed out was closed above, briefly: its host may not answer at all.
    let timed_out = matches!(
        &result,
        Err(TransportError::Timeout {
            phase: Phase::Command,
            ..
        })
    );
    if let Some(ch) = guard.ch.take().filter(|_| !timed_out) {
        close_before_drop(conn, ch, to.channel).await;
    }
    input.fill(0);
    let (exit, mut stdout, mut stderr) = result?;
    if let Some(p) = command.sudo.as_ref().and_then(|s| s.password.as_ref()) {
        stdout.scrub(p.expose());
        stderr.scrub(p.expose());
    }
    Ok((exit, stdout, stderr))
}

/// Holds a running command's channel: if the command future is dropped mid-run, the
/// command's process group is stopped in the background (once its id arrives, if it has not
/// yet) and the channel closed. Disarmed by taking the channel out.
struct StopOnDrop {
    conn: Arc<Conn>,
    ch: Option<Channel>,
    seen: Seen,
    to: Timeouts,
    /// The runtime the command runs on: the stop is spawned there even when the future is
    /// dropped outside it (by the caller of `block_on`, say), and runs while it runs.
    rt: tokio::runtime::Handle,
}

/// How far a command got, as its guard needs to know.
#[derive(Debug, Default)]
struct Seen {
    /// Stderr so far, up to the process group id.
    marker: MarkerFilter,
    /// Stdin and EOF were sent in full.
    fed: bool,
}

/// Closes a channel before it is dropped.
///
/// A channel dropped open makes libssh2 send its close from the drop, which takes no lock on
/// the session, while other tasks may be sending on it (a bastion's tunnels, another command):
/// that corrupted the session's stream (the server saw a bad packet length or MAC and dropped
/// the connection). Closing through the bindings takes the lock. The close is never cut short
/// (a close abandoned half sent would block every later packet on the session), except by the
/// connection's death or drop, or by `limit`: a host that does not answer within it has the
/// connection retired, as a close given up may be half sent. It is awaited here, so that the
/// host's next command does not run beside it.
async fn close_before_drop(conn: &Conn, mut ch: Channel, limit: Duration) {
    let mut dead = conn.dead();
    tokio::select! {
        _ = ch.close() => {}
        // Declared dead, or dropped (the sender goes with it).
        _ = dead.wait_for(Option::is_some) => {}
        () = tokio::time::sleep(limit) => conn.mark_dead("a channel's close went unanswered"),
    }
}

/// A command abandoned while its stdin was being written may leave libssh2 a half-sent
/// packet that only the abandoned write could finish: every later packet on the session
/// waits behind it forever, so the connection is retired (the next command reconnects).
fn retire_if_wedged(conn: &Conn, fed: bool) {
    if !fed {
        conn.mark_dead("a command was abandoned while its input was being sent");
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let Some(mut ch) = self.ch.take() else {
            return;
        };
        let (conn, to) = (self.conn.clone(), self.to);
        let Seen { mut marker, fed } = std::mem::take(&mut self.seen);
        self.rt.spawn(async move {
            let wait = to.channel.min(stop::MARKER_WAIT);
            let pgid = stop::await_marker(&mut ch, &mut marker, wait).await;
            let outcome = stop::stop(&conn, pgid, &to).await;
            let _ = tokio::time::timeout(CLOSE_ON_TIMEOUT, ch.close()).await;
            retire_if_wedged(&conn, fed);
            tracing::debug!(?pgid, ?outcome, "stopped an abandoned remote command");
        });
    }
}

async fn io(
    conn: &Conn,
    host: &str,
    ch: &mut Channel,
    input: &[u8],
    cap: usize,
    close_limit: Duration,
    seen: &mut Seen,
) -> Result<(ExitStatus, Captured, Captured), TransportError> {
    let (marker, fed) = (&mut seen.marker, &mut seen.fed);
    let mut out_r = ch.stream(0);
    let mut err_r = ch.stderr();
    let mut in_w = ch.stream(0);
    let feed = async {
        // A command that exits without reading its stdin is not an error.
        if !input.is_empty() {
            let _ = in_w.write_all(input).await;
            let _ = in_w.flush().await;
        }
        let _ = ch.send_eof().await;
        *fed = true;
    };
    let read = async {
        let (mut out, mut err) = (Captured::default(), Captured::default());
        let (mut ob, mut eb) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
        let (mut out_done, mut err_done) = (false, false);
        let mut fallback = Duration::from_millis(1);
        while !(out_done && err_done) {
            let (is_out, got) = tokio::select! {
                r = out_r.read(&mut ob), if !out_done => (true, r),
                r = err_r.read(&mut eb), if !err_done => (false, r),
                // Another task on this session may have buffered our data without a socket
                // event reaching us: re-poll on a short, growing timer.
                () = tokio::time::sleep(fallback) => {
                    fallback = (fallback * 2).min(FALLBACK_MAX);
                    continue;
                }
                cause = conn.died() => {
                    return Err(TransportError::ConnectionLost { host: host.to_string(), cause });
                }
            };
            // Both streams are the same channel: whichever read meets a failure reports it.
            let n = got.map_err(|e| read_failed(conn, host, &e))?;
            fallback = Duration::from_millis(1);
            match (is_out, n) {
                (true, 0) => out_done = true,
                (true, n) => out.push(&ob[..n], cap),
                (false, 0) => {
                    marker.finish(&mut err, cap);
                    err_done = true;
                }
                (false, n) => marker.feed(&eb[..n], &mut err, cap),
            }
        }
        Ok((out, err))
    };
    // A failed read ends the feed too: a peer that stopped reading would hold it forever.
    let ((), (out, err)) = tokio::try_join!(
        async {
            feed.await;
            Ok(())
        },
        read
    )?;
    // The exit status and signal arrive before the server's close.
    let exit = async {
        ch.wait_close().await?;
        Ok(match ch.exit_signal().await?.exit_signal {
            Some(sig) => ExitStatus::Signal(sig),
            None => ExitStatus::Code(ch.exit_status()?),
        })
    };
    let exit = step(conn, host, "close", close_limit, exit).await?;
    Ok((exit, out, err))
}
