//! [`LiveSpan`]: a step's span while it runs, in the step's OpenTelemetry
//! context; it goes to the sink when it ends.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{Event, Link, SpanContext, SpanId, SpanKind, Status};
use opentelemetry::KeyValue;

use super::finished::{Extra, FinishedSpan, SPAN_LIMIT};
use super::SpanSink;
use crate::identity::RunIdentity;
use crate::name::Name;
use crate::position::Position;

/// What a step's span is made of when it starts.
pub(crate) struct SpanStart {
    pub(crate) span_context: SpanContext,
    pub(crate) parent_span_id: SpanId,
    pub(crate) parent_is_remote: bool,
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) start: SystemTime,
    pub(crate) primitive: Name,
    pub(crate) primitive_type: &'static str,
    pub(crate) position: Position,
    pub(crate) static_attrs: Option<Arc<[KeyValue]>>,
    pub(crate) run: Option<Arc<RunIdentity>>,
}

/// A step's span while it runs: lives in the step's OpenTelemetry context
/// and goes to the sink when it ends.
pub(crate) struct LiveSpan {
    span_context: SpanContext,
    state: Option<FinishedSpan>,
    sink: Arc<dyn SpanSink>,
}

impl LiveSpan {
    pub(crate) fn start(s: SpanStart, sink: Arc<dyn SpanSink>) -> LiveSpan {
        LiveSpan {
            span_context: s.span_context.clone(),
            state: Some(FinishedSpan {
                span_context: s.span_context,
                parent_span_id: s.parent_span_id,
                parent_is_remote: s.parent_is_remote,
                name: s.name,
                kind: s.kind,
                start: s.start,
                end: s.start,
                primitive: s.primitive,
                primitive_type: s.primitive_type,
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
            self.sink.export(s);
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
