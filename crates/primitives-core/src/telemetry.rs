//! The telemetry handle primitives record through, and the global slot the
//! integration's setup refreshes.
//!
//! Instruments and tracers taken from `opentelemetry::global` before a
//! provider is installed stay no-op forever, so primitives never hold one:
//! they resolve a [`Telemetry`] on every call, from the
//! [`WorkflowContext`](crate::WorkflowContext) (injected, for tests) or from
//! the global slot set by [`set_global`]. Installing a new global bumps a
//! generation counter; each thread caches the current global and re-reads it
//! when the generation moves. When no telemetry is installed the check is one
//! relaxed atomic load and nothing else is built.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use opentelemetry::global::{BoxedTracer, ObjectSafeTracerProvider};
use opentelemetry::metrics::{
    Counter, Histogram, Meter, MeterProvider, ObservableCounter, ObservableUpDownCounter,
};
use opentelemetry::trace::{Span, TracerProvider};
use opentelemetry::{InstrumentationScope, KeyValue};

use crate::span::SpanSink;
use crate::stats::{PrimitiveMetrics, StatsRegistry};

/// Instrumentation scope name of everything this crate records.
pub const SCOPE_NAME: &str = "primitives-core";

/// Histogram bucket bounds (seconds) for step durations: 1 ms to 60 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static ENABLED: AtomicBool = AtomicBool::new(false);
static GENERATION: AtomicU64 = AtomicU64::new(1);
static GLOBAL: RwLock<Option<&'static Telemetry>> = RwLock::new(None);

thread_local! {
    static CACHED: Cell<(u64, Option<&'static Telemetry>)> = const { Cell::new((0, None)) };
}

/// Receives every step duration together with the step's span context, so
/// an exporter can attach the trace id as an exemplar (the OpenTelemetry SDK
/// records none). Implemented by the integration crate.
pub trait DurationObserver: Send + Sync + 'static {
    /// A handle for one step (`primitive`, `kind`), asked for once per step
    /// and telemetry, then used on every execution.
    fn bind(&self, primitive: &str, kind: &str) -> Box<dyn BoundDurationObserver>;
}

/// A [`DurationObserver`] bound to one step.
pub trait BoundDurationObserver: Send + Sync + 'static {
    /// One finished execution: its duration in seconds and, when its span
    /// was sampled, the span's context and end time (an exemplar candidate).
    fn observe(
        &self,
        seconds: f64,
        sampled: Option<(&opentelemetry::trace::SpanContext, std::time::SystemTime)>,
    );
}

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
}

impl Instruments {
    fn new(meter: &Meter, stats: &Arc<StatsRegistry>) -> Self {
        let counter = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_description(description)
                .with_unit("1")
                .build()
        };
        let registry = stats.clone();
        let executions = meter
            .u64_observable_counter("primitive_executions")
            .with_description("Primitive executions by status")
            .with_unit("1")
            .with_callback(move |obs| {
                registry.for_each(|name, kind, s| {
                    let (ok, failed, cancelled, _) = s.counts();
                    let labels = |status: &'static str| {
                        [
                            name.kv("primitive"),
                            KeyValue::new("type", kind),
                            KeyValue::new("status", status),
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
            .i64_observable_up_down_counter("primitive_active")
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
                    obs.observe(active, &[name.kv("primitive")]);
                }
            })
            .build();
        Instruments {
            _executions: executions,
            _active: active,
            duration: meter
                .f64_histogram("primitive_duration")
                .with_description("Primitive execution time")
                .with_unit("s")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            errors: counter("primitive_errors", "Primitive failures by error type"),
            retry_attempts: counter("retry_attempts", "Retry attempts by outcome"),
            fallback_used: counter("fallback_used", "Times a fallback ran"),
            timeout_expired: counter("timeout_expired", "Timeouts that elapsed"),
            circuit_transitions: counter(
                "circuit_breaker_transitions",
                "Circuit breaker state changes",
            ),
            cache_hit: counter("cache_hit", "Cache hits"),
            cache_miss: counter("cache_miss", "Cache misses"),
        }
    }
}

/// Where primitives send their spans, metrics and in-process statistics.
///
/// Cheap to clone; clones share the same instruments, statistics and
/// bound metric handles.
///
/// Build one from providers with [`Telemetry::builder`], then either install
/// it for the whole process with [`set_global`] (the integration crate's
/// setup does this) or attach it to one run with
/// [`WorkflowContext::with_telemetry`](crate::WorkflowContext::with_telemetry)
/// so tests can run side by side without globals.
#[derive(Clone)]
pub struct Telemetry {
    pub(crate) id: u64,
    pub(crate) tracer: Option<Arc<BoxedTracer>>,
    /// Step spans go here instead of through `tracer` (the fast path).
    pub(crate) sink: Option<Arc<dyn SpanSink>>,
    pub(crate) instruments: Option<Instruments>,
    pub(crate) stats: Option<Arc<StatsRegistry>>,
    pub(crate) duration_observer: Option<Arc<dyn DurationObserver>>,
    /// Store the run's identity in the OTel context (for log formatters).
    pub(crate) identity_in_context: bool,
    /// Record `primitive_duration` through the OTel meter.
    pub(crate) otel_duration: bool,
    /// The sampler the tracer provider was built with, if declared.
    pub(crate) sampling: Option<SamplingHint>,
}

/// The tracer provider's sampler, declared so steps that are certain not to
/// be sampled skip the SDK entirely (they still get a trace id and span id
/// for propagation, with the sampled flag off).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingHint {
    /// Root sampling ratio (0.0..=1.0).
    pub ratio: f64,
    /// Whether a parent's decision is followed.
    pub parent_based: bool,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("id", &self.id)
            .field("tracing", &self.tracer.is_some())
            .field("span_sink", &self.sink.is_some())
            .field("metrics", &self.instruments.is_some())
            .field("in_process_metrics", &self.stats.is_some())
            .field("duration_observer", &self.duration_observer.is_some())
            .finish()
    }
}

