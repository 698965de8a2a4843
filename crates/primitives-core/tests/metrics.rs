//! Metrics counts equal executions exactly, with bounded labels. Uses an
//! in-memory reader per test (no globals).

use std::sync::Arc;
use std::time::Duration;

use primitives_core::testing::TestTelemetry;
use primitives_core::{
    lambda, Cache, CircuitBreaker, Error, Fallback, Lambda, MockPrimitive, PrimitiveExt, Retry,
    Timeout, WorkflowContext,
};

type Ready = std::future::Ready<Result<i64, Error>>;

fn add(name: &'static str, n: i64) -> Lambda<impl Fn(i64) -> Ready + Send + Sync> {
    lambda(name, move |x: i64| std::future::ready(Ok(x + n)))
}

fn fails_on_odd(name: &'static str) -> Lambda<impl Fn(i64) -> Ready + Send + Sync> {
    lambda(name, |x: i64| {
        std::future::ready(if x % 2 == 1 {
            Err(Error::with_error_type("odd_input", "odd input"))
        } else {
            Ok(x)
        })
    })
}

#[tokio::test]
async fn executions_errors_durations_and_active_balance() {
    let t = TestTelemetry::new();
    let wf = (add("a", 0) >> fails_on_odd("check"))
        .named("flow")
        .into_workflow();
    for i in 0..10 {
        let _ = wf.run(&t.context(), i).await;
    }
    let m = t.metrics();
    let c = |labels: &[(&str, &str)]| m.counter("primitive_executions", labels);
    assert_eq!(
        c(&[
            ("primitive", "flow"),
            ("type", "sequential"),
            ("status", "ok")
        ]),
        5
    );
    assert_eq!(c(&[("primitive", "flow"), ("status", "error")]), 5);
    assert_eq!(
        c(&[("primitive", "a"), ("type", "lambda"), ("status", "ok")]),
        10
    );
    assert_eq!(c(&[("primitive", "check"), ("status", "error")]), 5);
    assert_eq!(
        m.counter(
            "primitive_errors",
            &[("primitive", "check"), ("error_type", "odd_input")]
        ),
        5
    );
    assert_eq!(
        m.histogram_count(
            "primitive_duration",
            &[("primitive", "flow"), ("type", "sequential")]
        ),
        10
    );
    assert_eq!(
        m.histogram_count("primitive_duration", &[("primitive", "a")]),
        10
    );
    assert_eq!(m.up_down("primitive_active", &[("primitive", "flow")]), 0);
    assert_eq!(m.up_down("primitive_active", &[("primitive", "check")]), 0);
}

#[tokio::test]
async fn labels_are_bounded_no_correlation_ids_or_inputs() {
    let t = TestTelemetry::new();
    let wf = fails_on_odd("check");
    for i in 0..3 {
        let ctx = t
            .context()
            .with_correlation_id(format!("req-{i}"))
            .with_data("user_id", "u-1");
        let _ = wf.run(&ctx, i).await;
    }
    let m = t.metrics();
    for rm in m.0.scope_metrics() {
        for metric in rm.metrics() {
            let text = format!("{:?}", metric.data());
            assert!(
                !text.contains("req-"),
                "{} carries a correlation id",
                metric.name()
            );
            assert!(!text.contains("u-1"), "{} carries user data", metric.name());
            assert!(
                !text.contains("odd input"),
                "{} carries an error message",
                metric.name()
            );
        }
    }
}

