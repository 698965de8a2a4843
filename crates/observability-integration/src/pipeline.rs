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

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, InstrumentationScope};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    Span, SpanData, SpanEvents, SpanExporter, SpanLinks, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use primitives_core::span::{FinishedSpan, SpanSink};

use crate::export::SpanStats;
use crate::runtime::ObsRuntime;

/// Producers add to the shared queue length in steps of this many spans
/// (one contended atomic per step, not per span); the bound is exact to
/// within this many spans per shard.
const REPORT_EVERY: usize = 32;

/// A queued span. The large variant is the common one on purpose: boxing
/// step spans would cost an allocation per step (freed on another thread).
#[allow(clippy::large_enum_variant)]
enum Item {
    Step(FinishedSpan),
    /// Boxed: users' SDK spans are larger than step spans and rarer.
    Sdk(Box<SpanData>),
}

#[derive(Default)]
struct Shard {
    items: Vec<Item>,
    /// Pushed but not yet added to `Queue::queued`.
    unreported: usize,
    ended: u64,
    taken: u64,
    dropped_full: u64,
    dropped_after_shutdown: u64,
}

/// A shard on its own cache lines.
#[repr(align(128))]
#[derive(Default)]
struct PaddedShard(Mutex<Shard>);

/// The queue's counters, summed over shards.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct QueueCounts {
    pub(crate) ended: u64,
    pub(crate) queued: u64,
    pub(crate) taken: u64,
    pub(crate) dropped_full: u64,
    pub(crate) dropped_after_shutdown: u64,
}

/// The span queue: shards picked per thread.
pub(crate) struct Queue {
    shards: Box<[PaddedShard]>,
    queued: AtomicUsize,
    max: usize,
    wake_at: usize,
    shut_down: AtomicBool,
    warned_full: AtomicBool,
    /// The exporter thread waits; producers wake it when a shard fills.
    sleeping: AtomicBool,
    signal: Mutex<Signal>,
    wake: Condvar,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("shards", &self.shards.len())
            .field("max", &self.max)
            .field("counts", &self.counts())
            .finish()
    }
}

#[derive(Debug, Default)]
struct Signal {
    woken: bool,
    flush_requested: u64,
    flush_done: u64,
    /// Whether an export failed in the round that last completed a flush.
    flush_failed: bool,
    stopped: bool,
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Queue {
    fn new(max: usize, batch: usize) -> Queue {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let n = (threads * 2).clamp(4, 64);
        let max = max.max(1);
        Queue {
            shards: (0..n).map(|_| PaddedShard::default()).collect(),
            queued: AtomicUsize::new(0),
            max,
            wake_at: batch.clamp(1, (max / 2).max(1)),
            shut_down: AtomicBool::new(false),
            warned_full: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            signal: Mutex::new(Signal::default()),
            wake: Condvar::new(),
        }
    }

    fn shard(&self) -> &Mutex<Shard> {
        let i = SHARD_INDEX.with(|c| {
            let mut i = c.get();
            if i == usize::MAX {
                i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
                c.set(i);
            }
            i
        });
        &self.shards[i % self.shards.len()].0
    }

    fn push(&self, item: Item) {
        let mut s = lock(self.shard());
        s.ended += 1;
        if self.shut_down.load(Ordering::Acquire) {
            s.dropped_after_shutdown += 1;
            return;
        }
        let queued = self.queued.load(Ordering::Relaxed) + s.unreported;
        if queued >= self.max {
            s.dropped_full += 1;
            drop(s);
            if self.sleeping.swap(false, Ordering::AcqRel) {
                self.notify();
            }
            if !self.warned_full.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    target: "observability_integration::export",
                    max_queue_size = self.max,
                    "span queue full: spans are being dropped and counted; raise max_queue_size (OTEL_BSP_MAX_QUEUE_SIZE) or lower the span rate"
                );
            }
            return;
        }
        s.items.push(item);
        s.unreported += 1;
        if s.unreported >= REPORT_EVERY {
            self.queued.fetch_add(s.unreported, Ordering::Relaxed);
            s.unreported = 0;
        }
        // A batch is ready in this shard or across all of them (spans
        // spread over many threads' shards must wake the exporter too).
        let full = s.items.len() >= self.wake_at || queued + 1 >= self.wake_at;
        drop(s);
        if full && self.sleeping.swap(false, Ordering::AcqRel) {
            self.notify();
        }
    }

    fn notify(&self) {
        lock(&self.signal).woken = true;
        self.wake.notify_all();
    }

    /// Swaps shard `i`'s queued spans with `out` (empty), so both keep
    /// their capacity and nothing is copied.
    fn take_shard(&self, i: usize, out: &mut Vec<Item>) {
        let mut s = lock(&self.shards[i].0);
        if s.items.is_empty() {
            return;
        }
        let n = s.items.len();
        self.queued.fetch_sub(n - s.unreported, Ordering::Relaxed);
        s.unreported = 0;
        s.taken += n as u64;
        std::mem::swap(&mut s.items, out);
    }

    pub(crate) fn counts(&self) -> QueueCounts {
        let mut c = QueueCounts::default();
        for shard in self.shards.iter() {
            let s = lock(&shard.0);
            c.ended += s.ended;
            c.queued += s.items.len() as u64;
            c.taken += s.taken;
            c.dropped_full += s.dropped_full;
            c.dropped_after_shutdown += s.dropped_after_shutdown;
        }
        c
    }
}

