//! Step spans recorded without an SDK tracer: the fast span path.
//!
//! An OpenTelemetry SDK span builds its attribute list, runs the sampler
//! through a boxed tracer and converts itself to export data on the thread
//! that ends it. A step's span knows most of its attributes up front (name,
//! type, position, the run's identity), so with a [`SpanSink`] installed
//! ([`TelemetryBuilder::span_sink`](crate::telemetry::TelemetryBuilder::span_sink)) a
//! step records a [`FinishedSpan`] that holds those parts as they are, and
//! the sink (the integration crate's export queue) turns them into export
//! data on its own thread.
//!
//! The span still lives in the step's OpenTelemetry context as a real
//! [`opentelemetry::trace::Span`]: user code calling
//! `Context::current().span().set_attribute(..)` or `add_event(..)` inside
//! a step annotates it, and spans users create inside a step (with the
//! OpenTelemetry API or `tracing`) become its children.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{Event, Link, SpanContext, SpanId, Status, TraceId};
use opentelemetry::{KeyValue, Value};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::instrument::Position;
use crate::telemetry::{Name, SamplingHint};

/// Most attributes, events and links a step's span keeps (as the SDK's
/// default span limits); more are counted as dropped.
pub const SPAN_LIMIT: usize = 128;

/// Receives the finished, sampled spans of steps.
///
/// Called on the thread that ended the span, on the application's hot path:
/// an implementation must not block (queue and return).
pub trait SpanSink: Send + Sync + 'static {
    /// One finished span.
    fn export(&self, span: FinishedSpan);
}

/// A step's finished span, with its attributes still in parts: call
/// [`FinishedSpan::into_parts`] to get the export shape.
#[derive(Debug, Clone)]
pub struct FinishedSpan {
    span_context: SpanContext,
    parent_span_id: SpanId,
    parent_is_remote: bool,
    name: Cow<'static, str>,
    start: SystemTime,
    end: SystemTime,
    primitive: Name,
    kind: &'static str,
    position: Position,
    static_attrs: Option<Arc<[KeyValue]>>,
    run: Option<(Arc<str>, Option<Arc<str>>)>,
    /// What was added while the step ran (most spans: nothing). Boxed so
    /// the span stays small: it is moved into the queue on every step.
    extra: Option<Box<Extra>>,
}

/// Attributes, events, links and status added while a step ran.
#[derive(Debug, Clone, Default)]
struct Extra {
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    links: Vec<Link>,
    status: Status,
    dropped_attributes: u32,
    dropped_events: u32,
    dropped_links: u32,
}

/// A [`FinishedSpan`] in export shape (the fields of the SDK's `SpanData`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SpanParts {
    /// The span's own context (ids, sampled flag, trace state).
    pub span_context: SpanContext,
    /// The parent's span id (invalid for a root).
    pub parent_span_id: SpanId,
    /// Whether the parent came from another process.
    pub parent_is_remote: bool,
    /// `primitive.<name>`, or what the step renamed it to.
    pub name: Cow<'static, str>,
    /// Start time.
    pub start_time: SystemTime,
    /// End time.
    pub end_time: SystemTime,
    /// `primitive.name`, `primitive.type`, the position in the parent, the
    /// primitive's own attributes, the run's identity on a root, then those
    /// added while the step ran.
    pub attributes: Vec<KeyValue>,
    /// Attributes over [`SPAN_LIMIT`].
    pub dropped_attributes_count: u32,
    /// Events (the `exception` event of a failure, users' events).
    pub events: Vec<Event>,
    /// Events over [`SPAN_LIMIT`].
    pub dropped_events_count: u32,
    /// Links.
    pub links: Vec<Link>,
    /// Links over [`SPAN_LIMIT`].
    pub dropped_links_count: u32,
    /// Status (Unset on success).
    pub status: Status,
}

