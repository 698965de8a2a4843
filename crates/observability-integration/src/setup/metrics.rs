//! Metrics: the OTLP reader, custom readers, and Prometheus with its
//! server, on one SDK meter provider; plus our own accounting as metrics.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;

use super::report::StatusReport;
use crate::accounting::MetricExportStats;
use crate::config::ObservabilityConfig;
use crate::export::otlp::{build_otlp_metrics, otlp_name, probe};
use crate::metrics_server::ServerStats;
use crate::pipeline::ExporterView;
use crate::prometheus::{PrometheusMetrics, PrometheusOptions};
use crate::reader::Forward;
use crate::runtime::ObsRuntime;

/// What the metrics part of setup built.
pub(super) struct Metrics {
    pub(super) provider: SdkMeterProvider,
    pub(super) stats: Arc<MetricExportStats>,
    pub(super) prometheus: Option<PrometheusMetrics>,
    /// Metric readers besides Prometheus (OTLP, custom).
    pub(super) other_readers: bool,
}

impl Metrics {
    /// Metrics switched off: a provider with no reader.
    pub(super) fn off(resource: Resource) -> Metrics {
        Metrics {
            provider: SdkMeterProvider::builder().with_resource(resource).build(),
            stats: Arc::default(),
            prometheus: None,
            other_readers: false,
        }
    }
}

/// Builds the meter provider with every reader asked for. `traced`: spans
/// are on, so Prometheus keeps trace-id exemplars.
pub(super) fn build(
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    resource: Resource,
    readers: Vec<Box<dyn MetricReader>>,
    traced: bool,
    report: &mut StatusReport,
) -> Metrics {
    let stats = Arc::new(MetricExportStats::default());
    let mut builder = SdkMeterProvider::builder().with_resource(resource);
    let mut asked = false;
    let other_readers = cfg.metrics_url().is_some() || !readers.is_empty();
    if let Some(url) = cfg.metrics_url() {
        asked = true;
        match build_otlp_metrics(rt, cfg, &url, stats.clone()) {
            Ok(reader) => {
                builder = builder.with_reader(reader);
                report.exporter(otlp_name(cfg.otlp_protocol), "metrics", Some(url.clone()));
                if let Err(e) = probe(rt, &url, cfg.otlp_protocol, cfg.metrics_certificate()) {
                    report.fail(
                        "metrics.otlp",
                        format!(
                            "cannot reach {url}: {e}. Exports fail and are counted until it is up"
                        ),
                    );
                }
            }
            Err(e) => report.fail("metrics.otlp", e),
        }
    }
    for (i, r) in readers.into_iter().enumerate() {
        asked = true;
        builder = builder.with_reader(Forward(r));
        report.exporter(format!("reader-{}", i + 1), "metrics", None);
    }
    let mut prometheus = None;
    if cfg.enable_prometheus {
        asked = true;
        let prom = PrometheusMetrics::new(PrometheusOptions {
            cardinality_limit: cfg.metric_cardinality_limit,
            exemplars: true,
            // No spans, no trace ids: lock-free duration histograms.
            trace_exemplars: traced,
            process_metrics: true,
            service: cfg.service_name.clone(),
            version: cfg.service_version.clone(),
        });
        builder = builder.with_reader(prom.reader());
        prometheus = Some(prom);
    }
    if asked {
        report.metrics = report.state_of("metrics");
    }
    Metrics {
        provider: builder.build(),
        stats,
        prometheus,
        other_readers,
    }
}

