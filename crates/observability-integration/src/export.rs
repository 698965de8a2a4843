//! Exporter plumbing: every span is accounted for, exports run on the
//! integration's runtime with a deadline, and export errors are logged once
//! per kind and counted.
//!
//! `spans ended = exported + export_failed + dropped_queue_full +
//! dropped_after_shutdown + in_flight`, exactly, at every quiescent moment.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::trace::Status;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::pipeline::Queue;
use crate::runtime::ObsRuntime;

/// Export errors by kind: (count, first message).
pub type ErrorsByKind = BTreeMap<String, (u64, String)>;

/// Live span counters of one exporter: the pipeline's queue counts plus
/// what this exporter settled.
#[derive(Debug)]
pub struct SpanStats {
    queue: Arc<Queue>,
    exported: AtomicU64,
    export_failed: AtomicU64,
    export_errors: ErrorLog,
}

/// A snapshot of [`SpanStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpanCounts {
    /// Sampled spans that ended (were handed to the pipeline).
    pub ended: u64,
    /// Spans the backend accepted.
    pub exported: u64,
    /// Spans in export calls that failed or timed out.
    pub export_failed: u64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Spans that ended after shutdown.
    pub dropped_after_shutdown: u64,
    /// Spans queued or being exported right now.
    pub in_flight: u64,
}

impl SpanCounts {
    /// All spans lost so far.
    pub fn dropped(&self) -> u64 {
        self.export_failed + self.dropped_queue_full + self.dropped_after_shutdown
    }

    /// `ended == exported + dropped + in_flight`.
    pub fn balanced(&self) -> bool {
        self.ended == self.exported + self.dropped() + self.in_flight
    }
}

impl SpanStats {
    pub(crate) fn new(queue: Arc<Queue>) -> Self {
        SpanStats {
            queue,
            exported: AtomicU64::new(0),
            export_failed: AtomicU64::new(0),
            export_errors: ErrorLog::default(),
        }
    }

    /// Current counts. What this exporter settled is read before the queue,
    /// so a span racing through the pipeline is never counted twice.
    pub fn snapshot(&self) -> SpanCounts {
        let exported = self.exported.load(Ordering::SeqCst);
        let failed = self.export_failed.load(Ordering::SeqCst);
        crate::pipeline::counts_for(&self.queue, exported, failed)
    }

    /// Export errors seen, by kind, with the first message of each kind.
    pub fn export_errors(&self) -> ErrorsByKind {
        self.export_errors.snapshot()
    }
}

/// Counts errors per kind and logs each kind once.
#[derive(Debug, Default)]
pub struct ErrorLog {
    kinds: Mutex<ErrorsByKind>,
}

impl ErrorLog {
    /// Records one error of `signal`'s exporter.
    pub fn record(&self, signal: &str, err: &OTelSdkError) {
        let message = err.to_string();
        let kind = classify(err, &message);
        let mut kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = kinds.entry(kind.to_owned()).or_insert((0, message.clone()));
        entry.0 += 1;
        if entry.0 == 1 {
            tracing::warn!(
                target: "observability_integration::export",
                signal,
                kind,
                error = %message,
                "telemetry export failed; the application keeps running, telemetry is dropped and counted (further errors of this kind are not logged)"
            );
        }
    }

