//! Engine scenarios on the scripted fake runner with virtual time: limits, stagger,
//! dependencies, retries, timeouts, gates, rollback, failure budgets, windows, adaptive
//! throttling and Ctrl-C. Every test runs on tokio's paused clock, so hours pass in
//! milliseconds and every schedule is deterministic.

use chrono::{DateTime, Utc};
use sflow::engine::event::{
    CancelReason, EventKind, Failure, HaltReason, OnExpire, RollbackScope, ThrottleReason,
};
use sflow::engine::fake::{FakeRunner, Scripted};
use sflow::engine::interp::Template;
use sflow::engine::limits::{LimitsConfig, PerGroup};
use sflow::engine::spec::{Threshold, WindowCheck};
use sflow::engine::windows::testing::Intervals;
use sflow::engine::{
    execute, Control, EventSink, HostSpec, HostState, Recorder, RunOptions, RunResult, RunSpec,
    RunStatus, TaskSpec, TaskState, VirtualClock, WaveSpec,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-06T01:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(minutes)
}

/// `n` hosts `h0..`, with groups and attributes from `f(i)`.
fn hosts(
    n: usize,
    f: impl Fn(usize) -> (Vec<&'static str>, Vec<(&'static str, &'static str)>),
) -> Vec<HostSpec> {
    (0..n)
        .map(|i| {
            let (groups, attrs) = f(i);
            HostSpec {
                name: format!("h{i}"),
                groups: groups.into_iter().map(String::from).collect(),
                attrs: attrs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                windows: Vec::new(),
            }
        })
        .collect()
}

/// A spec over `hosts` with one wave of everything.
fn spec(hosts: Vec<HostSpec>, tasks: Vec<TaskSpec>) -> RunSpec {
    let all: Vec<usize> = (0..hosts.len()).collect();
    RunSpec {
        workflow: "test".into(),
        hosts,
        tasks,
        waves: vec![WaveSpec {
            name: "all".into(),
            hosts: all,
        }],
        ..RunSpec::default()
    }
}

fn task(name: &str, hosts: &[usize], run: &str) -> TaskSpec {
    TaskSpec::new(name, hosts.to_vec(), run)
}

struct Outcome {
    result: RunResult,
    events: Vec<EventKind>,
}

impl Outcome {
    fn task_state(&self, host: &str, task: &str) -> Option<TaskState> {
        self.result
            .hosts
            .get(host)?
            .tasks
            .iter()
            .find(|t| t.task == task)
            .map(|t| t.state)
    }

    fn host_state(&self, host: &str) -> Option<HostState> {
        self.result.hosts.get(host).map(|h| h.state)
    }
}

async fn run_with(
    spec: RunSpec,
    runner: &FakeRunner,
    control: Option<mpsc::UnboundedReceiver<Control>>,
) -> Outcome {
    let recorder = Recorder::default();
    let options = RunOptions {
        clock: Arc::new(VirtualClock::starting_at(t0())),
        sinks: vec![Box::new(recorder.clone()) as Box<dyn EventSink>],
        control,
        confirmed: None,
        ..RunOptions::default()
    };
    let result = execute(spec, Arc::new(runner.clone()), options).await;
    Outcome {
        result,
        events: recorder.kinds(),
    }
}

async fn run(spec: RunSpec, runner: &FakeRunner) -> Outcome {
    run_with(spec, runner, None).await
}

#[tokio::test(start_paused = true)]
async fn limits_are_never_exceeded_and_are_reached_under_load() {
    // 40 hosts: groups a/b alternate, dc fra1 for the first 24 and ams1 for the rest.
    let hs = hosts(40, |i| {
        (
            vec![if i % 2 == 0 { "a" } else { "b" }],
            vec![("dc", if i < 24 { "fra1" } else { "ams1" })],
        )
    });
    let info: BTreeMap<String, Vec<String>> = hs
        .iter()
        .map(|h| {
            let mut c = h.groups.clone();
            c.push(format!("dc={}", h.attrs["dc"]));
            (h.name.clone(), c)
        })
        .collect();
    let all: Vec<usize> = (0..40).collect();
    let mut s = spec(
        hs,
        vec![task("one", &all, "true"), task("two", &all, "true")],
    );
    s.limits = LimitsConfig {
        max_servers: Some(10),
        per_group: PerGroup::Map([("a".to_string(), 3)].into_iter().collect()),
        per_attr: vec![("dc".to_string(), 7)],
        ..LimitsConfig::default()
    };
    // Durations vary per host so that slots free up at different times.
    let runner = FakeRunner::new(|req, _| {
        Scripted::ok(Duration::from_millis(500 + 97 * (req.host_id as u64 % 7)))
    })
    .with_classes(move |h| info.get(h).cloned().unwrap_or_default());
    let out = run(s, &runner).await;
    assert_eq!(out.result.status, RunStatus::Succeeded);
    assert_eq!(out.result.successful_servers.len(), 40);
    let max = runner.max_concurrency();
    assert_eq!(max.get("fleet"), Some(&10), "{max:?}");
    assert_eq!(max.get("a"), Some(&3), "{max:?}");
    assert_eq!(max.get("dc=fra1"), Some(&7), "{max:?}");
    assert!(max.get("dc=ams1").copied().unwrap_or(0) <= 7, "{max:?}");
    assert_eq!(runner.max_per_host(), 1);
}

#[tokio::test(start_paused = true)]
async fn per_host_allows_independent_tasks_together() {
    let mut s = spec(
        hosts(2, |_| (vec![], vec![])),
        vec![
            task("x", &[0, 1], "x"),
            task("y", &[0, 1], "y"),
            task("z", &[0, 1], "z"),
        ],
    );
    s.tasks[2].after = vec![0];
    s.limits.per_host = 2;
    let runner = FakeRunner::always_ok(secs(1));
    let out = run(s, &runner).await;
    assert_eq!(out.result.status, RunStatus::Succeeded);
    assert_eq!(runner.max_per_host(), 2);
    assert_eq!(runner.tasks_on("h0"), vec!["x", "y", "z"]);
}

#[tokio::test(start_paused = true)]
async fn stagger_spaces_host_starts() {
    let s = {
        let mut s = spec(
            hosts(5, |_| (vec![], vec![])),
            vec![
                task("t", &[0, 1, 2, 3, 4], "t"),
                task("u", &[0, 1, 2, 3, 4], "u"),
            ],
        );
        s.limits.stagger = secs(2);
        s
    };
    let runner = FakeRunner::always_ok(secs(10));
    let begin = Instant::now();
    run(s, &runner).await;
    let starts: Vec<Duration> = runner
        .calls()
        .iter()
        .filter(|c| c.task == "t")
        .map(|c| c.start - begin)
        .collect();
    assert_eq!(starts, vec![secs(0), secs(2), secs(4), secs(6), secs(8)]);
    // The second task of a host is not staggered: it follows the first at once.
    let u0 = runner
        .calls()
        .iter()
        .find(|c| c.task == "u" && c.host == "h0")
        .map(|c| c.start - begin);
    assert_eq!(u0, Some(secs(10)));
}

#[tokio::test(start_paused = true)]
async fn dependencies_barriers_when_skip_and_cancel() {
    // web = h0..h2, lb = h3.
    let hs = hosts(4, |i| {
        (
            vec![if i < 3 { "web" } else { "lb" }],
            vec![("role", if i == 1 { "big" } else { "small" })],
        )
    });
    let mut tasks = vec![
        task("drain", &[0, 1, 2], "drain"),   // 0
        task("deploy", &[0, 1, 2], "deploy"), // 1 after drain
        task("big_only", &[0, 1, 2], "big"),  // 2 after deploy when role == big
        task("report", &[0, 1, 2], "report"), // 3 after big_only
        task("switch_lb", &[3], "switch"),    // 4 after deploy: a barrier
    ];
    tasks[1].after = vec![0];
    tasks[2].after = vec![1];
    tasks[2].when = Some(Arc::new(|f| {
        Ok(f.value("host.role").as_deref() == Some("big"))
    }));
    tasks[3].after = vec![2];
    tasks[4].after = vec![1];
    // h2's deploy fails: its report is cancelled, and the barrier on deploy fails.
    let runner = FakeRunner::new(|req, _| {
        if req.host == "h2" && req.task == "deploy" {
            Scripted::exit(secs(3), 1)
        } else {
            Scripted::ok(secs(1))
        }
    });
    let out = run(spec(hs, tasks), &runner).await;
    assert_eq!(runner.tasks_on("h0"), vec!["drain", "deploy", "report"]);
    assert_eq!(
        runner.tasks_on("h1"),
        vec!["drain", "deploy", "big_only", "report"]
    );
    assert_eq!(out.task_state("h0", "big_only"), Some(TaskState::Skipped));
    assert_eq!(
        out.task_state("h0", "report"),
        Some(TaskState::Ok),
        "skipped counts as done"
    );
    assert_eq!(out.task_state("h1", "big_only"), Some(TaskState::Ok));
    assert_eq!(out.task_state("h2", "deploy"), Some(TaskState::Failed));
    assert_eq!(out.task_state("h2", "big_only"), Some(TaskState::Cancelled));
    assert_eq!(out.host_state("h2"), Some(HostState::Failed));
    assert_eq!(
        out.task_state("h3", "switch_lb"),
        Some(TaskState::Cancelled)
    );
    let reason = out.result.hosts["h3"].tasks[0].reason.clone();
    assert_eq!(
        reason,
        Some(CancelReason::BarrierFailed {
            task: "deploy".into()
        })
    );
    assert_eq!(out.result.status, RunStatus::Failed);
    assert_eq!(out.result.exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_barrier_waits_for_every_host_of_its_dependency() {
    let hs = hosts(3, |_| (vec![], vec![]));
    let mut tasks = vec![
        task("deploy", &[0, 1], "deploy"),
        task("switch", &[2], "switch"),
    ];
    tasks[1].after = vec![0];
    let runner = FakeRunner::new(|req, _| Scripted::ok(secs(if req.host == "h1" { 9 } else { 1 })));
    let begin = Instant::now();
    let out = run(spec(hs, tasks), &runner).await;
    assert_eq!(out.result.status, RunStatus::Succeeded);
    let switch = runner
        .calls()
        .into_iter()
        .find(|c| c.task == "switch")
        .map(|c| c.start - begin);
    assert_eq!(switch, Some(secs(9)));
}

#[tokio::test(start_paused = true)]
async fn retries_double_their_delay_and_timeouts_fail_attempts() {
    let hs = hosts(2, |_| (vec![], vec![]));
    let mut tasks = vec![
        task("flaky", &[0], "flaky"),
        task("slow", &[1], "slow"),
        task("next", &[1], "next"),
    ];
    tasks[0].retry = 3;
    tasks[0].retry_delay = secs(5);
    tasks[1].timeout = secs(3);
    tasks[1].allow_failure = true;
    tasks[2].after = vec![1];
    // flaky fails its first two attempts; slow takes a minute.
    let runner = FakeRunner::new(|req, attempt| match req.task.as_str() {
        "flaky" if attempt <= 2 => Scripted::exit(secs(1), 2),
        "slow" => Scripted::ok(secs(60)),
        _ => Scripted::ok(secs(1)),
    });
    let begin = Instant::now();
    let out = run(spec(hs, tasks), &runner).await;
    let flaky: Vec<Duration> = runner
        .calls()
        .iter()
        .filter(|c| c.task == "flaky")
        .map(|c| c.start - begin)
        .collect();
    // 0..1 fail, wait 5 → 6..7 fail, wait 10 → 17.
    assert_eq!(flaky, vec![secs(0), secs(6), secs(17)]);
    let r = &out.result.hosts["h0"].tasks[0];
    assert_eq!((r.state, r.attempts), (TaskState::Ok, 3));
    let retries: Vec<Duration> = out
        .events
        .iter()
        .filter_map(|e| match e {
            EventKind::TaskRetrying { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(retries, vec![secs(5), secs(10)]);
    let slow = &out.result.hosts["h1"].tasks[0];
    assert_eq!(slow.state, TaskState::FailedAllowed);
    assert_eq!(slow.failure, Some(Failure::Timeout { after: secs(3) }));
    assert_eq!(
        out.task_state("h1", "next"),
        Some(TaskState::Ok),
        "allow_failure keeps the host going"
    );
    let next_start = runner
        .calls()
        .into_iter()
        .find(|c| c.task == "next")
        .map(|c| c.start - begin);
    assert_eq!(
        next_start,
        Some(secs(3)),
        "the timed-out command was stopped at its timeout"
    );
    assert_eq!(out.result.status, RunStatus::Succeeded);
}

/// Canary h0, then h1..h3; every host runs change_a, change_b (with rollbacks) and check.
fn canary_spec(scope: RollbackScope) -> RunSpec {
    let hs = hosts(4, |_| (vec![], vec![]));
    let all = [0, 1, 2, 3];
    let mut tasks = vec![
        task("change_a", &all, "a"),
        task("change_b", &all, "b"),
        task("check", &all, "check"),
    ];
    tasks[0].rollback = Some(Template::literal("undo_a"));
    tasks[1].rollback = Some(Template::literal("undo_b"));
    tasks[1].after = vec![0];
    tasks[2].after = vec![1];
    let mut s = spec(hs, tasks);
    s.waves = vec![
        WaveSpec {
            name: "canary".into(),
            hosts: vec![0],
        },
        WaveSpec {
            name: "rest".into(),
            hosts: vec![1, 2, 3],
        },
    ];
    s.rollout.verify = vec![2];
    s.rollout.max_failures = Some(Threshold::Count(0));
    s.rollout.auto_rollback = true;
    s.rollout.rollback_scope = scope;
    s
}

#[tokio::test(start_paused = true)]
async fn a_failing_canary_halts_and_rolls_back_only_itself_newest_first() {
    let runner = FakeRunner::new(|req, _| {
        if req.task == "check" {
            Scripted::exit(secs(1), 1)
        } else {
            Scripted::ok(secs(1))
        }
    });
    let out = run(canary_spec(RollbackScope::Wave), &runner).await;
    assert_eq!(out.result.status, RunStatus::Halted);
    assert_eq!(out.result.exit_code(), 3);
    assert_eq!(
        runner.tasks_on("h0"),
        vec!["change_a", "change_b", "check", "change_b", "change_a"]
    );
    let h0: Vec<String> = runner
        .calls()
        .iter()
        .filter(|c| c.host == "h0")
        .map(|c| c.command.clone())
        .collect();
    assert_eq!(h0, vec!["a", "b", "check", "undo_b", "undo_a"]);
    for h in ["h1", "h2", "h3"] {
        assert!(
            runner.tasks_on(h).is_empty(),
            "{h} must not start after the halt"
        );
        assert_eq!(out.host_state(h), Some(HostState::Cancelled));
    }
    assert_eq!(out.host_state("h0"), Some(HostState::RolledBack));
    assert_eq!(out.result.rolled_back_servers, vec!["h0"]);
    assert!(out.events.contains(&EventKind::Halted {
        reason: HaltReason::WaveFailures {
            failed: 1,
            allowed: 0
        },
        wave: Some("canary".into())
    }));
}

#[tokio::test(start_paused = true)]
async fn rollback_scope_all_undoes_every_changed_host_newest_wave_first() {
    // The canary passes; h3 fails its check in the second wave.
    let runner = FakeRunner::new(|req, _| {
        if req.task == "check" && req.host == "h3" {
            Scripted::exit(secs(1), 1)
        } else {
            Scripted::ok(secs(1))
        }
    });
    let out = run(canary_spec(RollbackScope::All), &runner).await;
    assert_eq!(out.result.status, RunStatus::Halted);
    let undos: Vec<(String, String, Instant)> = runner
        .calls()
        .into_iter()
        .filter(|c| c.command.starts_with("undo"))
        .map(|c| (c.host, c.command, c.start))
        .collect();
    let hosts_undone: std::collections::BTreeSet<&str> =
        undos.iter().map(|u| u.0.as_str()).collect();
    assert_eq!(hosts_undone.len(), 4, "every changed host: {undos:?}");
    let canary_first = undos.iter().filter(|u| u.0 == "h0").map(|u| u.2).min();
    let rest_last = undos.iter().filter(|u| u.0 != "h0").map(|u| u.2).max();
    assert!(
        rest_last < canary_first,
        "the newest wave is rolled back first: {undos:?}"
    );
    for h in ["h0", "h1", "h2", "h3"] {
        let cmds: Vec<String> = undos
            .iter()
            .filter(|u| u.0 == h)
            .map(|u| u.1.clone())
            .collect();
        assert_eq!(cmds, vec!["undo_b", "undo_a"], "{h}");
    }
    assert_eq!(out.result.rolled_back_servers.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn failure_budget_counts_and_percentages_halt_the_run() {
    for budget in [Threshold::Count(2), Threshold::Percent(20)] {
        let all: Vec<usize> = (0..10).collect();
        let mut s = spec(hosts(10, |_| (vec![], vec![])), vec![task("t", &all, "t")]);
        s.limits.max_servers = Some(1);
        s.rollout.failure_budget = Some(budget);
        // h1, h3, h5, h7 fail.
        let runner = FakeRunner::new(|req, _| {
            if req.host_id % 2 == 1 && req.host_id < 8 {
                Scripted::exit(secs(1), 1)
            } else {
                Scripted::ok(secs(1))
            }
        });
        let out = run(s, &runner).await;
        assert_eq!(out.result.status, RunStatus::Halted, "{budget:?}");
        // The third failure (h5) exceeds 2: nothing starts after it.
        assert_eq!(runner.calls().len(), 6, "{budget:?}");
        assert!(out.events.contains(&EventKind::Halted {
            reason: HaltReason::FailureBudget {
                failed: 3,
                allowed: 2
            },
            wave: Some("all".into())
        }));
        assert_eq!(out.result.cancelled_servers.len(), 4);
    }
}

#[tokio::test(start_paused = true)]
async fn max_failures_percentages_round_down_at_the_boundaries() {
    // (percent, hosts, failing hosts, halts): 10% of 15 allows 1, 1% of 5 allows none.
    for (p, n, failing, halts) in [(10, 15, 1, false), (10, 15, 2, true), (1, 5, 1, true)] {
        let all: Vec<usize> = (0..n).collect();
        let mut s = spec(hosts(n, |_| (vec![], vec![])), vec![task("t", &all, "t")]);
        s.limits.max_servers = Some(1);
        s.rollout.max_failures = Some(Threshold::Percent(p));
        let runner = FakeRunner::new(move |req, _| {
            if req.host_id < failing {
                Scripted::exit(secs(1), 1)
            } else {
                Scripted::ok(secs(1))
            }
        });
        let out = run(s, &runner).await;
        let case = format!("{p}% of {n} with {failing} failing");
        assert_eq!(out.result.status == RunStatus::Halted, halts, "{case}");
        let allowed = sflow::plan::HostCount::Percent(u8::try_from(p).unwrap_or(100)).of(n);
        if halts {
            assert!(
                out.events.contains(&EventKind::Halted {
                    reason: HaltReason::WaveFailures {
                        failed: failing,
                        allowed,
                    },
                    wave: Some("all".into())
                }),
                "{case}: the plan's count is the engine's"
            );
        } else {
            assert_eq!(runner.calls().len(), n, "{case}");
        }
    }
}

/// One host with a one-hour window from t0: prep (5m, undo), long (90m), after (1m).
fn window_spec(on_expire: OnExpire) -> RunSpec {
    let window: Arc<dyn WindowCheck> =
        Arc::new(Intervals(vec![(at(0), at(60)), (at(24 * 60), at(25 * 60))]));
    let mut hs = hosts(1, |_| (vec![], vec![]));
    hs[0].windows = vec![window];
    let mut tasks = vec![
        task("prep", &[0], "prep"),
        task("long", &[0], "long"),
        task("after", &[0], "after"),
    ];
    tasks[0].rollback = Some(Template::literal("unprep"));
    tasks[1].after = vec![0];
    tasks[1].timeout = secs(3 * 3600);
    tasks[2].after = vec![1];
    let mut s = spec(hs, tasks);
    s.windows.on_expire = on_expire;
    s.windows.cutoff = Duration::from_secs(60);
    s
}

fn window_runner() -> FakeRunner {
    FakeRunner::new(|req, _| match req.task.as_str() {
        "prep" => Scripted::ok(secs(300)),
        "long" => Scripted::ok(secs(90 * 60)),
        _ => Scripted::ok(secs(60)),
    })
}

#[tokio::test(start_paused = true)]
async fn window_closing_with_finish_lets_the_command_end_and_defers_the_rest() {
    let runner = window_runner();
    let out = run(window_spec(OnExpire::Finish), &runner).await;
    assert_eq!(out.task_state("h0", "long"), Some(TaskState::Ok));
    assert_eq!(out.task_state("h0", "after"), Some(TaskState::Deferred));
    assert_eq!(out.result.status, RunStatus::Deferred);
    assert_eq!(out.result.exit_code(), 4);
    assert_eq!(out.result.deferred_servers, vec!["h0"]);
    assert!(out.events.iter().any(|e| matches!(e, EventKind::WindowExpired { task, on_expire: OnExpire::Finish, .. } if task == "long")));
    assert!(out.events.contains(&EventKind::Deferred {
        host: "h0".into(),
        tasks: vec!["after".into()],
        next_open: Some(at(24 * 60))
    }));
}

#[tokio::test(start_paused = true)]
async fn window_closing_with_abort_stops_the_command_at_the_close() {
    let runner = window_runner();
    let begin = Instant::now();
    let out = run(window_spec(OnExpire::Abort), &runner).await;
    assert_eq!(out.task_state("h0", "long"), Some(TaskState::Interrupted));
    assert_eq!(out.task_state("h0", "after"), Some(TaskState::Cancelled));
    assert_eq!(out.host_state("h0"), Some(HostState::Interrupted));
    assert_eq!(out.result.status, RunStatus::Deferred);
    let long = runner.calls().into_iter().find(|c| c.task == "long");
    assert_eq!(
        long.map(|c| (c.end, c.start - begin)),
        Some((None, secs(300))),
        "stopped, never finished"
    );
    assert_eq!(out.result.elapsed, secs(3600));
}

#[tokio::test(start_paused = true)]
async fn window_closing_with_rollback_stops_then_undoes_the_host() {
    let runner = window_runner();
    let out = run(window_spec(OnExpire::Rollback), &runner).await;
    let cmds: Vec<String> = runner.calls().into_iter().map(|c| c.command).collect();
    assert_eq!(cmds, vec!["prep", "long", "unprep"]);
    assert_eq!(out.host_state("h0"), Some(HostState::RolledBack));
    assert!(out.events.iter().any(|e| matches!(
        e,
        EventKind::RollbackStarted {
            scope: RollbackScope::Host,
            ..
        }
    )));
}

fn closed_until_two_hours() -> RunSpec {
    let window: Arc<dyn WindowCheck> = Arc::new(Intervals(vec![(at(120), at(240))]));
    let mut hs = hosts(2, |_| (vec![], vec![]));
    hs[0].windows = vec![window];
    spec(hs, vec![task("t", &[0, 1], "t")])
}

#[tokio::test(start_paused = true)]
async fn work_outside_its_window_is_deferred() {
    let runner = FakeRunner::always_ok(secs(1));
    let out = run(closed_until_two_hours(), &runner).await;
    assert_eq!(out.result.status, RunStatus::Deferred);
    assert_eq!(out.result.deferred_servers, vec!["h0"]);
    assert_eq!(
        out.result.successful_servers,
        vec!["h1"],
        "a host without windows is not held back"
    );
    assert!(out.events.contains(&EventKind::Deferred {
        host: "h0".into(),
        tasks: vec!["t".into()],
        next_open: Some(at(120))
    }));
}

#[tokio::test(start_paused = true)]
async fn wait_sleeps_until_the_window_opens() {
    let runner = FakeRunner::always_ok(secs(1));
    let mut s = closed_until_two_hours();
    s.windows.wait = true;
    let begin = Instant::now();
    let out = run(s, &runner).await;
    assert_eq!(out.result.status, RunStatus::Succeeded);
    let start = runner
        .calls()
        .into_iter()
        .find(|c| c.host == "h0")
        .map(|c| c.start - begin);
    assert_eq!(start, Some(secs(2 * 3600)));
    assert!(out.events.contains(&EventKind::WindowWait {
        host: "h0".into(),
        task: "t".into(),
        until: at(120)
    }));
}

#[tokio::test(start_paused = true)]
async fn ignore_windows_runs_now_and_records_the_reason() {
    let runner = FakeRunner::always_ok(secs(1));
    let mut s = closed_until_two_hours();
    s.windows.ignore = Some("INC-77 outage".into());
    let out = run(s, &runner).await;
    assert_eq!(out.result.status, RunStatus::Succeeded);
    assert_eq!(out.result.ignored_windows.as_deref(), Some("INC-77 outage"));
}

#[tokio::test(start_paused = true)]
async fn adaptive_throttling_backs_off_on_connection_errors_and_recovers() {
    let n = 60;
    let all: Vec<usize> = (0..n).collect();
    let mut t = task("t", &all, "t");
    t.retry = 5;
    t.retry_delay = secs(1);
    let mut s = spec(hosts(n, |_| (vec!["g"], vec![])), vec![t]);
    s.limits.per_group = PerGroup::All(8);
    s.limits.adaptive = true;
    // The first attempt of the first ten hosts cannot connect; everything else is fast.
    let runner = FakeRunner::new(|req, attempt| {
        if req.host_id < 10 && attempt == 1 {
            Scripted::connection_error(secs(1))
        } else {
            Scripted::ok(secs(1))
        }
    });
    let out = run(s, &runner).await;
    assert_eq!(out.result.status, RunStatus::Succeeded);
    let changes: Vec<(usize, usize, ThrottleReason)> = out
        .events
        .iter()
        .filter_map(|e| match e {
            EventKind::ThrottleChanged {
                from, to, reason, ..
            } => Some((*from, *to, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes.first(),
        Some(&(8, 4, ThrottleReason::ConnectionErrors)),
        "{changes:?}"
    );
    let lowest = changes.iter().map(|c| c.1).min().unwrap_or(8);
    assert!(lowest < 8);
    assert_eq!(
        changes.last().map(|c| (c.1, c.2)),
        Some((8, ThrottleReason::Recovery)),
        "{changes:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_once_finishes_in_flight_work_and_starts_nothing_new() {
    let all: Vec<usize> = (0..6).collect();
    let mut s = spec(
        hosts(6, |_| (vec![], vec![])),
        vec![task("a", &all, "a"), task("b", &all, "b")],
    );
    s.limits.max_servers = Some(2);
    let runner = FakeRunner::always_ok(secs(10));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        tokio::time::sleep(secs(5)).await;
        let _ = tx.send(Control::Interrupt);
    });
    let out = run_with(s, &runner, Some(rx)).await;
    assert_eq!(out.result.status, RunStatus::Interrupted);
    assert_eq!(out.result.exit_code(), 130);
    let calls = runner.calls();
    assert_eq!(calls.len(), 2, "only the two in-flight commands ran");
    assert!(calls.iter().all(|c| c.end.is_some()), "and they finished");
    assert_eq!(out.task_state("h0", "b"), Some(TaskState::Cancelled));
    assert_eq!(out.host_state("h5"), Some(HostState::Cancelled));
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_twice_stops_in_flight_commands() {
    let all: Vec<usize> = (0..2).collect();
    let s = spec(hosts(2, |_| (vec![], vec![])), vec![task("a", &all, "a")]);
    let runner = FakeRunner::always_ok(secs(100));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        tokio::time::sleep(secs(5)).await;
        let _ = tx.send(Control::Interrupt);
        tokio::time::sleep(secs(1)).await;
        let _ = tx.send(Control::Interrupt);
    });
    let out = run_with(s, &runner, Some(rx)).await;
    assert_eq!(out.result.status, RunStatus::Interrupted);
    assert!(
        runner.calls().iter().all(|c| c.end.is_none()),
        "both commands were stopped"
    );
    assert_eq!(out.task_state("h0", "a"), Some(TaskState::Interrupted));
    assert_eq!(out.result.elapsed, secs(6));
}

#[tokio::test(start_paused = true)]
async fn captures_feed_when_and_interpolation_and_secrets_never_show() {
    let mut tasks = vec![
        task("disk", &[0], "df"),
        task("clean", &[0], "clean --below ${disk_pct} --as ${host.user}"),
        task("login", &[0], "login"),
    ];
    tasks[0].capture = Some("disk_pct".into());
    tasks[1].after = vec![0];
    tasks[1].when = Some(Arc::new(|f| {
        let v = f.value("disk_pct").ok_or("no capture")?;
        v.parse::<i64>().map(|n| n > 90).map_err(|e| e.to_string())
    }));
    tasks[2].stdin = Some("pw".into());
    let mut hs = hosts(1, |_| (vec![], vec![("user", "o'brien")]));
    hs[0].name = "h0".into();
    let mut s = spec(hs, tasks);
    s.secrets.insert("pw".into(), "hunter2".into());
    let runner = FakeRunner::new(|req, _| match req.task.as_str() {
        "disk" => Scripted::stdout(secs(1), "93\n"),
        "login" => Scripted::stdout(secs(1), "logged in with hunter2"),
        _ => Scripted::ok(secs(1)),
    });
    let out = run(s, &runner).await;
    let calls = runner.calls();
    assert_eq!(calls[1].command, "clean --below 93 --as 'o'\\''brien'");
    assert_eq!(calls[2].stdin.as_deref(), Some("hunter2"));
    assert_eq!(out.result.hosts["h0"].tasks[2].stdout, "logged in with ***");
    let json: String = out.events.iter().map(|k| format!("{k:?}")).collect();
    assert!(!json.contains("hunter2"), "a secret leaked into the events");
}

/// The seed scenario end to end over real SSH: the in-process fleet of 50 virtual hosts
/// answers scripted `apt-get` and `dpkg -l`, the workflow is compiled from source and lowered
/// into a plan, and the engine runs it through the SSH transport.
mod seed {
    use super::*;
    use sflow::check::{check_file, CheckOptions, MemoryFs};
    use sflow::engine::from_plan::RunChoices;
    use sflow::engine::transport_runner::TransportRunner;
    use sflow::span::SourceMap;
    use sflow::testing::{Fleet, Reply, Request};
    use sflow::transport::ssh::SshTransport;
    use sflow::transport::Transport;
    use std::path::PathBuf;

    fn source(fleet: &Fleet) -> String {
        let mut inv = String::from("inventory {\n");
        for (i, h) in fleet.hosts().iter().enumerate() {
            inv.push_str(&format!(
                "  host {} {{ address = \"{}\"  port = {}  user = \"sflow\"  n = \"{i}\" }}\n",
                h.name,
                h.addr.ip(),
                h.addr.port()
            ));
        }
        let names = |r: std::ops::Range<usize>| {
            r.map(|i| fleet.hosts()[i].name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        inv.push_str(&format!("  group web_servers = [{}]\n", names(0..10)));
        inv.push_str(&format!("  group db_servers = [{}]\n", names(10..20)));
        inv.push_str(&format!("  group cache_servers = [{}]\n", names(20..50)));
        inv.push_str("  group fleet = [web_servers, db_servers, cache_servers]\n}\n");
        let canary = &fleet.hosts()[0].name;
        inv + &format!(
            r#"
workflow os_patching {{
  change = "CHG-2291"
  window web_servers = "Sun 01:00-03:00 UTC"
  window db_servers = "Sun 01:00-05:00 UTC"
  window cache_servers = "Sun 01:00-05:00 UTC"
  windows {{ cutoff = 10m  on_expire = "finish" }}
  parallel {{ max_servers = 10  per_group = 5 }}

  task backup on fleet {{ run = "tar -czf /backup/etc.tar.gz /etc" }}
  task update_repos on fleet {{ run = "apt-get update"  retry = 2  retry_delay = 1s }}
  task upgrade_packages on fleet after update_repos {{ run = "apt-get -y upgrade"  estimate = 15m  sudo = true }}
  task versions on fleet after upgrade_packages {{ run = "dpkg -l | grep -E 'openssl|bash'"  capture = pkgs }}
  task restart_services on web_servers after upgrade_packages {{ run = "systemctl restart nginx"  sudo = true }}
  task verify_web on web_servers after restart_services {{ run = "curl -s http://localhost/health | grep -q OK" }}

  rollout {{
    wave canary = [{canary}]
    wave web = web_servers except {canary}
    wave db = db_servers
    wave cache = cache_servers
    verify = [verify_web]
    auto_rollback = true
  }}

  verify package_versions {{
    before = backup
    after = upgrade_packages
    capture package_versions = "dpkg -l | grep -E 'openssl|bash'"
    expect package_versions {{
      match = r"ii\s+openssl\s+(\S+)"
      change = "version_increase"
    }}
  }}
}}
"#
        )
    }

    fn answer(healthy_canary: bool) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
        // dpkg answers the old openssl until the host ran its upgrade.
        let upgraded = std::sync::Mutex::new(std::collections::HashSet::new());
        move |req| {
            let c = &req.command;
            let mut upgraded = upgraded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if c.contains("curl -s http://localhost/health")
                && req.host == "host-000"
                && !healthy_canary
            {
                Reply::fail(1, "")
            } else if c.contains("dpkg -l") {
                let v = if upgraded.contains(&req.host) {
                    "3.0.15-1~deb12u1"
                } else {
                    "3.0.11-1~deb12u2"
                };
                Reply::ok(format!(
                    "ii  openssl  {v}  amd64\nii  bash  5.2.15-2+b7  amd64\n"
                ))
            } else if c.contains("apt-get -y upgrade") {
                upgraded.insert(req.host.clone());
                Reply::ok("3 upgraded, 0 newly installed\n")
            } else if c.contains("apt-get update")
                || c.contains("tar -czf")
                || c.contains("systemctl")
                || c.contains("curl")
            {
                Reply::ok("")
            } else {
                Reply::fail(127, "command not found")
            }
        }
    }

    async fn run_seed(healthy_canary: bool) -> (Fleet, RunResult) {
        let fleet = match Fleet::builder()
            .hosts(50)
            .respond(answer(healthy_canary))
            .start()
            .await
        {
            Ok(f) => f,
            Err(e) => panic!("fleet: {e}"),
        };
        let path = PathBuf::from("seed.sflow");
        let fs = MemoryFs([(path.clone(), source(&fleet))].into_iter().collect());
        let mut sources = SourceMap::new();
        let outcome = check_file(&mut sources, &path, &fs, &CheckOptions::default());
        let program = match outcome.map(|o| (o.program, o.diagnostics)) {
            Ok((Some(p), _)) => p,
            Ok((None, d)) => panic!("does not check: {d:?}"),
            Err(e) => panic!("{e}"),
        };
        let plan = match sflow::plan::lower(&program, None, &[]) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        let ssh = match SshTransport::new(fleet.ssh_options()) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let transport: Arc<dyn Transport> = Arc::new(ssh);
        let runner = Arc::new(TransportRunner::new(&plan, transport.clone()));
        let spec = RunSpec::from_plan(&plan, RunChoices::default());
        // Sunday 01:00 UTC: every window is open; the clock runs at real speed from there.
        let sunday = DateTime::parse_from_rfc3339("2026-12-06T01:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let options = RunOptions {
            clock: Arc::new(VirtualClock::starting_at(sunday)),
            ..RunOptions::default()
        };
        let result = execute(spec, runner, options).await;
        transport.close().await;
        (fleet, result)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_seed_scenario_patches_fifty_hosts_wave_by_wave() {
        let (fleet, result) = run_seed(true).await;
        assert_eq!(result.status, RunStatus::Succeeded, "{result:#?}");
        assert_eq!(result.successful_servers.len(), 50);
        let log = fleet.commands();
        // web hosts: 6 tasks and 2 captures, the others 4 tasks and 2 captures.
        assert_eq!(log.len(), 10 * 8 + 40 * 6);
        let per_host = |i: usize| {
            log.iter()
                .filter(|r| r.host_index == i)
                .map(|r| r.request.command.clone())
                .collect::<Vec<_>>()
        };
        let web = per_host(3);
        assert_eq!(web.len(), 8);
        // The before-capture runs before backup, the after-capture right after the upgrade.
        assert!(
            web[0].contains("dpkg -l") && web[1].contains("tar -czf"),
            "{web:?}"
        );
        assert!(web[2].contains("apt-get update"), "{web:?}");
        assert!(
            web[3].starts_with("sudo ") && web[3].contains("apt-get -y upgrade"),
            "{web:?}"
        );
        assert!(web[4].contains("dpkg -l"), "{web:?}");
        assert_eq!(result.verification_results.len(), 50);
        assert!(
            result
                .verification_results
                .iter()
                .all(|v| v.passed && v.verify == "package_versions"),
            "{:?}",
            result.verification_results
        );
        // The canary finishes before any other host starts; waves run in order.
        let first_of =
            |range: std::ops::Range<usize>| log.iter().position(|r| range.contains(&r.host_index));
        let last_of =
            |range: std::ops::Range<usize>| log.iter().rposition(|r| range.contains(&r.host_index));
        assert!(last_of(0..1) < first_of(1..50));
        assert!(last_of(1..10) < first_of(10..50));
        assert!(last_of(10..20) < first_of(20..50));
        let pkgs = result.hosts["host-042"]
            .tasks
            .iter()
            .find(|t| t.task == "versions")
            .map(|t| t.stdout.clone());
        assert!(pkgs.is_some_and(|s| s.contains("openssl  3.0.15-1~deb12u1")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unhealthy_canary_stops_the_seed_rollout() {
        let (fleet, result) = run_seed(false).await;
        assert_eq!(result.status, RunStatus::Halted);
        assert_eq!(result.failed_servers, vec!["host-000"]);
        assert!(
            fleet.commands().iter().all(|r| r.host_index == 0),
            "nothing beyond the canary ran"
        );
        assert_eq!(
            result.verification_results.len(),
            1,
            "the canary was verified before its check failed"
        );
        assert_eq!(result.cancelled_servers.len(), 49);
    }
}

/// The binary, as an operator runs it.
mod cli {
    use std::process::Command;

    fn sflow(args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_sflow"))
            .args(args)
            .output();
        let Ok(out) = out else {
            panic!("cannot run sflow")
        };
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn quickstart() -> String {
        format!("{}/examples/quickstart.sflow", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_quickstart_runs_on_this_machine_and_streams_json_events() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let param = format!("dir={}", dir.path().join("q").display());
        let (code, stdout, stderr) = sflow(&[
            "run",
            &quickstart(),
            "--yes",
            "--format",
            "json",
            "--param",
            &param,
        ]);
        assert_eq!(code, 0, "{stderr}");
        let kinds: Vec<String> = stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
            })
            .map(|v| v["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(kinds.first().map(String::as_str), Some("run_started"));
        assert_eq!(kinds.last().map(String::as_str), Some("run_finished"));
        assert_eq!(kinds.iter().filter(|k| *k == "gate_result").count(), 2);
        let marker =
            std::fs::read_to_string(dir.path().join("q").join("main.local")).unwrap_or_default();
        assert!(marker.starts_with("main disk="), "{marker}");
    }

    #[test]
    fn dry_run_prints_commands_and_touches_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = dir.path().join("never");
        let param = format!("dir={}", target.display());
        let (code, stdout, _) = sflow(&["run", &quickstart(), "--dry-run", "--param", &param]);
        assert_eq!(code, 0);
        assert_eq!(stdout.lines().count(), 8, "{stdout}");
        assert!(
            stdout
                .contains("[canary] canary.local write_marker: echo \"canary disk=${disk_pct}%\""),
            "{stdout}"
        );
        assert!(!target.exists(), "a dry run must not run anything");
    }

    /// A prompt secret with no controlling terminal (the child starts its own session): a run
    /// stops with a clear error before anything runs; a dry run needs no value at all.
    #[test]
    fn a_prompt_secret_without_a_terminal_is_a_clear_error_and_a_dry_run_asks_nothing() {
        use std::os::unix::process::CommandExt as _;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let marker = dir.path().join("ran");
        let file = dir.path().join("w.sflow");
        let src = format!(
            "inventory {{\n  host me {{ transport = \"local\" }}\n}}\nworkflow w {{\n  secret pw = prompt(\"password\")\n  task t on me {{ run = \"touch {}\"  stdin = pw }}\n}}\n",
            marker.display()
        );
        std::fs::write(&file, src).unwrap_or_else(|e| panic!("{e}"));
        let detached = |args: &[&str]| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_sflow"));
            cmd.args(args).stdin(std::process::Stdio::null());
            // SAFETY: setsid is async-signal-safe and only detaches the child from our
            // terminal, so that it has no /dev/tty to prompt on.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("cannot run sflow: {e}"));
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let path = file.display().to_string();
        let (code, _, stderr) = detached(&["run", &path, "--yes"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("secret `pw` is read from a prompt and there is no terminal"),
            "{stderr}"
        );
        assert!(!marker.exists(), "nothing ran");
        let (code, stdout, stderr) = detached(&["run", &path, "--dry-run"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("me t: touch"), "{stdout}");
        assert!(!marker.exists());
    }

    #[test]
    fn usage_errors_and_tampered_plans_exit_2() {
        let (code, _, stderr) = sflow(&["run", &quickstart(), "--yes", "--max-failures", "lots"]);
        assert_eq!(code, 2, "{stderr}");
        let (code, _, stderr) = sflow(&[
            "run",
            &quickstart(),
            "--yes",
            "--notify",
            "true",
            "--notify-on",
            "done,nope",
        ]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("unknown event `nope`"), "{stderr}");
        let (code, _, stderr) = sflow(&["run", &quickstart(), "--yes", "--notify-on", "done"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("needs a notification command"), "{stderr}");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let plan = dir.path().join("plan.json");
        let plan_s = plan.display().to_string();
        let (code, _, stderr) = sflow(&["plan", &quickstart(), "-o", &plan_s, "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        let text = std::fs::read_to_string(&plan)
            .unwrap_or_default()
            .replace("mkdir -p", "rm -rf");
        std::fs::write(&plan, text).unwrap_or_else(|e| panic!("{e}"));
        let (code, _, stderr) = sflow(&["run", &plan_s, "--yes"]);
        assert_eq!(
            code, 2,
            "a plan whose hash does not match is refused: {stderr}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn verification_compares_captures_and_fails_a_host_on_mismatch() {
    use sflow::engine::spec::{CapturePass, CaptureRole};
    use sflow::verify::{CaptureSpec, ChangeKind, Expectation, VerifySpec};
    let role = |pass| {
        Some(CaptureRole {
            verify: 0,
            capture: "ver".into(),
            pass,
        })
    };
    let mut tasks = vec![
        task("ver@before", &[0, 1], "cat /version"),
        task("upgrade", &[0, 1], "upgrade"),
        task("ver@after", &[0, 1], "cat /version"),
    ];
    tasks[0].capture_of = role(CapturePass::Before);
    tasks[0].allow_failure = true;
    tasks[1].after = vec![0];
    tasks[2].after = vec![1];
    tasks[2].capture_of = role(CapturePass::After);
    tasks[2].allow_failure = true;
    let mut s = spec(hosts(2, |_| (vec![], vec![])), tasks);
    s.verifies = vec![
        VerifySpec::new("versions").capture(CaptureSpec::new("ver").expect(Expectation {
            change: ChangeKind::VersionIncrease,
            ..Expectation::default()
        })),
    ];
    // h0 upgrades from 1.0 to 2.0; h1 stays at 1.0.
    let runner = FakeRunner::new(|req, _| match (req.task.as_str(), req.host.as_str()) {
        ("ver@after", "h0") => Scripted::stdout(secs(1), "2.0\n"),
        _ if req.task.starts_with("ver@") => Scripted::stdout(secs(1), "1.0\n"),
        _ => Scripted::ok(secs(1)),
    });
    let out = run(s, &runner).await;
    let verdicts: Vec<(String, bool)> = out
        .result
        .verification_results
        .iter()
        .map(|v| (v.host.clone(), v.passed))
        .collect();
    assert_eq!(
        verdicts,
        vec![("h0".to_string(), true), ("h1".to_string(), false)]
    );
    assert_eq!(out.host_state("h0"), Some(HostState::Ok));
    assert_eq!(out.host_state("h1"), Some(HostState::Failed));
    assert_eq!(out.result.status, RunStatus::Failed);
}

/// `sflow run` against the in-process SSH fleet: the approval hook, the sudo password and the
/// notify hook as an operator meets them.
#[path = "engine/hooks.rs"]
mod hooks;

/// A sink whose gate opens only when the test says: its tickets count the events it saw.
struct GatedSink {
    seen: Arc<std::sync::atomic::AtomicU64>,
    gate: Arc<ManualGate>,
}

struct ManualGate {
    seen: Arc<std::sync::atomic::AtomicU64>,
    open_to: tokio::sync::watch::Sender<u64>,
}

impl EventSink for GatedSink {
    fn event(&mut self, _: &sflow::engine::Event) {
        self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn launch_gate(&self) -> Option<Arc<dyn sflow::engine::LaunchGate>> {
        Some(Arc::clone(&self.gate) as Arc<dyn sflow::engine::LaunchGate>)
    }
}

impl sflow::engine::LaunchGate for ManualGate {
    fn ticket(&self) -> u64 {
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn is_open(&self, ticket: u64) -> bool {
        *self.open_to.borrow() >= ticket
    }

    fn opened(
        &self,
        ticket: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
        let mut rx = self.open_to.subscribe();
        Box::pin(async move {
            let _ = rx.wait_for(|v| *v >= ticket).await;
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_sinks_launch_gate_holds_each_command_until_its_start_is_let_through() {
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (open_to, _) = tokio::sync::watch::channel(0);
    let gate = Arc::new(ManualGate {
        seen: Arc::clone(&seen),
        open_to,
    });
    let sink = GatedSink {
        seen,
        gate: Arc::clone(&gate),
    };
    let released = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let all_released = Arc::clone(&released);
    let runner = FakeRunner::new(move |req, _| {
        if !req.released {
            all_released.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        Scripted::ok(secs(1))
    });
    let s = spec(
        hosts(2, |_| (vec![], vec![])),
        vec![task("a", &[0, 1], "a"), {
            let mut t = task("b", &[0, 1], "b");
            t.after = vec![0];
            t
        }],
    );
    let options = RunOptions {
        clock: Arc::new(VirtualClock::starting_at(t0())),
        sinks: vec![Box::new(sink) as Box<dyn EventSink>],
        ..RunOptions::default()
    };
    let fake: Arc<dyn sflow::engine::Runner> = Arc::new(runner.clone());
    let tasks = |runner: &FakeRunner| {
        let mut t: Vec<_> = runner
            .calls()
            .iter()
            .map(|c| format!("{}/{}", c.host, c.task))
            .collect();
        t.sort();
        t
    };
    let steps = async {
        tokio::time::sleep(secs(60)).await;
        assert!(runner.calls().is_empty(), "{:?}", runner.calls());
        // Open up to the events seen so far: both starts of `a` go, nothing after them.
        gate.open_to.send_replace(gate.ticket_now());
        tokio::time::sleep(secs(60)).await;
        assert_eq!(tasks(&runner), ["h0/a", "h1/a"]);
        gate.open_to.send_replace(u64::MAX);
    };
    let (result, ()) = tokio::join!(execute(s, fake, options), steps);
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(tasks(&runner), ["h0/a", "h0/b", "h1/a", "h1/b"]);
    assert!(released.load(std::sync::atomic::Ordering::SeqCst));
}

impl ManualGate {
    fn ticket_now(&self) -> u64 {
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A sink that notes whether each event came by reference or by value.
struct HowSink(Arc<std::sync::Mutex<Vec<(bool, sflow::engine::Event)>>>);

impl EventSink for HowSink {
    fn event(&mut self, e: &sflow::engine::Event) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((false, e.clone()));
    }

    fn event_owned(&mut self, e: sflow::engine::Event) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((true, e));
    }
}

#[tokio::test(start_paused = true)]
async fn the_last_sink_gets_each_event_by_value_and_the_others_the_same_events_by_reference() {
    let (first, last) = (Arc::default(), Arc::default());
    let runner = FakeRunner::new(|_, _| Scripted::ok(secs(1)));
    let s = spec(
        hosts(2, |_| (vec![], vec![])),
        vec![task("a", &[0, 1], "a")],
    );
    let options = RunOptions {
        clock: Arc::new(VirtualClock::starting_at(t0())),
        sinks: vec![
            Box::new(HowSink(Arc::clone(&first))) as Box<dyn EventSink>,
            Box::new(HowSink(Arc::clone(&last))),
        ],
        ..RunOptions::default()
    };
    let result = execute(s, Arc::new(runner), options).await;
    assert_eq!(result.status, RunStatus::Succeeded);
    let take = |v: &Arc<std::sync::Mutex<Vec<(bool, sflow::engine::Event)>>>| {
        std::mem::take(&mut *v.lock().unwrap_or_else(|e| e.into_inner()))
    };
    let (first, last) = (take(&first), take(&last));
    assert!(first.len() > 4, "{first:?}");
    assert!(first.iter().all(|(owned, _)| !owned));
    assert!(last.iter().all(|(owned, _)| *owned));
    let events =
        |v: Vec<(bool, sflow::engine::Event)>| v.into_iter().map(|(_, e)| e).collect::<Vec<_>>();
    assert_eq!(events(first), events(last));
}
