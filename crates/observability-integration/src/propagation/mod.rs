//! W3C Trace Context (level 2) and Baggage propagation: [`W3cPropagator`],
//! installed as the global OpenTelemetry propagator at setup, and used by
//! the HTTP server layer and client to carry a run across services.
//!
//! Where it goes beyond opentelemetry-rust's `TraceContextPropagator`:
//! it keeps the random trace-id flag (0x02) of an incoming `traceparent`;
//! combines several `tracestate` fields into one list; starts a new trace
//! when a request carries two `traceparent` fields; checks `tracestate`
//! against the spec's key and value grammar (at most 32 members) and
//! propagates it whole, keys OpenTelemetry's own `TraceState` refuses
//! (`foo@@bar`, `t@` followed by 15 characters) included; and reads
//! baggage from every `baggage` field within the W3C limits (64 members,
//! 8192 bytes).

mod baggage;
mod correlation;
mod headers;
mod traceparent;
mod tracestate;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};

pub use baggage::{MAX_BYTES as BAGGAGE_MAX_BYTES, MAX_MEMBERS as BAGGAGE_MAX_MEMBERS};
pub(crate) use correlation::set_correlation_header;
pub use correlation::{
    correlation_header, valid_correlation_id, DEFAULT_CORRELATION_HEADER, MAX_CORRELATION_ID_LEN,
};
pub(crate) use headers::run_context;
pub use headers::{
    context_from_headers, extract_otel_context, incoming_correlation_id, inject_headers,
    HeaderExtractor, HeaderInjector,
};
pub use traceparent::{FLAG_RANDOM, FLAG_SAMPLED};
pub use tracestate::TraceStateList;

/// Header names.
pub mod header {
    /// W3C Trace Context: the parent span.
    pub const TRACEPARENT: &str = "traceparent";
    /// W3C Trace Context: vendor state.
    pub const TRACESTATE: &str = "tracestate";
    /// W3C Baggage.
    pub const BAGGAGE: &str = "baggage";
}

/// The incoming `tracestate` of a remote parent, kept in the OpenTelemetry
/// context of its trace so an outgoing request sends it whole.
#[derive(Debug, Clone)]
struct RemoteTraceState {
    trace_id: TraceId,
    list: TraceStateList,
}

/// Marks a trace whose id is random although the span context in force
/// doesn't say so: the SDK's spans start new traces (random ids) without
/// the level-2 random flag, and its dropped spans lose their parent's
/// flags. Outgoing requests of the trace then carry the flag.
#[derive(Debug, Clone, Copy)]
struct RandomTrace(TraceId);

/// `cx` (holding a span just started under `parent`) marked so requests
/// of its trace carry the random flag when `parent` had it, or when `cx`
/// started a new trace (SDK trace ids are random).
pub(crate) fn keep_random_flag(parent: &Context, cx: Context) -> Context {
    let parent_span = parent.span();
    let psc = parent_span.span_context();
    let random = !psc.is_valid() || psc.trace_flags().to_u8() & FLAG_RANDOM != 0;
    let trace_id = cx.span().span_context().trace_id();
    if random {
        cx.with_value(RandomTrace(trace_id))
    } else {
        cx
    }
}

/// The flags an outgoing request of `cx` carries.
fn outgoing_flags(cx: &Context, sc: &SpanContext) -> opentelemetry::trace::TraceFlags {
    let mut flags = sc.trace_flags().to_u8();
    if cx
        .get::<RandomTrace>()
        .is_some_and(|r| r.0 == sc.trace_id())
    {
        flags |= FLAG_RANDOM;
    }
    opentelemetry::trace::TraceFlags::new(flags)
}

/// W3C `traceparent`, `tracestate` and `baggage` (see the module docs).
#[derive(Debug)]
pub struct W3cPropagator {
    fields: [String; 3],
}

impl Default for W3cPropagator {
    fn default() -> Self {
        W3cPropagator {
            fields: [header::TRACEPARENT, header::TRACESTATE, header::BAGGAGE].map(String::from),
        }
    }
}

impl W3cPropagator {
    /// The propagator.
    pub fn new() -> Self {
        W3cPropagator::default()
    }
}

/// Every value of `key` (header fields in order).
fn all<'a>(extractor: &'a dyn Extractor, key: &str) -> Vec<&'a str> {
    extractor.get_all(key).unwrap_or_default()
}

/// The `tracestate` list an outgoing request of `cx` carries: the remote
/// parent's whole list while in its trace, else what the span context
/// holds.
pub fn trace_state_of(cx: &Context) -> TraceStateList {
    let span = cx.span();
    let sc = span.span_context();
    match cx.get::<RemoteTraceState>() {
        Some(r) if r.trace_id == sc.trace_id() => r.list.clone(),
        _ => TraceStateList::from_trace_state(sc.trace_state()),
    }
}

