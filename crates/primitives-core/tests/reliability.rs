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

/// A cache around a slow step that counts its runs; fails when told.
#[allow(clippy::type_complexity)]
fn slow_cached(
    runs: Arc<AtomicU32>,
) -> primitives_core::Cache<
    impl primitives_core::Primitive<(u32, bool), Output = u32>,
    u32,
    u32,
    impl Fn(&(u32, bool)) -> u32 + Send + Sync,
> {
    let inner = lambda("slow", move |(x, fail): (u32, bool)| {
        runs.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if fail {
                Err(Error::with_error_type("upstream", "upstream failed"))
            } else {
                Ok(x * 2)
            }
        }
    });
    primitives_core::Cache::builder(inner, |(x, _): &(u32, bool)| *x).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_key_run_the_step_once() {
    let t = TestTelemetry::new();
    let runs = Arc::new(AtomicU32::new(0));
    let cache = slow_cached(runs.clone());
    let ctx = t.context();
    let results =
        futures_util::future::join_all((0..20).map(|_| cache.run(&ctx, (7, false)))).await;
    assert!(results.iter().all(|r| *r.as_ref().unwrap() == 14));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one flight for 20 callers");
    let m = t.metrics();
    assert_eq!(m.counter("cache_miss", &[("primitive", "cache")]), 1);
    assert_eq!(m.counter("cache_hit", &[("primitive", "cache")]), 19);
    assert_eq!(m.counter("cache_coalesced", &[("primitive", "cache")]), 19);
    let spans = t.spans();
    let cache_spans: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "primitive.cache")
        .collect();
    assert_eq!(cache_spans.len(), 20);
    let coalesced = cache_spans
        .iter()
        .filter(|s| attr(s, "cache.coalesced").is_some_and(|v| v.as_str() == "true"))
        .count();
    assert_eq!(coalesced, 19);
    assert_eq!(
        spans.iter().filter(|s| s.name == "primitive.slow").count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_fails_every_waiter_gets_the_error_and_nothing_is_cached() {
    let t = TestTelemetry::new();
    let runs = Arc::new(AtomicU32::new(0));
    let cache = slow_cached(runs.clone());
    let ctx = t.context();
    let results = futures_util::future::join_all((0..5).map(|_| cache.run(&ctx, (3, true)))).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.error_type(), "upstream");
        assert!(e.to_string().contains("upstream failed"), "{e}");
    }
    cache.run_pending_tasks().await;
    assert_eq!(cache.entry_count(), 0, "errors are not cached");
    // The next call runs the step again.
    let _ = cache.run(&ctx, (3, true)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_is_cancelled_a_waiter_runs_the_step() {
    let t = TestTelemetry::new();
    let runs = Arc::new(AtomicU32::new(0));
    let cache = slow_cached(runs.clone());
    let ctx = t.context();
    let leader = async {
        // Cancelled while its step sleeps.
        let r = tokio::time::timeout(Duration::from_millis(30), cache.run(&ctx, (5, false))).await;
        assert!(r.is_err(), "the leader timed out");
    };
    let waiter = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        cache.run(&ctx, (5, false)).await
    };
    let ((), got) = tokio::join!(leader, waiter);
    assert_eq!(got.unwrap(), 10);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the waiter ran the step itself"
    );
}
