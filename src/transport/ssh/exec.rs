//! One command on an open connection: a fresh channel, env requests (refused names exported
//! in the command line instead), exec, stdin then EOF while stdout/stderr are read with caps,
//! then the exit status or signal. Input a [`Conn`] and a command; output exit and output.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_ssh2_lite::AsyncChannel;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::connect::Conn;
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
        Ok(Err(e)) => Err(failure(conn, host, name, &e.to_string())),
        Ok(Ok(v)) => Ok(v),
    }
}

fn failure(conn: &Conn, host: &str, step: &'static str, cause: &str) -> TransportError {
    let dead = conn.dead().borrow().clone();
    if let Some(why) = dead {
        return TransportError::ConnectionLost {
            host: host.to_string(),
            cause: why,
        };
    }
    // libssh2 reports a vanished peer as a socket error or a disconnect.
    let lower = cause.to_ascii_lowercase();
    if ["socket", "disconnect", "broken pipe", "reset", "eof"]
        .iter()
        .any(|w| lower.contains(w))
    {
        conn.mark_dead(cause);
        return TransportError::ConnectionLost {
            host: host.to_string(),
            cause: format!("{step}: {cause}"),
        };
    }
    TransportError::Protocol {
        host: host.to_string(),
        step,
        cause: cause.to_string(),
    }
}

/// A read error on an exec'd channel is the connection failing under us (libssh2 says
/// "transport read" for a peer that vanished): the connection is retired.
fn read_failed(conn: &Conn, host: &str, e: &std::io::Error) -> TransportError {
    let cause = format!("read: {e}");
    conn.mark_dead(cause.clone());
    let why = conn.dead().borrow().clone().unwrap_or(cause);
    TransportError::ConnectionLost {
        host: host.to_string(),
        cause: why,
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
    step(conn, host, "exec", to.channel, ch.exec(&stop::wrap(&line))).await?;

    let mut input = Vec::new();
    if let Some(p) = &first_stdin {
        input.extend_from_slice(p.expose());
    }
    if let Some(s) = &command.stdin {
        input.extend_from_slice(s.expose());
    }
    // Dropped before the command ended (the engine's own timeout, an abort): the remote
    // process group is stopped in the background.
    let mut guard = StopOnDrop {
        conn: conn.clone(),
        pgid: Arc::new(AtomicU32::new(0)),
        to: *to,
        armed: true,
    };
    let pgid = guard.pgid.clone();
    let body = io(
        conn,
        host,
        &mut ch,
        &input,
        command.output_cap,
        to.channel,
        &pgid,
    );
    let (exit, mut stdout, mut stderr) = match command.timeout {
        None => {
            let r = body.await;
            guard.armed = false;
            r?
        }
        Some(limit) => match tokio::time::timeout(limit, body).await {
            Ok(r) => {
                guard.armed = false;
                r?
            }
            Err(_) => {
                guard.armed = false;
                // The ssh2 bindings expose no `signal` request: the process group the command
                // reported is signalled from a second channel, then this one is closed
                // without waiting for the server's close.
                let stopped = stop::stop(conn, pgid.load(Ordering::SeqCst), to).await;
                let _ = tokio::time::timeout(CLOSE_ON_TIMEOUT, ch.close()).await;
                return Err(TransportError::Timeout {
                    host: host.to_string(),
                    phase: Phase::Command,
                    after: limit,
                    stopped: Some(stopped),
                });
            }
        },
    };
    input.fill(0);
    if let Some(p) = command.sudo.as_ref().and_then(|s| s.password.as_ref()) {
        stdout.scrub(p.expose());
        stderr.scrub(p.expose());
    }
    Ok((exit, stdout, stderr))
}

/// Stops the command's process group if the command future is dropped mid-run.
struct StopOnDrop {
    conn: Arc<Conn>,
    pgid: Arc<AtomicU32>,
    to: Timeouts,
    armed: bool,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let pgid = self.pgid.load(Ordering::SeqCst);
        if !self.armed || pgid == 0 {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (conn, to) = (self.conn.clone(), self.to);
        rt.spawn(async move {
            let outcome = stop::stop(&conn, pgid, &to).await;
            tracing::debug!(pgid, ?outcome, "stopped an abandoned remote command");
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
    pgid: &AtomicU32,
) -> Result<(ExitStatus, Captured, Captured), TransportError> {
    let mut out_r = ch.stream(0);
    let mut err_r = ch.stderr();
    let mut in_w = ch.stream(0);
    let mut dead = conn.dead();
    let feed = async {
        // A command that exits without reading its stdin is not an error.
        if !input.is_empty() {
            let _ = in_w.write_all(input).await;
            let _ = in_w.flush().await;
        }
        let _ = ch.send_eof().await;
    };
    let read = async {
        let (mut out, mut err) = (Captured::default(), Captured::default());
        let mut marker = MarkerFilter::default();
        let (mut ob, mut eb) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
        let (mut out_done, mut err_done) = (false, false);
        let mut fallback = Duration::from_millis(1);
        while !(out_done && err_done) {
            tokio::select! {
                r = out_r.read(&mut ob), if !out_done => match r {
                    Ok(0) => out_done = true,
                    Ok(n) => { out.push(&ob[..n], cap); fallback = Duration::from_millis(1); }
                    Err(e) => return Err(read_failed(conn, host, &e)),
                },
                r = err_r.read(&mut eb), if !err_done => match r {
                    Ok(0) => { marker.finish(&mut err, cap); err_done = true; }
                    Ok(n) => {
                        marker.feed(&eb[..n], &mut err, cap, pgid);
                        fallback = Duration::from_millis(1);
                    }
                    Err(e) => return Err(read_failed(conn, host, &e)),
                },
                // Another task on this session may have buffered our data without a socket
                // event reaching us: re-poll on a short, growing timer.
                () = tokio::time::sleep(fallback) => fallback = (fallback * 2).min(FALLBACK_MAX),
                _ = dead.changed() => {
                    let why = dead.borrow().clone().unwrap_or_else(|| "closed".into());
                    return Err(TransportError::ConnectionLost { host: host.to_string(), cause: why });
                }
            }
        }
        Ok((out, err))
    };
    let ((), outputs) = tokio::join!(feed, read);
    let (out, err) = outputs?;
    step(conn, host, "close", close_limit, ch.wait_close()).await?;
    let exit = match ch.exit_signal().await {
        Ok(sig) if sig.exit_signal.is_some() => {
            ExitStatus::Signal(sig.exit_signal.unwrap_or_default())
        }
        _ => ExitStatus::Code(
            ch.exit_status()
                .map_err(|e| failure(conn, host, "exit status", &e.to_string()))?,
        ),
    };
    Ok((exit, out, err))
}
