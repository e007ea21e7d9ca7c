//! Tests of sealed plans: edited content, another inventory, and what a replan reports.

use super::*;
use crate::plan::{
    Command, Host, HostCount, Limits, OnExpire, RollbackScope, RolloutPolicy, Route, Step, Task,
    Transport, Wave, WaveHost, Windows,
};
use crate::program::{self as p, HostId};
use std::time::Duration;

fn host(i: u32) -> Host {
    Host {
        name: format!("web{i}"),
        address: format!("10.0.0.{i}"),
        port: 22,
        user: Some("ops".into()),
        jump: None,
        transport: Transport::Ssh,
        attrs: BTreeMap::from([("dc".to_owned(), "fra1".to_owned())]),
    }
}

fn task(name: &str, run: &str) -> Task {
    Task {
        name: name.into(),
        run: Command {
            parts: vec![crate::plan::Part::Text(run.into())],
        },
        rollback: None,
        when: None,
        timeout: Duration::from_secs(60),
        retry: 0,
        retry_delay: Duration::from_secs(5),
        estimate: Duration::from_secs(60),
        sudo: false,
        allow_failure: false,
        capture: None,
        local: false,
        env: BTreeMap::new(),
        stdin: None,
    }
}

fn plan() -> Plan {
    let mut plan = Plan {
        format: PLAN_FORMAT,
        hash: String::new(),
        workflow: "patch".into(),
        description: None,
        change: Some("CHG-1".into()),
        params: BTreeMap::new(),
        secrets: Vec::new(),
        sudo_password: None,
        approve: None,
        notify: None,
        hosts: vec![host(1), host(2)],
        tasks: vec![task("upgrade", "apt-get upgrade -y")],
        routes: vec![Route {
            steps: vec![Step {
                task: 0,
                after: Vec::new(),
                barriers: Vec::new(),
            }],
            captures: Vec::new(),
        }],
        waves: vec![Wave {
            name: "all".into(),
            hosts: (0..2)
                .map(|h| WaveHost {
                    host: h,
                    route: 0,
                    window: 0,
                })
                .collect(),
            barriers: Vec::new(),
        }],
        windows: Windows {
            cutoff: Duration::ZERO,
            on_expire: OnExpire::Finish,
            declared: Vec::new(),
            sets: Vec::new(),
        },
        limits: Limits {
            max_servers: Some(10),
            per_host: 1,
            stagger: Duration::ZERO,
            adaptive: false,
            pools: Vec::new(),
        },
        rollout: RolloutPolicy {
            verify: Vec::new(),
            max_failures: HostCount::Count(0),
            failure_budget: None,
            auto_rollback: false,
            rollback_scope: RollbackScope::Wave,
            bake: Duration::ZERO,
        },
        verifies: Vec::new(),
        inventory: crate::plan::InventoryDigest::default(),
    };
    plan.hash = plan.compute_hash();
    plan
}

fn inventory(plan: &Plan) -> Inventory {
    Inventory {
        hosts: plan
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| p::Host {
                id: HostId(u32::try_from(i).unwrap_or(0)),
                name: h.name.clone(),
                address: h.address.clone(),
                port: h.port,
                user: h.user.clone(),
                jump: None,
                transport: p::Transport::Ssh,
                attrs: h.attrs.clone(),
                span: None,
            })
            .collect(),
        groups: BTreeMap::new(),
    }
}

