//! The API against the language: a workflow built in code checks, plans and fails exactly as
//! the same workflow written as a file; values that would change the program's shape are
//! refused.

use super::*;
use crate::check::{check_file, CheckOptions, MemoryFs};
use crate::engine::dry_run::dry_run;
use crate::engine::from_plan::RunChoices;
use crate::span::SourceMap;
use std::path::PathBuf;
use std::time::Duration;

fn inventory() -> Inventory {
    let mut inv = Inventory::new();
    inv.set_default_user("ops")
        .add_host(Host::new("web01").address("10.0.0.1").attr("dc", "fra1"))
        .add_host(
            Host::new("web02")
                .address("10.0.0.2")
                .port(2222)
                .attr("dc", "ams1"),
        )
        .add_host("db01")
        .add_group("web_servers", ["web01", "web02"])
        .add_group("fleet", ["web_servers", "db01"]);
    inv
}

fn engine() -> Engine {
    Engine::new(inventory(), SshAuth::from_agent())
}

/// The diagnostics of checking `text` as a file, as (code, message, help).
fn file_diagnostics(text: &str) -> Vec<(String, String, Option<String>)> {
    let path = PathBuf::from("main.sflow");
    let fs = MemoryFs([(path.clone(), text.to_string())].into_iter().collect());
    let mut sources = SourceMap::new();
    match check_file(&mut sources, &path, &fs, &CheckOptions::default()) {
        Ok(o) => o
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.code.as_str().to_string(),
                    d.message.clone(),
                    d.help.clone(),
                )
            })
            .collect(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_workflow_built_in_code_gets_the_diagnostics_of_the_same_file() {
    let mut wf = Workflow::new("w");
    wf.set_maintenance_window("web_servers", "Sun 01:00-03:00 UTC")
        .add_task(Task::new("a").on("web_server").run("true"))
        .add_task(Task::new("b").on("fleet").run("true").depends_on(["c"]));
    let Err(ApiError::Check {
        diagnostics,
        text,
        rendered,
    }) = engine().check(&wf)
    else {
        panic!("the workflow checked")
    };
    let api: Vec<_> = diagnostics
        .iter()
        .map(|d| {
            (
                d.code.as_str().to_string(),
                d.message.clone(),
                d.help.clone(),
            )
        })
        .collect();
    let by_hand = r#"
inventory {
  defaults { user = "ops" }
  host web01 { address = "10.0.0.1"  dc = "fra1" }
  host web02 { address = "10.0.0.2"  port = 2222  dc = "ams1" }
  host db01 {}
  group web_servers = [web01, web02]
  group fleet = [web_servers, db01]
}
workflow w {
  window web_servers = "Sun 01:00-03:00 UTC"
  task a on web_server { run = "true" }
  task b on fleet after c { run = "true" }
}
"#;
    assert_eq!(api, file_diagnostics(by_hand));
    let codes: Vec<&str> = api.iter().map(|d| d.0.as_str()).collect();
    assert!(codes.contains(&"E0009"), "{codes:?}");
    assert!(
        api.iter()
            .any(|d| d.2.as_deref().is_some_and(|h| h.contains("web_servers"))),
        "{api:?}"
    );
    assert!(rendered.contains("E0009"), "{rendered}");
    assert!(text.contains("task a on web_server {"), "{text}");
}

#[test]
fn the_plan_holds_the_tasks_waves_limits_and_exact_commands() {
    let cmd = "echo \"it's\" \\ done\n$(hostname) ${host.dc}\ttab";
    let mut wf = Workflow::new("patch");
    wf.set_change("CHG-7")
        .set_maintenance_window("fleet", "always")
        .set_window_policy(WindowPolicy {
            cutoff: Some(Duration::from_secs(600)),
            on_expire: OnExpire::Finish,
        })
        .set_parallelization(
            Parallelization::new()
                .max_servers(2)
                .per_group(1)
                .stagger(Duration::from_millis(1500)),
        )
        .add_task(Task::new("first").on("fleet").run(cmd).retry(2))
        .add_task(
            Task::new("second")
                .on("web_servers")
                .run("systemctl restart nginx")
                .depends_on(["first"])
                .sudo()
                .estimate(Duration::from_secs(5400)),
        )
        .set_progressive_execution(
            ProgressiveExecution::new()
                .wave("canary", "[web01]")
                .wave("rest", "all except web01")
                .verify_with(["second"])
                .auto_rollback(true),
        );
    let plan = match engine().plan(&wf) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(plan.change.as_deref(), Some("CHG-7"));
    let spec = crate::engine::RunSpec::from_plan(&plan, RunChoices::default());
    let lines = dry_run(&spec);
    let on = |host: &str, task: &str| {
        lines
            .iter()
            .find(|l| l.host == host && l.task == task)
            .map(|l| (l.wave.clone(), l.command.clone()))
    };
    // The command reached the plan character for character; only `${host.dc}` was filled in.
    let expected = "echo \"it's\" \\ done\n$(hostname) fra1\ttab";
    assert_eq!(
        on("web01", "first"),
        Some(("canary".into(), expected.into()))
    );
    assert_eq!(on("web02", "second").map(|l| l.0), Some("rest".to_string()));
    assert_eq!(on("db01", "second"), None);
    let text = match engine().source(&wf) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    // The source is what `sflow fmt` writes, and what was checked.
    assert_eq!(
        crate::fmt::format_file(crate::span::FileId(0), &text).ok(),
        Some(text.clone())
    );
    for line in [
        "stagger = 1500ms",
        "estimate = 1h30m",
        "cutoff = 10m",
        "task second on web_servers after first {",
    ] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }
}

