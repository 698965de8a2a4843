//! Behaviour of every primitive: success, error and edge cases.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use primitives_core::{
    lambda, Cache, CircuitBreaker, CircuitOpen, CircuitState, Conditional, Elapsed, EmptyParallel,
    EmptySequential, Error, Fallback, Lambda, MockError, MockPrimitive, NoCase, NoRoute, Parallel,
    PrimitiveExt, Retry, Router, Saga, SagaFailed, Sequential, Switch, Timeout, Workflow,
    WorkflowContext,
};

fn ctx() -> WorkflowContext {
    WorkflowContext::new()
}

type Ready = std::future::Ready<Result<i64, Error>>;

fn add(n: i64) -> Lambda<impl Fn(i64) -> Ready + Send + Sync> {
    lambda(format!("add{n}"), move |x: i64| {
        std::future::ready(Ok(x + n))
    })
}

#[tokio::test]
async fn sequential_runs_in_order_and_stops_at_first_error() {
    let wf = add(1) >> add(10) >> add(100);
    assert_eq!(wf.run(&ctx(), 0).await.unwrap(), 111);

    let after = MockPrimitive::<i64, i64>::returning(0);
    let after = Arc::new(after);
    let wf = add(1) >> MockPrimitive::<i64, i64>::failing("boom") >> after.clone();
    let err = wf.run(&ctx(), 0).await.unwrap_err();
    assert_eq!(err.error_type(), "MockError");
    assert_eq!(after.calls(), 0, "steps after a failure do not run");
}

#[tokio::test]
async fn empty_sequential_is_an_error() {
    let wf = Sequential::<primitives_core::compose::Steps<i64>>::from_steps(Vec::new());
    let err = wf.run(&ctx(), 1).await.unwrap_err();
    assert_eq!(err.error_type(), "empty_sequential");
    assert!(err.is::<EmptySequential>());
    assert!(err.to_string().contains("add at least one step"), "{err}");
}

#[tokio::test]
async fn sequential_from_steps_runs_all() {
    let wf = Sequential::from_steps(vec![add(1).into_workflow(), add(2).into_workflow()]);
    assert_eq!(wf.run(&ctx(), 0).await.unwrap(), 3);
}

#[tokio::test]
async fn parallel_gives_results_in_branch_order() {
    let slow = lambda("slow", |x: i64| async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok::<_, Error>(x * 10)
    });
    let wf = slow | add(1) | add(2);
    assert_eq!(wf.run(&ctx(), 5).await.unwrap(), vec![50, 6, 7]);
}

#[tokio::test]
async fn parallel_cancels_other_branches_on_first_failure() {
    let finished = Arc::new(AtomicU32::new(0));
    let f = finished.clone();
    let slow = lambda("slow", move |x: i64| {
        let f = f.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            f.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(x)
        }
    });
    let failing =
        MockPrimitive::<i64, i64>::failing("branch failed").with_delay(Duration::from_millis(10));
    let wf = slow | failing;
    let started = std::time::Instant::now();
    let err = wf.run(&ctx(), 1).await.unwrap_err();
    assert!(err.is::<MockError>());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the slow branch was not awaited"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "the slow branch was cancelled"
    );
}

#[tokio::test]
async fn empty_parallel_is_an_error() {
    let wf = Parallel::<primitives_core::compose::BranchList<i64, i64>>::from_workflows(Vec::new());
    let err = wf.run(&ctx(), 1).await.unwrap_err();
    assert!(err.is::<EmptyParallel>());
}

#[tokio::test]
async fn conditional_picks_a_branch() {
    let wf = Conditional::new(|x: &i64| *x > 0, add(1), add(-1));
    assert_eq!(wf.run(&ctx(), 5).await.unwrap(), 6);
    assert_eq!(wf.run(&ctx(), -5).await.unwrap(), -6);
}

