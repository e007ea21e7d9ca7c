//! Lowering and forecast tests on programs built by hand (the examples' snapshots are in
//! `tests/plan.rs`): routes and barriers, percentage waves, pools, params, the hash, and
//! hand-computed forecasts.

use super::forecast::forecast;
use super::*;
use crate::program::{
    self as p, CommandTemplate, Group, HostId, HostSet, Inventory, Parallel, Program, Rollout,
    TaskId, TemplatePart, ValueRef, WaveForm, Workflow,
};
use crate::span::Span;
use chrono::{DateTime, TimeZone, Utc};
use std::time::Duration;

const MIN: u64 = 60;

fn inventory(n: usize, name: impl Fn(usize) -> String) -> Inventory {
    let hosts = (0..n)
        .map(|i| p::Host {
            id: HostId(i as u32),
            name: name(i),
            address: format!("10.0.{}.{}", i / 250, i % 250 + 1),
            port: 22,
            user: Some("ops".into()),
            jump: None,
            transport: p::Transport::Ssh,
            attrs: [(
                "dc".to_string(),
                if i % 2 == 0 { "fra1" } else { "ams1" }.to_string(),
            )]
            .into_iter()
            .collect(),
            span: None,
        })
        .collect();
    Inventory {
        hosts,
        groups: Default::default(),
    }
}

fn set(ids: impl IntoIterator<Item = u32>) -> HostSet {
    HostSet::from_ids(ids.into_iter().map(HostId))
}

fn task(id: u32, name: &str, hosts: HostSet, deps: &[u32], estimate_min: u64) -> p::Task {
    p::Task {
        id: TaskId(id),
        name: name.into(),
        span: Span::default(),
        hosts,
        deps: deps.iter().map(|d| TaskId(*d)).collect(),
        when: None,
        run: CommandTemplate::literal(format!("run-{name}")),
        rollback: None,
        timeout: p::DEFAULT_TIMEOUT,
        retry: 0,
        retry_delay: p::DEFAULT_RETRY_DELAY,
        estimate: Duration::from_secs(estimate_min * MIN),
        sudo: false,
        allow_failure: false,
        capture: None,
        local: false,
        env: Default::default(),
        stdin: None,
        template: None,
    }
}

fn workflow(tasks: Vec<p::Task>, waves: Vec<(&str, HostSet)>) -> Workflow {
    Workflow {
        name: "wf".into(),
        span: Span::default(),
        description: None,
        change: Some("CHG-1".into()),
        params: Vec::new(),
        secrets: Vec::new(),
        sudo_password: None,
        approve: None,
        notify: None,
        windows: Vec::new(),
        window_settings: Default::default(),
        parallel: Parallel::default(),
        tasks,
        rollout: Rollout {
            waves: waves
                .into_iter()
                .map(|(n, hosts)| p::Wave {
                    name: n.into(),
                    hosts,
                    span: None,
                })
                .collect(),
            form: WaveForm::Explicit,
            verify: Vec::new(),
            max_failures: p::HostCount::Count(0),
            failure_budget: None,
            auto_rollback: false,
            rollback_scope: p::RollbackScope::Wave,
            bake: Duration::ZERO,
            span: None,
        },
        verifies: Vec::new(),
    }
}

