//! The enhanced primitives' instruments: made once per telemetry (kept in
//! [`Telemetry::extension`]), cached by each primitive with the
//! telemetry's id so a call takes no lock.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableCounter, ObservableGauge};
use opentelemetry::{KeyValue, StringValue};
use primitives_core::{CacheCounters, Error, EvictionCause, Telemetry, WorkflowContext};

use super::{label, metric};

/// Boundaries (seconds) of `cache_lookup_duration`: a lookup is an
/// in-memory hash probe, 1 µs to 10 ms.
const LOOKUP_BUCKETS: &[f64] = &[
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.01,
];

/// Boundaries (seconds) of `operation_duration`: as the core's step
/// durations, with 2 s (a usual latency objective).
const OPERATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The instruments of one telemetry.
pub(super) struct Instruments {
    pub(super) route_selected: Counter<u64>,
    pub(super) timeouts: Counter<u64>,
    pub(super) cache_lookup: Histogram<f64>,
    operation_duration: Histogram<f64>,
    _evictions: ObservableCounter<u64>,
    _entries: ObservableGauge<u64>,
}

/// What a telemetry keeps: the instruments, when it has a meter.
struct Slot(Option<Arc<Instruments>>);

impl Instruments {
    fn new(meter: &Meter) -> Instruments {
        let counter = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_description(description)
                .with_unit("1")
                .build()
        };
        Instruments {
            route_selected: counter(metric::ROUTER_ROUTE_SELECTED, "Routes taken by reason"),
            timeouts: counter(metric::TIMEOUT, "Timeout calls by outcome"),
            cache_lookup: meter
                .f64_histogram(metric::CACHE_LOOKUP_DURATION)
                .with_description(
                    "Cache lookup time (the store's lookup, not the step a miss runs)",
                )
                .with_unit("s")
                .with_boundaries(LOOKUP_BUCKETS.to_vec())
                .build(),
            operation_duration: meter
                .f64_histogram(metric::OPERATION_DURATION)
                .with_description("Operation execution time")
                .with_unit("s")
                .with_boundaries(OPERATION_BUCKETS.to_vec())
                .build(),
            _evictions: meter
                .u64_observable_counter(metric::CACHE_EVICTIONS)
                .with_description("Cache entries removed by cause")
                .with_unit("1")
                .with_callback(|obs| {
                    for (name, c) in caches() {
                        for cause in EvictionCause::ALL {
                            let n = c.iter().map(|c| c.evictions(cause)).sum();
                            obs.observe(
                                n,
                                &[
                                    KeyValue::new(label::PRIMITIVE, name.clone()),
                                    KeyValue::new(label::CAUSE, cause.as_str()),
                                ],
                            );
                        }
                    }
                })
                .build(),
            _entries: meter
                .u64_observable_gauge(metric::CACHE_ENTRIES)
                .with_description("Entries stored in the cache")
                .with_unit("1")
                .with_callback(|obs| {
                    for (name, c) in caches() {
                        let n = c.iter().map(|c| c.entries()).sum();
                        obs.observe(n, &[KeyValue::new(label::PRIMITIVE, name)]);
                    }
                })
                .build(),
        }
    }

    /// Records one operation's duration.
    fn operation(&self, operation: &StringValue, start: Instant, status: &'static str) {
        self.operation_duration.record(
            start.elapsed().as_secs_f64(),
            &[
                KeyValue::new(label::OPERATION, operation.clone()),
                KeyValue::new(label::STATUS, status),
            ],
        );
    }
}

/// The live enhanced caches, by name (the observable instruments read
/// them at collection; dropped caches are forgotten there).
static CACHES: Mutex<Vec<(StringValue, Weak<CacheCounters>)>> = Mutex::new(Vec::new());

pub(super) fn register_cache(name: StringValue, counters: &Arc<CacheCounters>) {
    let mut all = CACHES.lock().unwrap_or_else(PoisonError::into_inner);
    all.retain(|(_, w)| w.strong_count() > 0);
    all.push((name, Arc::downgrade(counters)));
}

/// The live caches grouped by name (caches sharing a name add up, as
/// they would in one counter).
fn caches() -> BTreeMap<String, Vec<Arc<CacheCounters>>> {
    let mut all = CACHES.lock().unwrap_or_else(PoisonError::into_inner);
    all.retain(|(_, w)| w.strong_count() > 0);
    let mut by_name: BTreeMap<String, Vec<Arc<CacheCounters>>> = BTreeMap::new();
    for (name, w) in all.iter() {
        if let Some(c) = w.upgrade() {
            by_name.entry(name.as_str().to_owned()).or_default().push(c);
        }
    }
    by_name
}

/// A name as an attribute value that clones without allocating.
pub(super) fn label_value(name: Cow<'static, str>) -> StringValue {
    match name {
        Cow::Borrowed(s) => StringValue::from(s),
        Cow::Owned(s) => StringValue::from(Arc::<str>::from(s)),
    }
}

/// A primitive's handle on the instruments of the telemetry it runs under.
#[derive(Default)]
pub(super) struct PerTelemetry(ArcSwapOption<(u64, Option<Arc<Instruments>>)>);

impl PerTelemetry {
    /// The instruments of the telemetry `ctx` records through (none with
    /// metrics off or outside a step).
    pub(super) fn get(&self, ctx: &WorkflowContext) -> Option<Arc<Instruments>> {
        let tel: &Telemetry = ctx.telemetry()?;
        if let Some(cached) = &*self.0.load() {
            if cached.0 == tel.id() {
                return cached.1.clone();
            }
        }
        let slot = tel.extension(|t| Slot(t.meter().map(|m| Arc::new(Instruments::new(m)))));
        self.0.store(Some(Arc::new((tel.id(), slot.0.clone()))));
        slot.0.clone()
    }
}

/// Runs `fut`, recording `operation_duration{operation, status}` (`ok`,
/// `error`, or `cancelled` when the future is dropped first).
pub(super) async fn timed<T>(
    instruments: Option<Arc<Instruments>>,
    operation: &StringValue,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(instruments) = instruments else {
        return fut.await;
    };
    struct Cancelled<'a> {
        i: Option<(Arc<Instruments>, &'a StringValue, Instant)>,
    }
    impl Drop for Cancelled<'_> {
        fn drop(&mut self) {
            if let Some((i, op, start)) = self.i.take() {
                i.operation(op, start, "cancelled");
            }
        }
    }
    let mut guard = Cancelled {
        i: Some((instruments, operation, Instant::now())),
    };
    let result = fut.await;
    if let Some((i, op, start)) = guard.i.take() {
        i.operation(op, start, if result.is_ok() { "ok" } else { "error" });
    }
    result
}