/// Span and export accounting as metrics: `observability_spans{pipeline,
/// outcome}` and `observability_metric_exports{outcome}`.
pub(super) fn register_self_metrics(
    mp: &SdkMeterProvider,
    pipelines: &[(String, ExporterView)],
    metric_stats: &Arc<MetricExportStats>,
    server: Option<Arc<ServerStats>>,
    viewer: Option<crate::viewer::Viewer>,
) {
    use opentelemetry::metrics::MeterProvider as _;
    let meter = mp.meter("observability-integration");
    let pipelines: Vec<(String, ExporterView)> = pipelines.to_vec();
    let _spans = meter
        .u64_observable_counter("observability_spans")
        .with_description("Spans by pipeline and outcome: ended, exported, export_failed, dropped_queue_full, dropped_after_shutdown")
        .with_unit("{span}")
        .with_callback(move |obs| {
            for (name, stats) in &pipelines {
                let c = stats.snapshot();
                for (outcome, v) in [
                    ("ended", c.ended),
                    ("exported", c.exported),
                    ("export_failed", c.export_failed),
                    ("dropped_queue_full", c.dropped_queue_full),
                    ("dropped_after_shutdown", c.dropped_after_shutdown),
                ] {
                    obs.observe(v, &[KeyValue::new("pipeline", name.clone()), KeyValue::new("outcome", outcome)]);
                }
            }
        })
        .build();
    let ms = metric_stats.clone();
    let _exports = meter
        .u64_observable_counter("observability_metric_exports")
        .with_description("OTLP metric exports by outcome")
        .with_unit("1")
        .with_callback(move |obs| {
            let (ok, failed) = ms.settled();
            obs.observe(ok, &[KeyValue::new("outcome", "ok")]);
            obs.observe(failed, &[KeyValue::new("outcome", "failed")]);
        })
        .build();
    if let Some(server) = server {
        let _connections = meter
            .u64_observable_counter("observability_metrics_server_connections")
            .with_description("Connections the metrics server closed unserved: refused (at metrics_max_connections) or header_timeout (headers slower than metrics_header_timeout)")
            .with_unit("{connection}")
            .with_callback(move |obs| {
                use std::sync::atomic::Ordering::Relaxed;
                obs.observe(server.refused.load(Relaxed), &[KeyValue::new("outcome", "refused")]);
                obs.observe(
                    server.header_timeouts.load(Relaxed),
                    &[KeyValue::new("outcome", "header_timeout")],
                );
            })
            .build();
    }
    if let Some(viewer) = viewer {
        let v = viewer.clone();
        let _evicted = meter
            .u64_observable_counter("observability_viewer_evicted")
            .with_description("Traces the trace viewer evicted to stay within viewer_max_bytes, by run class, evicted in this order: ordinary (succeeded, neither slow nor expensive, or unended), slow, expensive, failed; the newest quarter of the store is never evicted for its class")
            .with_unit("{trace}")
            .with_callback(move |obs| {
                let s = v.stats();
                for (n, class) in [
                    (s.evicted_ordinary, "ordinary"),
                    (s.evicted_slow, "slow"),
                    (s.evicted_expensive, "expensive"),
                    (s.evicted_failed, "failed"),
                ] {
                    obs.observe(n, &[KeyValue::new("class", class)]);
                }
            })
            .build();
        let v = viewer.clone();
        let _dropped = meter
            .u64_observable_counter("observability_viewer_dropped")
            .with_description("Spans and log lines the trace viewer did not keep (a trace at its span or line limit, lines faster than the store takes them, spans the OTLP intake rejected)")
            .with_unit("{item}")
            .with_callback(move |obs| {
                let s = v.stats();
                obs.observe(s.spans_dropped, &[KeyValue::new("kind", "span")]);
                obs.observe(s.logs_dropped, &[KeyValue::new("kind", "log")]);
                obs.observe(s.spans_rejected, &[KeyValue::new("kind", "rejected_span")]);
            })
            .build();
        let v = viewer.clone();
        let _received = meter
            .u64_observable_counter("observability_viewer_received_spans")
            .with_description("Spans the trace viewer took in from other processes over OTLP/HTTP (POST /v1/traces)")
            .with_unit("{span}")
            .with_callback(move |obs| obs.observe(v.stats().spans_received, &[]))
            .build();
        let _bytes = meter
            .u64_observable_gauge("observability_viewer_bytes")
            .with_description("Bytes the trace viewer's store holds (its own accounting; bounded by viewer_max_bytes)")
            .with_unit("By")
            .with_callback(move |obs| {
                obs.observe(viewer.stats().bytes as u64, &[]);
            })
            .build();
    }
}
