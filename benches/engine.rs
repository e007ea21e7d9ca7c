//! Engine overhead: 10,000 tasks on 1,000 hosts over a zero-latency fake runner with
//! `max_servers = 100`; prints the wall time of the run and the peak RSS of the process.
//! Run with `cargo bench --bench engine`.

use sflow::engine::fake::FakeRunner;
use sflow::engine::limits::LimitsConfig;
use sflow::engine::{execute, HostSpec, RunOptions, RunSpec, RunStatus, TaskSpec, WaveSpec};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOSTS: usize = 1_000;
const TASKS: usize = 10;

fn spec() -> RunSpec {
    let hosts: Vec<HostSpec> = (0..HOSTS).map(|i| HostSpec::named(format!("host-{i:04}"))).collect();
    let all: Vec<usize> = (0..HOSTS).collect();
    let tasks = (0..TASKS)
        .map(|t| {
            let mut task = TaskSpec::new(format!("step{t}"), all.clone(), "true ${host.name}");
            if t > 0 {
                task.after = vec![t - 1];
            }
            task
        })
        .collect();
    RunSpec {
        workflow: "bench".into(),
        hosts,
        tasks,
        waves: vec![WaveSpec { name: "all".into(), hosts: all }],
        limits: LimitsConfig { max_servers: Some(100), ..LimitsConfig::default() },
        ..RunSpec::default()
    }
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    let Ok(runtime) = runtime else {
        eprintln!("cannot start tokio");
        return;
    };
    let mut times = Vec::new();
    for _ in 0..5 {
        let runner = FakeRunner::always_ok(Duration::ZERO);
        let s = spec();
        let start = Instant::now();
        let result = runtime.block_on(execute(s, Arc::new(runner.clone()), RunOptions::default()));
        let took = start.elapsed();
        assert_eq!(result.status, RunStatus::Succeeded);
        assert_eq!(runner.calls().len(), HOSTS * TASKS);
        assert!(runner.max_concurrency().get("fleet").copied().unwrap_or(0) <= 100);
        times.push(took);
    }
    times.sort();
    println!(
        "engine: {} tasks on {HOSTS} hosts, max_servers 100, zero-latency fake: median {:.3} s (min {:.3} s, max {:.3} s over 5 runs); peak RSS {:.1} MB",
        HOSTS * TASKS,
        times[2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[4].as_secs_f64(),
        peak_rss_mb().unwrap_or(f64::NAN)
    );
}