    /// Errors by kind: (count, first message).
    pub fn snapshot(&self) -> ErrorsByKind {
        self.kinds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn classify(err: &OTelSdkError, message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    match err {
        OTelSdkError::Timeout(_) => "timeout",
        OTelSdkError::AlreadyShutdown => "already_shutdown",
        _ if m.contains("deadline") || m.contains("timed out") || m.contains("timeout") => {
            "timeout"
        }
        _ if m.contains("connect")
            || m.contains("refused")
            || m.contains("unavailable")
            || m.contains("dns") =>
        {
            "unreachable"
        }
        _ => "export_error",
    }
}

/// Wraps a span exporter: runs each export on the integration runtime with
/// a deadline, and settles the batch's spans as exported or failed.
#[derive(Debug)]
pub(crate) struct BridgeSpanExporter<E> {
    inner: Arc<E>,
    rt: ObsRuntime,
    stats: Arc<SpanStats>,
    timeout: Duration,
}

impl<E: SpanExporter> BridgeSpanExporter<E> {
    pub(crate) fn new(inner: E, rt: ObsRuntime, stats: Arc<SpanStats>, timeout: Duration) -> Self {
        BridgeSpanExporter {
            inner: Arc::new(inner),
            rt,
            stats,
            timeout,
        }
    }
}

/// Settles a batch exactly once, also when its export future is dropped.
struct Settle {
    stats: Arc<SpanStats>,
    n: u64,
    done: bool,
}

impl Settle {
    fn finish(&mut self, result: &OTelSdkResult) {
        self.done = true;
        match result {
            Ok(()) => self.stats.exported.fetch_add(self.n, Ordering::SeqCst),
            Err(e) => {
                self.stats.export_errors.record("traces", e);
                self.stats.export_failed.fetch_add(self.n, Ordering::SeqCst)
            }
        };
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if !self.done {
            self.finish(&Err(OTelSdkError::InternalFailure(
                "export cancelled".into(),
            )));
        }
    }
}

impl<E: SpanExporter + 'static> SpanExporter for BridgeSpanExporter<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let mut settle = Settle {
            stats: self.stats.clone(),
            n: batch.len() as u64,
            done: false,
        };
        let inner = self.inner.clone();
        let timeout = self.timeout;
        self.rt.enter(async move {
            let result = match tokio::time::timeout(timeout, inner.export(batch)).await {
                Ok(r) => r,
                Err(_) => Err(OTelSdkError::Timeout(timeout)),
            };
            settle.finish(&result);
            result
        })
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// Live metric-export counters.
#[derive(Debug, Default)]
pub struct MetricExportStats {
    /// Successful exports.
    pub exported: AtomicU64,
    /// Failed or timed-out exports.
    pub failed: AtomicU64,
    /// Errors by kind.
    pub errors: ErrorLog,
}

/// Wraps a push metric exporter like [`BridgeSpanExporter`].
#[derive(Debug)]
pub(crate) struct BridgeMetricExporter<E> {
    inner: E,
    rt: ObsRuntime,
    stats: Arc<MetricExportStats>,
    timeout: Duration,
}

impl<E> BridgeMetricExporter<E> {
    pub(crate) fn new(
        inner: E,
        rt: ObsRuntime,
        stats: Arc<MetricExportStats>,
        timeout: Duration,
    ) -> Self {
        BridgeMetricExporter {
            inner,
            rt,
            stats,
            timeout,
        }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for BridgeMetricExporter<E> {
    fn export(
        &self,
        metrics: &ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let timeout = self.timeout;
        let stats = self.stats.clone();
        let fut = self.inner.export(metrics);
        self.rt.enter(async move {
            let result = match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(OTelSdkError::Timeout(timeout)),
            };
            match &result {
                Ok(()) => stats.exported.fetch_add(1, Ordering::SeqCst),
                Err(e) => {
                    stats.errors.record("metrics", e);
                    stats.failed.fetch_add(1, Ordering::SeqCst)
                }
            };
            result
        })
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// Human-readable span lines, for debugging (`enable_console_exporter`):
///
/// ```text
/// [trace 4bf92f35… span 00f067aa…<-b7ad6b71…] primitive.fetch 12.3ms OK primitive.type=lambda step.index=0
/// ```
pub struct ConsoleSpanExporter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for ConsoleSpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsoleSpanExporter")
    }
}

impl Default for ConsoleSpanExporter {
    fn default() -> Self {
        Self::new(Box::new(std::io::stderr()))
    }
}

impl ConsoleSpanExporter {
    /// Writes to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        ConsoleSpanExporter {
            out: Mutex::new(out),
        }
    }

    /// The line printed for `span`.
    pub fn format(span: &SpanData) -> String {
        let took = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default();
        let status = match &span.status {
            Status::Error { description } => format!("ERROR({description})"),
            Status::Ok => "OK".into(),
            Status::Unset => "UNSET".into(),
        };
        let attrs: Vec<String> = span
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        let short = |s: String| s.chars().take(8).collect::<String>();
        format!(
            "[trace {}… span {}…<-{}…] {} {:.3}ms {} {}",
            short(span.span_context.trace_id().to_string()),
            short(span.span_context.span_id().to_string()),
            short(span.parent_span_id.to_string()),
            span.name,
            took.as_secs_f64() * 1000.0,
            status,
            attrs.join(" ")
        )
    }
}

impl SpanExporter for ConsoleSpanExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let mut result = Ok(());
        for span in &batch {
            if let Err(e) = writeln!(out, "{}", Self::format(span)) {
                result = Err(OTelSdkError::InternalFailure(format!(
                    "console write failed: {e}"
                )));
                break;
            }
        }
        drop(out);
        std::future::ready(result)
    }
}

/// A span exporter that only counts what it receives (benches, tests).
#[derive(Debug, Clone, Default)]
pub struct CountingSpanExporter {
    received: Arc<AtomicU64>,
}

impl CountingSpanExporter {
    /// Spans received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

impl SpanExporter for CountingSpanExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.received
            .fetch_add(batch.len() as u64, Ordering::SeqCst);
        std::future::ready(Ok(()))
    }
}
