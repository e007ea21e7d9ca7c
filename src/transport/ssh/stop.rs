//! Stopping a timed-out remote command: every command line is prefixed so that the remote
//! shell first writes its process group id to stderr as a marker line (stripped from the
//! captured output); on timeout a second channel of the same connection signals that group
//! (SIGTERM, SIGKILL after [`KILL_GRACE`]). Input a command line, the stderr stream and a
//! connection; output the wrapped line, the clean stderr and a [`StopOutcome`].
//!
//! A command given up on before its marker line arrived (a slow login shell) is not lost:
//! its channel is read for the marker a little longer ([`MARKER_WAIT`]), then signalled.
//!
//! The wrap costs no round trip: it is part of the `exec` request. sshd runs each command in
//! a new session (`setsid`), so the shell's `$$` is the process group id of everything the
//! command starts. The login shell must be POSIX-like (sh, bash, dash, ksh, zsh), as for the
//! `export` fallback of refused environment variables.

use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use super::connect::Conn;
use super::exec::Channel;
use super::stream::FALLBACK_MAX;
use super::Timeouts;
use crate::transport::{Captured, StopOutcome};

/// Grace between SIGTERM and SIGKILL on the remote side (20 polls of 0.1 s).
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// The bytes that open the marker line on stderr (a control character first, so that no
/// ordinary output starts the same way).
pub const MARKER: &[u8] = b"\x1esflow-pgid:";

/// What is put in front of every command. `printf` and `$$` are POSIX; the marker goes on the
/// same line as the command so that line numbers in the command's own errors do not move.
pub const PREFIX: &str = r"printf '\036sflow-pgid:%s\n' $$ >&2; ";

/// How long a command given up on before its process group id arrived is still read for it
/// (at most the channel timeout). The shell writes it first, so only a slow login shell (rc
/// files) or a shell that does not run the wrap (csh, fish) gets here; the latter costs this
/// much on every timeout.
pub const MARKER_WAIT: Duration = Duration::from_secs(2);

/// How far into stderr the marker is looked for (a login shell's rc files may write first);
/// past this, stderr is passed through untouched.
const SCAN_LIMIT: usize = 64 * 1024;

/// The command line actually sent for `line`.
pub fn wrap(line: &str) -> String {
    format!("{PREFIX}{line}")
}

/// The user's command line inside a wrapped one (for test servers that script answers).
pub fn unwrap(line: &str) -> Option<&str> {
    line.strip_prefix(PREFIX)
}

/// The shell script that stops process group `pgid`: it prints `terminated`, `killed` or
/// `gone`. A shell that is not a group leader (a server that does not `setsid`) gets the
/// signal on its own pid instead.
pub fn kill_script(pgid: u32) -> String {
    format!(
        "p={pgid}; kill -TERM -$p 2>/dev/null || kill -TERM $p 2>/dev/null || \
         {{ echo gone; exit 0; }}; i=0; \
         while kill -0 -$p 2>/dev/null || kill -0 $p 2>/dev/null; do i=$((i+1)); \
         if [ $i -gt 20 ]; then kill -KILL -$p 2>/dev/null; kill -KILL $p 2>/dev/null; \
         echo killed; exit 0; fi; sleep 0.1 2>/dev/null || sleep 1; done; echo terminated"
    )
}

/// The process group a [`kill_script`] line targets (for test servers).
pub fn parse_kill(line: &str) -> Option<u32> {
    let rest = line.strip_prefix("p=")?;
    let (n, tail) = rest.split_once(';')?;
    let pgid = n.parse().ok()?;
    (kill_script(pgid) == format!("p={n};{tail}")).then_some(pgid)
}

/// Strips the marker line from a command's stderr and remembers the process group id.
#[derive(Debug, Default)]
pub(crate) struct MarkerFilter {
    pending: Vec<u8>,
    done: bool,
    pgid: Option<u32>,
}

impl MarkerFilter {
    /// The process group id, once the marker line was seen.
    pub(crate) fn pgid(&self) -> Option<u32> {
        self.pgid
    }

