//! The span export pipeline: a sharded queue filled on the application's
//! threads and drained by one exporter thread, which converts spans to the
//! SDK's export shape and hands each batch to every exporter.
//!
//! It replaces the SDK's `BatchSpanProcessor` for two reasons. Steps record
//! [`FinishedSpan`]s (attributes still in parts), so the conversion to
//! `SpanData` — allocations, attribute lists — happens here, off the
//! application's threads. And every span is accounted for exactly: a
//! producer pushes under its shard's lock, which also counts what it
//! dropped, so `ended = exported + export_failed + dropped + in_flight` per
//! exporter at every moment.
//!
//! Users' own SDK spans (the OpenTelemetry API, `tracing`) come in through
//! `PipelineProcessor` and share the queue and accounting.

mod limits;
mod queue;
mod roots;
mod worker;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use primitives_core::sink::{FinishedSpan, SpanSink};

pub(crate) use limits::SpanLimits;
pub(crate) use queue::Queue;
use queue::{lock, Item};
pub(crate) use roots::RootSpans;
pub(crate) use worker::Outlet;
use worker::Worker;

use crate::accounting::{ErrorsByKind, SpanCounts, SpanStats};
use crate::runtime::ObsRuntime;

/// Pipeline settings (from the config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PipelineOptions {
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
    /// How long spans may wait before an export when no shard fills.
    pub(crate) schedule_delay: Duration,
    /// Export each span as soon as it ends (no batching delay).
    pub(crate) immediate: bool,
    /// Applied to every span before export.
    pub(crate) limits: SpanLimits,
    /// How run roots are dressed.
    pub(crate) roots: RootSpans,
}

