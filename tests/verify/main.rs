//! Verification: version vectors, expectations, drift, report snapshots, the engine over
//! the in-process SSH fleet, and `sflow verify` end to end.
//!
//! Snapshots are the expected text files in `tests/verify/snapshots/`; run with
//! `SFLOW_BLESS=1` to rewrite them from the current output, then review the diff.

mod cli;
mod drift;
mod engine;
mod expect;
mod reports;
mod versions;

use std::path::PathBuf;

/// Compares `actual` with the snapshot file `name`, or rewrites it under `SFLOW_BLESS=1`.
pub fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/verify/snapshots")
        .join(name);
    if std::env::var_os("SFLOW_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("snapshot {name} unreadable ({e}); run with SFLOW_BLESS=1 to create it")
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .header("snapshot", "actual")
            .to_string();
        panic!("snapshot {name} differs (SFLOW_BLESS=1 to accept):\n{diff}");
    }
}
