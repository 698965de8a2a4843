//! [`TelemetryBuilder`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry::global::{BoxedTracer, ObjectSafeTracerProvider};
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::trace::{Span, TracerProvider};

use super::instruments::Instruments;
use super::{instrumentation_scope, Telemetry};
use crate::sink::{DurationObserver, RunObserver, SamplingHint, SpanSink};
use crate::stats::StatsRegistry;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Builds a [`Telemetry`].
#[derive(Default)]
pub struct TelemetryBuilder {
    tracer: Option<BoxedTracer>,
    sink: Option<Arc<dyn SpanSink>>,
    meter: Option<Meter>,
    in_process: bool,
    duration_observer: Option<Arc<dyn DurationObserver>>,
    run_observer: Option<Arc<dyn RunObserver>>,
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
    /// [`crate::sink`]): no SDK span is built on the step's thread, the
    /// sink gets a [`FinishedSpan`](crate::sink::FinishedSpan) to queue.
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

    /// Sends every run's end (workflow, status, duration, totals, the
    /// root's span context) to `observer`, once per run.
    pub fn run_observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.run_observer = Some(observer);
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
        self.sampling = Some(SamplingHint::new(ratio, parent_based));
        self
    }

    /// Builds the handle.
    pub fn build(self) -> Telemetry {
        let otel_duration = !(self.skip_otel_duration && self.duration_observer.is_some());
        crate::clock::init();
        // The statistics back the observable counters too.
        let stats = Arc::new(StatsRegistry::default());
        let sampling = match (&self.sink, self.sampling) {
            (Some(_), None) => Some(SamplingHint::ALWAYS_ON),
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
            meter: self.meter,
            extensions: Arc::default(),
            duration_observer: self.duration_observer,
            run_observer: self.run_observer,
            identity_in_context: self.identity_in_context,
            otel_duration,
            sampling,
        }
    }
}
