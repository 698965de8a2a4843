//! The fast span path (steps record into the setup's span pipeline, no SDK
//! span on the step's thread) must export exactly what the SDK path
//! exports: same tree, names, attributes, status, events, scope. Users' own
//! OpenTelemetry spans inside a step join the same trace and queue, and
//! users can annotate the step's span through the current context.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry::trace::{Span as _, SpanId, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;
use primitives_core::testing::{render_tree, TestTelemetry};
use primitives_core::{
    lambda, lambda_with_context, Error, Fallback, MockPrimitive, Primitive, PrimitiveExt, Retry,
    WorkflowContext,
};
use support::chat::{Chat, CHAT_SPAN};
use support::Collect;

fn config() -> observability_integration::ConfigBuilder {
    ObservabilityConfig::builder()
        .env(EnvSource::None)
        .enable_prometheus(false)
        .enable_viewer(false)
        .schedule_delay(Duration::from_millis(20))
}

fn workflow() -> impl Primitive<i64, Output = Vec<i64>> {
    let flaky = MockPrimitive::<i64, i64>::returning(5)
        .then_fail("transient")
        .named("flaky");
    let annotate = lambda_with_context("annotate", |ctx: WorkflowContext, x: i64| async move {
        ctx.set_attribute(KeyValue::new("user.note", "from ctx"));
        ctx.add_event("user.event", vec![KeyValue::new("n", 1i64)]);
        Ok::<_, Error>(x)
    });
    (lambda("a", |x: i64| async move { Ok::<_, Error>(x + 1) })
        >> Retry::new(flaky).backoff(Duration::from_millis(1), Duration::from_millis(1))
        >> Fallback::new(
            MockPrimitive::<i64, i64>::failing("down").named("primary"),
            lambda("backup", |x: i64| async move { Ok::<_, Error>(x + 1) }),
        )
        >> annotate
        >> (lambda("c", |x: i64| async move { Ok::<_, Error>(x + 10) })
            | lambda("d", |x: i64| async move { Ok::<_, Error>(x + 20) })))
    .named("pipeline")
}

/// A span's path from the root: names and positions.
fn span_path<'a>(mut s: &'a SpanData, by_id: &HashMap<SpanId, &'a SpanData>) -> String {
    let mut parts = Vec::new();
    loop {
        let pos: Vec<String> = s
            .attributes
            .iter()
            .filter(|kv| {
                let k = kv.key.as_str();
                k.ends_with(".index") || k.ends_with(".attempt") || k.ends_with(".role")
            })
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        parts.push(format!("{}[{}]", s.name, pos.join(",")));
        match by_id.get(&s.parent_span_id) {
            Some(p) => s = p,
            None => break,
        }
    }
    parts.reverse();
    parts.join("/")
}

fn sorted_kvs(kvs: &[KeyValue]) -> Vec<String> {
    let mut a: Vec<String> = kvs
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    a.sort();
    a
}

