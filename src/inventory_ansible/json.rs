//! The JSON of Ansible's dynamic inventory protocol (`script --list`): groups as
//! `{hosts, vars, children}` or bare host lists, host vars under `_meta.hostvars`.

use super::build::{Builder, Var};
use super::error::InventoryErrorKind;
use serde_json::Value;

/// Reads dynamic-inventory JSON `text` into `b`.
pub(super) fn read(text: &str, b: &mut Builder<'_>) {
    let root: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let at = offset(text, e.line(), e.column());
            b.error(Some(at..at), InventoryErrorKind::Syntax(e.to_string()));
            return;
        }
    };
    let Value::Object(root) = root else {
        b.error(
            None,
            shape("the `--list` output", "a JSON object of groups"),
        );
        return;
    };
    for (name, data) in &root {
        if name == "_meta" {
            continue;
        }
        let g = b.group(name, None);
        match data {
            Value::Array(hosts) => add_hosts(b, g, name, hosts),
            Value::Object(obj) => {
                for (key, value) in obj {
                    match key.as_str() {
                        "hosts" => match value {
                            Value::Array(hosts) => add_hosts(b, g, name, hosts),
                            Value::Null => {}
                            _ => b.error(
                                None,
                                shape(&format!("`{name}.hosts`"), "a list of host names"),
                            ),
                        },
                        "vars" => match value {
                            Value::Object(vars) => {
                                for (k, v) in vars {
                                    b.group_var(g, k, var(v));
                                }
                            }
                            Value::Null => {}
                            _ => b.error(
                                None,
                                shape(&format!("`{name}.vars`"), "an object of variables"),
                            ),
                        },
                        "children" => match value {
                            Value::Array(children) => {
                                for child in children {
                                    match child.as_str() {
                                        Some(c) => {
                                            let c = b.group(c, None);
                                            b.add_child(g, c, None);
                                        }
                                        None => b.error(
                                            None,
                                            shape(
                                                &format!("`{name}.children`"),
                                                "a list of group names",
                                            ),
                                        ),
                                    }
                                }
                            }
                            Value::Null => {}
                            _ => b.error(
                                None,
                                shape(&format!("`{name}.children`"), "a list of group names"),
                            ),
                        },
                        other => b.warn(
                            None,
                            InventoryErrorKind::UnexpectedGroupKey(format!("{name}.{other}")),
                        ),
                    }
                }
            }
            _ => b.error(
                None,
                shape(&format!("group `{name}`"), "a list of hosts or an object"),
            ),
        }
    }
    // Host vars come last so that they apply to hosts of any group, as Ansible does; vars
    // of a host that no group names are ignored, as there.
    let hostvars = root.get("_meta").and_then(|m| m.get("hostvars"));
    match hostvars {
        Some(Value::Object(hv)) => {
            for (host, vars) in hv {
                let Some(h) = b.known_host(host) else {
                    continue;
                };
                match vars {
                    Value::Object(vars) => {
                        for (k, v) in vars {
                            b.host_var(h, k, var(v));
                        }
                    }
                    Value::Null => {}
                    _ => b.error(
                        None,
                        shape(
                            &format!("`_meta.hostvars.{host}`"),
                            "an object of variables",
                        ),
                    ),
                }
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => b.error(None, shape("`_meta.hostvars`", "an object of hosts")),
    }
}

fn add_hosts(b: &mut Builder<'_>, g: usize, group: &str, hosts: &[Value]) {
    for h in hosts {
        match h.as_str() {
            Some(name) => {
                b.add_hosts(name, None, g);
            }
            None => b.error(None, shape(&format!("a host of `{group}`"), "a string")),
        }
    }
}

fn shape(what: &str, expected: &'static str) -> InventoryErrorKind {
    InventoryErrorKind::WrongShape {
        what: what.to_string(),
        expected,
    }
}

/// A JSON value as an attribute string: strings as they are, anything else as JSON.
fn var(v: &Value) -> Var {
    let value = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    Var { value, span: None }
}

/// Byte offset of 1-based `line` and `column` (serde_json counts columns in bytes).
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}