impl Telemetry {
    /// A builder with nothing enabled.
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
    }

    /// Telemetry from the providers currently installed in
    /// `opentelemetry::global`, with in-process metrics on. Call
    /// `set_global(Telemetry::from_global_providers())` after installing your
    /// own providers if you don't use the integration crate's setup.
    pub fn from_global_providers() -> Self {
        Telemetry::builder()
            .tracer_provider(&opentelemetry::global::tracer_provider())
            .meter_provider(&*opentelemetry::global::meter_provider())
            .in_process_metrics(true)
            .build()
    }

    /// Is any signal enabled?
    pub fn is_enabled(&self) -> bool {
        self.is_traced() || self.instruments.is_some() || self.stats.is_some()
    }

    /// Are step spans recorded (through a tracer or a span sink)?
    pub fn is_traced(&self) -> bool {
        self.tracer.is_some() || self.sink.is_some()
    }

    /// Snapshot of the in-process per-primitive statistics (empty when
    /// in-process metrics are off).
    pub fn primitive_metrics(&self) -> Vec<PrimitiveMetrics> {
        self.stats
            .as_ref()
            .map(|s| s.snapshot())
            .unwrap_or_default()
    }
}

/// Builds a [`Telemetry`].
#[derive(Default)]
pub struct TelemetryBuilder {
    tracer: Option<BoxedTracer>,
    sink: Option<Arc<dyn SpanSink>>,
    meter: Option<Meter>,
    in_process: bool,
    duration_observer: Option<Arc<dyn DurationObserver>>,
    identity_in_context: bool,
    skip_otel_duration: bool,
    sampling: Option<SamplingHint>,
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("tracing", &self.tracer.is_some())
            .field("metrics", &self.meter.is_some())
            .field("in_process", &self.in_process)
            .finish()
    }
}

/// The instrumentation scope of every span and metric this crate records.
pub fn instrumentation_scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

impl TelemetryBuilder {
    /// Records spans through `provider`.
    pub fn tracer_provider<P, T, S>(mut self, provider: &P) -> Self
    where
        P: TracerProvider<Tracer = T>,
        T: opentelemetry::trace::Tracer<Span = S> + Send + Sync + 'static,
        S: Span + Send + Sync + 'static,
    {
        self.tracer = Some(BoxedTracer::new(
            provider.boxed_tracer(instrumentation_scope()),
        ));
        self
    }

