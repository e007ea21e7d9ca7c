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

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[path = "transport/child.rs"]
mod child;
#[path = "transport/commands.rs"]
mod commands;
#[path = "transport/connect.rs"]
mod connect;
#[path = "transport/liveness.rs"]
mod liveness;
#[path = "transport/stop.rs"]
mod stop;
