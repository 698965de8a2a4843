//! One trace for the pages (`GET /api/traces/{id}`) and as OTLP JSON
//! (`GET /api/traces/{id}/otlp`).

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{json, Map, Value as Json};

use super::query::{duration_ms, rfc3339, row};
use super::store::{LogLine, Trace};

/// A copy of one trace, taken under the store's lock and rendered after.
#[derive(Debug)]
pub(crate) struct TraceCopy {
    pub(crate) spans: Vec<SpanData>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) run: Option<Json>,
}

impl TraceCopy {
    pub(crate) fn of(trace: &Trace) -> TraceCopy {
        TraceCopy {
            spans: trace.spans.clone(),
            logs: trace.logs.clone(),
            run: trace
                .root()
                .and_then(|root| serde_json::to_value(row(trace, root)).ok()),
        }
    }
}

fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        * 1000.0
}

fn value(v: &Value) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(*b),
        Value::I64(i) => json!(i),
        Value::F64(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| json!(f.to_string()), Json::Number)
        }
        Value::String(s) => json!(s.as_str()),
        Value::Array(Array::Bool(a)) => json!(a),
        Value::Array(Array::I64(a)) => json!(a),
        Value::Array(Array::F64(a)) => json!(a),
        Value::Array(Array::String(a)) => {
            Json::Array(a.iter().map(|s| json!(s.as_str())).collect())
        }
        other => json!(other.as_str()),
    }
}

fn attributes(kvs: &[KeyValue]) -> Json {
    Json::Object(
        kvs.iter()
            .map(|kv| (kv.key.as_str().to_owned(), value(&kv.value)))
            .collect::<Map<_, _>>(),
    )
}

