//! The SSH transport against a real OpenSSH `sshd` that each test starts on loopback with its
//! own host key, authorized_keys and config. Skipped only when `sshd` is absent and
//! `SFLOW_REQUIRE_SSHD` is unset (CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sflow::transport::error::Phase;
use sflow::transport::known_hosts::HostKeyPolicy;
use sflow::transport::ssh::{SshOptions, SshTransport};
use sflow::transport::{
    ErrorKind, ExitStatus, HostSpec, RemoteCommand, Secret, Transport, TransportError,
};

fn sshd_path() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/sbin/sshd");
    if fixed.exists() {
        return Some(fixed);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("sshd"))
            .find(|c| c.exists())
    })
}

/// A running sshd; killed (by its own pid) on drop.
struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    user: String,
    host_pub: String,
    client_key: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path, passphrase: &str) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", "", "-N", passphrase, "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs")
        .success();
    assert!(ok, "ssh-keygen failed");
}

fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|c| c.exists())
        })
        .unwrap_or_else(|| panic!("{program} not found"))
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts sshd, or returns `None` (skip) when it is absent and not required.
fn start_sshd() -> Option<Sshd> {
    let Some(sshd) = sshd_path() else {
        assert!(
            std::env::var_os("SFLOW_REQUIRE_SSHD").is_none(),
            "sshd not found but SFLOW_REQUIRE_SSHD is set"
        );
        eprintln!("skipping: sshd not installed");
        return None;
    };
    // sshd refuses to start without its privilege-separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    let dir = tempfile::tempdir().expect("tempdir");
    let host_key = dir.path().join("host_ed25519");
    let client_key = dir.path().join("client_ed25519");
    keygen(&host_key, "");
    keygen(&client_key, "");
    let client_pub = std::fs::read_to_string(client_key.with_extension("pub")).expect("pub");
    let auth = dir.path().join("authorized_keys");
    std::fs::write(&auth, &client_pub).expect("authorized_keys");
    let port = free_port();
    let config = dir.path().join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1:{port}\nListenAddress 127.0.0.2:{port}\n\
             HostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nAcceptEnv SFLOW_*\nAllowTcpForwarding yes\n\
             SetEnv SHLVL=1\nLogLevel QUIET\n",
            host_key.display(),
            auth.display(),
            dir.path().join("sshd.pid").display()
        ),
    )
    .expect("config");
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("sshd starts");
    // Ready when it accepts on both addresses.
    let start = Instant::now();
    for ip in ["127.0.0.1", "127.0.0.2"] {
        while std::net::TcpStream::connect((ip, port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sshd did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).expect("host pub");
    Some(Sshd {
        child,
        dir,
        port,
        user: current_user(),
        host_pub: host_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        client_key,
    })
}

impl Sshd {
    fn known_hosts(&self) -> PathBuf {
        let p = self.dir.path().join("known_hosts");
        if !p.exists() {
            let lines = format!(
                "[127.0.0.1]:{port} {k}\n[127.0.0.2]:{port} {k}\n",
                port = self.port,
                k = self.host_pub
            );
            std::fs::write(&p, lines).expect("known_hosts");
        }
        p
    }

    fn options(&self) -> SshOptions {
        SshOptions {
            identity_files: vec![self.client_key.clone()],
            known_hosts_files: vec![self.known_hosts()],
            ..SshOptions::default()
        }
    }

    fn host(&self, ip: &str) -> HostSpec {
        HostSpec::new(format!("sshd-{ip}"))
            .address(ip)
            .port(self.port)
            .user(self.user.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_exit_codes_stderr_stdin_env_and_timeout() {
    let Some(sshd) = start_sshd() else { return };
    let ssh = SshTransport::new(sshd.options()).unwrap();
    let h = sshd.host("127.0.0.1");
    let out = ssh
        .run(&h, &RemoteCommand::new("echo out; echo err >&2; exit 4"))
        .await
        .unwrap();
    assert_eq!(out.stdout.text(), "out\n");
    assert_eq!(out.stderr.text(), "err\n");
    assert_eq!(out.exit, ExitStatus::Code(4));
    let cat = ssh
        .run(
            &h,
            &RemoteCommand::new("cat; printf '%s %s' \"$SFLOW_A\" \"$OTHER_B\"")
                .stdin("in:")
                .env("SFLOW_A", "accepted")
                .env("OTHER_B", "exported it's"),
        )
        .await
        .unwrap();
    assert_eq!(cat.stdout.text(), "in:accepted exported it's");
    assert!(cat.timings.reused);
    let sig = ssh
        .run(&h, &RemoteCommand::new("kill -TERM $$"))
        .await
        .unwrap();
    assert_eq!(sig.exit, ExitStatus::Signal("TERM".into()));

    // A timed-out command's whole process group is stopped: a foreground and a background
    // child, both a `sleep` under a name no other process has.
    let sleeper = sshd
        .dir
        .path()
        .join(format!("sflow-sleep-{}", std::process::id()));
    std::os::unix::fs::symlink(which("sleep"), &sleeper).unwrap();
    let s = sleeper.display();
    let start = Instant::now();
    let err = ssh
        .run(
            &h,
            &RemoteCommand::new(format!("{s} 31 & {s} 30")).timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    match &err {
        TransportError::Timeout {
            phase: Phase::Command,
            stopped: Some(stopped),
            ..
        } => assert!(stopped.stopped(), "{err}"),
        other => panic!("{other}"),
    }
    assert!(start.elapsed() < Duration::from_secs(5), "{err}");
    let left = Command::new("pgrep")
        .arg("-f")
        .arg(sleeper.as_os_str())
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "still running after the timeout: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    let after = ssh
        .run(&h, &RemoteCommand::new("echo still"))
        .await
        .unwrap();
    assert_eq!(after.stdout.text(), "still\n");
    ssh.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_key_refused_and_accept_new_records() {
    let Some(sshd) = start_sshd() else { return };
    let h = sshd.host("127.0.0.1");
    // A known_hosts entry with some other key: refused as changed, with the fingerprint.
    let other = sshd.dir.path().join("other");
    keygen(&other, "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let wrong = sshd.dir.path().join("wrong_known_hosts");
    std::fs::write(&wrong, format!("[127.0.0.1]:{} {}", sshd.port, other_pub)).unwrap();
    let mut o = sshd.options();
    o.known_hosts_files = vec![wrong];
    o.host_key_policy = HostKeyPolicy::AcceptNew;
    let err = SshTransport::new(o)
        .unwrap()
        .run(&h, &RemoteCommand::new("true"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostKeyChanged, "{err}");
    assert!(err.to_string().contains("SHA256:"), "{err}");

    let fresh = sshd.dir.path().join("fresh_known_hosts");
    let mut o = sshd.options();
    o.known_hosts_files = vec![fresh.clone()];
    let strict = SshTransport::new(o.clone()).unwrap();
    let err = strict
        .run(&h, &RemoteCommand::new("true"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostKeyUnknown, "{err}");
    o.host_key_policy = HostKeyPolicy::AcceptNew;
    o.known_hosts_write = Some(fresh.clone());
    let out = SshTransport::new(o)
        .unwrap()
        .run(&h, &RemoteCommand::new("true"))
        .await
        .unwrap();
    assert!(out.exit.success());
    let recorded = std::fs::read_to_string(&fresh).unwrap();
    assert!(recorded.contains(&sshd.host_pub), "{recorded}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_key_and_jump_host_through_the_same_sshd() {
    let Some(sshd) = start_sshd() else { return };
    // The same key, encrypted: decrypted once via the prompt.
    let enc = sshd.dir.path().join("client_enc");
    std::fs::copy(&sshd.client_key, &enc).unwrap();
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", "", "-N", "s3cret", "-f"])
        .arg(&enc)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let prompts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = prompts.clone();
    let mut o = sshd.options();
    o.identity_files = vec![enc];
    o.passphrase_prompt = Some(Arc::new(move |_: &Path| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(Secret::from("s3cret"))
    }));
    let ssh = SshTransport::new(o).unwrap();
    let bastion = sshd.host("127.0.0.1");
    let target = sshd.host("127.0.0.2").jump(bastion.clone());
    let out = ssh
        .run(&target, &RemoteCommand::new("echo $SSH_CONNECTION"))
        .await
        .unwrap();
    // The target session's peer is the bastion's sshd connecting from loopback to .2.
    assert!(
        out.stdout.text().contains("127.0.0.2"),
        "{}",
        out.stdout.text()
    );
    let direct = ssh
        .run(&bastion, &RemoteCommand::new("echo hi"))
        .await
        .unwrap();
    assert_eq!(direct.stdout.text(), "hi\n");
    assert!(
        direct.timings.reused,
        "the bastion connection is the pooled one"
    );
    assert_eq!(prompts.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(ssh.open_connections(), 2);
    ssh.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_encrypted_pem_key_authenticates_from_memory() {
    let Some(sshd) = start_sshd() else { return };
    let pem = sshd.dir.path().join("client_pem");
    let ok = Command::new("ssh-keygen")
        .args([
            "-q",
            "-m",
            "PEM",
            "-t",
            "rsa",
            "-b",
            "2048",
            "-N",
            "legacy-pw",
            "-C",
            "",
        ])
        .arg("-f")
        .arg(&pem)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let public = std::fs::read_to_string(pem.with_extension("pub")).unwrap();
    let auth = sshd.dir.path().join("authorized_keys");
    let mut keys = std::fs::read_to_string(&auth).unwrap();
    keys.push_str(&public);
    std::fs::write(&auth, keys).unwrap();
    let mut o = sshd.options();
    o.identity_files = vec![pem];
    o.passphrase_prompt = Some(Arc::new(|_: &Path| Some(Secret::from("legacy-pw"))));
    let ssh = SshTransport::new(o).unwrap();
    for ip in ["127.0.0.1", "127.0.0.2"] {
        let out = ssh
            .run(&sshd.host(ip), &RemoteCommand::new("echo pem"))
            .await
            .unwrap();
        assert_eq!(out.stdout.text(), "pem\n");
    }
    ssh.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_authentication() {
    let Some(sshd) = start_sshd() else { return };
    let sock = sshd.dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent starts");
    let start = Instant::now();
    while !sock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "agent did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The socket file appears when the agent binds, a moment before it listens: on a busy
    // machine the first `ssh-add` can come too early, so try again for a few seconds.
    let add = || {
        Command::new("ssh-add")
            .arg(&sshd.client_key)
            .env("SSH_AUTH_SOCK", &sock)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let added = Instant::now();
    while !add() {
        assert!(
            added.elapsed() < Duration::from_secs(5),
            "ssh-add could not reach the agent"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // libssh2 reads the agent socket from the environment; no other test here uses the agent.
    std::env::set_var("SSH_AUTH_SOCK", &sock);
    let mut o = sshd.options();
    o.identity_files.clear();
    o.use_agent = true;
    let result = SshTransport::new(o)
        .unwrap()
        .run(&sshd.host("127.0.0.1"), &RemoteCommand::new("echo agent"))
        .await;
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(result.unwrap().stdout.text(), "agent\n");
}
