//! Commands on open connections: exit codes, stdin/env/sudo, output caps, pooling, refused
//! requests, dropped connections.

use super::*;

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
