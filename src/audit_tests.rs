//! Tests of the audit log: every edit, removal, swap and cut of a line is detected.

use super::*;
use crate::secret::Secret;

const CANARY: &str = "canary-audit-91b2";

fn ts(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + n, 0).unwrap_or_default()
}

fn entry(i: u32) -> AuditEntry {
    match i % 3 {
        0 => AuditEntry::CommandStart {
            host: format!("web{i}"),
            task: "upgrade".into(),
            attempt: 1,
            command: format!("apt-get install -y openssl # {i}"),
        },
        1 => AuditEntry::CommandEnd {
            host: format!("web{i}"),
            task: "upgrade".into(),
            attempt: 1,
            exit_code: Some(0),
            duration_ms: 1200,
            outcome: "ok".into(),
        },
        _ => AuditEntry::Operator {
            action: OperatorAction::IgnoreWindows,
            user: "alice@ctl".into(),
            reason: Some("incident 42".into()),
        },
    }
}

/// A log of `n` records in a fresh directory; returns the directory guard and the path.
fn log_with(n: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join(".sflow/audit.jsonl");
    let mut log = AuditLog::open(&path, Redactor::default()).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..n {
        log.append(Some("r1"), ts(i.into()), entry(i))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    (dir, path)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    if !lines.is_empty() {
        text.push('\n');
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
}

fn check(path: &Path) -> VerifyReport {
    verify(path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_line_hash_is_the_lowercase_hex_sha256_of_the_line() {
    // FIPS 180-2's example for "abc", and the empty line.
    assert_eq!(
        line_hash(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        line_hash(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn an_intact_log_verifies_and_is_private() {
    let (_d, path) = log_with(7);
    let r = check(&path);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(r.records, 7);
    assert!(r.warnings.is_empty());
    for p in [path.clone(), head_path(&path)] {
        let mode = std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600), "{}", p.display());
    }
    let first: AuditRecord =
        serde_json::from_str(&lines(&path)[0]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.prev, GENESIS);
    assert_eq!(first.seq, 0);
}

#[test]
fn editing_any_line_is_detected() {
    let n = 6;
    for i in 0..n {
        let (_d, path) = log_with(n as u32);
        let mut ls = lines(&path);
        // A plausible edit that keeps the JSON valid: change the host name.
        ls[i] = ls[i]
            .replacen("\"web", "\"db", 1)
            .replacen("alice", "mallory", 1);
        write_lines(&path, &ls);
        let r = check(&path);
        let p = r
            .problem
            .unwrap_or_else(|| panic!("edit of line {} undetected", i + 1));
        if i + 1 < n {
            assert_eq!(p.line, i + 2, "edit of line {}: {p:?}", i + 1);
            assert_eq!(p.kind, ProblemKind::ChainBroken);
        } else {
            assert_eq!(p.kind, ProblemKind::LastEdited);
        }
    }
}

#[test]
fn deleting_any_line_is_detected() {
    let n = 6;
    for i in 0..n {
        let (_d, path) = log_with(n as u32);
        let mut ls = lines(&path);
        ls.remove(i);
        write_lines(&path, &ls);
        let p = check(&path)
            .problem
            .unwrap_or_else(|| panic!("removal of line {} undetected", i + 1));
        if i + 1 < n {
            assert_eq!(p.line, i + 1, "{p:?}");
            assert_eq!(
                p.kind,
                ProblemKind::OutOfSequence {
                    expected: i as u64,
                    found: i as u64 + 1
                }
            );
        } else {
            assert_eq!(
                p.kind,
                ProblemKind::RecordsRemovedAtEnd { head: 6, found: 5 }
            );
        }
    }
}

#[test]
fn swapping_any_two_adjacent_lines_is_detected() {
    let n = 6;
    for i in 0..n - 1 {
        let (_d, path) = log_with(n as u32);
        let mut ls = lines(&path);
        ls.swap(i, i + 1);
        write_lines(&path, &ls);
        let p = check(&path)
            .problem
            .unwrap_or_else(|| panic!("swap at line {} undetected", i + 1));
        assert_eq!(p.line, i + 1, "{p:?}");
    }
}

#[test]
fn rewriting_seq_and_prev_of_a_reordered_log_still_fails_at_the_head() {
    // An editor who recomputes the whole chain after removing a record is caught by the head.
    let (_d, path) = log_with(4);
    let mut ls = lines(&path);
    ls.remove(1);
    let mut prev = GENESIS.to_owned();
    for (i, l) in ls.iter_mut().enumerate() {
        let mut r: AuditRecord = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}"));
        r.seq = i as u64;
        r.prev = prev.clone();
        *l = serde_json::to_string(&r).unwrap_or_default();
        prev = line_hash(l.as_bytes());
    }
    write_lines(&path, &ls);
    let p = check(&path)
        .problem
        .unwrap_or_else(|| panic!("rechained log undetected"));
    assert_eq!(
        p.kind,
        ProblemKind::RecordsRemovedAtEnd { head: 4, found: 3 }
    );
}

#[test]
fn truncation_is_detected() {
    let (_d, path) = log_with(5);
    let text = std::fs::read(&path).unwrap_or_default();
    std::fs::write(&path, &text[..text.len() - 10]).unwrap_or_else(|e| panic!("{e}"));
    let p = check(&path)
        .problem
        .unwrap_or_else(|| panic!("cut undetected"));
    assert_eq!((p.line, p.kind), (5, ProblemKind::Unterminated));

    std::fs::write(&path, b"").unwrap_or_else(|e| panic!("{e}"));
    let p = check(&path)
        .problem
        .unwrap_or_else(|| panic!("emptying undetected"));
    assert_eq!(
        p.kind,
        ProblemKind::RecordsRemovedAtEnd { head: 5, found: 0 }
    );
}

#[test]
fn a_missing_head_is_reported_and_rebuilt_with_a_trace() {
    let (_d, path) = log_with(3);
    std::fs::remove_file(head_path(&path)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        check(&path).problem.map(|p| p.kind),
        Some(ProblemKind::HeadMissing)
    );
    let mut log = AuditLog::open(&path, Redactor::default()).unwrap_or_else(|e| panic!("{e}"));
    let seq = log
        .append(None, ts(9), entry(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seq, 4);
    let r = check(&path);
    assert!(r.is_ok(), "{r:?}");
    assert!(lines(&path)[3].contains("\"kind\":\"head_recovered\""));
}

#[test]
fn a_crash_between_append_and_head_update_is_a_warning_and_appending_goes_on() {
    let (_d, path) = log_with(3);
    let stale = std::fs::read(head_path(&path)).unwrap_or_default();
    let mut log = AuditLog::open(&path, Redactor::default()).unwrap_or_else(|e| panic!("{e}"));
    log.append(None, ts(5), entry(1))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(head_path(&path), &stale).unwrap_or_else(|e| panic!("{e}"));
    let r = check(&path);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(log.append(None, ts(6), entry(2)).ok(), Some(4));
    let r = check(&path);
    assert!(r.is_ok() && r.warnings.is_empty(), "{r:?}");
}

#[test]
fn appending_to_a_broken_log_is_refused() {
    let (_d, path) = log_with(3);
    let mut ls = lines(&path);
    ls.remove(0);
    write_lines(&path, &ls);
    let mut log = AuditLog::open(&path, Redactor::default()).unwrap_or_else(|e| panic!("{e}"));
    let err = log.append(None, ts(1), entry(0));
    assert!(matches!(err, Err(AuditError::Broken { .. })), "{err:?}");
}

#[test]
fn secrets_never_reach_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.jsonl");
    let secret = Secret::new("token", CANARY);
    let mut log = AuditLog::open(&path, Redactor::new([&secret])).unwrap_or_else(|e| panic!("{e}"));
    log.append(
        Some("r"),
        ts(0),
        AuditEntry::CommandStart {
            host: "h".into(),
            task: "t".into(),
            attempt: 1,
            command: format!("curl -H 'Authorization: {CANARY}' x"),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(!text.contains(CANARY));
    assert!(text.contains("Authorization: ***"));
    assert!(check(&path).is_ok());
}

#[test]
fn concurrent_writers_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.jsonl");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut log =
                    AuditLog::open(&path, Redactor::default()).unwrap_or_else(|e| panic!("{e}"));
                for i in 0..50 {
                    log.append(Some(&format!("run{t}")), ts(i), entry(t))
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().is_ok());
    }
    let r = check(&path);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(r.records, 200);
}

#[test]
fn command_records_are_written_as_serde_writes_them() {
    let odd = "q\"uote \\ back\ttab \u{1} ctl é ✓";
    let entries = [
        AuditEntry::CommandStart {
            host: odd.into(),
            task: "t".into(),
            attempt: 3,
            command: odd.into(),
        },
        AuditEntry::CommandEnd {
            host: "h".into(),
            task: odd.into(),
            attempt: 1,
            exit_code: Some(-2),
            duration_ms: 18_446_744_073_709_551_615,
            outcome: odd.into(),
        },
        AuditEntry::CommandEnd {
            host: "h".into(),
            task: "t".into(),
            attempt: 2,
            exit_code: None,
            duration_ms: 0,
            outcome: "retry (timeout)".into(),
        },
    ];
    let times = [
        ts(0),
        DateTime::from_timestamp(1_790_000_000, 123_000_000).unwrap_or_default(),
        DateTime::from_timestamp(1_790_000_000, 123_456_789).unwrap_or_default(),
    ];
    for entry in entries {
        for at in times {
            for run in [None, Some("20261127-abc\"d")] {
                let record = AuditRecord {
                    seq: 41,
                    ts: at,
                    run: run.map(str::to_owned),
                    entry: entry.clone(),
                    prev: GENESIS.to_owned(),
                };
                let mut direct = Vec::new();
                let written = write_command_record(&mut direct, 41, at, run, &entry, GENESIS)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(written);
                let serde = serde_json::to_vec(&record).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    String::from_utf8_lossy(&direct),
                    String::from_utf8_lossy(&serde)
                );
            }
        }
    }
    let mut none = Vec::new();
    let other = entry(2);
    assert!(!write_command_record(&mut none, 0, ts(0), None, &other, GENESIS).unwrap_or(true));
    assert!(none.is_empty());
}
