//! The local transport: runs a command as `sh -c` in its own process group on this machine
//! (for `transport = "local"` hosts and `local = true` tasks); same output, caps and timeout
//! semantics as SSH.

use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::error::Phase;
use super::{
    Captured, CommandOutput, ExitStatus, HostSpec, RemoteCommand, StopOutcome, Timings, Transport,
    TransportError,
};

/// Grace between SIGTERM and SIGKILL when a local command times out.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Runs commands on the local machine.
#[derive(Debug, Default, Clone)]
pub struct LocalTransport;

impl LocalTransport {
    /// A local transport.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Transport for LocalTransport {
    async fn open(&self, _host: &HostSpec) -> Result<(), TransportError> {
        Ok(())
    }

    async fn run(
        &self,
        host: &HostSpec,
        command: &RemoteCommand,
    ) -> Result<CommandOutput, TransportError> {
        let start = Instant::now();
        let (line, first_stdin) = command.wrapped();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&line)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a timeout can stop the whole tree.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| TransportError::Spawn {
            host: host.name.clone(),
            cause: e.to_string(),
        })?;
        let pid = child.id();
        // Dropped mid-run (the engine's own timeout, an abort): the whole group goes, not only
        // the `sh` that `kill_on_drop` reaches.
        let mut guard = GroupGuard { pid, armed: true };
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let mut input = Vec::new();
        if let Some(p) = &first_stdin {
            input.extend_from_slice(p.expose());
        }
        if let Some(s) = &command.stdin {
            input.extend_from_slice(s.expose());
        }
        let cap = command.output_cap;
        let work = async {
            let feed = async {
                if let Some(mut w) = stdin.take() {
                    // A command that exits without reading stdin closes the pipe: not an error.
                    let _ = w.write_all(&input).await;
                    let _ = w.shutdown().await;
                }
            };
            let (_, out, err, status) = tokio::join!(
                feed,
                drain(stdout.as_mut(), cap),
                drain(stderr.as_mut(), cap),
                child.wait()
            );
            (out, err, status)
        };
        let (out, err, status) = match command.timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(r) => r,
                Err(_) => {
                    guard.armed = false;
                    let stopped = match pid {
                        Some(pid) => stop_group(pid, &mut child).await,
                        None => StopOutcome::AlreadyExited,
                    };
                    return Err(TransportError::Timeout {
                        host: host.name.clone(),
                        phase: Phase::Command,
                        after: limit,
                        stopped: Some(stopped),
                    });
                }
            },
            None => work.await,
        };
        guard.armed = false;
        let status = status.map_err(|e| TransportError::Spawn {
            host: host.name.clone(),
            cause: e.to_string(),
        })?;
        let exit = match status.code() {
            Some(c) => ExitStatus::Code(c),
            None => {
                use std::os::unix::process::ExitStatusExt as _;
                ExitStatus::Signal(signal_name(status.signal().unwrap_or(0)))
            }
        };
        let (mut stdout, mut stderr) = (out, err);
        if let Some(p) = command.sudo.as_ref().and_then(|s| s.password.as_ref()) {
            stdout.scrub(p.expose());
            stderr.scrub(p.expose());
        }
        Ok(CommandOutput {
            exit,
            stdout,
            stderr,
            timings: Timings {
                exec: start.elapsed(),
                ..Timings::default()
            },
        })
    }

    async fn close(&self) {}
}

async fn drain<R: tokio::io::AsyncRead + Unpin>(r: Option<&mut R>, cap: usize) -> Captured {
    let mut c = Captured::default();
    let Some(r) = r else { return c };
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        c.push(&buf[..n], cap);
    }
    c
}

