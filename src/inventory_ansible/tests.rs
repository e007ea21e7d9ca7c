//! Tests of the Ansible readers: one fleet written in INI, YAML and `--list` JSON resolves to
//! the same hosts and groups; precedence, mapping and errors with their positions.

use super::*;

/// The fleet of the language examples, Ansible style.
const FLEET_INI: &str = r#"# the example fleet
bastion.fra1 ansible_host=203.0.113.10

[web_servers]
web[01:02].example.com dc=fra1 ansible_ssh_common_args='-o ProxyJump=bastion.fra1'
web03.example.com dc=ams1

[db_servers]
db01.example.com dc=fra1 ansible_user=dba
db02.example.com:2222 dc=ams1

[cache_servers]
cache01.example.com dc=fra1
cache02.example.com dc=ams1

[fleet:children]
web_servers
db_servers
cache_servers

[all:vars]
ansible_user=ops

[db_servers:vars]
os=rhel
ansible_user=postgres

[fleet:vars]
os=debian
"#;

const FLEET_YAML: &str = r#"# the example fleet
all:
  vars:
    ansible_user: ops
  hosts:
    bastion.fra1:
      ansible_host: 203.0.113.10
  children:
    fleet:
      vars:
        os: debian
      children:
        web_servers:
          hosts:
            web[01:02].example.com:
              dc: fra1
              ansible_ssh_common_args: "-o ProxyJump=bastion.fra1"
            web03.example.com: { dc: ams1 }
        db_servers:
          vars: { os: rhel, ansible_user: postgres }
          hosts:
            db01.example.com:
              dc: fra1
              ansible_user: dba
            db02.example.com:2222:
              dc: ams1
        cache_servers:
          hosts:
            cache01.example.com: { dc: fra1 }
            cache02.example.com: { dc: ams1 }
"#;

const FLEET_JSON: &str = r#"{
  "_meta": {"hostvars": {
    "bastion.fra1": {"ansible_host": "203.0.113.10"},
    "web01.example.com": {"dc": "fra1", "ansible_ssh_common_args": "-o ProxyJump=bastion.fra1"},
    "web02.example.com": {"dc": "fra1", "ansible_ssh_common_args": "-o ProxyJump=bastion.fra1"},
    "web03.example.com": {"dc": "ams1"},
    "db01.example.com": {"dc": "fra1", "ansible_user": "dba"},
    "db02.example.com": {"dc": "ams1", "ansible_port": 2222},
    "cache01.example.com": {"dc": "fra1"},
    "cache02.example.com": {"dc": "ams1"}
  }},
  "all": {"children": ["ungrouped", "fleet"], "vars": {"ansible_user": "ops"}},
  "ungrouped": {"hosts": ["bastion.fra1"]},
  "fleet": {"children": ["web_servers", "db_servers", "cache_servers"], "vars": {"os": "debian"}},
  "web_servers": {"hosts": ["web01.example.com", "web02.example.com", "web03.example.com"]},
  "db_servers": {"hosts": ["db01.example.com", "db02.example.com"],
                 "vars": {"os": "rhel", "ansible_user": "postgres"}},
  "cache_servers": ["cache01.example.com", "cache02.example.com"]
}"#;

type HostView = BTreeMap<String, (BTreeMap<String, String>, Vec<String>)>;
type GroupView = BTreeMap<String, (Vec<String>, Vec<String>)>;

/// Hosts (attributes, groups) and groups (sorted members, sorted children), without
/// positions or order: what must agree across formats.
fn view(inv: &AnsibleInventory) -> (HostView, GroupView) {
    let hosts = inv
        .hosts
        .iter()
        .map(|h| (h.name.clone(), (h.attrs.clone(), h.groups.clone())))
        .collect();
    let groups = inv
        .groups
        .iter()
        .map(|g| {
            let mut hosts = g.hosts.clone();
            hosts.sort();
            let mut children = g.children.clone();
            children.sort();
            (g.name.clone(), (hosts, children))
        })
        .collect();
    (hosts, groups)
}

fn ok(name: &str, text: &str, format: Format) -> AnsibleInventory {
    match parse(name, text, format) {
        Ok(inv) => inv,
        Err(errors) => panic!("{name}: unexpected errors {errors:#?}"),
    }
}

