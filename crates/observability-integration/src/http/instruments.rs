//! The HTTP duration histograms, made once per telemetry, and the tracer
//! spans are made with.

use std::sync::Arc;

use opentelemetry::global::BoxedTracer;
use opentelemetry::metrics::Histogram;
use primitives_core::Telemetry;

use super::names::{CLIENT_DURATION, SERVER_DURATION};
use super::DURATION_BUCKETS;
use crate::per_telemetry::PerTelemetry;

/// The instrumentation scope of the HTTP spans and metrics.
pub(super) const SCOPE: &str = "observability-integration.http";

/// One telemetry's HTTP histograms.
pub(super) struct HttpInstruments {
    pub(super) server: Option<Histogram<f64>>,
    pub(super) client: Option<Histogram<f64>>,
}

impl HttpInstruments {
    fn of(t: &Telemetry) -> HttpInstruments {
        let hist = |name: &'static str, description: &'static str| {
            t.meter().map(|m| {
                m.f64_histogram(name)
                    .with_description(description)
                    .with_unit("s")
                    .with_boundaries(DURATION_BUCKETS.to_vec())
                    .build()
            })
        };
        HttpInstruments {
            server: hist(SERVER_DURATION, "Duration of HTTP server requests"),
            client: hist(CLIENT_DURATION, "Duration of HTTP client requests"),
        }
    }
}

/// Where a layer or middleware records: a telemetry and tracer given at
/// build time, or the globals in force at each request (so one built
/// before setup records after it).
#[derive(Default)]
pub(super) struct Recorder {
    telemetry: Option<Arc<Telemetry>>,
    tracer: Option<Arc<BoxedTracer>>,
    instruments: PerTelemetry<HttpInstruments>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("telemetry", &self.telemetry.is_some())
            .field("tracer", &self.tracer.is_some())
            .finish()
    }
}

impl Recorder {
    /// Records through `obs` rather than the globals.
    pub(super) fn of(obs: &crate::setup::Observability) -> Recorder {
        use opentelemetry::trace::TracerProvider as _;
        Recorder {
            telemetry: Some(Arc::new(obs.telemetry())),
            tracer: obs
                .tracer_provider()
                .map(|p| Arc::new(BoxedTracer::new(Box::new(p.tracer_with_scope(scope()))))),
            instruments: PerTelemetry::default(),
        }
    }

    /// The telemetry in force (given, else the global one).
    pub(super) fn telemetry(&self) -> Option<Arc<Telemetry>> {
        self.telemetry
            .clone()
            .or_else(primitives_core::telemetry::global)
    }

    /// The histograms of the telemetry in force.
    pub(super) fn instruments(&self) -> Option<Arc<HttpInstruments>> {
        self.telemetry()
            .map(|t| self.instruments.get(&t, HttpInstruments::of).0)
    }

    /// Runs `f` with the tracer in force (given, else the global one).
    pub(super) fn with_tracer<R>(&self, f: impl FnOnce(&dyn TracerRef) -> R) -> R {
        match &self.tracer {
            Some(t) => f(&**t),
            None => f(&opentelemetry::global::tracer_with_scope(scope())),
        }
    }
}

fn scope() -> opentelemetry::InstrumentationScope {
    opentelemetry::InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// A tracer that builds boxed spans (both tracers here do).
pub(super) trait TracerRef {
    fn start(
        &self,
        builder: opentelemetry::trace::SpanBuilder,
        parent: &opentelemetry::Context,
    ) -> opentelemetry::global::BoxedSpan;
}

impl TracerRef for BoxedTracer {
    fn start(
        &self,
        builder: opentelemetry::trace::SpanBuilder,
        parent: &opentelemetry::Context,
    ) -> opentelemetry::global::BoxedSpan {
        use opentelemetry::trace::Tracer as _;
        self.build_with_context(builder, parent)
    }
}
