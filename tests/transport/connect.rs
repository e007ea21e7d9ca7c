//! Connecting: refusals, retries, hangs, host keys, credentials, jump hosts.

use super::*;

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
async fn black_holed_host_times_out_connecting_directly_and_through_a_bastion() {
    let fleet = Fleet::builder()
        .hosts(2)
        .fault(1, Fault::Blackhole)
        .start()
        .await
        .unwrap();
    let mut o = fast(fleet.ssh_options());
    // One attempt is enough to see the timeout (retries are tested elsewhere).
    o.retry.attempts = 1;
    let ssh = SshTransport::new(o).unwrap();
    let cmd = RemoteCommand::new("x");
    let (direct, tunneled) = (
        fleet.host_spec(1),
        fleet.host_spec(1).jump(fleet.host_spec(0)),
    );
    let start = Instant::now();
    let (direct, tunneled) =
        bounded(async { tokio::join!(ssh.run(&direct, &cmd), ssh.run(&tunneled, &cmd)) }).await;
    // One 800 ms connect timeout, both at once.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    for err in [direct.unwrap_err(), tunneled.unwrap_err()] {
        assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
        assert!(
            err.to_string()
                .contains("after 1 attempt(s): connect timed out after 800ms"),
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