/// The span pipeline: queue, exporter thread and exporters. A
/// [`SpanSink`] for steps and, through `PipelineProcessor`, the span
/// processor of the SDK tracer provider.
pub(crate) struct SpanPipeline {
    queue: Arc<Queue>,
    outlets: Arc<Vec<Outlet>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl fmt::Debug for SpanPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanPipeline")
            .field("queue", &self.queue)
            .field(
                "exporters",
                &self.outlets.iter().map(|o| &o.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SpanPipeline {
    /// Starts the exporter thread. `Err` if the thread cannot be started.
    pub(crate) fn start(
        options: PipelineOptions,
        outlets: Vec<Outlet>,
        rt: &ObsRuntime,
        queue: Arc<Queue>,
    ) -> std::io::Result<SpanPipeline> {
        let outlets = Arc::new(outlets);
        let worker = Worker {
            queue: queue.clone(),
            outlets: outlets.clone(),
            rt: rt.clone(),
            scope: primitives_core::telemetry::instrumentation_scope(),
            limits: options.limits,
            roots: options.roots,
            batch: options.max_export_batch_size.max(1),
            delay: if options.immediate {
                Duration::from_millis(1)
            } else {
                options.schedule_delay.max(Duration::from_millis(1))
            },
        };
        let thread = std::thread::Builder::new()
            .name("observability-spans".into())
            .spawn(move || worker.run())?;
        Ok(SpanPipeline {
            queue,
            outlets,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// A queue for [`start`](Self::start), sized by `options`.
    pub(crate) fn queue(options: &PipelineOptions) -> Arc<Queue> {
        let wake = if options.immediate {
            1
        } else {
            options.max_export_batch_size
        };
        Arc::new(Queue::new(options.max_queue_size, wake))
    }

    /// Exports everything queued before this call; `Err` if that did not
    /// finish within `timeout`.
    pub(crate) fn force_flush(&self, timeout: Duration) -> OTelSdkResult {
        let q = &self.queue;
        let deadline = Instant::now() + timeout;
        let mut sig = lock(&q.signal);
        if sig.stopped {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        sig.flush_requested += 1;
        let ticket = sig.flush_requested;
        sig.woken = true;
        q.wake.notify_all();
        while sig.flush_done < ticket && !sig.stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(OTelSdkError::Timeout(timeout));
            }
            if self.worker_gone() {
                return Err(OTelSdkError::InternalFailure(
                    "the span exporter thread is gone".into(),
                ));
            }
            sig = q
                .wake
                .wait_timeout(sig, left.min(Duration::from_millis(100)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if sig.flush_done >= ticket && sig.flush_failed {
            return Err(OTelSdkError::InternalFailure(
                "some spans failed to export (see the export errors in the status report)".into(),
            ));
        }
        Ok(())
    }

    fn worker_gone(&self) -> bool {
        lock(&self.thread)
            .as_ref()
            .is_none_or(std::thread::JoinHandle::is_finished)
    }

    /// Stops taking spans (later ones are counted as dropped after
    /// shutdown), exports what is queued and shuts the exporters down,
    /// within `timeout`.
    pub(crate) fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        if self.queue.shut_down.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.queue.notify();
        let handle = lock(&self.thread).take();
        let mut result = Ok(());
        if let Some(handle) = handle {
            // The worker exits after its final export round.
            while !handle.is_finished() {
                if Instant::now() >= deadline {
                    result = Err(OTelSdkError::Timeout(timeout));
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            if handle.is_finished() && handle.join().is_err() && result.is_ok() {
                result = Err(OTelSdkError::InternalFailure(
                    "the span exporter thread panicked".into(),
                ));
            }
        }
        for o in self.outlets.iter() {
            let left = deadline.saturating_duration_since(Instant::now());
            // One exporter panicking in shutdown must not stop the others'
            // (or the meter provider's, after this) from shutting down.
            let shut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                o.exporter.shutdown(left.max(Duration::from_millis(10)))
            }))
            .unwrap_or_else(|_| {
                Err(OTelSdkError::InternalFailure(format!(
                    "span exporter {} panicked in shutdown",
                    o.name
                )))
            });
            if let Err(e) = shut {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }

    pub(crate) fn push_step(&self, span: FinishedSpan) {
        self.queue.push(Item::Step(span));
    }
}

impl SpanSink for SpanPipeline {
    fn export(&self, span: FinishedSpan) {
        self.push_step(span);
    }
}

impl Drop for SpanPipeline {
    fn drop(&mut self) {
        // Stop the thread; what is still queued is exported first.
        if !self.queue.shut_down.load(Ordering::Acquire) {
            let _ = self.shutdown(Duration::from_secs(1));
        }
    }
}

/// The SDK tracer provider's span processor: users' own spans join the
/// pipeline's queue.
#[derive(Debug)]
pub(crate) struct PipelineProcessor(pub(crate) Arc<SpanPipeline>);

impl SpanProcessor for PipelineProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.0.queue.push(Item::Sdk(Box::new(span)));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush(Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown(timeout)
    }

    fn set_resource(&mut self, _resource: &Resource) {
        // The exporters got the resource when the pipeline was built.
    }
}

/// One exporter's live span accounting: the queue's counts plus what the
/// exporter settled.
#[derive(Debug, Clone)]
pub(crate) struct ExporterView {
    queue: Arc<Queue>,
    stats: Arc<SpanStats>,
}

impl ExporterView {
    pub(crate) fn new(queue: Arc<Queue>, stats: Arc<SpanStats>) -> Self {
        ExporterView { queue, stats }
    }

    /// Current counts. What the exporter settled is read before the queue,
    /// so a span racing through the pipeline is never counted twice.
    pub(crate) fn snapshot(&self) -> SpanCounts {
        let (exported, failed) = self.stats.settled();
        let q = self.queue.counts();
        SpanCounts {
            ended: q.ended,
            exported,
            export_failed: failed,
            dropped_queue_full: q.dropped_full,
            dropped_after_shutdown: q.dropped_after_shutdown,
            in_flight: q.queued + q.taken.saturating_sub(exported + failed),
        }
    }

    /// Export errors by kind.
    pub(crate) fn export_errors(&self) -> ErrorsByKind {
        self.stats.export_errors()
    }
}
