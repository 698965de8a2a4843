//! The viewer's store: recent traces with their log lines, bounded by
//! bytes. A run is a trace; its local root (the span whose parent is
//! absent or in another process) gives its row.
//!
//! The newest traces, up to a quarter of the bound, are never evicted for
//! their class; older ones go oldest first within the lowest class
//! (ordinary, slow, expensive, failed: see [`retention`](super::retention)),
//! so the runs worth looking at stay longest.
//!
//! Spans come from this process (the pipeline's `viewer` outlet) and from
//! others (the OTLP/HTTP intake); each trace keeps the resources of the
//! processes its spans came from.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use super::retention::{Class, Judge};
use super::size;
use super::stats::ViewerStats;

/// Spans kept per trace; later ones are dropped and counted.
pub(crate) const MAX_SPANS_PER_TRACE: usize = 10_000;
/// Log lines kept per trace; later ones are dropped and counted.
pub(crate) const MAX_LOGS_PER_TRACE: usize = 10_000;
/// Log lines waiting to join their traces; beyond it (or beyond a
/// quarter of the bound in bytes) they are dropped and counted (the
/// application's thread never waits for the store).
const MAX_PENDING_LOGS: usize = 8192;

/// One log line of a trace.
#[derive(Debug, Clone)]
pub(crate) struct LogLine {
    pub(crate) time: SystemTime,
    pub(crate) level: tracing::Level,
    pub(crate) target: String,
    pub(crate) message: String,
    /// The event's other fields, a JSON object.
    pub(crate) fields: String,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
}

/// Processes one trace may hold spans from; spans of more are dropped.
const MAX_RESOURCES_PER_TRACE: usize = 32;

#[derive(Debug)]
pub(crate) struct Trace {
    seq: u64,
    class: Class,
    /// Among the newest runs, which are not evicted for their class.
    recent: bool,
    pub(crate) spans: Vec<SpanData>,
    /// Beside each span: 0 for this process, else 1 + its index in
    /// `resources`.
    pub(crate) origin: Vec<u8>,
    /// The other processes this trace's spans came from.
    pub(crate) resources: Vec<Arc<Resource>>,
    pub(crate) logs: Vec<LogLine>,
    /// Index in `spans` of the local root, once it ended.
    pub(crate) root: Option<usize>,
    bytes: usize,
}

impl Trace {
    pub(crate) fn root(&self) -> Option<&SpanData> {
        self.root.and_then(|i| self.spans.get(i))
    }

    /// Its retention class (ordinary until the root ends).
    pub(crate) fn class(&self) -> Class {
        self.class
    }

    /// The resource span `i` came from; `None` for this process.
    pub(crate) fn resource_of(&self, i: usize) -> Option<&Arc<Resource>> {
        let o = usize::from(*self.origin.get(i)?);
        o.checked_sub(1).and_then(|r| self.resources.get(r))
    }

    /// Whether `span` would be a better row for the run than its current
    /// root: a span without a parent beats one whose parent is in another
    /// process, then the earlier one wins.
    fn better_root(&self, span: &SpanData) -> bool {
        self.root().is_none_or(|r| {
            let (a, b) = (
                span.parent_span_id == SpanId::INVALID,
                r.parent_span_id == SpanId::INVALID,
            );
            (a && !b) || (a == b && span.start_time < r.start_time)
        })
    }
}

/// Whether `span` is a local root: no parent, or a parent in another
/// process.
pub(crate) fn is_local_root(span: &SpanData) -> bool {
    span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote
}

/// Whether a root `span` ended a failed (or cancelled) run.
pub(crate) fn run_failed(span: &SpanData) -> bool {
    matches!(span.status, Status::Error { .. })
        || span.attributes.iter().any(|kv| {
            kv.key.as_str() == primitives_core::semconv::attr::PRIMITIVE_CANCELLED
                && kv.value == opentelemetry::Value::Bool(true)
        })
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub(crate) traces: HashMap<TraceId, Trace>,
    /// Every trace by arrival, for listing newest first.
    pub(crate) order: BTreeMap<u64, TraceId>,
    /// Older traces by class, then age: the eviction order.
    evict: BTreeSet<(Class, u64)>,
    /// The newest traces, oldest first, up to a quarter of the bound.
    recent: VecDeque<u64>,
    recent_bytes: usize,
    judge: Judge,
    next_seq: u64,
    bytes: usize,
    /// Bumped on every change (the pages poll it).
    pub(crate) version: u64,
    /// This process's `service.name`.
    pub(crate) service: String,
}