    /// Records step spans into `sink` (the fast span path; see
    /// [`crate::span`]): no SDK span is built on the step's thread, the
    /// sink gets a [`FinishedSpan`](crate::span::FinishedSpan) to queue.
    /// Takes precedence over [`tracer_provider`](Self::tracer_provider)
    /// for step spans. Sampling follows [`sampling`](Self::sampling)
    /// (default: parent-based, always on).
    pub fn span_sink(mut self, sink: Arc<dyn SpanSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Records metrics through `provider`.
    pub fn meter_provider(mut self, provider: &dyn MeterProvider) -> Self {
        self.meter = Some(provider.meter_with_scope(instrumentation_scope()));
        self
    }

    /// Keeps per-primitive statistics in process
    /// ([`Telemetry::primitive_metrics`]). With a meter provider they are
    /// kept either way: the execution counters are read from them.
    pub fn in_process_metrics(mut self, on: bool) -> Self {
        self.in_process = on;
        self
    }

    /// Sends every step duration, with its span context, to `observer`.
    pub fn duration_observer(mut self, observer: Arc<dyn DurationObserver>) -> Self {
        self.duration_observer = Some(observer);
        self
    }

    /// Put the run's correlation id into the OpenTelemetry context of its
    /// root span, for log formatters ([`crate::current_correlation_id`]).
    /// Costs one context allocation per run; off by default.
    pub fn correlation_in_context(mut self, on: bool) -> Self {
        self.identity_in_context = on;
        self
    }

    /// Don't record `primitive_duration` through the OpenTelemetry meter:
    /// for a setup whose only metric reader is served by the
    /// [`DurationObserver`] (saves a histogram record per step). Off by
    /// default.
    pub fn skip_otel_duration_histogram(mut self, skip: bool) -> Self {
        self.skip_otel_duration = skip;
        self
    }

    /// Declares the tracer provider's sampler: `ParentBased(TraceIdRatio(ratio))`
    /// when `parent_based`, else `TraceIdRatio(ratio)` (ratio 1 = always on,
    /// 0 = always off). Steps whose span is certain to be dropped — ratio 0,
    /// or an unsampled parent with `parent_based` — then build no SDK span.
    /// Declare it only if it matches the provider's sampler.
    pub fn sampling(mut self, ratio: f64, parent_based: bool) -> Self {
        self.sampling = Some(SamplingHint {
            ratio,
            parent_based,
        });
        self
    }

    /// Builds the handle.
    pub fn build(self) -> Telemetry {
        let otel_duration = !(self.skip_otel_duration && self.duration_observer.is_some());
        crate::clock::init();
        // The statistics back the observable counters too.
        let stats = Arc::new(StatsRegistry::default());
        let sampling = match (&self.sink, self.sampling) {
            (Some(_), None) => Some(SamplingHint {
                ratio: 1.0,
                parent_based: true,
            }),
            (_, s) => s,
        };
        Telemetry {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tracer: if self.sink.is_some() {
                None
            } else {
                self.tracer.map(Arc::new)
            },
            sink: self.sink,
            instruments: self.meter.as_ref().map(|m| Instruments::new(m, &stats)),
            stats: (self.in_process || self.meter.is_some()).then_some(stats),
            duration_observer: self.duration_observer,
            identity_in_context: self.identity_in_context,
            otel_duration,
            sampling,
        }
    }
}

/// Installs `telemetry` for every primitive in the process, including those
/// built before this call. Replaces any previous global telemetry.
///
/// The handle is kept for the rest of the process (it is leaked, so that the
/// hot path needs no reference counting): install a handful of times, not
/// per request.
pub fn set_global(telemetry: Telemetry) {
    let enabled = telemetry.is_enabled();
    let leaked: &'static Telemetry = Box::leak(Box::new(telemetry));
    let mut slot = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    *slot = enabled.then_some(leaked);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    ENABLED.store(enabled, Ordering::Release);
}

/// Removes the global telemetry: primitives record nothing from now on.
pub fn clear_global() {
    let mut slot = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    *slot = None;
    GENERATION.fetch_add(1, Ordering::AcqRel);
    ENABLED.store(false, Ordering::Release);
}

/// The global telemetry, if one is installed and enabled.
pub fn global() -> Option<&'static Telemetry> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let generation = GENERATION.load(Ordering::Acquire);
    CACHED.with(|c| {
        let (cached_gen, cached) = c.get();
        if cached_gen == generation {
            return cached;
        }
        let current = *GLOBAL.read().unwrap_or_else(PoisonError::into_inner);
        c.set((generation, current));
        current
    })
}

/// Snapshot of the global in-process per-primitive statistics.
pub fn primitive_metrics() -> Vec<PrimitiveMetrics> {
    global()
        .map(Telemetry::primitive_metrics)
        .unwrap_or_default()
}

/// A telemetry handle held by a context: the leaked global or an injected one.
#[derive(Clone, Debug)]
pub(crate) enum TelemetryRef {
    Static(&'static Telemetry),
    Shared(Arc<Telemetry>),
}

impl Deref for TelemetryRef {
    type Target = Telemetry;
    fn deref(&self) -> &Telemetry {
        match self {
            TelemetryRef::Static(t) => t,
            TelemetryRef::Shared(t) => t,
        }
    }
}

/// Interned names: span names and attribute values must be `'static` to be
/// free on the hot path. Names are few (one per primitive), so they are
/// interned up to a cap; past it they stay owned (slower, never leaked).
const INTERN_CAP: usize = 4096;
static INTERNED: Mutex<BTreeMap<String, &'static str>> = Mutex::new(BTreeMap::new());

pub(crate) fn intern(s: &str) -> Name {
    let mut map = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(v) = map.get(s) {
        return Name(Cow::Borrowed(*v));
    }
    if map.len() >= INTERN_CAP {
        return Name(Cow::Owned(s.to_owned()));
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    map.insert(s.to_owned(), leaked);
    Name(Cow::Borrowed(leaked))
}

/// A primitive, route or case name: `'static` (free to copy into spans and
/// labels) when it is a literal or was interned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Name(pub(crate) Cow<'static, str>);

impl Name {
    pub(crate) const fn fixed(s: &'static str) -> Name {
        Name(Cow::Borrowed(s))
    }

    pub(crate) fn new(s: impl Into<Cow<'static, str>>) -> Name {
        match s.into() {
            Cow::Borrowed(b) => Name(Cow::Borrowed(b)),
            Cow::Owned(o) => intern(&o),
        }
    }

    /// A `KeyValue` with this name as value, without allocating when static.
    pub(crate) fn kv(&self, key: &'static str) -> KeyValue {
        KeyValue::new(key, self.0.clone())
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