/// Kills the command's process group when dropped armed.
struct GroupGuard {
    pid: Option<u32>,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Some(pgid) = self.pid.and_then(|p| libc::pid_t::try_from(p).ok()) else {
            return;
        };
        if self.armed {
            // SAFETY: kill(2) on the group we created; no memory involved.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

/// SIGTERM to the process group, then SIGKILL after [`KILL_GRACE`] if it is still there.
async fn stop_group(pid: u32, leader: &mut tokio::process::Child) -> StopOutcome {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return StopOutcome::Failed(format!("pid {pid} out of range"));
    };
    // SAFETY: kill(2) with a negative pid signals the group we created; no memory involved.
    if unsafe { libc::kill(-pgid, libc::SIGTERM) } != 0 {
        return StopOutcome::AlreadyExited;
    }
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        // Reaping our own child (the group leader) keeps its zombie from holding the group.
        let _ = leader.try_wait();
        // SAFETY: signal 0 only checks that the group still exists.
        if unsafe { libc::kill(-pgid, 0) } != 0 {
            return StopOutcome::Terminated;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    StopOutcome::Killed
}

/// The name of a signal number, without `SIG` (as SSH reports it).
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGHUP => "HUP",
        libc::SIGINT => "INT",
        libc::SIGQUIT => "QUIT",
        libc::SIGILL => "ILL",
        libc::SIGABRT => "ABRT",
        libc::SIGFPE => "FPE",
        libc::SIGKILL => "KILL",
        libc::SIGSEGV => "SEGV",
        libc::SIGPIPE => "PIPE",
        libc::SIGALRM => "ALRM",
        libc::SIGTERM => "TERM",
        libc::SIGUSR1 => "USR1",
        libc::SIGUSR2 => "USR2",
        _ => return sig.to_string(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostSpec {
        HostSpec::local("localhost")
    }

    #[tokio::test]
    async fn runs_with_stdin_env_and_exit_code() {
        let out = LocalTransport
            .run(
                &host(),
                &RemoteCommand::new("read x; echo \"$x-$FOO\"; echo err >&2; exit 3")
                    .stdin("hi\n")
                    .env("FOO", "bar"),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout.text(), "hi-bar\n");
        assert_eq!(out.stderr.text(), "err\n");
        assert_eq!(out.exit, ExitStatus::Code(3));
    }

    #[tokio::test]
    async fn caps_output_and_reports_signals() {
        let out = LocalTransport
            .run(
                &host(),
                &RemoteCommand::new("head -c 5000 /dev/zero; kill -KILL $$").output_cap(100),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout.bytes.len(), 100);
        assert_eq!(out.stdout.total, 5000);
        assert!(out.stdout.truncated);
        assert_eq!(out.exit, ExitStatus::Signal("KILL".into()));
    }

    #[tokio::test]
    async fn timeout_stops_the_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("m");
        let cmd = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let start = Instant::now();
        let err = LocalTransport
            .run(
                &host(),
                &RemoteCommand::new(cmd).timeout(Duration::from_millis(200)),
            )
            .await
            .unwrap_err();
        // Terminated, or Killed where an init that does not reap keeps the orphan's zombie
        // in the group past the grace.
        match &err {
            TransportError::Timeout {
                phase: Phase::Command,
                stopped: Some(stopped),
                ..
            } => assert!(stopped.stopped(), "{err}"),
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("process group"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(4));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(
            !marker.exists(),
            "the background child outlived the timeout"
        );
    }

    #[tokio::test]
    async fn dropping_a_running_command_kills_its_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("bg");
        let cmd = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let (h, cmd) = (host(), RemoteCommand::new(cmd));
        let abandoned =
            tokio::time::timeout(Duration::from_millis(300), LocalTransport.run(&h, &cmd)).await;
        assert!(abandoned.is_err());
        let bg: libc::pid_t = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SIGKILL takes effect when the process is next scheduled: wait for it, bounded.
        let alive = || {
            // SAFETY: signal 0 only probes; a zombie (state Z in /proc) counts as gone.
            (unsafe { libc::kill(bg, 0) }) == 0
                && std::fs::read_to_string(format!("/proc/{bg}/stat"))
                    .map(|s| !s.contains(") Z "))
                    .unwrap_or(false)
        };
        let start = Instant::now();
        while alive() && start.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let alive = alive();
        assert!(!alive, "the background child outlived the dropped command");
    }

    #[tokio::test]
    async fn signal_names_match_ssh() {
        assert_eq!(signal_name(libc::SIGTERM), "TERM");
        assert_eq!(signal_name(99), "99");
    }
}
