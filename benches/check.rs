//! Benchmark of the front end (`sflow check`: parse + load + resolve + type-check) on
//! generated workflows: 1,000 to 10,000 hosts in 20 groups, 200 tasks, windows in 5 time
//! zones, percentage waves. Prints the median and minimum wall time per size and the time
//! per host, to show the growth. Run with `cargo bench --bench check`.

#[path = "gen_workflow.rs"]
mod gen_workflow;

use sflow::check::{check_file, CheckOptions, MemoryFs};
use sflow::span::{FileId, SourceMap};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SIZES: [usize; 4] = [1_000, 2_000, 5_000, 10_000];

fn main() {
    let runs: usize = std::env::var("SFLOW_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let opts = CheckOptions::default();
    let profile = if cfg!(debug_assertions) {
        "debug build: figures are not representative"
    } else {
        "release build"
    };
    println!("sflow check (parse + check), {runs} runs per size, {profile}");
    println!(
        "{:>7} {:>7} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "hosts", "tasks", "instances", "median", "min", "per host", "parse only"
    );
    for hosts in SIZES {
        let src = gen_workflow::generate(hosts);
        let path = PathBuf::from("bench.sflow");
        let fs = MemoryFs(HashMap::from([(path.clone(), src)]));
        let mut times: Vec<Duration> = Vec::with_capacity(runs);
        let mut errors = 0;
        let mut warnings = 0;
        for _ in 0..runs {
            let mut sources = SourceMap::new();
            let t = Instant::now();
            let out = check_file(&mut sources, &path, &fs, &opts);
            times.push(t.elapsed());
            match out {
                Ok(o) => {
                    errors = o.errors();
                    warnings = o.diagnostics.len() - errors;
                    std::hint::black_box(o.program);
                }
                Err(e) => {
                    eprintln!("cannot read the generated file: {e}");
                    std::process::exit(2);
                }
            }
        }
        times.sort();
        let mut parse: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(sflow::syntax::parse(FileId(0), &fs.0[&path]));
                t.elapsed()
            })
            .collect();
        parse.sort();
        let median = times[times.len() / 2];
        let min = times[0];
        println!(
            "{:>7} {:>7} {:>10} {:>8.1}ms {:>8.1}ms {:>10.1}µs {:>10.1}ms",
            hosts,
            gen_workflow::TASKS,
            hosts * gen_workflow::TASKS / gen_workflow::GROUPS,
            median.as_secs_f64() * 1e3,
            min.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e6 / hosts as f64,
            parse[parse.len() / 2].as_secs_f64() * 1e3
        );
        if errors > 0 || warnings > 0 {
            println!("        ({errors} errors, {warnings} warnings in the generated workflow)");
        }
    }
}