fn kind(k: &SpanKind) -> &'static str {
    match k {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

/// The trace as the trace page reads it: spans in start order with their
/// parents, offsets from the trace's start, attributes, events and
/// status; the log lines in time order with the span each belongs to.
pub(crate) fn render(trace_id: &str, copy: TraceCopy) -> Json {
    let TraceCopy {
        mut spans,
        mut logs,
        run,
    } = copy;
    spans.sort_by_key(|s| s.start_time);
    logs.sort_by_key(|l| l.time);
    let start = spans
        .first()
        .map(|s| s.start_time)
        .into_iter()
        .chain(logs.first().map(|l| l.time))
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let end = spans.iter().map(|s| s.end_time).max().unwrap_or(start);
    let spans: Vec<Json> = spans
        .iter()
        .map(|s| {
            let (status, message) = match &s.status {
                Status::Error { description } => ("error", Some(description.to_string())),
                Status::Ok => ("ok", None),
                Status::Unset => ("unset", None),
            };
            json!({
                "span_id": s.span_context.span_id().to_string(),
                "parent_span_id": (s.parent_span_id != SpanId::INVALID)
                    .then(|| s.parent_span_id.to_string()),
                "parent_is_remote": s.parent_span_is_remote,
                "name": s.name,
                "kind": kind(&s.span_kind),
                "scope": s.instrumentation_scope.name(),
                "start": rfc3339(s.start_time),
                "start_ms": ms_between(start, s.start_time),
                "duration_ms": duration_ms(s),
                "status": status,
                "status_message": message,
                "attributes": attributes(&s.attributes),
                "dropped_attributes": s.dropped_attributes_count,
                "events": s.events.iter().map(|e| json!({
                    "name": e.name,
                    "at_ms": ms_between(start, e.timestamp),
                    "attributes": attributes(&e.attributes),
                })).collect::<Vec<_>>(),
                "links": s.links.iter().map(|l| json!({
                    "trace_id": l.span_context.trace_id().to_string(),
                    "span_id": l.span_context.span_id().to_string(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let logs: Vec<Json> = logs
        .iter()
        .map(|l| {
            json!({
                "time": rfc3339(l.time),
                "at_ms": ms_between(start, l.time),
                "level": l.level.as_str(),
                "target": l.target,
                "message": l.message,
                "fields": serde_json::from_str::<Json>(&l.fields).unwrap_or_else(|_| json!({})),
                "span_id": l.span_id.to_string(),
            })
        })
        .collect();
    json!({
        "trace_id": trace_id,
        "start": rfc3339(start),
        "duration_ms": ms_between(start, end),
        "run": run,
        "spans": spans,
        "logs": logs,
    })
}

/// The trace as an OTLP/JSON `ExportTraceServiceRequest` (what an OTLP/HTTP
/// receiver takes with `Content-Type: application/json`): the protobuf JSON
/// mapping with OTLP's rules — hex trace and span ids, enums as numbers,
/// 64-bit integers as strings, lowerCamelCase names.
pub(crate) fn otlp(spans: Vec<SpanData>, resource: &opentelemetry_sdk::Resource) -> Json {
    let mut scopes: Vec<(opentelemetry::InstrumentationScope, Vec<Json>)> = Vec::new();
    for s in &spans {
        let span = otlp_span(s);
        match scopes
            .iter_mut()
            .find(|(scope, _)| *scope == s.instrumentation_scope)
        {
            Some((_, list)) => list.push(span),
            None => scopes.push((s.instrumentation_scope.clone(), vec![span])),
        }
    }
    let resource_attrs: Vec<Json> = resource
        .iter()
        .map(|(k, v)| otlp_kv(k.as_str(), v))
        .collect();
    let scope_spans: Vec<Json> = scopes
        .into_iter()
        .map(|(scope, spans)| {
            let mut sc = json!({ "name": scope.name() });
            if let Some(v) = scope.version() {
                sc["version"] = json!(v);
            }
            json!({ "scope": sc, "spans": spans })
        })
        .collect();
    let mut rs = json!({ "resource": { "attributes": resource_attrs }, "scopeSpans": scope_spans });
    if let Some(url) = resource.schema_url() {
        rs["schemaUrl"] = json!(url);
    }
    json!({ "resourceSpans": [rs] })
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos()
        .to_string()
}

fn otlp_value(v: &Value) -> Json {
    let array = |values: Vec<Json>| json!({ "arrayValue": { "values": values } });
    match v {
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::I64(i) => json!({ "intValue": i.to_string() }),
        Value::F64(f) => json!({ "doubleValue": f }),
        Value::String(s) => json!({ "stringValue": s.as_str() }),
        Value::Array(Array::Bool(a)) => {
            array(a.iter().map(|b| json!({ "boolValue": b })).collect())
        }
        Value::Array(Array::I64(a)) => array(
            a.iter()
                .map(|i| json!({ "intValue": i.to_string() }))
                .collect(),
        ),
        Value::Array(Array::F64(a)) => {
            array(a.iter().map(|f| json!({ "doubleValue": f })).collect())
        }
        Value::Array(Array::String(a)) => array(
            a.iter()
                .map(|s| json!({ "stringValue": s.as_str() }))
                .collect(),
        ),
        other => json!({ "stringValue": other.as_str() }),
    }
}

fn otlp_kv(key: &str, v: &Value) -> Json {
    json!({ "key": key, "value": otlp_value(v) })
}

fn otlp_attrs(kvs: &[KeyValue]) -> Vec<Json> {
    kvs.iter()
        .map(|kv| otlp_kv(kv.key.as_str(), &kv.value))
        .collect()
}

fn otlp_span(s: &SpanData) -> Json {
    let kind = match s.span_kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    };
    let status = match &s.status {
        Status::Unset => json!({}),
        Status::Ok => json!({ "code": 1 }),
        Status::Error { description } => json!({ "code": 2, "message": description }),
    };
    // W3C flags, plus "has is_remote" (0x100) and "parent is remote" (0x200).
    let flags = u32::from(s.span_context.trace_flags().to_u8())
        | 0x100
        | if s.parent_span_is_remote { 0x200 } else { 0 };
    let mut span = json!({
        "traceId": s.span_context.trace_id().to_string(),
        "spanId": s.span_context.span_id().to_string(),
        "flags": flags,
        "name": s.name,
        "kind": kind,
        "startTimeUnixNano": nanos(s.start_time),
        "endTimeUnixNano": nanos(s.end_time),
        "attributes": otlp_attrs(&s.attributes),
        "droppedAttributesCount": s.dropped_attributes_count,
        "events": s.events.iter().map(|e| json!({
            "timeUnixNano": nanos(e.timestamp),
            "name": e.name,
            "attributes": otlp_attrs(&e.attributes),
            "droppedAttributesCount": e.dropped_attributes_count,
        })).collect::<Vec<_>>(),
        "droppedEventsCount": s.events.dropped_count,
        "links": s.links.iter().map(|l| json!({
            "traceId": l.span_context.trace_id().to_string(),
            "spanId": l.span_context.span_id().to_string(),
            "attributes": otlp_attrs(&l.attributes),
            "droppedAttributesCount": l.dropped_attributes_count,
        })).collect::<Vec<_>>(),
        "droppedLinksCount": s.links.dropped_count,
        "status": status,
    });
    if s.parent_span_id != SpanId::INVALID {
        span["parentSpanId"] = json!(s.parent_span_id.to_string());
    }
    let state = s.span_context.trace_state().header();
    if !state.is_empty() {
        span["traceState"] = json!(state);
    }
    span
}
