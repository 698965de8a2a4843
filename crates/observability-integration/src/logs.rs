//! Log lines with trace correlation: one JSON object per line (or a human
//! format), carrying the `trace_id` / `span_id` of the current OpenTelemetry
//! context and the workflow's `correlation_id`.
//!
//! The ids come from the current `tracing` span's OpenTelemetry context when
//! there is one (tracing-opentelemetry), else from
//! `opentelemetry::Context::current()`, which a workflow step attaches while
//! its future is polled — so a log line inside any step, including the
//! concurrently polled branches of a `Parallel`, names that step's span.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The trace and span id of the current OpenTelemetry context, if valid.
pub fn current_trace_ids() -> Option<(String, String)> {
    let from_tracing = tracing::Span::current().context();
    let cx = if from_tracing.span().span_context().is_valid() {
        from_tracing
    } else {
        opentelemetry::Context::current()
    };
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

/// Formats events as one JSON object per line: `timestamp` (RFC 3339 UTC),
/// `level`, `target`, `message`, `fields`, and with correlation on,
/// `trace_id`, `span_id`, `correlation_id` and the enclosing `tracing`
/// spans' names.
#[derive(Debug, Clone, Copy)]
pub struct JsonFormat {
    /// Add trace/span/correlation ids.
    pub correlation: bool,
}

#[derive(Default)]
struct JsonVisitor {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl Visit for JsonVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let v = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(v);
        } else {
            self.fields
                .insert(field.name().to_owned(), Value::String(v));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.fields
                .insert(field.name().to_owned(), Value::String(value.to_owned()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .insert(field.name().to_owned(), Value::String(value.to_string()));
    }
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);
        let mut obj = Map::new();
        obj.insert(
            "timestamp".into(),
            humantime::format_rfc3339_micros(std::time::SystemTime::now())
                .to_string()
                .into(),
        );
        obj.insert("level".into(), meta.level().as_str().into());
        obj.insert("target".into(), meta.target().into());
        obj.insert("message".into(), visitor.message.unwrap_or_default().into());
        if self.correlation {
            if let Some((trace_id, span_id)) = current_trace_ids() {
                obj.insert("trace_id".into(), trace_id.into());
                obj.insert("span_id".into(), span_id.into());
            }
            let from_fields = visitor.fields.get("correlation_id").cloned();
            if let Some(id) = from_fields.or_else(|| {
                primitives_core::current_correlation_id().map(|c| Value::String(c.to_string()))
            }) {
                obj.insert("correlation_id".into(), id);
            }
            if let Some(scope) = ctx.event_scope() {
                let spans: Vec<Value> = scope
                    .from_root()
                    .map(|s| Value::String(s.name().to_owned()))
                    .collect();
                if !spans.is_empty() {
                    obj.insert("spans".into(), Value::Array(spans));
                }
            }
        }
        obj.insert("fields".into(), Value::Object(visitor.fields));
        let line = serde_json::to_string(&obj).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}
