//! The hooks the integration crate (and LLM tracking) build on: span kind
//! and name per primitive, run totals, run-level metrics, and what the
//! router, cache and timeout tell their observers. In-memory providers.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use primitives_core::testing::{attr, render_tree, TestTelemetry};
use primitives_core::{
    async_trait, lambda, lambda_with_context, Amount, Cache, CacheObserver, CacheOutcome, Error,
    EvictionCause, Primitive, PrimitiveExt, Retry, RouteReason, Router, Timeout, TimeoutOutcome,
    WorkflowContext,
};

fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "exactly one {name}: {}", render_tree(spans));
    found[0]
}

fn string(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

/// An LLM-like call: a CLIENT span named for its model, renamed to the
/// response model while it runs.
struct Chat;

#[async_trait]
impl Primitive<String> for Chat {
    type Output = String;
    async fn execute(&self, ctx: &WorkflowContext, q: String) -> Result<String, Error> {
        ctx.update_span_name("chat gpt-4o-mini-2024-07-18");
        Ok(q)
    }
    fn name(&self) -> &str {
        "chat"
    }
    fn span_name(&self) -> Cow<'_, str> {
        Cow::Borrowed("chat gpt-4o-mini")
    }
    fn span_kind(&self) -> SpanKind {
        SpanKind::Client
    }
}

#[tokio::test]
async fn a_primitive_chooses_its_span_kind_and_name() {
    let t = TestTelemetry::new();
    let wf = lambda("prep", |q: String| async move { Ok::<_, Error>(q) }) >> Chat;
    wf.run(&t.context(), "hi".into()).await.unwrap();
    let spans = t.spans();
    let chat = one(&spans, "chat gpt-4o-mini-2024-07-18");
    assert_eq!(chat.span_kind, SpanKind::Client);
    assert_eq!(string(chat, "primitive.name").as_deref(), Some("chat"));
    // The others keep the defaults.
    let prep = one(&spans, "primitive.prep");
    assert_eq!(prep.span_kind, SpanKind::Internal);
    // Boxed and wrapped, the choice is kept.
    t.reset_spans();
    let boxed: Arc<dyn Primitive<String, Output = String>> = Arc::new(Chat);
    boxed.run(&t.context(), "hi".into()).await.unwrap();
    let spans = t.spans();
    assert_eq!(spans[0].span_kind, SpanKind::Client);
}

fn tokens(ctx: &WorkflowContext, n: u64) {
    ctx.add_to_run("llm.tokens.input", n);
    ctx.add_to_run("llm.cost_usd", n as f64 * 0.001);
}

#[tokio::test]
async fn run_totals_add_up_across_parallel_branches_and_retry_attempts() {
    let t = TestTelemetry::new();
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    // Fails once: both attempts spend.
    let flaky = lambda_with_context("flaky", move |ctx: WorkflowContext, x: u64| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            tokens(&ctx, 10);
            if n == 0 {
                Err(Error::msg("transient"))
            } else {
                Ok(x)
            }
        }
    });
    let branch = |name: &'static str, n: u64| {
        lambda_with_context(name, move |ctx: WorkflowContext, x: u64| async move {
            tokens(&ctx, n);
            Ok::<_, Error>(x)
        })
    };
    let wf = (Retry::new(flaky).backoff(Duration::from_millis(1), Duration::from_millis(1))
        >> (branch("a", 1) | branch("b", 2) | branch("c", 3)))
    .named("totals");
    let ctx = t.context();
    wf.run(&ctx, 1).await.unwrap();
    let totals = ctx.run_totals();
    assert_eq!(totals.get("llm.tokens.input"), Some(Amount::Count(26)));
    let cost = totals.get("llm.cost_usd").unwrap().as_f64();
    assert!((cost - 0.026).abs() < 1e-12, "{cost}");
    // The root span carries them; no other span does.
    let spans = t.spans();
    let root = one(&spans, "primitive.totals");
    assert_eq!(attr(root, "llm.tokens.input"), Some(&Value::I64(26)));
    assert!(matches!(attr(root, "llm.cost_usd"), Some(Value::F64(c)) if (c - 0.026).abs() < 1e-12));
    assert!(spans
        .iter()
        .filter(|s| s.name != "primitive.totals")
        .all(|s| attr(s, "llm.tokens.input").is_none()));
    // A sub-workflow context shares its run's totals.
    ctx.child().add_to_run("llm.tokens.input", 4u64);
    assert_eq!(
        ctx.run_totals().get("llm.tokens.input"),
        Some(Amount::Count(30))
    );
    // Another run starts from nothing.
    assert!(WorkflowContext::new().run_totals().is_empty());
}

