//! Sealed plans: takes a saved plan (`sflow plan -o plan.json`), the inventory given to
//! `sflow run`, or the plan a resumed run recorded and the one the files on disk give now, and
//! hands back the plan when it is exactly what was sealed, or a diagnostic saying what differs.

use crate::plan::{Plan, PLAN_FORMAT};
use crate::program::Inventory;
use serde::Serialize;
use std::collections::BTreeMap;

/// Why a sealed plan is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum SealError {
    /// The file is not a plan.
    #[error("not a plan file: {0}")]
    #[diagnostic(code(sflow::seal::unreadable))]
    Unreadable(String),
    /// The plan was written by another plan format.
    #[error("plan format {found} is not supported (this sflow writes format {known})")]
    #[diagnostic(
        code(sflow::seal::format),
        help("re-create the plan with `sflow plan -o`")
    )]
    Format {
        /// The file's format.
        found: u32,
        /// Ours.
        known: u32,
    },
    /// The content does not hash to the recorded hash: the file was edited after it was sealed.
    #[error("plan content does not match its recorded hash (recorded {recorded}, content hashes to {computed}): the plan was edited after `sflow plan`")]
    #[diagnostic(
        code(sflow::seal::hash),
        help("re-create the plan with `sflow plan -o` and review it again")
    )]
    HashMismatch {
        /// The `hash` field.
        recorded: String,
        /// The hash of the content.
        computed: String,
    },
    /// The inventory given is not the one the plan was made with.
    #[error("the inventory differs from the plan's: {}", differences.join("; "))]
    #[diagnostic(
        code(sflow::seal::inventory),
        help("run with the inventory the plan was made with, or re-create the plan")
    )]
    InventoryDiffers {
        /// What differs, one item per host or attribute.
        differences: Vec<String>,
    },
    /// The workflow or inventory on disk no longer give the plan a run recorded.
    #[error("the workflow or inventory changed since the run was planned: {}", differences.join("; "))]
    #[diagnostic(
        code(sflow::seal::changed),
        help("resume with --replan to run the new plan (the new hash is recorded), or restore the files")
    )]
    PlanChanged {
        /// What differs.
        differences: Vec<String>,
    },
}

/// Reads a sealed plan, refusing another format or content that does not match its hash.
pub fn load(text: &str) -> Result<Plan, SealError> {
    let plan: Plan =
        serde_json::from_str(text).map_err(|e| SealError::Unreadable(e.to_string()))?;
    if plan.format != PLAN_FORMAT {
        return Err(SealError::Format {
            found: plan.format,
            known: PLAN_FORMAT,
        });
    }
    let computed = plan.compute_hash();
    if computed != plan.hash {
        return Err(SealError::HashMismatch {
            recorded: plan.hash.clone(),
            computed,
        });
    }
    Ok(plan)
}

/// Checks that every host of the plan is in `inventory` with the same connection settings and
/// attributes, and that the inventory adds no host to a group the plan runs on.
///
/// A plan records the digest of its whole inventory ([`crate::plan::InventoryDigest`]): any
/// other inventory is refused, naming hosts added, removed or changed where it can. A plan
/// written before digests existed records only the hosts it touches: there a host of
/// `inventory` missing from the plan counts as added when it shares a group with plan hosts and
/// every other member of that group is in the plan (the group was targeted as a whole).
pub fn check_inventory(plan: &Plan, inventory: &Inventory) -> Result<(), SealError> {
    let by_name: BTreeMap<&str, &crate::program::Host> = inventory
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h))
        .collect();
    let mut differences = Vec::new();
    for h in &plan.hosts {
        let Some(inv) = by_name.get(h.name.as_str()) else {
            differences.push(format!(
                "host `{}` removed: it is in the plan, not in the inventory",
                h.name
            ));
            continue;
        };
        let mut field = |name: &str, planned: String, given: String| {
            if planned != given {
                differences.push(format!(
                    "host `{}`: {name} `{planned}` in the plan, `{given}` in the inventory",
                    h.name
                ));
            }
        };
        field("address", h.address.clone(), inv.address.clone());
        field("port", h.port.to_string(), inv.port.to_string());
        field(
            "user",
            h.user.clone().unwrap_or_default(),
            inv.user.clone().unwrap_or_default(),
        );
        for (k, v) in &h.attrs {
            field(
                &format!("attribute {k}"),
                v.clone(),
                inv.attrs.get(k).cloned().unwrap_or_default(),
            );
        }
        for (k, v) in &inv.attrs {
            if !h.attrs.contains_key(k) {
                field(&format!("attribute {k}"), String::new(), v.clone());
            }
        }
    }
    if plan.inventory.is_empty() {
        // A plan from before inventory digests: judge added hosts by the groups it runs on.
        differences.extend(added_hosts(plan, inventory));
    } else {
        let given = crate::plan::InventoryDigest::of(inventory);
        if given.sha256 != plan.inventory.sha256 {
            let sealed: std::collections::BTreeSet<&str> =
                plan.inventory.hosts.iter().map(String::as_str).collect();
            let now: std::collections::BTreeSet<&str> =
                given.hosts.iter().map(String::as_str).collect();
            let planned: std::collections::BTreeSet<&str> =
                plan.hosts.iter().map(|h| h.name.as_str()).collect();
            for added in now.difference(&sealed) {
                differences.push(format!(
                    "host `{added}` added: it is in the inventory, not in the plan's"
                ));
            }
            for removed in sealed.difference(&now).filter(|h| !planned.contains(*h)) {
                differences.push(format!(
                    "host `{removed}` removed: it is in the plan's inventory, not in this one"
                ));
            }
            if differences.is_empty() {
                differences.push(
                    "the inventory differs from the plan's in hosts the plan does not run on or \
                     in its groups (a changed attribute or group can change what a target \
                     selects): plan again against this inventory"
                        .to_owned(),
                );
            }
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(SealError::InventoryDiffers { differences })
    }
}

