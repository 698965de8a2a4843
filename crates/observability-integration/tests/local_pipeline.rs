//! The setup's pipelines in non-global mode, with in-process exporters:
//! accounting, queue bounds, stalls, and shutdown from every context.

mod support;

use std::time::{Duration, Instant};

use observability_integration::{
    EnvSource, ObservabilityBuilder, ObservabilityConfig, SignalState,
};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::{Collect, Stall};

fn config() -> observability_integration::ConfigBuilder {
    ObservabilityConfig::builder()
        .env(EnvSource::None)
        .enable_prometheus(false)
        .enable_viewer(false)
        .schedule_delay(Duration::from_millis(50))
}

fn workflow() -> impl primitives_core::Primitive<u64, Output = Vec<u64>> {
    (lambda("a", |x: u64| async move { Ok::<_, Error>(x) })
        >> (lambda("b", |x: u64| async move { Ok::<_, Error>(x + 1) })
            | lambda("c", |x: u64| async move { Ok::<_, Error>(x + 2) })))
    .named("flow")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_a_custom_exporter_and_balance() {
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(config().build().unwrap())
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    assert_eq!(obs.report().traces, SignalState::Live);
    assert!(obs.report().all_live(), "{}", obs.report());
    let wf = workflow().into_workflow();
    for i in 0..100 {
        let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
        wf.run(&ctx, i).await.unwrap();
    }
    assert!(obs.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().len();
    assert_eq!(spans, 100 * 5);
    let (name, counts) = &obs.span_counts()[0];
    assert_eq!(name, "custom-1");
    assert_eq!(counts.ended, 500);
    assert_eq!(counts.exported, 500);
    assert!(counts.balanced());
    let report = obs.shutdown(Duration::from_secs(5));
    assert!(report.completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts_exactly() {
    let slow = Collect {
        delay: Duration::from_millis(200),
        ..Collect::default()
    };
    let obs = ObservabilityBuilder::new(
        config()
            .max_queue_size(64usize)
            .max_export_batch_size(16usize)
            .build()
            .unwrap(),
    )
    .with_span_exporter(slow.clone())
    .logs(false)
    .build();
    let wf = workflow().into_workflow();
    for i in 0..400 {
        let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
        wf.run(&ctx, i).await.unwrap();
    }
    let during = obs.span_counts()[0].1;
    assert!(during.dropped_queue_full > 0, "{during:?}");
    let report = obs.shutdown(Duration::from_secs(30));
    assert!(report.completed);
    let after = report.spans[0].1;
    assert_eq!(after.ended, 2000);
    assert_eq!(after.in_flight, 0);
    assert_eq!(after.exported, slow.spans.lock().unwrap().len() as u64);
    assert_eq!(after.ended, after.exported + after.dropped(), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_exporter_never_slows_the_workflow() {
    let stall = Stall::default();
    let obs = ObservabilityBuilder::new(
        config()
            .export_timeout(Duration::from_millis(300))
            .max_queue_size(100usize)
            .max_export_batch_size(10usize)
            .build()
            .unwrap(),
    )
    .with_span_exporter(stall.clone())
    .logs(false)
    .build();
    let wf = workflow().into_workflow();
    let mut worst = Duration::ZERO;
    for i in 0..300 {
        let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
        let t = Instant::now();
        wf.run(&ctx, i).await.unwrap();
        worst = worst.max(t.elapsed());
    }
    assert!(
        worst < Duration::from_millis(150),
        "a workflow run took {worst:?} with a stalled backend"
    );
    let report = obs.shutdown(Duration::from_secs(10));
    let c = report.spans[0].1;
    assert_eq!(c.ended, 1500);
    assert_eq!(c.exported, 0);
    assert!(c.export_failed > 0 && c.dropped_queue_full > 0, "{c:?}");
    assert_eq!(c.ended, c.dropped() + c.in_flight, "{c:?}");
    let errors = obs.export_errors();
    assert!(errors[0].1.contains_key("timeout"), "{errors:?}");
}

#[test]
fn shutdown_on_a_current_thread_runtime_with_10000_queued_spans() {
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(
        config()
            .max_queue_size(20_000usize)
            .max_export_batch_size(16_384usize)
            .schedule_delay(Duration::from_secs(60))
            .build()
            .unwrap(),
    )
    .with_span_exporter(sink.clone())
    .logs(false)
    .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let step = lambda("one", |x: u64| async move { Ok::<_, Error>(x) });
        for i in 0..10_000 {
            let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
            step.run(&ctx, i).await.unwrap();
        }
        assert!(
            obs.span_counts()[0].1.in_flight > 5_000,
            "spans are queued, not yet exported"
        );
        // Shutdown from inside the current_thread runtime's only thread.
        let t = Instant::now();
        let report = obs.shutdown(Duration::from_secs(20));
        assert!(report.completed, "took {:?}", t.elapsed());
        assert_eq!(report.spans[0].1.exported, 10_000);
    });
    assert_eq!(sink.spans.lock().unwrap().len(), 10_000);
}

#[test]
fn shutdown_after_the_application_runtime_is_gone() {
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(
        config()
            .schedule_delay(Duration::from_secs(60))
            .build()
            .unwrap(),
    )
    .with_span_exporter(sink.clone())
    .logs(false)
    .build();
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let step = lambda("one", |x: u64| async move { Ok::<_, Error>(x) });
            for i in 0..500 {
                let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
                step.run(&ctx, i).await.unwrap();
            }
        });
    } // the application's runtime is dropped here
    let report = obs.shutdown(Duration::from_secs(10));
    assert!(report.completed);
    assert_eq!(sink.spans.lock().unwrap().len(), 500);
    assert!(report.spans[0].1.balanced());
    // Idempotent.
    let again = obs.shutdown(Duration::from_secs(1));
    assert_eq!(again.spans, report.spans);
}

#[test]
fn sdk_disabled_installs_nothing_and_says_so() {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::Map(
            [("OTEL_SDK_DISABLED".to_string(), "true".to_string())].into(),
        ))
        .build()
        .unwrap();
    let obs = ObservabilityBuilder::new(cfg).build();
    let r = obs.report();
    assert!(r.sdk_disabled);
    assert_eq!(
        (r.traces, r.metrics, r.logs),
        (SignalState::Off, SignalState::Off, SignalState::Off)
    );
    assert!(r
        .to_string()
        .contains("DISABLED by sdk_disabled / OTEL_SDK_DISABLED"));
    assert!(obs.tracer_provider().is_none());
    assert!(!obs.telemetry().is_enabled());
}

