//! Unit tests of the parser: one `check(src, expect)` helper comparing a compact dump of the
//! items and diagnostics.

use super::parse;
use crate::span::FileId;

fn check(src: &str, expect: &str) {
    let (file, diags) = parse(FileId(0), src);
    let mut out = String::new();
    for item in &file.items {
        let s = match item {
            crate::ast::Item::Import(_) => "import".to_owned(),
            crate::ast::Item::Inventory(_) => "inventory".to_owned(),
            crate::ast::Item::Workflow(w) => {
                format!("workflow {} ({} members)", w.name.name, w.members.len())
            }
            crate::ast::Item::Template(t) => format!("template {}", t.name.name),
        };
        out.push_str(&s);
        out.push('\n');
    }
    for d in &diags {
        out.push_str(&format!(
            "{} {}..{} {}\n",
            d.code.as_str(),
            d.span.start,
            d.span.end,
            d.message
        ));
    }
    assert_eq!(out.trim(), expect.trim(), "\n--- got ---\n{out}");
}

#[test]
fn parses_the_spec_examples_without_errors() {
    for src in [
        include_str!("../../examples/inventory.sflow"),
        include_str!("../../examples/os_patching.sflow"),
        include_str!("../../examples/emergency_openssl.sflow"),
        include_str!("../../examples/ntp_standard.sflow"),
        include_str!("../../examples/db_failover_maintenance.sflow"),
        include_str!("../../examples/web_triage.sflow"),
    ] {
        let (file, diags) = parse(FileId(0), src);
        assert!(diags.is_empty(), "{diags:#?}");
        assert!(!file.items.is_empty());
    }
}

#[test]
fn recovers_after_a_bad_member() {
    check(
        "workflow w {\n  task a on web { run = \"x\" ] }\n  task b on web { run = \"y\" }\n}\nworkflow v { }\n",
        "workflow w (1 members)\nworkflow v (0 members)\nE0001 41..42 unexpected `]`",
    );
}

#[test]
fn missing_close_brace_is_named() {
    check(
        "workflow w {\n  task a on web {\n    run = \"x\"\n  task b on web { run = \"y\" }\n}\n",
        "workflow w (1 members)\nE0002 29..30 unclosed `{`",
    );
}

#[test]
fn missing_equals_is_named() {
    check(
        "workflow w {\n  task a on web {\n    timeout 10m\n  }\n}\n",
        "workflow w (0 members)\nE0003 35..42 expected `=` after `timeout`",
    );
}

#[test]
fn misspelt_keyword_gets_a_suggestion() {
    let (_, diags) = parse(
        FileId(0),
        "workflow w {\n  tsak a on web { run = \"x\" }\n}\n",
    );
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].help.as_deref(), Some("did you mean `task`?"));
}

#[test]
fn unclosed_workflow_at_end_of_file() {
    check(
        "workflow w {\n  task a on web { run = \"x\" }\n",
        "workflow w (1 members)\nE0002 11..12 unclosed `{`",
    );
}

#[test]
fn strings_decode_escapes_and_interpolation() {
    let (file, diags) = parse(
        FileId(0),
        "workflow w { description = \"a\\tb ${raw host.address} \\${x}\" }",
    );
    assert!(diags.is_empty(), "{diags:?}");
    let crate::ast::Item::Workflow(w) = &file.items[0] else {
        panic!("not a workflow")
    };
    let crate::ast::Member::Attr(a) = &w.members[0] else {
        panic!("not an attr")
    };
    let crate::ast::ValueKind::Str(s) = &a.value.kind else {
        panic!("not a string")
    };
    assert_eq!(s.display_text(), "a\tb ${raw host.address} ${x}");
}

#[test]
fn bad_escape_and_interpolation() {
    check(
        "workflow w { description = \"\\q ${1}\" }",
        "workflow w (1 members)\nE0005 28..30 unknown escape `\\q`\nE0005 31..35 invalid interpolation `${1}`",
    );
}

#[test]
fn durations() {
    use super::lower::parse_duration;
    use std::time::Duration;
    assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("99999999999999999999d"), None);
}

#[test]
fn comments_are_kept_on_the_side() {
    let (file, _) = parse(FileId(0), "# head\nworkflow w { # tail\n}\n");
    assert_eq!(file.comments.len(), 2);
}
