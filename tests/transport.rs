//! The SSH transport against the in-process fleet: every fault gives its documented per-host
//! error within bounded time; pooling, jump hosts, stdin/env/sudo and caps work.

use std::time::{Duration, Instant};

use sflow::testing::{Exit, Fault, Fleet, FleetBuilder, Reply, Script};
use sflow::transport::error::Phase;
use sflow::transport::known_hosts::HostKeyPolicy;
use sflow::transport::ssh::{KeepalivePolicy, RetryPolicy, SshOptions, SshTransport, Timeouts};
use sflow::transport::{
    ErrorKind, ExitStatus, RemoteCommand, Secret, StopOutcome, Sudo, Transport, TransportError,
};

/// Every test must finish well inside this.
const BOUND: Duration = Duration::from_secs(10);

fn fast(mut o: SshOptions) -> SshOptions {
    o.timeouts = Timeouts {
        connect: Duration::from_millis(800),
        handshake: Duration::from_millis(800),
        auth: Duration::from_millis(800),
        channel: Duration::from_millis(800),
    };
    o.retry = RetryPolicy {
        attempts: 2,
        base: Duration::from_millis(20),
        max: Duration::from_millis(50),
    };
    o
}

/// A transport that trusts `fleet`, with short timeouts and keepalives every second, two
/// misses allowed: a silent peer is declared dead in about three seconds.
fn keepalive_transport(fleet: &Fleet) -> SshTransport {
    let mut o = fast(fleet.ssh_options());
    o.keepalive = KeepalivePolicy {
        interval: Duration::from_secs(1),
        max_misses: 2,
    };
    SshTransport::new(o).unwrap()
}

/// Starts the fleet and an SSH transport that trusts it, with short timeouts.
async fn start(builder: FleetBuilder) -> (Fleet, SshTransport) {
    let fleet = builder.start().await.unwrap();
    let ssh = SshTransport::new(fast(fleet.ssh_options())).unwrap();
    (fleet, ssh)
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    let start = Instant::now();
    let r = tokio::time::timeout(BOUND, f)
        .await
        .expect("stalled past the bound");
    assert!(start.elapsed() < BOUND);
    r
}

