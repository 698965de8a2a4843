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

mod builder;
mod global;
mod instruments;

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::global::BoxedTracer;
use opentelemetry::metrics::Meter;
use opentelemetry::InstrumentationScope;

pub use builder::TelemetryBuilder;
pub use global::{clear_global, global, primitive_metrics, set_global};
pub(crate) use instruments::Instruments;

use crate::semconv::SCOPE_NAME;
use crate::sink::{DurationObserver, RunObserver, SamplingHint, SpanSink};
use crate::stats::{PrimitiveMetrics, StatsRegistry};

/// A value kept with a telemetry, by type.
type Extension = (TypeId, Arc<dyn Any + Send + Sync>);

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
    /// The meter the instruments come from (for instruments of other
    /// crates' primitives, made through [`Telemetry::extension`]).
    pub(crate) meter: Option<Meter>,
    /// Values other crates keep per telemetry ([`Telemetry::extension`]).
    pub(crate) extensions: Arc<Mutex<Vec<Extension>>>,
    pub(crate) stats: Option<Arc<StatsRegistry>>,
    pub(crate) duration_observer: Option<Arc<dyn DurationObserver>>,
    pub(crate) run_observer: Option<Arc<dyn RunObserver>>,
    /// Store the run's identity in the OTel context (for log formatters).
    pub(crate) identity_in_context: bool,
    /// Record `primitive_duration` through the OTel meter.
    pub(crate) otel_duration: bool,
    /// The sampler the tracer provider was built with, if declared.
    pub(crate) sampling: Option<SamplingHint>,
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
            .field("run_observer", &self.run_observer.is_some())
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

    /// A number that tells this telemetry (and its clones) from every other
    /// one built in this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The meter primitives record metrics through (none when metrics are
    /// off). Instruments of primitives defined elsewhere (the integration
    /// crate's router, cache and timeout) are made from it, inside
    /// [`extension`](Self::extension) so they are made once.
    pub fn meter(&self) -> Option<&Meter> {
        self.meter.as_ref()
    }

    /// The value of type `T` kept with this telemetry, made by `make` on the
    /// first call. Clones share it. A
    /// primitive defined outside this crate keeps its instruments here and
    /// caches the `Arc` with this telemetry's [`id`](Self::id), so its hot
    /// path takes no lock.
    pub fn extension<T: Any + Send + Sync>(&self, make: impl FnOnce(&Telemetry) -> T) -> Arc<T> {
        let find = |all: &[Extension]| {
            all.iter()
                .find(|(t, _)| *t == TypeId::of::<T>())
                .and_then(|(_, v)| v.clone().downcast::<T>().ok())
        };
        let lock = || {
            self.extensions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(v) = find(&lock()) {
            return v;
        }
        // Made outside the lock (`make` may itself ask for an extension);
        // when two threads race, the first stored wins.
        let made = Arc::new(make(self));
        let mut all = lock();
        if let Some(v) = find(&all) {
            return v;
        }
        all.push((TypeId::of::<T>(), made.clone()));
        made
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

/// The instrumentation scope of every span and metric this crate records.
pub fn instrumentation_scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// A telemetry handle held by a context: the global one or an injected one.
pub(crate) type TelemetryRef = Arc<Telemetry>;