impl FinishedSpan {
    /// The span's context.
    pub fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    /// The span's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The export shape.
    pub fn into_parts(self) -> SpanParts {
        let extra = self.extra.map(|e| *e).unwrap_or_default();
        let mut attributes = step_attributes(
            &self.primitive,
            self.kind,
            self.position,
            self.static_attrs.as_deref(),
            self.run.as_ref().map(|(c, w)| (c, w.as_ref())),
            extra.attributes.len(),
        );
        attributes.extend(extra.attributes);
        SpanParts {
            span_context: self.span_context,
            parent_span_id: self.parent_span_id,
            parent_is_remote: self.parent_is_remote,
            name: self.name,
            start_time: self.start,
            end_time: self.end,
            attributes,
            dropped_attributes_count: extra.dropped_attributes,
            events: extra.events,
            dropped_events_count: extra.dropped_events,
            links: extra.links,
            dropped_links_count: extra.dropped_links,
            status: extra.status,
        }
    }
}

/// The attributes every step span starts with, in export order:
/// `primitive.name`, `primitive.type`, the position in the parent, the
/// primitive's own, and the run's identity on a root. Both span paths use
/// it. `more` is room reserved for attributes added afterwards.
pub(crate) fn step_attributes(
    primitive: &Name,
    kind: &'static str,
    position: Position,
    static_attrs: Option<&[KeyValue]>,
    run: Option<(&Arc<str>, Option<&Arc<str>>)>,
    more: usize,
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(5 + static_attrs.map_or(0, <[KeyValue]>::len) + more);
    attributes.push(primitive.kv("primitive.name"));
    attributes.push(KeyValue::new("primitive.type", kind));
    attributes.extend(position.attribute());
    if let Some(s) = static_attrs {
        attributes.extend(s.iter().cloned());
    }
    if let Some((correlation_id, workflow_id)) = run {
        attributes.push(KeyValue::new(
            "workflow.correlation_id",
            Value::from(correlation_id.clone()),
        ));
        if let Some(id) = workflow_id {
            attributes.push(KeyValue::new("workflow.id", Value::from(id.clone())));
        }
    }
    attributes
}