#[tokio::test]
async fn run_metrics_are_recorded_once_per_run_at_its_root() {
    let t = TestTelemetry::new();
    let ok = (lambda("one", |x: u32| async move { Ok::<_, Error>(x) })
        >> lambda("two", |x: u32| async move { Ok::<_, Error>(x) }))
    .named("checkout");
    for _ in 0..3 {
        ok.run(&t.context(), 1).await.unwrap();
    }
    let failing = lambda("checkout", |_: u32| async move {
        Err::<u32, _>(Error::msg("no"))
    });
    failing.run(&t.context(), 1).await.unwrap_err();
    let m = t.metrics();
    let runs = |status| {
        m.counter(
            "workflow_runs",
            &[("workflow", "checkout"), ("status", status)],
        )
    };
    assert_eq!((runs("ok"), runs("error")), (3, 1));
    assert_eq!(
        m.counter("workflow_runs", &[("workflow", "one")]),
        0,
        "steps are not runs"
    );
    assert_eq!(
        m.histogram_count("workflow_run_duration", &[("workflow", "checkout")]),
        4
    );
}

#[tokio::test]
async fn router_says_why_it_took_its_route() {
    let t = TestTelemetry::new();
    let choices = Arc::new(Mutex::new(Vec::new()));
    let seen = choices.clone();
    let echo = |name: &'static str| {
        lambda(name, move |q: String| async move {
            Ok::<_, Error>(format!("{name}:{q}"))
        })
    };
    let router = Router::try_new(|q: &String, _: &WorkflowContext| match q.as_str() {
        "boom" => Err(Error::with_error_type(
            "classifier",
            std::io::Error::other("down"),
        )),
        q => Ok(q.to_owned()),
    })
    .route("fast", echo("fast"))
    .route("quality", echo("quality"))
    .default_route("fast")
    .on_route(move |_, c| seen.lock().unwrap().push((c.route.into_owned(), c.reason)));
    for q in ["quality", "unknown", "boom"] {
        t.reset_spans();
        router.run(&t.context(), q.into()).await.unwrap();
        let spans = t.spans();
        let span = one(&spans, "primitive.router");
        let want = match q {
            "quality" => ("quality", "selected"),
            "unknown" => ("fast", "default"),
            _ => ("fast", "selector_error"),
        };
        assert_eq!(string(span, "router.route").as_deref(), Some(want.0), "{q}");
        assert_eq!(
            string(span, "router.reason").as_deref(),
            Some(want.1),
            "{q}"
        );
        if q == "boom" {
            let ev = &span.events.events[0];
            assert_eq!(ev.name, "router.selector_error");
            assert!(ev
                .attributes
                .iter()
                .any(|kv| kv.value.as_str() == "classifier"));
        }
    }
    assert_eq!(
        *choices.lock().unwrap(),
        vec![
            ("quality".to_owned(), RouteReason::Selected),
            ("fast".to_owned(), RouteReason::Default),
            ("fast".to_owned(), RouteReason::SelectorError),
        ]
    );

    // No default route: the selector's error fails the run, as it is.
    let strict = Router::try_new(|_: &String, _: &WorkflowContext| {
        Err(Error::with_error_type(
            "classifier",
            std::io::Error::other("down"),
        ))
    })
    .route("fast", echo("fast"));
    t.reset_spans();
    let err = strict.run(&t.context(), "x".into()).await.unwrap_err();
    assert_eq!(err.error_type(), "classifier");
    let spans = t.spans();
    let span = one(&spans, "primitive.router");
    assert_eq!(
        string(span, "router.reason").as_deref(),
        Some("selector_error")
    );
    assert_eq!(string(span, "router.route"), None);
}

#[derive(Default)]
struct Lookups(Mutex<Vec<CacheOutcome>>);

impl CacheObserver for Lookups {
    fn lookup(&self, _: &WorkflowContext, outcome: CacheOutcome, took: Duration) {
        assert!(took < Duration::from_secs(5));
        self.0.lock().unwrap().push(outcome);
    }
}

