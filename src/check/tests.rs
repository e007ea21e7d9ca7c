//! Unit tests of the checker: one `check(src, expect)` helper listing the codes and messages
//! of a program's diagnostics.

use super::*;

fn run(src: &str) -> (Outcome, SourceMap) {
    let mut sources = SourceMap::new();
    let id = sources.add(crate::span::SourceFile::new("test.sflow", None, src));
    let opts = CheckOptions {
        now: chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
            .map(|d| d.to_utc())
            .unwrap_or_default(),
        ..CheckOptions::default()
    };
    let out = check_loaded(&mut sources, id, &MemoryFs::default(), &opts);
    (out, sources)
}

fn check(src: &str, expect: &str) {
    let (out, sources) = run(src);
    let got: Vec<String> = out
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}:{} {}",
                d.code.as_str(),
                sources.span_lines(d.span).0.line,
                d.message
            )
        })
        .collect();
    assert_eq!(
        got.join("\n"),
        expect.trim(),
        "\n--- got ---\n{}",
        got.join("\n")
    );
}

const INV: &str = r#"
inventory {
  host web01 { dc = "fra1" }
  host web02 { dc = "ams1" }
  host db01 { dc = "fra1" }
  group web = [web01, web02]
  group db = [db01]
}
"#;

#[test]
fn clean_workflow_has_no_diagnostics() {
    let src = format!("{INV}workflow w {{\n  task a on web {{ run = \"x\" }}\n  task b on web after a when a.ok {{ run = \"y\" }}\n}}\n");
    check(&src, "");
    let (out, _) = run(&src);
    let p = out.program.expect("program");
    assert_eq!(p.workflows[0].tasks[1].deps, vec![TaskId(0)]);
}

use crate::program::TaskId;

#[test]
fn unknown_names_and_cycles() {
    let src = format!(
        "{INV}workflow w {{\n  task a on wbe after c {{ run = \"x\" }}\n  task b on web after a {{ run = \"y\" }}\n  task c on web after b {{ run = \"z\" }}\n}}\n"
    );
    check(
        &src,
        "E0011:10 dependency cycle between `a`, `b`, `c`\nE0009:10 unknown group or host `wbe`\nW0002:10 task `a` targets no host",
    );
}

#[test]
fn when_needs_an_ancestor_on_the_same_host() {
    let src = format!(
        "{INV}workflow w {{\n  task a on web {{ run = \"x\" }}\n  task b on db when a.ok {{ run = \"y\" }}\n  task c on web when a.failed {{ run = \"y\" }}\n}}\n"
    );
    check(
        &src,
        "E0022:11 `a` may not have run before `b` on `db01`\nE0022:12 `a` may not have run before `c` on `web01`",
    );
}

#[test]
fn condition_types() {
    let src = format!(
        "{INV}workflow w {{\n  task a on web {{ run = \"x\"  capture = pct }}\n  task b on web after a when pct > 90 {{ run = \"y\" }}\n  task c on web after a when pct.int > 90 and a.exit == 0 {{ run = \"y\" }}\n}}\n"
    );
    check(&src, "E0023:11 cannot compare a string with an int");
}

#[test]
fn attributes_are_typed() {
    let src = format!("{INV}workflow w {{\n  task a on web {{\n    run = \"x\"\n    timeout = 10\n    timout = 5m\n    sudo = \"yes\"\n  }}\n}}\n");
    check(
        &src,
        "E0013:12 expected a duration, found a number\nE0012:13 unknown attribute `timout` in task\nE0013:14 expected a bool, found a string",
    );
}

#[test]
fn windows_cover_hosts_and_specs_are_checked() {
    let src = format!(
        "{INV}workflow w {{\n  window web = \"Sun 01:00-03:00 UTC\"\n  window web01 = \"Mun 01:00-02:00\"\n  task a on all {{ run = \"x\" }}\n}}\n"
    );
    let (out, _) = run(&src);
    let codes: Vec<&str> = out.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, vec!["E0016", "E0017"], "{:#?}", out.diagnostics);
    // The E0016 label points at `Mun` inside the string.
    let d = &out.diagnostics[0];
    assert_eq!(&src[d.span.range()], "Mun");
}

#[test]
fn estimate_longer_than_the_window() {
    let src = format!("{INV}workflow w {{\n  window all = \"Sun 01:00-02:00\"\n  task a on web {{ run = \"x\"  estimate = 2h }}\n}}\n");
    check(
        &src,
        "E0027:11 task `a` needs 2h but the window of `web01` is open at most 1h",
    );
}

#[test]
fn waves() {
    let src = format!(
        "{INV}workflow w {{\n  task a on all {{ run = \"x\" }}\n  rollout {{\n    wave one = [web01]\n    wave two = web\n    wave three = [web01] except web01\n  }}\n}}\n"
    );
    check(
        &src,
        "E0018:10 host `db01` is in no wave\nE0019:13 host `web01` is in waves `one` and `two`\nE0020:14 wave `three` is empty",
    );
}

