//! The viewer's store: recent traces with their log lines, bounded by
//! bytes. A run is a trace; its local root (the span whose parent is
//! absent or in another process) gives its row.
//!
//! Eviction takes the oldest trace of the lowest class first: runs that
//! succeeded (and traces whose root has not ended yet) before failed and
//! cancelled runs, so the runs worth looking at stay longest.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use super::size;

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

/// Eviction class: evicted in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// Succeeded, or not ended yet.
    Kept = 0,
    /// Failed or cancelled.
    Failed = 1,
}

#[derive(Debug)]
pub(crate) struct Trace {
    seq: u64,
    class: Class,
    pub(crate) spans: Vec<SpanData>,
    pub(crate) logs: Vec<LogLine>,
    /// Index in `spans` of the local root, once it ended.
    pub(crate) root: Option<usize>,
    bytes: usize,
}

impl Trace {
    pub(crate) fn root(&self) -> Option<&SpanData> {
        self.root.and_then(|i| self.spans.get(i))
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
    evict: BTreeSet<(Class, u64)>,
    next_seq: u64,
    bytes: usize,
    /// Bumped on every change (the pages poll it).
    pub(crate) version: u64,
}

/// What the store holds and what it let go, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ViewerStats {
    /// Bytes held now (the store's own accounting).
    pub bytes: usize,
    /// The bound (`viewer_max_bytes`).
    pub max_bytes: usize,
    /// The most bytes held after any change.
    pub peak_bytes: usize,
    /// Traces held now.
    pub traces: usize,
    /// Traces of successful runs (or unended ones) evicted to stay within
    /// the bound.
    pub evicted_succeeded: u64,
    /// Traces of failed or cancelled runs evicted.
    pub evicted_failed: u64,
    /// Spans not kept: their trace had `MAX_SPANS_PER_TRACE` already.
    pub spans_dropped: u64,
    /// Log lines not kept: their trace was full, or lines came faster than
    /// the store took them.
    pub logs_dropped: u64,
}