    /// Takes the next stderr bytes; what is surely not the marker goes to `out`.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Captured, cap: usize) {
        if self.done {
            out.push(chunk, cap);
            return;
        }
        self.pending.extend_from_slice(chunk);
        if let Some(at) = find(&self.pending, MARKER) {
            let digits = at + MARKER.len();
            if let Some(nl) = self.pending[digits..].iter().position(|&b| b == b'\n') {
                let id = std::str::from_utf8(&self.pending[digits..digits + nl])
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok());
                if let Some(id) = id {
                    self.pgid = Some(id);
                    let pending = std::mem::take(&mut self.pending);
                    out.push(&pending[..at], cap);
                    out.push(&pending[digits + nl + 1..], cap);
                    self.done = true;
                    return;
                }
            }
        }
        if self.pending.len() > SCAN_LIMIT {
            self.finish(out, cap);
        }
    }

    /// The stream ended: whatever is held back was ordinary output.
    pub(crate) fn finish(&mut self, out: &mut Captured, cap: usize) {
        let pending = std::mem::take(&mut self.pending);
        out.push(&pending, cap);
        self.done = true;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads the stderr of a command given up on until its marker line arrives, for at most
/// `limit`: the process group id, or `None` if the stream ended or the time ran out first.
pub(crate) async fn await_marker(
    ch: &mut Channel,
    marker: &mut MarkerFilter,
    limit: Duration,
) -> Option<u32> {
    if marker.pgid().is_some() || marker.done {
        return marker.pgid();
    }
    let read = async {
        let mut r = ch.stderr();
        let mut buf = [0u8; 1024];
        let mut discard = Captured::default();
        let mut fallback = Duration::from_millis(1);
        while !marker.done {
            tokio::select! {
                got = r.read(&mut buf) => match got {
                    Ok(n) if n > 0 => marker.feed(&buf[..n], &mut discard, 0),
                    // The command ended (or the connection did) without naming its group.
                    _ => return,
                },
                () = tokio::time::sleep(fallback) => fallback = (fallback * 2).min(FALLBACK_MAX),
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
    marker.pgid()
}

/// Signals process group `pgid` (`None`: never seen) through a new channel on `conn`: the
/// channel open is bounded by the channel timeout, the script by the grace and a second.
pub(crate) async fn stop(conn: &Conn, pgid: Option<u32>, to: &Timeouts) -> StopOutcome {
    let Some(pgid) = pgid else {
        return StopOutcome::Failed("the command's process group id never arrived".into());
    };
    let mut ch: Channel =
        match tokio::time::timeout(to.channel, conn.session.channel_session()).await {
            Ok(Ok(ch)) => ch,
            Ok(Err(e)) => return StopOutcome::Failed(format!("kill channel open: {e}")),
            Err(_) => {
                return StopOutcome::Failed(format!(
                    "kill channel open timed out after {}",
                    humantime::format_duration(to.channel)
                ))
            }
        };
    let limit = KILL_GRACE + Duration::from_secs(1);
    let outcome = match tokio::time::timeout(limit, signal(&mut ch, pgid)).await {
        Ok(Ok(said)) => match said.trim() {
            "terminated" => StopOutcome::Terminated,
            "killed" => StopOutcome::Killed,
            "gone" => StopOutcome::AlreadyExited,
            other => StopOutcome::Failed(format!("unexpected answer {other:?}")),
        },
        Ok(Err(e)) => StopOutcome::Failed(e),
        Err(_) => StopOutcome::Failed(format!(
            "no answer within {}",
            humantime::format_duration(limit)
        )),
    };
    let _ = tokio::time::timeout(to.channel, ch.close()).await;
    outcome
}

async fn signal(ch: &mut Channel, pgid: u32) -> Result<String, String> {
    ch.exec(&kill_script(pgid))
        .await
        .map_err(|e| format!("kill exec: {e}"))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let mut r = ch.stream(0);
    let mut fallback = Duration::from_millis(1);
    loop {
        tokio::select! {
            got = r.read(&mut buf) => match got {
                Ok(0) => break,
                Ok(n) if out.len() < 256 => out.extend_from_slice(&buf[..n]),
                Ok(_) => {}
                Err(e) => return Err(format!("kill read: {e}")),
            },
            // As for commands: data another task buffered raises no socket event for us.
            () = tokio::time::sleep(fallback) => fallback = (fallback * 2).min(FALLBACK_MAX),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (String, u32) {
        let mut f = MarkerFilter::default();
        let mut out = Captured::default();
        for c in chunks {
            f.feed(c, &mut out, 1 << 20);
        }
        f.finish(&mut out, 1 << 20);
        (out.text(), f.pgid().unwrap_or(0))
    }

    #[test]
    fn marker_is_stripped_even_split_across_reads() {
        assert_eq!(run(&[b"\x1esflow-pgid:42\nerr\n"]), ("err\n".into(), 42));
        assert_eq!(
            run(&[b"rc noise\n\x1esflow", b"-pgid:4", b"2\nerr"]),
            ("rc noise\nerr".into(), 42)
        );
    }

    #[test]
    fn stderr_without_marker_passes_through() {
        assert_eq!(
            run(&[b"sh: syntax error\n"]),
            ("sh: syntax error\n".into(), 0)
        );
        assert_eq!(
            run(&[b"\x1esflow-pgid:x\n"]),
            ("\x1esflow-pgid:x\n".into(), 0)
        );
        let big = vec![b'e'; SCAN_LIMIT + 1];
        let late = b"\x1esflow-pgid:7\n";
        let (text, pgid) = run(&[&big, late]);
        assert_eq!((text.len(), pgid), (big.len() + late.len(), 0));
    }

    #[test]
    fn only_the_first_marker_is_taken() {
        assert_eq!(
            run(&[b"\x1esflow-pgid:1\n\x1esflow-pgid:2\n"]),
            ("\x1esflow-pgid:2\n".into(), 1)
        );
    }

    #[test]
    fn wrap_and_kill_script_round_trip() {
        assert_eq!(unwrap(&wrap("echo 'a b'")), Some("echo 'a b'"));
        assert_eq!(unwrap("echo"), None);
        assert_eq!(parse_kill(&kill_script(1234)), Some(1234));
        assert_eq!(parse_kill("p=12; rm -rf /"), None);
    }

    #[test]
    fn wrapped_line_keeps_exit_code_and_output() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(wrap("echo out; echo err >&2; exit 7"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7));
        assert_eq!(out.stdout, b"out\n");
        let (err, pgid) = run(&[&out.stderr]);
        assert_eq!(err, "err\n");
        assert!(pgid > 0);
    }
}
