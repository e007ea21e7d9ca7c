//! CLI tests of `sflow fmt`: rewriting, `--check` (exit 1 and the names of the files that would
//! change), directories, and files with syntax errors left alone.

use std::path::Path;
use std::process::Command;

struct Out {
    status: i32,
    stdout: String,
    stderr: String,
}

fn sflow(dir: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_sflow"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run sflow: {e}"));
    Out {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const MESSY: &str = "workflow w { change = \"C\"  task a on web { run = \"x\" } }\n";
const TIDY: &str = "workflow w {\n  change = \"C\"\n  task a on web {\n    run = \"x\"\n  }\n}\n";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn check_names_unformatted_files_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "messy.sflow", MESSY);
    write(dir.path(), "tidy.sflow", TIDY);
    let out = sflow(dir.path(), &["fmt", "--check", "messy.sflow", "tidy.sflow"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert_eq!(out.stdout, "messy.sflow\n");
    assert_eq!(read(dir.path(), "messy.sflow"), MESSY);
}

#[test]
fn fmt_rewrites_then_check_passes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(dir.path().join("sub")).unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "sub/messy.sflow", MESSY);
    write(dir.path(), "sub/notes.txt", "not sflow {");
    let out = sflow(dir.path(), &["fmt", "."]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stdout.contains("messy.sflow"), "{}", out.stdout);
    assert_eq!(read(dir.path(), "sub/messy.sflow"), TIDY);
    assert_eq!(read(dir.path(), "sub/notes.txt"), "not sflow {");
    let out = sflow(dir.path(), &["fmt", "--check", "."]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn syntax_errors_are_reported_and_file_left_alone() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let broken = "workflow w {\n  task a on web {\n    run = \n  }\n";
    write(dir.path(), "broken.sflow", broken);
    let out = sflow(dir.path(), &["fmt", "broken.sflow"]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("E000"), "{}", out.stderr);
    assert!(out.stderr.contains("not formatted"), "{}", out.stderr);
    assert_eq!(read(dir.path(), "broken.sflow"), broken);
}

#[test]
fn missing_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = sflow(dir.path(), &["fmt", "nope.sflow"]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("cannot read"), "{}", out.stderr);
}

#[test]
fn examples_are_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = sflow(root, &["fmt", "--check", "examples"]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
}
