//! [`Observability`]: the built stack, its accessors, flush and shutdown.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_sdk::trace::SdkTracerProvider;
use primitives_core::sink::SpanSink;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::buckets::Meters;
use super::layers::{layers, SharedWriter};
use super::report::{ShutdownReport, StatusReport};
use crate::accounting::{ErrorsByKind, MetricExportStats, SpanCounts};
use crate::config::ObservabilityConfig;
use crate::metrics_server::Server;
use crate::pipeline::{ExporterView, SpanPipeline};
use crate::prometheus::PrometheusMetrics;
use crate::runtime::ObsRuntime;

/// The built stack. Non-global until [`install_global`](Self::install_global).
pub struct Observability {
    pub(super) config: ObservabilityConfig,
    /// The exporters' runtime, kept alive as long as the stack.
    pub(super) _runtime: Option<ObsRuntime>,
    pub(super) tracer_provider: Option<SdkTracerProvider>,
    pub(super) meter_provider: Option<Meters>,
    pub(super) span_pipeline: Option<Arc<SpanPipeline>>,
    pub(super) metered: bool,
    pub(super) pipelines: Vec<(String, ExporterView)>,
    pub(super) metric_stats: Arc<MetricExportStats>,
    pub(super) report: StatusReport,
    /// Where our log layer writes (`None`: logs off).
    pub(super) log_writer: Option<SharedWriter>,
    pub(super) shut_down: Mutex<Option<ShutdownReport>>,
    pub(super) prometheus: Option<PrometheusMetrics>,
    pub(super) metrics_server: Mutex<Option<Server>>,
    pub(super) viewer: Option<crate::viewer::Viewer>,
    pub(super) telemetry: primitives_core::Telemetry,
    /// Metric readers besides Prometheus (OTLP, custom).
    pub(super) other_metric_readers: bool,
    /// This stack's identity, for the global subscriber's owner.
    pub(super) id: u64,
}

/// The stack whose providers and telemetry are the process's globals now
/// (0: none of ours).
pub(super) static GLOBAL_OWNER: AtomicU64 = AtomicU64::new(0);

