//! Tests of the hooks: real `sh` commands on the controller, real (short) time.

use super::*;
use crate::engine::{EventKind, RunStatus};
use chrono::Utc;

fn event(kind: EventKind) -> Event {
    Event {
        timestamp: Utc::now(),
        elapsed: Duration::ZERO,
        kind,
    }
}

fn finished() -> EventKind {
    EventKind::RunFinished {
        status: RunStatus::Succeeded,
        exit_code: 0,
        ok: 1,
        failed: 0,
        deferred: 0,
        interrupted: 0,
    }
}

fn quiet(command: &str, on: &[&str], timeout: Duration) -> NotifyConfig {
    NotifyConfig {
        on: on.iter().map(|s| (*s).to_owned()).collect(),
        timeout,
        warn: Arc::new(|_| {}),
        ..NotifyConfig::new(command)
    }
}

#[test]
fn selection_maps_names_to_event_kinds() {
    let on = vec!["failed".to_owned()];
    let failed = EventKind::HostFinished {
        host: "a".into(),
        wave: "all".into(),
        state: HostState::Failed,
    };
    let ok = EventKind::HostFinished {
        host: "a".into(),
        wave: "all".into(),
        state: HostState::Ok,
    };
    assert!(selects(&on, &failed));
    assert!(!selects(&on, &ok));
    assert!(!selects(&on, &finished()));
    assert!(selects(&["done".to_owned()], &finished()));
}

#[tokio::test]
async fn approve_passes_on_exit_0_and_refuses_otherwise_with_output_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.jsonl");
    let mut log =
        AuditLog::open(&path, crate::secret::Redactor::default()).unwrap_or_else(|e| panic!("{e}"));
    let ok = approve(
        "echo approved CHG-1",
        Duration::from_secs(5),
        Some(&mut log),
    )
    .await;
    assert!(ok.is_ok_and(|r| r.stdout == "approved CHG-1\n"));
    let refused = approve(
        "echo checking; echo 'ticket not approved' >&2; exit 3",
        Duration::from_secs(5),
        Some(&mut log),
    )
    .await;
    match refused {
        Err(HookError::NotApproved {
            outcome, stderr, ..
        }) => {
            assert_eq!(outcome, "exited with 3");
            assert_eq!(stderr, "ticket not approved\n");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["kind"], "hook");
    assert_eq!(lines[0]["outcome"], "succeeded");
    assert_eq!(lines[1]["exit_code"], 3);
    assert_eq!(lines[1]["stdout"], "checking\n");
    assert_eq!(lines[1]["stderr"], "ticket not approved\n");
    assert!(crate::audit::verify(&path).is_ok_and(|r| r.is_ok()));
}

#[tokio::test]
async fn a_hung_approval_is_stopped_at_its_timeout() {
    let start = std::time::Instant::now();
    let r = approve("sleep 30", Duration::from_millis(200), None).await;
    assert!(
        matches!(&r, Err(HookError::NotApproved { outcome, .. }) if outcome.starts_with("timed out")),
        "{r:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn notify_delivers_selected_events_in_order_as_json_lines() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("events");
    let cmd = format!("cat >> '{}'", out.display());
    let (mut sink, handle) =
        start_notify(quiet(&cmd, &["wave_done", "done"], Duration::from_secs(5)));
    for i in 0..3 {
        sink.event(&event(EventKind::WaveFinished {
            wave: format!("w{i}"),
            index: i,
            ok: 1,
            failed: 0,
            deferred: 0,
            passed: true,
        }));
        // Not selected: never reaches the hook.
        sink.event(&event(EventKind::OperatorAction {
            action: crate::engine::event::OperatorAction::Confirmed { by_flag: true },
        }));
    }
    sink.event(&event(finished()));
    drop(sink);
    let report = handle.finish().await;
    assert_eq!(report.delivered, 4, "{report:?}");
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let got: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            format!(
                "{}:{}",
                v["kind"].as_str().unwrap_or(""),
                v["wave"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "wave_finished:w0",
            "wave_finished:w1",
            "wave_finished:w2",
            "run_finished:"
        ]
    );
}

#[tokio::test]
async fn a_failing_hook_is_reported_and_a_slow_one_is_cut_off() {
    let (mut sink, handle) = start_notify(quiet(
        "echo broken >&2; exit 7",
        &["done"],
        Duration::from_secs(5),
    ));
    sink.event(&event(finished()));
    drop(sink);
    let report = handle.finish().await;
    assert_eq!(report.failed, 1);
    assert_eq!(
        report.warnings,
        ["notify hook exited with 7 on `run_finished`; it said: broken"]
    );

    let start = std::time::Instant::now();
    let (mut sink, handle) = start_notify(quiet("sleep 30", &["done"], Duration::from_millis(300)));
    sink.event(&event(finished()));
    sink.event(&event(finished()));
    drop(sink);
    let report = handle.finish().await;
    // The first call is stopped at its timeout; the end-of-run wait then gives up on the second.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(report.delivered, 0);
    assert!(report.failed + report.abandoned >= 2, "{report:?}");
    assert!(
        !report.warnings.is_empty()
            && report
                .warnings
                .iter()
                .all(|w| w.contains("timed out") || w.contains("still busy")),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_full_queue_drops_events_instead_of_waiting() {
    let (mut sink, handle) = start_notify(NotifyConfig {
        queue: 2,
        ..quiet("sleep 30", &["done"], Duration::from_millis(200))
    });
    let start = std::time::Instant::now();
    for _ in 0..10 {
        sink.event(&event(finished()));
    }
    // Sending never waited for the hook.
    assert!(start.elapsed() < Duration::from_millis(100));
    drop(sink);
    let report = handle.finish().await;
    assert!(report.dropped >= 7, "{report:?}");
    assert_eq!(
        report
            .warnings
            .iter()
            .filter(|w| w.contains("queue is full"))
            .count(),
        1,
        "{report:?}"
    );
}