/// The store. Spans come from the exporter thread, log lines from the
/// application's threads (through a short queue), reads from the server.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    pending: Mutex<Pending>,
    max_bytes: usize,
    peak: AtomicU64,
    evicted_succeeded: AtomicU64,
    evicted_failed: AtomicU64,
    spans_dropped: AtomicU64,
    logs_dropped: AtomicU64,
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
            evicted_succeeded: AtomicU64::new(0),
            evicted_failed: AtomicU64::new(0),
            spans_dropped: AtomicU64::new(0),
            logs_dropped: AtomicU64::new(0),
            resource: Mutex::new(None),
        }
    }

    /// The resource of this process's spans (for the OTLP form).
    pub(crate) fn set_resource(&self, resource: &Resource) {
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

    /// Stores a batch of ended spans, then evicts down to the bound.
    pub(crate) fn insert(&self, spans: Vec<SpanData>) {
        let logs = lock(&self.pending).take();
        let mut inner = lock(&self.inner);
        for line in logs {
            self.add_log(&mut inner, line);
        }
        for span in spans {
            self.add_span(&mut inner, span);
        }
        self.settle(&mut inner);
    }

    /// The store, read under its lock, with queued log lines joined first.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Inner) -> R) -> R {
        let logs = lock(&self.pending).take();
        let mut inner = lock(&self.inner);
        if !logs.is_empty() {
            for line in logs {
                self.add_log(&mut inner, line);
            }
            self.settle(&mut inner);
        }
        f(&inner)
    }

    /// What the store holds and let go.
    pub(crate) fn stats(&self) -> ViewerStats {
        let (bytes, traces) = {
            let inner = lock(&self.inner);
            (inner.bytes, inner.traces.len())
        };
        ViewerStats {
            bytes,
            max_bytes: self.max_bytes,
            peak_bytes: usize::try_from(self.peak.load(Ordering::Relaxed)).unwrap_or(usize::MAX),
            traces,
            evicted_succeeded: self.evicted_succeeded.load(Ordering::Relaxed),
            evicted_failed: self.evicted_failed.load(Ordering::Relaxed),
            spans_dropped: self.spans_dropped.load(Ordering::Relaxed),
            logs_dropped: self.logs_dropped.load(Ordering::Relaxed),
        }
    }

    fn entry(inner: &mut Inner, id: TraceId) -> &mut Trace {
        let Inner {
            traces,
            order,
            evict,
            next_seq,
            bytes,
            ..
        } = inner;
        traces.entry(id).or_insert_with(|| {
            let seq = *next_seq;
            *next_seq += 1;
            order.insert(seq, id);
            evict.insert((Class::Kept, seq));
            *bytes += size::TRACE_OVERHEAD;
            Trace {
                seq,
                class: Class::Kept,
                spans: Vec::new(),
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
        inner.bytes += cost;
    }

    fn add_span(&self, inner: &mut Inner, span: SpanData) {
        let cost = size::span(&span);
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
        let (seq, old) = (trace.seq, trace.class);
        let mut class = old;
        if root && trace.root().is_none_or(|r| span.start_time < r.start_time) {
            trace.root = Some(trace.spans.len());
            class = if run_failed(&span) {
                Class::Failed
            } else {
                Class::Kept
            };
        }
        trace.spans.push(span);
        trace.bytes += cost;
        trace.class = class;
        inner.bytes += cost;
        if class != old {
            inner.evict.remove(&(old, seq));
            inner.evict.insert((class, seq));
        }
    }

    /// Evicts down to the bound and records the peak.
    fn settle(&self, inner: &mut Inner) {
        while inner.bytes > self.max_bytes {
            let Some((class, seq)) = inner.evict.pop_first() else {
                break;
            };
            let Some(id) = inner.order.remove(&seq) else {
                continue;
            };
            if let Some(trace) = inner.traces.remove(&id) {
                inner.bytes = inner.bytes.saturating_sub(trace.bytes);
            }
            match class {
                Class::Kept => &self.evicted_succeeded,
                Class::Failed => &self.evicted_failed,
            }
            .fetch_add(1, Ordering::Relaxed);
        }
        inner.version += 1;
        self.peak.fetch_max(inner.bytes as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanKind, TraceFlags, TraceState};
    use opentelemetry::InstrumentationScope;
    use std::time::Duration;

    fn span(trace: u128, id: u64, parent: u64, failed: bool) -> SpanData {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + id);
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(trace),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "primitive.step".into(),
            start_time: start,
            end_time: start + Duration::from_millis(3),
            attributes: vec![opentelemetry::KeyValue::new("k", "v".repeat(100))],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: if failed {
                Status::error("boom")
            } else {
                Status::Ok
            },
            instrumentation_scope: InstrumentationScope::builder("t").build(),
        }
    }

    #[test]
    fn stays_within_bound_and_keeps_failed_runs_longest() {
        let one = size::span(&span(1, 1, 0, false)) + size::TRACE_OVERHEAD;
        // Ten runs fit (a failed one's status message takes a few bytes more).
        let bound = one * 10 + 64;
        let store = Store::new(bound);
        // Run 1 fails; 2..=40 succeed.
        store.insert(vec![span(1, 1, 0, true)]);
        for t in 2..=40u128 {
            store.insert(vec![span(t, t as u64, 0, false)]);
            assert!(store.stats().bytes <= bound);
        }
        let s = store.stats();
        assert!(s.peak_bytes <= s.max_bytes, "{s:?}");
        assert_eq!(s.evicted_failed, 0, "{s:?}");
        assert_eq!(s.evicted_succeeded, 30, "{s:?}");
        store.read(|inner| {
            assert!(inner.traces.contains_key(&TraceId::from(1u128)));
            assert!(!inner.traces.contains_key(&TraceId::from(2u128)));
            assert!(inner.traces.contains_key(&TraceId::from(40u128)));
        });
    }

    #[test]
    fn one_trace_never_takes_more_than_half_and_keeps_its_root() {
        let bound = 64 * 1024;
        let store = Store::new(bound);
        for i in 2..2000u64 {
            store.insert(vec![span(9, i, 1, false)]);
        }
        let root = span(9, 1, 0, true);
        let root_bytes = size::span(&root);
        store.insert(vec![root]);
        let s = store.stats();
        assert!(s.spans_dropped > 1000, "{s:?}");
        store.read(|inner| {
            let t = &inner.traces[&TraceId::from(9u128)];
            assert!(t.root().is_some(), "the root is kept");
            assert!(t.bytes <= bound / 2 + root_bytes, "{}", t.bytes);
        });
    }

    #[test]
    fn waiting_log_lines_are_bounded_by_bytes() {
        let store = Store::new(64 * 1024);
        for _ in 0..1000 {
            store.push_log(LogLine {
                time: SystemTime::now(),
                level: tracing::Level::INFO,
                target: "t".into(),
                message: "m".repeat(1000),
                fields: "{}".into(),
                trace_id: TraceId::from(5u128),
                span_id: SpanId::from(1u64),
            });
        }
        let s = store.stats();
        assert!(s.logs_dropped > 900, "{s:?}");
        store.read(|inner| assert!(inner.bytes <= 64 * 1024 / 2 + 2048, "{}", inner.bytes));
    }

    #[test]
    fn a_child_before_its_root_counts_as_unended_until_the_root_fails() {
        let store = Store::new(1 << 20);
        store.insert(vec![span(7, 2, 1, false)]);
        store.read(|inner| assert!(inner.traces[&TraceId::from(7u128)].root.is_none()));
        store.insert(vec![span(7, 1, 0, true)]);
        store.read(|inner| {
            let t = &inner.traces[&TraceId::from(7u128)];
            assert_eq!(t.root().unwrap().span_context.span_id(), SpanId::from(1u64));
            assert_eq!(t.class, Class::Failed);
        });
    }
}
