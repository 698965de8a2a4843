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
    second.shutdown(Duration::from_secs(5));
}
