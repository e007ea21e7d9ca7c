//! Unified diffs of captured text: takes two texts and their labels, returns a `diff -u`
//! style string (line diff by `similar`, rendered here).
//!
//! Before the line diff, lines that occur on only one side are set aside: they can never be
//! part of a longest common subsequence, so they are changes whatever the diff finds (the
//! "discard" heuristic of GNU diff). The diff runs on the rest and the set-aside lines are
//! put back as deletions and insertions in the gaps between the common lines. On captures
//! where most lines changed (a package listing after a full upgrade) this leaves little or
//! nothing to diff, and the result is the same set of changed lines a full diff finds.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use similar::{capture_diff_slices_deadline, group_diff_ops, Algorithm, DiffOp};

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
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = line_ops(&old_lines, &new_lines);
    let mut out = String::new();
    let _ = writeln!(out, "--- {old_label}");
    let _ = writeln!(out, "+++ {new_label}");
    for group in group_diff_ops(ops, CONTEXT_LINES) {
        // `group_diff_ops` gives no empty group; an empty one would only lose its header.
        if let (Some(first), Some(last)) = (group.first(), group.last()) {
            let (old, new) = (first.old_range().start, first.new_range().start);
            let (old_end, new_end) = (last.old_range().end, last.new_range().end);
            let _ = writeln!(
                out,
                "@@ -{} +{} @@",
                Range(old, old_end),
                Range(new, new_end)
            );
        }
        for op in &group {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            let (deleted, inserted) = match tag {
                similar::DiffTag::Equal => {
                    for line in &old_lines[old_range] {
                        push_line(&mut out, ' ', line);
                    }
                    continue;
                }
                _ => (old_range, new_range),
            };
            for line in &old_lines[deleted] {
                push_line(&mut out, '-', line);
            }
            for line in &new_lines[inserted] {
                push_line(&mut out, '+', line);
            }
        }
    }
    Some(out)
}

/// One diff line; a line without its newline (the last of a text) is marked, as `diff` does.
fn push_line(out: &mut String, tag: char, line: &str) {
    out.push(tag);
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

/// A hunk's line range as `diff -u` writes it: `start,len`, or `start` for one line.
struct Range(usize, usize);

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.1.saturating_sub(self.0);
        match len {
            1 => write!(f, "{}", self.0 + 1),
            // An empty range names the line before it.
            0 => write!(f, "{},0", self.0),
            _ => write!(f, "{},{len}", self.0 + 1),
        }
    }
}

/// The diff operations of `old` against `new`, on their full line indices.
fn line_ops<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<DiffOp> {
    // Each distinct line gets a number, and the sides it occurs on (bit 0 old, bit 1 new);
    // the diff then compares numbers, not strings.
    let mut ids: HashMap<&'a str, (u32, u8)> = HashMap::with_capacity(old.len() + new.len());
    let mut number = |line: &'a str, side: u8| -> u32 {
        let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let e = ids.entry(line).or_insert((next, 0));
        e.1 |= side;
        e.0
    };
    let old_ids: Vec<u32> = old.iter().map(|l| number(l, 1)).collect();
    let new_ids: Vec<u32> = new.iter().map(|l| number(l, 2)).collect();
    let both = |line: &str| ids.get(line).is_some_and(|e| e.1 == 3);
    // Indices of the lines present on both sides: only they can be common.
    let old_kept: Vec<usize> = (0..old.len()).filter(|&i| both(old[i])).collect();
    let new_kept: Vec<usize> = (0..new.len()).filter(|&j| both(new[j])).collect();
    let a: Vec<u32> = old_kept.iter().map(|&i| old_ids[i]).collect();
    let b: Vec<u32> = new_kept.iter().map(|&j| new_ids[j]).collect();
    let deadline = Instant::now() + DIFF_TIMEOUT;
    let kept_ops = capture_diff_slices_deadline(Algorithm::Myers, &a, &b, Some(deadline));
    // Walk the common runs of the reduced diff in order; everything between two of them on
    // either side (set aside or not) is a change.
    let mut ops = Vec::new();
    let (mut oi, mut ni) = (0, 0);
    for op in kept_ops {
        let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        else {
            continue;
        };
        for k in 0..len {
            let (o, n) = (old_kept[old_index + k], new_kept[new_index + k]);
            push_change(&mut ops, oi, o, ni, n);
            push_equal(&mut ops, o, n);
            (oi, ni) = (o + 1, n + 1);
        }
    }
    push_change(&mut ops, oi, old.len(), ni, new.len());
    ops
}