impl TextMapPropagator for W3cPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            let flags = outgoing_flags(cx, sc);
            injector.set(header::TRACEPARENT, traceparent::format(sc, flags));
            if let Some(ts) = trace_state_of(cx).header() {
                injector.set(header::TRACESTATE, ts);
            }
        }
        if let Some(b) = baggage::format(cx.baggage()) {
            injector.set(header::BAGGAGE, b);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut cx = cx.clone();
        if let Some(tp) = traceparent::parse(&all(extractor, header::TRACEPARENT)) {
            let list = TraceStateList::parse(&all(extractor, header::TRACESTATE));
            let sc = SpanContext::new(
                tp.trace_id,
                tp.parent_id,
                tp.flags,
                true,
                list.to_trace_state(),
            );
            cx = cx
                .with_remote_span_context(sc)
                .with_value(RemoteTraceState {
                    trace_id: tp.trace_id,
                    list,
                });
        }
        let incoming = baggage::parse(&all(extractor, header::BAGGAGE));
        if !incoming.is_empty() {
            let entries: Vec<KeyValue> = incoming
                .iter()
                .map(|(k, (v, _))| KeyValue::new(k.clone(), v.clone()))
                .collect();
            cx = cx.with_baggage(entries);
        }
        cx
    }

    fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
        opentelemetry::propagation::text_map_propagator::FieldIter::new(&self.fields)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Header fields, several per name allowed.
    #[derive(Default)]
    struct Fields(Vec<(String, String)>);

    impl Extractor for Fields {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| k.as_str()).collect()
        }
        fn get_all(&self, key: &str) -> Option<Vec<&str>> {
            let v: Vec<&str> = self
                .0
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
                .collect();
            (!v.is_empty()).then_some(v)
        }
    }

    fn fields(list: &[(&str, &str)]) -> Fields {
        Fields(
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const TP: &str = "00-12345678901234567890123456789012-1234567890123456-03";

    #[test]
    fn a_round_trip_keeps_ids_flags_state_and_baggage() {
        let p = W3cPropagator::new();
        let cx = p.extract_with_context(
            &Context::new(),
            &fields(&[
                ("traceparent", TP),
                ("tracestate", "foo@@bar=1"),
                ("TraceState", "rojo=2"),
                ("baggage", "tenant=acme"),
            ]),
        );
        let sc = cx.span().span_context().clone();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(sc.trace_flags().to_u8() & FLAG_RANDOM, FLAG_RANDOM);
        let mut out: HashMap<String, String> = HashMap::new();
        p.inject_context(&cx, &mut out);
        assert_eq!(out["traceparent"], TP);
        assert_eq!(
            out["tracestate"], "foo@@bar=1,rojo=2",
            "combined, kept whole"
        );
        assert_eq!(out["baggage"], "tenant=acme");
    }

    #[test]
    fn two_traceparents_or_an_invalid_one_extract_nothing_but_baggage() {
        let p = W3cPropagator::new();
        for f in [
            fields(&[
                ("traceparent", TP),
                ("traceparent", TP),
                ("tracestate", "a=1"),
            ]),
            fields(&[("traceparent", "00-xyz"), ("tracestate", "a=1")]),
            fields(&[("tracestate", "a=1")]),
        ] {
            let cx = p.extract_with_context(&Context::new(), &f);
            assert!(!cx.span().span_context().is_valid());
            let mut out: HashMap<String, String> = HashMap::new();
            p.inject_context(&cx, &mut out);
            assert!(out.is_empty(), "{out:?}");
        }
        let cx = p.extract_with_context(
            &Context::new(),
            &fields(&[("traceparent", TP), ("traceparent", TP), ("baggage", "k=v")]),
        );
        assert_eq!(
            cx.baggage().get("k").map(|v| v.as_str().to_owned()),
            Some("v".into())
        );
    }

    #[test]
    fn another_trace_does_not_send_the_remote_tracestate() {
        let p = W3cPropagator::new();
        let cx = p.extract_with_context(
            &Context::new(),
            &fields(&[("traceparent", TP), ("tracestate", "foo@@bar=1")]),
        );
        let other = SpanContext::new(
            TraceId::from(7u128),
            opentelemetry::trace::SpanId::from(9u64),
            opentelemetry::trace::TraceFlags::SAMPLED,
            false,
            Default::default(),
        );
        let cx = cx.with_remote_span_context(other);
        let mut out: HashMap<String, String> = HashMap::new();
        p.inject_context(&cx, &mut out);
        assert!(!out.contains_key("tracestate"), "{out:?}");
    }
}
