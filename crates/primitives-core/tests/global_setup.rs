//! Primitives built (and run) before telemetry is installed record once it
//! is; none stays stuck on a no-op or on an old provider. This file installs
//! global telemetry, so it is its own test binary (own process), and its
//! steps run in one test function, in order.

use primitives_core::testing::TestTelemetry;
use primitives_core::{lambda, telemetry, Error, PrimitiveExt, Retry, WorkflowContext};

#[tokio::test]
async fn built_before_setup_records_after_it_and_follows_reinstalls() {
    // Built before any telemetry exists.
    let wf = (lambda("first", |x: i64| async move { Ok::<_, Error>(x + 1) })
        >> Retry::new(lambda(
            "second",
            |x: i64| async move { Ok::<_, Error>(x * 2) },
        )))
    .named("early")
    .into_workflow();

    // Run before setup: nothing to record into, still works.
    assert!(telemetry::global().is_none());
    assert_eq!(wf.run(&WorkflowContext::new(), 1).await.unwrap(), 4);

    // Setup: from now on it records.
    let t1 = TestTelemetry::new();
    telemetry::set_global(t1.telemetry());
    wf.run(&WorkflowContext::new(), 1).await.unwrap();
    let spans = t1.spans();
    assert_eq!(spans.len(), 4, "early, first, retry, second");
    assert_eq!(
        t1.metrics().counter(
            "primitive_executions",
            &[("primitive", "early"), ("status", "ok")]
        ),
        1
    );
    assert_eq!(
        telemetry::primitive_metrics()
            .iter()
            .find(|p| p.name == "early")
            .unwrap()
            .executions,
        1
    );

    // A second install (new providers): the same steps, already bound to the
    // first telemetry, record into the new one, not the old.
    let t2 = TestTelemetry::new();
    telemetry::set_global(t2.telemetry());
    wf.run(&WorkflowContext::new(), 1).await.unwrap();
    wf.run(&WorkflowContext::new(), 1).await.unwrap();
    assert_eq!(t2.spans().len(), 8);
    assert_eq!(
        t2.metrics()
            .counter("primitive_executions", &[("primitive", "second")]),
        2
    );
    assert_eq!(
        t2.metrics()
            .histogram_count("primitive_duration", &[("primitive", "early")]),
        2
    );
    assert_eq!(
        t1.spans().len(),
        4,
        "nothing more went to the old providers"
    );
    assert_eq!(
        t1.metrics()
            .counter("primitive_executions", &[("primitive", "early")]),
        1
    );

    // Spawned on other threads: each worker thread sees the current global.
    let mut handles = Vec::new();
    for _ in 0..8 {
        let wf = wf.clone();
        handles.push(tokio::spawn(async move {
            wf.run(&WorkflowContext::new(), 1).await.unwrap()
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(
        t2.metrics()
            .counter("primitive_executions", &[("primitive", "early")]),
        10
    );

    // Cleared: records nothing again.
    telemetry::clear_global();
    wf.run(&WorkflowContext::new(), 1).await.unwrap();
    assert_eq!(
        t2.metrics()
            .counter("primitive_executions", &[("primitive", "early")]),
        10
    );

    // A context with injected telemetry wins over the (absent) global.
    let t3 = TestTelemetry::new();
    wf.run(&t3.context(), 1).await.unwrap();
    assert_eq!(t3.spans().len(), 4);
}