#[tokio::test]
async fn switch_first_match_default_and_no_case() {
    let sw = Switch::new().case("small", |x: &i64| *x < 10, add(1)).case(
        "medium",
        |x: &i64| *x < 100,
        add(2),
    );
    assert_eq!(sw.run(&ctx(), 5).await.unwrap(), 6);
    assert_eq!(sw.run(&ctx(), 50).await.unwrap(), 52);
    let err = sw.run(&ctx(), 500).await.unwrap_err();
    assert!(err.is::<NoCase>());
    let sw = sw.default_case(add(3));
    assert_eq!(sw.run(&ctx(), 500).await.unwrap(), 503);
}

#[tokio::test]
async fn router_routes_defaults_and_names_missing_routes() {
    let router = Router::new(
        |x: &i64, _: &WorkflowContext| if *x > 0 { "pos".into() } else { "neg".into() },
    )
    .route("pos", add(1));
    assert_eq!(router.run(&ctx(), 1).await.unwrap(), 2);
    let err = router.run(&ctx(), -1).await.unwrap_err();
    assert_eq!(err.error_type(), "no_route");
    let no_route = err.downcast_ref::<NoRoute>().unwrap();
    assert_eq!(no_route.key, "neg");
    assert_eq!(no_route.known, vec!["pos".to_string()]);
    assert!(err.to_string().contains("no route `neg`"), "{err}");
    let router = router.default_route("pos");
    assert_eq!(router.run(&ctx(), -1).await.unwrap(), 0);
}

#[tokio::test]
async fn retry_succeeds_after_failures() {
    let mock = Arc::new(
        MockPrimitive::<i64, i64>::returning(7)
            .then_fail("first")
            .then_fail("second"),
    );
    let retry = Retry::new(mock.clone())
        .max_attempts(3)
        .backoff(Duration::from_millis(1), Duration::from_millis(5));
    assert_eq!(retry.run(&ctx(), 0).await.unwrap(), 7);
    assert_eq!(mock.calls(), 3);
}

#[tokio::test]
async fn retry_exhaustion_returns_the_last_error() {
    let mock = Arc::new(
        MockPrimitive::<i64, i64>::failing("third")
            .then_fail("first")
            .then_fail("second"),
    );
    let retry = Retry::new(mock.clone())
        .max_attempts(3)
        .backoff(Duration::from_millis(1), Duration::from_millis(2));
    let err = retry.run(&ctx(), 0).await.unwrap_err();
    assert_eq!(err.to_string(), "third");
    assert_eq!(mock.calls(), 3);
}

#[tokio::test]
async fn retry_predicate_stops_on_non_retryable_errors() {
    let mock = Arc::new(MockPrimitive::<i64, i64>::failing("fatal"));
    let retry = Retry::new(mock.clone())
        .max_attempts(5)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .retry_if(|e| !e.to_string().contains("fatal"));
    retry.run(&ctx(), 0).await.unwrap_err();
    assert_eq!(mock.calls(), 1);
}

#[test]
fn retry_backoff_grows_exponentially_with_bounded_jitter() {
    let r = Retry::new(add(0)).backoff(Duration::from_millis(100), Duration::from_secs(1));
    let no_jitter = Retry::new(add(0))
        .backoff(Duration::from_millis(100), Duration::from_secs(1))
        .jitter(false);
    assert_eq!(no_jitter.delay_after(1), Duration::from_millis(100));
    assert_eq!(no_jitter.delay_after(2), Duration::from_millis(200));
    assert_eq!(no_jitter.delay_after(3), Duration::from_millis(400));
    assert_eq!(no_jitter.delay_after(10), Duration::from_secs(1), "capped");
    assert_eq!(
        no_jitter.delay_after(u32::MAX),
        Duration::from_secs(1),
        "no overflow"
    );
    for _ in 0..100 {
        let d = r.delay_after(2);
        assert!(
            d >= Duration::from_millis(100) && d <= Duration::from_millis(200),
            "{d:?}"
        );
    }
}

#[tokio::test]
async fn fallback_runs_when_primary_fails() {
    let fb = Fallback::new(MockPrimitive::<i64, i64>::failing("primary down"), add(1));
    assert_eq!(fb.run(&ctx(), 1).await.unwrap(), 2);
    let fb = Fallback::new(add(5), MockPrimitive::<i64, i64>::failing("unused"));
    assert_eq!(fb.run(&ctx(), 1).await.unwrap(), 6);
}