fn window(hosts: HostSet, spec: &str) -> p::Window {
    p::Window {
        hosts,
        spec: crate::window::WindowSpec::parse(spec).unwrap(),
        spec_span: Span::default(),
        span: Span::default(),
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn plan_of(inv: Inventory, wf: Workflow) -> Plan {
    let program = Program {
        inventory: inv,
        workflows: vec![wf],
    };
    lower(&program, None, &[]).unwrap()
}

#[test]
fn routes_follow_dependencies_then_written_order_and_barriers_cross_hosts() {
    // Hosts 0-1 are web, 2 is db. `migrate` runs on db only; `deploy` on web waits for it: a
    // barrier. `check` runs on all hosts after `deploy`: on db it has no local dependency.
    let web = set([0, 1]);
    let all = set([0, 1, 2]);
    let tasks = vec![
        task(0, "deploy", web.clone(), &[1, 3], 1),
        task(1, "migrate", set([2]), &[], 1),
        task(2, "check", all.clone(), &[0], 1),
        task(3, "fetch", web.clone(), &[], 1),
    ];
    let plan = plan_of(
        inventory(3, |i| format!("h{i}")),
        workflow(tasks, vec![("all", all)]),
    );
    assert_eq!(plan.routes.len(), 2);
    let web_route = &plan.routes[plan.waves[0].hosts[0].route as usize];
    let order: Vec<&str> = web_route
        .steps
        .iter()
        .map(|s| plan.tasks[s.task as usize].name.as_str())
        .collect();
    // `fetch` (written last) must precede `deploy`, which precedes `check`.
    assert_eq!(order, ["fetch", "deploy", "check"]);
    assert_eq!(web_route.steps[1].after, vec![0]);
    assert_eq!(web_route.steps[1].barriers, vec![1]);
    assert_eq!(web_route.steps[2].after, vec![1]);
    let db_route = &plan.routes[plan.waves[0].hosts[2].route as usize];
    let db_order: Vec<u32> = db_route.steps.iter().map(|s| s.task).collect();
    assert_eq!(db_order, vec![1, 2]);
    assert!(db_route.steps[1].after.is_empty() && db_route.steps[1].barriers.is_empty());
    assert_eq!(
        plan.waves[0].barriers,
        vec![Barrier {
            task: 1,
            hosts: vec![2]
        }]
    );
}

/// Sizes of `waves = [1, 10%, 50%, 100%] of all` over `n` hosts.
fn percentage_wave_sizes(n: usize) -> (Vec<usize>, Plan) {
    let all = set(0..n as u32);
    let sizes = [
        p::HostCount::Count(1),
        p::HostCount::Percent(10),
        p::HostCount::Percent(50),
        p::HostCount::Percent(100),
    ];
    let waves: Vec<(String, HostSet)> = p::split_by_sizes(&all, &sizes)
        .into_iter()
        .enumerate()
        .map(|(i, h)| (format!("wave{}", i + 1), h))
        .collect();
    let mut wf = workflow(vec![task(0, "t", all, &[], 1)], Vec::new());
    wf.rollout.waves = waves
        .into_iter()
        .map(|(name, hosts)| p::Wave {
            name,
            hosts,
            span: None,
        })
        .collect();
    wf.rollout.form = WaveForm::Sizes(sizes.to_vec());
    let plan = plan_of(inventory(n, |i| format!("web{i:04}")), wf);
    (plan.waves.iter().map(|w| w.hosts.len()).collect(), plan)
}

#[test]
fn percentage_waves_are_cumulative_in_inventory_order() {
    // Cumulative targets: 1, ceil(10% n), ceil(50% n), n; each wave is the difference, and
    // empty waves are dropped.
    // n = 1: 1, 1, 1, 1 -> [1].
    assert_eq!(percentage_wave_sizes(1).0, vec![1]);
    // n = 7: 1, ceil(0.7) = 1, ceil(3.5) = 4, 7 -> [1, 0, 3, 3] -> [1, 3, 3].
    assert_eq!(percentage_wave_sizes(7).0, vec![1, 3, 3]);
    // n = 100: 1, 10, 50, 100 -> [1, 9, 40, 50].
    assert_eq!(percentage_wave_sizes(100).0, vec![1, 9, 40, 50]);
    // n = 1000: 1, 100, 500, 1000 -> [1, 99, 400, 500].
    let (sizes, plan) = percentage_wave_sizes(1000);
    assert_eq!(sizes, vec![1, 99, 400, 500]);
    let order: Vec<u32> = plan
        .waves
        .iter()
        .flat_map(|w| &w.hosts)
        .map(|h| h.host)
        .collect();
    assert_eq!(order, (0..1000).collect::<Vec<u32>>());
    assert_eq!(plan.waves[1].name, "wave2");
}

#[test]
fn params_are_substituted_quoted_and_checked() {
    let mut wf = workflow(
        vec![task(0, "pin", set([0]), &[], 1)],
        vec![("all", set([0]))],
    );
    wf.params = vec![
        p::Param {
            name: "pin".into(),
            ty: p::Type::String,
            default: Some(p::Literal::String("3.0 beta".into())),
            span: Span::default(),
        },
        p::Param {
            name: "batch".into(),
            ty: p::Type::Int,
            default: None,
            span: Span::default(),
        },
    ];
    wf.tasks[0].run = CommandTemplate {
        parts: vec![
            TemplatePart::Text("install openssl=".into()),
            TemplatePart::Interp {
                value: ValueRef::Param("pin".into()),
                raw: false,
                span: Span::default(),
            },
            TemplatePart::Text(" --host ".into()),
            TemplatePart::Interp {
                value: ValueRef::HostAttr("address".into()),
                raw: false,
                span: Span::default(),
            },
        ],
    };
    let program = Program {
        inventory: inventory(1, |i| format!("h{i}")),
        workflows: vec![wf],
    };
    assert_eq!(
        lower(&program, None, &[]),
        Err(PlanError::MissingParam {
            name: "batch".into()
        })
    );
    let bad = [("batch".to_string(), "ten".to_string())];
    assert!(matches!(
        lower(&program, None, &bad),
        Err(PlanError::ParamType { .. })
    ));
    let typo = [("bacth".to_string(), "1".to_string())];
    assert_eq!(
        lower(&program, None, &typo),
        Err(PlanError::UnknownParam {
            name: "bacth".into(),
            help: "did you mean `batch`?".into()
        })
    );
    let ok = [("batch".to_string(), "10".to_string())];
    let plan = lower(&program, Some("wf"), &ok).unwrap();
    assert_eq!(plan.params["batch"], Value::Int(10));
    let run = &plan.tasks[0].run;
    assert_eq!(
        run.parts[0],
        Part::Text("install openssl='3.0 beta' --host ".into())
    );
    assert_eq!(
        run.display(&plan, &|t| plan.capture_name(t)),
        "install openssl='3.0 beta' --host ${host.address}"
    );
    assert!(matches!(
        lower(&program, Some("nope"), &ok),
        Err(PlanError::UnknownWorkflow { .. })
    ));
}

fn small_plan() -> (Inventory, Workflow) {
    let all = set([0, 1, 2]);
    let mut wf = workflow(
        vec![
            task(0, "a", all.clone(), &[], 5),
            task(1, "b", all.clone(), &[0], 5),
        ],
        vec![("canary", set([0])), ("rest", set([1, 2]))],
    );
    wf.windows = vec![window(all, "Sun 01:00-03:00 UTC")];
    wf.parallel.max_servers = Some(2);
    (inventory(3, |i| format!("web{i:02}")), wf)
}

#[test]
fn hash_is_stable_and_covers_commands_hosts_limits_and_windows() {
    let (inv, wf) = small_plan();
    let base = plan_of(inv.clone(), wf.clone());
    assert_eq!(base.hash, plan_of(inv.clone(), wf.clone()).hash);
    assert_eq!(base.hash, base.compute_hash());
    assert_eq!(base.hash.len(), 64);

    let mut changed = wf.clone();
    changed.tasks[1].run = CommandTemplate::literal("run-b --force");
    assert_ne!(plan_of(inv.clone(), changed).hash, base.hash);

    let mut limit = wf.clone();
    limit.parallel.max_servers = Some(3);
    assert_ne!(plan_of(inv.clone(), limit).hash, base.hash);

    let mut win = wf.clone();
    win.windows[0].spec = crate::window::WindowSpec::parse("Sun 01:00-04:00 UTC").unwrap();
    assert_ne!(plan_of(inv.clone(), win).hash, base.hash);

    let mut host = inv.clone();
    host.hosts[2].address = "192.0.2.9".into();
    assert_ne!(plan_of(host, wf.clone()).hash, base.hash);

    // Spans (comments, layout) are not part of the plan.
    let mut moved = wf;
    moved.tasks[0].span = Span::new(Default::default(), 100, 200);
    assert_eq!(plan_of(inv, moved).hash, base.hash);
}

#[test]
fn json_round_trips_and_refuses_edits() {
    let (inv, wf) = small_plan();
    let plan = plan_of(inv, wf);
    let json = plan.to_json();
    assert_eq!(Plan::from_json(&json).unwrap(), plan);
    let edited = json.replace("run-b", "rm -rf /");
    assert_eq!(Plan::from_json(&edited), Err(PlanError::PlanHash));
    let future = json.replace("\"format\": 1", "\"format\": 99");
    assert_eq!(Plan::from_json(&future), Err(PlanError::PlanFormat(99)));
}

#[test]
fn pools_per_smallest_group_and_per_attribute() {
    let mut inv = inventory(4, |i| format!("h{i}"));
    let group = |name: &str, ids: &[u32]| Group {
        name: name.into(),
        hosts: set(ids.iter().copied()),
        span: Span::default(),
    };
    inv.groups
        .insert("fleet".into(), group("fleet", &[0, 1, 2, 3]));
    inv.groups.insert("web".into(), group("web", &[0, 1]));
    inv.groups.insert("db".into(), group("db", &[2]));
    let mut wf = workflow(
        vec![task(0, "t", set(0..4), &[], 1)],
        vec![("all", set(0..4))],
    );
    wf.parallel.per_group = p::PerGroup::Uniform(1);
    wf.parallel.per_attr = vec![("dc".into(), 5)];
    let plan = plan_of(inv, wf);
    let pools: Vec<(&str, Vec<u32>)> = plan
        .limits
        .pools
        .iter()
        .map(|p| (p.name.as_str(), p.hosts.clone()))
        .collect();
    // h3 is only in `fleet`; h0, h1 count in `web`, h2 in `db`.
    assert_eq!(
        pools,
        vec![
            ("per_group db", vec![2]),
            ("per_group fleet", vec![3]),
            ("per_group web", vec![0, 1]),
            ("per dc = ams1", vec![1, 3]),
            ("per dc = fra1", vec![0, 2]),
        ]
    );
}

/// 40 hosts × 3 tasks of 5m, `max_servers = limit`, one 2h window a day (`daily 01:00-03:00
/// UTC`), cutoff 10m, forecast from 2026-11-28 00:00Z.
fn forty_hosts(limit: u32, stagger_s: u64) -> super::forecast::Forecast {
    let all = set(0..40);
    let mut wf = workflow(
        vec![
            task(0, "a", all.clone(), &[], 5),
            task(1, "b", all.clone(), &[0], 5),
            task(2, "c", all.clone(), &[1], 5),
        ],
        vec![("all", all.clone())],
    );
    wf.windows = vec![window(all, "daily 01:00-03:00 UTC")];
    wf.window_settings.cutoff = Duration::from_secs(10 * MIN);
    wf.parallel.max_servers = Some(limit);
    wf.parallel.stagger = Duration::from_secs(stagger_s);
    let plan = plan_of(inventory(40, |i| format!("web{:02}", i + 1)), wf);
    forecast(&plan, utc("2026-11-28T00:00:00Z"))
}

#[test]
fn forecast_forty_hosts_ten_in_parallel_fits() {
    // Each host needs 3 × 5m = 15m. Ten at a time: four batches starting at 01:00, 01:15,
    // 01:30, 01:45; the last task of the last batch starts at 01:55 with 65m left (≥ the 10m
    // cutoff and the 5m estimate), so everything ends at 02:00 in the first occurrence.
    let f = forty_hosts(10, 0);
    let w = &f.waves[0];
    assert_eq!(w.start, Some(utc("2026-11-28T01:00:00Z")));
    assert_eq!(w.end, Some(utc("2026-11-28T02:00:00Z")));
    assert_eq!(w.work, Duration::from_secs(40 * 15 * MIN));
    assert!(w.fits && w.deferred == 0 && w.occurrences == 1);
    assert_eq!(f.finish, Some(utc("2026-11-28T02:00:00Z")));
    assert!(f.warnings.is_empty());
}

#[test]
fn forecast_stagger_shifts_each_batch() {
    // With stagger 2s hosts 0..9 start at 01:00:00, :02, ... :18; host k+10 takes the slot of
    // host k when it ends, 15m after it started, so host 39 starts at 01:45:18 and ends at
    // 02:00:18.
    let f = forty_hosts(10, 2);
    assert_eq!(f.waves[0].end, Some(utc("2026-11-28T02:00:18Z")));
    assert!(f.waves[0].fits);
}

#[test]
fn forecast_five_in_parallel_spills_into_the_next_night() {
    // Five at a time: eight batches of 15m from 01:00; batch 8 (hosts 36-40) starts at 02:45.
    // Its task a starts at 02:45 with 15m left (ok), task b at 02:50 with 10m left (= cutoff,
    // ok), task c at 02:55 with 5m left (< cutoff): deferred to the next night, 2026-11-29
    // 01:00, ending 01:05. Five task instances are deferred; two occurrences are used.
    let f = forty_hosts(5, 0);
    let w = &f.waves[0];
    assert_eq!(w.deferred, 5);
    assert!(!w.fits);
    assert_eq!(w.occurrences, 2);
    assert_eq!(w.end, Some(utc("2026-11-29T01:05:00Z")));
    assert_eq!(f.occurrences, 2);
    // Without windows the work takes 8 × 15m = 2h; the first occurrence leaves 2h - 10m.
    assert_eq!(f.warnings.len(), 1);
    assert!(
        f.warnings[0].contains("5 task instances wait for a later one")
            && f.warnings[0].contains("needs 2h under its limits")
            && f.warnings[0].contains("leaves 1h50m after the 10m cutoff"),
        "{}",
        f.warnings[0]
    );
}

#[test]
fn forecast_waves_follow_each_other_with_bake_and_block_on_impossible_windows() {
    // Canary web00 runs a (5m) and b (5m) from 01:00 to 01:10; bake 5m makes the second wave
    // ready at 01:15; with max_servers 2 both rest hosts run 01:15-01:25.
    let (inv, mut wf) = small_plan();
    wf.rollout.bake = Duration::from_secs(5 * MIN);
    let plan = plan_of(inv.clone(), wf.clone());
    let f = forecast(&plan, Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap());
    let ends: Vec<Option<DateTime<Utc>>> = f.waves.iter().map(|w| w.end).collect();
    assert_eq!(
        ends,
        vec![
            Some(utc("2026-11-29T01:10:00Z")),
            Some(utc("2026-11-29T01:25:00Z"))
        ]
    );
    assert_eq!(f.waves[1].ready, utc("2026-11-29T01:15:00Z"));
    // A 3h task in a 2h window never fits: the first wave is blocked, nothing after it runs.
    wf.tasks[1].estimate = Duration::from_secs(180 * MIN);
    let f = forecast(&plan_of(inv, wf), utc("2026-11-28T12:00:00Z"));
    assert_eq!(f.waves.len(), 1);
    assert!(f.waves[0]
        .blocked
        .as_deref()
        .is_some_and(|b| b.contains("task `b`")));
    assert_eq!(f.finish, None);
}

#[test]
fn forecast_per_host_parallelism_and_barriers() {
    // One host, tasks a (10m) and b (5m) independent, c (5m) after both. One at a time:
    // 10 + 5 + 5 = 20m. Two at a time: a and b together, c when a ends at 10m: 15m.
    let one = set([0]);
    let tasks = vec![
        task(0, "a", one.clone(), &[], 10),
        task(1, "b", one.clone(), &[], 5),
        task(2, "c", one.clone(), &[0, 1], 5),
    ];
    let at = utc("2026-11-28T00:00:00Z");
    let mut wf = workflow(tasks, vec![("all", one)]);
    let serial = forecast(&plan_of(inventory(1, |i| format!("h{i}")), wf.clone()), at);
    assert_eq!(serial.finish, Some(utc("2026-11-28T00:20:00Z")));
    wf.parallel.per_host = 2;
    let parallel = forecast(&plan_of(inventory(1, |i| format!("h{i}")), wf), at);
    assert_eq!(parallel.finish, Some(utc("2026-11-28T00:15:00Z")));

    // A barrier: `deploy` on h0 and h1 waits for `migrate` (30m) on h2. Without limits or
    // windows, deploy (5m) runs 30m-35m on both web hosts.
    let tasks = vec![
        task(0, "migrate", set([2]), &[], 30),
        task(1, "deploy", set([0, 1]), &[0], 5),
    ];
    let plan = plan_of(
        inventory(3, |i| format!("h{i}")),
        workflow(tasks, vec![("all", set([0, 1, 2]))]),
    );
    let f = forecast(&plan, at);
    assert_eq!(f.waves[0].start, Some(at));
    assert_eq!(f.finish, Some(utc("2026-11-28T00:35:00Z")));
    // With two slots, the waiting web hosts must not hold them: h2 runs migrate first.
    let mut limited = plan.clone();
    limited.limits.max_servers = Some(2);
    let f = forecast(&limited, at);
    assert_eq!(f.finish, Some(utc("2026-11-28T00:35:00Z")));
    assert!(f.waves[0].blocked.is_none());
}
