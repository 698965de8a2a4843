//! Property tests of the W3C propagator (bounded: PROPTEST_CASES, 256 in
//! scripts/test.sh): arbitrary header fields never panic and never give a
//! context with invalid ids; valid `traceparent`, `tracestate` and
//! `baggage` survive a round trip exactly.

use std::collections::HashMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use observability_integration::propagation::{
    extract_otel_context, trace_state_of, HeaderInjector, W3cPropagator,
};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};
use opentelemetry::{Context, KeyValue};
use proptest::prelude::*;

/// Header fields from arbitrary bytes (those `http` accepts as values).
fn headers(fields: &[(u8, Vec<u8>)]) -> HeaderMap {
    let names = ["traceparent", "tracestate", "baggage", "x-correlation-id"];
    let mut h = HeaderMap::new();
    for (n, v) in fields {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            h.append(HeaderName::from_static(names[*n as usize % names.len()]), v);
        }
    }
    h
}

fn key() -> impl Strategy<Value = String> {
    "[0-9a-z][_0-9a-z*/@-]{0,40}"
}

fn value() -> impl Strategy<Value = String> {
    // Printable ASCII but ',' and '=', not ending in a space.
    "[ -+--<>-~]{0,30}[!-+--<>-~]"
}

proptest! {
    #[test]
    fn arbitrary_fields_never_panic(fields in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..300)), 0..8)) {
        let h = headers(&fields);
        let cx = extract_otel_context(&h);
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            prop_assert!(sc.trace_id() != TraceId::INVALID && sc.span_id() != SpanId::INVALID);
            prop_assert_eq!(sc.trace_flags().to_u8() & !0x03, 0);
        }
        prop_assert!(cx.baggage().len() <= 64);
        let mut out = HeaderMap::new();
        W3cPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut out));
        let _ = observability_integration::propagation::context_from_headers(&h);
    }

    #[test]
    fn valid_traceparents_round_trip(trace in 1u128.., parent in 1u64.., flags in any::<u8>()) {
        let sc = SpanContext::new(TraceId::from(trace), SpanId::from(parent), TraceFlags::new(flags), true, Default::default());
        let cx = Context::new().with_remote_span_context(sc);
        let mut out: HashMap<String, String> = HashMap::new();
        let p = W3cPropagator::new();
        p.inject_context(&cx, &mut out);
        let back = p.extract_with_context(&Context::new(), &out);
        let span = back.span();
        let got = span.span_context();
        prop_assert_eq!(got.trace_id(), TraceId::from(trace));
        prop_assert_eq!(got.span_id(), SpanId::from(parent));
        prop_assert_eq!(got.trace_flags().to_u8(), flags & 0x03);
    }

    #[test]
    fn valid_tracestate_lists_round_trip(members in prop::collection::vec((key(), value()), 1..32)) {
        let mut seen = std::collections::BTreeSet::new();
        let members: Vec<(String, String)> = members.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
        let header = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_static("00-12345678901234567890123456789012-1234567890123456-01"));
        // Split over two fields at an arbitrary member boundary.
        let (a, b) = members.split_at(members.len() / 2);
        for part in [a, b] {
            if !part.is_empty() {
                let v = part.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
                h.append("tracestate", HeaderValue::from_str(&v).unwrap());
            }
        }
        let cx = extract_otel_context(&h);
        let list = trace_state_of(&cx);
        let got: Vec<(String, String)> = list.members().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(&got, &members);
        let mut out: HashMap<String, String> = HashMap::new();
        W3cPropagator::new().inject_context(&cx, &mut out);
        prop_assert_eq!(out.get("tracestate"), Some(&header));
    }

    #[test]
    fn baggage_round_trips(entries in prop::collection::btree_map("[A-Za-z0-9_.-]{1,20}", "\\PC{0,40}", 0..20)) {
        let kvs: Vec<KeyValue> = entries.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect();
        let cx = Context::new().with_baggage(kvs);
        let mut out: HashMap<String, String> = HashMap::new();
        let p = W3cPropagator::new();
        p.inject_context(&cx, &mut out);
        let back = p.extract_with_context(&Context::new(), &out);
        for (k, v) in &entries {
            prop_assert_eq!(back.baggage().get(k.as_str()).map(|s| s.as_str().to_owned()), Some(v.clone()));
        }
        prop_assert_eq!(back.baggage().len(), entries.len());
    }
}
