//! OTLP/HTTP intake: `POST /v1/traces` takes other processes' spans into
//! the store, so a service in another language (or another of your Rust
//! services) shows in the same viewer and one request across processes is
//! one trace. Spans taken in are stored only, never exported again.
//!
//! Protobuf (`application/x-protobuf`) and JSON (`application/json`, the
//! OTLP JSON mapping), each plain or gzip (`Content-Encoding: gzip`). The
//! body is at most [`MAX_BODY`] bytes on the wire and again after gzip;
//! beyond, the answer is 413 and nothing is stored. The answer is an
//! `ExportTraceServiceResponse` in the request's format, with a partial
//! success naming how many spans were rejected (bad ids) and why.

use std::io::Read;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::trace::v1 as proto;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;
use prost::Message;

use super::store::Store;

/// The most bytes one request may carry, compressed and again after gzip.
pub(crate) const MAX_BODY: usize = 16 << 20;

/// The body's format, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

/// A refused request: its status and why (plain text).
type Refused = (StatusCode, String);

fn format_of(headers: &HeaderMap) -> Result<Format, Refused> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-protobuf")
        || essence.eq_ignore_ascii_case("application/protobuf")
    {
        Ok(Format::Protobuf)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Ok(Format::Json)
    } else {
        Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {ct:?}: OTLP/HTTP takes application/x-protobuf or application/json"
            ),
        ))
    }
}

/// The body, gunzipped when `Content-Encoding: gzip`, at most [`MAX_BODY`].
fn decoded(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, Refused> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim();
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over {MAX_BODY} bytes after gzip; send smaller batches (max_export_batch_size)"),
        )
    };
    if encoding.eq_ignore_ascii_case("gzip") {
        let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(MAX_BODY));
        flate2::read::GzDecoder::new(body)
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the gzip body is broken: {e}"),
                )
            })?;
        if out.len() > MAX_BODY {
            return Err(too_large());
        }
        Ok(out)
    } else if encoding.eq_ignore_ascii_case("identity") || encoding.is_empty() {
        if body.len() > MAX_BODY {
            return Err(too_large());
        }
        Ok(body.to_vec())
    } else {
        Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {encoding:?}: the viewer takes gzip or none"),
        ))
    }
}

/// What one request brought: spans by the resource that sent them, and
/// what was rejected.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) groups: Vec<(Arc<Resource>, Vec<SpanData>)>,
    pub(crate) rejected: i64,
    pub(crate) first_error: Option<String>,
}

impl Batch {
    fn reject(&mut self, why: String) {
        self.rejected += 1;
        self.first_error.get_or_insert(why);
    }
}

/// Decodes and stores one request; the response to send. Runs on the
/// blocking pool (decoding a large batch is CPU work).
pub(crate) fn take(store: &Store, headers: &HeaderMap, body: &[u8]) -> Response {
    let result = format_of(headers).and_then(|format| {
        let bytes = decoded(headers, body)?;
        let request = match format {
            Format::Protobuf => ExportTraceServiceRequest::decode(bytes.as_slice())
                .map_err(|e| format!("not an OTLP ExportTraceServiceRequest (protobuf): {e}")),
            Format::Json => serde_json::from_slice::<ExportTraceServiceRequest>(&bytes)
                .map_err(|e| format!("not an OTLP ExportTraceServiceRequest (JSON): {e}")),
        }
        .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        Ok((format, convert(request)))
    });
    match result {
        Ok((format, batch)) => {
            let partial = (batch.rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: batch.rejected,
                error_message: batch.first_error.clone().unwrap_or_default(),
            });
            let received: usize = batch.groups.iter().map(|(_, s)| s.len()).sum();
            store.count_intake(received as u64, batch.rejected.unsigned_abs());
            for (resource, spans) in batch.groups {
                store.insert_from(spans, Some(resource));
            }
            respond(
                format,
                &ExportTraceServiceResponse {
                    partial_success: partial,
                },
            )
        }
        Err((status, message)) => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message + "\n",
        )
            .into_response(),
    }
}

fn respond(format: Format, response: &ExportTraceServiceResponse) -> Response {
    match format {
        Format::Protobuf => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response(),
        Format::Json => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec()),
        )
            .into_response(),
    }
}