/// Hosts of `inventory` the plan lacks although the rest of one of their groups is in it.
fn added_hosts(plan: &Plan, inventory: &Inventory) -> Vec<String> {
    let planned: std::collections::BTreeSet<&str> =
        plan.hosts.iter().map(|h| h.name.as_str()).collect();
    let mut added: BTreeMap<&str, &str> = BTreeMap::new();
    for g in inventory.groups.values() {
        let names = inventory.names(&g.hosts);
        let (inside, outside): (Vec<&str>, Vec<&str>) =
            names.iter().partition(|n| planned.contains(**n));
        // One planned member is too little to say the group was targeted as a whole.
        if inside.len() >= 2 {
            for n in outside {
                added.entry(n).or_insert(g.name.as_str());
            }
        }
    }
    added
        .into_iter()
        .map(|(host, group)| {
            format!(
                "host `{host}` added: it is in the inventory (group `{group}`, which the plan \
                 runs on), not in the plan"
            )
        })
        .collect()
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Compares named items of two plans: added, removed and changed ones.
fn named<T: Serialize>(
    what: &str,
    before: &[T],
    after: &[T],
    name: impl Fn(&T) -> &str,
    out: &mut Vec<String>,
) {
    let b: BTreeMap<&str, &T> = before.iter().map(|x| (name(x), x)).collect();
    let a: BTreeMap<&str, &T> = after.iter().map(|x| (name(x), x)).collect();
    for (n, x) in &b {
        match a.get(n) {
            None => out.push(format!("{what} `{n}` removed")),
            Some(y) if json(x) != json(y) => out.push(format!("{what} `{n}` changed")),
            Some(_) => {}
        }
    }
    for n in a.keys().filter(|n| !b.contains_key(*n)) {
        out.push(format!("{what} `{n}` added"));
    }
}

/// What differs between the plan a run recorded and the plan the files give now; empty when
/// they are the same plan.
pub fn differences(recorded: &Plan, current: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if recorded.hash == current.hash {
        return out;
    }
    if recorded.workflow != current.workflow {
        out.push(format!(
            "workflow `{}` is now `{}`",
            recorded.workflow, current.workflow
        ));
    }
    named(
        "host",
        &recorded.hosts,
        &current.hosts,
        |h| &h.name,
        &mut out,
    );
    named(
        "task",
        &recorded.tasks,
        &current.tasks,
        |t| &t.name,
        &mut out,
    );
    let host_names = |p: &Plan, w: &crate::plan::Wave| -> Vec<String> {
        w.hosts
            .iter()
            .filter_map(|h| p.hosts.get(h.host as usize).map(|x| x.name.clone()))
            .collect()
    };
    let waves = |p: &Plan| -> BTreeMap<String, Vec<String>> {
        p.waves
            .iter()
            .map(|w| (w.name.clone(), host_names(p, w)))
            .collect()
    };
    let (wb, wa) = (waves(recorded), waves(current));
    if wb.keys().ne(wa.keys()) {
        out.push(format!(
            "waves were {:?}, now {:?}",
            wb.keys().collect::<Vec<_>>(),
            wa.keys().collect::<Vec<_>>()
        ));
    } else {
        for (name, hosts) in &wb {
            if wa.get(name) != Some(hosts) {
                out.push(format!("wave `{name}` has other hosts"));
            }
        }
    }
    let sections: [(&str, serde_json::Value, serde_json::Value); 8] = [
        ("params", json(&recorded.params), json(&current.params)),
        ("windows", json(&recorded.windows), json(&current.windows)),
        ("limits", json(&recorded.limits), json(&current.limits)),
        ("rollout", json(&recorded.rollout), json(&current.rollout)),
        (
            "verify blocks",
            json(&recorded.verifies),
            json(&current.verifies),
        ),
        ("secrets", json(&recorded.secrets), json(&current.secrets)),
        ("approval", json(&recorded.approve), json(&current.approve)),
        (
            "change ticket",
            json(&recorded.change),
            json(&current.change),
        ),
    ];
    for (name, b, a) in sections {
        if b != a {
            out.push(format!("{name} changed"));
        }
    }
    if out.is_empty() {
        // Same items, other structure (routes, notifications): still not the same plan.
        out.push(format!(
            "plan hash {} is now {}",
            short(&recorded.hash),
            short(&current.hash)
        ));
    }
    out
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Refuses a resume whose plan no longer matches the files on disk, saying what differs.
pub fn check_unchanged(recorded: &Plan, current: &Plan) -> Result<(), SealError> {
    let differences = differences(recorded, current);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(SealError::PlanChanged { differences })
    }
}

#[cfg(test)]
#[path = "seal_tests.rs"]
mod tests;
