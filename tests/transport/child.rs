//! Tests whose body runs in a child process of this test binary, against the parent's
//! fleet: what a test cannot do beside others in one process.

use super::*;

/// Names the test a child process of this test binary runs (see [`in_child`]).
const CHILD: &str = "SFLOW_TEST_CHILD";
/// The parent's fleet, for the child: its known_hosts file, client key and hosts.
const CHILD_FLEET: &str = "SFLOW_TEST_FLEET";
/// Which case a child runs.
const CHILD_CASE: &str = "SFLOW_TEST_CASE";

/// Runs test `name` again in a child process of this test binary, against `fleet` (which
/// stays in this process), with `env` added. For what a test cannot do beside others in one
/// process: libssh2 reads `SSH_AUTH_SOCK` from the process environment, and running out of
/// file descriptors would starve the fleet too. Fails if the child's test fails.
async fn in_child(name: &str, fleet: &Fleet, env: &[(&str, &std::ffi::OsStr)]) {
    let hosts: Vec<String> = fleet
        .hosts()
        .iter()
        .map(|h| format!("{}={}", h.name, h.addr))
        .collect();
    let spec = format!(
        "{}\n{}\n{}",
        fleet.known_hosts_path().display(),
        fleet.client_key_path().display(),
        hosts.join(" ")
    );
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .env(CHILD_FLEET, spec)
        .envs(env.iter().copied());
    let out = bounded(child.output()).await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

/// In a child started by [`in_child`]: the parent fleet's options and hosts.
fn child_fleet() -> Option<(SshOptions, Vec<sflow::transport::HostSpec>)> {
    std::env::var_os(CHILD)?;
    let spec = std::env::var(CHILD_FLEET).unwrap();
    let mut lines = spec.lines();
    let known_hosts = std::path::PathBuf::from(lines.next().unwrap());
    let key = std::path::PathBuf::from(lines.next().unwrap());
    let hosts = lines
        .next()
        .unwrap()
        .split(' ')
        .map(|h| {
            let (name, addr) = h.split_once('=').unwrap();
            let addr: std::net::SocketAddr = addr.parse().unwrap();
            sflow::transport::HostSpec::new(name)
                .address(addr.ip().to_string())
                .port(addr.port())
                .user("sflow")
        })
        .collect();
    let o = SshOptions {
        identity_files: vec![key],
        known_hosts_files: vec![known_hosts],
        ..SshOptions::default()
    };
    Some((fast(o), hosts))
}

/// An `ssh-agent` of our own holding `key`, stopped on drop; `None` (skip) when OpenSSH's
/// client tools are absent and `SFLOW_REQUIRE_SSHD` is unset.
struct Agent {
    process: std::process::Child,
    sock: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start(key: &std::path::Path) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let process = match std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .spawn()
        {
            Ok(p) => p,
            Err(e) => {
                assert!(
                    std::env::var_os("SFLOW_REQUIRE_SSHD").is_none(),
                    "ssh-agent: {e}, and SFLOW_REQUIRE_SSHD is set"
                );
                eprintln!("skipping: ssh-agent: {e}");
                return None;
            }
        };
        let agent = Self {
            process,
            sock,
            _dir: dir,
        };
        // The socket appears when the agent binds, a moment before it listens.
        let start = Instant::now();
        loop {
            let added = std::process::Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &agent.sock)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if added {
                return Some(agent);
            }
            assert!(start.elapsed() < BOUND, "ssh-add could not reach the agent");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_is_tried_first_and_a_broken_agent_is_skipped() {
    const NAME: &str = "child::the_agent_is_tried_first_and_a_broken_agent_is_skipped";
    if let Some((o, hosts)) = child_fleet() {
        let case = std::env::var(CHILD_CASE).unwrap();
        let agent_only = SshOptions {
            use_agent: true,
            identity_files: Vec::new(),
            ..o.clone()
        };
        let run = |o: SshOptions, h: sflow::transport::HostSpec| async move {
            SshTransport::new(o)
                .unwrap()
                .run(&h, &RemoteCommand::new("uptime"))
                .await
        };
        if case == "agent" {
            // The agent holds the fleet's key: no identity file needed.
            let out = bounded(run(agent_only.clone(), hosts[0].clone())).await;
            assert_eq!(out.unwrap().stdout.text(), "up 3 days\n");
        } else {
            // An agent that hangs up at once is skipped: the identity file still works.
            let with_file = SshOptions {
                use_agent: true,
                ..o
            };
            let out = bounded(run(with_file, hosts[0].clone())).await;
            assert_eq!(out.unwrap().stdout.text(), "up 3 days\n");
        }
        // Nothing else to try: rejected, naming the agent (not a lost connection).
        let err = bounded(run(agent_only, hosts[1].clone()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AuthRejected, "{err}");
        assert!(err.to_string().contains("(tried: agent)"), "{err}");
        return;
    }
    let fleet = Fleet::builder()
        .hosts(2)
        .script(echo_script())
        .fault(1, Fault::RejectAuth)
        .start()
        .await
        .unwrap();
    let Some(agent) = Agent::start(fleet.client_key_path()) else {
        return;
    };
    let case = |c: &'static str| (CHILD_CASE, std::ffi::OsStr::new(c));
    in_child(
        NAME,
        &fleet,
        &[("SSH_AUTH_SOCK", agent.sock.as_os_str()), case("agent")],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.sock");
    let listener = tokio::net::UnixListener::bind(&broken).unwrap();
    let hang_up = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    });
    in_child(
        NAME,
        &fleet,
        &[("SSH_AUTH_SOCK", broken.as_os_str()), case("broken")],
    )
    .await;
    hang_up.abort();
    assert_eq!(fleet.commands_on(0).len(), 2, "one command per child");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_fails_the_tunnel_not_the_run() {
    const NAME: &str = "child::running_out_of_file_descriptors_fails_the_tunnel_not_the_run";
    if let Some((o, hosts)) = child_fleet() {
        let ssh = SshTransport::new(o).unwrap();
        let tunneled = hosts[1].clone().jump(hosts[0].clone());
        let cmd = RemoteCommand::new("uptime");
        bounded(ssh.open(&hosts[0])).await.unwrap();
        // Every descriptor this process may open is taken (the limit lowered first, so
        // that taking them is quick); the bastion connection is already open.
        let limit = libc::rlimit {
            rlim_cur: 256,
            rlim_max: libc::RLIM_INFINITY,
        };
        let mut current = limit;
        // SAFETY: plain getrlimit/setrlimit on structs we own.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut current), 0);
            let lowered = libc::rlimit {
                rlim_max: current.rlim_max,
                ..limit
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lowered), 0);
        }
        let mut taken = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            taken.push(f);
        }
        let err = bounded(ssh.run(&tunneled, &cmd)).await.unwrap_err();
        drop(taken);
        assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
        assert!(err.to_string().contains("os error 24"), "{err}");
        // With descriptors free again the same host is reached.
        let out = bounded(ssh.run(&tunneled, &cmd)).await.unwrap();
        assert_eq!(out.stdout.text(), "up 3 days\n");
        return;
    }
    let fleet = Fleet::builder()
        .hosts(2)
        .script(echo_script())
        .start()
        .await
        .unwrap();
    in_child(NAME, &fleet, &[]).await;
    assert_eq!(fleet.commands_on(1).len(), 1, "run once, after the failure");
}