#[tokio::test]
async fn fallback_both_fail_returns_the_primary_error() {
    let fb = Fallback::new(
        MockPrimitive::<i64, i64>::failing("primary error"),
        MockPrimitive::<i64, i64>::failing("fallback error"),
    );
    let err = fb.run(&ctx(), 1).await.unwrap_err();
    assert_eq!(err.to_string(), "primary error");
}

#[tokio::test]
async fn timeout_on_a_never_ending_step() {
    let t = Timeout::new(
        MockPrimitive::<i64, i64>::pending(),
        Duration::from_millis(20),
    );
    let err = t.run(&ctx(), 1).await.unwrap_err();
    assert_eq!(err.error_type(), "timeout");
    let elapsed = err.downcast_ref::<Elapsed>().unwrap();
    assert_eq!(elapsed.budget, Duration::from_millis(20));
    let fast = Timeout::new(add(1), Duration::from_secs(1));
    assert_eq!(fast.run(&ctx(), 1).await.unwrap(), 2);
}

#[tokio::test]
async fn circuit_breaker_transitions_closed_open_half_open_closed() {
    let mock = Arc::new(
        MockPrimitive::<i64, i64>::returning(1)
            .then_fail("a")
            .then_fail("b")
            .then_fail("c"),
    );
    let cb = CircuitBreaker::new(mock.clone())
        .failure_threshold(2)
        .reset_timeout(Duration::from_millis(50));
    assert_eq!(cb.state(), CircuitState::Closed);
    cb.run(&ctx(), 0).await.unwrap_err();
    assert_eq!(cb.state(), CircuitState::Closed);
    cb.run(&ctx(), 0).await.unwrap_err();
    assert_eq!(cb.state(), CircuitState::Open);
    // Open: fails fast without calling the inner step.
    let err = cb.run(&ctx(), 0).await.unwrap_err();
    assert_eq!(err.error_type(), "circuit_open");
    assert!(err.is::<CircuitOpen>());
    assert_eq!(mock.calls(), 2);
    // After the reset timeout, one trial: it fails ("c") and re-opens.
    tokio::time::sleep(Duration::from_millis(60)).await;
    cb.run(&ctx(), 0).await.unwrap_err();
    assert_eq!(cb.state(), CircuitState::Open);
    assert_eq!(mock.calls(), 3);
    // Next trial succeeds and closes.
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(cb.run(&ctx(), 0).await.unwrap(), 1);
    assert_eq!(cb.state(), CircuitState::Closed);
}

#[tokio::test]
async fn circuit_breaker_half_open_admits_one_trial_at_a_time() {
    let inner = MockPrimitive::<i64, i64>::returning(1)
        .then_fail("x")
        .with_delay(Duration::from_millis(40));
    let cb = CircuitBreaker::new(inner)
        .failure_threshold(1)
        .reset_timeout(Duration::from_millis(10));
    cb.run(&ctx(), 0).await.unwrap_err();
    assert_eq!(cb.state(), CircuitState::Open);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let c1 = ctx();
    let c2 = ctx();
    let (a, b) = tokio::join!(cb.run(&c1, 0), cb.run(&c2, 0));
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one trial went through: {a:?} {b:?}"
    );
    assert_eq!(cb.state(), CircuitState::Closed);
}

#[tokio::test]
async fn cache_hits_expire_after_ttl() {
    let inner = Arc::new(MockPrimitive::<String, i64>::returning(42));
    let cache = Cache::builder(inner.clone(), |k: &String| k.clone())
        .ttl(Duration::from_millis(100))
        .build();
    assert_eq!(cache.run(&ctx(), "a".into()).await.unwrap(), 42);
    assert_eq!(cache.run(&ctx(), "a".into()).await.unwrap(), 42);
    assert_eq!(inner.calls(), 1, "second call was a hit");
    tokio::time::sleep(Duration::from_millis(150)).await;
    cache.run(&ctx(), "a".into()).await.unwrap();
    assert_eq!(inner.calls(), 2, "entry expired after its TTL");
}