fn errors(name: &str, text: &str, format: Format) -> Vec<InventoryError> {
    match parse(name, text, format) {
        Ok(inv) => panic!("{name}: expected errors, got {inv:#?}"),
        Err(errors) => errors,
    }
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn ini_yaml_and_json_of_one_fleet_resolve_alike() {
    let ini = ok("hosts.ini", FLEET_INI, Format::Ini);
    let yaml = ok("hosts.yaml", FLEET_YAML, Format::Yaml);
    let json = ok("--list", FLEET_JSON, Format::Json);
    assert_eq!(view(&ini), view(&yaml));
    assert_eq!(view(&ini), view(&json));
    assert!(ini.warnings.is_empty() && yaml.warnings.is_empty() && json.warnings.is_empty());
}

#[test]
fn the_fleet_resolves_as_ansible_would() {
    let inv = ok("hosts.ini", FLEET_INI, Format::Ini);
    let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "bastion.fra1",
            "web01.example.com",
            "web02.example.com",
            "web03.example.com",
            "db01.example.com",
            "db02.example.com",
            "cache01.example.com",
            "cache02.example.com",
        ]
    );
    let host = |n: &str| inv.host(n).map(|h| (h.attrs.clone(), h.groups.clone()));
    assert_eq!(
        host("bastion.fra1"),
        Some((
            attrs(&[("address", "203.0.113.10"), ("user", "ops")]),
            vec!["ungrouped".to_string()]
        ))
    );
    // The ProxyJump became `jump`; the args held nothing else, so they are gone.
    assert_eq!(
        host("web01.example.com"),
        Some((
            attrs(&[
                ("dc", "fra1"),
                ("jump", "bastion.fra1"),
                ("os", "debian"),
                ("user", "ops")
            ]),
            vec!["fleet".to_string(), "web_servers".to_string()]
        ))
    );
    // Host vars beat the deeper group's vars, which beat the parent's and `all`'s.
    assert_eq!(
        host("db01.example.com").map(|(a, _)| a),
        Some(attrs(&[("dc", "fra1"), ("os", "rhel"), ("user", "dba")]))
    );
    assert_eq!(
        host("db02.example.com").map(|(a, _)| a),
        Some(attrs(&[
            ("dc", "ams1"),
            ("os", "rhel"),
            ("port", "2222"),
            ("user", "postgres")
        ]))
    );
    let fleet = inv
        .group("fleet")
        .map(|g| (g.hosts.len(), g.children.clone()));
    assert_eq!(
        fleet,
        Some((
            7,
            vec![
                "web_servers".to_string(),
                "db_servers".to_string(),
                "cache_servers".to_string()
            ]
        ))
    );
    assert!(inv.group("all").is_none());
    assert_eq!(
        inv.group("db_servers").map(|g| g.vars.clone()),
        Some(attrs(&[("ansible_user", "postgres"), ("os", "rhel")]))
    );
}

#[test]
fn same_depth_groups_apply_in_name_order() {
    // Both groups are at depth 1: `b` comes after `a`, so its value wins, whatever the order
    // of the sections.
    let ini = "[b]\nh1\n[a]\nh1\n[a:vars]\nrole=from_a\n[b:vars]\nrole=from_b\n";
    let inv = ok("h.ini", ini, Format::Ini);
    assert_eq!(
        inv.host("h1").and_then(|h| h.attrs.get("role").cloned()),
        Some("from_b".to_string())
    );
}

#[test]
fn connection_and_jump_mapping() {
    let ini = r#"
[local]
localhost ansible_connection=local
[win]
w1 ansible_connection=winrm
[proxied]
p1 ansible_ssh_common_args='-o ProxyJump=jump@gw1:2200,gw2 -o ServerAliveInterval=30'
p2 ansible_ssh_common_args="-o ProxyCommand='ssh -W %h:%p -q ops@gw3'"
p3 ansible_ssh_host=10.0.0.3 ansible_ssh_port=2022 ansible_ssh_user=root
"#;
    let inv = ok("h.ini", ini, Format::Ini);
    let a = |n: &str| inv.host(n).map(|h| h.attrs.clone()).unwrap_or_default();
    assert_eq!(a("localhost"), attrs(&[("transport", "local")]));
    // sflow cannot reach a winrm host: it stays a plain attribute, with a warning.
    assert_eq!(a("w1"), attrs(&[("ansible_connection", "winrm")]));
    assert_eq!(inv.warnings.len(), 1);
    assert_eq!(inv.warnings[0].code(), "inventory::var");
    assert_eq!(
        a("p1"),
        attrs(&[
            (
                "ansible_ssh_common_args",
                "-o ProxyJump=jump@gw1:2200,gw2 -o ServerAliveInterval=30"
            ),
            ("jump", "gw2"),
        ])
    );
    assert_eq!(a("p2"), attrs(&[("jump", "gw3")]));
    assert_eq!(
        a("p3"),
        attrs(&[("address", "10.0.0.3"), ("port", "2022"), ("user", "root")])
    );
    // Jump hosts outside the inventory are added, chained, in no group.
    let gw = |n: &str| {
        inv.host(n)
            .map(|h| (h.attrs.clone(), h.groups.is_empty(), h.implicit))
    };
    assert_eq!(
        gw("gw1"),
        Some((attrs(&[("port", "2200"), ("user", "jump")]), true, true))
    );
    assert_eq!(gw("gw2"), Some((attrs(&[("jump", "gw1")]), true, true)));
    assert_eq!(gw("gw3"), Some((attrs(&[("user", "ops")]), true, true)));
    assert!(inv
        .groups
        .iter()
        .all(|g| !g.hosts.iter().any(|h| h.starts_with("gw"))));
}