fn echo_script() -> Script {
    Script::new()
        .on("uptime", Reply::ok("up 3 days\n"))
        .on("fail", Reply::fail(3, "boom\n"))
        .on("sig", Reply::signal("KILL"))
        .on_prefix("sleep", Reply::ok("late\n").delay(Duration::from_secs(30)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_exit_codes_stderr_signal_and_pool_reuse() {
    let (fleet, ssh) = start(Fleet::builder().hosts(3).script(echo_script())).await;
    let h = fleet.host_spec(1);
    // A timeout that is not reached changes nothing.
    let out = bounded(ssh.run(
        &h,
        &RemoteCommand::new("uptime").timeout(Duration::from_secs(5)),
    ))
    .await
    .unwrap();
    assert_eq!(out.stdout.text(), "up 3 days\n");
    assert_eq!(out.exit, ExitStatus::Code(0));
    assert!(!out.timings.reused);
    let fail = bounded(ssh.run(&h, &RemoteCommand::new("fail")))
        .await
        .unwrap();
    assert_eq!(fail.exit, ExitStatus::Code(3));
    assert_eq!(fail.stderr.text(), "boom\n");
    assert!(fail.timings.reused);
    let sig = bounded(ssh.run(&h, &RemoteCommand::new("sig")))
        .await
        .unwrap();
    assert_eq!(sig.exit, ExitStatus::Signal("KILL".into()));
    let missing = bounded(ssh.run(&h, &RemoteCommand::new("nope")))
        .await
        .unwrap();
    assert_eq!(missing.exit, ExitStatus::Code(127));
    // One connection for four commands.
    assert_eq!(fleet.connections(1), 1);
    assert_eq!(fleet.commands_on(1).len(), 4);
    assert!(fleet.commands_on(0).is_empty());
    ssh.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_env_and_sudo_password_reach_the_host_not_the_command_line() {
    let (fleet, ssh) = start(Fleet::builder().respond(|r| Reply::ok(r.stdin.clone()))).await;
    let cmd = RemoteCommand::new("cat")
        .stdin("payload")
        .env("COLOR", "blue")
        .sudo(Sudo {
            user: None,
            password: Some(Secret::from("pw123")),
        });
    let out = bounded(ssh.run(&fleet.host_spec(0), &cmd)).await.unwrap();
    let got = &fleet.commands_on(0)[0];
    assert_eq!(got.command, "sudo -S -p '' -- sh -c cat");
    assert_eq!(got.stdin, b"pw123\npayload");
    assert_eq!(got.env, vec![("COLOR".to_string(), "blue".to_string())]);
    assert_eq!(got.user, "sflow");
    // The echoed password is scrubbed from captured output.
    assert_eq!(out.stdout.text(), "***\npayload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_hosts_in_parallel_one_connection_each() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .hosts(20)
            .respond(|r| Reply::ok(format!("{}:{}\n", r.host, r.command))),
    )
    .await;
    let runs = fleet.host_specs().into_iter().map(|h| {
        let ssh = ssh.clone();
        async move {
            let a = ssh.run(&h, &RemoteCommand::new("a")).await?;
            let b = ssh.run(&h, &RemoteCommand::new("b")).await?;
            Ok::<_, TransportError>((h.name, a.stdout.text(), b.stdout.text()))
        }
    });
    let results = bounded(futures_join_all(runs)).await;
    for (i, r) in results.into_iter().enumerate() {
        let (name, a, b) = r.unwrap();
        assert_eq!(a, format!("{name}:a\n"));
        assert_eq!(b, format!("{name}:b\n"));
        assert_eq!(fleet.connections(i), 1);
    }
    assert_eq!(ssh.open_connections(), 20);
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_host_is_unreachable_after_retries_with_last_cause() {
    let (fleet, ssh) = start(Fleet::builder().hosts(2).fault(0, Fault::Refuse)).await;
    let err = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable);
    let msg = err.to_string();
    assert!(
        msg.starts_with("host-000: unreachable after 2 attempt(s)"),
        "{msg}"
    );
    assert!(msg.contains("refused"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_connects_are_retried_with_backoff() {
    let fleet = Fleet::builder()
        .script(echo_script())
        .fault(0, Fault::DropFirstConnections(2))
        .start()
        .await
        .unwrap();
    let mut o = fast(fleet.ssh_options());
    o.retry.attempts = 3;
    let ssh = SshTransport::new(o).unwrap();
    let out = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("uptime")))
        .await
        .unwrap();
    assert_eq!(out.stdout.text(), "up 3 days\n");
    assert_eq!(fleet.connections(0), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rejected_names_user_and_key() {
    let (fleet, ssh) = start(Fleet::builder().fault(0, Fault::RejectAuth)).await;
    let err = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthRejected);
    let msg = err.to_string();
    assert!(
        msg.contains("`sflow`") && msg.contains("client_ed25519"),
        "{msg}"
    );
    // Not retried: a policy failure.
    assert_eq!(fleet.connections(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_even_under_accept_new() {
    let fleet = Fleet::builder()
        .hosts(2)
        .fault(1, Fault::WrongHostKey)
        .start()
        .await
        .unwrap();
    let mut o = fast(fleet.ssh_options());
    o.host_key_policy = HostKeyPolicy::AcceptNew;
    let ssh = SshTransport::new(o).unwrap();
    let err = bounded(ssh.run(&fleet.host_spec(1), &RemoteCommand::new("x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostKeyChanged);
    let msg = err.to_string();
    assert!(
        msg.contains("host-001") && msg.contains("ssh-ed25519 SHA256:"),
        "{msg}"
    );
    assert!(
        msg.contains(&fleet.hosts()[1].fingerprint),
        "shows the recorded key: {msg}"
    );
    assert!(fleet.commands_on(1).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_strict_refuses_accept_new_records() {
    let fleet = Fleet::builder()
        .script(echo_script())
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let mut o = fast(fleet.ssh_options());
    o.known_hosts_files = vec![kh.clone()];
    let strict = SshTransport::new(o.clone()).unwrap();
    let err = bounded(strict.run(&fleet.host_spec(0), &RemoteCommand::new("uptime")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostKeyUnknown);
    assert!(
        err.to_string().contains(&fleet.hosts()[0].fingerprint),
        "{err}"
    );

    o.host_key_policy = HostKeyPolicy::AcceptNew;
    o.known_hosts_write = Some(kh.clone());
    let accept = SshTransport::new(o.clone()).unwrap();
    bounded(accept.run(&fleet.host_spec(0), &RemoteCommand::new("uptime")))
        .await
        .unwrap();
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert!(recorded.contains(&fleet.hosts()[0].host_key), "{recorded}");
    // A later strict run trusts the recorded key.
    o.host_key_policy = HostKeyPolicy::Strict;
    let again = SshTransport::new(o).unwrap();
    bounded(again.run(&fleet.host_spec(0), &RemoteCommand::new("uptime")))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangs_before_and_during_auth_hit_their_timeouts() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .hosts(2)
            .fault(0, Fault::HangOnConnect)
            .fault(1, Fault::HangBeforeAuth),
    )
    .await;
    let (h0, h1, cmd) = (
        fleet.host_spec(0),
        fleet.host_spec(1),
        RemoteCommand::new("x"),
    );
    let start = Instant::now();
    let (a, b) = tokio::join!(ssh.run(&h0, &cmd), ssh.run(&h1, &cmd));
    // 2 attempts × 800 ms + backoff, both hosts in parallel.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let a = a.unwrap_err();
    assert_eq!(a.kind(), ErrorKind::Unreachable);
    assert!(a.to_string().contains("handshake timed out"), "{a}");
    let b = b.unwrap_err();
    assert_eq!(b.kind(), ErrorKind::Unreachable);
    assert!(b.to_string().contains("authentication timed out"), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_after_auth_times_out_the_channel_and_keepalives_declare_it_dead() {
    let fleet = Fleet::builder()
        .fault(0, Fault::HangAfterAuth)
        .start()
        .await
        .unwrap();
    let ssh = keepalive_transport(&fleet);
    let h = fleet.host_spec(0);
    let err = bounded(ssh.run(&h, &RemoteCommand::new("x")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Timeout {
                phase: Phase::ChannelOpen,
                ..
            }
        ),
        "{err}"
    );
    // The pooled connection is declared dead after two missed keepalives (about 3 s).
    let start = Instant::now();
    while ssh.open_connections() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "keepalive never declared it dead"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn timeout_on(fleet: &Fleet, ssh: &SshTransport) -> TransportError {
    let start = Instant::now();
    let err = bounded(ssh.run(
        &fleet.host_spec(0),
        &RemoteCommand::new("sleep 30").timeout(Duration::from_millis(300)),
    ))
    .await
    .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3), "{err}");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    err
}

/// What became of the process group of a command that timed out (`None` for any other error).
fn command_stop(err: &TransportError) -> Option<&StopOutcome> {
    match err {
        TransportError::Timeout {
            phase: Phase::Command,
            stopped,
            ..
        } => stopped.as_ref(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timeout_stops_the_process_group_and_reports() {
    let (fleet, ssh) = start(Fleet::builder().script(echo_script())).await;
    let err = timeout_on(&fleet, &ssh).await;
    assert_eq!(command_stop(&err), Some(&StopOutcome::Terminated), "{err}");
    assert!(
        err.to_string().contains("process group terminated"),
        "{err}"
    );
    // The kill went to the process group the command reported, and the command is gone.
    assert_eq!(fleet.stop_requests(0), vec![4000]);
    assert_eq!(fleet.running(0), 0);
    assert_eq!(fleet.commands_on(0)[0].command, "sleep 30");
    // The connection stays usable, and the marker never shows in stderr.
    let out = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("fail")))
        .await
        .unwrap();
    assert_eq!(out.stderr.text(), "boom\n");
    assert_eq!(fleet.connections(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_outliving_sigterm_is_reported_killed() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .script(echo_script())
            .fault(0, Fault::IgnoreTerm),
    )
    .await;
    let err = timeout_on(&fleet, &ssh).await;
    assert_eq!(command_stop(&err), Some(&StopOutcome::Killed), "{err}");
    assert!(err.to_string().contains("SIGKILL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timeout_when_no_channel_can_open_says_the_kill_failed() {
    let fleet = std::sync::Arc::new(
        Fleet::builder()
            .script(echo_script())
            .start()
            .await
            .unwrap(),
    );
    let ssh = SshTransport::new(fast(fleet.ssh_options())).unwrap();
    let f = fleet.clone();
    let refuse_once_running = tokio::spawn(async move {
        while f.running(0) == 0 {
            tokio::task::yield_now().await;
        }
        f.set_fault(0, Fault::RejectChannels);
    });
    let err = timeout_on(&fleet, &ssh).await;
    refuse_once_running.await.unwrap();
    match &err {
        TransportError::Timeout {
            stopped: Some(StopOutcome::Failed(why)),
            ..
        } => assert!(why.contains("kill channel open"), "{why}"),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("may still run"), "{err}");
    assert!(fleet.stop_requests(0).is_empty());
    // A refused channel open on a healthy connection is a protocol error, not a lost host.
    let refused = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("uptime")))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Protocol, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_mid_command_is_connection_lost_and_next_command_reconnects() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .respond(|_| Reply::ok(vec![b'a'; 1000]))
            .fault(0, Fault::DropMidCommand),
    )
    .await;
    let h = fleet.host_spec(0);
    let err = bounded(ssh.run(&h, &RemoteCommand::new("x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
    fleet.set_fault(0, Fault::None);
    let out = bounded(ssh.run(&h, &RemoteCommand::new("x")))
        .await
        .unwrap();
    assert_eq!(out.stdout.bytes.len(), 1000);
    assert_eq!(fleet.connections(0), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_output_is_complete_and_huge_output_is_capped() {
    let fleet = Fleet::builder()
        .hosts(2)
        .respond(|_| Reply::ok("abcdefghij"))
        .fault(
            0,
            Fault::Trickle {
                chunk: 2,
                every: Duration::from_millis(30),
            },
        )
        .fault(1, Fault::HugeOutput(100 * 1024 * 1024))
        .start()
        .await
        .unwrap();
    let ssh = SshTransport::new(fast(fleet.ssh_options())).unwrap();
    let slow = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("x")))
        .await
        .unwrap();
    assert_eq!(slow.stdout.text(), "abcdefghij");
    assert!(slow.timings.exec >= Duration::from_millis(120));
    let huge = bounded(ssh.run(&fleet.host_spec(1), &RemoteCommand::new("x")))
        .await
        .unwrap();
    assert_eq!(
        huge.stdout.bytes.len(),
        sflow::transport::DEFAULT_OUTPUT_CAP
    );
    assert!(huge.stdout.truncated);
    assert_eq!(huge.stdout.total, 100 * 1024 * 1024);
    assert_eq!(huge.exit, ExitStatus::Code(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_by_signal_fault() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .script(echo_script())
            .fault(0, Fault::ExitSignal("TERM".into())),
    )
    .await;
    let out = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("uptime")))
        .await
        .unwrap();
    assert_eq!(out.exit, ExitStatus::Signal("TERM".into()));
    assert_eq!(out.stdout.text(), "up 3 days\n");
    assert_eq!(Reply::signal("KILL").exit, Exit::Signal("KILL".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_hosts_share_one_bastion_connection() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .hosts(4)
            .respond(|r| Reply::ok(format!("{}\n", r.host))),
    )
    .await;
    let bastion = fleet.host_spec(0);
    for i in 1..4 {
        let h = fleet.host_spec(i).jump(bastion.clone());
        let out = bounded(ssh.run(&h, &RemoteCommand::new("hostname")))
            .await
            .unwrap();
        assert_eq!(out.stdout.text(), format!("host-00{i}\n"));
        let again = bounded(ssh.run(&h, &RemoteCommand::new("hostname")))
            .await
            .unwrap();
        assert!(again.timings.reused);
    }
    assert_eq!(
        fleet.connections(0),
        1,
        "one bastion connection for all hosts behind it"
    );
    assert!(fleet.commands_on(0).is_empty());
    // A target behind an unreachable bastion names the bastion in the cause.
    let dead = Fleet::builder()
        .fault(0, Fault::Refuse)
        .start()
        .await
        .unwrap();
    let h = fleet.host_spec(1).jump(dead.host_spec(0));
    let err = bounded(ssh.run(&h, &RemoteCommand::new("x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable);
    assert!(err.to_string().contains("via host-000"), "{err}");
    ssh.close().await;
    assert_eq!(ssh.open_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transports_dispatch_on_host_kind() {
    let fleet = Fleet::builder()
        .script(echo_script())
        .start()
        .await
        .unwrap();
    let both = sflow::transport::Transports::new(fast(fleet.ssh_options())).unwrap();
    let remote = bounded(both.run(&fleet.host_spec(0), &RemoteCommand::new("uptime")))
        .await
        .unwrap();
    assert_eq!(remote.stdout.text(), "up 3 days\n");
    let local = sflow::transport::HostSpec::local("localhost");
    bounded(both.open(&local)).await.unwrap();
    let out = bounded(both.run(&local, &RemoteCommand::new("echo here")))
        .await
        .unwrap();
    assert_eq!(out.stdout.text(), "here\n");
    assert_eq!(
        fleet.commands_on(0).len(),
        1,
        "the local command never reached the fleet"
    );
    both.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_dropped_by_the_server_is_replaced_transparently() {
    let (fleet, ssh) = start(Fleet::builder().script(echo_script())).await;
    let h = fleet.host_spec(0);
    bounded(ssh.run(&h, &RemoteCommand::new("uptime")))
        .await
        .unwrap();
    fleet.drop_connections(0);
    let out = bounded(ssh.run(&h, &RemoteCommand::new("uptime")))
        .await
        .unwrap();
    assert_eq!(out.stdout.text(), "up 3 days\n");
    assert!(!out.timings.reused, "a fresh connection was opened");
    assert_eq!(fleet.connections(0), 2);
    assert_eq!(
        fleet.commands_on(0).len(),
        2,
        "the command ran exactly once more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_exec_is_a_protocol_error_and_refused_env_is_exported() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .hosts(2)
            .respond(|r| Reply::ok(r.command.clone()))
            .fault(0, Fault::RejectExec)
            .fault(1, Fault::RejectEnv),
    )
    .await;
    let err = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("true")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("exec"), "{err}");
    let out = bounded(ssh.run(
        &fleet.host_spec(1),
        &RemoteCommand::new("env").env("SFLOW_A", "it's"),
    ))
    .await
    .unwrap();
    assert_eq!(out.stdout.text(), r"export SFLOW_A='it'\''s'; env");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_and_missing_identity_file_are_reported() {
    let fleet = Fleet::builder().start().await.unwrap();
    let mut none = fast(fleet.ssh_options());
    none.identity_files.clear();
    let err = bounded(
        SshTransport::new(none)
            .unwrap()
            .run(&fleet.host_spec(0), &RemoteCommand::new("x")),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthRejected, "{err}");
    assert!(err.to_string().contains("no identity file"), "{err}");
    let mut missing = fast(fleet.ssh_options());
    missing.identity_files = vec![fleet.known_hosts_path().with_file_name("absent_key")];
    let err = bounded(
        SshTransport::new(missing)
            .unwrap()
            .run(&fleet.host_spec(0), &RemoteCommand::new("x")),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("absent_key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_command_stops_its_process_group() {
    let (fleet, ssh) = start(Fleet::builder().script(echo_script())).await;
    let h = fleet.host_spec(0);
    // The engine's own timeout drops the future instead of setting one on the command. Drop it
    // once the command runs (a fixed delay could fire before the exec on a busy machine).
    let run = tokio::spawn({
        let (ssh, h) = (ssh.clone(), h.clone());
        async move { ssh.run(&h, &RemoteCommand::new("sleep 30")).await }
    });
    bounded(async {
        while fleet.running(0) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    run.abort();
    assert!(run.await.is_err_and(|e| e.is_cancelled()));
    bounded(async {
        while fleet.running(0) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(fleet.stop_requests(0), vec![4000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timeout_without_a_process_group_id_says_so() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .script(echo_script())
            .fault(0, Fault::NoProcessGroupMarker),
    )
    .await;
    let err = timeout_on(&fleet, &ssh).await;
    match &err {
        TransportError::Timeout {
            stopped: Some(StopOutcome::Failed(why)),
            ..
        } => assert!(why.contains("process group id never arrived"), "{why}"),
        other => panic!("{other}"),
    }
    assert!(fleet.stop_requests(0).is_empty());
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_dropped_before_its_process_group_id_arrived_is_still_stopped() {
    let fleet = Fleet::builder()
        .script(echo_script())
        .fault(0, Fault::LateMarker(Duration::from_secs(60)))
        .start()
        .await
        .unwrap();
    let ssh = SshTransport::new(fast(fleet.ssh_options())).unwrap();
    let run = tokio::spawn({
        let (ssh, h) = (ssh.clone(), fleet.host_spec(0));
        async move { ssh.run(&h, &RemoteCommand::new("sleep 30")).await }
    });
    // The command runs and its shell has not yet said its process group id (held until
    // released): the future is dropped now.
    wait_until("the command runs", || fleet.running(0) == 1).await;
    run.abort();
    assert!(run.await.is_err_and(|e| e.is_cancelled()));
    assert!(fleet.stop_requests(0).is_empty());
    fleet.release_markers(0);
    wait_until("the command is stopped", || fleet.running(0) == 0).await;
    assert_eq!(fleet.stop_requests(0), vec![4000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timed_out_before_its_process_group_id_arrived_is_still_stopped() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .script(echo_script())
            .fault(0, Fault::LateMarker(Duration::from_millis(600))),
    )
    .await;
    // The command times out at 200 ms; its group id arrives at 600 ms, inside the 800 ms the
    // transport still reads the channel for it.
    let err = bounded(ssh.run(
        &fleet.host_spec(0),
        &RemoteCommand::new("sleep 30").timeout(Duration::from_millis(200)),
    ))
    .await
    .unwrap_err();
    assert_eq!(command_stop(&err), Some(&StopOutcome::Terminated), "{err}");
    assert_eq!(fleet.stop_requests(0), vec![4000]);
    assert_eq!(fleet.running(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_answers_gone_unexpected_or_none_are_reported() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .hosts(4)
            .script(echo_script())
            .fault(0, Fault::KillAnswer("gone\n".into()))
            .fault(1, Fault::KillAnswer("what?\n".into()))
            .fault(2, Fault::SilentKill)
            .fault(3, Fault::KillAnswer("y".repeat(100_000))),
    )
    .await;
    let stop_on = |i: usize| {
        let (ssh, h) = (ssh.clone(), fleet.host_spec(i));
        async move {
            let cmd = RemoteCommand::new("sleep 30").timeout(Duration::from_millis(300));
            match ssh.run(&h, &cmd).await {
                Err(TransportError::Timeout {
                    stopped: Some(s), ..
                }) => s,
                other => panic!("{other:?}"),
            }
        }
    };
    let start = Instant::now();
    let (gone, odd, silent, long) =
        bounded(async { tokio::join!(stop_on(0), stop_on(1), stop_on(2), stop_on(3)) }).await;
    assert_eq!(gone, StopOutcome::AlreadyExited);
    assert_eq!(
        odd,
        StopOutcome::Failed(r#"unexpected answer "what?""#.into())
    );
    // No answer: given up after the grace and a second, not hung.
    match silent {
        StopOutcome::Failed(why) => assert!(why.contains("no answer within 3s"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A long answer is read to the end but kept short.
    match long {
        StopOutcome::Failed(why) => {
            assert!(why.starts_with(r#"unexpected answer "yyy"#), "{why}");
            assert!(why.len() < 600, "{}", why.len());
        }
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    // One kill per host, each for its own command's group (ids are handed out fleet-wide).
    let mut all: Vec<u32> = (0..4).flat_map(|i| fleet.stop_requests(i)).collect();
    all.sort_unstable();
    assert_eq!(all, vec![4000, 4001, 4002, 4003]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_env_request_times_out() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .script(echo_script())
            .fault(0, Fault::HangEnv),
    )
    .await;
    let err = bounded(ssh.run(
        &fleet.host_spec(0),
        &RemoteCommand::new("uptime").env("LANG", "C"),
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Timeout {
                phase: Phase::ChannelOpen,
                stopped: None,
                ..
            }
        ),
        "{err}"
    );
    assert!(fleet.commands_on(0).is_empty(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_during_authentication_is_not_an_auth_rejection() {
    let (fleet, ssh) = start(Fleet::builder().fault(0, Fault::DropDuringAuth)).await;
    let err = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("x")))
        .await
        .unwrap_err();
    // Transient, so retried, then reported unreachable with the cause.
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    assert!(err.to_string().contains("during authentication"), "{err}");
    assert_eq!(fleet.connections(0), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_that_stops_reading_blocks_stdin_until_the_timeout() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .respond(|r| Reply::ok(format!("{}\n", r.stdin.len())))
            .fault(0, Fault::StopReading),
    )
    .await;
    // Far more than the socket buffers hold: the client's writes block on the socket.
    let cmd = RemoteCommand::new("cat")
        .stdin(vec![b'x'; 24 * 1024 * 1024])
        .timeout(Duration::from_millis(500));
    let start = Instant::now();
    let err = bounded(ssh.run(&fleet.host_spec(0), &cmd))
        .await
        .unwrap_err();
    // The kill needs a channel, which the deaf peer never opens.
    match &err {
        TransportError::Timeout {
            phase: Phase::Command,
            stopped: Some(StopOutcome::Failed(why)),
            ..
        } => assert!(why.contains("kill channel open timed out"), "{why}"),
        other => panic!("{other}"),
    }
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert!(fleet.commands_on(0).is_empty(), "stdin never completed");
    // The half-written input wedged the session: the connection is retired, the next command
    // gets a fresh one.
    assert_eq!(ssh.open_connections(), 0);
    fleet.set_fault(0, Fault::None);
    let out = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("cat").stdin("abc")))
        .await
        .unwrap();
    assert_eq!(out.stdout.text(), "3\n");
    assert_eq!(fleet.connections(0), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_gone_silent_mid_command_is_lost_by_keepalive_and_healthy_ones_are_kept() {
    let fleet = Fleet::builder()
        .hosts(3)
        .respond(|_| Reply::ok("done\n").delay(Duration::from_millis(3500)))
        .fault(0, Fault::StopReading)
        .fault(2, Fault::StopReading)
        .start()
        .await
        .unwrap();
    let ssh = keepalive_transport(&fleet);
    let (h0, h1, work) = (
        fleet.host_spec(0),
        fleet.host_spec(1),
        RemoteCommand::new("work"),
    );
    // Host 2 is reached through host 1: its silence is seen by the tunnel's clock.
    let h2 = fleet.host_spec(2).jump(h1.clone());
    let (silent, healthy, tunneled) = bounded(async {
        tokio::join!(
            ssh.run(&h0, &work),
            ssh.run(&h1, &work),
            ssh.run(&h2, &work)
        )
    })
    .await;
    for r in [silent, tunneled] {
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
        assert!(
            err.to_string().contains("no reply to 2 keepalives"),
            "{err}"
        );
    }
    // A peer that answers keepalives is never declared dead, however long the command.
    let out = healthy.unwrap();
    assert_eq!(out.stdout.text(), "done\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_send_failure_retires_an_idle_connection() {
    let fleet = Fleet::builder().start().await.unwrap();
    let mut o = fast(fleet.ssh_options());
    // So many misses allowed that only a failed send can retire it within the bound.
    o.keepalive = KeepalivePolicy {
        interval: Duration::from_secs(1),
        max_misses: 100,
    };
    let ssh = SshTransport::new(o).unwrap();
    bounded(ssh.open(&fleet.host_spec(0))).await.unwrap();
    assert_eq!(ssh.open_connections(), 1);
    fleet.drop_connections(0);
    wait_until("the keepalive retires it", || ssh.open_connections() == 0).await;
    // Closing skips the goodbye on a dead connection instead of waiting on it.
    bounded(ssh.close()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_host_edge_cases() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .hosts(3)
            .respond(|r| Reply::ok(format!("{}\n", r.host)))
            .fault(2, Fault::Refuse),
    )
    .await;
    let bastion = fleet.host_spec(0);
    // The bastion is up but the target behind it refuses: the bastion rejects direct-tcpip.
    let err = bounded(ssh.run(
        &fleet.host_spec(2).jump(bastion.clone()),
        &RemoteCommand::new("x"),
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    assert!(err.to_string().contains("direct-tcpip"), "{err}");
    // A host named by its address (no inventory name): the label is the address alone.
    let addr = fleet.hosts()[1].addr;
    let by_addr = sflow::transport::HostSpec::new(addr.ip().to_string())
        .port(addr.port())
        .user("sflow")
        .jump(bastion);
    let out = bounded(ssh.run(&by_addr, &RemoteCommand::new("x")))
        .await
        .unwrap();
    assert_eq!(out.stdout.text(), "host-001\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failures_other_than_refusal_keep_their_cause() {
    let (fleet, ssh) = start(Fleet::builder().fault(0, Fault::DropFirstConnections(10))).await;
    let err = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    assert!(err.to_string().contains("after 2 attempt(s)"), "{err}");
    assert!(err.to_string().contains("handshake failed"), "{err}");
    assert!(!err.to_string().contains("host-000: host-000"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_identity_file_from_ssh_config_is_skipped() {
    let fleet = Fleet::builder()
        .script(echo_script())
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let absent = dir.path().join("absent_key");
    // Only ssh config names keys: the absent one first, then the fleet's.
    std::fs::write(
        &config,
        format!(
            "Host *\n IdentityFile {}\n IdentityFile {}\n",
            absent.display(),
            fleet.client_key_path().display()
        ),
    )
    .unwrap();
    let mut o = fast(fleet.ssh_options());
    o.identity_files.clear();
    o.ssh_config = Some(config);
    let ssh = SshTransport::new(o).unwrap();
    let out = bounded(ssh.run(&fleet.host_spec(0), &RemoteCommand::new("uptime")))
        .await
        .unwrap();
    assert_eq!(out.stdout.text(), "up 3 days\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_that_stops_reading_mid_stdin_is_lost_by_keepalive_without_a_timeout() {
    let fleet = Fleet::builder()
        .respond(|r| Reply::ok(format!("{}\n", r.stdin.len())))
        .fault(0, Fault::StopReading)
        .start()
        .await
        .unwrap();
    let ssh = keepalive_transport(&fleet);
    // No command timeout: only the keepalives can end this. The socket stays full, so no
    // keepalive can even be sent; each interval spent trying counts as a miss.
    let cmd = RemoteCommand::new("cat").stdin(vec![b'x'; 24 * 1024 * 1024]);
    let start = Instant::now();
    let err = bounded(ssh.run(&fleet.host_spec(0), &cmd))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
    assert!(
        err.to_string().contains("no reply to 2 keepalives"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(fleet.commands_on(0).is_empty(), "stdin never completed");
    assert_eq!(ssh.open_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_host_times_out_connecting_directly_and_through_a_bastion() {
    let (fleet, ssh) = start(Fleet::builder().hosts(2).fault(1, Fault::Blackhole)).await;
    let cmd = RemoteCommand::new("x");
    let (direct, tunneled) = (
        fleet.host_spec(1),
        fleet.host_spec(1).jump(fleet.host_spec(0)),
    );
    let start = Instant::now();
    let (direct, tunneled) =
        bounded(async { tokio::join!(ssh.run(&direct, &cmd), ssh.run(&tunneled, &cmd)) }).await;
    // 2 attempts × 800 ms + backoff, both at once.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    for err in [direct.unwrap_err(), tunneled.unwrap_err()] {
        assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
        assert!(
            err.to_string().contains("connect timed out after 800ms"),
            "{err}"
        );
    }
    assert_eq!(fleet.connections(1), 0, "no SYN ever reached it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_through_a_bastion_closes_its_tunnel() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .hosts(3)
            .respond(|r| Reply::ok(format!("{}\n", r.host)))
            .fault(1, Fault::WrongHostKey),
    )
    .await;
    let bastion = fleet.host_spec(0);
    let err = bounded(ssh.run(
        &fleet.host_spec(1).jump(bastion.clone()),
        &RemoteCommand::new("x"),
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostKeyChanged, "{err}");
    // The attempt's session is gone; its tunnel through the bastion must not stay open.
    wait_until("the bastion closes the tunnel", || fleet.tunnels(0) == 0).await;
    // The bastion connection itself stays in use for other targets.
    let out = bounded(ssh.run(&fleet.host_spec(2).jump(bastion), &RemoteCommand::new("x")))
        .await
        .unwrap();
    assert_eq!(out.stdout.text(), "host-002\n");
    assert_eq!(fleet.tunnels(0), 1);
    assert_eq!(fleet.connections(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_stdin_arrives_whole_directly_and_through_a_bastion() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .hosts(2)
            .respond(|r| Reply::ok(format!("{}\n", r.stdin.len()))),
    )
    .await;
    // More than the SSH window and the socket buffers: the writes wait on both.
    let cmd = RemoteCommand::new("cat").stdin(vec![b'x'; 8 * 1024 * 1024]);
    let (direct, tunneled) = (
        fleet.host_spec(0),
        fleet.host_spec(1).jump(fleet.host_spec(0)),
    );
    let (direct, tunneled) =
        bounded(async { tokio::join!(ssh.run(&direct, &cmd), ssh.run(&tunneled, &cmd)) }).await;
    assert_eq!(direct.unwrap().stdout.text(), "8388608\n");
    assert_eq!(tunneled.unwrap().stdout.text(), "8388608\n");
}

#[test]
fn a_command_dropped_outside_its_runtime_is_still_stopped() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (fleet, ssh) = rt.block_on(start(Fleet::builder().script(echo_script())));
    let (h, cmd) = (fleet.host_spec(0), RemoteCommand::new("sleep 30"));
    let mut run = Box::pin(ssh.run(&h, &cmd));
    rt.block_on(async {
        tokio::select! {
            r = &mut run => panic!("the command ended: {r:?}"),
            () = wait_until("the command runs", || fleet.running(0) == 1) => {}
        }
    });
    // No runtime is current on this thread now: the stop goes to the command's runtime.
    drop(run);
    rt.block_on(wait_until("the command is stopped", || {
        fleet.running(0) == 0
    }));
    assert_eq!(fleet.stop_requests(0), vec![4000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_ending_before_its_process_group_id_arrived_is_not_waited_for() {
    let fleet = Fleet::builder()
        .respond(|_| Reply::ok("late\n").delay(Duration::from_millis(600)))
        .fault(0, Fault::NoProcessGroupMarker)
        .start()
        .await
        .unwrap();
    let mut o = fast(fleet.ssh_options());
    // The marker is waited for up to min(channel timeout, 2 s) = 2 s.
    o.timeouts.channel = Duration::from_secs(2);
    let ssh = SshTransport::new(o).unwrap();
    let cmd = RemoteCommand::new("work").timeout(Duration::from_millis(100));
    let start = Instant::now();
    let err = bounded(ssh.run(&fleet.host_spec(0), &cmd))
        .await
        .unwrap_err();
    match command_stop(&err) {
        Some(StopOutcome::Failed(why)) => {
            assert!(why.contains("process group id never arrived"), "{why}");
        }
        other => panic!("{other:?}: {err}"),
    }
    // The command's output ended at about 0.6 s: no reason to wait out the 2 s.
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_refused_or_cut_short_is_reported() {
    let (fleet, ssh) = start(
        Fleet::builder()
            .hosts(2)
            .script(echo_script())
            .fault(0, Fault::RefuseKill)
            .fault(1, Fault::DropOnKill),
    )
    .await;
    let stop_on = |i: usize| {
        let (ssh, h) = (ssh.clone(), fleet.host_spec(i));
        async move {
            let cmd = RemoteCommand::new("sleep 30").timeout(Duration::from_millis(300));
            let err = ssh.run(&h, &cmd).await.unwrap_err();
            match command_stop(&err) {
                Some(StopOutcome::Failed(why)) => why.clone(),
                other => panic!("{other:?}: {err}"),
            }
        }
    };
    let (refused, cut) = bounded(async { tokio::join!(stop_on(0), stop_on(1)) }).await;
    assert!(refused.starts_with("kill exec: "), "{refused}");
    assert!(cut.starts_with("kill read: "), "{cut}");
    // Each host got its kill request (group ids are handed out fleet-wide).
    let mut all: Vec<u32> = (0..2).flat_map(|i| fleet.stop_requests(i)).collect();
    all.sort_unstable();
    assert_eq!(all, vec![4000, 4001]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs8_key_is_decrypted_by_libssh2_with_the_prompted_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_pkcs8");
    let made = std::process::Command::new("ssh-keygen")
        .args([
            "-q", "-t", "ecdsa", "-b", "256", "-m", "PKCS8", "-N", "p8-pw", "-C", "", "-f",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success(), "ssh-keygen failed");
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let fleet = Fleet::builder()
        .hosts(2)
        .script(echo_script())
        .authorize(&public)
        .start()
        .await
        .unwrap();
    let prompts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut o = fast(fleet.ssh_options());
    o.identity_files = vec![key.clone()];
    o.passphrase_prompt = Some(std::sync::Arc::new({
        let prompts = prompts.clone();
        move |_: &std::path::Path| {
            prompts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Some(Secret::from("p8-pw"))
        }
    }));
    let ssh = SshTransport::new(o).unwrap();
    for i in 0..2 {
        let out = bounded(ssh.run(&fleet.host_spec(i), &RemoteCommand::new("uptime")))
            .await
            .unwrap();
        assert_eq!(out.stdout.text(), "up 3 days\n");
    }
    // Asked once per run; libssh2 gets the passphrase again for each connection.
    assert_eq!(prompts.load(std::sync::atomic::Ordering::SeqCst), 1);
}

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
    const NAME: &str = "the_agent_is_tried_first_and_a_broken_agent_is_skipped";
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
    const NAME: &str = "running_out_of_file_descriptors_fails_the_tunnel_not_the_run";
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
