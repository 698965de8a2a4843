//! The built-in metric instruments.

use std::collections::BTreeMap;
use std::sync::Arc;

use opentelemetry::metrics::{
    Counter, Histogram, Meter, ObservableCounter, ObservableUpDownCounter,
};
use opentelemetry::KeyValue;

use crate::name::Name;
use crate::semconv::{label, metric, DURATION_BUCKETS, RUN_DURATION_BUCKETS};
use crate::stats::StatsRegistry;

/// The built-in instruments (names as in the crate docs' metric table).
///
/// `primitive_executions` and `primitive_active` are observable: each step
/// updates its own statistics (a few relaxed atomics, no lock, no dynamic
/// call), and the SDK reads them when it collects, like a Prometheus
/// client library does.
#[derive(Clone)]
pub(crate) struct Instruments {
    _executions: ObservableCounter<u64>,
    _active: ObservableUpDownCounter<i64>,
    pub(crate) duration: Histogram<f64>,
    pub(crate) errors: Counter<u64>,
    pub(crate) retry_attempts: Counter<u64>,
    pub(crate) fallback_used: Counter<u64>,
    pub(crate) timeout_expired: Counter<u64>,
    pub(crate) circuit_transitions: Counter<u64>,
    pub(crate) cache_hit: Counter<u64>,
    pub(crate) cache_miss: Counter<u64>,
    pub(crate) cache_coalesced: Counter<u64>,
    pub(crate) workflow_runs: Counter<u64>,
    pub(crate) workflow_run_duration: Histogram<f64>,
}

impl Instruments {
    pub(super) fn new(meter: &Meter, stats: &Arc<StatsRegistry>) -> Self {
        let counter = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_description(description)
                .with_unit("1")
                .build()
        };
        let registry = stats.clone();
        let executions = meter
            .u64_observable_counter(metric::PRIMITIVE_EXECUTIONS)
            .with_description("Primitive executions by status")
            .with_unit("1")
            .with_callback(move |obs| {
                registry.for_each(|name, kind, s| {
                    let (ok, failed, cancelled, _) = s.counts();
                    let labels = |status: &'static str| {
                        [
                            name.kv(label::PRIMITIVE),
                            KeyValue::new(label::TYPE, kind),
                            KeyValue::new(label::STATUS, status),
                        ]
                    };
                    obs.observe(ok, &labels("ok"));
                    obs.observe(failed, &labels("error"));
                    // Rare: no zero series per primitive.
                    if cancelled > 0 {
                        obs.observe(cancelled, &labels("cancelled"));
                    }
                })
            })
            .build();
        let registry = stats.clone();
        let active = meter
            .i64_observable_up_down_counter(metric::PRIMITIVE_ACTIVE)
            .with_description("Primitive executions in flight")
            .with_unit("1")
            .with_callback(move |obs| {
                // Labelled by name only: primitives sharing a name (of
                // different types) add up, as they would in one counter.
                let mut by_name: BTreeMap<Name, i64> = BTreeMap::new();
                registry.for_each(|name, _, s| {
                    *by_name.entry(name.clone()).or_default() += s.counts().3;
                });
                for (name, active) in by_name {
                    obs.observe(active, &[name.kv(label::PRIMITIVE)]);
                }
            })
            .build();
        Instruments {
            _executions: executions,
            _active: active,
            duration: meter
                .f64_histogram(metric::PRIMITIVE_DURATION)
                .with_description("Primitive execution time")
                .with_unit("s")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            errors: counter(metric::PRIMITIVE_ERRORS, "Primitive failures by error type"),
            retry_attempts: counter(metric::RETRY_ATTEMPTS, "Retry attempts by outcome"),
            fallback_used: counter(metric::FALLBACK_USED, "Times a fallback ran"),
            timeout_expired: counter(metric::TIMEOUT_EXPIRED, "Timeouts that elapsed"),
            circuit_transitions: counter(
                metric::CIRCUIT_BREAKER_TRANSITIONS,
                "Circuit breaker state changes",
            ),
            cache_hit: counter(metric::CACHE_HIT, "Cache hits"),
            cache_miss: counter(metric::CACHE_MISS, "Cache misses"),
            cache_coalesced: counter(
                metric::CACHE_COALESCED,
                "Cache calls that waited for a concurrent miss of the same key",
            ),
            workflow_runs: counter(metric::WORKFLOW_RUNS, "Workflow runs by status"),
            workflow_run_duration: meter
                .f64_histogram(metric::WORKFLOW_RUN_DURATION)
                .with_description("Workflow run time, root step start to end")
                .with_unit("s")
                .with_boundaries(RUN_DURATION_BUCKETS.to_vec())
                .build(),
        }
    }
}
