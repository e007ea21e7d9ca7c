//! The library API end to end: the code of `examples/api.rs` (the OS-patching workflow built
//! in Rust) runs through `Engine::execute` against the in-process SSH fleet, with host keys
//! checked strictly against the fleet's known_hosts.

#[path = "../examples/api.rs"]
#[allow(dead_code)]
mod example;

use chrono::{DateTime, Utc};
use sflow::api::{Engine, Host, RunStatus, SshAuth};
use sflow::engine::VirtualClock;
use sflow::testing::{Fault, Fleet, Reply, Request};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

const DPKG: &str = "dpkg -l | grep -E 'openssl|bash|kernel'";
const BACKUP: &str = "tar -czf /backup/$(hostname)-$(date +%Y%m%d).tar.gz /etc";

/// apt and dpkg as on a Debian host: dpkg shows the old openssl until the host upgraded.
fn debian(healthy_canary: bool) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    let upgraded = Mutex::new(HashSet::new());
    move |req| {
        let mut upgraded = upgraded.lock().unwrap_or_else(PoisonError::into_inner);
        match req.command.as_str() {
            DPKG => {
                let v = if upgraded.contains(&req.host) {
                    "3.0.15-1~deb12u1"
                } else {
                    "3.0.11-1~deb12u2"
                };
                Reply::ok(format!(
                    "ii  openssl  {v}  amd64\nii  bash  5.2.15-2+b7  amd64\n"
                ))
            }
            "sudo -n -- sh -c 'apt-get -y upgrade'" => {
                upgraded.insert(req.host.clone());
                Reply::ok("1 upgraded, 0 newly installed\n")
            }
            "curl -s http://localhost/health | grep -q 'OK'"
                if req.host == "host-000" && !healthy_canary =>
            {
                Reply::fail(1, "")
            }
            BACKUP
            | "apt-get update"
            | "sudo -n -- sh -c 'systemctl restart nginx'"
            | "curl -s http://localhost/health | grep -q 'OK'" => Reply::ok(""),
            _ => Reply::fail(127, "command not found\n"),
        }
    }
}