/// The request's spans as the SDK's `SpanData`, grouped by resource.
pub(crate) fn convert(request: ExportTraceServiceRequest) -> Batch {
    let mut batch = Batch::default();
    for rs in request.resource_spans {
        let attrs = rs
            .resource
            .map(|r| key_values(r.attributes))
            .unwrap_or_default();
        let resource = if rs.schema_url.is_empty() {
            Resource::builder_empty().with_attributes(attrs).build()
        } else {
            Resource::builder_empty()
                .with_schema_url(attrs, rs.schema_url)
                .build()
        };
        let mut spans = Vec::new();
        for ss in rs.scope_spans {
            let scope = ss.scope.map_or_else(
                || InstrumentationScope::builder("").build(),
                |s| {
                    let mut b = InstrumentationScope::builder(s.name)
                        .with_attributes(key_values(s.attributes));
                    if !s.version.is_empty() {
                        b = b.with_version(s.version);
                    }
                    if !ss.schema_url.is_empty() {
                        b = b.with_schema_url(ss.schema_url.clone());
                    }
                    b.build()
                },
            );
            for span in ss.spans {
                match span_data(span, &scope) {
                    Ok(s) => spans.push(s),
                    Err(why) => batch.reject(why),
                }
            }
        }
        if !spans.is_empty() {
            batch.groups.push((Arc::new(resource), spans));
        }
    }
    batch
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    <[u8; 16]>::try_from(bytes)
        .ok()
        .map(TraceId::from_bytes)
        .filter(|t| *t != TraceId::INVALID)
}

fn span_id(bytes: &[u8]) -> Option<SpanId> {
    <[u8; 8]>::try_from(bytes)
        .ok()
        .map(SpanId::from_bytes)
        .filter(|s| *s != SpanId::INVALID)
}

