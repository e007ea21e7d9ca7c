//! Generator of large `.sflow` workflows for benchmarks: `hosts` hosts in 20 groups, 200 tasks
//! (each on one group, so `hosts × 10` task instances), one window per group over 5 time
//! zones, percentage waves and per-attribute limits. Include it from a bench with
//! `#[path = "gen_workflow.rs"] mod gen_workflow;`.

#![allow(dead_code)]

use std::fmt::Write as _;

/// Groups in the generated inventory.
pub const GROUPS: usize = 20;
/// Tasks in the generated workflow.
pub const TASKS: usize = 200;
/// The zones the windows cycle through.
pub const ZONES: [&str; 5] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
];

/// The source of a file holding the inventory and one workflow `bench` over `hosts` hosts.
pub fn generate(hosts: usize) -> String {
    let mut s = String::with_capacity(hosts * 120 + TASKS * 200);
    s.push_str("inventory {\n  defaults { user = \"ops\" }\n");
    for h in 0..hosts {
        let _ = writeln!(
            s,
            "  host web{:05}.example.com {{ address = \"10.{}.{}.{}\" dc = \"dc{}\" }}",
            h + 1,
            h / 65536,
            (h / 256) % 256,
            h % 256,
            h % 5
        );
    }
    let per_group = hosts.div_ceil(GROUPS);
    for g in 0..GROUPS {
        let members: Vec<String> = (g * per_group..((g + 1) * per_group).min(hosts))
            .map(|h| format!("web{:05}.example.com", h + 1))
            .collect();
        let _ = writeln!(s, "  group g{:02} = [{}]", g + 1, members.join(", "));
    }
    s.push_str("}\n\nworkflow bench {\n  change = \"CHG-BENCH\"\n");
    for g in 0..GROUPS {
        let _ = writeln!(
            s,
            "  window g{:02} = \"Sat,Sun 00:00-08:00 {}\"",
            g + 1,
            ZONES[g % ZONES.len()]
        );
    }
    s.push_str("  windows { cutoff = 10m  on_expire = \"finish\" }\n");
    s.push_str("  parallel {\n    max_servers = 100\n    per dc = 40\n    stagger = 1s\n  }\n");
    for t in 0..TASKS {
        let group = t % GROUPS + 1;
        let after = if t >= GROUPS {
            format!(" after t{:03}", t - GROUPS)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "  task t{t:03} on g{group:02}{after} {{\n    run = \"step-{t} --host ${{host.address}}\"\n    estimate = 1m\n  }}"
        );
    }
    s.push_str(
        "  rollout {\n    waves = [1, 10%, 50%, 100%] of all\n    max_failures = 1%\n  }\n}\n",
    );
    s
}
