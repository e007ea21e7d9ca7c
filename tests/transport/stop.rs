//! Command timeouts and abandoned commands: the remote process group stopped, and every way
//! the stop can fail.

use super::*;

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
