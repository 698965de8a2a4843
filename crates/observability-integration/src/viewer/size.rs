//! What a stored span or log line costs, in bytes: the store's own
//! accounting. The inline size of each value plus the heap it owns
//! (strings, attribute lists, events, links); allocator overhead and
//! spare capacity are not counted.

use std::mem::size_of;

use opentelemetry::trace::{Event, Link, Status};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use super::store::LogLine;

/// A trace's own bookkeeping beside its spans and lines (its map entry,
/// its place in the eviction and listing orders).
pub(super) const TRACE_OVERHEAD: usize = 256;

/// The bytes `span` holds.
pub(super) fn span(span: &SpanData) -> usize {
    let events: usize = span
        .events
        .iter()
        .map(|e: &Event| size_of::<Event>() + e.name.len() + attributes(&e.attributes))
        .sum();
    let links: usize = span
        .links
        .iter()
        .map(|l: &Link| size_of::<Link>() + attributes(&l.attributes))
        .sum();
    let status = match &span.status {
        Status::Error { description } => description.len(),
        _ => 0,
    };
    size_of::<SpanData>()
        + span.name.len()
        + attributes(&span.attributes)
        + events
        + links
        + status
        + span.span_context.trace_state().header().len()
}

/// The bytes `line` holds.
pub(super) fn log(line: &LogLine) -> usize {
    size_of::<LogLine>() + line.target.len() + line.message.len() + line.fields.len()
}

/// The bytes another process's resource holds (counted in each trace
/// that holds it).
pub(super) fn resource(r: &Resource) -> usize {
    size_of::<Resource>()
        + r.iter()
            .map(|(k, v)| size_of::<KeyValue>() + k.as_str().len() + value(v))
            .sum::<usize>()
}

fn attributes(kvs: &[KeyValue]) -> usize {
    kvs.iter()
        .map(|kv| size_of::<KeyValue>() + kv.key.as_str().len() + value(&kv.value))
        .sum()
}

fn value(v: &Value) -> usize {
    match v {
        Value::String(s) => s.as_str().len(),
        Value::Array(Array::String(items)) => items
            .iter()
            .map(|s| size_of::<StringValue>() + s.as_str().len())
            .sum(),
        Value::Array(Array::Bool(items)) => items.len(),
        Value::Array(Array::I64(items)) => items.len() * size_of::<i64>(),
        Value::Array(Array::F64(items)) => items.len() * size_of::<f64>(),
        _ => 0,
    }
}