#[test]
fn values_that_would_change_the_program_shape_are_refused() {
    let refused = |task: Task| {
        let mut wf = Workflow::new("w");
        wf.add_task(task);
        match engine().source(&wf) {
            Err(e @ (ApiError::Unrepresentable { .. } | ApiError::Incomplete { .. })) => {
                e.to_string()
            }
            other => panic!("accepted: {other:?}"),
        }
    };
    let e = refused(Task::new("a b").on("all").run("true"));
    assert!(e.contains("task name `a b`"), "{e}");
    let e = refused(
        Task::new("a")
            .on("all { run = \"rm -rf /\" } task x on all")
            .run("true"),
    );
    assert!(e.contains("task target"), "{e}");
    let e = refused(Task::new("a").on("all").when("a.ok # comment").run("true"));
    assert!(e.contains("condition"), "{e}");
    let e = refused(Task::new("a").on("all").uses("restart(\"x)"));
    assert!(e.contains("not closed"), "{e}");
    let e = refused(Task::new("a").run("true"));
    assert!(e.contains("needs a target"), "{e}");
    let e = refused(Task::new("a").on("all"));
    assert!(e.contains("needs a command"), "{e}");
    // A raw string ends at its first quote (a backslash does not escape it), so a brace
    // after it is outside any string.
    for evil in [
        r#"all where os == r"\" } task x on all { run = "y""#,
        r##"all where os == r#"x"# } task x on all { run = "y""##,
        r#"all where os == """x""" } task x on all { run = "y""#,
    ] {
        let e = refused(Task::new("a").on(evil).run("true"));
        assert!(e.contains("only inside strings"), "{evil}: {e}");
    }
    // Braces, quotes and hashes inside a string of a fragment are fine.
    for ok in [
        r#"all where dc == "{x}""#,
        r#"all where dc == "a\"}#""#,
        r##"all where dc == r#"a"}"#"##,
        r#"all where dc == """a"}""""#,
    ] {
        let mut wf = Workflow::new("w");
        wf.add_task(Task::new("a").on(ok).run("true"));
        assert!(engine().source(&wf).is_ok(), "{ok}");
    }
}

#[test]
fn literals_round_trip() {
    assert_eq!(source::duration(Duration::from_secs(0)), "0s");
    assert_eq!(source::duration(Duration::from_secs(90_061)), "1d1h1m1s");
    assert_eq!(source::duration(Duration::from_millis(250)), "250ms");
    assert_eq!(source::raw(r"ii\s+(\S+)"), r#"r"ii\s+(\S+)""#);
    assert_eq!(source::raw(r#"a"b"#), r##"r#"a"b"#"##);
    assert_eq!(source::raw(r##"a"#b"##), r###"r##"a"#b"##"###);
    assert_eq!(source::string("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
}

#[test]
fn data_strings_are_literal_and_commands_interpolate() {
    let mut inv = Inventory::new();
    inv.add_host(Host::new("web01").attr("note", "costs ${x} and $5"));
    let mut wf = Workflow::new("w");
    wf.set_description("uses ${nothing}")
        .add_task(Task::new("a").on("web01").run("echo ${host.note} $HOME"));
    let engine = Engine::new(inv, SshAuth::from_agent());
    let plan = match engine.plan(&wf) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(plan.description.as_deref(), Some("uses ${nothing}"));
    let spec = crate::engine::RunSpec::from_plan(&plan, RunChoices::default());
    let lines = dry_run(&spec);
    assert_eq!(
        lines.iter().map(|l| l.command.as_str()).collect::<Vec<_>>(),
        ["echo 'costs ${x} and $5' $HOME"]
    );
}

#[test]
fn after_value_checks_reach_the_plan_as_written() {
    let mut wf = Workflow::new("w");
    wf.set_maintenance_window("fleet", "always")
        .add_task(Task::new("upgrade").on("fleet").run("true"))
        .add_verification(
            Verification::new("nginx")
                .after("upgrade")
                .capture("nginx", "nginx -v 2>&1")
                .expect(
                    Expect::new("nginx", Change::Any)
                        .matching(r"nginx/(\S+)")
                        .equals("1.24.0 \"${x}\"")
                        .contains("1.24")
                        .matches(r#"^1\.2[0-9]"\.?"#)
                        .versions(Versions::Semver),
                ),
        );
    let plan = match engine().plan(&wf) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let e = &plan.verifies[0].expects[0];
    assert_eq!(e.change, "any");
    assert_eq!(e.equals.as_deref(), Some("1.24.0 \"${x}\""));
    assert_eq!(e.contains.as_deref(), Some("1.24"));
    assert_eq!(e.matches.as_deref(), Some(r#"^1\.2[0-9]"\.?"#));
    assert_eq!(e.versions.as_deref(), Some("semver"));
    // A bad regex gets the language's diagnostic.
    wf.add_verification(
        Verification::new("bad")
            .after("upgrade")
            .capture("bad", "true")
            .expect(Expect::new("bad", Change::Any).matches("(")),
    );
    match engine().plan(&wf) {
        Err(ApiError::Check { rendered, .. }) => {
            assert!(rendered.contains("matches"), "{rendered}")
        }
        other => panic!("expected a check error, got {other:?}"),
    }
}