#[tokio::test]
async fn composite_counters() {
    let t = TestTelemetry::new();
    let retry = Retry::new(
        MockPrimitive::<i64, i64>::returning(1)
            .then_fail("x")
            .then_fail("y"),
    )
    .max_attempts(3)
    .backoff(Duration::from_millis(1), Duration::from_millis(1));
    retry.run(&t.context(), 0).await.unwrap();
    let exhausted = Retry::new(MockPrimitive::<i64, i64>::failing("z"))
        .named("retry_exhausted")
        .max_attempts(2)
        .backoff(Duration::from_millis(1), Duration::from_millis(1));
    exhausted.run(&t.context(), 0).await.unwrap_err();

    let fb = Fallback::new(MockPrimitive::<i64, i64>::failing("down"), add("backup", 0));
    fb.run(&t.context(), 0).await.unwrap();
    fb.run(&t.context(), 0).await.unwrap();

    let to = Timeout::new(
        MockPrimitive::<i64, i64>::pending(),
        Duration::from_millis(5),
    );
    to.run(&t.context(), 0).await.unwrap_err();

    let cb = CircuitBreaker::new(MockPrimitive::<i64, i64>::failing("e"))
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(60));
    cb.run(&t.context(), 0).await.unwrap_err();
    cb.run(&t.context(), 0).await.unwrap_err();

    let cache = Cache::builder(add("expensive", 1), |x: &i64| *x).build();
    for x in [1, 1, 2, 1] {
        cache.run(&t.context(), x).await.unwrap();
    }

    let m = t.metrics();
    let r = |p: &str, o: &str| m.counter("retry_attempts", &[("primitive", p), ("outcome", o)]);
    assert_eq!(r("retry", "retry"), 2);
    assert_eq!(r("retry", "ok"), 1);
    assert_eq!(r("retry", "exhausted"), 0);
    assert_eq!(r("retry_exhausted", "retry"), 1);
    assert_eq!(r("retry_exhausted", "exhausted"), 1);
    assert_eq!(
        m.counter("primitive_executions", &[("primitive", "mock")]),
        3 + 2 + 2 + 1 + 1
    );
    assert_eq!(m.counter("fallback_used", &[("primitive", "fallback")]), 2);
    assert_eq!(m.counter("timeout_expired", &[("primitive", "timeout")]), 1);
    assert_eq!(
        m.counter(
            "primitive_executions",
            &[("primitive", "mock"), ("status", "cancelled")]
        ),
        1,
        "the timed-out step counts as cancelled"
    );
    assert_eq!(
        m.counter(
            "circuit_breaker_transitions",
            &[
                ("primitive", "circuit_breaker"),
                ("from", "closed"),
                ("to", "open")
            ]
        ),
        1
    );
    assert_eq!(
        m.counter(
            "primitive_errors",
            &[
                ("primitive", "circuit_breaker"),
                ("error_type", "circuit_open")
            ]
        ),
        1
    );
    assert_eq!(m.counter("cache_hit", &[("primitive", "cache")]), 2);
    assert_eq!(m.counter("cache_miss", &[("primitive", "cache")]), 2);
    assert_eq!(
        m.counter("primitive_executions", &[("primitive", "expensive")]),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_exact_under_1000_concurrent_workflows() {
    let t = Arc::new(TestTelemetry::new());
    let sum = lambda("sum", |v: Vec<i64>| {
        std::future::ready(Ok::<_, Error>(v.iter().sum::<i64>()))
    });
    let wf =
        (add("a", 1) >> (add("b", 1) | fails_on_odd("c")) >> sum >> (add("d", 0) | add("e", 0)))
            .named("root")
            .into_workflow();
    let mut handles = Vec::new();
    for i in 0..1000i64 {
        let wf = wf.clone();
        let ctx = t.context();
        handles.push(tokio::spawn(async move { wf.run(&ctx, i).await.is_ok() }));
    }
    let mut ok = 0;
    for h in handles {
        ok += u64::from(h.await.unwrap());
    }
    // a adds 1: even inputs become odd, so c fails for the 500 even inputs.
    assert_eq!(ok, 500);
    let m = t.metrics();
    let c = |labels: &[(&str, &str)]| m.counter("primitive_executions", labels);
    assert_eq!(c(&[("primitive", "root")]), 1000);
    assert_eq!(c(&[("primitive", "root"), ("status", "ok")]), 500);
    assert_eq!(c(&[("primitive", "a")]), 1000);
    assert_eq!(c(&[("primitive", "c"), ("status", "error")]), 500);
    assert_eq!(c(&[("primitive", "d")]), 500);
    // b may be cancelled when c fails first; every execution is counted once.
    assert_eq!(c(&[("primitive", "b")]), 1000);
    assert_eq!(
        m.histogram_count("primitive_duration", &[("primitive", "root")]),
        1000
    );
    assert_eq!(m.up_down("primitive_active", &[("primitive", "root")]), 0);
    assert_eq!(m.up_down("primitive_active", &[("primitive", "b")]), 0);
    let spans = t.spans();
    let roots = spans.iter().filter(|s| s.name == "primitive.root").count();
    assert_eq!(roots, 1000);
}

#[tokio::test]
async fn in_process_statistics() {
    let t = TestTelemetry::new();
    let wf = fails_on_odd("check");
    for i in 0..4 {
        let _ = wf.run(&t.context(), i).await;
    }
    let stats = t.primitive_metrics();
    let check = stats.iter().find(|p| p.name == "check").unwrap();
    assert_eq!(check.primitive_type, "lambda");
    assert_eq!(check.executions, 4);
    assert_eq!(check.successes, 2);
    assert_eq!(check.failures, 2);
    assert_eq!(check.errors["odd_input"], 2);
    assert!((check.success_rate() - 0.5).abs() < f64::EPSILON);
    assert!(check.min_duration <= check.avg_duration && check.avg_duration <= check.max_duration);
}

#[tokio::test]
async fn no_telemetry_records_nothing_and_still_runs() {
    // No injected telemetry and no global one (this test binary never sets it).
    let wf = add("a", 1) >> add("b", 1);
    assert_eq!(wf.run(&WorkflowContext::new(), 1).await.unwrap(), 3);
    assert!(primitives_core::telemetry::global().is_none());
    assert!(primitives_core::telemetry::primitive_metrics().is_empty());
}
