//! The one-call setup: [`initialize_observability`], and the
//! [`ObservabilityBuilder`] behind it with its hooks, status report and
//! safe shutdown.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::config::{ObservabilityConfig, OtlpProtocol};
use crate::export::{
    BridgeMetricExporter, BridgeSpanExporter, ConsoleSpanExporter, MetricExportStats, SpanCounts,
    SpanStats,
};
use crate::logs::JsonFormat;
use crate::pipeline::{Outlet, PipelineOptions, PipelineProcessor, Queue, SpanPipeline};
use crate::prometheus::{PrometheusMetrics, PrometheusOptions};
use crate::runtime::ObsRuntime;
use crate::server::MetricsServer;

/// Targets whose own `tracing` spans must never become exported spans: the
/// exporters' network stack (exporting them would feed back into itself).
const NETWORK_TARGETS: &[&str] = &[
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
    "reqwest",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry-otlp",
];

/// How long setup waits for the exporters to be built and the endpoint probe.
const SETUP_DEADLINE: Duration = Duration::from_secs(5);

/// The default shutdown deadline.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Live or not, per signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SignalState {
    /// The config did not ask for it.
    Off,
    /// Asked for and running.
    Live,
    /// Asked for, not (fully) running: see the report's failures.
    Failed,
}

/// One installed exporter or reader.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExporterStatus {
    /// `otlp-grpc`, `otlp-http`, `console`, `custom-1`, `prometheus`, …
    pub name: String,
    /// `traces` or `metrics`.
    pub signal: &'static str,
    /// Where it sends, if anywhere.
    pub endpoint: Option<String>,
}

/// Something that did not start, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    /// What failed (`traces.otlp`, `metrics.prometheus`, `logs`, …).
    pub component: String,
    /// Why, and what to do.
    pub error: String,
}

/// What setup installed, what failed, and (via
/// [`Observability::span_counts`]) what happened to every span since.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusReport {
    /// `OTEL_SDK_DISABLED` was set: nothing installed.
    pub sdk_disabled: bool,
    /// Spans.
    pub traces: SignalState,
    /// Metrics.
    pub metrics: SignalState,
    /// Log lines (our subscriber).
    pub logs: SignalState,
    /// Exporters and readers installed.
    pub exporters: Vec<ExporterStatus>,
    /// The address the metrics server actually bound.
    pub metrics_addr: Option<SocketAddr>,
    /// What failed and why.
    pub failures: Vec<Failure>,
    /// Whether our `tracing` subscriber became the global one.
    pub subscriber_installed: bool,
    /// Whether globals were set (false in non-global mode).
    pub global: bool,
}

impl StatusReport {
    /// `Failed` if a component of `signal` failed, else `Live`.
    fn state_of(&self, signal: &str) -> SignalState {
        if self
            .failures
            .iter()
            .any(|f| f.component.starts_with(signal))
        {
            SignalState::Failed
        } else {
            SignalState::Live
        }
    }

    /// Every signal the config asked for is live.
    pub fn all_live(&self) -> bool {
        self.failures.is_empty()
            && ![self.traces, self.metrics, self.logs].contains(&SignalState::Failed)
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sdk_disabled {
            return writeln!(
                f,
                "observability: DISABLED by OTEL_SDK_DISABLED (nothing recorded or exported)"
            );
        }
        let state = |s: SignalState| match s {
            SignalState::Off => "off",
            SignalState::Live => "live",
            SignalState::Failed => "FAILED",
        };
        writeln!(
            f,
            "observability: traces {}, metrics {}, logs {}{}",
            state(self.traces),
            state(self.metrics),
            state(self.logs),
            if self.all_live() {
                ""
            } else {
                " — NOT everything you asked for is running"
            }
        )?;
        for e in &self.exporters {
            writeln!(
                f,
                "  {} {} -> {}",
                e.signal,
                e.name,
                e.endpoint.as_deref().unwrap_or("(in process)")
            )?;
        }
        if let Some(addr) = self.metrics_addr {
            writeln!(f, "  metrics served at http://{addr}")?;
        }
        for fail in &self.failures {
            writeln!(f, "  FAILED {}: {}", fail.component, fail.error)?;
        }
        Ok(())
    }
}

/// What shutdown managed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShutdownReport {
    /// Flush and shutdown finished before the deadline.
    pub completed: bool,
    /// Span counts per pipeline after shutdown.
    pub spans: Vec<(String, SpanCounts)>,
}

