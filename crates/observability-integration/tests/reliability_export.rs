//! Suspected export defects, checked (docs/reliability.md): a slow scrape
//! does not stall exports; a flush asked for while an export round runs
//! waits for a round that covers it; an exporter panicking in shutdown
//! does not stop the meter provider's shutdown.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::Collect;

fn config(prometheus: bool) -> ObservabilityConfig {
    ObservabilityConfig::builder()
        .env(EnvSource::None)
        .enable_prometheus(prometheus)
        .prometheus_port(0u16)
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_scrape_does_not_stall_span_exports() {
    // The exporter waits on a timer of the integration's runtime, as
    // network exporters do: a scrape holding that runtime's worker would
    // stall it.
    let sink = Collect {
        delay: Duration::from_millis(20),
        ..Collect::default()
    };
    let obs = ObservabilityBuilder::new(config(true))
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let addr = obs.report().metrics_addr.unwrap();
    // A user's observable gauge whose callback takes 1.5 s: every scrape
    // runs it.
    let meter = obs.meter_provider().unwrap().meter("user");
    let _slow = meter
        .u64_observable_gauge("slow_gauge")
        .with_callback(|o| {
            std::thread::sleep(Duration::from_millis(1500));
            o.observe(1, &[]);
        })
        .build();
    let scrape = tokio::spawn(async move {
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    lambda("during_scrape", |x: u32| async move { Ok::<_, Error>(x) })
        .run(&ctx, 1)
        .await
        .unwrap();
    let started = Instant::now();
    assert!(obs.force_flush(Duration::from_secs(5)));
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(800),
        "the export waited for the scrape: {took:?}"
    );
    assert_eq!(sink.spans.lock().unwrap().len(), 1);
    assert!(scrape.await.unwrap().contains("slow_gauge 1"));
    obs.shutdown(Duration::from_secs(2));
}

/// Holds its first export for 300 ms.
#[derive(Debug, Clone, Default)]
struct SlowFirst {
    calls: Arc<AtomicU64>,
    inner: Collect,
}

impl SpanExporter for SlowFirst {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let first = self.calls.fetch_add(1, Ordering::SeqCst) == 0;
        let inner = self.inner.clone();
        async move {
            if first {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            inner.export(batch).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_asked_for_during_an_export_round_waits_for_its_own() {
    let exporter = SlowFirst::default();
    let obs = ObservabilityBuilder::new(config(false))
        .with_span_exporter(exporter.clone())
        .logs(false)
        .build();
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    let step = |name: &'static str| lambda(name, |x: u32| async move { Ok::<_, Error>(x) });
    step("first").run(&ctx, 1).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while exporter.calls.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the first round never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The first round is exporting "first" now; "second" ends after it
    // took its spans, and the flush is asked for before it finishes.
    step("second").run(&ctx, 2).await.unwrap();
    assert!(obs.force_flush(Duration::from_secs(5)));
    let names: Vec<String> = exporter
        .inner
        .spans
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert!(
        names.contains(&"primitive.second".to_owned()),
        "the flush returned before the span ended before it was exported: {names:?}"
    );
    obs.shutdown(Duration::from_secs(2));
}

/// Panics in shutdown.
#[derive(Debug, Clone, Default)]
struct PanicsOnShutdown;

impl SpanExporter for PanicsOnShutdown {
    fn export(
        &self,
        _batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(Ok(()))
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        panic!("exporter bug in shutdown");
    }
}

#[test]
fn an_exporter_panicking_in_shutdown_does_not_stop_the_rest_of_shutdown() {
    let healthy = Collect::default();
    let obs = ObservabilityBuilder::new(config(true))
        .with_span_exporter(PanicsOnShutdown)
        .with_span_exporter(healthy.clone())
        .logs(false)
        .build();
    // A deadline a loaded machine meets (it took 8.8 s once with two
    // builds running); an uncaught panic would miss any deadline.
    let report = obs.shutdown(Duration::from_secs(30));
    assert!(report.completed, "the panic was caught inside the pipeline");
    let mp = obs.meter_provider().unwrap();
    assert!(
        mp.force_flush().is_err(),
        "the meter provider was shut down after the panicking exporter"
    );
    assert!(obs.report().metrics_addr.is_some());
    let addr = obs.report().metrics_addr.unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the metrics server stopped"
    );
}