#[test]
fn a_sealed_plan_loads_and_an_edited_one_is_refused() {
    let text = plan().to_json();
    assert_eq!(load(&text).map(|p| p.workflow), Ok("patch".to_owned()));
    let edited = text.replace("apt-get upgrade -y", "apt-get dist-upgrade -y");
    match load(&edited) {
        Err(SealError::HashMismatch { recorded, computed }) => {
            assert_eq!(recorded, plan().hash);
            assert_ne!(recorded, computed);
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert!(matches!(load("{}"), Err(SealError::Unreadable(_))));
}

#[test]
fn another_inventory_is_refused_saying_what_differs() {
    let plan = plan();
    let mut inv = inventory(&plan);
    assert_eq!(check_inventory(&plan, &inv), Ok(()));
    inv.hosts[0].address = "10.9.9.9".into();
    inv.hosts[1].attrs.insert("dc".into(), "ams1".into());
    inv.hosts.push(p::Host {
        id: HostId(2),
        name: "web3".into(),
        ..inv.hosts[0].clone()
    });
    match check_inventory(&plan, &inv) {
        Err(SealError::InventoryDiffers { differences }) => {
            assert_eq!(differences.len(), 2, "{differences:?}");
            assert!(differences[0].contains("web1") && differences[0].contains("10.9.9.9"));
            assert!(differences[1].contains("attribute dc"));
        }
        other => panic!("expected inventory differences, got {other:?}"),
    }
    inv.hosts.remove(0);
    let err = check_inventory(&plan, &inv)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("host `web1` removed"), "{err}");
}

#[test]
fn a_host_added_to_a_group_the_plan_runs_on_is_reported() {
    let plan = plan();
    let mut inv = inventory(&plan);
    let web3 = p::Host {
        id: HostId(2),
        name: "web3".into(),
        address: "10.0.0.3".into(),
        ..inv.hosts[0].clone()
    };
    inv.hosts.push(web3);
    let group = |name: &str, ids: &[u32]| p::Group {
        name: name.into(),
        hosts: p::HostSet::from_ids(ids.iter().map(|i| HostId(*i))),
        span: crate::span::Span::default(),
    };
    // A host outside every targeted group is not the plan's business.
    assert_eq!(check_inventory(&plan, &inv), Ok(()));
    inv.groups.insert("web".into(), group("web", &[0, 1, 2]));
    match check_inventory(&plan, &inv) {
        Err(SealError::InventoryDiffers { differences }) => assert_eq!(
            differences,
            vec![
                "host `web3` added: it is in the inventory (group `web`, which the plan runs on), \
                 not in the plan"
                    .to_owned()
            ]
        ),
        other => panic!("expected an added host, got {other:?}"),
    }
}

#[test]
fn a_changed_plan_names_its_changes() {
    let before = plan();
    assert_eq!(check_unchanged(&before, &before.clone()), Ok(()));
    let mut after = before.clone();
    after.tasks[0] = task("upgrade", "apt-get dist-upgrade -y");
    after.hosts[1].address = "10.0.0.99".into();
    after.limits.max_servers = Some(5);
    after.hash = after.compute_hash();
    let d = differences(&before, &after);
    assert_eq!(
        d,
        vec![
            "host `web2` changed".to_owned(),
            "task `upgrade` changed".to_owned(),
            "limits changed".to_owned()
        ]
    );
    assert!(matches!(
        check_unchanged(&before, &after),
        Err(SealError::PlanChanged { .. })
    ));
}

#[test]
fn a_plan_with_an_inventory_digest_refuses_any_other_inventory() {
    let mut plan = plan();
    let inv = inventory(&plan);
    plan.inventory = crate::plan::InventoryDigest::of(&inv);
    assert_eq!(check_inventory(&plan, &inv), Ok(()));

    // A host added outside every group the plan runs on is still another inventory.
    let mut added = inv.clone();
    added.hosts.push(p::Host {
        id: HostId(2),
        name: "db9".into(),
        ..inv.hosts[0].clone()
    });
    let said = check_inventory(&plan, &added)
        .err()
        .map(|e| format!("{e:?}"))
        .unwrap_or_default();
    assert!(said.contains("host `db9` added"), "{said}");

    // A new group changes what targets could select, though no host changed.
    let mut grouped = inv.clone();
    grouped.groups.insert(
        "extra".into(),
        p::Group {
            name: "extra".into(),
            hosts: p::HostSet::from_ids([HostId(0)]),
            span: crate::span::Span::default(),
        },
    );
    let said = check_inventory(&plan, &grouped)
        .err()
        .map(|e| format!("{e:?}"))
        .unwrap_or_default();
    assert!(said.contains("in its groups"), "{said}");
}