#[test]
fn wave_sizes() {
    let src = format!("{INV}workflow w {{\n  task a on all {{ run = \"x\" }}\n  rollout {{ waves = [50%, 10%, 60%] of all }}\n}}\n");
    check(
        &src,
        "E0018:10 host `db01` is in no wave\nE0021:11 invalid wave size\nE0021:11 the last wave size covers 2 of 3 hosts",
    );
}

#[test]
fn verify_blocks() {
    let src = format!(
        "{INV}workflow w {{\n  task a on web {{ run = \"x\" }}\n  task b on web {{ run = \"y\" }}\n  verify v {{\n    before = b\n    after = a\n    capture c = \"date\"\n    expect c {{ match = r\"\\d+\"  change = \"changed\" }}\n    expect d {{ change = \"same\" }}\n  }}\n}}\n"
    );
    check(
        &src,
        "E0026:14 `a` may run before `b` on `web01`\nE0025:16 the regex has no capture group\nE0009:17 unknown capture `d`",
    );
}

#[test]
fn credentials_and_secrets() {
    let src = format!(
        "{INV}workflow w {{\n  secret pw = prompt(\"pw\")\n  task a on web {{\n    run = \"login ${{pw}}\"\n    env = {{ DB_PASSWORD = \"hunter2\" }}\n  }}\n  task b on web {{ run = \"MYSQL_PASSWORD=abc mysql\"  stdin = pw }}\n}}\n"
    );
    check(
        &src,
        "E0030:12 secret `pw` would appear on a command line\nE0028:13 `DB_PASSWORD` holds a credential in a string literal\nE0028:15 a password assignment in a string literal",
    );
}

#[test]
fn templates_expand() {
    let src = format!(
        "import \"std/apt\"\n{INV}workflow w {{\n  task a on web {{ use = apt_install(\"nginx\") }}\n  task b on web {{ use = apt_install() }}\n  task c on web {{ use = apt_instal(\"x\") }}\n}}\n"
    );
    check(
        &src,
        "E0029:12 missing argument `pkg` of `apt_install`\nE0009:13 unknown template `apt_instal`",
    );
    let ok = format!("import \"std/apt\"\n{INV}workflow w {{\n  task a on web {{ use = apt_install(\"nginx web\") }}\n}}\n");
    let (out, _) = run(&ok);
    let p = out.program.expect("program");
    let t = &p.workflows[0].tasks[0];
    assert!(t.sudo);
    // The argument is inserted shell-quoted wherever the stdlib template writes `${pkg}`.
    assert!(
        matches!(t.run.parts.as_slice(),
            [crate::program::TemplatePart::Text(s)] if s.contains("'nginx web'")),
        "{:?}",
        t.run.parts
    );
}

#[test]
fn parallel_warning_and_unread_capture() {
    let src = format!("{INV}workflow w {{\n  parallel {{ max_servers = 2  per_group = 5 }}\n  task a on web {{ run = \"x\"  capture = out }}\n}}\n");
    check(
        &src,
        "W0001:10 limit 5 is above `max_servers` (2)\nW0003:11 capture `out` is never read",
    );
}

#[test]
fn missing_inventory() {
    check(
        "workflow w {\n  task a on web { run = \"x\" }\n}\n",
        "E0008:1 workflow `w` has tasks but no inventory",
    );
}

#[test]
fn no_prefix_or_line_deletion_of_the_examples_panics() {
    // Cheap robustness net (the mutation property test lives elsewhere): every prefix at a
    // line boundary, and every single-line deletion, of the workflow part must check
    // without panicking.
    let inv = include_str!("../../examples/inventory.sflow");
    for ex in [
        include_str!("../../examples/os_patching.sflow"),
        include_str!("../../examples/web_triage.sflow"),
    ] {
        let src = format!("{inv}\n{}", ex.replace("inventory \"inventory.sflow\"", ""));
        let lines: Vec<&str> = src.lines().collect();
        let start = inv.lines().count();
        for i in start..lines.len() {
            if ex.contains("web_triage") {
                let _ = run(&lines[..i].join("\n"));
            }
            let mut deleted = lines.clone();
            deleted.remove(i);
            let _ = run(&deleted.join("\n"));
        }
    }
}