/// Everything exported about a span except ids and times, keyed by its
/// path from the root, so two runs compare.
fn shape(spans: &[SpanData]) -> BTreeMap<String, String> {
    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let mut out = BTreeMap::new();
    for s in spans {
        let events: Vec<String> = s
            .events
            .iter()
            .map(|e| format!("{}({})", e.name, sorted_kvs(&e.attributes).join(",")))
            .collect();
        let desc = format!(
            "kind={:?} status={:?} sampled={} scope={} attrs={:?} events={events:?} links={}",
            s.span_kind,
            s.status,
            s.span_context.is_sampled(),
            s.instrumentation_scope.name(),
            sorted_kvs(&s.attributes),
            s.links.len(),
        );
        let key = span_path(s, &by_id);
        assert!(
            out.insert(key.clone(), desc).is_none(),
            "two spans at {key}"
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_path_exports_what_the_sdk_path_exports() {
    // SDK path: the core's tracer-provider mode with in-memory providers.
    let t = TestTelemetry::new();
    let ctx = t
        .context()
        .with_correlation_id("req-1")
        .with_workflow_id("wf-1")
        .with_session_id("sess-1");
    let expected_out = workflow().run(&ctx, 0).await.unwrap();
    let sdk_spans = t.spans();

    // Fast path: the setup's telemetry records into its span pipeline.
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(config().build().unwrap())
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let ctx = WorkflowContext::new()
        .with_telemetry(obs.telemetry())
        .with_correlation_id("req-1")
        .with_workflow_id("wf-1")
        .with_session_id("sess-1");
    let out = workflow().run(&ctx, 0).await.unwrap();
    assert_eq!(out, expected_out);
    assert!(obs.force_flush(Duration::from_secs(5)));
    let fast_spans = sink.spans.lock().unwrap().clone();

    assert_eq!(
        render_tree(&fast_spans),
        render_tree(&sdk_spans),
        "same tree"
    );
    assert_eq!(fast_spans.len(), 12, "{}", render_tree(&fast_spans));
    let (fast, sdk) = (shape(&fast_spans), shape(&sdk_spans));
    // The integration's exporter thread marks the run's root an
    // OpenInference CHAIN; the core's SDK path doesn't know OpenInference.
    const CHAIN: &str = "\"openinference.span.kind=CHAIN\", ";
    let chains: Vec<_> = fast
        .iter()
        .filter(|(_, d)| d.contains(CHAIN))
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(chains, ["primitive.pipeline[]"], "the root only");
    for (path, desc) in &sdk {
        let got = fast.get(path).map(|d| d.replace(CHAIN, ""));
        assert_eq!(got.as_ref(), Some(desc), "span {path}");
    }
    assert_eq!(fast.len(), sdk.len());
    // The annotation made through the step's context is there.
    assert!(
        fast.values()
            .any(|d| d.contains("user.note=from ctx") && d.contains("user.event(n=1)")),
        "{fast:#?}"
    );
    assert_eq!(
        fast.values()
            .filter(|d| d.contains("session.id=sess-1"))
            .count(),
        1,
        "session.id on the root span only"
    );
    let traces: HashSet<_> = fast_spans
        .iter()
        .map(|s| s.span_context.trace_id())
        .collect();
    assert_eq!(traces.len(), 1);
    // Start and end times are real and ordered.
    for s in &fast_spans {
        assert!(s.end_time >= s.start_time, "{}", s.name);
        let age = std::time::SystemTime::now()
            .duration_since(s.start_time)
            .unwrap();
        assert!(age < Duration::from_secs(30), "{}: {age:?}", s.name);
    }
    obs.shutdown(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_own_spans_inside_a_step_join_its_trace_and_queue() {
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(config().build().unwrap())
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let provider = obs.tracer_provider().unwrap().clone();
    let step = lambda("outer", move |x: i64| {
        let tracer = provider.tracer("user-code");
        async move {
            // Created with the OpenTelemetry API while the step's context
            // is current: a child of the step's span.
            let mut span = tracer.start("user.work");
            span.set_attribute(KeyValue::new("k", "v"));
            span.end();
            // The step's own span, through the current context.
            opentelemetry::Context::map_current(|cx| {
                cx.span()
                    .set_attribute(KeyValue::new("set.via", "current context"))
            });
            Ok::<_, Error>(x)
        }
    });
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    step.run(&ctx, 1).await.unwrap();
    assert!(obs.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 2, "{}", render_tree(&spans));
    let outer = spans.iter().find(|s| s.name == "primitive.outer").unwrap();
    let user = spans.iter().find(|s| s.name == "user.work").unwrap();
    assert_eq!(user.parent_span_id, outer.span_context.span_id());
    assert_eq!(user.span_context.trace_id(), outer.span_context.trace_id());
    assert_eq!(user.instrumentation_scope.name(), "user-code");
    assert!(outer
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "set.via" && kv.value.as_str() == "current context"));
    let (_, c) = &obs.span_counts()[0];
    assert_eq!((c.ended, c.exported), (2, 2), "{c:?}");
    assert!(c.balanced());
    obs.shutdown(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratio_sampling_keeps_whole_traces_or_none() {
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(config().trace_sample_rate(0.5).build().unwrap())
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let wf = (lambda("x", |x: i64| async move { Ok::<_, Error>(x) })
        >> lambda("y", |x: i64| async move { Ok::<_, Error>(x) }))
    .named("pair")
    .into_workflow();
    let runs = 2000;
    for i in 0..runs {
        let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
        wf.run(&ctx, i).await.unwrap();
    }
    assert!(obs.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    let mut per_trace: HashMap<_, usize> = HashMap::new();
    for s in &spans {
        assert!(s.span_context.is_sampled());
        *per_trace.entry(s.span_context.trace_id()).or_default() += 1;
    }
    assert!(per_trace.values().all(|n| *n == 3), "whole traces only");
    let kept = per_trace.len() as f64 / runs as f64;
    assert!((0.42..0.58).contains(&kept), "kept {kept}");
    let (_, c) = &obs.span_counts()[0];
    assert_eq!(
        c.ended as usize,
        spans.len(),
        "only sampled spans enter the pipeline"
    );
    obs.shutdown(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_after_shutdown_are_counted_not_lost() {
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(config().build().unwrap())
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let wf = lambda("s", |x: i64| async move { Ok::<_, Error>(x) }).into_workflow();
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    for i in 0..10 {
        wf.run(&ctx, i).await.unwrap();
    }
    let report = obs.shutdown(Duration::from_secs(5));
    assert!(report.completed);
    for i in 0..5 {
        wf.run(&ctx, i).await.unwrap();
    }
    let (_, c) = &obs.span_counts()[0];
    assert_eq!(c.ended, 15, "{c:?}");
    assert_eq!(c.exported, 10, "{c:?}");
    assert_eq!(c.dropped_after_shutdown, 5, "{c:?}");
    assert_eq!(c.in_flight, 0, "{c:?}");
    assert!(c.balanced());
    assert_eq!(sink.spans.lock().unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_kind_name_and_run_totals_travel_the_pipeline() {
    use opentelemetry::trace::SpanKind;
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(config().build().unwrap())
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let wf = (lambda("prep", |x: u32| async move { Ok::<_, Error>(x) }) >> Chat).named("ask");
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    wf.run(&ctx, 1).await.unwrap();
    assert!(obs.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    let kinds: BTreeMap<String, SpanKind> = spans
        .iter()
        .map(|s| (s.name.to_string(), s.span_kind.clone()))
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            (CHAT_SPAN.to_owned(), SpanKind::Client),
            ("primitive.ask".to_owned(), SpanKind::Internal),
            ("primitive.prep".to_owned(), SpanKind::Internal),
        ])
    );
    let root = spans.iter().find(|s| s.name == "primitive.ask").unwrap();
    assert!(root
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "llm.tokens.input" && kv.value == 21i64.into()));
    obs.shutdown(Duration::from_secs(5));
}
