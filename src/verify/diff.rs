//! Unified diffs of captured text: takes two texts and their labels, returns a `diff -u`
//! style string (built with `similar`).

use std::time::Duration;

use similar::{Algorithm, TextDiff};

/// Lines of unchanged context around each hunk.
pub const CONTEXT_LINES: usize = 3;

/// Bound on the diff search: outputs come from remote hosts, and a pathological pair must not
/// stall a report; past it `similar` returns a correct but possibly longer diff.
const DIFF_TIMEOUT: Duration = Duration::from_millis(500);

/// The unified diff of `old` against `new`, or `None` when they are equal.
pub fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header(old_label, new_label)
        .to_string();
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified_diff("a\n", "a\n", "x", "y"), None);
    }

    #[test]
    fn diff_marks_changed_lines() {
        let d = unified_diff("a\nb\nc\n", "a\nB\nc\n", "before", "after").unwrap_or_default();
        assert!(
            d.starts_with("--- before\n+++ after\n@@ -1,3 +1,3 @@\n"),
            "{d}"
        );
        assert!(d.contains("\n-b\n+B\n"), "{d}");
    }
}
