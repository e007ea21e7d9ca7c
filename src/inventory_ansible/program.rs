//! From an [`AnsibleInventory`] to the checker's resolved [`Inventory`], and from
//! [`InventoryError`]s to diagnostics pointing into the inventory file (E0032, W0004).

use super::{AnsibleInventory, InventoryError, InventoryErrorKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::program::{Group, Host, HostId, HostSet, Inventory, Transport};
use crate::span::{FileId, Span};
use std::collections::HashMap;

/// The diagnostic of an inventory problem in `file` (the inventory's id in the source map).
pub fn diagnostic(e: &InventoryError, file: FileId) -> Diagnostic {
    let warning = matches!(
        e.kind,
        InventoryErrorKind::UnexpectedGroupKey(_) | InventoryErrorKind::HostIsGroup(_)
    ) || matches!(&e.kind, InventoryErrorKind::BadVar { var, .. } if var == "ansible_connection");
    let code = if warning { Code::W0004 } else { Code::E0032 };
    let span = Span::new(file, e.range.start, e.range.end.max(e.range.start));
    Diagnostic::new(code, span, e.kind.to_string()).with_help_opt(e.kind.help().map(str::to_string))
}

/// The checker's inventory for `inv`, read from `file`. Hosts keep Ansible's order; jump
/// hosts that only a ProxyJump names come last.
pub fn to_inventory(inv: &AnsibleInventory, file: FileId) -> Inventory {
    let span = |r: &Option<std::ops::Range<usize>>| {
        r.as_ref()
            .map(|r| Span::new(file, r.start, r.end.max(r.start)))
    };
    let ids: HashMap<&str, HostId> = inv
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (
                h.name.as_str(),
                HostId(u32::try_from(i).unwrap_or(u32::MAX)),
            )
        })
        .collect();
    let hosts = inv
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let attr = |k: &str| h.attrs.get(k).cloned();
            Host {
                id: HostId(u32::try_from(i).unwrap_or(u32::MAX)),
                name: h.name.clone(),
                address: attr("address").unwrap_or_else(|| h.name.clone()),
                // The reader only lets valid ports through.
                port: attr("port").and_then(|p| p.parse().ok()).unwrap_or(22),
                user: attr("user"),
                jump: attr("jump").and_then(|j| ids.get(j.as_str()).copied()),
                transport: if attr("transport").as_deref() == Some("local") {
                    Transport::Local
                } else {
                    Transport::Ssh
                },
                attrs: h.attrs.clone(),
                span: span(&h.span),
            }
        })
        .collect();
    let groups = inv
        .groups
        .iter()
        .map(|g| {
            let members = g.hosts.iter().filter_map(|n| ids.get(n.as_str()).copied());
            let group = Group {
                name: g.name.clone(),
                hosts: HostSet::from_ids(members),
                span: span(&g.span).unwrap_or_else(|| Span::new(file, 0, 0)),
            };
            (g.name.clone(), group)
        })
        .collect();
    Inventory { hosts, groups }
}

