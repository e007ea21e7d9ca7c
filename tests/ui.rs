//! UI tests: each `tests/ui/NAME.sflow` is checked and its rendered diagnostics compared with
//! `tests/ui/NAME.stderr` (refresh with `SFLOW_BLESS=1 cargo test --test ui`). Lines marked
//! with a `#~ CODE` comment must get a diagnostic with that code on that line, in the JSON
//! output too; and every diagnostic code has at least one UI file. A `# workflow: NAME` line
//! plays `--workflow NAME`.

use sflow::check::{check_loaded, CheckOptions, Disk};
use sflow::diagnostic::{render, Code};
use sflow::span::{SourceFile, SourceMap};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

fn options() -> CheckOptions {
    // A fixed clock, so that window fitting does not depend on the day the tests run.
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .map(|d| d.to_utc())
        .unwrap_or_default();
    CheckOptions {
        now,
        ..CheckOptions::default()
    }
}

/// `(line, code)` of every `#~ CODE` marker.
fn markers(text: &str) -> BTreeSet<(usize, String)> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(pos) = line.find("#~ ") {
            for code in line[pos + 3..].split_whitespace() {
                out.insert((i + 1, code.to_owned()));
            }
        }
    }
    out
}

fn run_ui(name: &str) {
    let path = ui_dir().join(format!("{name}.sflow"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sources = SourceMap::new();
    let display = format!("tests/ui/{name}.sflow");
    let id = sources.add(SourceFile::new(
        display.clone(),
        Some(path.clone()),
        text.clone(),
    ));
    // `# workflow: NAME` in a UI file plays `--workflow NAME`.
    let mut opts = options();
    opts.workflow = text
        .lines()
        .find_map(|l| l.strip_prefix("# workflow: "))
        .map(|w| w.trim().to_owned());
    let out = check_loaded(&mut sources, id, &Disk, &opts);
    let rendered = render::render_human(&out.diagnostics, &sources, false);
    let expected_path = ui_dir().join(format!("{name}.stderr"));
    if std::env::var_os("SFLOW_BLESS").is_some() {
        std::fs::write(&expected_path, &rendered).unwrap_or_else(|e| panic!("{e}"));
    } else {
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        similar_asserts(&expected, &rendered, name);
    }
    // Markers against the JSON document (1-based lines), in the UI file and in any file it
    // reads from tests/ui (inventories).
    let json = render::to_json(std::slice::from_ref(&display), &out.diagnostics, &sources);
    let mut got = BTreeSet::new();
    for d in json["diagnostics"].as_array().into_iter().flatten() {
        let line = d["line"].as_u64().unwrap_or(0) as usize;
        let file = d["file"].as_str().unwrap_or("").to_owned();
        got.insert((file, line, d["code"].as_str().unwrap_or("").to_owned()));
    }
    let mut want = BTreeSet::new();
    for (_, f) in sources.files() {
        if f.name.starts_with("tests/ui/") {
            want.extend(
                markers(&f.text)
                    .into_iter()
                    .map(|(l, c)| (f.name.clone(), l, c)),
            );
        }
    }
    assert!(!want.is_empty(), "{name}: no `#~ CODE` marker");
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: markers not matched by the JSON output\n  missing: {missing:?}\n  unexpected: {extra:?}"
    );
}

fn similar_asserts(expected: &str, got: &str, name: &str) {
    if expected != got {
        let diff = similar::TextDiff::from_lines(expected, got);
        panic!(
            "{name}: rendering differs from {name}.stderr (SFLOW_BLESS=1 to accept)\n{}",
            diff.unified_diff().header("expected", "got")
        );
    }
}

macro_rules! ui_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_ui(stringify!($name));
            }
        )*
        const LISTED: &[&str] = &[$(stringify!($name)),*];
    };
}

ui_tests! {
    e0001_syntax_error,
    e0002_unclosed_block,
    e0003_missing_equals,
    e0004_unknown_keyword,
    e0005_invalid_string,
    e0006_invalid_number,
    e0007_file_not_found,
    e0008_missing_inventory,
    e0009_unknown_name,
    e0010_duplicate_name,
    e0011_dependency_cycle,
    e0012_unknown_attribute,
    e0013_wrong_type,
    e0014_missing_attribute,
    e0015_invalid_value,
    e0016_window_spec,
    e0017_uncovered_host,
    e0018_host_in_no_wave,
    e0019_host_in_two_waves,
    e0020_empty_wave,
    e0021_wave_sizes,
    e0022_when_not_ancestor,
    e0023_condition_type,
    e0024_invalid_regex,
    e0025_regex_without_group,
    e0026_verify_order,
    e0027_estimate_never_fits,
    e0028_credential_literal,
    e0029_template_arguments,
    e0030_secret_on_command_line,
    e0031_unknown_workflow,
    e0032_ansible_inventory,
    w0001_group_limit_above_max,
    w0002_task_targets_no_host,
    w0003_capture_never_read,
    w0004_ansible_warning,
    several_syntax_errors,
    window_spec_points_inside_string,
}

#[test]
fn every_ui_file_is_listed_and_every_code_has_one() {
    let mut files = BTreeSet::new();
    for e in std::fs::read_dir(ui_dir()).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "sflow") {
            if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                files.insert(stem.to_owned());
            }
        }
    }
    let listed: BTreeSet<String> = LISTED.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        files, listed,
        "tests/ui files and the ui_tests! list differ"
    );
    let mut codes = BTreeSet::new();
    for e in std::fs::read_dir(ui_dir()).into_iter().flatten().flatten() {
        if e.path().extension().is_some_and(|x| x != "stderr") {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            codes.extend(markers(&text).into_iter().map(|(_, c)| c));
        }
    }
    for c in Code::ALL {
        assert!(
            codes.contains(c.as_str()),
            "no UI test marks {}",
            c.as_str()
        );
    }
}