#[test]
fn unbatched_pipeline_exports_each_span_without_waiting_for_the_schedule() {
    let sink = Collect::default();
    let cfg = config()
        .batch_span_processor(false)
        .schedule_delay(Duration::from_secs(5));
    let obs = ObservabilityBuilder::new(cfg.build().unwrap())
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
        lambda("x", |x: u64| async move { Ok::<_, Error>(x) })
            .run(&ctx, 1)
            .await
            .unwrap();
    });
    // The schedule delay is 5 s: only the unbatched mode's immediate wake
    // gets the span out this fast, with no flush.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let exported = loop {
        let n = sink.spans.lock().map(|s| s.len()).unwrap_or(0);
        if n > 0 || std::time::Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(exported, 1, "exported without a flush or the 5 s schedule");
}

/// Panics on its first export, then counts.
#[derive(Debug, Clone, Default)]
struct PanicOnce {
    calls: std::sync::Arc<std::sync::atomic::AtomicU64>,
    received: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl opentelemetry_sdk::trace::SpanExporter for PanicOnce {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        use std::sync::atomic::Ordering;
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("exporter bug");
        }
        self.received
            .fetch_add(batch.len() as u64, Ordering::SeqCst);
        std::future::ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_exporter_fails_its_batch_and_export_goes_on() {
    let exporter = PanicOnce::default();
    let obs = ObservabilityBuilder::new(config().build().unwrap())
        .with_span_exporter(exporter.clone())
        .logs(false)
        .build();
    let wf = workflow().into_workflow();
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    wf.run(&ctx, 1).await.unwrap();
    assert!(
        !obs.force_flush(Duration::from_secs(5)),
        "a flush whose export failed says so"
    );
    let first = obs.span_counts()[0].1;
    assert_eq!((first.ended, first.export_failed), (5, 5), "{first:?}");
    // The exporter thread survived: later spans are exported.
    wf.run(&ctx, 2).await.unwrap();
    assert!(obs.force_flush(Duration::from_secs(5)));
    let c = obs.span_counts()[0].1;
    assert_eq!((c.ended, c.exported, c.export_failed), (10, 5, 5), "{c:?}");
    assert!(c.balanced());
    assert_eq!(
        exporter.received.load(std::sync::atomic::Ordering::SeqCst),
        5
    );
    assert!(obs.shutdown(Duration::from_secs(5)).completed);
}

#[test]
fn spans_spread_over_many_threads_wake_the_exporter() {
    // 8 threads (their own queue shards) end 100 spans each: no shard
    // reaches a batch of 512, the queue as a whole does. The exporter must
    // not wait for the 10 s schedule or for a drop.
    let sink = Collect::default();
    let cfg = config()
        .schedule_delay(Duration::from_secs(10))
        .max_queue_size(100_000usize)
        .max_export_batch_size(512usize);
    let obs = ObservabilityBuilder::new(cfg.build().unwrap())
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let step = lambda("t", |x: u64| async move { Ok::<_, Error>(x) }).into_workflow();
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (step, tel) = (step.clone(), obs.telemetry());
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let ctx = WorkflowContext::new().with_telemetry(tel);
                rt.block_on(async {
                    for i in 0..100 {
                        step.run(&ctx, t * 1000 + i).await.unwrap();
                    }
                });
            });
        }
    });
    let deadline = Instant::now() + Duration::from_secs(3);
    while sink.spans.lock().unwrap().len() < 512 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        sink.spans.lock().unwrap().len() >= 512,
        "exported without waiting for the schedule: {:?}",
        obs.span_counts()
    );
    assert_eq!(obs.span_counts()[0].1.dropped(), 0);
    assert!(obs.shutdown(Duration::from_secs(5)).completed);
    assert_eq!(sink.spans.lock().unwrap().len(), 800);
}

#[test]
fn with_tracing_off_the_provider_keeps_the_configured_sampler_and_resource() {
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    let obs = ObservabilityBuilder::new(
        config()
            .service_name("no-tracing")
            .trace_sample_rate(0.0)
            .build()
            .unwrap(),
    )
    .tracing(false)
    .logs(false)
    .build();
    // Users' spans (through the OpenTelemetry layer or the global provider)
    // carry the configured decision downstream, not the SDK's default.
    let span = obs.tracer_provider().unwrap().tracer("user").start("s");
    assert!(!span.span_context().is_sampled());
    obs.shutdown(Duration::from_secs(2));
}