/// An exporter behind the pipeline, object-safe.
trait DynExporter: Send + Sync {
    fn export(&self, batch: Vec<SpanData>) -> BoxFuture<'_, OTelSdkResult>;
    fn shutdown(&self, timeout: Duration) -> OTelSdkResult;
}

impl<E: SpanExporter + 'static> DynExporter for E {
    fn export(&self, batch: Vec<SpanData>) -> BoxFuture<'_, OTelSdkResult> {
        Box::pin(SpanExporter::export(self, batch))
    }
    fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        SpanExporter::shutdown_with_timeout(self, timeout)
    }
}

/// One exporter with its accounting.
pub(crate) struct Outlet {
    pub(crate) name: String,
    pub(crate) stats: Arc<SpanStats>,
    exporter: Box<dyn DynExporter>,
}

impl Outlet {
    /// `exporter` must settle its batches into `stats` (the
    /// [`BridgeSpanExporter`](crate::export::BridgeSpanExporter) does).
    pub(crate) fn new<E: SpanExporter + 'static>(
        name: String,
        stats: Arc<SpanStats>,
        mut exporter: E,
        resource: &Resource,
    ) -> Outlet {
        exporter.set_resource(resource);
        Outlet {
            name,
            stats,
            exporter: Box::new(exporter),
        }
    }
}

/// Pipeline settings (from the config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PipelineOptions {
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
    /// How long spans may wait before an export when no shard fills.
    pub(crate) schedule_delay: Duration,
    /// Export each span as soon as it ends (no batching delay).
    pub(crate) immediate: bool,
}

