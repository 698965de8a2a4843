//! Log events: DEBUG per step start/end, WARN per failed step, one INFO (or
//! ERROR) line per run, with correlation id, workflow id and primitive name.

use std::io::Write;
use std::sync::{Arc, Mutex};

use primitives_core::testing::TestTelemetry;
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture(level: tracing::Level) -> (Buf, tracing::subscriber::DefaultGuard) {
    let buf = Buf::default();
    let writer = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (buf, tracing::subscriber::set_default(sub))
}

fn lines(buf: &Buf) -> Vec<String> {
    String::from_utf8(buf.0.lock().unwrap().clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn run_both(ctx_ok: WorkflowContext, ctx_err: WorkflowContext) {
    let wf = (lambda("parse", |x: i64| async move { Ok::<_, Error>(x) })
        >> lambda("check", |x: i64| async move {
            if x < 0 {
                Err(Error::msg("negative"))
            } else {
                Ok(x)
            }
        }))
    .named("flow");
    wf.run(&ctx_ok, 1).await.unwrap();
    wf.run(&ctx_err, -1).await.unwrap_err();
}

#[tokio::test(flavor = "current_thread")]
async fn levels_and_fields_with_telemetry() {
    let (buf, _g) = capture(tracing::Level::DEBUG);
    let t = TestTelemetry::new();
    run_both(
        t.context()
            .with_correlation_id("c-ok")
            .with_workflow_id("wf"),
        t.context()
            .with_correlation_id("c-err")
            .with_workflow_id("wf"),
    )
    .await;
    let lines = lines(&buf);
    let find = |needle: &str| {
        lines
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(find("step started").len(), 6, "{lines:#?}");
    assert!(find("step started").iter().all(|l| l.contains("DEBUG")));
    assert_eq!(
        find("step finished").len(),
        4,
        "3 steps of the ok run + parse of the failing run"
    );
    let warn = find("step failed");
    assert_eq!(
        warn.len(),
        1,
        "the failing step; the root's failure is the ERROR line"
    );
    assert!(
        warn[0].contains("WARN")
            && warn[0].contains("primitive=check")
            && warn[0].contains("c-err")
    );
    let info = find("workflow run completed");
    assert_eq!(info.len(), 1);
    assert!(
        info[0].contains("INFO") && info[0].contains("workflow=flow") && info[0].contains("c-ok")
    );
    assert!(info[0].contains("workflow_id=\"wf\""));
    let error = find("workflow run failed");
    assert_eq!(error.len(), 1);
    assert!(
        error[0].contains("ERROR") && error[0].contains("c-err") && error[0].contains("negative")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn run_lines_without_any_telemetry() {
    let (buf, _g) = capture(tracing::Level::INFO);
    run_both(
        WorkflowContext::new().with_correlation_id("n-ok"),
        WorkflowContext::new().with_correlation_id("n-err"),
    )
    .await;
    let lines = lines(&buf);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].contains("workflow run completed") && lines[0].contains("n-ok"));
    assert!(
        lines[1].contains("WARN")
            && lines[1].contains("step failed")
            && lines[1].contains("primitive=check")
    );
    assert!(lines[2].contains("workflow run failed") && lines[2].contains("n-err"));
}

#[tokio::test(flavor = "current_thread")]
async fn failed_runs_are_logged_at_error_even_when_info_is_off() {
    let (buf, _g) = capture(tracing::Level::ERROR);
    run_both(
        WorkflowContext::new().with_correlation_id("e-ok"),
        WorkflowContext::new().with_correlation_id("e-err"),
    )
    .await;
    let lines = lines(&buf);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("ERROR")
            && lines[0].contains("workflow run failed")
            && lines[0].contains("e-err")
    );
}

/// Timestamps and durations differ between runs; everything else must not.
fn normalized(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(" primitives_core: "))
        .map(|l| {
            l.split(' ')
                .skip(1)
                .map(|w| {
                    if w.starts_with("duration_ms=") {
                        "duration_ms=_"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn the_untraced_path_writes_the_same_events_as_the_observed_one() {
    let observed = {
        let (buf, _g) = capture(tracing::Level::DEBUG);
        let t = TestTelemetry::new();
        run_both(
            t.context().with_correlation_id("same-ok"),
            t.context()
                .with_correlation_id("same-err")
                .with_workflow_id("wf"),
        )
        .await;
        lines(&buf)
    };
    let untraced = {
        let (buf, _g) = capture(tracing::Level::DEBUG);
        run_both(
            WorkflowContext::new().with_correlation_id("same-ok"),
            WorkflowContext::new()
                .with_correlation_id("same-err")
                .with_workflow_id("wf"),
        )
        .await;
        lines(&buf)
    };
    assert_eq!(normalized(&untraced), normalized(&observed));
    let failed: Vec<_> = untraced
        .iter()
        .filter(|l| l.contains("step failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{untraced:#?}");
    for field in [
        "type=\"lambda\"",
        "duration_ms=",
        "workflow_id=\"wf\"",
        "error_type=\"error\"",
    ] {
        assert!(failed[0].contains(field), "{field} in {}", failed[0]);
    }
    let done = untraced
        .iter()
        .find(|l| l.contains("workflow run completed"))
        .unwrap();
    assert!(
        !done.contains("workflow_id"),
        "no empty workflow_id: {done}"
    );
}
