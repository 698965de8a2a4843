//! The store's unit tests: bounds, eviction order, roots, resources.

use super::*;
use opentelemetry::trace::{SpanContext, SpanKind, TraceFlags, TraceState};
use opentelemetry::InstrumentationScope;
use std::time::Duration;

fn span(trace: u128, id: u64, parent: u64, failed: bool) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + id);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(trace),
            SpanId::from(id),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: SpanId::from(parent),
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: "primitive.step".into(),
        start_time: start,
        end_time: start + Duration::from_millis(3),
        attributes: vec![opentelemetry::KeyValue::new("k", "v".repeat(100))],
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: if failed {
            Status::error("boom")
        } else {
            Status::Ok
        },
        instrumentation_scope: InstrumentationScope::builder("t").build(),
    }
}

/// A one-span run of `ms` milliseconds, with a cost when given.
fn run(trace: u128, ms: u64, cost: Option<f64>, failed: bool) -> SpanData {
    let mut s = span(trace, trace as u64, 0, failed);
    s.end_time = s.start_time + Duration::from_millis(ms);
    if let Some(c) = cost {
        s.attributes.push(opentelemetry::KeyValue::new(
            crate::llm::names::total::COST_TOTAL,
            c,
        ));
    }
    s
}

#[test]
fn failed_slow_and_expensive_runs_outlive_ordinary_ones_in_that_order() {
    let one = size::span(&run(1, 3, Some(0.01), true)) + size::TRACE_OVERHEAD + 64;
    let bound = one * 10;
    let store = Store::new(bound);
    let mut t = 0u128;
    let mut next = || {
        t += 1;
        t
    };
    // Warm-up: the p90s need MIN_RUNS runs (equal ones: none is the tail).
    for _ in 0..20 {
        store.insert(vec![run(next(), 3, Some(0.01), false)]);
    }
    let (slow, expensive, failed) = (next(), next(), next());
    store.insert(vec![run(slow, 300, Some(0.01), false)]);
    store.insert(vec![run(expensive, 3, Some(5.0), false)]);
    store.insert(vec![run(failed, 3, Some(0.01), true)]);
    for _ in 0..100 {
        store.insert(vec![run(next(), 3, Some(0.01), false)]);
    }
    let s = store.stats();
    assert!(s.evicted_ordinary > 100, "{s:?}");
    assert_eq!(
        (s.evicted_expensive, s.evicted_slow, s.evicted_failed),
        (0, 0, 0),
        "{s:?}"
    );
    store.read(|inner| {
        for (id, class) in [
            (slow, Class::Slow),
            (expensive, Class::Expensive),
            (failed, Class::Failed),
        ] {
            assert_eq!(inner.traces[&TraceId::from(id)].class, class, "{id}");
        }
    });
    // Failed runs flood in: the rest of the ordinary ones go, then the
    // slow run, then the expensive one, then the oldest failed.
    let mut order = Vec::new();
    for _ in 0..20 {
        store.insert(vec![run(next(), 3, None, true)]);
        let s = store.stats();
        for (n, class) in [
            (s.evicted_expensive, "expensive"),
            (s.evicted_slow, "slow"),
            (s.evicted_failed, "failed"),
        ] {
            if n > 0 && !order.contains(&class) {
                order.push(class);
            }
        }
    }
    assert_eq!(order, ["slow", "expensive", "failed"]);
    store.read(|inner| assert!(!inner.traces.contains_key(&TraceId::from(failed))));
}

#[test]
fn a_parentless_span_is_the_row_over_one_with_a_remote_parent() {
    let store = Store::new(1 << 20);
    // Service B's server span (remote parent) arrives first, then A's root.
    let mut server = span(8, 5, 4, false);
    server.parent_span_is_remote = true;
    let mut root = span(8, 9, 0, false);
    root.start_time = server.start_time + Duration::from_millis(1);
    let other = Arc::new(Resource::builder_empty().with_service_name("b").build());
    store.insert_from(vec![server], Some(other.clone()));
    store.insert(vec![root]);
    store.read(|inner| {
        let t = &inner.traces[&TraceId::from(8u128)];
        assert_eq!(t.root().unwrap().span_context.span_id(), SpanId::from(9u64));
        assert_eq!(t.resource_of(0).map(Arc::as_ptr), Some(Arc::as_ptr(&other)));
        assert!(t.resource_of(1).is_none(), "this process");
    });
}

#[test]
fn stays_within_bound_and_keeps_failed_runs_longest() {
    let one = size::span(&span(1, 1, 0, false)) + size::TRACE_OVERHEAD;
    // Ten runs fit (a failed one's status message takes a few bytes more).
    let bound = one * 10 + 64;
    let store = Store::new(bound);
    // Run 1 fails; 2..=40 succeed.
    store.insert(vec![span(1, 1, 0, true)]);
    for t in 2..=40u128 {
        store.insert(vec![span(t, t as u64, 0, false)]);
        assert!(store.stats().bytes <= bound);
    }
    let s = store.stats();
    assert!(s.peak_bytes <= s.max_bytes, "{s:?}");
    assert_eq!(s.evicted_failed, 0, "{s:?}");
    assert_eq!(s.evicted_ordinary, 30, "{s:?}");
    store.read(|inner| {
        assert!(inner.traces.contains_key(&TraceId::from(1u128)));
        assert!(!inner.traces.contains_key(&TraceId::from(2u128)));
        assert!(inner.traces.contains_key(&TraceId::from(40u128)));
    });
}

#[test]
fn one_trace_never_takes_more_than_half_and_keeps_its_root() {
    let bound = 64 * 1024;
    let store = Store::new(bound);
    for i in 2..2000u64 {
        store.insert(vec![span(9, i, 1, false)]);
    }
    let root = span(9, 1, 0, true);
    let root_bytes = size::span(&root);
    store.insert(vec![root]);
    let s = store.stats();
    assert!(s.spans_dropped > 1000, "{s:?}");
    store.read(|inner| {
        let t = &inner.traces[&TraceId::from(9u128)];
        assert!(t.root().is_some(), "the root is kept");
        assert!(t.bytes <= bound / 2 + root_bytes, "{}", t.bytes);
    });
}

#[test]
fn waiting_log_lines_are_bounded_by_bytes() {
    let store = Store::new(64 * 1024);
    for _ in 0..1000 {
        store.push_log(LogLine {
            time: SystemTime::now(),
            level: tracing::Level::INFO,
            target: "t".into(),
            message: "m".repeat(1000),
            fields: "{}".into(),
            trace_id: TraceId::from(5u128),
            span_id: SpanId::from(1u64),
        });
    }
    let s = store.stats();
    assert!(s.logs_dropped > 900, "{s:?}");
    store.read(|inner| assert!(inner.bytes <= 64 * 1024 / 2 + 2048, "{}", inner.bytes));
}

#[test]
fn a_child_before_its_root_counts_as_unended_until_the_root_fails() {
    let store = Store::new(1 << 20);
    store.insert(vec![span(7, 2, 1, false)]);
    store.read(|inner| assert!(inner.traces[&TraceId::from(7u128)].root.is_none()));
    store.insert(vec![span(7, 1, 0, true)]);
    store.read(|inner| {
        let t = &inner.traces[&TraceId::from(7u128)];
        assert_eq!(t.root().unwrap().span_context.span_id(), SpanId::from(1u64));
        assert_eq!(t.class, Class::Failed);
    });
}