#[tokio::test]
async fn cache_counts_evictions_by_cause_and_keeps_what_a_value_cost() {
    let t = TestTelemetry::new();
    let lookups = Arc::new(Lookups::default());
    let llm = lambda_with_context("llm", |ctx: WorkflowContext, q: u32| async move {
        tokens(&ctx, 100);
        Ok::<_, Error>(q * 2)
    });
    let cache = Cache::builder(llm, |q: &u32| *q)
        .max_capacity(2)
        .lru()
        .ttl(Duration::from_millis(300))
        .observer(lookups.clone())
        .build();
    // Miss then hit: the hit avoided what the miss spent.
    let miss = t.context();
    assert_eq!(cache.run(&miss, 1).await.unwrap(), 2);
    assert_eq!(
        miss.run_totals().get("llm.tokens.input"),
        Some(Amount::Count(100))
    );
    let hit = t.context();
    assert_eq!(cache.run(&hit, 1).await.unwrap(), 2);
    let totals = hit.run_totals();
    assert_eq!(totals.get("llm.tokens.input"), None, "a hit spends nothing");
    assert_eq!(totals.avoided("llm.tokens.input"), Some(Amount::Count(100)));
    let spans = t.spans();
    let root = spans.last().unwrap();
    assert_eq!(
        attr(root, "cache.avoided.llm.tokens.input"),
        Some(&Value::I64(100))
    );
    assert_eq!(
        *lookups.0.lock().unwrap(),
        vec![CacheOutcome::Miss, CacheOutcome::Hit]
    );

    let c = cache.counters().clone();
    assert_eq!(c.entries(), 1);
    // Size: a third key in a cache of two (LRU evicts the oldest).
    for q in [2, 3] {
        cache.run(&t.context(), q).await.unwrap();
    }
    cache.run_pending_tasks().await;
    assert_eq!(c.evictions(EvictionCause::Size), 1);
    // Replaced and explicit.
    cache.insert(3, 60).await;
    cache.invalidate(&2).await;
    cache.run_pending_tasks().await;
    assert_eq!(c.evictions(EvictionCause::Replaced), 1);
    assert_eq!(c.evictions(EvictionCause::Explicit), 1);
    assert_eq!(
        cache.run(&t.context(), 3).await.unwrap(),
        60,
        "the inserted value"
    );
    assert_eq!(c.entries(), 1);
    // Expired: the TTL passes.
    tokio::time::sleep(Duration::from_millis(400)).await;
    cache.run_pending_tasks().await;
    assert_eq!(c.evictions(EvictionCause::Expired), 1);
    assert_eq!(c.entries(), 0);
    let total: u64 = EvictionCause::ALL.iter().map(|&k| c.evictions(k)).sum();
    assert_eq!(total, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coalesced_call_avoids_what_the_leader_spent() {
    let t = TestTelemetry::new();
    let gate = Arc::new(tokio::sync::Notify::new());
    let open = gate.clone();
    let llm = lambda_with_context("llm", move |ctx: WorkflowContext, q: u32| {
        let open = open.clone();
        async move {
            open.notified().await;
            tokens(&ctx, 7);
            Ok::<_, Error>(q)
        }
    });
    let cache = Arc::new(Cache::builder(llm, |q: &u32| *q).build());
    let (a, b) = (t.context(), t.context());
    let (ca, cb) = (cache.clone(), cache.clone());
    let (a2, b2) = (a.clone(), b.clone());
    let first = tokio::spawn(async move { ca.run(&a2, 1).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = tokio::spawn(async move { cb.run(&b2, 1).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    gate.notify_waiters();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    assert_eq!(
        a.run_totals().get("llm.tokens.input"),
        Some(Amount::Count(7))
    );
    assert_eq!(
        b.run_totals().avoided("llm.tokens.input"),
        Some(Amount::Count(7))
    );
    assert_eq!(b.run_totals().get("llm.tokens.input"), None);
}

#[tokio::test]
async fn timeout_tells_ok_error_and_timed_out_apart_and_drops_the_inner_future() {
    let t = TestTelemetry::new();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = outcomes.clone();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let inner = lambda("inner", move |ms: u64| {
        let flag = flag.clone();
        async move {
            let _armed = SetOnDrop(flag);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if ms == 1 {
                Err(Error::msg("inner failed"))
            } else {
                Ok(ms)
            }
        }
    });
    let timeout = Timeout::new(inner, Duration::from_millis(100))
        .on_outcome(move |_, o| seen.lock().unwrap().push(o));
    timeout.run(&t.context(), 2).await.unwrap();
    timeout.run(&t.context(), 1).await.unwrap_err();
    dropped.store(false, Ordering::SeqCst);
    let err = timeout.run(&t.context(), 5_000).await.unwrap_err();
    assert_eq!(err.error_type(), "timeout");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the inner future was dropped on expiry"
    );
    assert_eq!(
        *outcomes.lock().unwrap(),
        vec![
            TimeoutOutcome::Ok,
            TimeoutOutcome::Error,
            TimeoutOutcome::TimedOut
        ]
    );
    let spans = t.spans();
    let got: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "primitive.timeout")
        .map(|s| {
            (
                string(s, "timeout.outcome").unwrap(),
                attr(s, "timeout.budget_ms").cloned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        ["ok", "error", "timed_out"]
            .map(|o| (o.to_owned(), Some(Value::I64(100))))
            .to_vec()
    );
    let inner_cancelled = spans
        .iter()
        .filter(|s| s.name == "primitive.inner")
        .filter(|s| attr(s, "primitive.cancelled") == Some(&Value::Bool(true)))
        .count();
    assert_eq!(inner_cancelled, 1);
}

#[derive(Default)]
struct LookupTimes(Mutex<Vec<(CacheOutcome, Duration)>>);

impl CacheObserver for LookupTimes {
    fn lookup(&self, _: &WorkflowContext, outcome: CacheOutcome, took: Duration) {
        self.0.lock().unwrap().push((outcome, took));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_time_is_the_probe_not_the_step_or_the_wait() {
    let times = Arc::new(LookupTimes::default());
    let slow = lambda("slow", |q: u32| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<_, Error>(q)
    });
    let cache = Arc::new(
        Cache::builder(slow, |q: &u32| *q)
            .observer(times.clone())
            .build(),
    );
    let (a, b) = (cache.clone(), cache.clone());
    let leader = tokio::spawn(async move { a.run(&WorkflowContext::new(), 1).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiter = tokio::spawn(async move { b.run(&WorkflowContext::new(), 1).await });
    leader.await.unwrap().unwrap();
    waiter.await.unwrap().unwrap();
    let got = times.0.lock().unwrap().clone();
    let outcomes: Vec<_> = got.iter().map(|(o, _)| *o).collect();
    assert_eq!(outcomes, vec![CacheOutcome::Miss, CacheOutcome::Coalesced]);
    for (o, took) in got {
        assert!(took < Duration::from_millis(100), "{o:?} took {took:?}");
    }
}

#[tokio::test]
async fn a_step_that_rebuilds_its_context_still_adds_to_its_run() {
    let t = TestTelemetry::new();
    let step = lambda_with_context("annotate", |ctx: WorkflowContext, x: u32| async move {
        // A step passing on a changed copy of its context (same run).
        let changed = ctx.clone().with_baggage("tenant", "acme");
        changed.add_to_run("calls", 1u64);
        Ok::<_, Error>(x)
    });
    let ctx = t.context();
    step.run(&ctx, 1).await.unwrap();
    assert_eq!(ctx.run_totals().get("calls"), Some(Amount::Count(1)));
    // A new correlation id is a new run.
    let next = ctx.clone().with_correlation_id("req-2");
    assert!(next.run_totals().is_empty());
    assert_eq!(ctx.run_totals().get("calls"), Some(Amount::Count(1)));
}

#[tokio::test]
async fn extreme_cache_settings_neither_panic_nor_miscount() {
    let t = TestTelemetry::new();
    let id = || lambda("id", |q: u32| async move { Ok::<_, Error>(q) });
    // moka refuses a TTL over 1000 years; ours caps it.
    let forever = Cache::builder(id(), |q: &u32| *q)
        .ttl(Duration::MAX)
        .build();
    assert_eq!(forever.run(&t.context(), 3).await.unwrap(), 3);
    assert_eq!(forever.counters().entries(), 1);
    // Capacity 0 stores nothing, and counts nothing stored.
    let none = Cache::builder(id(), |q: &u32| *q).max_capacity(0).build();
    for q in 0..5 {
        none.run(&t.context(), q).await.unwrap();
    }
    none.insert(9, 9).await;
    none.run_pending_tasks().await;
    assert_eq!(none.counters().entries(), 0);
}
