//! `sflow inventory FILE | --command CMD [--format text|json]`: resolves an inventory (an
//! Ansible INI/YAML/JSON file, a `.sflow` inventory or workflow file, or a dynamic inventory
//! command) the way `sflow check` does and prints its hosts, attributes and groups.

use super::exit;
use crate::check::{self, CheckOptions, Disk};
use crate::diagnostic::{render, Severity};
use crate::program::{Inventory, Transport};
use crate::span::{SourceFile, SourceMap};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format of `sflow inventory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per host, then one per group.
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `sflow inventory`.
#[derive(Debug, clap::Args)]
pub struct InventoryArgs {
    /// The inventory: Ansible INI, YAML or `--list` JSON, or a `.sflow` file.
    #[arg(required_unless_present = "command", conflicts_with = "command")]
    pub file: Option<PathBuf>,
    /// A dynamic inventory: a command printing Ansible's `--list` JSON.
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs `sflow inventory`.
pub fn run(args: &InventoryArgs) -> ExitCode {
    let mut sources = SourceMap::new();
    let mut opts = CheckOptions::default();
    // The inventory is loaded exactly as for a program: a `.sflow` file is checked as one, any
    // other file is the `--inventory` of an empty program, a command its dynamic inventory.
    let main_text = match (&args.file, &args.command) {
        (_, Some(cmd)) => format!(
            "inventory command({})\n",
            serde_json::Value::from(cmd.as_str())
        ),
        (Some(f), None) if f.extension().is_some_and(|e| e == "sflow") => {
            match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => return usage(f, &e),
            }
        }
        (Some(f), None) => {
            if let Err(e) = std::fs::metadata(f) {
                return usage(f, &e);
            }
            opts.inventory = Some(f.clone());
            String::new()
        }
        (None, None) => return ExitCode::from(exit::USAGE),
    };
    let (name, path) = match &args.file {
        Some(f) if f.extension().is_some_and(|e| e == "sflow") => {
            (f.display().to_string(), Some(f.clone()))
        }
        _ => ("<inventory>".to_string(), None),
    };
    let id = sources.add(SourceFile::new(name, path, main_text));
    let out = check::check_loaded(&mut sources, id, &Disk, &opts);
    let errors = out
        .diagnostics
        .iter()
        .filter(|d| d.severity() == Severity::Error)
        .count();
    if !out.diagnostics.is_empty() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let _ = write!(
            std::io::stderr().lock(),
            "{}",
            render::render_human(&out.diagnostics, &sources, color)
        );
    }
    let Some(program) = out.program.filter(|_| errors == 0) else {
        return ExitCode::from(exit::FAILED);
    };
    let text = match args.format {
        Format::Text => to_text(&program.inventory),
        Format::Json => {
            serde_json::to_string_pretty(&to_json(&program.inventory)).unwrap_or_default() + "\n"
        }
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    ExitCode::from(exit::OK)
}

fn usage(f: &std::path::Path, e: &std::io::Error) -> ExitCode {
    eprintln!(
        "error: cannot read `{}`: {}",
        f.display(),
        e.to_string().to_lowercase()
    );
    ExitCode::from(exit::USAGE)
}

/// Group names of each host, in inventory order.
fn groups_of(inv: &Inventory) -> Vec<Vec<&str>> {
    inv.hosts
        .iter()
        .map(|h| {
            inv.groups
                .values()
                .filter(|g| g.hosts.contains(h.id))
                .map(|g| g.name.as_str())
                .collect()
        })
        .collect()
}

/// The text report: hosts with their connection settings, attributes and groups, then groups
/// with their members.
pub fn to_text(inv: &Inventory) -> String {
    let mut out = format!("hosts ({}):\n", inv.hosts.len());
    let groups = groups_of(inv);
    for (h, gs) in inv.hosts.iter().zip(&groups) {
        let mut line = format!("  {}  {}:{}", h.name, h.address, h.port);
        if let Some(u) = &h.user {
            line.push_str(&format!("  user={u}"));
        }
        if let Some(j) = h.jump {
            line.push_str(&format!("  jump={}", inv.host(j).name));
        }
        if h.transport == Transport::Local {
            line.push_str("  transport=local");
        }
        for (k, v) in &h.attrs {
            if !crate::inventory::KNOWN_HOST_ATTRS.contains(&k.as_str()) {
                line.push_str(&format!("  {k}={v}"));
            }
        }
        if !gs.is_empty() {
            line.push_str(&format!("  [{}]", gs.join(", ")));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!("groups ({}):\n", inv.groups.len()));
    for g in inv.groups.values() {
        out.push_str(&format!(
            "  {}: {}\n",
            g.name,
            inv.names(&g.hosts).join(", ")
        ));
    }
    out
}

/// The JSON report: `{"hosts": [...], "groups": {name: [hosts]}}`.
pub fn to_json(inv: &Inventory) -> serde_json::Value {
    let groups = groups_of(inv);
    let hosts: Vec<serde_json::Value> = inv
        .hosts
        .iter()
        .zip(&groups)
        .map(|(h, gs)| {
            serde_json::json!({
                "name": h.name,
                "address": h.address,
                "port": h.port,
                "user": h.user,
                "jump": h.jump.map(|j| inv.host(j).name.clone()),
                "transport": if h.transport == Transport::Local { "local" } else { "ssh" },
                "attrs": h.attrs,
                "groups": gs,
            })
        })
        .collect();
    let groups: serde_json::Map<String, serde_json::Value> = inv
        .groups
        .values()
        .map(|g| (g.name.clone(), serde_json::json!(inv.names(&g.hosts))))
        .collect();
    serde_json::json!({ "hosts": hosts, "groups": groups })
}
