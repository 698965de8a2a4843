//! Defects found by trying the primitives as an adversarial user would;
//! each test failed before its fix (docs/reliability.md lists them).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use opentelemetry::trace::Status;
use primitives_core::semconv::{STATS_CAPACITY, STATS_OVERFLOW};
use primitives_core::testing::{attr, TestTelemetry};
use primitives_core::{
    lambda, CircuitBreaker, CircuitState, Error, Panicked, PrimitiveExt, Retry, Timeout,
};

#[tokio::test]
async fn a_panicking_step_is_an_error_on_its_span_and_the_panic_goes_on() {
    let t = TestTelemetry::new();
    let boom = lambda("boom", |_: u32| async move {
        if true {
            panic!("kaboom 42");
        }
        Ok::<u32, Error>(0)
    });
    let wf = (lambda("first", |x: u32| async move { Ok::<_, Error>(x) }) >> boom).named("flow");
    let ctx = t.context();
    let caught = AssertUnwindSafe(wf.run(&ctx, 1)).catch_unwind().await;
    let payload = caught.expect_err("the panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"kaboom 42"));

    let spans = t.spans();
    for name in ["primitive.boom", "primitive.flow"] {
        let span = spans.iter().find(|s| s.name == name).unwrap();
        assert!(
            matches!(&span.status, Status::Error { description } if description.contains("kaboom 42")),
            "{name}: {:?}",
            span.status
        );
        assert_eq!(attr(span, "error.type").unwrap().as_str(), "panic");
        assert!(attr(span, "primitive.cancelled").is_none(), "not a cancel");
        let exception = span
            .events
            .iter()
            .find(|e| e.name == "exception")
            .expect("the panic is the span's exception");
        assert!(exception
            .attributes
            .iter()
            .any(|kv| kv.value.as_str().contains("kaboom 42")));
    }
    let boom = t
        .primitive_metrics()
        .into_iter()
        .find(|m| m.name == "boom")
        .unwrap();
    assert_eq!((boom.failures, boom.cancelled), (1, 0));
    assert_eq!(boom.errors.get("panic"), Some(&1));
    let m = t.metrics();
    assert_eq!(
        m.counter(
            "primitive_errors",
            &[("primitive", "boom"), ("error_type", "panic")]
        ),
        1
    );
    // The error value the span records is a `Panicked`.
    let err = Error::with_error_type(
        "panic",
        Panicked {
            primitive: "boom".into(),
            message: "kaboom 42".into(),
        },
    );
    assert!(err.to_string().contains("`boom` panicked: kaboom 42"));
}

#[tokio::test]
async fn a_retry_cancelled_during_its_backoff_counts_no_retry() {
    let t = TestTelemetry::new();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let failing = lambda("flaky", move |_: u32| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Err::<u32, Error>(Error::msg("down")) }
    });
    let retry = Retry::new(failing)
        .max_attempts(5)
        .backoff(Duration::from_secs(10), Duration::from_secs(10))
        .jitter(false)
        .named("r");
    let wf = Timeout::new(retry, Duration::from_millis(50));
    let err = wf.run(&t.context(), 1).await.unwrap_err();
    assert_eq!(err.error_type(), "timeout");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one attempt ran");
    let m = t.metrics();
    assert_eq!(
        m.counter(
            "retry_attempts",
            &[("primitive", "r"), ("outcome", "retry")]
        ),
        0,
        "the second attempt never ran"
    );

    // A retry that does run is counted once it starts.
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let second_ok = lambda("second_ok", move |x: u32| {
        let k = n2.fetch_add(1, Ordering::SeqCst);
        async move {
            if k == 0 {
                Err(Error::msg("first fails"))
            } else {
                Ok(x)
            }
        }
    });
    let retry = Retry::new(second_ok)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .named("r2");
    retry.run(&t.context(), 1).await.unwrap();
    let m = t.metrics();
    assert_eq!(
        m.counter(
            "retry_attempts",
            &[("primitive", "r2"), ("outcome", "retry")]
        ),
        1
    );
    assert_eq!(
        m.counter("retry_attempts", &[("primitive", "r2"), ("outcome", "ok")]),
        1
    );
}

#[tokio::test]
async fn a_stale_success_does_not_close_an_open_circuit() {
    let t = TestTelemetry::new();
    let inner = lambda("svc", |slow: bool| async move {
        if slow {
            tokio::time::sleep(Duration::from_millis(150)).await;
            Ok::<_, Error>(())
        } else {
            Err(Error::msg("down"))
        }
    });
    let cb = CircuitBreaker::new(inner)
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(60));
    let ctx = t.context();
    let (slow, fast) = tokio::join!(cb.run(&ctx, true), async {
        // Admitted while Closed, after the slow call was.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = cb.run(&ctx, false).await;
        assert_eq!(cb.state(), CircuitState::Open, "one failure opens it");
        r
    });
    assert!(slow.is_ok(), "the slow call itself succeeded");
    assert!(fast.is_err());
    assert_eq!(
        cb.state(),
        CircuitState::Open,
        "a success admitted under the closed state must not close the open circuit"
    );
    let rejected = cb.run(&ctx, true).await.unwrap_err();
    assert_eq!(rejected.error_type(), "circuit_open");
}

#[tokio::test]
async fn the_statistics_registry_keeps_at_most_4096_entries_plus_one_overflow() {
    let t = TestTelemetry::new();
    let ctx = t.context();
    let extra = 50;
    for i in 0..STATS_CAPACITY + extra {
        let step = lambda(
            format!("dyn-{i}"),
            |x: u32| async move { Ok::<_, Error>(x) },
        );
        step.run(&ctx, 1).await.unwrap();
    }
    let stats = t.primitive_metrics();
    assert_eq!(stats.len(), STATS_CAPACITY + 1);
    let overflow = stats.iter().find(|m| m.name == STATS_OVERFLOW).unwrap();
    assert_eq!(overflow.primitive_type, STATS_OVERFLOW);
    assert_eq!(overflow.executions, extra as u64);
    // Every execution is still counted somewhere.
    let total: u64 = stats.iter().map(|m| m.executions).sum();
    assert_eq!(total, (STATS_CAPACITY + extra) as u64);
}