type ExporterFactory =
    Box<dyn FnOnce(&ObsRuntime, &ObservabilityConfig, Arc<Queue>, &Resource) -> Outlet + Send>;

/// Builds the observability stack. [`initialize_observability`] is this
/// with the config alone; tests, benches and advanced users add exporters,
/// readers and switches here.
pub struct ObservabilityBuilder {
    config: ObservabilityConfig,
    exporters: Vec<ExporterFactory>,
    readers: Vec<Box<dyn MetricReader>>,
    tracing: bool,
    metrics: bool,
    logs: bool,
    log_writer: Option<BoxMakeWriter>,
}

impl fmt::Debug for ObservabilityBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservabilityBuilder")
            .field("config", &self.config)
            .field("extra_exporters", &self.exporters.len())
            .field("extra_readers", &self.readers.len())
            .field("tracing", &self.tracing)
            .field("metrics", &self.metrics)
            .field("logs", &self.logs)
            .finish()
    }
}

/// One exporter of the span pipeline, with its accounting and the export
/// deadline.
fn outlet<E: SpanExporter + 'static>(
    name: String,
    exporter: E,
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    queue: Arc<Queue>,
    resource: &Resource,
) -> Outlet {
    let stats = Arc::new(SpanStats::new(queue));
    let bridged = BridgeSpanExporter::new(exporter, rt.clone(), stats.clone(), cfg.export_timeout);
    Outlet::new(name, stats, bridged, resource)
}

impl ObservabilityBuilder {
    /// A builder for `config` (load it with [`ObservabilityConfig::builder`]).
    pub fn new(config: ObservabilityConfig) -> Self {
        ObservabilityBuilder {
            config,
            exporters: Vec::new(),
            readers: Vec::new(),
            tracing: true,
            metrics: true,
            logs: true,
            log_writer: None,
        }
    }

