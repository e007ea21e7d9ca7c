//! Benchmark of `sflow plan`: the generated workflow (`gen_workflow.rs`: 20 groups, 200
//! tasks, windows in 5 zones, percentage waves) at 1,000 and 10,000 hosts. Times each phase
//! in process (check, lower, forecast, JSON, text) and the release binary end to end
//! (`sflow plan --format json` and `--format text`, wall clock). Run with
//! `cargo bench --bench plan`.

#[path = "gen_workflow.rs"]
mod gen_workflow;

use sflow::check::{self, CheckOptions, MemoryFs};
use sflow::plan::{self, forecast::forecast, render};
use sflow::span::SourceMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const AT: &str = "2026-11-28T12:00:00Z";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed());
        last = Some(out);
    }
    (median(times), last.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let at = chrono::DateTime::parse_from_rfc3339(AT)
        .expect("valid instant")
        .with_timezone(&chrono::Utc);
    let dir = std::env::temp_dir().join(format!("sflow-plan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!("| hosts | task instances | check | lower | forecast | to JSON | render text | `plan --format json` (binary) | `plan --format text` (binary) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for hosts in [1_000usize, 10_000] {
        let runs = if hosts > 1_000 { 5 } else { 11 };
        let source = gen_workflow::generate(hosts);
        let path = PathBuf::from("bench.sflow");
        let fs = MemoryFs([(path.clone(), source.clone())].into_iter().collect());
        let opts = CheckOptions {
            inventory: None,
            workflow: None,
            now: at,
        };
        let (t_check, outcome) = time(runs, || {
            let mut sources = SourceMap::new();
            check::check_file(&mut sources, &path, &fs, &opts).expect("in memory")
        });
        let Some(program) = outcome.program else {
            eprintln!(
                "the generated workflow has errors: {:?}",
                outcome.diagnostics.first()
            );
            std::process::exit(1);
        };
        let (t_lower, p) = time(runs, || plan::lower(&program, None, &[]).expect("lowers"));
        let (t_forecast, f) = time(runs, || forecast(&p, at));
        let (t_json, json) = time(runs, || p.to_json());
        let (t_text, _) = time(runs, || render::text(&p, Some(&f)));
        assert!(f.finish.is_some(), "forecast blocked: {:?}", f.warnings);

        let file = dir.join(format!("bench{hosts}.sflow"));
        std::fs::write(&file, &source).expect("write workflow");
        let bin = |format: &str| {
            time(runs, || {
                let out = Command::new(env!("CARGO_BIN_EXE_sflow"))
                    .args(["plan", "--at", AT, "--format", format])
                    .arg(&file)
                    .output()
                    .expect("run sflow");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout.len()
            })
        };
        let (t_bin_json, bytes) = bin("json");
        let (t_bin_text, _) = bin("text");
        println!(
            "| {hosts} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.task_instances(),
            ms(t_check),
            ms(t_lower),
            ms(t_forecast),
            ms(t_json),
            ms(t_text),
            ms(t_bin_json),
            ms(t_bin_text)
        );
        eprintln!(
            "{hosts} hosts: JSON plan {} bytes ({} in process), {} routes, {} window sets, finish {:?}",
            bytes,
            json.len(),
            p.routes.len(),
            p.windows.sets.len(),
            f.finish
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
