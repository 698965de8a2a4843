//! Span shape: one span per execution, one trace per run, a tree that
//! mirrors the composition. Uses in-memory providers (no globals).

use std::collections::HashSet;
use std::time::Duration;

use opentelemetry::trace::{SpanId, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{Sampler, SpanData};
use primitives_core::testing::{attr, render_tree, TestTelemetry};
use primitives_core::{
    lambda, lambda_with_context, Cache, CircuitBreaker, Error, Fallback, Lambda, MockPrimitive,
    PrimitiveExt, Retry, Router, Timeout, WorkflowContext,
};

type Ready = std::future::Ready<Result<i64, Error>>;

fn add(name: &'static str, n: i64) -> Lambda<impl Fn(i64) -> Ready + Send + Sync> {
    lambda(name, move |x: i64| std::future::ready(Ok(x + n)))
}

fn by_name<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found = by_name(spans, name);
    assert_eq!(found.len(), 1, "exactly one {name}: {}", render_tree(spans));
    found[0]
}

fn int(span: &SpanData, key: &str) -> i64 {
    match attr(span, key) {
        Some(Value::I64(v)) => *v,
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

fn string(span: &SpanData, key: &str) -> String {
    attr(span, key)
        .unwrap_or_else(|| panic!("{key} missing on {}", span.name))
        .as_str()
        .into_owned()
}

#[tokio::test]
async fn composition_is_one_trace_whose_tree_mirrors_it() {
    let t = TestTelemetry::new();
    let flaky = MockPrimitive::<i64, i64>::returning(5)
        .then_fail("transient")
        .named("flaky");
    let workflow = (add("a", 1)
        >> Retry::new(flaky).backoff(Duration::from_millis(1), Duration::from_millis(1))
        >> Fallback::new(
            MockPrimitive::<i64, i64>::failing("down").named("primary"),
            add("backup", 1),
        )
        >> (add("c", 10) | add("d", 20)))
    .named("pipeline");
    let ctx = t
        .context()
        .with_correlation_id("req-1")
        .with_workflow_id("wf-1")
        .with_session_id("sess-1");
    let out = workflow.run(&ctx, 0).await.unwrap();
    assert_eq!(out, vec![16, 26]);

    let spans = t.spans();
    let tree = render_tree(&spans);
    // 1 pipeline + a + retry + 2 attempts + fallback + primary + backup + parallel + c + d
    assert_eq!(spans.len(), 11, "{tree}");
    let traces: HashSet<_> = spans.iter().map(|s| s.span_context.trace_id()).collect();
    assert_eq!(traces.len(), 1, "one run, one trace:\n{tree}");

    let root = one(&spans, "primitive.pipeline");
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    assert_eq!(string(root, "workflow.correlation_id"), "req-1");
    assert_eq!(string(root, "workflow.id"), "wf-1");
    assert_eq!(string(root, "session.id"), "sess-1");
    assert_eq!(string(root, "primitive.type"), "sequential");
    for s in spans.iter().filter(|s| s.name != "primitive.pipeline") {
        assert!(attr(s, "session.id").is_none(), "run ids on the root only");
    }
    assert_eq!(
        root.status,
        Status::Unset,
        "success leaves the status unset (OTel spec for instrumentation)"
    );
    for s in spans.iter().filter(|s| s.name != "primitive.pipeline") {
        assert!(
            attr(s, "workflow.correlation_id").is_none(),
            "only the root carries it"
        );
    }

    let root_id = root.span_context.span_id();
    let a = one(&spans, "primitive.a");
    let retry = one(&spans, "primitive.retry");
    let fallback = one(&spans, "primitive.fallback");
    let parallel = one(&spans, "primitive.parallel");
    for (i, s) in [a, retry, fallback, parallel].iter().enumerate() {
        assert_eq!(s.parent_span_id, root_id, "{} under the root", s.name);
        assert_eq!(int(s, "step.index"), i as i64);
    }

    let mut attempts = by_name(&spans, "primitive.flaky");
    attempts.sort_by_key(|s| int(s, "retry.attempt"));
    assert_eq!(attempts.len(), 2, "one span per attempt");
    for (i, s) in attempts.iter().enumerate() {
        assert_eq!(s.parent_span_id, retry.span_context.span_id());
        assert_eq!(int(s, "retry.attempt"), i as i64 + 1);
    }
    assert!(matches!(attempts[0].status, Status::Error { .. }));
    assert!(attempts[0].events.iter().any(|e| e.name == "exception"));
    assert_eq!(string(attempts[0], "error.type"), "MockError");
    assert_eq!(attempts[1].status, Status::Unset);

    let primary = one(&spans, "primitive.primary");
    let backup = one(&spans, "primitive.backup");
    assert_eq!(string(primary, "fallback.role"), "primary");
    assert_eq!(string(backup, "fallback.role"), "fallback");
    assert_eq!(primary.parent_span_id, fallback.span_context.span_id());
    assert_eq!(backup.parent_span_id, fallback.span_context.span_id());
    assert_eq!(fallback.status, Status::Unset);

    let c = one(&spans, "primitive.c");
    let d = one(&spans, "primitive.d");
    assert_eq!(int(c, "branch.index"), 0);
    assert_eq!(int(d, "branch.index"), 1);
    assert_eq!(c.parent_span_id, parallel.span_context.span_id());
    assert_eq!(d.parent_span_id, parallel.span_context.span_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_parallel_branches_stay_in_one_trace() {
    let t = TestTelemetry::new();
    let sleepy = |name: &'static str, ms: u64| {
        lambda_with_context(name, move |ctx: WorkflowContext, x: i64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            assert!(ctx.otel_context().has_active_span());
            Ok::<_, Error>(x)
        })
    };
    let wf = (sleepy("s1", 30) | sleepy("s2", 10) | sleepy("s3", 20)).named("fanout");
    let runs = 5;
    let mut handles = Vec::new();
    let wf = std::sync::Arc::new(wf.into_workflow());
    for _ in 0..runs {
        let wf = wf.clone();
        let ctx = t.context();
        handles.push(tokio::spawn(async move { wf.run(&ctx, 1).await.unwrap() }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), vec![1, 1, 1]);
    }
    let spans = t.spans();
    assert_eq!(spans.len(), runs * 4);
    let roots = by_name(&spans, "primitive.fanout");
    let traces: HashSet<_> = roots.iter().map(|s| s.span_context.trace_id()).collect();
    assert_eq!(traces.len(), runs, "one trace per run");
    for root in roots {
        let children: Vec<_> = spans
            .iter()
            .filter(|s| s.parent_span_id == root.span_context.span_id())
            .collect();
        assert_eq!(children.len(), 3);
        assert!(children
            .iter()
            .all(|c| c.span_context.trace_id() == root.span_context.trace_id()));
    }
}

#[tokio::test]
async fn user_spans_inside_a_step_are_children_of_the_step() {
    let t = TestTelemetry::new();
    let tracer = t.tracer_provider().tracer("user-code");
    let step = lambda("outer", move |x: i64| {
        // Context::current() is the step's span while the step runs.
        let span = tracer.start("user.work");
        let cx = opentelemetry::Context::current_with_span(span);
        async move {
            cx.span().end();
            Ok::<_, Error>(x)
        }
    });
    step.run(&t.context(), 1).await.unwrap();
    let spans = t.spans();
    let outer = one(&spans, "primitive.outer");
    let user = one(&spans, "user.work");
    assert_eq!(user.parent_span_id, outer.span_context.span_id());
}

#[tokio::test]
async fn run_parents_on_a_given_context() {
    let t = TestTelemetry::new();
    let tracer = t.tracer_provider().tracer("http");
    let request = tracer.start("http.request");
    let parent = opentelemetry::Context::new().with_span(request);
    let ctx = t.context().with_parent(parent.clone());
    add("handler", 1).run(&ctx, 1).await.unwrap();
    parent.span().end();
    let spans = t.spans();
    let handler = one(&spans, "primitive.handler");
    let http = one(&spans, "http.request");
    assert_eq!(handler.parent_span_id, http.span_context.span_id());
    assert_eq!(
        handler.span_context.trace_id(),
        http.span_context.trace_id()
    );
}

#[tokio::test]
async fn timeout_span_and_cancelled_inner_span() {
    let t = TestTelemetry::new();
    let wf = Timeout::new(
        MockPrimitive::<i64, i64>::pending().named("hang"),
        Duration::from_millis(10),
    );
    wf.run(&t.context(), 1).await.unwrap_err();
    let spans = t.spans();
    let timeout = one(&spans, "primitive.timeout");
    let hang = one(&spans, "primitive.hang");
    assert_eq!(int(timeout, "timeout.budget_ms"), 10);
    assert!(matches!(timeout.status, Status::Error { .. }));
    assert_eq!(string(timeout, "error.type"), "timeout");
    assert_eq!(hang.parent_span_id, timeout.span_context.span_id());
    assert_eq!(attr(hang, "primitive.cancelled"), Some(&Value::Bool(true)));
}

#[tokio::test]
async fn cache_hit_attribute_and_inner_span_on_miss_only() {
    let t = TestTelemetry::new();
    let cache = Cache::builder(add("expensive", 1), |x: &i64| *x).build();
    cache.run(&t.context(), 1).await.unwrap();
    cache.run(&t.context(), 1).await.unwrap();
    let spans = t.spans();
    let caches = by_name(&spans, "primitive.cache");
    assert_eq!(caches.len(), 2);
    let miss = caches
        .iter()
        .find(|s| attr(s, "cache.hit") == Some(&Value::Bool(false)))
        .unwrap();
    assert!(caches
        .iter()
        .any(|s| attr(s, "cache.hit") == Some(&Value::Bool(true))));
    let inner = one(&spans, "primitive.expensive");
    assert_eq!(inner.parent_span_id, miss.span_context.span_id());
}

#[tokio::test]
async fn router_and_circuit_breaker_attributes() {
    let t = TestTelemetry::new();
    let router = Router::new(|_: &i64, _: &WorkflowContext| "fast".to_string())
        .route("fast", add("small", 1))
        .route("quality", add("big", 2));
    let cb = CircuitBreaker::new(router);
    cb.run(&t.context(), 1).await.unwrap();
    let spans = t.spans();
    let small = one(&spans, "primitive.small");
    assert_eq!(string(small, "router.route"), "fast");
    let router_span = one(&spans, "primitive.router");
    assert_eq!(string(router_span, "router.route"), "fast");
    let cb_span = one(&spans, "primitive.circuit_breaker");
    assert_eq!(string(cb_span, "circuit.state"), "closed");
    assert_eq!(router_span.parent_span_id, cb_span.span_context.span_id());
}

#[tokio::test]
async fn unsampled_runs_export_no_spans_but_still_count() {
    let t = TestTelemetry::with_sampler(Sampler::AlwaysOff);
    let wf = add("a", 1) >> add("b", 1);
    wf.run(&t.context(), 1).await.unwrap();
    assert!(t.spans().is_empty());
    assert_eq!(
        t.metrics().counter(
            "primitive_executions",
            &[("primitive", "a"), ("status", "ok")]
        ),
        1
    );
}

#[tokio::test]
async fn failing_run_marks_root_error() {
    let t = TestTelemetry::new();
    let wf = (add("ok", 1) >> MockPrimitive::<i64, i64>::failing("bad input").named("validate"))
        .named("flow");
    let err = wf.run(&t.context(), 1).await.unwrap_err();
    assert_eq!(err.to_string(), "bad input");
    let spans = t.spans();
    let root = one(&spans, "primitive.flow");
    assert!(
        matches!(&root.status, Status::Error { description } if description.contains("bad input"))
    );
    let validate = one(&spans, "primitive.validate");
    assert_eq!(int(validate, "step.index"), 1);
}

#[tokio::test]
async fn declared_sampler_skips_the_sdk_but_keeps_trace_context() {
    let t = TestTelemetry::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
    let telemetry = primitives_core::Telemetry::builder()
        .tracer_provider(t.tracer_provider())
        .meter_provider(t.meter_provider())
        .sampling(0.0, true)
        .build();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let inner = lambda_with_context("inner", move |ctx: WorkflowContext, x: i64| {
        let sc = ctx.otel_context().span().span_context().clone();
        s2.lock().unwrap().push(sc);
        async move { Ok::<_, Error>(x) }
    });
    let wf = add("outer", 1) >> inner;
    wf.run(&WorkflowContext::new().with_telemetry(telemetry), 1)
        .await
        .unwrap();
    assert!(t.spans().is_empty(), "nothing sampled, nothing exported");
    let sc = seen.lock().unwrap()[0].clone();
    assert!(sc.is_valid(), "a trace context exists for propagation");
    assert!(!sc.is_sampled());
    assert_eq!(
        t.metrics()
            .counter("primitive_executions", &[("primitive", "inner")]),
        1,
        "metrics still recorded"
    );
}