fn example(name: &str) -> crate::program::Program {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let mut sources = SourceMap::new();
    let out = check_file(&mut sources, &path, &Disk, &CheckOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
    out.program.unwrap_or_else(|| panic!("no program"))
}

#[test]
fn seed_scenario_program() {
    use crate::program::{CapturePoint, PerGroup, WaveForm};
    let p = example("os_patching.sflow");
    let w = &p.workflows[0];
    assert_eq!(w.change.as_deref(), Some("CHG-2291"));
    assert_eq!(w.windows.len(), 3);
    assert_eq!(
        w.window_settings.cutoff,
        std::time::Duration::from_secs(600)
    );
    assert_eq!(w.parallel.per_group, PerGroup::Uniform(5));
    assert_eq!(w.rollout.form, WaveForm::Explicit);
    let waves: Vec<(&str, usize)> = w
        .rollout
        .waves
        .iter()
        .map(|x| (x.name.as_str(), x.hosts.len()))
        .collect();
    assert_eq!(
        waves,
        vec![("canary", 1), ("web", 2), ("db", 2), ("cache", 2)]
    );
    let upgrade = w
        .task_by_name("upgrade_packages")
        .map(|t| (t.estimate, t.sudo, t.hosts.len()));
    assert_eq!(
        upgrade,
        Some((std::time::Duration::from_secs(900), true, 7))
    );
    let v = &w.verifies[0];
    assert_eq!(v.before, CapturePoint::Before(TaskId(0)));
    assert_eq!(v.after, CapturePoint::After(TaskId(2)));
    assert_eq!(
        v.expects[0].matcher.as_deref(),
        Some(r"ii\s+openssl\s+(\S+)")
    );
    // Web hosts run backup, update_repos, upgrade_packages, restart_services, verify_web.
    let web01 = p.inventory.host_by_name("web01.example.com").map(|h| h.id);
    let order: Vec<&str> = web01
        .map(|h| {
            w.host_order(h)
                .iter()
                .map(|t| w.task(*t).name.as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        order,
        vec![
            "backup",
            "update_repos",
            "upgrade_packages",
            "restart_services",
            "verify_web"
        ]
    );
}

#[test]
fn percentage_waves_and_conditions() {
    use crate::program::{ExprKind, HostCount, WaveForm};
    let p = example("emergency_openssl.sflow");
    let w = &p.workflows[0];
    // 7 hosts: 1, 10% (no new host: no wave), 50% → 4, 100% → 7.
    let sizes: Vec<usize> = w.rollout.waves.iter().map(|x| x.hosts.len()).collect();
    assert_eq!(sizes, vec![1, 3, 3]);
    assert!(matches!(w.rollout.form, WaveForm::Sizes(ref s) if s.len() == 4));
    assert_eq!(w.rollout.max_failures, HostCount::Percent(5));
    let p = example("web_triage.sflow");
    let w = &p.workflows[0];
    let clean = w
        .task_by_name("clean_logs")
        .and_then(|t| t.when.clone())
        .map(|e| e.kind);
    assert!(
        matches!(clean, Some(ExprKind::Compare(crate::ast::CmpOp::Gt, ref l, _)) if matches!(l.kind, ExprKind::ToInt(_)))
    );
}

#[test]
fn conditions_with_precedence() {
    let src = format!(
        "{INV}workflow w {{\n  task a on web {{ run = \"x\" }}\n  task b on web after a when not a.ok or a.exit != 0 and (host.dc == \"fra1\" or a.stdout contains \"x\") {{ run = \"y\" }}\n  task c on web after a when a.stderr =~ r\"^err\" {{ run = \"z\" }}\n}}\n"
    );
    check(&src, "");
    let (out, _) = run(&src);
    let p = out.program.unwrap_or_else(|| panic!("no program"));
    let e = p.workflows[0].tasks[1].when.clone().map(|e| e.kind);
    // `or` binds loosest: not a.ok or (a.exit != 0 and (...)).
    assert!(matches!(e, Some(crate::program::ExprKind::Or(ref l, ref r))
        if matches!(l.kind, crate::program::ExprKind::Not(_)) && matches!(r.kind, crate::program::ExprKind::And(..))));
}

#[test]
fn sudo_password_names_a_secret_declared_anywhere_in_the_workflow() {
    let ok = format!(
        "{INV}workflow w {{\n  sudo_password = pw\n  secret pw = env(\"PW\")\n  task a on web {{ run = \"x\"  sudo = true }}\n}}\n"
    );
    check(&ok, "");
    let (out, _) = run(&ok);
    let p = out.program.expect("program");
    assert_eq!(p.workflows[0].sudo_password.as_deref(), Some("pw"));
    let bad = format!(
        "{INV}workflow w {{\n  secret pw = env(\"PW\")\n  sudo_password = pv\n  task a on web {{ run = \"x\"  sudo = true }}\n}}\n"
    );
    check(&bad, "E0009:11 unknown secret `pv` for `sudo_password`");
    let literal = format!(
        "{INV}workflow w {{\n  sudo_password = \"hunter2\"\n  task a on web {{ run = \"x\" }}\n}}\n"
    );
    let (out, _) = run(&literal);
    let codes: Vec<&str> = out.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert!(
        codes.contains(&"E0028"),
        "a literal password is a credential: {codes:?}"
    );
}

#[test]
fn notify_takes_a_timeout_that_reaches_the_plan() {
    let src = format!(
        "{INV}workflow w {{\n  notify {{ on = [\"done\"]  command = \"./n.sh\"  timeout = 2s }}\n  task a on web {{ run = \"x\" }}\n}}\n"
    );
    check(&src, "");
    let (out, _) = run(&src);
    let p = out.program.expect("program");
    let plan = crate::plan::lower(&p, None, &[]).expect("plan");
    let n = plan.notify.expect("notify");
    assert_eq!((n.on, n.timeout_ms), (vec!["done".to_owned()], Some(2000)));
}