fn time(nanos: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// Bits of `Span.flags` past the W3C trace flags: whether the sender
/// knows if the parent is remote, and that it is.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

fn context(trace: TraceId, span: SpanId, flags: u32, state: &str, remote: bool) -> SpanContext {
    let state = TraceState::from_str(state).unwrap_or(TraceState::NONE);
    // Spans sent here were recorded, so sampled.
    let flags = TraceFlags::new((flags & 0xff) as u8) | TraceFlags::SAMPLED;
    SpanContext::new(trace, span, flags, remote, state)
}

fn span_data(span: proto::Span, scope: &InstrumentationScope) -> Result<SpanData, String> {
    let name = span.name;
    let tid = trace_id(&span.trace_id)
        .ok_or_else(|| format!("span {name:?}: traceId must be 16 bytes, not all zero"))?;
    let sid = span_id(&span.span_id)
        .ok_or_else(|| format!("span {name:?}: spanId must be 8 bytes, not all zero"))?;
    let parent = if span.parent_span_id.is_empty() {
        SpanId::INVALID
    } else {
        span_id(&span.parent_span_id).ok_or_else(|| {
            format!("span {name:?}: parentSpanId must be empty or 8 bytes, not all zero")
        })?
    };
    let kind = match proto::span::SpanKind::try_from(span.kind) {
        Ok(proto::span::SpanKind::Server) => SpanKind::Server,
        Ok(proto::span::SpanKind::Client) => SpanKind::Client,
        Ok(proto::span::SpanKind::Producer) => SpanKind::Producer,
        Ok(proto::span::SpanKind::Consumer) => SpanKind::Consumer,
        _ => SpanKind::Internal,
    };
    let status = match span.status {
        Some(s) if s.code == proto::status::StatusCode::Error as i32 => Status::error(s.message),
        Some(s) if s.code == proto::status::StatusCode::Ok as i32 => Status::Ok,
        _ => Status::Unset,
    };
    let start = time(span.start_time_unix_nano);
    let end = time(span.end_time_unix_nano).max(start);
    let mut events = SpanEvents::default();
    events.events = span
        .events
        .into_iter()
        .map(|e| {
            opentelemetry::trace::Event::new(
                e.name,
                time(e.time_unix_nano),
                key_values(e.attributes),
                e.dropped_attributes_count,
            )
        })
        .collect();
    events.dropped_count = span.dropped_events_count;
    let mut links = SpanLinks::default();
    links.links = span
        .links
        .into_iter()
        .filter_map(|l| {
            let ctx = context(
                trace_id(&l.trace_id)?,
                span_id(&l.span_id)?,
                l.flags,
                &l.trace_state,
                l.flags & IS_REMOTE != 0,
            );
            Some(opentelemetry::trace::Link::new(
                ctx,
                key_values(l.attributes),
                l.dropped_attributes_count,
            ))
        })
        .collect();
    links.dropped_count = span.dropped_links_count;
    let parent_remote = span.flags & (HAS_IS_REMOTE | IS_REMOTE) == HAS_IS_REMOTE | IS_REMOTE;
    Ok(SpanData {
        span_context: context(tid, sid, span.flags, &span.trace_state, false),
        parent_span_id: parent,
        parent_span_is_remote: parent_remote,
        span_kind: kind,
        name: name.into(),
        start_time: start,
        end_time: end,
        attributes: key_values(span.attributes),
        dropped_attributes_count: span.dropped_attributes_count,
        events,
        links,
        status,
        instrumentation_scope: scope.clone(),
    })
}

fn key_values(kvs: Vec<ProtoKeyValue>) -> Vec<KeyValue> {
    kvs.into_iter()
        .map(|kv| KeyValue::new(kv.key, any(kv.value)))
        .collect()
}

/// An OTLP value as an attribute value. Arrays of one type stay arrays;
/// maps, mixed arrays and bytes become their JSON text.
fn any(v: Option<AnyValue>) -> Value {
    match v.and_then(|v| v.value) {
        Some(any_value::Value::StringValue(s)) => Value::from(s),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
        Some(any_value::Value::IntValue(i)) => Value::I64(i),
        Some(any_value::Value::DoubleValue(f)) => Value::F64(f),
        Some(any_value::Value::ArrayValue(a)) => array(a.values),
        Some(other) => Value::from(text(&other).to_string()),
        None => Value::from(""),
    }
}

fn array(values: Vec<AnyValue>) -> Value {
    use any_value::Value as V;
    let items: Vec<Option<V>> = values.into_iter().map(|v| v.value).collect();
    macro_rules! all {
        ($variant:ident, $array:ident, $map:expr) => {
            if items.iter().all(|v| matches!(v, Some(V::$variant(_)))) {
                return Value::Array(Array::$array(
                    items
                        .into_iter()
                        .filter_map(|v| match v {
                            Some(V::$variant(x)) => Some($map(x)),
                            _ => None,
                        })
                        .collect(),
                ));
            }
        };
    }
    all!(StringValue, String, StringValue::from);
    all!(BoolValue, Bool, |b| b);
    all!(IntValue, I64, |i| i);
    all!(DoubleValue, F64, |f| f);
    let json: Vec<serde_json::Value> = items
        .iter()
        .map(|v| v.as_ref().map_or(serde_json::Value::Null, text))
        .collect();
    Value::from(serde_json::Value::Array(json).to_string())
}

/// A value as JSON (for maps, mixed arrays and bytes, kept as text).
fn text(v: &any_value::Value) -> serde_json::Value {
    use any_value::Value as V;
    use serde_json::json;
    match v {
        V::StringValue(s) => json!(s),
        V::BoolValue(b) => json!(b),
        V::IntValue(i) => json!(i),
        V::DoubleValue(f) => json!(f),
        V::ArrayValue(a) => serde_json::Value::Array(
            a.values
                .iter()
                .map(|x| x.value.as_ref().map_or(serde_json::Value::Null, text))
                .collect(),
        ),
        V::KvlistValue(l) => serde_json::Value::Object(
            l.values
                .iter()
                .map(|kv| {
                    let value = kv
                        .value
                        .as_ref()
                        .and_then(|x| x.value.as_ref())
                        .map_or(serde_json::Value::Null, text);
                    (kv.key.clone(), value)
                })
                .collect(),
        ),
        V::BytesValue(b) => json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        V::StringValueStrindex(i) => json!(i),
    }
}
