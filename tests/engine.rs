//! Engine scenarios on the scripted fake runner with virtual time: limits, stagger,
//! dependencies, retries, timeouts, gates, rollback, failure budgets, windows, adaptive
//! throttling and Ctrl-C. Every test runs on tokio's paused clock, so hours pass in
//! milliseconds and every schedule is deterministic.

use chrono::{DateTime, Utc};
use sflow::engine::event::{
    CancelReason, EventKind, Failure, HaltReason, OnExpire, RollbackScope, ThrottleReason,
};
use sflow::engine::fake::{FakeRunner, Scripted};
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
    tasks[0].rollback = Some("undo_a".into());
    tasks[1].rollback = Some("undo_b".into());
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
    tasks[0].rollback = Some("unprep".into());
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
