//! Defects of setup and export found by trying them as an adversarial user
//! would; each test failed before its fix (docs/reliability.md).

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use observability_integration::config::Origin;
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::{env, Collect};

/// Values axum's router panics on (and one clash with the health route).
const BAD_ENDPOINTS: &[&str] = &["/healthz", "/:id", "/metrics/{x}", "/a/*rest", "//x"];

#[test]
fn endpoints_the_router_would_panic_on_are_config_errors() {
    for bad in BAD_ENDPOINTS {
        let e = ObservabilityConfig::builder()
            .env(env(&[("OBSERVABILITY_PROMETHEUS_ENDPOINT", bad)]))
            .build()
            .expect_err(bad);
        assert_eq!(e.field, "prometheus_endpoint");
        assert_eq!(e.value, *bad);
        assert_eq!(
            e.origin,
            Origin::Env("OBSERVABILITY_PROMETHEUS_ENDPOINT".into())
        );
        let text = e.to_string();
        assert!(text.contains("/metrics") && text.contains(bad), "{text}");

        let e = ObservabilityConfig::builder()
            .env(EnvSource::None)
            .prometheus_endpoint(*bad)
            .build()
            .expect_err(bad);
        assert_eq!((e.field, e.origin), ("prometheus_endpoint", Origin::Code));
    }
    for good in [
        "/metrics",
        "/",
        "/internal/metrics",
        "/metrics/",
        "/v1.0/prom-metrics",
    ] {
        // `/` is the viewer's runs page: free only with the viewer off.
        ObservabilityConfig::builder()
            .env(EnvSource::None)
            .enable_viewer(false)
            .prometheus_endpoint(good)
            .build()
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

#[test]
fn a_config_edited_in_code_past_validation_reports_the_endpoint_instead_of_panicking() {
    for bad in BAD_ENDPOINTS {
        let mut cfg = ObservabilityConfig::builder()
            .env(EnvSource::None)
            .prometheus_port(0u16)
            .build()
            .unwrap();
        cfg.prometheus_endpoint = (*bad).to_owned();
        let obs = ObservabilityBuilder::new(cfg).logs(false).build();
        let report = obs.report().to_string();
        assert!(obs.report().metrics_addr.is_none(), "{report}");
        assert!(
            report.contains("prometheus_endpoint") && report.contains(bad),
            "{report}"
        );
        // Everything else runs.
        let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
        let step = lambda("still_runs", |x: u32| async move { Ok::<_, Error>(x) });
        futures_executor(step.run(&ctx, 1)).unwrap();
        obs.shutdown(Duration::from_secs(2));
    }
}

fn futures_executor<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Panics on every export.
#[derive(Debug, Clone, Default)]
struct AlwaysPanics {
    calls: Arc<AtomicU64>,
}

impl SpanExporter for AlwaysPanics {
    fn export(
        &self,
        _batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let calls = self.calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            panic!("exporter bug");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_exporter_fails_only_its_own_batches() {
    let healthy = Collect::default();
    let panics = AlwaysPanics::default();
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .enable_prometheus(false)
        .enable_viewer(false)
        .schedule_delay(Duration::from_millis(50))
        .build()
        .unwrap();
    let obs = ObservabilityBuilder::new(cfg)
        .with_span_exporter(panics.clone())
        .with_span_exporter(healthy.clone())
        .logs(false)
        .build();
    let wf = (lambda("a", |x: u64| async move { Ok::<_, Error>(x) })
        >> lambda("b", |x: u64| async move { Ok::<_, Error>(x) }))
    .named("flow")
    .into_workflow();
    for i in 0..25 {
        let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
        wf.run(&ctx, i).await.unwrap();
    }
    assert!(
        !obs.force_flush(Duration::from_secs(5)),
        "a flush with a failed export says so"
    );
    assert_eq!(
        healthy.spans.lock().unwrap().len(),
        75,
        "every span reached the healthy exporter"
    );
    let counts = obs.span_counts();
    let (_, bad) = counts[0];
    let (_, good) = counts[1];
    assert_eq!(
        (bad.ended, bad.export_failed, bad.exported),
        (75, 75, 0),
        "{bad:?}"
    );
    assert_eq!(
        (good.ended, good.exported, good.export_failed),
        (75, 75, 0),
        "{good:?}"
    );
    assert!(bad.balanced() && good.balanced());
    assert!(panics.calls.load(Ordering::SeqCst) >= 1);
    assert!(obs.shutdown(Duration::from_secs(5)).completed);
}

#[test]
fn otlp_headers_are_comma_separated_pairs_with_percent_decoded_values() {
    let cfg = ObservabilityConfig::builder()
        .env(env(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer abc&def=ghi+j, x-api-key = k%3Dv%2Cw==,x-empty=",
        )]))
        .build()
        .unwrap();
    let h = &cfg.otlp_headers;
    assert_eq!(h["authorization"], "Bearer abc&def=ghi+j");
    assert_eq!(h["x-api-key"], "k=v,w==");
    assert_eq!(h["x-empty"], "");
    assert_eq!(h.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_limits_from_the_environment_apply_to_step_and_sdk_spans() {
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry::KeyValue;
    let cfg = ObservabilityConfig::builder()
        .env(env(&[
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
            // The span-specific variable wins over the general one.
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "16"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "2"),
            ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "1"),
            ("OBSERVABILITY_ENABLE_PROMETHEUS", "false"),
        ]))
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    assert_eq!(cfg.attribute_value_length_limit, Some(16));
    assert_eq!(cfg.attribute_count_limit, 3);
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let long = "é".repeat(5_000);
    let step = lambda(long.clone(), |x: u32| async move { Ok::<_, Error>(x) });
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    step.run(&ctx, 1).await.unwrap();
    let mut user = obs
        .tracer_provider()
        .unwrap()
        .tracer("user")
        .start("user.span");
    for i in 0..10 {
        user.set_attribute(KeyValue::new(format!("k{i}"), long.clone()));
    }
    for i in 0..5 {
        user.add_event(
            format!("e{i}"),
            vec![KeyValue::new("a", long.clone()), KeyValue::new("b", 1)],
        );
    }
    user.end();
    assert!(obs.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 2);
    for s in &spans {
        assert!(
            s.attributes.len() <= 3,
            "{}: {:?}",
            s.name,
            s.attributes.len()
        );
        for kv in &s.attributes {
            assert!(kv.value.as_str().len() <= 16, "{}: {}", s.name, kv.key);
        }
    }
    let user = spans.iter().find(|s| s.name == "user.span").unwrap();
    assert_eq!(user.dropped_attributes_count, 7);
    assert_eq!(user.events.events.len(), 2);
    assert_eq!(user.events.dropped_count, 3);
    for e in &user.events.events {
        assert_eq!(e.attributes.len(), 1);
        assert_eq!(e.dropped_attributes_count, 1);
        assert!(e.attributes[0].value.as_str().len() <= 16);
    }
    let step = spans.iter().find(|s| s.name != "user.span").unwrap();
    let name = step
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "primitive.name")
        .unwrap();
    assert_eq!(
        name.value.as_str(),
        "é".repeat(8),
        "cut at a character boundary"
    );
    obs.shutdown(Duration::from_secs(2));
}
