//! [`ObservabilityBuilder`]: builds the stack — runtime, traces, metrics,
//! logs — from a config and the hooks added to it.

use std::fmt;
use std::time::Duration;

use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::trace::SpanExporter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use super::buckets::Meters;
use super::install::{InstallFailed, ObservabilityGuard};
use super::layers::SharedWriter;
use super::metrics::{self, register_self_metrics, Metrics};
use super::observability::Observability;
use super::report::{SignalState, StatusReport};
use super::traces::{self, outlet, ExporterFactory};
use crate::config::ObservabilityConfig;
use crate::metrics_server::Server;
use crate::runtime::ObsRuntime;

/// Builds the observability stack. [`initialize_observability`](crate::initialize_observability)
/// is this with the config alone; tests, benches and advanced users add
/// exporters, readers and switches here.
pub struct ObservabilityBuilder {
    config: ObservabilityConfig,
    exporters: Vec<ExporterFactory>,
    readers: Vec<Box<dyn MetricReader>>,
    tracing: bool,
    metrics: bool,
    logs: bool,
    log_writer: Option<BoxMakeWriter>,
    redactor: Option<crate::llm::Redactor>,
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
            .field("llm_redactor", &self.redactor.is_some())
            .finish()
    }
}

/// Setup did not start everything asked for (see
/// [`ObservabilityBuilder::try_install`]): the report says what failed,
/// and nothing stays installed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}; nothing was installed\n{report}")]
#[non_exhaustive]
pub struct InitError {
    /// What setup did and what failed (for an earlier install: its report).
    pub report: StatusReport,
    reason: &'static str,
}

impl InitError {
    fn failed(report: StatusReport) -> Self {
        InitError {
            report,
            reason: "observability setup failed",
        }
    }

    pub(super) fn already_installed(report: StatusReport) -> Self {
        InitError {
            report,
            reason: "initialize_observability already installed a stack (shut it down first)",
        }
    }
}

/// How long a failed `try_install` waits for what it built to shut down.
const UNDO_DEADLINE: Duration = Duration::from_secs(2);

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
            redactor: None,
        }
    }

    /// Adds a span exporter to the span pipeline (batched or not per the config),
    /// with the same accounting as the built-in ones.
    pub fn with_span_exporter<E: SpanExporter + 'static>(mut self, exporter: E) -> Self {
        let n = self.exporters.len() + 1;
        self.exporters.push(Box::new(move |rt, cfg, resource| {
            outlet(format!("custom-{n}"), exporter, rt, cfg, resource)
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

    /// Rewrites each prompt and completion message before it is recorded,
    /// when `llm_capture_content` is on (masks e-mail addresses, keys,
    /// account numbers, …). Runs on the application's thread for every
    /// message of every captured call: keep it cheap.
    ///
    /// ```
    /// # use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
    /// let cfg = ObservabilityConfig::builder()
    ///     .env(EnvSource::None)
    ///     .llm_capture_content(true)
    ///     .build()
    ///     .unwrap();
    /// let builder = ObservabilityBuilder::new(cfg)
    ///     .llm_redactor(|text: &str| text.replace("hunter2", "[redacted]"));
    /// # drop(builder);
    /// ```
    pub fn llm_redactor<F>(mut self, redact: F) -> Self
    where
        F: Fn(&str) -> String + Send + Sync + 'static,
    {
        self.redactor = Some(std::sync::Arc::new(redact));
        self
    }

    /// Builds providers and exporters without installing anything global
    /// (non-global mode). Never panics; failures are in the report.
    pub fn build(self) -> Observability {
        let cfg = self.config;
        let mut report = StatusReport::new(cfg.sdk_disabled, self.logs);
        let rt = match ObsRuntime::new() {
            Ok(rt) => Some(rt),
            Err(e) => {
                report.fail(
                    "runtime",
                    format!("cannot start the exporter runtime thread: {e}"),
                );
                None
            }
        };
        let (Some(rt), false) = (rt, cfg.sdk_disabled) else {
            report.logs = SignalState::Off;
            return Observability::disabled(cfg, report);
        };
        let resource = traces::resource(&cfg);
        let viewer = (self.tracing && cfg.viewer_enabled()).then(|| {
            let token = cfg.viewer_token.as_ref().map(crate::config::Secret::expose);
            crate::viewer::Viewer::new(cfg.viewer_max_bytes, token)
        });
        let traces = if self.tracing {
            traces::build(
                &rt,
                &cfg,
                &resource,
                self.exporters,
                viewer.as_ref(),
                &mut report,
            )
        } else {
            traces::Traces::off(&cfg, &resource)
        };
        let metrics = if self.metrics {
            metrics::build(&rt, &cfg, resource, self.readers, self.tracing, &mut report)
        } else {
            Metrics::off(resource)
        };
        if let (Some(v), Some(p)) = (&viewer, &metrics.prometheus) {
            v.read_metrics_from(p);
        }
        let server = super::serve::start(
            &rt,
            &cfg,
            metrics.prometheus.as_ref(),
            viewer.as_ref(),
            &mut report,
        );
        if report.metrics != SignalState::Off {
            // The server's failure is the metrics signal's too.
            report.metrics = report.state_of("metrics");
        }
        register_self_metrics(
            &metrics.provider,
            &traces.views,
            &metrics.stats,
            server.as_ref().map(Server::stats),
            viewer.clone(),
        );
        let mut obs = Observability {
            log_writer: self.logs.then(|| SharedWriter::new(self.log_writer)),
            config: cfg,
            _runtime: Some(rt),
            tracer_provider: Some(traces.provider),
            meter_provider: Some(Meters(metrics.provider)),
            span_pipeline: traces.pipeline,
            metered: self.metrics,
            pipelines: traces.views,
            metric_stats: metrics.stats,
            report,
            shut_down: Default::default(),
            prometheus: metrics.prometheus,
            metrics_server: std::sync::Mutex::new(server),
            viewer,
            telemetry: primitives_core::Telemetry::builder().build(),
            other_metric_readers: metrics.other_readers,
            id: super::observability::next_id(),
        };
        obs.telemetry = obs.build_telemetry(self.redactor);
        obs
    }

    /// Builds and installs globally: OpenTelemetry globals, propagators,
    /// our `tracing` subscriber, and the core's telemetry (so primitives
    /// built earlier record from now on). What failed is in the report;
    /// what started keeps running.
    pub fn install(self) -> ObservabilityGuard {
        self.build().install_global()
    }

    /// Like [`install`](Self::install), failing fast (the convention of
    /// `tracing_subscriber`'s `try_init`): `Err` with the report when
    /// anything asked for is not running — an unreachable endpoint, a port
    /// in use, an existing global subscriber — and then nothing stays
    /// installed, so a second try can succeed.
    pub fn try_install(self) -> Result<ObservabilityGuard, InitError> {
        let obs = self.build();
        if !obs.report().all_live() {
            let report = obs.report().clone();
            obs.shutdown(UNDO_DEADLINE);
            return Err(InitError::failed(report));
        }
        match obs.install(true) {
            Ok(guard) => Ok(guard),
            Err(InstallFailed(guard)) => {
                let report = guard.report().clone();
                guard.shutdown(UNDO_DEADLINE);
                Err(InitError::failed(report))
            }
        }
    }
}
