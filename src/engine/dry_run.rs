//! `--dry-run`: every command of every host, in the order the host would run it, after
//! interpolation of what is known before running (host attributes, params), with run-time
//! values (captures, task outputs) left as `${…}` and secrets masked. Connects to nothing.
//!
//! Input: a `RunSpec`. Output: one `DryRunLine` per task on a host, waves in order.

use super::interp::{shell_quote, Piece, Secrets, Template};
use super::spec::{HostFacts, RunSpec, TaskId};
use super::state::host_order;
use std::collections::BTreeMap;

/// One command a run would send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunLine {
    /// The wave.
    pub wave: String,
    /// The host.
    pub host: String,
    /// The task.
    pub task: String,
    /// The command as it would be sent (run-time values as `${…}`, secrets masked).
    pub command: String,
    /// Extra facts: `sudo` (and where its password comes from), `local`, `when`, `rollback`.
    pub notes: Vec<String>,
}

fn render(spec: &RunSpec, facts: &HostFacts<'_>, t: &Template, secrets: &Secrets) -> String {
    let mut out = String::new();
    for piece in &t.pieces {
        match piece {
            Piece::Text(s) => out.push_str(s),
            Piece::Value { path, raw } => match facts.value(path) {
                Some(v) if *raw => out.push_str(&v),
                Some(v) => out.push_str(&shell_quote(&v)),
                None if spec.secrets.contains_key(path) => out.push_str(super::interp::MASK),
                None => {
                    out.push_str("${");
                    if *raw {
                        out.push_str("raw ");
                    }
                    out.push_str(path);
                    out.push('}');
                }
            },
        }
    }
    secrets.mask(&out)
}

/// Every command of the run, per wave and host, in run order.
pub fn dry_run(spec: &RunSpec) -> Vec<DryRunLine> {
    let secrets = Secrets::new(spec.secrets.values().cloned());
    let mut mine: Vec<Vec<TaskId>> = vec![Vec::new(); spec.hosts.len()];
    for (t, task) in spec.tasks.iter().enumerate() {
        for &h in &task.hosts {
            if let Some(m) = mine.get_mut(h) {
                if m.last() != Some(&t) {
                    m.push(t);
                }
            }
        }
    }
    let no_results = BTreeMap::new();
    let no_captures = BTreeMap::new();
    let mut lines = Vec::new();
    for wave in &spec.waves {
        for &h in &wave.hosts {
            let Some(host) = spec.hosts.get(h) else {
                continue;
            };
            let facts = HostFacts {
                host,
                params: &spec.params,
                results: &no_results,
                captures: &no_captures,
            };
            for t in host_order(spec, &mine[h]) {
                let task = &spec.tasks[t];
                let mut notes = Vec::new();
                match (&spec.sudo_password, task.sudo) {
                    (Some(pw), true) => notes.push(format!("sudo, password from secret `{pw}`")),
                    (None, true) => notes.push("sudo".to_string()),
                    _ => {}
                }
                if task.local {
                    notes.push("local".to_string());
                }
                if task.when.is_some() {
                    notes.push("conditional".to_string());
                }
                if let Some(r) = &task.rollback {
                    notes.push(format!("rollback: {}", render(spec, &facts, r, &secrets)));
                }
                lines.push(DryRunLine {
                    wave: wave.name.clone(),
                    host: host.name.clone(),
                    task: task.name.clone(),
                    command: render(spec, &facts, &task.run, &secrets),
                    notes,
                });
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::spec::{HostSpec, TaskSpec, WaveSpec};

    #[test]
    fn dry_run_fills_what_is_known_and_shows_the_rest() {
        let mut host = HostSpec::named("web01");
        host.attrs.insert("address".into(), "10.0.0.1".into());
        let mut first = TaskSpec::new("disk", vec![0], "df --output=pcent /");
        first.capture = Some("pct".into());
        let mut second = TaskSpec::new("clean", vec![0], "ping ${host.address} && clean ${pct}");
        second.after = vec![1];
        second.sudo = true;
        let spec = RunSpec {
            hosts: vec![host],
            tasks: vec![second, first],
            waves: vec![WaveSpec {
                name: "all".into(),
                hosts: vec![0],
            }],
            ..RunSpec::default()
        };
        // clean is written first but depends on disk: disk runs first.
        let lines = dry_run(&spec);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].task, "disk");
        assert_eq!(lines[1].command, "ping 10.0.0.1 && clean ${pct}");
        assert_eq!(lines[1].notes, vec!["sudo"]);
        let with_password = RunSpec {
            sudo_password: Some("pw".into()),
            ..spec
        };
        let lines = dry_run(&with_password);
        assert_eq!(lines[0].notes, Vec::<String>::new());
        assert_eq!(lines[1].notes, vec!["sudo, password from secret `pw`"]);
    }
}
