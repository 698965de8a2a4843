//! Between a [`WorkflowContext`] (and the OpenTelemetry context of its
//! current step) and `http::HeaderMap`: trace context, baggage and the
//! correlation id.

use http::{HeaderMap, HeaderValue};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::{Context, KeyValue};
use primitives_core::WorkflowContext;

use super::correlation::{correlation_header, valid_correlation_id};
use super::W3cPropagator;

/// Reads header fields for a propagator, every field of a name included.
#[derive(Debug)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        // A field that isn't visible ASCII is kept as an empty string, so
        // "two traceparent fields" still counts it.
        let all: Vec<&str> = self
            .0
            .get_all(key)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        (!all.is_empty()).then_some(all)
    }
}

/// Writes header fields for a propagator (a value that isn't a valid
/// header value is left out).
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The OpenTelemetry context an outgoing request of `ctx` carries: the
/// current step's span and the run's baggage.
fn outgoing(ctx: &WorkflowContext) -> Context {
    let baggage: Vec<KeyValue> = ctx
        .baggage()
        .iter()
        .map(|(k, (v, _))| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let cx = ctx.otel_context();
    if baggage.is_empty() {
        cx
    } else {
        cx.with_baggage(baggage)
    }
}

/// Writes `ctx`'s trace context (`traceparent`, `tracestate`), baggage and
/// correlation id into `headers`, for an outgoing request made inside a
/// step (its span becomes the remote parent).
pub fn inject_headers(ctx: &WorkflowContext, headers: &mut HeaderMap) {
    W3cPropagator::new().inject_context(&outgoing(ctx), &mut HeaderInjector(headers));
    if let Ok(v) = HeaderValue::from_str(ctx.correlation_id()) {
        headers.insert(correlation_header(), v);
    }
}

/// The OpenTelemetry context `headers` carry (remote parent, baggage).
pub fn extract_otel_context(headers: &HeaderMap) -> Context {
    W3cPropagator::new().extract_with_context(&Context::new(), &HeaderExtractor(headers))
}

/// The incoming correlation id, if it is one we accept (see
/// [`valid_correlation_id`](super::valid_correlation_id)).
pub fn incoming_correlation_id(headers: &HeaderMap) -> Option<&str> {
    let mut all = headers.get_all(correlation_header()).iter();
    match (all.next(), all.next()) {
        (Some(v), None) => v.to_str().ok().filter(|id| valid_correlation_id(id)),
        _ => None,
    }
}

/// A run continuing what `headers` carry: its root span a child of the
/// remote parent, the incoming baggage, and the incoming correlation id
/// when it is valid (else a new one).
pub fn context_from_headers(headers: &HeaderMap) -> WorkflowContext {
    run_context(headers, extract_otel_context(headers))
}

/// A run parented on `cx` (extracted from `headers`, perhaps with a span
/// started under it), with `cx`'s baggage and the incoming correlation id
/// when it is valid (else a new one).
pub(crate) fn run_context(headers: &HeaderMap, cx: Context) -> WorkflowContext {
    let mut ctx = WorkflowContext::new();
    if let Some(id) = incoming_correlation_id(headers) {
        ctx = ctx.with_correlation_id(id);
    }
    for (k, (v, _)) in cx.baggage() {
        ctx = ctx.with_baggage(k.as_str(), v.as_str());
    }
    ctx.with_parent(cx)
}
