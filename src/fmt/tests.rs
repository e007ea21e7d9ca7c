//! Formatter tests: `tests/fmt/X.sflow` → `X.expected.sflow` pairs (refreshed with
//! `SFLOW_BLESS=1`), and over every example and parsing UI file: idempotence, and the same
//! AST (spans aside) before and after formatting.

use super::{format, format_file};
use crate::span::FileId;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sflow_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sflow"))
        .collect();
    files.sort();
    files
}

/// The AST as text with every span and comment position blanked out.
fn shape(src: &str) -> String {
    let (ast, diags) = crate::syntax::parse(FileId(0), src);
    assert!(diags.is_empty(), "does not parse: {diags:?}\n{src}");
    let text = format!("{:?}", ast.items);
    let re = regex::Regex::new(r"Span \{ file: FileId\(\d+\), start: \d+, end: \d+ \}")
        .unwrap_or_else(|e| panic!("{e}"));
    re.replace_all(&text, "_").into_owned()
}

/// Inputs of the pair tests and of the idempotence tests: examples and UI files that parse.
fn corpus() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for dir in ["examples", "tests/ui", "tests/fmt", "stdlib"] {
        let dir = root().join(dir);
        if !dir.is_dir() {
            continue;
        }
        for f in sflow_files(&dir) {
            let src = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
            if crate::syntax::parse(FileId(0), &src).1.is_empty() {
                out.push((f, src));
            }
        }
    }
    out
}

#[test]
fn pairs() {
    let dir = root().join("tests/fmt");
    let bless = std::env::var_os("SFLOW_BLESS").is_some();
    let mut n = 0;
    for input in sflow_files(&dir) {
        let name = input.to_string_lossy().into_owned();
        if name.ends_with(".expected.sflow") {
            continue;
        }
        n += 1;
        let src = std::fs::read_to_string(&input).unwrap_or_else(|e| panic!("{e}"));
        let got =
            format_file(FileId(0), &src).unwrap_or_else(|d| panic!("{name} does not parse: {d:?}"));
        let expected_path = input.with_extension("expected.sflow");
        if bless {
            std::fs::write(&expected_path, &got).unwrap_or_else(|e| panic!("{e}"));
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        assert_eq!(got, expected, "{name} (refresh with SFLOW_BLESS=1)");
    }
    assert!(n >= 3, "expected fmt pairs in tests/fmt");
}

#[test]
fn idempotent_over_corpus() {
    let files = corpus();
    assert!(files.len() >= 20, "corpus too small: {}", files.len());
    for (f, src) in files {
        let once = format(&src);
        let twice = format(&once);
        assert_eq!(once, twice, "not idempotent on {}", f.display());
    }
}

#[test]
fn same_ast_over_corpus() {
    for (f, src) in corpus() {
        let formatted = format(&src);
        assert_eq!(
            shape(&src),
            shape(&formatted),
            "AST changed on {}:\n{formatted}",
            f.display()
        );
    }
}

#[test]
fn comments_survive_in_order() {
    for (f, src) in corpus() {
        let comments = |s: &str| -> Vec<String> {
            super::lex::lex(s)
                .into_iter()
                .filter(|t| t.kind == super::lex::Kind::Comment)
                .map(|t| t.text.trim_end().to_owned())
                .collect()
        };
        assert_eq!(comments(&src), comments(&format(&src)), "{}", f.display());
    }
}

#[test]
fn examples_are_formatted() {
    for f in sflow_files(&root().join("examples")) {
        let src = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            format(&src),
            src,
            "run `sflow fmt examples/` ({})",
            f.display()
        );
    }
}

#[test]
fn syntax_errors_are_not_formatted() {
    let src = "workflow w {\n  task a on web {\n    run = \n  }\n}\n";
    let diags = format_file(FileId(0), src).expect_err("must refuse");
    assert!(!diags.is_empty());
}

#[test]
fn attributes_one_per_line_commas_dropped() {
    let src = "workflow w { windows { cutoff = 10m, on_expire = \"finish\" } }\n";
    assert_eq!(
        format(src),
        "workflow w {\n  windows {\n    cutoff = 10m\n    on_expire = \"finish\"\n  }\n}\n"
    );
}

#[test]
fn trailing_and_own_line_comments_stay() {
    let src = "# head\n\n\n\nworkflow w {   # trailing\n# own line\n  change = \"C\"#tight\n}\n";
    assert_eq!(
        format(src),
        "# head\n\nworkflow w { # trailing\n  # own line\n  change = \"C\" #tight\n}\n"
    );
}

#[test]
fn lists_inline_or_one_per_line() {
    let src = "inventory {\n group g = [ a,b , c, ]\n group h = [a, # first\n b]\n}\n";
    assert_eq!(
        format(src),
        "inventory {\n  group g = [a, b, c]\n  group h = [\n    a, # first\n    b,\n  ]\n}\n"
    );
}

#[test]
fn task_header_joined_on_one_line() {
    let src = "workflow w {\n  task b on web\n      after a,c when a.ok\n  { run = \"x\" }\n}\n";
    assert_eq!(
        format(src),
        "workflow w {\n  task b on web after a, c when a.ok {\n    run = \"x\"\n  }\n}\n"
    );
}

/// Every example of `docs/language.md` parses (as a file, or as the body of a workflow) and
/// is written in the canonical layout.
#[test]
fn language_doc_examples_parse_and_are_formatted() {
    let doc =
        std::fs::read_to_string(root().join("docs/language.md")).unwrap_or_else(|e| panic!("{e}"));
    let mut blocks = 0;
    for (k, block) in doc.split("```").enumerate() {
        if k % 2 == 0 {
            continue;
        }
        // Blocks inside list items are indented: take that indentation off.
        let lines: Vec<&str> = block
            .lines()
            .filter(|l| !l.trim().is_empty() || l.is_empty())
            .collect();
        let indent = lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let block: String = lines
            .iter()
            .skip_while(|l| l.is_empty())
            .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
            .collect();
        let block = block.as_str();
        blocks += 1;
        let src = if crate::syntax::parse(FileId(0), block).1.is_empty() {
            block.to_owned()
        } else {
            let body: String = block
                .lines()
                .map(|l| {
                    if l.is_empty() {
                        "\n".to_owned()
                    } else {
                        format!("  {l}\n")
                    }
                })
                .collect();
            format!("workflow w {{\n{body}}}\n")
        };
        let diags = crate::syntax::parse(FileId(0), &src).1;
        assert!(
            diags.is_empty(),
            "doc example does not parse: {diags:?}\n{src}"
        );
        assert_eq!(format(&src), src, "doc example not in canonical layout");
    }
    assert!(blocks >= 10);
}

#[test]
fn keyword_named_dependency_keeps_its_comma() {
    let src = "workflow w {\n  task t on web after a, window {\n    run = \"x\"\n  }\n}\n";
    assert_eq!(format(src), src);
    let src = "workflow w {\n  parallel { max_servers = 1, per dc = 2, }\n}\n";
    assert_eq!(
        format(src),
        "workflow w {\n  parallel {\n    max_servers = 1\n    per dc = 2\n  }\n}\n"
    );
}
