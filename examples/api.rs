//! The OS-patching workflow of `examples/os_patching.sflow`, built with the Rust library API
//! (`sflow::api`) instead of a file: three groups, five tasks, a canary wave, the
//! `package_versions` verification, per-group Sunday windows, and 10/5 parallelism with a
//! 2 s stagger. `tests/api.rs` runs [`os_patching`] against the in-process SSH fleet.
//!
//! Run it with `cargo run --example api -- --source` to print the `.sflow` text the workflow
//! is checked as, `-- --plan` to print the plan `sflow plan` would show, or without
//! arguments to patch the hosts below (the SSH agent
//! authenticates; `~/.ssh/known_hosts` must know them). Outside the Sunday windows every host
//! is deferred.

use sflow::api::{
    Change, Engine, Expect, Host, Inventory, OnExpire, Parallelization, ProgressiveExecution,
    SshAuth, Task, Verification, WindowPolicy, Workflow,
};
use std::process::ExitCode;
use std::time::Duration;

/// The inventory and the workflow for these hosts; the first web server is the canary.
pub fn os_patching(web: Vec<Host>, db: Vec<Host>, cache: Vec<Host>) -> (Inventory, Workflow) {
    let names = |hosts: &[Host]| {
        hosts
            .iter()
            .map(|h| h.name().to_string())
            .collect::<Vec<_>>()
    };
    let canary = web.first().map(|h| h.name().to_string());
    let mut inventory = Inventory::new();
    inventory
        .add_group("web_servers", names(&web))
        .add_group("db_servers", names(&db))
        .add_group("cache_servers", names(&cache));
    for host in web.into_iter().chain(db).chain(cache) {
        inventory.add_host(host);
    }

    let mut workflow = Workflow::new("os_patching");
    workflow
        .set_description("Monthly OS patching")
        .set_change("CHG-2291")
        .set_maintenance_window("web_servers", "Sun 01:00-03:00 UTC")
        .set_maintenance_window("db_servers", "Sun 01:00-05:00 UTC")
        .set_maintenance_window("cache_servers", "Sun 01:00-05:00 UTC")
        .set_window_policy(WindowPolicy {
            cutoff: Some(Duration::from_secs(10 * 60)),
            on_expire: OnExpire::Finish,
        })
        .set_parallelization(
            Parallelization::new()
                .max_servers(10)
                .per_group(5)
                .stagger(Duration::from_secs(2)),
        )
        .add_task(
            Task::new("backup")
                .on("all")
                .run("tar -czf /backup/$(hostname)-$(date +%Y%m%d).tar.gz /etc"),
        )
        .add_task(
            Task::new("update_repos")
                .on("all")
                .run("apt-get update")
                .retry(2),
        )
        .add_task(
            Task::new("upgrade_packages")
                .on("all")
                .run("apt-get -y upgrade")
                .depends_on(["update_repos"])
                .estimate(Duration::from_secs(15 * 60))
                .sudo(),
        )
        .add_task(
            Task::new("restart_services")
                .on("web_servers")
                .run("systemctl restart nginx")
                .depends_on(["upgrade_packages"])
                .sudo(),
        )
        .add_task(
            Task::new("verify_web")
                .on("web_servers")
                .run("curl -s http://localhost/health | grep -q 'OK'")
                .depends_on(["restart_services"]),
        );

    let mut rollout = ProgressiveExecution::new();
    if let Some(canary) = &canary {
        rollout = rollout
            .wave("canary", format!("[{canary}]"))
            .wave("web", format!("web_servers except {canary}"));
    }
    workflow
        .set_progressive_execution(
            rollout
                .wave("db", "db_servers")
                .wave("cache", "cache_servers")
                .verify_with(["verify_web"])
                .auto_rollback(true),
        )
        .add_verification(
            Verification::new("package_versions")
                .before("backup")
                .after("upgrade_packages")
                .capture(
                    "package_versions",
                    "dpkg -l | grep -E 'openssl|bash|kernel'",
                )
                .expect(
                    Expect::new("package_versions", Change::VersionIncrease)
                        .matching(r"ii\s+openssl\s+(\S+)"),
                ),
        );
    (inventory, workflow)
}

#[tokio::main]
async fn main() -> ExitCode {
    let hosts = |names: &[&str]| names.iter().map(|n| Host::new(*n)).collect::<Vec<_>>();
    let (inventory, workflow) = os_patching(
        hosts(&[
            "web01.example.com",
            "web02.example.com",
            "web03.example.com",
        ]),
        hosts(&["db01.example.com", "db02.example.com"]),
        hosts(&["cache01.example.com", "cache02.example.com"]),
    );
    let engine = Engine::new(inventory, SshAuth::from_agent());
    if std::env::args().any(|a| a == "--source") {
        return match engine.source(&workflow) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    if std::env::args().any(|a| a == "--plan") {
        return match engine.plan(&workflow) {
            Ok(plan) => {
                print!("{}", sflow::plan::render::text(&plan, None));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    match engine.execute(&workflow).await {
        Ok(result) => {
            println!(
                "{:?}: {} succeeded, {} failed, {} deferred",
                result.status,
                result.successful_servers.len(),
                result.failed_servers.len(),
                result.deferred_servers.len()
            );
            for v in &result.verification_results {
                let verdict = if v.passed { "passed" } else { "FAILED" };
                println!("  {} on {}: {verdict} ({})", v.verify, v.host, v.detail);
            }
            ExitCode::from(result.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