/// Five hosts: web host-000 (the canary) and host-001, db host-002, cache host-003 and 004.
async fn run(healthy_canary: bool, fault: Option<Fault>) -> (Fleet, sflow::api::RunResult) {
    let mut builder = Fleet::builder().hosts(5).respond(debian(healthy_canary));
    if let Some(f) = fault {
        builder = builder.fault(1, f);
    }
    let fleet = match builder.start().await {
        Ok(f) => f,
        Err(e) => panic!("fleet: {e}"),
    };
    let hosts = |r: std::ops::Range<usize>| -> Vec<Host> {
        fleet.hosts()[r]
            .iter()
            .map(|h| {
                Host::new(h.name.clone())
                    .address(h.addr.ip().to_string())
                    .port(h.addr.port())
                    .user("sflow")
            })
            .collect()
    };
    let (inventory, workflow) = example::os_patching(hosts(0..2), hosts(2..3), hosts(3..5));
    // Sunday 01:00 UTC: every window is open; the clock runs at real speed from there.
    let sunday = DateTime::parse_from_rfc3339("2026-12-06T01:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default();
    let engine = Engine::new(inventory, SshAuth::from_keyfile(fleet.client_key_path()))
        .known_hosts(fleet.known_hosts_path())
        .ssh_config(None)
        .clock(Arc::new(VirtualClock::starting_at(sunday)));
    match engine.execute(&workflow).await {
        Ok(result) => (fleet, result),
        Err(e) => panic!("{e}"),
    }
}

fn commands_on(fleet: &Fleet, i: usize) -> Vec<String> {
    fleet
        .commands_on(i)
        .into_iter()
        .map(|r| r.command)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_example_patches_the_fleet_wave_by_wave() {
    let (fleet, result) = run(true, None).await;
    assert_eq!(result.status, RunStatus::Succeeded, "{result:#?}");
    assert_eq!(
        result.successful_servers,
        ["host-000", "host-001", "host-002", "host-003", "host-004"]
    );
    assert!(result.failed_servers.is_empty());
    let web = [
        DPKG,
        BACKUP,
        "apt-get update",
        "sudo -n -- sh -c 'apt-get -y upgrade'",
        DPKG,
        "sudo -n -- sh -c 'systemctl restart nginx'",
        "curl -s http://localhost/health | grep -q 'OK'",
    ];
    assert_eq!(commands_on(&fleet, 0), web);
    assert_eq!(commands_on(&fleet, 1), web);
    for i in 2..5 {
        assert_eq!(commands_on(&fleet, i), web[..5], "host {i}");
    }
    assert_eq!(result.verification_results.len(), 5);
    assert!(
        result
            .verification_results
            .iter()
            .all(|v| v.passed && v.verify == "package_versions"),
        "{:?}",
        result.verification_results
    );
    // Waves in order: the canary, then the other web server, then db, then cache.
    let log = fleet.commands();
    let first = |i: usize| log.iter().position(|r| r.host_index == i);
    let last = |i: usize| log.iter().rposition(|r| r.host_index == i);
    assert!(last(0) < first(1));
    assert!(last(1) < first(2));
    assert!(last(2) < first(3) && last(2) < first(4));
    let waves: Vec<&str> = ["host-000", "host-001", "host-002", "host-003"]
        .iter()
        .map(|h| result.hosts[*h].wave.as_str())
        .collect();
    assert_eq!(waves, ["canary", "web", "db", "cache"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_canary_halts_and_a_wrong_host_key_is_refused() {
    let (fleet, result) = run(false, None).await;
    assert_eq!(result.status, RunStatus::Halted);
    assert_eq!(result.failed_servers, ["host-000"]);
    assert!(fleet.commands().iter().all(|r| r.host_index == 0));

    // Strict host keys by default: a host presenting another key is refused, never run on.
    let (fleet, result) = run(true, Some(Fault::WrongHostKey)).await;
    assert!(
        result.failed_servers.contains(&"host-001".to_string()),
        "{result:#?}"
    );
    assert!(commands_on(&fleet, 1).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_keys_are_refused_unless_accept_new_records_them() {
    use sflow::api::{HostKeyPolicy, Inventory, Task, Workflow};
    let fleet = match Fleet::builder()
        .hosts(2)
        .respond(|r| {
            if r.command == "uptime" {
                Reply::ok("up 3 days\n")
            } else {
                Reply::fail(127, "")
            }
        })
        .start()
        .await
    {
        Ok(f) => f,
        Err(e) => panic!("fleet: {e}"),
    };
    let mut inventory = Inventory::new();
    for h in fleet.hosts() {
        inventory.add_host(
            Host::new(h.name.clone())
                .address(h.addr.ip().to_string())
                .port(h.addr.port())
                .user("sflow"),
        );
    }
    let mut workflow = Workflow::new("up");
    workflow.add_task(Task::new("uptime").on("all").run("uptime"));
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let known_hosts = dir.path().join("known_hosts");
    if let Err(e) = std::fs::write(&known_hosts, "") {
        panic!("{e}");
    }
    let run = |policy: Option<HostKeyPolicy>| {
        let mut engine = Engine::new(
            inventory.clone(),
            SshAuth::from_keyfile(fleet.client_key_path()),
        )
        .known_hosts(&known_hosts)
        .ssh_config(None);
        if let Some(p) = policy {
            engine = engine.host_key_policy(p);
        }
        let workflow = workflow.clone();
        async move {
            match engine.execute(&workflow).await {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            }
        }
    };
    // Strict by default: keys not in known_hosts refuse both hosts; nothing runs.
    let refused = run(None).await;
    assert_eq!(refused.failed_servers, ["host-000", "host-001"]);
    assert!(fleet.commands().is_empty());
    // Accept-new records the keys and runs.
    let accepted = run(Some(HostKeyPolicy::AcceptNew)).await;
    assert_eq!(accepted.status, RunStatus::Succeeded, "{accepted:#?}");
    let recorded = std::fs::read_to_string(&known_hosts).unwrap_or_default();
    assert_eq!(recorded.lines().count(), 2, "{recorded}");
    // From then on the strict default trusts them.
    let strict = run(None).await;
    assert_eq!(strict.successful_servers, ["host-000", "host-001"]);
    assert_eq!(fleet.commands().len(), 4);
}
