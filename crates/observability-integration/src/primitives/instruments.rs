//! The enhanced primitives' instruments: made once per telemetry (kept in
//! [`Telemetry::extension`]), cached by each primitive with the
//! telemetry's id so a call takes no lock.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableCounter, ObservableGauge};
use opentelemetry::{KeyValue, StringValue};
use primitives_core::{CacheCounters, Error, EvictionCause, WorkflowContext};

use super::{label, metric};
use crate::per_telemetry::PerTelemetry;

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
    caches: Arc<Mutex<CacheRegistry>>,
    _evictions: ObservableCounter<u64>,
    _entries: ObservableGauge<u64>,
}

/// An enhanced cache as its telemetries know it: alive until the cache is
/// dropped.
pub(super) struct CacheToken {
    name: StringValue,
    counters: Arc<CacheCounters>,
    alive: AtomicBool,
}

impl CacheToken {
    pub(super) fn new(name: StringValue, counters: Arc<CacheCounters>) -> Arc<CacheToken> {
        Arc::new(CacheToken {
            name,
            counters,
            alive: AtomicBool::new(true),
        })
    }

    /// The cache is gone: its last counts are kept as retired.
    pub(super) fn retire(&self) {
        self.alive.store(false, Ordering::Release);
    }
}

/// The caches one telemetry reports: the live ones, and the eviction counts
/// of dropped ones by name (so a counter never goes down when one of
/// several same-named caches is dropped).
#[derive(Default)]
struct CacheRegistry {
    live: Vec<Arc<CacheToken>>,
    retired: BTreeMap<String, [u64; 4]>,
}

/// Per cache name: entries (none when no cache of that name is alive)
/// and evictions by cause.
type CacheTotals = BTreeMap<String, (Option<u64>, [u64; 4])>;

impl CacheRegistry {
    fn register(&mut self, token: &Arc<CacheToken>) {
        if !self.live.iter().any(|t| Arc::ptr_eq(t, token)) {
            self.live.push(token.clone());
        }
    }

    /// Moves dropped caches to the retired counts, then sums by name.
    fn totals(&mut self) -> CacheTotals {
        let mut out = CacheTotals::new();
        let retired = &mut self.retired;
        self.live.retain(|t| {
            let alive = t.alive.load(Ordering::Acquire);
            if !alive {
                let r = retired.entry(t.name.as_str().to_owned()).or_default();
                for (i, cause) in EvictionCause::ALL.into_iter().enumerate() {
                    r[i] += t.counters.evictions(cause);
                }
            }
            alive
        });
        for (name, r) in &self.retired {
            out.entry(name.clone()).or_default().1 = *r;
        }
        for t in &self.live {
            let e = out.entry(t.name.as_str().to_owned()).or_default();
            e.0 = Some(e.0.unwrap_or(0) + t.counters.entries());
            for (i, cause) in EvictionCause::ALL.into_iter().enumerate() {
                e.1[i] += t.counters.evictions(cause);
            }
        }
        out
    }
}

fn lock(m: &Mutex<CacheRegistry>) -> MutexGuard<'_, CacheRegistry> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
        let caches = Arc::new(Mutex::new(CacheRegistry::default()));
        let (for_evictions, for_entries) = (caches.clone(), caches.clone());
        Instruments {
            caches,
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
                .with_callback(move |obs| {
                    for (name, (_, evictions)) in lock(&for_evictions).totals() {
                        for (cause, n) in EvictionCause::ALL.into_iter().zip(evictions) {
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
                .with_callback(move |obs| {
                    // Only live caches have entries; dropped names are not served.
                    for (name, (entries, _)) in lock(&for_entries).totals() {
                        if let Some(n) = entries {
                            obs.observe(n, &[KeyValue::new(label::PRIMITIVE, name)]);
                        }
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

/// A name as an attribute value that clones without allocating.
pub(super) fn label_value(name: Cow<'static, str>) -> StringValue {
    match name {
        Cow::Borrowed(s) => StringValue::from(s),
        Cow::Owned(s) => StringValue::from(Arc::<str>::from(s)),
    }
}

/// A primitive's handle on the instruments of the telemetry it runs under
/// (for a cache, also how the telemetry finds it).
#[derive(Default)]
pub(super) struct Handle {
    kept: PerTelemetry<Slot>,
    cache: OnceLock<Arc<CacheToken>>,
}

impl Handle {
    /// Makes this the handle of an enhanced cache: each telemetry it runs
    /// under reports it (set once, right after the cache is built).
    pub(super) fn report_cache(&self, token: Arc<CacheToken>) {
        let _ = self.cache.set(token);
    }

    /// The instruments of the telemetry `ctx` records through (none with
    /// metrics off or outside a step).
    pub(super) fn get(&self, ctx: &WorkflowContext) -> Option<Arc<Instruments>> {
        let (slot, first) = self.kept.get(ctx.telemetry()?, |t| {
            Slot(t.meter().map(|m| Arc::new(Instruments::new(m))))
        });
        if let (true, Some(i), Some(token)) = (first, &slot.0, self.cache.get()) {
            lock(&i.caches).register(token);
        }
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