#[test]
fn nested_children_and_ungrouped() {
    let yaml = r#"
all:
  hosts:
    lonely:
  children:
    europe:
      children:
        fra:
          hosts: { f1: , f2: }
        ams:
          hosts: { a1: }
    empty:
"#;
    let inv = ok("h.yaml", yaml, Format::Yaml);
    let members = |g: &str| inv.group(g).map(|g| g.hosts.clone()).unwrap_or_default();
    assert_eq!(members("europe"), vec!["f1", "f2", "a1"]);
    assert_eq!(members("ungrouped"), vec!["lonely"]);
    assert_eq!(members("empty"), Vec::<String>::new());
    assert_eq!(
        inv.host("f1").map(|h| h.groups.clone()),
        Some(vec!["europe".to_string(), "fra".to_string()])
    );
}

#[test]
fn yaml_anchors_and_collections() {
    let yaml = r#"
all:
  children:
    web:
      vars: &common
        packages: [nginx, curl]
        tuning: { workers: 4 }
        enabled: yes
      hosts:
        w1:
    db:
      vars: *common
      hosts:
        d1:
"#;
    let inv = ok("h.yaml", yaml, Format::Yaml);
    let a = inv.host("d1").map(|h| h.attrs.clone()).unwrap_or_default();
    assert_eq!(
        a,
        attrs(&[
            ("enabled", "yes"),
            ("packages", r#"["nginx","curl"]"#),
            ("tuning", r#"{"workers":"4"}"#),
        ])
    );
}

#[test]
fn format_from_path_and_content() {
    assert_eq!(Format::from_path("inv/hosts.YML"), Some(Format::Yaml));
    assert_eq!(Format::from_path("hosts.ini"), Some(Format::Ini));
    assert_eq!(Format::from_path("hosts"), None);
    assert_eq!(Format::sniff(FLEET_INI), Format::Ini);
    assert_eq!(Format::sniff(FLEET_YAML), Format::Yaml);
    assert_eq!(Format::sniff(FLEET_JSON), Format::Json);
    let inv = parse_file("hosts", FLEET_YAML).map(|i| i.hosts.len());
    assert_eq!(inv, Ok(8));
}

/// `(line, column, code)` of each error.
fn places(errors: &[InventoryError]) -> Vec<(usize, usize, &'static str)> {
    errors
        .iter()
        .map(|e| (e.line, e.column, e.code()))
        .collect()
}

#[test]
fn ini_errors_have_file_line_and_column() {
    let ini = "[web]\nweb1 port\nweb[3:1]\n[web:hosts]\n[web:vrs]\nx=1\n[db:vars]\nuser\n[dbs:vars]\nk=v\n";
    let errs = errors("hosts.ini", ini, Format::Ini);
    assert_eq!(
        places(&errs),
        vec![
            (2, 6, "inventory::key-value"),
            (3, 1, "inventory::host-pattern"),
            (5, 1, "inventory::section"),
            (7, 2, "inventory::syntax"),
            (8, 1, "inventory::key-value"),
            (9, 2, "inventory::syntax"),
        ]
    );
    assert!(errs[0]
        .to_string()
        .starts_with("hosts.ini:2:6: expected `key=value`"));
}

#[test]
fn bad_port_points_at_the_variable() {
    let ini = "[web]\nweb1\n[web:vars]\nansible_port=http\n";
    let errs = errors("hosts.ini", ini, Format::Ini);
    assert_eq!(places(&errs), vec![(4, 1, "inventory::var")]);
    let yaml = "all:\n  hosts:\n    web1:\n      ansible_port: 70000\n";
    let errs = errors("hosts.yaml", yaml, Format::Yaml);
    assert_eq!(places(&errs), vec![(4, 7, "inventory::var")]);
}

#[test]
fn yaml_errors_have_positions() {
    let errs = errors("h.yaml", "all:\n  hosts:\n    - web1\n", Format::Yaml);
    assert_eq!(places(&errs), vec![(3, 5, "inventory::shape")]);
    let errs = errors("h.yaml", "all:\n  hosts: {\n", Format::Yaml);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].code(), "inventory::syntax");
    assert_eq!(errs[0].line, 3);
    let inv = ok("h.yaml", "all:\n  hostz:\n    web1:\n", Format::Yaml);
    assert_eq!(
        places(&inv.warnings),
        vec![(2, 3, "inventory::unexpected-key")]
    );
}

#[test]
fn cycles_are_errors() {
    let ini = "[a:children]\nb\n[b:children]\na\n";
    let errs = errors("h.ini", ini, Format::Ini);
    assert_eq!(places(&errs), vec![(4, 1, "inventory::cycle")]);
}

#[test]
fn json_errors() {
    let errs = errors("--list", "{\"web\": [\"a\",\n 3]}", Format::Json);
    assert_eq!(places(&errs), vec![(1, 1, "inventory::shape")]);
    let errs = errors("--list", "{\"web\": [\n", Format::Json);
    assert_eq!(errs[0].code(), "inventory::syntax");
    assert_eq!(errs[0].line, 2);
}

#[test]
fn empty_inventories_are_empty() {
    for (text, format) in [("", Format::Ini), ("", Format::Yaml), ("{}", Format::Json)] {
        let inv = ok("empty", text, format);
        assert!(inv.hosts.is_empty() && inv.groups.is_empty());
    }
}