    /// Adds a span exporter to the span pipeline (batched or not per the config),
    /// with the same accounting as the built-in ones.
    pub fn with_span_exporter<E: SpanExporter + 'static>(mut self, exporter: E) -> Self {
        let n = self.exporters.len() + 1;
        self.exporters
            .push(Box::new(move |rt, cfg, queue, resource| {
                outlet(format!("custom-{n}"), exporter, rt, cfg, queue, resource)
            }));
        self
    }

    /// Adds a metric reader (for example a `ManualReader` in tests).
    pub fn with_metric_reader<R: MetricReader>(mut self, reader: R) -> Self {
        self.readers.push(Box::new(reader));
        self
    }

    /// Switches spans on or off.
    pub fn tracing(mut self, on: bool) -> Self {
        self.tracing = on;
        self
    }

    /// Switches metrics on or off.
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Switches our log subscriber on or off.
    pub fn logs(mut self, on: bool) -> Self {
        self.logs = on;
        self
    }

    /// Writes log lines to `writer` instead of stdout.
    pub fn log_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
    {
        self.log_writer = Some(BoxMakeWriter::new(writer));
        self
    }

    /// Builds providers and exporters without installing anything global
    /// (non-global mode). Never panics; failures are in the report.
    pub fn build(self) -> Observability {
        let cfg = self.config;
        let mut report = StatusReport {
            sdk_disabled: cfg.sdk_disabled,
            traces: SignalState::Off,
            metrics: SignalState::Off,
            logs: if self.logs {
                SignalState::Live
            } else {
                SignalState::Off
            },
            exporters: Vec::new(),
            metrics_addr: None,
            failures: Vec::new(),
            subscriber_installed: false,
            global: false,
        };
        let rt = match ObsRuntime::new() {
            Ok(rt) => Some(rt),
            Err(e) => {
                report.failures.push(Failure {
                    component: "runtime".into(),
                    error: format!("cannot start the exporter runtime thread: {e}"),
                });
                None
            }
        };
        let (Some(rt), false) = (rt, cfg.sdk_disabled) else {
            report.logs = SignalState::Off;
            return Observability::disabled(cfg, report, self.log_writer);
        };

        let resource = resource(&cfg);
        let mut pipelines: Vec<(String, Arc<SpanStats>)> = Vec::new();
        let mut span_pipeline: Option<Arc<SpanPipeline>> = None;
        let mut tracer_builder = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(sampler(&cfg));
        if self.tracing {
            let mut factories: Vec<ExporterFactory> = Vec::new();
            if let Some(url) = cfg.traces_url() {
                match build_otlp_spans(&rt, &cfg, &url) {
                    Ok(factory) => {
                        report.exporters.push(ExporterStatus {
                            name: otlp_name(cfg.otlp_protocol),
                            signal: "traces",
                            endpoint: Some(url.clone()),
                        });
                        factories.push(factory);
                        if let Err(e) = probe(&rt, &url) {
                            report.failures.push(Failure {
                                component: "traces.otlp".into(),
                                error: format!(
                                    "cannot reach {url}: {e}. Spans are queued, dropped and counted until it is up; check the endpoint and that the receiver runs"
                                ),
                            });
                        }
                    }
                    Err(e) => report.failures.push(Failure {
                        component: "traces.otlp".into(),
                        error: e,
                    }),
                }
            }
            if cfg.enable_console_exporter {
                report.exporters.push(ExporterStatus {
                    name: "console".into(),
                    signal: "traces",
                    endpoint: Some("stderr".into()),
                });
                factories.push(Box::new(|rt, cfg, queue, resource| {
                    let console = ConsoleSpanExporter::default();
                    outlet("console".into(), console, rt, cfg, queue, resource)
                }));
            }
            for (i, f) in self.exporters.into_iter().enumerate() {
                report.exporters.push(ExporterStatus {
                    name: format!("custom-{}", i + 1),
                    signal: "traces",
                    endpoint: None,
                });
                factories.push(f);
            }
            let asked = !factories.is_empty() || cfg.exports_otlp_traces();
            if !factories.is_empty() {
                let options = PipelineOptions {
                    max_queue_size: cfg.max_queue_size,
                    max_export_batch_size: cfg.max_export_batch_size,
                    schedule_delay: cfg.schedule_delay,
                    immediate: !cfg.batch_span_processor,
                };
                let queue = SpanPipeline::queue(&options);
                let outlets: Vec<Outlet> = factories
                    .into_iter()
                    .map(|f| f(&rt, &cfg, queue.clone(), &resource))
                    .collect();
                let names: Vec<(String, Arc<SpanStats>)> = outlets
                    .iter()
                    .map(|o| (o.name.clone(), o.stats.clone()))
                    .collect();
                match SpanPipeline::start(options, outlets, &rt, queue) {
                    Ok(p) => {
                        let p = Arc::new(p);
                        tracer_builder =
                            tracer_builder.with_span_processor(PipelineProcessor(p.clone()));
                        span_pipeline = Some(p);
                        pipelines = names;
                    }
                    Err(e) => report.failures.push(Failure {
                        component: "traces".into(),
                        error: format!("cannot start the span exporter thread: {e}"),
                    }),
                }
            }
            if asked {
                report.traces = report.state_of("traces");
            }
        }
        let tracer_provider = tracer_builder.build();

        let metric_stats = Arc::new(MetricExportStats::default());
        let mut meter_builder = SdkMeterProvider::builder().with_resource(resource);
        let mut metrics_asked = false;
        let mut prometheus: Option<PrometheusMetrics> = None;
        let other_metric_readers =
            self.metrics && (cfg.metrics_url().is_some() || !self.readers.is_empty());
        let mut metrics_server: Option<MetricsServer> = None;
        if self.metrics {
            if let Some(url) = cfg.metrics_url() {
                metrics_asked = true;
                match build_otlp_metrics(&rt, &cfg, &url, metric_stats.clone()) {
                    Ok(reader) => {
                        meter_builder = meter_builder.with_reader(reader);
                        report.exporters.push(ExporterStatus {
                            name: otlp_name(cfg.otlp_protocol),
                            signal: "metrics",
                            endpoint: Some(url.clone()),
                        });
                        if let Err(e) = probe(&rt, &url) {
                            report.failures.push(Failure {
                                component: "metrics.otlp".into(),
                                error: format!("cannot reach {url}: {e}. Exports fail and are counted until it is up"),
                            });
                        }
                    }
                    Err(e) => report.failures.push(Failure {
                        component: "metrics.otlp".into(),
                        error: e,
                    }),
                }
            }
            for (i, r) in self.readers.into_iter().enumerate() {
                metrics_asked = true;
                meter_builder = meter_builder.with_reader(BoxedReader(r));
                report.exporters.push(ExporterStatus {
                    name: format!("reader-{}", i + 1),
                    signal: "metrics",
                    endpoint: None,
                });
            }
            if cfg.enable_prometheus {
                metrics_asked = true;
                let prom = PrometheusMetrics::new(PrometheusOptions {
                    cardinality_limit: cfg.metric_cardinality_limit,
                    exemplars: true,
                    // No spans, no trace ids: lock-free duration histograms.
                    trace_exemplars: self.tracing,
                    process_metrics: true,
                    service: cfg.service_name.clone(),
                    version: cfg.service_version.clone(),
                });
                meter_builder = meter_builder.with_reader(prom.reader());
                match MetricsServer::start(&rt, &cfg.prometheus_host, cfg.prometheus_port, &cfg.prometheus_endpoint, prom.clone()) {
                    Ok(server) => {
                        let addr = server.addr();
                        report.metrics_addr = Some(addr);
                        report.exporters.push(ExporterStatus {
                            name: "prometheus".into(),
                            signal: "metrics",
                            endpoint: Some(format!("http://{addr}{}", cfg.prometheus_endpoint)),
                        });
                        metrics_server = Some(server);
                    }
                    Err(e) => report.failures.push(Failure {
                        component: "metrics.prometheus".into(),
                        error: format!(
                            "cannot bind {}:{}: {e}. The metrics server is off; everything else runs. Set prometheus_port (OTEL_EXPORTER_PROMETHEUS_PORT) to a free port",
                            cfg.prometheus_host, cfg.prometheus_port
                        ),
                    }),
                }
                prometheus = Some(prom);
            }
            if metrics_asked {
                report.metrics = report.state_of("metrics");
            }
        }
        let meter_provider = meter_builder.build();
        register_self_metrics(&meter_provider, &pipelines, &metric_stats);

        let mut obs = Observability {
            config: cfg,
            runtime: Some(rt),
            tracer_provider: Some(tracer_provider),
            meter_provider: Some(meter_provider),
            span_pipeline,
            metered: self.metrics,
            pipelines,
            metric_stats,
            report,
            log_writer: Mutex::new(self.log_writer),
            logs: self.logs,
            shut_down: Mutex::new(None),
            prometheus,
            metrics_server: Mutex::new(metrics_server),
            telemetry: primitives_core::Telemetry::builder().build(),
            other_metric_readers,
        };
        obs.telemetry = obs.build_telemetry();
        obs
    }

    /// Builds and installs globally: OpenTelemetry globals, propagators,
    /// our `tracing` subscriber, and the core's telemetry (so primitives
    /// built earlier record from now on).
    pub fn install(self) -> ObservabilityGuard {
        let obs = self.build();
        obs.install_global()
    }
}

