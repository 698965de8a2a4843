//! Per-step overhead of one `Lambda` step in each configuration, beside a
//! bare call of the same step in the same run. `cargo bench --bench overhead`

mod common;

use std::hint::black_box;

use common::{bare_and_sampled, logging, observed, runtime, setup, Setup};
use criterion::{criterion_group, criterion_main, Criterion};
use primitives_core::WorkflowContext;
use tracing_subscriber::layer::SubscriberExt;

fn per_step(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("per_step");

    // 1. Core only: nothing installed, in-process metrics off. Measured
    // before any setup exists, so no exporter thread runs beside it.
    let ctx = WorkflowContext::new();
    let wf = observed();
    g.bench_function("1_nothing_enabled", |b| {
        b.to_async(&rt)
            .iter(|| async { wf.run(&ctx, black_box(1)).await })
    });

    // bare, and 2. full setup, sampled, batch export to a counting no-op exporter.
    let obs = bare_and_sampled(&mut g, &rt);
    // Drain the exporter's backlog so it doesn't compete with the next rows.
    obs.force_flush(std::time::Duration::from_secs(60));

    // 3. Full setup, not sampled.
    let (obs3, _) = setup(Setup::NotSampled);
    let ctx3 = WorkflowContext::new().with_telemetry(obs3.telemetry());
    let wf3 = observed();
    g.bench_function("3_not_sampled", |b| {
        b.to_async(&rt)
            .iter(|| async { wf3.run(&ctx3, black_box(1)).await })
    });

    // 4. Metrics only.
    let (obs4, _) = setup(Setup::MetricsOnly);
    let ctx4 = WorkflowContext::new().with_telemetry(obs4.telemetry());
    let wf4 = observed();
    g.bench_function("4_metrics_only", |b| {
        b.to_async(&rt)
            .iter(|| async { wf4.run(&ctx4, black_box(1)).await })
    });

    // 5. As 2, plus one JSON log line with trace_id per step, to a sink.
    let (obs5, _) = {
        let counting = observability_integration::export::CountingSpanExporter::default();
        let cfg = observability_integration::ObservabilityConfig::builder()
            .env(observability_integration::EnvSource::None)
            .prometheus_port(0u16)
            .enable_viewer(false)
            .max_queue_size(1usize << 16)
            .build()
            .unwrap();
        let o = observability_integration::ObservabilityBuilder::new(cfg)
            .with_span_exporter(counting.clone())
            .log_writer(std::io::sink)
            .build();
        (o, counting)
    };
    let subscriber = tracing_subscriber::registry().with(obs5.layer());
    let _guard = tracing::subscriber::set_default(subscriber);
    let ctx5 = WorkflowContext::new().with_telemetry(obs5.telemetry());
    let wf5 = logging();
    g.bench_function("5_sampled_plus_json_log", |b| {
        b.to_async(&rt)
            .iter(|| async { wf5.run(&ctx5, black_box(1)).await })
    });
    g.finish();
    drop(_guard);
    for o in [obs, obs3, obs4, obs5] {
        o.shutdown(std::time::Duration::from_secs(5));
    }
}

criterion_group!(benches, per_step);
criterion_main!(benches);