/// A new stack identity (never 0).
pub(super) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl fmt::Debug for Observability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observability")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl Observability {
    pub(super) fn disabled(config: ObservabilityConfig, report: StatusReport) -> Self {
        Observability {
            config,
            _runtime: None,
            tracer_provider: None,
            meter_provider: None,
            span_pipeline: None,
            metered: false,
            pipelines: Vec::new(),
            metric_stats: Arc::default(),
            report,
            log_writer: None,
            shut_down: Mutex::new(None),
            prometheus: None,
            metrics_server: Mutex::new(None),
            viewer: None,
            telemetry: primitives_core::Telemetry::builder().build(),
            other_metric_readers: false,
            id: next_id(),
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
    pub fn meter_provider(&self) -> Option<&Meters> {
        self.meter_provider.as_ref()
    }

    /// A core telemetry handle on these providers: pass it to
    /// `WorkflowContext::with_telemetry` (non-global) or
    /// `primitives_core::telemetry::set_global`.
    pub fn telemetry(&self) -> primitives_core::Telemetry {
        self.telemetry.clone()
    }

    pub(super) fn build_telemetry(
        &self,
        redact: Option<crate::llm::Redactor>,
    ) -> primitives_core::Telemetry {
        let mut b = primitives_core::Telemetry::builder()
            .in_process_metrics(!self.report.sdk_disabled)
            .correlation_in_context(self.log_writer.is_some() && self.config.log_correlation);
        if let Some(p) = &self.span_pipeline {
            // Steps record into the pipeline directly, with the same
            // sampler as `sampler()` builds for the SDK provider.
            let sink: Arc<dyn SpanSink> = p.clone();
            b = b.span_sink(sink).sampling(
                self.config.trace_sample_rate,
                self.config.trace_parent_based,
            );
        }
        if let (Some(mp), true) = (&self.meter_provider, self.metered) {
            b = b.meter_provider(&mp.0);
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
        let cost = crate::llm::RunCostObserver::new(
            self.meter_provider
                .as_ref()
                .filter(|_| self.metered && self.other_metric_readers)
                .map(|mp| {
                    opentelemetry::metrics::MeterProvider::meter_with_scope(
                        &mp.0,
                        primitives_core::telemetry::instrumentation_scope(),
                    )
                })
                .as_ref(),
            self.prometheus
                .as_ref()
                .and_then(PrometheusMetrics::run_costs),
        );
        if cost.is_useful() {
            b = b.run_observer(Arc::new(cost));
        }
        let telemetry = b.build();
        // LLM calls price with the config's table (checked when the config
        // was built; the built-in one if the file went away since).
        let pricing = self.config.llm_pricing().unwrap_or_else(|e| {
            tracing::warn!(target: "observability_integration::llm", error = %e, "using the built-in LLM pricing table");
            crate::llm::Pricing::builtin()
        });
        let content = crate::llm::ContentPolicy {
            capture: self.config.llm_capture_content,
            redact,
        };
        telemetry.extension(|_| crate::llm::LlmSettings { pricing, content });
        telemetry
    }

    /// The trace viewer, when `enable_viewer` is on: its routes (to mount
    /// in your own app) and its store's accounting.
    pub fn viewer(&self) -> Option<&crate::viewer::Viewer> {
        self.viewer.as_ref()
    }

    pub(super) fn viewer_store(&self) -> Option<Arc<crate::viewer::Store>> {
        self.viewer.as_ref().map(crate::viewer::Viewer::store)
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
    pub fn export_errors(&self) -> Vec<(String, ErrorsByKind)> {
        let mut out: Vec<_> = self
            .pipelines
            .iter()
            .map(|(n, s)| (n.clone(), s.export_errors()))
            .collect();
        out.push(("metrics".into(), self.metric_stats.export_errors()));
        out
    }

    /// Our layers for a `tracing` subscriber you build yourself: the
    /// OpenTelemetry layer (your `tracing` spans join the same traces) and
    /// the log formatter (JSON or human, with trace correlation). Call it as
    /// often as you like: every layer writes to the configured writer.
    pub fn layer<S>(&self) -> Box<dyn Layer<S> + Send + Sync + 'static>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        layers(
            &self.config,
            self.tracer_provider.as_ref(),
            self.log_writer.as_ref(),
            self.viewer_store(),
        )
    }

    /// Flushes everything queued to the exporters, waiting at most
    /// `deadline`. `false` when that did not finish in time or an export
    /// failed (the failures are counted in [`span_counts`](Self::span_counts)
    /// and described in [`export_errors`](Self::export_errors)).
    pub fn force_flush(&self, deadline: Duration) -> bool {
        let (spans, mp) = (
            self.span_pipeline.clone(),
            self.meter_provider.as_ref().map(|m| m.0.clone()),
        );
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
            true
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
        // Only while the globals are still this stack's: the old guard of
        // `guard = install(..)` drops after the new stack is installed.
        let owns_globals = self.report.global
            && GLOBAL_OWNER
                .compare_exchange(self.id, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
        if owns_globals {
            // Nothing global keeps this stack alive once it is shut down:
            // the core's slot, the OpenTelemetry providers, our subscriber's
            // tracer.
            primitives_core::telemetry::clear_global();
            opentelemetry::global::set_tracer_provider(
                opentelemetry::trace::noop::NoopTracerProvider::new(),
            );
            opentelemetry::global::set_meter_provider(
                opentelemetry::metrics::NoopMeterProvider::new(),
            );
        }
        if self.report.subscriber_installed {
            super::subscriber::release(self.id);
        }
        let (tp, mp) = (
            self.tracer_provider.clone(),
            self.meter_provider.as_ref().map(|m| m.0.clone()),
        );
        let completed = off_thread(deadline, move || {
            use std::panic::{catch_unwind, AssertUnwindSafe};
            // Each provider is shut down whatever the other did (a custom
            // exporter or reader may panic in its shutdown: not completed).
            let mut clean = true;
            if let Some(tp) = tp {
                // The span pipeline's shutdown exports what is queued first,
                // within this deadline (a separate flush would not be bounded
                // by it).
                clean &=
                    catch_unwind(AssertUnwindSafe(|| tp.shutdown_with_timeout(deadline))).is_ok();
            }
            if let Some(mp) = mp {
                clean &=
                    catch_unwind(AssertUnwindSafe(|| mp.shutdown_with_timeout(deadline))).is_ok();
            }
            clean
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
            viewer: self.viewer.as_ref().map(crate::viewer::Viewer::stats),
        };
        *done = Some(report.clone());
        report
    }
}

/// Runs `f` on a new plain thread and waits for it at most `deadline`:
/// whether it finished in time and returned true.
pub(super) fn off_thread(deadline: Duration, f: impl FnOnce() -> bool + Send + 'static) -> bool {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("observability-shutdown".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    spawned.is_ok()
        && rx
            .recv_timeout(deadline + Duration::from_millis(500))
            .unwrap_or(false)
}
