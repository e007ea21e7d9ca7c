//! Tests of Ansible inventories through the checker: `inventory "hosts.ini"`, `.yaml`, and
//! `inventory command(...)` resolve targets like an inline inventory; problems point into
//! the inventory file (E0032) or at the command.

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
            let file = sources.get(d.span.file).name.clone();
            let (line, col) = (start.line, start.column);
            format!("{} {file}:{line}:{col} {}", d.code.as_str(), d.message)
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
            "E0032 hosts.ini:2:4 expected `key=value` after the host name, found `dc`".to_string()
        ]
    );
    let (_, msgs) = check(&format!("inventory command(\"exit 3\")\n{WORKFLOW}"), &[]);
    assert_eq!(msgs.first().map(|m| &m[..20]), Some("E0032 main.sflow:1:1"));
}
