//! Accounting: every span and export is counted, and export errors are
//! logged once per kind.
//!
//! `spans ended = exported + export_failed + dropped_queue_full +
//! dropped_after_shutdown + in_flight`, exactly, at every quiescent moment
//! (the pipeline adds the queue's counts to what each exporter settled).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use opentelemetry_sdk::error::OTelSdkError;

/// Export errors by kind: (count, first message).
pub type ErrorsByKind = BTreeMap<String, (u64, String)>;

/// One exporter's span accounting at a moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
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

/// What one exporter settled: the spans of batches it exported or that
/// failed.
#[derive(Debug, Default)]
pub(crate) struct SpanStats {
    exported: AtomicU64,
    export_failed: AtomicU64,
    export_errors: ErrorLog,
}

impl SpanStats {
    /// (exported, failed) so far.
    pub(crate) fn settled(&self) -> (u64, u64) {
        (
            self.exported.load(Ordering::SeqCst),
            self.export_failed.load(Ordering::SeqCst),
        )
    }

    /// Export errors seen, by kind, with the first message of each kind.
    pub(crate) fn export_errors(&self) -> ErrorsByKind {
        self.export_errors.snapshot()
    }
}

/// Live metric-export counters.
#[derive(Debug, Default)]
pub(crate) struct MetricExportStats {
    exported: AtomicU64,
    failed: AtomicU64,
    errors: ErrorLog,
}

impl MetricExportStats {
    /// (successful, failed) exports so far.
    pub(crate) fn settled(&self) -> (u64, u64) {
        (
            self.exported.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Export errors seen, by kind.
    pub(crate) fn export_errors(&self) -> ErrorsByKind {
        self.errors.snapshot()
    }
}

/// Where an export's outcome is counted.
pub(crate) trait Settles: Send + Sync + 'static {
    /// The signal, for the error log.
    const SIGNAL: &'static str;
    /// `n` items exported.
    fn exported(&self, n: u64);
    /// `n` items failed with `err`.
    fn failed(&self, n: u64, err: &OTelSdkError);
}

impl Settles for SpanStats {
    const SIGNAL: &'static str = "traces";
    fn exported(&self, n: u64) {
        self.exported.fetch_add(n, Ordering::SeqCst);
    }
    fn failed(&self, n: u64, err: &OTelSdkError) {
        self.export_errors.record(Self::SIGNAL, err);
        self.export_failed.fetch_add(n, Ordering::SeqCst);
    }
}

impl Settles for MetricExportStats {
    const SIGNAL: &'static str = "metrics";
    fn exported(&self, _n: u64) {
        self.exported.fetch_add(1, Ordering::Relaxed);
    }
    fn failed(&self, _n: u64, err: &OTelSdkError) {
        self.errors.record(Self::SIGNAL, err);
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts errors per kind and logs each kind once.
#[derive(Debug, Default)]
pub(crate) struct ErrorLog {
    kinds: Mutex<ErrorsByKind>,
}

impl ErrorLog {
    /// Records one error of `signal`'s exporter.
    pub(crate) fn record(&self, signal: &str, err: &OTelSdkError) {
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
    pub(crate) fn snapshot(&self) -> ErrorsByKind {
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