/// Parses an Ansible inventory held in `file` and converts it; problems go to `diags`.
/// Returns `None` when the inventory has errors.
pub fn load(
    name: &str,
    text: &str,
    format: super::Format,
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) -> Option<Inventory> {
    match super::parse(name, text, format) {
        Ok(inv) => {
            diags.extend(inv.warnings.iter().map(|w| diagnostic(w, file)));
            Some(to_inventory(&inv, file))
        }
        Err(errors) => {
            diags.extend(errors.iter().map(|e| diagnostic(e, file)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory_ansible::Format;

    #[test]
    fn converts_hosts_groups_and_jumps() {
        let ini = "gw ansible_host=203.0.113.1\n[web]\nw1 ansible_port=2222 ansible_user=ops ansible_ssh_common_args='-J gw'\nw2 ansible_connection=local\n";
        let mut diags = Vec::new();
        let inv = load("h.ini", ini, Format::Ini, FileId(3), &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        let Some(inv) = inv else { return };
        let w1 = inv
            .host_by_name("w1")
            .map(|h| (h.port, h.user.clone(), h.jump, h.address.clone()));
        assert_eq!(
            w1,
            Some((2222, Some("ops".into()), Some(HostId(0)), "w1".into()))
        );
        assert_eq!(
            inv.host_by_name("gw").map(|h| h.address.as_str()),
            Some("203.0.113.1")
        );
        assert_eq!(
            inv.host_by_name("w2").map(|h| h.transport),
            Some(Transport::Local)
        );
        let web = inv.groups.get("web").map(|g| inv.names(&g.hosts));
        assert_eq!(web, Some(vec!["w1", "w2"]));
        assert_eq!(
            inv.host_by_name("w1").and_then(|h| h.span).map(|s| s.file),
            Some(FileId(3))
        );
    }

    #[test]
    fn errors_and_warnings_become_diagnostics_in_the_file() {
        let mut diags = Vec::new();
        let inv = load(
            "h.ini",
            "[web]\nw1 bad\n",
            Format::Ini,
            FileId(1),
            &mut diags,
        );
        assert!(inv.is_none());
        let got: Vec<_> = diags.iter().map(|d| (d.code, d.span)).collect();
        assert_eq!(got, vec![(Code::E0032, Span::new(FileId(1), 9, 12))]);
        let mut diags = Vec::new();
        let inv = load(
            "h.yaml",
            "all:\n  hostz:\n",
            Format::Yaml,
            FileId(1),
            &mut diags,
        );
        assert!(inv.is_some());
        assert_eq!(
            diags.iter().map(|d| d.code).collect::<Vec<_>>(),
            vec![Code::W0004]
        );
    }

    fn check(main: &str, files: &[(&str, &str)]) -> (Option<crate::program::Program>, Vec<String>) {
        use crate::check::{check_loaded, CheckOptions, Disk};
        use crate::span::{SourceFile, SourceMap};
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else {
            return (None, vec!["no temp dir".into()]);
        };
        for (name, text) in files {
            let _ = std::fs::write(dir.path().join(name), text);
        }
        let path = dir.path().join("main.sflow");
        let mut sources = SourceMap::new();
        let id = sources.add(SourceFile::new("main.sflow", Some(path), main));
        let out = check_loaded(&mut sources, id, &Disk, &CheckOptions::default());
        let msgs = out
            .diagnostics
            .iter()
            .map(|d| {
                let (start, _) = sources.span_lines(d.span);
                let file = sources
                    .get(d.span.file)
                    .name
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_string();
                format!(
                    "{} {file}:{}:{} {}",
                    d.code.as_str(),
                    start.line,
                    start.column,
                    d.message
                )
            })
            .collect();
        (out.program, msgs)
    }

    const WORKFLOW: &str =
        "workflow w {\n  task a on web where dc == \"fra1\" { run = \"uptime\" }\n}\n";

    #[test]
    fn check_reads_ini_yaml_and_command_inventories() {
        let ini = "[web]\nw1 dc=fra1\nw2 dc=ams1\n";
        let yaml = "all:\n  children:\n    web:\n      hosts:\n        w1: { dc: fra1 }\n        w2: { dc: ams1 }\n";
        let json = r#"{"web": {"hosts": ["w1", "w2"]}, "_meta": {"hostvars": {"w1": {"dc": "fra1"}, "w2": {"dc": "ams1"}}}}"#;
        let cases = [
            format!("inventory \"hosts.ini\"\n{WORKFLOW}"),
            format!("inventory \"hosts.yaml\"\n{WORKFLOW}"),
            format!("inventory command(\"cat list.json\")\n{WORKFLOW}"),
        ];
        for main in &cases {
            let files = [
                ("hosts.ini", ini),
                ("hosts.yaml", yaml),
                ("list.json", json),
            ];
            let (program, msgs) = check(main, &files);
            assert!(msgs.is_empty(), "{main}: {msgs:#?}");
            let hosts = program.map(|p| {
                let t = &p.workflows[0].tasks[0];
                p.inventory.names(&t.hosts).join(",")
            });
            assert_eq!(hosts.as_deref(), Some("w1"), "{main}");
        }
    }

    #[test]
    fn check_reports_inventory_errors_in_the_inventory() {
        let (program, msgs) = check(
            &format!("inventory \"hosts.ini\"\n{WORKFLOW}"),
            &[("hosts.ini", "[web]\nw1 dc\n")],
        );
        assert!(program.is_none());
        assert_eq!(
            msgs,
            vec![
                "E0008 main.sflow:2:10 workflow `w` has tasks but no inventory".to_string(),
                "E0032 hosts.ini:2:4 expected `key=value` after the host name, found `dc`"
                    .to_string(),
            ]
        );
        let (_, msgs) = check(&format!("inventory command(\"exit 3\")\n{WORKFLOW}"), &[]);
        assert_eq!(msgs.first().map(|m| &m[..20]), Some("E0032 main.sflow:1:1"));
    }
}