/// The store. Spans come from the exporter thread, log lines from the
/// application's threads (through a short queue), reads from the server.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    pending: Mutex<Pending>,
    max_bytes: usize,
    peak: AtomicU64,
    /// By [`Class`].
    evicted: [AtomicU64; 4],
    spans_dropped: AtomicU64,
    logs_dropped: AtomicU64,
    spans_received: AtomicU64,
    spans_rejected: AtomicU64,
    resource: Mutex<Option<Resource>>,
}

/// Log lines not yet joined to their traces, and their bytes.
#[derive(Debug, Default)]
struct Pending {
    lines: Vec<LogLine>,
    bytes: usize,
}

impl Pending {
    fn take(&mut self) -> Vec<LogLine> {
        self.bytes = 0;
        std::mem::take(&mut self.lines)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    pub(crate) fn new(max_bytes: usize) -> Store {
        Store {
            inner: Mutex::default(),
            pending: Mutex::default(),
            max_bytes,
            peak: AtomicU64::new(0),
            evicted: Default::default(),
            spans_dropped: AtomicU64::new(0),
            logs_dropped: AtomicU64::new(0),
            spans_received: AtomicU64::new(0),
            spans_rejected: AtomicU64::new(0),
            resource: Mutex::new(None),
        }
    }

    /// The resource of this process's spans (for the OTLP form).
    pub(crate) fn set_resource(&self, resource: &Resource) {
        lock(&self.inner).service = super::query::service_name(resource);
        *lock(&self.resource) = Some(resource.clone());
    }

    pub(crate) fn resource(&self) -> Resource {
        lock(&self.resource)
            .clone()
            .unwrap_or_else(|| Resource::builder_empty().build())
    }

    /// Queues a log line for its trace; never waits on readers.
    pub(crate) fn push_log(&self, line: LogLine) {
        let cost = size::log(&line);
        let mut pending = lock(&self.pending);
        if pending.lines.len() >= MAX_PENDING_LOGS || pending.bytes + cost > self.max_bytes / 4 {
            drop(pending);
            self.logs_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.bytes += cost;
        pending.lines.push(line);
    }

    /// Stores a batch of this process's ended spans, then evicts down to
    /// the bound.
    pub(crate) fn insert(&self, spans: Vec<SpanData>) {
        self.insert_from(spans, None);
    }

    /// Stores a batch of ended spans from `resource` (`None`: this
    /// process), then evicts down to the bound.
    pub(crate) fn insert_from(&self, spans: Vec<SpanData>, resource: Option<Arc<Resource>>) {
        let (mut inner, _) = self.lock_with_logs();
        for span in spans {
            self.add_span(&mut inner, span, resource.as_ref());
        }
        self.settle(&mut inner);
    }

    /// Counts what the intake took in and refused.
    pub(crate) fn count_intake(&self, received: u64, rejected: u64) {
        self.spans_received.fetch_add(received, Ordering::Relaxed);
        self.spans_rejected.fetch_add(rejected, Ordering::Relaxed);
    }

    /// The store, read under its lock, with queued log lines joined first.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Inner) -> R) -> R {
        let (mut inner, joined) = self.lock_with_logs();
        if joined {
            self.settle(&mut inner);
        }
        f(&inner)
    }

    /// The store locked, with the waiting log lines joined to their traces
    /// (not yet settled); whether there were any.
    fn lock_with_logs(&self) -> (MutexGuard<'_, Inner>, bool) {
        let logs = lock(&self.pending).take();
        let mut inner = lock(&self.inner);
        let joined = !logs.is_empty();
        for line in logs {
            self.add_log(&mut inner, line);
        }
        (inner, joined)
    }

    /// What the store holds and let go.
    pub(crate) fn stats(&self) -> ViewerStats {
        let (bytes, traces) = {
            let inner = lock(&self.inner);
            (inner.bytes, inner.traces.len())
        };
        let evicted = |c: Class| self.evicted[c as usize].load(Ordering::Relaxed);
        ViewerStats {
            bytes,
            max_bytes: self.max_bytes,
            peak_bytes: usize::try_from(self.peak.load(Ordering::Relaxed)).unwrap_or(usize::MAX),
            traces,
            evicted_ordinary: evicted(Class::Ordinary),
            evicted_expensive: evicted(Class::Expensive),
            evicted_slow: evicted(Class::Slow),
            evicted_failed: evicted(Class::Failed),
            spans_dropped: self.spans_dropped.load(Ordering::Relaxed),
            logs_dropped: self.logs_dropped.load(Ordering::Relaxed),
            spans_received: self.spans_received.load(Ordering::Relaxed),
            spans_rejected: self.spans_rejected.load(Ordering::Relaxed),
        }
    }

    fn entry(inner: &mut Inner, id: TraceId) -> &mut Trace {
        let Inner {
            traces,
            order,
            recent,
            recent_bytes,
            next_seq,
            bytes,
            ..
        } = inner;
        traces.entry(id).or_insert_with(|| {
            let seq = *next_seq;
            *next_seq += 1;
            order.insert(seq, id);
            recent.push_back(seq);
            *recent_bytes += size::TRACE_OVERHEAD;
            *bytes += size::TRACE_OVERHEAD;
            Trace {
                seq,
                class: Class::Ordinary,
                recent: true,
                spans: Vec::new(),
                origin: Vec::new(),
                resources: Vec::new(),
                logs: Vec::new(),
                root: None,
                bytes: size::TRACE_OVERHEAD,
            }
        })
    }

    fn add_log(&self, inner: &mut Inner, line: LogLine) {
        let cost = size::log(&line);
        let cap = self.max_bytes / 2;
        let trace = Self::entry(inner, line.trace_id);
        if trace.logs.len() >= MAX_LOGS_PER_TRACE || trace.bytes + cost > cap {
            self.logs_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        trace.logs.push(line);
        trace.bytes += cost;
        let recent = trace.recent;
        Self::grew(inner, cost, recent);
    }

    fn grew(inner: &mut Inner, cost: usize, recent: bool) {
        inner.bytes += cost;
        if recent {
            inner.recent_bytes += cost;
        }
    }

    fn add_span(&self, inner: &mut Inner, span: SpanData, resource: Option<&Arc<Resource>>) {
        let mut cost = size::span(&span);
        let id = span.span_context.trace_id();
        let cap = self.max_bytes / 2;
        let root = is_local_root(&span);
        let trace = Self::entry(inner, id);
        // One trace never takes more than half the store (its root is
        // always kept, so the run keeps its row).
        if !root && (trace.spans.len() >= MAX_SPANS_PER_TRACE || trace.bytes + cost > cap) {
            self.spans_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let origin = match resource {
            None => 0,
            Some(r) => match trace.resources.iter().position(|t| Arc::ptr_eq(t, r)) {
                Some(i) => i + 1,
                None if trace.resources.len() < MAX_RESOURCES_PER_TRACE => {
                    cost += size::resource(r);
                    trace.resources.push(r.clone());
                    trace.resources.len()
                }
                None => {
                    self.spans_dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
        };
        let (seq, old, recent) = (trace.seq, trace.class, trace.recent);
        let became_root = root && trace.better_root(&span);
        if became_root {
            trace.root = Some(trace.spans.len());
        }
        trace.spans.push(span);
        trace.origin.push(u8::try_from(origin).unwrap_or(u8::MAX));
        trace.bytes += cost;
        Self::grew(inner, cost, recent);
        if became_root {
            let Inner {
                traces,
                judge,
                evict,
                ..
            } = inner;
            if let Some(t) = traces.get_mut(&id) {
                let class = t.root().map_or(old, |r| judge.judge(r));
                t.class = class;
                if class != old && !recent {
                    evict.remove(&(old, seq));
                    evict.insert((class, seq));
                }
            }
        }
    }

    /// Moves traces past the newest quarter into the eviction order, evicts
    /// down to the bound (from that order, or the oldest recent trace when
    /// it is empty) and records the peak.
    fn settle(&self, inner: &mut Inner) {
        while inner.recent_bytes > self.max_bytes / 4 && inner.recent.len() > 1 {
            let Some(seq) = inner.recent.pop_front() else {
                break;
            };
            let Some(t) = inner
                .order
                .get(&seq)
                .and_then(|id| inner.traces.get_mut(id))
            else {
                continue;
            };
            t.recent = false;
            inner.recent_bytes = inner.recent_bytes.saturating_sub(t.bytes);
            inner.evict.insert((t.class, seq));
        }
        while inner.bytes > self.max_bytes {
            let seq = match inner.evict.pop_first() {
                Some((_, seq)) => seq,
                None => match inner.recent.pop_front() {
                    Some(seq) => seq,
                    None => break,
                },
            };
            let Some(id) = inner.order.remove(&seq) else {
                continue;
            };
            if let Some(trace) = inner.traces.remove(&id) {
                inner.bytes = inner.bytes.saturating_sub(trace.bytes);
                if trace.recent {
                    inner.recent_bytes = inner.recent_bytes.saturating_sub(trace.bytes);
                }
                self.evicted[trace.class as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
        inner.version += 1;
        self.peak.fetch_max(inner.bytes as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
