//! Installed globally (own process): JSON log lines carry the trace_id and
//! span_id of the step they were written in — also inside concurrently
//! polled Parallel branches — and users' `tracing` spans join the trace.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::TraceContextExt;
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use serde_json::Value;
use support::{Collect, Lines};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_match_exported_spans() {
    let sink = Collect::default();
    let lines = Lines::default();
    let writer = lines.clone();
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("json-test")
        .enable_prometheus(false)
        .enable_viewer(false)
        .log_level("info")
        .schedule_delay(Duration::from_millis(50))
        .build()
        .unwrap();
    let guard = ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .log_writer(move || writer.clone())
        .install();
    assert!(guard.report().subscriber_installed, "{}", guard.report());
    assert!(guard.report().all_live(), "{}", guard.report());

    let branch = |name: &'static str| {
        lambda(name, move |x: u64| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tracing::info!(branch = name, "inside branch");
            let user = tracing::info_span!("user.work", branch = name);
            let _enter = user.enter();
            tracing::info!(branch = name, "inside user span");
            Ok::<_, Error>(x)
        })
    };
    let wf = (lambda("start", |x: u64| async move {
        tracing::info!("starting");
        Ok::<_, Error>(x)
    }) >> (branch("left") | branch("right")))
    .named("logged_flow")
    .into_workflow();
    let ctx = WorkflowContext::new().with_correlation_id("corr-json-1");
    wf.run(&ctx, 7).await.unwrap();
    assert!(guard.force_flush(Duration::from_secs(5)));

    let spans = sink.spans.lock().unwrap().clone();
    let by_name: HashMap<String, _> = spans.iter().map(|s| (s.name.to_string(), s)).collect();
    let root = by_name["primitive.logged_flow"];
    let trace_id = root.span_context.trace_id().to_string();

    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let parsed: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    for line in &parsed {
        for key in ["timestamp", "level", "target", "message", "fields"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
        let ts = line["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z'), "UTC: {ts}");
        humantime::parse_rfc3339(ts).unwrap();
    }
    let find = |msg: &str, branch: Option<&str>| -> &Value {
        parsed
            .iter()
            .find(|l| l["message"] == msg && branch.is_none_or(|b| l["fields"]["branch"] == b))
            .unwrap_or_else(|| panic!("no line {msg} {branch:?} in {text}"))
    };
    let starting = find("starting", None);
    assert_eq!(starting["trace_id"], trace_id.as_str());
    assert_eq!(
        starting["span_id"],
        by_name["primitive.start"]
            .span_context
            .span_id()
            .to_string()
            .as_str()
    );
    assert_eq!(starting["correlation_id"], "corr-json-1");

    let user_spans: Vec<_> = spans.iter().filter(|s| s.name == "user.work").collect();
    assert_eq!(user_spans.len(), 2, "users' tracing spans are exported");
    for name in ["left", "right"] {
        let step = by_name[&format!("primitive.{name}")];
        let line = find("inside branch", Some(name));
        assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
        assert_eq!(
            line["span_id"],
            step.span_context.span_id().to_string().as_str(),
            "the branch's own span: {line}"
        );
        assert_eq!(line["correlation_id"], "corr-json-1");
        // The user's span is a child of the branch's step span, in the same trace.
        let user = user_spans
            .iter()
            .find(|s| s.parent_span_id == step.span_context.span_id())
            .unwrap_or_else(|| panic!("user.work under {name}"));
        assert_eq!(user.span_context.trace_id(), root.span_context.trace_id());
        let inner = find("inside user span", Some(name));
        assert_eq!(
            inner["span_id"],
            user.span_context.span_id().to_string().as_str()
        );
        assert_eq!(inner["spans"], serde_json::json!(["user.work"]));
    }
    // The W3C trace-context and baggage propagators are installed globally.
    let mut headers = HashMap::new();
    let root_cx = opentelemetry::Context::new()
        .with_remote_span_context(root.span_context.clone())
        .with_baggage(vec![opentelemetry::KeyValue::new("tenant", "acme")]);
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&root_cx, &mut headers));
    let traceparent = headers.get("traceparent").expect("traceparent injected");
    assert!(traceparent.contains(&trace_id), "{traceparent}");
    assert_eq!(
        headers.get("baggage").map(String::as_str),
        Some("tenant=acme")
    );

    // The run's line (the one a user searches for) names the run's trace
    // and the root span, though it is written after the root span ended.
    let done = find("workflow run completed", None);
    assert_eq!(done["level"], "INFO");
    assert_eq!(done["correlation_id"], "corr-json-1");
    assert_eq!(done["fields"]["workflow"], "logged_flow");
    assert_eq!(done["fields"]["type"], "sequential");
    assert!(
        done["fields"]["duration_ms"].as_f64().unwrap() >= 5.0,
        "{done}"
    );
    assert_eq!(done["trace_id"], trace_id.as_str(), "{done}");
    assert_eq!(
        done["span_id"],
        root.span_context.span_id().to_string().as_str(),
        "{done}"
    );
    assert!(
        done["fields"].get("workflow_id").is_none(),
        "no empty workflow_id: {done}"
    );

    // Under an outer `tracing` span (a web framework's request span), a
    // step's lines still carry the step's span id, not the request's.
    use tracing::Instrument as _;
    lines.0.lock().unwrap().clear();
    sink.spans.lock().unwrap().clear();
    let request = tracing::info_span!("http.request");
    let ctx = WorkflowContext::new().with_correlation_id("corr-json-2");
    wf.run(&ctx, 8).instrument(request).await.unwrap();
    assert!(guard.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    let by_name: HashMap<String, _> = spans.iter().map(|s| (s.name.to_string(), s)).collect();
    let http = by_name["http.request"];
    let root = by_name["primitive.logged_flow"];
    assert_eq!(
        root.parent_span_id,
        http.span_context.span_id(),
        "the run is a child of the request span"
    );
    let text = lines.text();
    let parsed: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let line = |msg: &str, branch: Option<&str>| -> &Value {
        parsed
            .iter()
            .find(|l| l["message"] == msg && branch.is_none_or(|b| l["fields"]["branch"] == b))
            .unwrap_or_else(|| panic!("no line {msg} {branch:?} in {text}"))
    };
    let span_id = |name: &str| by_name[name].span_context.span_id().to_string();
    assert_eq!(
        line("starting", None)["span_id"],
        span_id("primitive.start").as_str()
    );
    for name in ["left", "right"] {
        assert_eq!(
            line("inside branch", Some(name))["span_id"],
            span_id(&format!("primitive.{name}")).as_str()
        );
    }
    assert_eq!(
        line("workflow run completed", None)["span_id"],
        span_id("primitive.logged_flow").as_str()
    );
    drop(guard);
}
