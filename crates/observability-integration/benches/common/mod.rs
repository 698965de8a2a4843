//! Shared bench setup: the measured step and the setup configurations.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use observability_integration::export::CountingSpanExporter;
use observability_integration::{
    EnvSource, Observability, ObservabilityBuilder, ObservabilityConfig,
};
use primitives_core::{lambda, BoxedPrimitive, Error, PrimitiveExt, Workflow};

pub type Ready = std::future::Ready<Result<u64, Error>>;

/// The measured async step: trivial work, so the figures are overhead.
pub fn step(
    name: &'static str,
) -> primitives_core::Lambda<impl Fn(u64) -> Ready + Send + Sync + Clone> {
    lambda(name, |x: u64| std::future::ready(Ok(x.wrapping_add(1))))
}

/// The same step as a bare boxed primitive (called with `execute`).
pub fn bare() -> BoxedPrimitive<u64, u64> {
    Arc::new(step("step"))
}

/// The step as an observed workflow.
pub fn observed() -> Workflow<u64, u64> {
    step("step").into_workflow()
}

/// A step that writes one log line.
pub fn logging() -> Workflow<u64, u64> {
    lambda("step", |x: u64| {
        tracing::info!(x, "step done");
        std::future::ready(Ok::<_, Error>(x + 1))
    })
    .into_workflow()
}

pub enum Setup {
    Sampled,
    NotSampled,
    MetricsOnly,
}

/// The full setup in non-global mode: batch export to a counting no-op
/// exporter, metrics to the Prometheus registry (no OTLP), in-process stats.
pub fn setup(kind: Setup) -> (Observability, CountingSpanExporter) {
    let counting = CountingSpanExporter::default();
    let mut cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("bench")
        .prometheus_port(0u16)
        // The overhead of the pipeline to exporters; the viewer is a
        // development tool, off in production.
        .enable_viewer(false)
        .max_queue_size(1usize << 16)
        .max_export_batch_size(512usize)
        .schedule_delay(Duration::from_millis(200));
    if matches!(kind, Setup::NotSampled) {
        cfg = cfg.trace_sample_rate(0.0);
    }
    let b = ObservabilityBuilder::new(cfg.build().unwrap())
        .with_span_exporter(counting.clone())
        .logs(false);
    let b = match kind {
        Setup::MetricsOnly => b.tracing(false),
        _ => b,
    };
    (b.build(), counting)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `bare` and configuration 2 in `group`: the pair both overhead benches report.
pub fn bare_and_sampled(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
) -> Observability {
    use primitives_core::{Primitive, WorkflowContext};
    use std::hint::black_box;
    let raw = bare();
    let ctx = WorkflowContext::new();
    g.bench_function("bare", |b| {
        b.to_async(rt)
            .iter(|| async { raw.execute(&ctx, black_box(1)).await })
    });
    let wf = observed();
    let (obs, _) = setup(Setup::Sampled);
    let ctx2 = WorkflowContext::new().with_telemetry(obs.telemetry());
    g.bench_function("2_sampled_batch_export", |b| {
        b.to_async(rt)
            .iter(|| async { wf.run(&ctx2, black_box(1)).await })
    });
    obs
}