/// `Box<dyn MetricReader>` as a `MetricReader`.
#[derive(Debug)]
struct BoxedReader(Box<dyn MetricReader>);

impl MetricReader for BoxedReader {
    fn register_pipeline(&self, pipeline: std::sync::Weak<opentelemetry_sdk::metrics::Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(
        &self,
        rm: &mut opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(
        &self,
        kind: opentelemetry_sdk::metrics::InstrumentKind,
    ) -> opentelemetry_sdk::metrics::Temporality {
        self.0.temporality(kind)
    }
}

fn otlp_name(p: OtlpProtocol) -> String {
    match p {
        OtlpProtocol::Grpc => "otlp-grpc".into(),
        OtlpProtocol::HttpProtobuf => "otlp-http".into(),
    }
}

fn resource(cfg: &ObservabilityConfig) -> Resource {
    let mut attrs = vec![
        KeyValue::new("service.version", cfg.service_version.clone()),
        KeyValue::new("deployment.environment.name", cfg.environment.clone()),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.name", "opentelemetry"),
    ];
    attrs.extend(
        cfg.resource_attributes
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty()
        .with_service_name(cfg.service_name.clone())
        .with_attributes(attrs)
        .build()
}

fn sampler(cfg: &ObservabilityConfig) -> Sampler {
    let base = if cfg.trace_sample_rate >= 1.0 {
        Sampler::AlwaysOn
    } else if cfg.trace_sample_rate <= 0.0 {
        Sampler::AlwaysOff
    } else {
        Sampler::TraceIdRatioBased(cfg.trace_sample_rate)
    };
    if cfg.trace_parent_based {
        Sampler::ParentBased(Box::new(base))
    } else {
        base
    }
}

/// A TCP connect to the endpoint's host and port, bounded: tells a user at
/// setup that nothing is listening, instead of letting exports fail quietly.
fn probe(rt: &ObsRuntime, url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let host = parsed.host_str().ok_or("no host")?.to_owned();
    let port = parsed.port_or_known_default().ok_or("no port")?;
    let result = rt.run_blocking(SETUP_DEADLINE, async move {
        match tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connect timed out after 2s".to_owned()),
        }
    });
    result.unwrap_or_else(|| Err("probe did not finish".into()))
}

/// Builds an OTLP exporter (`SpanExporter` or `MetricExporter` builder) for
/// the configured protocol, on our runtime: tonic and hyper start their
/// workers on the runtime that builds them.
macro_rules! build_otlp {
    ($rt:expr, $cfg:expr, $url:expr, $builder:expr, $what:literal) => {{
        #[allow(unused_imports)]
        use opentelemetry_otlp::WithExportConfig;
        let (url, timeout, headers, protocol) = (
            $url.to_owned(),
            $cfg.export_timeout,
            $cfg.otlp_headers.clone(),
            $cfg.otlp_protocol,
        );
        let built = $rt.run_blocking(SETUP_DEADLINE, async move {
            let b = $builder;
            match protocol {
                #[cfg(feature = "otlp-grpc")]
                OtlpProtocol::Grpc => {
                    use opentelemetry_otlp::WithTonicConfig;
                    b.with_tonic()
                        .with_endpoint(url)
                        .with_timeout(timeout)
                        .with_metadata(metadata(&headers)?)
                        .build()
                        .map_err(|e| e.to_string())
                }
                #[cfg(feature = "otlp-http")]
                OtlpProtocol::HttpProtobuf => {
                    use opentelemetry_otlp::WithHttpConfig;
                    b.with_http()
                        .with_endpoint(url)
                        .with_timeout(timeout)
                        .with_headers(headers.into_iter().collect())
                        .build()
                        .map_err(|e| e.to_string())
                }
                #[allow(unreachable_patterns)]
                other => Err(format!(
                    "protocol {} not compiled in (enable the crate feature)",
                    other.as_str()
                )),
            }
        });
        built.ok_or(concat!("building the OTLP ", $what, " exporter timed out"))?
    }};
}

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
fn build_otlp_spans(
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    url: &str,
) -> Result<ExporterFactory, String> {
    let exporter = build_otlp!(
        rt,
        cfg,
        url,
        opentelemetry_otlp::SpanExporter::builder(),
        "span"
    )?;
    let name = otlp_name(cfg.otlp_protocol);
    Ok(Box::new(move |rt, cfg, queue, resource| {
        outlet(name, exporter, rt, cfg, queue, resource)
    }))
}

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
fn build_otlp_metrics(
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    url: &str,
    stats: Arc<MetricExportStats>,
) -> Result<PeriodicReader<BridgeMetricExporter<opentelemetry_otlp::MetricExporter>>, String> {
    let exporter = build_otlp!(
        rt,
        cfg,
        url,
        opentelemetry_otlp::MetricExporter::builder(),
        "metric"
    )?;
    let bridged = BridgeMetricExporter::new(exporter, rt.clone(), stats, cfg.export_timeout);
    Ok(PeriodicReader::builder(bridged)
        .with_interval(cfg.metrics_export_interval)
        .build())
}

#[cfg(feature = "otlp-grpc")]
fn metadata(
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<tonic::metadata::MetadataMap, String> {
    let mut md = tonic::metadata::MetadataMap::new();
    for (k, v) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("otlp header name {k:?} is not a valid gRPC metadata key"))?;
        let value = v.parse().map_err(|_| {
            format!("otlp header {k:?} has a value that is not valid gRPC metadata")
        })?;
        md.insert(key, value);
    }
    Ok(md)
}

#[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
fn build_otlp_spans(
    _: &ObsRuntime,
    _: &ObservabilityConfig,
    _: &str,
) -> Result<ExporterFactory, String> {
    Err("OTLP support not compiled in: enable the `otlp-grpc` or `otlp-http` feature".into())
}

#[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
fn build_otlp_metrics(
    _: &ObsRuntime,
    _: &ObservabilityConfig,
    _: &str,
    _: Arc<MetricExportStats>,
) -> Result<
    PeriodicReader<BridgeMetricExporter<opentelemetry_sdk::metrics::InMemoryMetricExporter>>,
    String,
> {
    Err("OTLP support not compiled in: enable the `otlp-grpc` or `otlp-http` feature".into())
}

/// Span and export accounting as metrics: `observability_spans{pipeline,
/// outcome}` and `observability_metric_exports{outcome}`.
fn register_self_metrics(
    mp: &SdkMeterProvider,
    pipelines: &[(String, Arc<SpanStats>)],
    metric_stats: &Arc<MetricExportStats>,
) {
    use opentelemetry::metrics::MeterProvider as _;
    let meter = mp.meter("observability-integration");
    let pipelines: Vec<(String, Arc<SpanStats>)> = pipelines.to_vec();
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
            obs.observe(
                ms.exported.load(std::sync::atomic::Ordering::Relaxed),
                &[KeyValue::new("outcome", "ok")],
            );
            obs.observe(
                ms.failed.load(std::sync::atomic::Ordering::Relaxed),
                &[KeyValue::new("outcome", "failed")],
            );
        })
        .build();
}

