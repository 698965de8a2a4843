//! The exporter thread and its outlets (one exporter with its accounting
//! each).

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use opentelemetry_sdk::Resource;

use super::queue::{lock, Item, Queue};
use crate::accounting::SpanStats;
use crate::runtime::ObsRuntime;

/// An exporter behind the pipeline, object-safe.
pub(super) trait DynExporter: Send + Sync {
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
    pub(super) exporter: Box<dyn DynExporter>,
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

/// The exporter thread.
pub(super) struct Worker {
    pub(super) queue: Arc<Queue>,
    pub(super) outlets: Arc<Vec<Outlet>>,
    pub(super) rt: ObsRuntime,
    pub(super) scope: InstrumentationScope,
    pub(super) limits: super::SpanLimits,
    pub(super) roots: super::RootSpans,
    pub(super) batch: usize,
    pub(super) delay: Duration,
}

impl Worker {
    pub(super) fn run(self) {
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
                    .map(|item| {
                        let mut span = self.convert(item);
                        self.limits.apply(&mut span);
                        span
                    })
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
    /// (`BridgeSpanExporter`). Each export is isolated: one that panics
    /// (building its future or polling it) fails its own batch (settled as
    /// failed when its future is dropped) while the others finish theirs,
    /// and the thread goes on. Returns whether every export succeeded.
    fn send(&self, batch: Vec<SpanData>) -> bool {
        use futures_util::FutureExt as _;
        use std::panic::AssertUnwindSafe;
        let last = self.outlets.len().saturating_sub(1);
        let mut batch = Some(batch);
        let mut exports = Vec::with_capacity(self.outlets.len());
        for (i, o) in self.outlets.iter().enumerate() {
            let b = if i == last {
                batch.take().unwrap_or_default()
            } else {
                batch.clone().unwrap_or_default()
            };
            let export = std::panic::catch_unwind(AssertUnwindSafe(|| o.exporter.export(b)))
                .map(|fut| AssertUnwindSafe(fut).catch_unwind());
            exports.push((o, export));
        }
        let handle = self.rt.handle();
        let results = handle.block_on(futures_util::future::join_all(exports.into_iter().map(
            |(o, export)| async move {
                let outcome = match export {
                    Ok(fut) => fut.await,
                    Err(panic) => Err(panic),
                };
                match outcome {
                    Ok(result) => result.is_ok(),
                    Err(_) => {
                        tracing::error!(
                            target: "observability_integration::export",
                            exporter = %o.name,
                            "a span exporter panicked; its batch is counted as failed and export goes on"
                        );
                        false
                    }
                }
            },
        )));
        results.into_iter().all(|ok| ok)
    }

    fn convert(&self, item: Item) -> SpanData {
        match item {
            Item::Sdk(data) => *data,
            Item::Step(span) => {
                let mut p = span.into_parts();
                self.roots.dress(&mut p);
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
                    span_kind: p.span_kind,
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
