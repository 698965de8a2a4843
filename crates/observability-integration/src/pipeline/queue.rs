//! The span queue: per-thread shards under one bound, with exact counts.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use opentelemetry_sdk::trace::SpanData;
use primitives_core::sink::FinishedSpan;

/// Producers add to the shared queue length in steps of this many spans
/// (one contended atomic per step, not per span); the bound is exact to
/// within this many spans per shard.
pub(super) const REPORT_EVERY: usize = 32;

/// A queued span. The large variant is the common one on purpose: boxing
/// step spans would cost an allocation per step (freed on another thread).
#[allow(clippy::large_enum_variant)]
pub(super) enum Item {
    Step(FinishedSpan),
    /// Boxed: users' SDK spans are larger than step spans and rarer.
    Sdk(Box<SpanData>),
}

#[derive(Default)]
pub(super) struct Shard {
    pub(super) items: Vec<Item>,
    /// Pushed but not yet added to `Queue::queued`.
    pub(super) unreported: usize,
    pub(super) ended: u64,
    pub(super) taken: u64,
    pub(super) dropped_full: u64,
    pub(super) dropped_after_shutdown: u64,
}

/// A shard on its own cache lines.
#[repr(align(128))]
#[derive(Default)]
pub(super) struct PaddedShard(Mutex<Shard>);

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
    pub(super) shards: Box<[PaddedShard]>,
    pub(super) queued: AtomicUsize,
    pub(super) max: usize,
    pub(super) wake_at: usize,
    pub(super) shut_down: AtomicBool,
    pub(super) warned_full: AtomicBool,
    /// The exporter thread waits; producers wake it when a shard fills.
    pub(super) sleeping: AtomicBool,
    pub(super) signal: Mutex<Signal>,
    pub(super) wake: Condvar,
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
pub(super) struct Signal {
    pub(super) woken: bool,
    pub(super) flush_requested: u64,
    pub(super) flush_done: u64,
    /// Whether an export failed in the round that last completed a flush.
    pub(super) flush_failed: bool,
    pub(super) stopped: bool,
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Queue {
    pub(super) fn new(max: usize, batch: usize) -> Queue {
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

    pub(super) fn shard(&self) -> &Mutex<Shard> {
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

    pub(super) fn push(&self, item: Item) {
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

    pub(super) fn notify(&self) {
        lock(&self.signal).woken = true;
        self.wake.notify_all();
    }

    /// Swaps shard `i`'s queued spans with `out` (empty), so both keep
    /// their capacity and nothing is copied.
    pub(super) fn take_shard(&self, i: usize, out: &mut Vec<Item>) {
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
