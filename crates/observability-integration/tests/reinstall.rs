//! Own process: after a shutdown, a second global install takes over our
//! `tracing` subscriber (tracing allows one per process): users' spans and
//! logs reach the new stack, nothing blames the application, and the
//! shut-down stack is let go (docs/reliability.md).

mod support;

use std::time::Duration;

use observability_integration::{
    EnvSource, ObservabilityBuilder, ObservabilityConfig, ObservabilityGuard,
};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::{Collect, Lines};

fn install(sink: &Collect, lines: &Lines, level: &str, json: bool) -> ObservabilityGuard {
    let writer = lines.clone();
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .enable_prometheus(false)
        .enable_viewer(false)
        .log_level(level)
        .structured_logging(json)
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .log_writer(move || writer.clone())
        .install()
}

fn user_work(tag: &str) {
    let span = tracing::info_span!("user.work", tag);
    let _e = span.enter();
    tracing::info!(tag, "user line");
    tracing::debug!(tag, "user debug line");
}

fn names(sink: &Collect) -> Vec<String> {
    sink.spans
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.name.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_install_takes_over_our_subscriber() {
    let step = lambda("step", |x: u32| async move { Ok::<_, Error>(x) }).into_workflow();

    let (first_sink, first_lines) = (Collect::default(), Lines::default());
    let first = install(&first_sink, &first_lines, "info", true);
    assert!(first.report().subscriber_installed);
    user_work("one");
    step.run(&WorkflowContext::new(), 1).await.unwrap();
    assert!(first.shutdown(Duration::from_secs(5)).completed);
    assert_eq!(names(&first_sink), vec!["user.work", "primitive.step"]);
    assert!(first_lines.text().contains("\"message\":\"user line\""));

    // Between installs: no stack, nothing exported anywhere.
    user_work("between");

    // The second install: another writer, level and format.
    let (second_sink, second_lines) = (Collect::default(), Lines::default());
    let second = install(&second_sink, &second_lines, "debug", false);
    let report = second.report();
    assert!(report.subscriber_installed, "{report}");
    assert!(report.all_live(), "{report}");
    assert!(
        !report.to_string().contains("application already installed"),
        "{report}"
    );
    user_work("two");
    step.run(&WorkflowContext::new(), 2).await.unwrap();
    assert!(second.force_flush(Duration::from_secs(5)));
    assert_eq!(
        names(&second_sink),
        vec!["user.work", "primitive.step"],
        "users' tracing spans reach the new stack"
    );
    assert_eq!(
        names(&first_sink).len(),
        2,
        "nothing more reached the old stack"
    );
    let text = second_lines.text();
    assert!(
        text.contains("user line") && text.contains("\"two\""),
        "{text}"
    );
    assert!(text.contains("user debug line"), "the new level: {text}");
    assert!(
        !text.contains("\"message\":"),
        "the new (human) format: {text}"
    );
    assert!(!text.contains("between"), "{text}");
    assert!(
        !first_lines.text().contains("two"),
        "the old writer got nothing"
    );

    // The usual pattern `guard = install(..)`: the new stack is installed
    // before the old guard drops. The old one's shutdown leaves the new
    // one's globals alone.
    let (third_sink, third_lines) = (Collect::default(), Lines::default());
    let third = install(&third_sink, &third_lines, "info", true);
    drop(second);
    user_work("three");
    step.run(&WorkflowContext::new(), 3).await.unwrap();
    assert!(third.force_flush(Duration::from_secs(5)));
    assert_eq!(
        names(&third_sink),
        vec!["user.work", "primitive.step"],
        "the old guard's shutdown did not clear the new stack's globals"
    );
    assert!(third_lines.text().contains("user line"));
    assert!(third.shutdown(Duration::from_secs(5)).completed);

    // With no stack installed, users' spans make no span contexts (no ids
    // that name no trace in logs or traceparent headers).
    tracing::info_span!("after.shutdown").in_scope(|| {
        use opentelemetry::trace::TraceContextExt as _;
        let cx = opentelemetry::Context::current();
        assert!(!cx.span().span_context().is_valid());
    });

    // A writer that selects by level still sees each line's level.
    use tracing_subscriber::fmt::writer::MakeWriterExt as _;
    let (fourth_sink, fourth_lines) = (Collect::default(), Lines::default());
    let writer = fourth_lines.clone();
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .enable_prometheus(false)
        .enable_viewer(false)
        .build()
        .unwrap();
    let fourth = ObservabilityBuilder::new(cfg)
        .with_span_exporter(fourth_sink.clone())
        .log_writer((move || writer.clone()).with_max_level(tracing::Level::WARN))
        .install();
    tracing::info!("an info line");
    tracing::warn!("a warn line");
    let text = fourth_lines.text();
    assert!(text.contains("a warn line"), "{text}");
    assert!(!text.contains("an info line"), "{text}");
    fourth.shutdown(Duration::from_secs(5));
}
