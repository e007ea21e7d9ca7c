//! `docs/diagnostics.md` is generated from the code registry: this test rebuilds it and fails
//! when the committed file differs (refresh with `SFLOW_BLESS=1 cargo test --lib diagnostic`).

use super::codes::Code;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The whole document: an index table, then each code's explanation.
fn document() -> String {
    let mut s = String::from(
        "# Diagnostic codes\n\n\
         Every problem `sflow check` (and `sflow fmt`, for syntax errors) reports carries a \
         stable code: `E` codes are errors (the program is rejected), `W` codes warnings \
         (rejected only with `--deny-warnings`). Codes are never renumbered. \
         `sflow explain CODE` prints the same text in the terminal.\n\n\
         This file is generated from the registry in `src/diagnostic/codes.rs` by a test \
         (`SFLOW_BLESS=1 cargo test --lib diagnostic` refreshes it).\n\n\
         | code | severity | title |\n|---|---|---|\n",
    );
    for c in Code::ALL {
        let _ = writeln!(
            s,
            "| [{0}](#{1}) | {2} | {3} |",
            c.as_str(),
            c.as_str().to_lowercase(),
            c.severity().as_str(),
            c.title().replace('|', "\\|")
        );
    }
    for c in Code::ALL {
        let _ = write!(
            s,
            "\n## {}\n\n**{}**: {}\n\n{}\n",
            c.as_str(),
            c.severity().as_str(),
            c.title(),
            c.explanation().trim_end()
        );
    }
    s
}

#[test]
fn docs_list_every_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics.md");
    let doc = document();
    if std::env::var_os("SFLOW_BLESS").is_some() {
        std::fs::write(&path, &doc).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    for c in Code::ALL {
        assert!(
            committed.contains(&format!("\n## {}\n", c.as_str())),
            "docs/diagnostics.md lacks {} (refresh with SFLOW_BLESS=1)",
            c.as_str()
        );
    }
    assert_eq!(
        committed, doc,
        "docs/diagnostics.md is stale (refresh with SFLOW_BLESS=1)"
    );
}
