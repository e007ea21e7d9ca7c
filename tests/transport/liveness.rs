//! Dead and wedged peers: keepalive misses, peers that stop reading, failed keepalives.

use super::*;

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