/// A sink held by a live span: the leaked global's (no reference count on
/// the hot path) or a shared one.
pub(crate) enum SinkRef {
    Static(&'static dyn SpanSink),
    Shared(Arc<dyn SpanSink>),
}

impl SinkRef {
    fn get(&self) -> &dyn SpanSink {
        match self {
            SinkRef::Static(s) => *s,
            SinkRef::Shared(s) => &**s,
        }
    }
}

/// What a step's span is made of when it starts.
pub(crate) struct SpanStart {
    pub(crate) span_context: SpanContext,
    pub(crate) parent_span_id: SpanId,
    pub(crate) parent_is_remote: bool,
    pub(crate) name: Cow<'static, str>,
    pub(crate) start: SystemTime,
    pub(crate) primitive: Name,
    pub(crate) kind: &'static str,
    pub(crate) position: Position,
    pub(crate) static_attrs: Option<Arc<[KeyValue]>>,
    pub(crate) run: Option<(Arc<str>, Option<Arc<str>>)>,
}

/// A step's span while it runs: lives in the step's OpenTelemetry context
/// and goes to the sink when it ends.
pub(crate) struct LiveSpan {
    span_context: SpanContext,
    state: Option<FinishedSpan>,
    sink: SinkRef,
}

impl LiveSpan {
    pub(crate) fn start(s: SpanStart, sink: SinkRef) -> LiveSpan {
        LiveSpan {
            span_context: s.span_context.clone(),
            state: Some(FinishedSpan {
                span_context: s.span_context,
                parent_span_id: s.parent_span_id,
                parent_is_remote: s.parent_is_remote,
                name: s.name,
                start: s.start,
                end: s.start,
                primitive: s.primitive,
                kind: s.kind,
                position: s.position,
                static_attrs: s.static_attrs,
                run: s.run,
                extra: None,
            }),
            sink,
        }
    }
}

impl LiveSpan {
    /// The additions of a span still recording.
    fn extra(&mut self) -> Option<&mut Extra> {
        let s = self.state.as_mut()?;
        Some(s.extra.get_or_insert_with(Box::default))
    }
}

impl opentelemetry::trace::Span for LiveSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        if let Some(e) = self.extra() {
            if e.events.len() < SPAN_LIMIT {
                e.events.push(Event::new(name, timestamp, attributes, 0));
            } else {
                e.dropped_events += 1;
            }
        }
    }

    fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    fn is_recording(&self) -> bool {
        self.state.is_some()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(e) = self.extra() {
            if e.attributes.len() < SPAN_LIMIT {
                e.attributes.push(attribute);
            } else {
                e.dropped_attributes += 1;
            }
        }
    }

    fn set_status(&mut self, status: Status) {
        // As the SDK: Ok is final, Error replaces Unset, Unset changes nothing.
        if matches!(status, Status::Unset) {
            return;
        }
        if let Some(e) = self.extra() {
            if !matches!(e.status, Status::Ok) {
                e.status = status;
            }
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(s) = &mut self.state {
            s.name = new_name.into();
        }
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        if let Some(e) = self.extra() {
            if e.links.len() < SPAN_LIMIT {
                e.links.push(Link::new(span_context, attributes, 0));
            } else {
                e.dropped_links += 1;
            }
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Some(mut s) = self.state.take() {
            s.end = timestamp;
            self.sink.get().export(s);
        }
    }
}

impl Drop for LiveSpan {
    fn drop(&mut self) {
        if self.state.is_some() {
            opentelemetry::trace::Span::end_with_timestamp(self, SystemTime::now());
        }
    }
}

thread_local! {
    static RNG: RefCell<Option<SmallRng>> = const { RefCell::new(None) };
}

fn with_rng<T>(f: impl FnOnce(&mut SmallRng) -> T) -> T {
    RNG.with(|r| {
        let mut r = r.borrow_mut();
        let rng = r.get_or_insert_with(|| SmallRng::from_rng(&mut rand::rng()));
        f(rng)
    })
}

/// A new span's ids: the parent's trace id when it has one, else a new
/// one (one thread-local access for both).
pub(crate) fn new_ids(parent_trace: Option<TraceId>) -> (TraceId, SpanId) {
    with_rng(|r| {
        let trace = parent_trace.unwrap_or_else(|| TraceId::from(r.random::<u128>().max(1)));
        (trace, SpanId::from(r.random::<u64>().max(1)))
    })
}

/// The declared sampler's decision for a new span under `parent`, with the
/// same arithmetic as the SDK's `TraceIdRatioBased` (so our spans and SDK
/// spans made by the same sampler agree).
pub(crate) fn sampled(hint: SamplingHint, parent: &SpanContext, trace_id: TraceId) -> bool {
    if parent.is_valid() && hint.parent_based {
        return parent.is_sampled();
    }
    if hint.ratio >= 1.0 {
        return true;
    }
    if hint.ratio <= 0.0 || hint.ratio.is_nan() {
        return false;
    }
    let bound = (hint.ratio * (1u64 << 63) as f64) as u64;
    let bytes = trace_id.to_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..16]);
    (u64::from_be_bytes(low) >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_sampling_matches_the_sdk_arithmetic() {
        let hint = SamplingHint {
            ratio: 0.25,
            parent_based: true,
        };
        let n = 20_000u32;
        let kept = (0..n)
            .filter(|_| sampled(hint, &SpanContext::NONE, new_ids(None).0))
            .count() as f64;
        let share = kept / f64::from(n);
        assert!((0.22..0.28).contains(&share), "{share}");
        let always = SamplingHint {
            ratio: 1.0,
            parent_based: false,
        };
        assert!(sampled(always, &SpanContext::NONE, TraceId::from(1u128)));
    }

    #[test]
    fn ids_are_valid_and_distinct() {
        let (t1, a) = new_ids(None);
        let (t2, b) = new_ids(Some(t1));
        assert_ne!(a, b);
        assert_ne!(a, SpanId::INVALID);
        assert_ne!(t1, TraceId::INVALID);
        assert_eq!(t2, t1, "the parent's trace id is kept");
    }
}
