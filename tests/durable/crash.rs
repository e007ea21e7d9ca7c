//! Crash recovery through the real binary over SSH: `sflow run` on the in-process SSH fleet is
//! SIGKILLed at a point chosen by a seed (often with commands in flight), then `sflow resume`
//! finishes it. The fleet's own record of the commands it received is the ground truth: no
//! finished task ran twice, every task ran, and the journal and audit log are intact.

use super::bin::{sflow, spawn};
use sflow::store::{RunStore as _, SqliteStore, StoreOptions};
use sflow::testing::{Fleet, Reply};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

const HOSTS: usize = 50;
const TASKS: usize = 5;

type Key = (String, String);

/// A workflow of `TASKS` chained tasks on every host of `fleet`, ten hosts at a time.
fn workflow(fleet: &Fleet) -> String {
    let mut s = String::from("inventory {\n  defaults {\n    user = \"sflow\"\n  }\n");
    let mut names = Vec::new();
    for h in fleet.hosts() {
        s.push_str(&format!(
            "  host {} {{\n    address = \"{}\"\n    port = {}\n  }}\n",
            h.name,
            h.addr.ip(),
            h.addr.port()
        ));
        names.push(h.name.clone());
    }
    s.push_str(&format!("  group fleet = [{}]\n}}\n\n", names.join(", ")));
    s.push_str("workflow crash {\n  parallel {\n    max_servers = 10\n  }\n");
    for k in 0..TASKS {
        let after = if k == 0 {
            String::new()
        } else {
            format!(" after t{}", k - 1)
        };
        s.push_str(&format!(
            "  task t{k} on fleet{after} {{\n    run = \"step {k}\"\n  }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

/// How many times each host received each task's command.
fn received(fleet: &Fleet) -> HashMap<Key, usize> {
    let mut counts = HashMap::new();
    for r in fleet.commands() {
        let Some(k) = r.request.command.split("step ").nth(1) else {
            continue;
        };
        let digits: String = k.chars().take_while(char::is_ascii_digit).collect();
        let task = format!("t{digits}");
        *counts.entry((r.request.host.clone(), task)).or_insert(0) += 1;
    }
    counts
}

/// A tiny deterministic generator (no extra dependency).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn store(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join(".sflow/state.db"), &StoreOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn crash_and_resume(rt: &tokio::runtime::Runtime, seed: u64, rerun: bool) {
    let fleet = rt
        .block_on(
            Fleet::builder()
                .hosts(HOSTS)
                // Slow enough that a kill often lands with commands in flight.
                .respond(|_| Reply::ok("done\n").delay(Duration::from_millis(25)))
                .start(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    std::fs::write(d.join("crash.sflow"), workflow(&fleet)).unwrap_or_else(|e| panic!("{e}"));
    let kh = fleet.known_hosts_path().display().to_string();
    let key = fleet.client_key_path().display().to_string();
    let ssh = ["--known-hosts", kh.as_str(), "--identity", key.as_str()];

    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let kill_after = usize::try_from(1 + next(&mut s) % 240).unwrap_or(1);
    let mut args = vec!["run", "crash.sflow", "--yes"];
    args.extend(ssh);
    let mut child = spawn(d, &args);
    // Kill right after the fleet received the chosen command: it is still in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while fleet.commands().len() < kill_after {
        if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();

    let st = store(d);
    let run = st
        .runs(1)
        .unwrap_or_else(|e| panic!("{e}"))
        .first()
        .map(|r| r.id.clone())
        .unwrap_or_else(|| panic!("seed {seed}: the run was not recorded"));
    let before = st.task_states(&run).unwrap_or_else(|e| panic!("{e}"));
    let finished: HashSet<Key> = before
        .iter()
        .filter(|t| t.is_done())
        .map(|t| (t.host.clone(), t.task.clone()))
        .collect();
    let unknown: HashSet<Key> = before
        .iter()
        .filter(|t| t.is_unknown())
        .map(|t| (t.host.clone(), t.task.clone()))
        .collect();
    let seen_before = received(&fleet);
    assert!(
        !seen_before.is_empty(),
        "seed {seed}: killed before any command"
    );
    eprintln!(
        "seed {seed}: killed after {} commands: {} finished, {} unknown",
        fleet.commands().len(),
        finished.len(),
        unknown.len()
    );
    // Every command a host received was journaled first.
    for k in seen_before.keys() {
        assert!(
            finished.contains(k) || unknown.contains(k),
            "seed {seed}: {k:?} reached its host but is not in the journal"
        );
    }
    if !unknown.is_empty() {
        let asked = sflow(d, &["resume", "--yes"]);
        assert_eq!(asked.code, 2, "seed {seed}: {}", asked.stderr);
        assert!(
            asked.stderr.contains("never finished"),
            "seed {seed}: {}",
            asked.stderr
        );
    }
    let policy = if rerun {
        "--rerun-unknown"
    } else {
        "--skip-unknown"
    };
    let mut args = vec!["resume", "--yes", policy];
    args.extend(ssh);
    let resumed = sflow(d, &args);
    if finished.len() < HOSTS * TASKS {
        assert_eq!(resumed.code, 0, "seed {seed}: {}", resumed.stderr);
    }

    let seen = received(&fleet);
    for k in &finished {
        assert_eq!(
            seen.get(k),
            Some(&1),
            "seed {seed}: {k:?} finished, ran again"
        );
    }
    for host in fleet.hosts() {
        for t in 0..TASKS {
            let k = (host.name.clone(), format!("t{t}"));
            let n = seen.get(&k).copied().unwrap_or(0);
            if unknown.contains(&k) {
                // It may or may not have reached its host before the kill; rerun sends it
                // once more, skip never again.
                let range = if rerun { 1..=2 } else { 0..=1 };
                assert!(
                    range.contains(&n),
                    "seed {seed}: unknown {k:?} ran {n} times"
                );
            } else {
                assert_eq!(n, 1, "seed {seed}: {k:?} ran {n} times");
            }
        }
    }
    let after = st.task_states(&run).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.len(), HOSTS * TASKS, "seed {seed}");
    assert!(after.iter().all(|t| t.is_done()), "seed {seed}: {after:?}");
    let verified = sflow(d, &["audit", "verify", ".sflow/audit.jsonl"]);
    assert_eq!(verified.code, 0, "seed {seed}: {}", verified.stdout);
}

#[test]
fn a_killed_run_resumes_without_running_finished_tasks_again() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for seed in 1..=4 {
        crash_and_resume(&rt, seed, seed % 2 == 1);
    }
}
