//! Run with: `cargo run --example basic_workflow`
//!
//! Builds a workflow of the core primitives — `validate >> retry(flaky) >>
//! fallback >> (summarise | classify)` — runs it a few times with no backend
//! at all, and prints what the built-in instrumentation recorded: the span
//! tree of one run, the metrics, and the in-process per-primitive
//! statistics. The step log lines (INFO per run, WARN per failed step) are
//! printed by a `tracing` subscriber as they happen.

use std::time::Duration;

use primitives_core::testing::{render_tree, TestTelemetry};
use primitives_core::{
    lambda, telemetry, Error, Fallback, MockPrimitive, PrimitiveExt, Retry, WorkflowContext,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();

    // The workflow is built *before* telemetry exists: it still records
    // once telemetry is installed.
    let validate = lambda("validate", |text: String| async move {
        if text.trim().is_empty() {
            return Err(Error::msg("empty input"));
        }
        Ok(text)
    });
    let flaky_llm = MockPrimitive::<String, String>::returning("a summary".into())
        .then_fail("rate limited")
        .with_delay(Duration::from_millis(5))
        .named("llm_call");
    let cheap_model = lambda("cheap_model", |t: String| async move {
        Ok::<_, Error>(format!("cheap: {t}"))
    });
    let summarise = lambda("summarise", |t: String| async move {
        tokio::time::sleep(Duration::from_millis(3)).await;
        Ok::<_, Error>(format!("summary of {} chars", t.len()))
    });
    let classify = lambda("classify", |t: String| async move {
        Ok::<_, Error>(if t.contains("cheap") {
            "fallback".to_string()
        } else {
            "primary".to_string()
        })
    });
    let workflow = (validate
        >> Fallback::new(
            Retry::new(flaky_llm).backoff(Duration::from_millis(2), Duration::from_millis(10)),
            cheap_model,
        )
        >> (summarise | classify))
        .named("document_pipeline")
        .into_workflow();

    // In-memory providers stand in for a backend here; the
    // observability-integration crate installs real exporters instead.
    let capture = TestTelemetry::new();
    telemetry::set_global(capture.telemetry());

    for i in 0..3 {
        let ctx = WorkflowContext::new()
            .with_correlation_id(format!("req-{i}"))
            .with_workflow_id("document_pipeline");
        let out = workflow.run(&ctx, format!("document number {i}")).await?;
        println!("run {i}: {out:?}");
    }
    let ctx = WorkflowContext::new().with_correlation_id("req-bad");
    let err = workflow.run(&ctx, "   ".into()).await.unwrap_err();
    println!(
        "run with bad input failed as expected: {err} (kind {})",
        err.error_type()
    );

    let spans = capture.spans();
    let first_trace = spans
        .iter()
        .find(|s| s.name == "primitive.document_pipeline")
        .map(|s| s.span_context.trace_id());
    let first: Vec<_> = spans
        .iter()
        .filter(|s| Some(s.span_context.trace_id()) == first_trace)
        .cloned()
        .collect();
    println!(
        "\nSpan tree of the first run (trace {:?}):",
        first_trace.unwrap_or(opentelemetry::trace::TraceId::INVALID)
    );
    print!("{}", render_tree(&first));
    println!("{} spans in 4 runs", spans.len());

    let m = capture.metrics();
    println!("\nMetrics (OpenTelemetry instruments):");
    for (name, labels) in [
        (
            "primitive_executions",
            vec![("primitive", "document_pipeline"), ("status", "ok")],
        ),
        (
            "primitive_executions",
            vec![("primitive", "document_pipeline"), ("status", "error")],
        ),
        ("primitive_executions", vec![("primitive", "llm_call")]),
        ("retry_attempts", vec![("outcome", "retry")]),
        ("fallback_used", vec![]),
        ("primitive_errors", vec![]),
    ] {
        println!("  {name}{labels:?} = {}", m.counter(name, &labels));
    }
    println!(
        "  primitive_duration count for document_pipeline = {}",
        m.histogram_count("primitive_duration", &[("primitive", "document_pipeline")])
    );

    println!("\nIn-process statistics:");
    println!(
        "  {:<20} {:>5} {:>5} {:>5} {:>10} {:>8}",
        "primitive", "runs", "ok", "err", "avg", "success"
    );
    for p in telemetry::primitive_metrics() {
        println!(
            "  {:<20} {:>5} {:>5} {:>5} {:>10.2?} {:>7.0}%",
            p.name,
            p.executions,
            p.successes,
            p.failures,
            p.avg_duration,
            p.success_rate() * 100.0
        );
    }
    Ok(())
}