/// The built stack. Non-global until [`install_global`](Self::install_global).
pub struct Observability {
    config: ObservabilityConfig,
    runtime: Option<ObsRuntime>,
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    span_pipeline: Option<Arc<SpanPipeline>>,
    metered: bool,
    pipelines: Vec<(String, Arc<SpanStats>)>,
    metric_stats: Arc<MetricExportStats>,
    report: StatusReport,
    log_writer: Mutex<Option<BoxMakeWriter>>,
    logs: bool,
    shut_down: Mutex<Option<ShutdownReport>>,
    prometheus: Option<PrometheusMetrics>,
    metrics_server: Mutex<Option<MetricsServer>>,
    telemetry: primitives_core::Telemetry,
    /// Metric readers besides Prometheus (OTLP, custom).
    other_metric_readers: bool,
}

impl fmt::Debug for Observability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observability")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl Observability {
    fn disabled(
        config: ObservabilityConfig,
        report: StatusReport,
        log_writer: Option<BoxMakeWriter>,
    ) -> Self {
        Observability {
            config,
            runtime: None,
            tracer_provider: None,
            meter_provider: None,
            span_pipeline: None,
            metered: false,
            pipelines: Vec::new(),
            metric_stats: Arc::default(),
            report,
            log_writer: Mutex::new(log_writer),
            logs: false,
            shut_down: Mutex::new(None),
            prometheus: None,
            metrics_server: Mutex::new(None),
            telemetry: primitives_core::Telemetry::builder().build(),
            other_metric_readers: false,
        }
    }

    /// What setup did.
    pub fn report(&self) -> &StatusReport {
        &self.report
    }

    /// The config in force.
    pub fn config(&self) -> &ObservabilityConfig {
        &self.config
    }

    /// The SDK tracer provider (`None` when disabled).
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// The SDK meter provider (`None` when disabled).
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.meter_provider.as_ref()
    }

    /// The integration's runtime (`None` when disabled).
    pub fn runtime(&self) -> Option<&ObsRuntime> {
        self.runtime.as_ref()
    }

    /// A core telemetry handle on these providers: pass it to
    /// `WorkflowContext::with_telemetry` (non-global) or
    /// `primitives_core::telemetry::set_global`.
    pub fn telemetry(&self) -> primitives_core::Telemetry {
        self.telemetry.clone()
    }

    fn build_telemetry(&self) -> primitives_core::Telemetry {
        let mut b = primitives_core::Telemetry::builder()
            .in_process_metrics(!self.report.sdk_disabled)
            .correlation_in_context(self.logs && self.config.log_correlation);
        if let Some(p) = &self.span_pipeline {
            // Steps record into the pipeline directly, with the same
            // sampler as `sampler()` builds for the SDK provider.
            let sink: Arc<dyn primitives_core::span::SpanSink> = p.clone();
            b = b.span_sink(sink).sampling(
                self.config.trace_sample_rate,
                self.config.trace_parent_based,
            );
        }
        if let (Some(mp), true) = (&self.meter_provider, self.metered) {
            b = b.meter_provider(mp);
        }
        if let Some(observer) = self
            .prometheus
            .as_ref()
            .and_then(PrometheusMetrics::duration_observer)
        {
            // Prometheus serves the durations itself; record them through
            // OTel too only when an OTLP or custom reader needs them.
            b = b
                .duration_observer(observer)
                .skip_otel_duration_histogram(!self.other_metric_readers);
        }
        b.build()
    }

    /// The Prometheus registry behind `/metrics`, if enabled.
    pub fn prometheus(&self) -> Option<&PrometheusMetrics> {
        self.prometheus.as_ref()
    }

    /// Span accounting per pipeline (exporter), live.
    pub fn span_counts(&self) -> Vec<(String, SpanCounts)> {
        self.pipelines
            .iter()
            .map(|(n, s)| (n.clone(), s.snapshot()))
            .collect()
    }

    /// Export errors per pipeline and kind: (count, first message).
    pub fn export_errors(&self) -> Vec<(String, crate::export::ErrorsByKind)> {
        let mut out: Vec<_> = self
            .pipelines
            .iter()
            .map(|(n, s)| (n.clone(), s.export_errors()))
            .collect();
        out.push(("metrics".into(), self.metric_stats.errors.snapshot()));
        out
    }

    /// Our layers for a `tracing` subscriber you build yourself: the
    /// OpenTelemetry layer (your `tracing` spans join the same traces) and
    /// the log formatter (JSON or human, with trace correlation).
    pub fn layer<S>(&self) -> Box<dyn Layer<S> + Send + Sync + 'static>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let cfg = &self.config;
        let mut layers: Vec<Box<dyn Layer<S> + Send + Sync>> = Vec::new();
        if let Some(tp) = &self.tracer_provider {
            let otel = tracing_opentelemetry::layer()
                .with_tracer(tp.tracer("tracing"))
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_filter(FilterFn::new(|meta| {
                    !NETWORK_TARGETS.iter().any(|t| {
                        meta.target() == *t || meta.target().starts_with(&format!("{t}::"))
                    })
                }))
                .with_filter(env_filter(cfg));
            layers.push(Box::new(otel));
        }
        if self.logs {
            let writer = self
                .log_writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            let writer = writer.unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout));
            let fmt_layer: Box<dyn Layer<S> + Send + Sync> = if cfg.structured_logging {
                Box::new(
                    tracing_subscriber::fmt::layer()
                        .event_format(JsonFormat {
                            correlation: cfg.log_correlation,
                        })
                        .with_writer(writer)
                        .with_filter(env_filter(cfg)),
                )
            } else {
                Box::new(
                    tracing_subscriber::fmt::layer()
                        .with_writer(writer)
                        .with_filter(env_filter(cfg)),
                )
            };
            layers.push(fmt_layer);
        }
        Box::new(layers)
    }

    /// Installs globals and returns the guard that shuts everything down.
    pub fn install_global(mut self) -> ObservabilityGuard {
        if !self.report.sdk_disabled {
            opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
                Box::new(TraceContextPropagator::new()),
                Box::new(BaggagePropagator::new()),
            ]));
            if let Some(mp) = &self.meter_provider {
                opentelemetry::global::set_meter_provider(mp.clone());
            }
            if let Some(tp) = &self.tracer_provider {
                opentelemetry::global::set_tracer_provider(tp.clone());
            }
            primitives_core::telemetry::set_global(self.telemetry());
            self.report.global = true;
        }
        if self.logs {
            let subscriber = tracing_subscriber::registry().with(self.layer());
            match tracing::subscriber::set_global_default(subscriber) {
                Ok(()) => self.report.subscriber_installed = true,
                Err(_) => {
                    self.report.logs = SignalState::Failed;
                    self.report.failures.push(Failure {
                        component: "logs".into(),
                        error: "the application already installed a global tracing subscriber; add `guard.layer()` (or observability_integration::layer()) to it to get trace-correlated logs and tracing spans in traces".into(),
                    });
                }
            }
        }
        let report = &self.report;
        if report.all_live() {
            tracing::info!(target: "observability_integration", report = %report, "observability initialized");
        } else {
            tracing::warn!(target: "observability_integration", report = %report, "observability partly failed; the application keeps running");
        }
        ObservabilityGuard { obs: Some(self) }
    }

    /// Flushes everything queued to the exporters, waiting at most
    /// `deadline`. `false` when that did not finish in time or an export
    /// failed (the failures are counted in [`span_counts`](Self::span_counts)
    /// and described in [`export_errors`](Self::export_errors)).
    pub fn force_flush(&self, deadline: Duration) -> bool {
        let (spans, mp) = (self.span_pipeline.clone(), self.meter_provider.clone());
        let ok = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let ok2 = ok.clone();
        let finished = off_thread(deadline, move || {
            if let Some(p) = spans {
                if p.force_flush(deadline).is_err() {
                    ok2.store(false, std::sync::atomic::Ordering::SeqCst);
                }
            }
            if let Some(mp) = mp {
                let _ = mp.force_flush();
            }
        });
        finished && ok.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Flushes and shuts down providers and exporters within `deadline`,
    /// from any context: a multi-thread or current_thread runtime, or after
    /// the application's runtime is gone (the work runs on a thread of its
    /// own; the SDK's shutdown blocks). Idempotent.
    pub fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let mut done = self
            .shut_down
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = &*done {
            return r.clone();
        }
        if self.report.global {
            primitives_core::telemetry::clear_global();
        }
        let (tp, mp) = (self.tracer_provider.clone(), self.meter_provider.clone());
        let completed = off_thread(deadline, move || {
            if let Some(tp) = tp {
                // The span pipeline's shutdown exports what is queued first,
                // within this deadline (a separate flush would not be bounded
                // by it).
                let _ = tp.shutdown_with_timeout(deadline);
            }
            if let Some(mp) = mp {
                let _ = mp.shutdown_with_timeout(deadline);
            }
        });
        if let Some(mut server) = self
            .metrics_server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            server.stop();
        }
        let report = ShutdownReport {
            completed,
            spans: self.span_counts(),
        };
        *done = Some(report.clone());
        report
    }
}