#[tokio::test]
async fn cache_does_not_store_errors() {
    let inner = Arc::new(MockPrimitive::<String, i64>::returning(1).then_fail("once"));
    let cache = Cache::builder(inner.clone(), |k: &String| k.clone()).build();
    cache.run(&ctx(), "k".into()).await.unwrap_err();
    assert_eq!(cache.run(&ctx(), "k".into()).await.unwrap(), 1);
    assert_eq!(inner.calls(), 2);
}

#[tokio::test]
async fn cache_respects_capacity() {
    for lru in [false, true] {
        let inner = lambda("id", |x: u64| async move { Ok::<_, Error>(x) });
        let mut b = Cache::builder(inner, |k: &u64| *k).max_capacity(10);
        if lru {
            b = b.lru();
        }
        let cache = b.build();
        for i in 0..100u64 {
            cache.run(&ctx(), i).await.unwrap();
        }
        cache.run_pending_tasks().await;
        assert!(
            cache.entry_count() <= 10,
            "lru={lru}: {}",
            cache.entry_count()
        );
    }
}

#[tokio::test]
async fn saga_compensates_on_failure() {
    let comp = Arc::new(MockPrimitive::<i64, ()>::returning(()));
    let saga = Saga::new(
        MockPrimitive::<i64, i64>::failing("charge failed"),
        comp.clone(),
    );
    let err = saga.run(&ctx(), 9).await.unwrap_err();
    let failed = err.downcast_ref::<SagaFailed>().unwrap();
    assert!(failed.compensated);
    assert_eq!(
        err.error_type(),
        "MockError",
        "the action's error kind is kept"
    );
    assert_eq!(comp.inputs(), vec![9]);

    let comp = Arc::new(MockPrimitive::<i64, ()>::returning(()));
    let saga = Saga::new(add(1), comp.clone());
    assert_eq!(saga.run(&ctx(), 1).await.unwrap(), 2);
    assert_eq!(comp.calls(), 0);
}

#[tokio::test]
async fn mock_records_inputs_and_replays_script() {
    let m = MockPrimitive::<i64, i64>::returning(0)
        .then_return(1)
        .then_fail("x");
    assert_eq!(m.run(&ctx(), 10).await.unwrap(), 1);
    assert!(m.run(&ctx(), 11).await.is_err());
    assert_eq!(m.run(&ctx(), 12).await.unwrap(), 0);
    assert_eq!(m.inputs(), vec![10, 11, 12]);
    assert_eq!(m.calls(), 3);
}

#[tokio::test]
async fn a_then_b_then_c_or_d_compiles_and_runs() {
    let wf = add(1) >> add(2) >> (add(10) | add(20));
    assert_eq!(wf.run(&ctx(), 0).await.unwrap(), vec![13, 23]);
    // Same through methods, and erased into a Workflow.
    let wf: Workflow<i64, Vec<i64>> = add(1)
        .then(add(2))
        .then(add(10).parallel(add(20)))
        .into_workflow();
    assert_eq!(wf.run(&ctx(), 0).await.unwrap(), vec![13, 23]);
}

#[tokio::test]
async fn user_errors_convert_with_question_mark() {
    #[derive(Debug, thiserror::Error)]
    #[error("quota exceeded")]
    struct QuotaExceeded;
    let step = lambda("call", |x: i64| async move {
        if x > 1 {
            Err(QuotaExceeded)?;
        }
        Ok::<_, Error>(x)
    });
    let err = step.run(&ctx(), 2).await.unwrap_err();
    assert_eq!(err.error_type(), "QuotaExceeded");
    assert_eq!(err.to_string(), "quota exceeded");
}

#[test]
fn types_are_send_sync_and_object_safe() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn _object_safe(_: Box<dyn primitives_core::Primitive<i64, Output = i64>>) {}
    assert_send_sync::<WorkflowContext>();
    assert_send_sync::<Workflow<i64, i64>>();
    assert_send_sync::<Error>();
}
