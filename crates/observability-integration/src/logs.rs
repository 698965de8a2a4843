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
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The trace and span id of the current OpenTelemetry context, if valid.
pub fn current_trace_ids() -> Option<(String, String)> {
    current_span_context().map(|sc| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

/// The span context a log line belongs to: the current OpenTelemetry
/// context's span when it has a valid one, else the current `tracing`
/// span's.
///
/// The OpenTelemetry context is the innermost of the two: a step attaches
/// its span's context on every poll, inside whatever `tracing` span the
/// caller instrumented the run with (`.instrument(info_span!("http.request"))`),
/// and our OpenTelemetry layer attaches a `tracing` span's context when the
/// span is entered (context activation), so a user's span entered inside a
/// step is current there too. The `tracing` span is the fallback for
/// subscribers whose OpenTelemetry layer doesn't activate contexts.
pub(crate) fn current_span_context() -> Option<opentelemetry::trace::SpanContext> {
    let current = opentelemetry::Context::current();
    let cx = if current.span().span_context().is_valid() {
        current
    } else {
        tracing::Span::current().context()
    };
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

/// Appends `bytes` as lowercase hex (the W3C spelling of trace and span ids).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
}

/// Formats events as one JSON object per line: `timestamp` (RFC 3339 UTC),
/// `level`, `target`, `message`, `fields`, and with correlation on,
/// `trace_id`, `span_id`, `correlation_id` and the enclosing `tracing`
/// spans' names.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct JsonFormat {
    /// Add trace/span/correlation ids.
    pub correlation: bool,
}

impl JsonFormat {
    /// The formatter; `correlation` adds trace, span and correlation ids.
    pub fn new(correlation: bool) -> Self {
        JsonFormat { correlation }
    }
}

/// Appends `s` as a JSON string literal (copies runs of plain bytes; only
/// ASCII bytes are ever escaped, so slicing stays on UTF-8 boundaries).
fn json_str(out: &mut String, s: &str) {
    use fmt::Write as _;
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Collects an event's fields straight into JSON text (no intermediate map).
#[derive(Default)]
pub(crate) struct JsonVisitor {
    pub(crate) message: String,
    /// The fields other than `message`, as JSON object members (no braces).
    pub(crate) fields: String,
    pub(crate) correlation_id: Option<String>,
}

impl JsonVisitor {
    fn key(&mut self, field: &Field) {
        if !self.fields.is_empty() {
            self.fields.push(',');
        }
        json_str(&mut self.fields, field.name());
        self.fields.push(':');
    }

    fn string(&mut self, field: &Field, v: &str) {
        match field.name() {
            "message" => self.message.push_str(v),
            name => {
                if name == "correlation_id" {
                    self.correlation_id = Some(v.to_owned());
                }
                self.key(field);
                json_str(&mut self.fields, v);
            }
        }
    }

    fn raw(&mut self, field: &Field, v: impl fmt::Display) {
        use fmt::Write as _;
        self.key(field);
        let _ = write!(self.fields, "{v}");
    }
}

impl Visit for JsonVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let v = format!("{value:?}");
        self.string(field, &v);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, value);
        } else {
            self.string(field, &value.to_string());
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.string(field, &value.to_string());
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
        use fmt::Write as _;
        let meta = event.metadata();
        let mut v = JsonVisitor {
            message: String::with_capacity(64),
            fields: String::with_capacity(192),
            correlation_id: None,
        };
        event.record(&mut v);
        let mut line = String::with_capacity(224 + v.message.len() + v.fields.len());
        let _ = write!(
            line,
            "{{\"timestamp\":\"{}\",\"level\":\"{}\",\"target\":",
            humantime::format_rfc3339_micros(std::time::SystemTime::now()),
            meta.level().as_str()
        );
        json_str(&mut line, meta.target());
        line.push_str(",\"message\":");
        json_str(&mut line, &v.message);
        if self.correlation {
            if let Some(sc) = current_span_context() {
                line.push_str(",\"trace_id\":\"");
                push_hex(&mut line, &sc.trace_id().to_bytes());
                line.push_str("\",\"span_id\":\"");
                push_hex(&mut line, &sc.span_id().to_bytes());
                line.push('"');
            }
            let correlation = v
                .correlation_id
                .clone()
                .or_else(|| primitives_core::current_correlation_id().map(|c| c.to_string()));
            if let Some(id) = correlation {
                line.push_str(",\"correlation_id\":");
                json_str(&mut line, &id);
            }
            if let Some(scope) = ctx.event_scope() {
                let mut first = true;
                for span in scope.from_root() {
                    line.push_str(if first { ",\"spans\":[" } else { "," });
                    first = false;
                    json_str(&mut line, span.name());
                }
                if !first {
                    line.push(']');
                }
            }
        }
        line.push_str(",\"fields\":{");
        line.push_str(&v.fields);
        line.push_str("}}");
        writeln!(writer, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::json_str;

    #[test]
    fn escapes_json_strings() {
        let mut out = String::new();
        json_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
    }
}
