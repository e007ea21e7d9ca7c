//! Fleet benchmark of the SSH transport against a loopback sshd that answers on many
//! 127.0.x.y addresses: one command per host at a bounded parallelism (wall time, client CPU
//! per connection), then the latency of a second command on an open connection.
//!
//! Run by `scripts/bench-fleet.sh`, which starts the sshd and passes its settings in the
//! environment; without them this binary explains itself and exits 0.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sflow::transport::ssh::{SshOptions, SshTransport};
use sflow::transport::{HostSpec, RemoteCommand, Transport};

fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn main() {
    let (Some(hosts), Some(port), Some(key), Some(known)) = (
        env("SFLOW_BENCH_HOSTS"),
        env("SFLOW_BENCH_PORT"),
        env("SFLOW_BENCH_KEY"),
        env("SFLOW_BENCH_KNOWN_HOSTS"),
    ) else {
        println!("ssh_fleet: needs a loopback sshd; run scripts/bench-fleet.sh");
        return;
    };
    let port: u16 = port.parse().unwrap_or(22);
    let parallel: usize = env("SFLOW_BENCH_PARALLEL")
        .and_then(|p| p.parse().ok())
        .unwrap_or(100);
    let command = env("SFLOW_BENCH_COMMAND").unwrap_or_else(|| "true".into());
    let user = env("SFLOW_BENCH_USER").unwrap_or_else(|| "root".into());
    let addrs: Vec<String> = std::fs::read_to_string(&hosts)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(run(addrs, port, user, key, known, parallel, command));
}

async fn run(
    addrs: Vec<String>,
    port: u16,
    user: String,
    key: String,
    known: String,
    parallel: usize,
    command: String,
) {
    let opts = SshOptions {
        identity_files: vec![PathBuf::from(key)],
        known_hosts_files: vec![PathBuf::from(known)],
        ..SshOptions::default()
    };
    let ssh = SshTransport::new(opts).unwrap_or_else(|e| panic!("{e}"));
    let hosts: Vec<HostSpec> = addrs
        .iter()
        .map(|a| {
            HostSpec::new(a.clone())
                .address(a.clone())
                .port(port)
                .user(user.clone())
        })
        .collect();
    let cmd = RemoteCommand::new(command);

    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let cpu0 = cpu_time();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for h in hosts.clone() {
        let (ssh, cmd, gate) = (ssh.clone(), cmd.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            ssh.run(&h, &cmd).await
        }));
    }
    let mut failed = 0usize;
    let mut connect = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(out)) => connect.push(out.timings.connect + out.timings.auth),
            Ok(Err(e)) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("error: {e}");
                }
            }
            Err(e) => eprintln!("task: {e}"),
        }
    }
    let wall = start.elapsed();
    let cpu = cpu_time() - cpu0;
    let n = hosts.len().max(1);
    println!("hosts={} parallel={parallel} failed={failed}", hosts.len());
    println!("first_command_wall_s={:.3}", wall.as_secs_f64());
    println!(
        "client_cpu_total_s={:.3} client_cpu_per_conn_ms={:.2}",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0 / n as f64
    );
    connect.sort();
    if let Some(p50) = connect.get(connect.len() / 2) {
        println!("connect_plus_auth_p50_ms={:.1}", p50.as_secs_f64() * 1000.0);
    }

    // Second command on open connections, one at a time so the figure is latency, not queueing.
    let sample = hosts.len().min(200);
    let mut lat = Vec::with_capacity(sample);
    for h in hosts.iter().take(sample) {
        let t = Instant::now();
        if let Ok(out) = ssh.run(h, &cmd).await {
            if out.timings.reused {
                lat.push(t.elapsed());
            }
        }
    }
    lat.sort();
    let pct = |p: usize| {
        lat.get(lat.len() * p / 100)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "second_command_n={} p50_ms={:.2} p90_ms={:.2}",
        lat.len(),
        pct(50),
        pct(90)
    );
    ssh.close().await;
}