/// Adds the change of `old[o0..o1]` into `new[n0..n1]`, if either is non-empty.
fn push_change(ops: &mut Vec<DiffOp>, o0: usize, o1: usize, n0: usize, n1: usize) {
    let (old_len, new_len) = (o1 - o0, n1 - n0);
    let op = match (old_len, new_len) {
        (0, 0) => return,
        (_, 0) => DiffOp::Delete {
            old_index: o0,
            old_len,
            new_index: n0,
        },
        (0, _) => DiffOp::Insert {
            old_index: o0,
            new_index: n0,
            new_len,
        },
        _ => DiffOp::Replace {
            old_index: o0,
            old_len,
            new_index: n0,
            new_len,
        },
    };
    ops.push(op);
}

/// Adds one equal line, extending the previous equal run if the last op is one: the caller
/// pushes the change in any gap first, so an equal run last is always adjacent.
fn push_equal(ops: &mut Vec<DiffOp>, o: usize, n: usize) {
    if let Some(DiffOp::Equal { len, .. }) = ops.last_mut() {
        *len += 1;
        return;
    }
    ops.push(DiffOp::Equal {
        old_index: o,
        new_index: n,
        len: 1,
    });
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

    /// The reference: `similar`'s own unified diff of the same texts.
    fn reference(old: &str, new: &str) -> String {
        similar::TextDiff::configure()
            .algorithm(Algorithm::Myers)
            .diff_lines(old, new)
            .unified_diff()
            .context_radius(CONTEXT_LINES)
            .header("a", "b")
            .to_string()
    }

    #[test]
    fn same_output_as_similar_on_assorted_texts() {
        let cases = [
            ("a\nb\nc\n", "a\nc\n"),
            ("a\nc\n", "a\nb\nc\n"),
            ("", "x\n"),
            ("x\n", ""),
            ("a\nb", "a\nc"),
            ("a\nb\n", "a\nb"),
            ("a\nb", "a\nb\n"),
            (
                "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n",
                "1\n2\nX\n4\n5\n6\n7\n8\nY\n10\n",
            ),
            (
                "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
                "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n",
            ),
            ("a\nb\na\nb\n", "b\na\nb\na\n"),
            ("p\nq\nr\n", "x\ny\nz\n"),
        ];
        for (old, new) in cases {
            assert_eq!(
                unified_diff(old, new, "a", "b"),
                Some(reference(old, new)),
                "{old:?} -> {new:?}"
            );
        }
    }

    #[test]
    fn lines_only_on_one_side_become_changes_in_their_gap() {
        // `x` and `y` exist on one side only; `c` moved before `b`.
        let ops = line_ops(&["a\n", "x\n", "b\n", "c\n"], &["a\n", "c\n", "y\n", "b\n"]);
        let old_lines: usize = ops.iter().map(|o| o.old_range().len()).sum();
        let new_lines: usize = ops.iter().map(|o| o.new_range().len()).sum();
        assert_eq!((old_lines, new_lines), (4, 4));
        let equal: usize = ops
            .iter()
            .filter(|o| matches!(o, DiffOp::Equal { .. }))
            .map(|o| o.old_range().len())
            .sum();
        // `a` and one of `b`/`c` are kept: the longest common subsequence has two lines.
        assert_eq!(equal, 2);
    }

    #[test]
    fn every_line_changed_is_one_replacement() {
        let old: String = (0..1000).map(|i| format!("pkg{i} 1.0\n")).collect();
        let new: String = (0..1000).map(|i| format!("pkg{i} 1.1\n")).collect();
        let d = unified_diff(&old, &new, "a", "b").unwrap_or_default();
        assert!(
            d.starts_with("--- a\n+++ b\n@@ -1,1000 +1,1000 @@\n"),
            "{d}"
        );
        assert_eq!(d.lines().filter(|l| l.starts_with('-')).count(), 1001);
        assert_eq!(d.lines().filter(|l| l.starts_with('+')).count(), 1001);
    }
}
