//! Journaling overhead: the engine benchmark (10,000 tasks on 1,000 hosts over a zero-latency
//! runner, at most 100 hosts at once) with the run store and audit log on, against the same
//! run without them. Prints the median of several runs of each.
//!
//! Run: `cargo bench --bench journal` (`SIDE=on` or `SIDE=off` in the environment runs one
//! side only, for a profiler; `COMMAND_MS=N` makes every command take N ms instead of none,
//! to see the journal's share when commands take time, as real ones do).

use sflow::engine::runner::{CommandOutput, CommandRequest, RunFuture, Runner};
use sflow::engine::{execute, HostSpec, RunOptions, RunSpec, RunStatus, TaskSpec, WaveSpec};
use sflow::journal::{self, SessionConfig};
use sflow::secret::Redactor;
use sflow::store::{host_name, NewRun};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOSTS: usize = 1000;
const TASKS: usize = 10;
const LIMIT: usize = 100;
const ROUNDS: usize = 11;

/// A runner whose commands succeed at once, or after `Some(latency)`.
struct Instant0(Option<Duration>);

impl Runner for Instant0 {
    fn run(&self, req: CommandRequest) -> RunFuture {
        let latency = self.0;
        Box::pin(async move {
            if let Some(latency) = latency {
                tokio::time::sleep(latency).await;
            }
            Ok(CommandOutput {
                exit: Some(0),
                stdout: format!("{} ok\n", req.task),
                stderr: String::new(),
            })
        })
    }
}

fn spec() -> RunSpec {
    let all: Vec<usize> = (0..HOSTS).collect();
    let tasks = (0..TASKS)
        .map(|k| {
            let mut t = TaskSpec::new(format!("t{k}"), all.clone(), format!("step {k}"));
            if k > 0 {
                t.after = vec![k - 1];
            }
            t
        })
        .collect();
    let mut spec = RunSpec {
        workflow: "bench".into(),
        hosts: (0..HOSTS)
            .map(|i| HostSpec::named(format!("h{i:04}")))
            .collect(),
        tasks,
        waves: vec![WaveSpec {
            name: "all".into(),
            hosts: all,
        }],
        ..RunSpec::default()
    };
    spec.limits.max_servers = Some(LIMIT);
    spec
}

fn once(rt: &tokio::runtime::Runtime, journaled: bool) -> Duration {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let spec = spec();
    let latency = std::env::var("COMMAND_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    let runner: Arc<dyn Runner> = Arc::new(Instant0(latency));
    let began = Instant::now();
    let result = if journaled {
        let cfg = SessionConfig {
            state: dir.path().join(".sflow/state.db"),
            audit: Some(dir.path().join(".sflow/audit.jsonl")),
            redactor: Redactor::default(),
            operator: "bench@ctl".into(),
        };
        let run = NewRun {
            workflow: "bench".into(),
            workflow_path: "bench.sflow".into(),
            plan_json: "{}".into(),
            plan_hash: "0".repeat(64),
            params: BTreeMap::new(),
            operator: "bench@ctl".into(),
            change_ticket: None,
            started_at: chrono::Utc::now(),
            controller_pid: std::process::id(),
            controller_host: host_name(),
        };
        let session = journal::start(&cfg, &run, &spec, runner).unwrap_or_else(|e| panic!("{e}"));
        let options = RunOptions {
            sinks: vec![Box::new(session.sink)],
            ..RunOptions::default()
        };
        // `execute` drops the sink at its end, which commits the journal's last batch.
        let r = rt.block_on(execute(spec, session.runner, options));
        assert!(session.status.failure().is_none());
        r
    } else {
        rt.block_on(execute(spec, runner, RunOptions::default()))
    };
    let took = began.elapsed();
    assert_eq!(result.status, RunStatus::Succeeded);
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    once(&rt, false);
    once(&rt, true);
    // Interleaved, so that a slow spell of the machine weighs on both sides alike.
    let side = std::env::var("SIDE").unwrap_or_default();
    let (mut offs, mut ons) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        if side != "on" {
            offs.push(once(&rt, false));
        }
        if side != "off" {
            ons.push(once(&rt, true));
        }
    }
    if side == "on" || side == "off" {
        let v = if side == "on" { ons } else { offs };
        println!("{side}: {:.1} ms", median(v).as_secs_f64() * 1000.0);
        return;
    }
    let (off, on) = (median(offs), median(ons));
    println!("journal: {HOSTS} hosts x {TASKS} tasks, {LIMIT} at once, median of {ROUNDS}");
    println!("  store off: {:>8.1} ms", off.as_secs_f64() * 1000.0);
    println!("  store on:  {:>8.1} ms", on.as_secs_f64() * 1000.0);
    println!(
        "  ratio:     {:>8.2}x",
        on.as_secs_f64() / off.as_secs_f64()
    );
}