/// Runs `f` on a new plain thread and waits for it at most `deadline`.
fn off_thread(deadline: Duration, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("observability-shutdown".into())
        .spawn(move || {
            f();
            let _ = tx.send(());
        });
    spawned.is_ok()
        && rx
            .recv_timeout(deadline + Duration::from_millis(500))
            .is_ok()
}

fn env_filter(cfg: &ObservabilityConfig) -> EnvFilter {
    let sdk = cfg.sdk_log_level.to_ascii_lowercase();
    let mut directives = cfg.log_level.clone();
    for t in [
        "opentelemetry",
        "opentelemetry_sdk",
        "opentelemetry_otlp",
        "opentelemetry-otlp",
    ] {
        directives.push_str(&format!(",{t}={sdk}"));
    }
    for t in ["h2", "hyper", "hyper_util", "tonic", "tower", "reqwest"] {
        directives.push_str(&format!(",{t}=warn"));
    }
    EnvFilter::builder().parse_lossy(directives)
}

/// Keeps the stack alive; shuts it down (flush with a deadline) on drop.
///
/// Dropping it blocks the dropping thread for up to
/// [`DEFAULT_SHUTDOWN_DEADLINE`] while queued telemetry is flushed; call
/// [`ObservabilityGuard::shutdown`] to choose the deadline.
pub struct ObservabilityGuard {
    obs: Option<Observability>,
}