/// The span pipeline: queue, exporter thread and exporters. A
/// [`SpanSink`] for steps and, through `PipelineProcessor`, the span
/// processor of the SDK tracer provider.
pub struct SpanPipeline {
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
    pub fn force_flush(&self, timeout: Duration) -> OTelSdkResult {
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
    pub fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
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
            if let Err(e) = o.exporter.shutdown(left.max(Duration::from_millis(10))) {
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

/// The exporter thread.
struct Worker {
    queue: Arc<Queue>,
    outlets: Arc<Vec<Outlet>>,
    rt: ObsRuntime,
    scope: InstrumentationScope,
    batch: usize,
    delay: Duration,
}

impl Worker {
    fn run(self) {
        let mut items: Vec<Item> = Vec::new();
        let mut busy = false;
        loop {
            // While the last round found a full batch, go again at once.
            let (ticket, stop) = self.wait(busy);
            // Producers check the shutdown flag under their shard's lock,
            // so a round that starts after it was set sees every span
            // pushed before.
            let (taken, failed) = self.export_queued(&mut items);
            busy = taken >= self.batch;
            let mut sig = lock(&self.queue.signal);
            if ticket > sig.flush_done {
                sig.flush_done = ticket;
                sig.flush_failed = failed;
            }
            if stop {
                sig.stopped = true;
            }
            drop(sig);
            self.queue.wake.notify_all();
            if stop {
                return;
            }
        }
    }

    /// Exports what every shard holds now, shard by shard, in batches.
    /// Returns how many spans it took and whether an export failed.
    fn export_queued(&self, items: &mut Vec<Item>) -> (usize, bool) {
        let mut taken = 0;
        let mut failed = false;
        for i in 0..self.queue.shards.len() {
            self.queue.take_shard(i, items);
            taken += items.len();
            let mut it = items.drain(..);
            loop {
                let batch: Vec<SpanData> = it
                    .by_ref()
                    .take(self.batch)
                    .map(|item| self.convert(item))
                    .collect();
                if batch.is_empty() {
                    break;
                }
                failed |= !self.send(batch);
            }
        }
        (taken, failed)
    }

    /// Waits for a full shard, a flush, shutdown or the delay. Returns the
    /// flush ticket this round serves and whether to stop.
    fn wait(&self, busy: bool) -> (u64, bool) {
        let q = &self.queue;
        let mut sig = lock(&q.signal);
        if !busy && !sig.woken && !q.shut_down.load(Ordering::Acquire) {
            q.sleeping.store(true, Ordering::Release);
            sig = q
                .wake
                .wait_timeout(sig, self.delay)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            q.sleeping.store(false, Ordering::Release);
        }
        sig.woken = false;
        (sig.flush_requested, q.shut_down.load(Ordering::Acquire))
    }

    /// Hands one batch to every exporter, concurrently; each export settles
    /// its own accounting and is bounded by the export timeout
    /// (`BridgeSpanExporter`). An exporter that panics fails its batch
    /// (settled as failed when its future is dropped) and the thread goes
    /// on. Returns whether every export succeeded.
    fn send(&self, batch: Vec<SpanData>) -> bool {
        let last = self.outlets.len().saturating_sub(1);
        let mut batch = Some(batch);
        let mut exports = Vec::with_capacity(self.outlets.len());
        for (i, o) in self.outlets.iter().enumerate() {
            let b = if i == last {
                batch.take().unwrap_or_default()
            } else {
                batch.clone().unwrap_or_default()
            };
            exports.push(o.exporter.export(b));
        }
        let handle = self.rt.handle();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle.block_on(futures_util::future::join_all(exports))
        })) {
            Ok(results) => results.iter().all(Result::is_ok),
            Err(_) => {
                tracing::error!(
                    target: "observability_integration::export",
                    "a span exporter panicked; its batch is counted as failed and export goes on"
                );
                false
            }
        }
    }

    fn convert(&self, item: Item) -> SpanData {
        match item {
            Item::Sdk(data) => *data,
            Item::Step(span) => {
                let p = span.into_parts();
                let mut events = SpanEvents::default();
                events.events = p.events;
                events.dropped_count = p.dropped_events_count;
                let mut links = SpanLinks::default();
                links.links = p.links;
                links.dropped_count = p.dropped_links_count;
                SpanData {
                    span_context: p.span_context,
                    parent_span_id: p.parent_span_id,
                    parent_span_is_remote: p.parent_is_remote,
                    span_kind: SpanKind::Internal,
                    name: p.name,
                    start_time: p.start_time,
                    end_time: p.end_time,
                    attributes: p.attributes,
                    dropped_attributes_count: p.dropped_attributes_count,
                    events,
                    links,
                    status: p.status,
                    instrumentation_scope: self.scope.clone(),
                }
            }
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

/// Live accounting of one exporter's view of the pipeline.
pub(crate) fn counts_for(queue: &Queue, exported: u64, failed: u64) -> crate::export::SpanCounts {
    let q = queue.counts();
    crate::export::SpanCounts {
        ended: q.ended,
        exported,
        export_failed: failed,
        dropped_queue_full: q.dropped_full,
        dropped_after_shutdown: q.dropped_after_shutdown,
        in_flight: q.queued + q.taken.saturating_sub(exported + failed),
    }
}
