//! One trace for the pages (`GET /api/traces/{id}`) and as OTLP JSON
//! (`GET /api/traces/{id}/otlp`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use serde_json::{json, Map, Value as Json};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;

use super::query::{duration_ms, rfc3339, row, service_name};
use super::store::{LogLine, Trace};

/// A copy of one trace, taken under the store's lock and rendered after.
#[derive(Debug)]
pub(crate) struct TraceCopy {
    /// Each span with the resource of the process it came from (`None`:
    /// this process).
    pub(crate) spans: Vec<(SpanData, Option<Arc<Resource>>)>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) run: Option<Json>,
}

impl TraceCopy {
    /// `local` is this process's service name.
    pub(crate) fn of(trace: &Trace, local: &str) -> TraceCopy {
        TraceCopy {
            spans: (trace.spans.iter().enumerate())
                .map(|(i, s)| (s.clone(), trace.resource_of(i).cloned()))
                .collect(),
            logs: trace.logs.clone(),
            run: trace
                .root()
                .and_then(|root| serde_json::to_value(row(trace, root, local)).ok()),
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
/// `local` is this process's resource.
pub(crate) fn render(trace_id: &str, copy: TraceCopy, local: &Resource) -> Json {
    let TraceCopy {
        mut spans,
        mut logs,
        run,
    } = copy;
    spans.sort_by_key(|(s, _)| s.start_time);
    logs.sort_by_key(|l| l.time);
    let local_service = service_name(local);
    let start = spans
        .first()
        .map(|(s, _)| s.start_time)
        .into_iter()
        .chain(logs.first().map(|l| l.time))
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let end = spans.iter().map(|(s, _)| s.end_time).max().unwrap_or(start);
    let spans: Vec<Json> = spans
        .iter()
        .map(|(s, resource)| {
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
                "service": resource.as_deref().map_or_else(|| local_service.clone(), service_name),
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
/// receiver takes with `Content-Type: application/json`), one
/// `resourceSpans` per process the spans came from; `local` is this
/// process's resource. The protobuf JSON mapping with OTLP's rules (hex
/// ids, enums as numbers, 64-bit integers as strings) is
/// `opentelemetry-proto`'s.
pub(crate) fn otlp(spans: Vec<(SpanData, Option<Arc<Resource>>)>, local: &Resource) -> Json {
    let mut groups: Vec<(Option<Arc<Resource>>, Vec<SpanData>)> = Vec::new();
    for (span, resource) in spans {
        let same = |r: &Option<Arc<Resource>>| match (r, &resource) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        match groups.iter_mut().find(|(r, _)| same(r)) {
            Some((_, list)) => list.push(span),
            None => groups.push((resource, vec![span])),
        }
    }
    let resource_spans = groups
        .into_iter()
        .flat_map(|(resource, spans)| {
            let attrs = ResourceAttributesWithSchema::from(resource.as_deref().unwrap_or(local));
            group_spans_by_resource_and_scope(spans, &attrs)
        })
        .collect();
    serde_json::to_value(ExportTraceServiceRequest { resource_spans })
        .unwrap_or_else(|e| json!({ "error": e.to_string() }))
}