impl fmt::Debug for ObservabilityGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservabilityGuard").finish_non_exhaustive()
    }
}

impl std::ops::Deref for ObservabilityGuard {
    type Target = Observability;
    fn deref(&self) -> &Observability {
        match &self.obs {
            Some(o) => o,
            None => unreachable!("the guard holds its stack until dropped"),
        }
    }
}

impl ObservabilityGuard {
    /// Shuts down now with `deadline` (dropping the guard does the same
    /// with [`DEFAULT_SHUTDOWN_DEADLINE`]).
    pub fn shutdown(self, deadline: Duration) -> ShutdownReport {
        (*self).shutdown(deadline)
    }
}

impl Drop for ObservabilityGuard {
    fn drop(&mut self) {
        if let Some(obs) = self.obs.take() {
            obs.shutdown(DEFAULT_SHUTDOWN_DEADLINE);
        }
    }
}

static GLOBAL: Mutex<Option<ObservabilityGuard>> = Mutex::new(None);

/// The spec's one call: installs everything `config` asks for, globally.
///
/// Returns `true` when every signal the config asked for is live and
/// `false` when any part failed (with a warning, and the failures in
/// [`global_report`]); what did start keeps running. Idempotent: later calls
/// return the first call's answer without reinstalling. Never panics.
pub fn initialize_observability(config: ObservabilityConfig) -> bool {
    let mut slot = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(guard) = &*slot {
        return guard.report().all_live();
    }
    let guard = ObservabilityBuilder::new(config).install();
    let ok = guard.report().all_live();
    *slot = Some(guard);
    ok
}

/// The report of [`initialize_observability`], if it ran.
pub fn global_report() -> Option<StatusReport> {
    GLOBAL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|g| g.report().clone())
}

/// Live span counts of the global setup.
pub fn global_span_counts() -> Vec<(String, SpanCounts)> {
    GLOBAL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|g| g.span_counts())
        .unwrap_or_default()
}

/// Flushes and shuts down what [`initialize_observability`] installed,
/// within `deadline`, from any context. `None` if it never ran.
pub fn shutdown_observability(deadline: Duration) -> Option<ShutdownReport> {
    let guard = GLOBAL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()?;
    Some(guard.shutdown(deadline))
}

/// Our `tracing` layers for your own subscriber, from the global setup.
pub fn layer<S>() -> Option<Box<dyn Layer<S> + Send + Sync + 'static>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    GLOBAL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|g| g.layer())
}
