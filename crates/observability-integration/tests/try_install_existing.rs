//! An application with its own global subscriber and OpenTelemetry
//! providers (own process: globals): a failed `try_install` leaves every
//! one of its globals as it was.

use std::collections::HashMap;

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

#[test]
fn a_failed_try_install_leaves_the_applications_globals_alone() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
    // The application's own provider: samples nothing.
    let app = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();
    opentelemetry::global::set_tracer_provider(app.clone());

    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .enable_console_exporter(true)
        .prometheus_port(0u16)
        .build()
        .unwrap();
    let err = ObservabilityBuilder::new(cfg)
        .try_install()
        .expect_err("the global subscriber slot is taken");
    assert!(
        err.report.failures.iter().any(|f| f.component == "logs"),
        "{}",
        err.report
    );
    assert!(!err.report.global, "nothing global was touched");

    // Still the application's tracer provider (ours samples everything).
    let span = opentelemetry::global::tracer("app").start("after");
    assert!(!span.span_context().is_sampled());
    // No propagator was installed (the default injects nothing).
    let cx = opentelemetry::Context::new().with_remote_span_context(
        opentelemetry::trace::SpanContext::new(
            opentelemetry::trace::TraceId::from(7u128),
            opentelemetry::trace::SpanId::from(7u64),
            opentelemetry::trace::TraceFlags::SAMPLED,
            true,
            Default::default(),
        ),
    );
    let mut headers = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut headers));
    assert!(headers.is_empty(), "{headers:?}");
    assert!(primitives_core::telemetry::global().is_none());
    let _ = app.shutdown();
}
