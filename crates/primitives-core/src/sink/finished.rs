//! [`FinishedSpan`]: a step's span as the sink receives it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{Event, Link, SpanContext, SpanId, SpanKind, Status};
use opentelemetry::KeyValue;

use crate::identity::RunIdentity;
use crate::name::Name;
use crate::position::Position;
use crate::semconv::attr;

/// Most attributes, events and links a step's span keeps (as the SDK's
/// default span limits); more are counted as dropped.
pub const SPAN_LIMIT: usize = 128;

/// A step's finished span, with its attributes still in parts: call
/// [`FinishedSpan::into_parts`] to get the export shape.
#[derive(Debug, Clone)]
pub struct FinishedSpan {
    pub(super) span_context: SpanContext,
    pub(super) parent_span_id: SpanId,
    pub(super) parent_is_remote: bool,
    pub(super) name: Cow<'static, str>,
    pub(super) kind: SpanKind,
    pub(super) start: SystemTime,
    pub(super) end: SystemTime,
    pub(super) primitive: Name,
    pub(super) primitive_type: &'static str,
    pub(super) position: Position,
    pub(super) static_attrs: Option<Arc<[KeyValue]>>,
    /// The run's ids, on a run's root span.
    pub(super) run: Option<Arc<RunIdentity>>,
    /// What was added while the step ran (most spans: nothing). Boxed so
    /// the span stays small: it is moved into the queue on every step.
    pub(super) extra: Option<Box<Extra>>,
}

/// Attributes, events, links and status added while a step ran.
#[derive(Debug, Clone, Default)]
pub(super) struct Extra {
    pub(super) attributes: Vec<KeyValue>,
    pub(super) events: Vec<Event>,
    pub(super) links: Vec<Link>,
    pub(super) status: Status,
    pub(super) dropped_attributes: u32,
    pub(super) dropped_events: u32,
    pub(super) dropped_links: u32,
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
    /// The span kind ([`Primitive::span_kind`](crate::Primitive::span_kind);
    /// `Internal` by default).
    pub span_kind: SpanKind,
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
    /// Whether this is a run's root span (it carries the run's identity
    /// and totals).
    pub run_root: bool,
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

    /// The span's kind.
    pub fn span_kind(&self) -> &SpanKind {
        &self.kind
    }

    /// The export shape.
    pub fn into_parts(self) -> SpanParts {
        let extra = self.extra.map(|e| *e).unwrap_or_default();
        let run_root = self.run.is_some();
        let mut attributes = step_attributes(
            &self.primitive,
            self.primitive_type,
            &self.position,
            self.static_attrs.as_deref(),
            self.run.as_deref(),
            extra.attributes.len(),
        );
        attributes.extend(extra.attributes);
        SpanParts {
            span_context: self.span_context,
            parent_span_id: self.parent_span_id,
            parent_is_remote: self.parent_is_remote,
            name: self.name,
            span_kind: self.kind,
            start_time: self.start,
            end_time: self.end,
            attributes,
            dropped_attributes_count: extra.dropped_attributes,
            events: extra.events,
            dropped_events_count: extra.dropped_events,
            links: extra.links,
            dropped_links_count: extra.dropped_links,
            status: extra.status,
            run_root,
        }
    }
}

/// The attributes every step span starts with, in export order:
/// `primitive.name`, `primitive.type`, the position in the parent, the
/// primitive's own, and the run's identity on a root. Both span paths use
/// it. `more` is room reserved for attributes added afterwards.
pub(crate) fn step_attributes(
    primitive: &Name,
    primitive_type: &'static str,
    position: &Position,
    static_attrs: Option<&[KeyValue]>,
    run: Option<&RunIdentity>,
    more: usize,
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(6 + static_attrs.map_or(0, <[KeyValue]>::len) + more);
    attributes.push(primitive.kv(attr::PRIMITIVE_NAME));
    attributes.push(KeyValue::new(attr::PRIMITIVE_TYPE, primitive_type));
    attributes.extend(position.attribute());
    if let Some(s) = static_attrs {
        attributes.extend(s.iter().cloned());
    }
    if let Some(run) = run {
        run.push_attributes(&mut attributes);
    }
    attributes
}
