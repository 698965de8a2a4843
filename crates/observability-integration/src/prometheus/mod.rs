//! The Prometheus side: a prometheus-client registry fed by the
//! OpenTelemetry metrics API through a [`ManualReader`] that collects on
//! scrape, the built-in duration histograms with trace-id exemplars, a
//! cardinality guard, process metrics, and both exposition formats.
//!
//! Naming: OTel names are sanitised to `[a-zA-Z_:][a-zA-Z0-9_:]*`; unit `s`
//! adds `_seconds` and `By` adds `_bytes` unless the name already ends with
//! it; units `1` and `{…}` add nothing; counters get `_total` from
//! prometheus-client, once.

mod bridge;
mod cardinality;
mod histograms;
mod names;
mod points;
mod process;
mod run_costs;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use opentelemetry_sdk::metrics::{ManualReader, Temporality};
use primitives_core::semconv::{metric, SCOPE_NAME};
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::registry::{Registry, Unit};

pub use cardinality::CardinalityGuard;
pub use names::{bounded, sanitize_label, sanitize_name, unit_for, MAX_SERIES_TEXT};

use bridge::OtelBridge;
use histograms::{AtomicDurations, StepDurations, StepHistogram};
use process::ProcessCollector;
pub(crate) use run_costs::RunCosts;
pub use run_costs::RUN_COST_BUCKETS;

type Labels = Vec<(String, String)>;
type TraceLabels = Vec<(String, String)>;
/// Per-bucket (upper bound, count), last bound `+Inf`.
type Buckets = Vec<(f64, u64)>;
/// (labels, sum, count, buckets)
type HistPoint = (Labels, f64, u64, Buckets);

/// The label set that absorbs series beyond the cardinality limit.
pub const OVERFLOW_LABEL: (&str, &str) = ("otel_metric_overflow", "true");

/// Content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The built-in duration histograms, of either kind.
enum Durations {
    Exemplars(StepDurations<HistogramWithExemplars<TraceLabels>>),
    Atomic(StepDurations<AtomicDurations>),
}

impl Durations {
    fn register(&self, registry: &mut Registry) {
        fn add<H: StepHistogram>(registry: &mut Registry, d: &StepDurations<H>) {
            registry.register_with_unit(
                metric::PRIMITIVE_DURATION,
                "Primitive execution time",
                Unit::Seconds,
                d.family.clone(),
            );
        }
        match self {
            Durations::Exemplars(d) => add(registry, d),
            Durations::Atomic(d) => add(registry, d),
        }
    }

    fn observer(self) -> Arc<dyn primitives_core::sink::DurationObserver> {
        match self {
            Durations::Exemplars(d) => Arc::new(d),
            Durations::Atomic(d) => Arc::new(d),
        }
    }
}

/// The `ManualReader` shared between the meter provider and the collector.
pub type SharedReader = Forward<Arc<ManualReader>>;
pub use crate::reader::Forward;

fn shared_reader() -> SharedReader {
    Forward(Arc::new(
        ManualReader::builder()
            .with_temporality(Temporality::Cumulative)
            .build(),
    ))
}

/// Everything `/metrics` serves.
#[derive(Clone)]
pub struct PrometheusMetrics {
    text: Arc<Registry>,
    openmetrics: Arc<Registry>,
    reader: SharedReader,
    durations: Option<Arc<dyn primitives_core::sink::DurationObserver>>,
    run_costs: Option<RunCosts>,
    guard: Arc<CardinalityGuard>,
}

impl fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusMetrics")
            .field("step_durations", &self.durations.is_some())
            .finish_non_exhaustive()
    }
}

/// Options of [`PrometheusMetrics`]: start from [`Default`] (what setup
/// uses) or [`PrometheusOptions::minimal`] and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PrometheusOptions {
    /// Label sets per metric before overflow.
    pub cardinality_limit: usize,
    /// Serve the built-in duration histograms from our own histograms (and
    /// skip the OTel copy of them on `/metrics`).
    pub exemplars: bool,
    /// With `exemplars`: attach trace-id exemplars (spans are recorded).
    /// Off: lock-free atomic histograms without exemplars (for setups with
    /// tracing off, where there is no trace id to point to).
    pub trace_exemplars: bool,
    /// Add process metrics and `build_info`.
    pub process_metrics: bool,
    /// `service` label of `build_info`.
    pub service: String,
    /// `version` label of `build_info`.
    pub version: String,
}

impl Default for PrometheusOptions {
    fn default() -> Self {
        PrometheusOptions {
            cardinality_limit: 2000,
            exemplars: true,
            trace_exemplars: true,
            process_metrics: true,
            service: "unknown_service".into(),
            version: String::new(),
        }
    }
}

impl PrometheusOptions {
    /// Only what the meter provider records: no exemplar histograms of our
    /// own, no process metrics (for golden tests and benches).
    pub fn minimal() -> Self {
        PrometheusOptions {
            exemplars: false,
            trace_exemplars: false,
            process_metrics: false,
            ..PrometheusOptions::default()
        }
    }
}

impl PrometheusMetrics {
    /// A registry, and the reader to add to the meter provider.
    pub fn new(opts: PrometheusOptions) -> Self {
        let reader = shared_reader();
        let guard = Arc::new(CardinalityGuard::new(opts.cardinality_limit));
        let durations = opts.exemplars.then(|| {
            if opts.trace_exemplars {
                Durations::Exemplars(StepDurations::new(guard.clone(), opts.cardinality_limit))
            } else {
                Durations::Atomic(StepDurations::new(guard.clone(), opts.cardinality_limit))
            }
        });
        let run_costs = opts.exemplars.then(|| RunCosts::new(guard.clone()));
        let skip = if opts.exemplars {
            vec![
                (SCOPE_NAME, metric::PRIMITIVE_DURATION),
                (SCOPE_NAME, run_costs::SERIES),
            ]
        } else {
            Vec::new()
        };
        // One registry per format: they share every metric; only HELP
        // escaping differs (the OpenMetrics encoder writes HELP as given).
        let registry = |openmetrics: bool| {
            let mut registry = Registry::default();
            if let Some(d) = &durations {
                d.register(&mut registry);
            }
            if let Some(c) = &run_costs {
                registry.register(
                    run_costs::SERIES,
                    "What each workflow run's priced LLM calls cost, USD",
                    c.family.clone(),
                );
            }
            registry.register_collector(Box::new(OtelBridge {
                reader: reader.clone(),
                guard: guard.clone(),
                skip: skip.clone(),
                openmetrics,
            }));
            if opts.process_metrics {
                registry.register_collector(Box::new(ProcessCollector {
                    service: opts.service.clone(),
                    version: opts.version.clone(),
                }));
            }
            Arc::new(registry)
        };
        PrometheusMetrics {
            text: registry(false),
            openmetrics: registry(true),
            reader,
            durations: durations.map(Durations::observer),
            run_costs,
            guard,
        }
    }

    /// The reader to add to the SDK meter provider.
    pub fn reader(&self) -> SharedReader {
        self.reader.clone()
    }

    /// The duration observer to give the core's telemetry (exemplars).
    pub fn duration_observer(&self) -> Option<Arc<dyn primitives_core::sink::DurationObserver>> {
        self.durations.clone()
    }

    /// The run-cost histograms (`workflow_run_cost_usd`), served with
    /// exemplars.
    pub(crate) fn run_costs(&self) -> Option<RunCosts> {
        self.run_costs.clone()
    }

    /// Prometheus text format 0.0.4.
    pub fn encode_text(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.text);
        out
    }

    /// OpenMetrics text (with exemplars).
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.openmetrics);
        out
    }

    /// Encodes for an `Accept` header: OpenMetrics when asked for, else
    /// 0.0.4. Returns (content type, body).
    pub fn negotiate(&self, accept: Option<&str>) -> (&'static str, String) {
        if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
            (OPENMETRICS_CONTENT_TYPE, self.encode_openmetrics())
        } else {
            (
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                self.encode_text(),
            )
        }
    }

    /// Series folded into overflow per metric at the last scrape.
    pub fn overflowed(&self) -> BTreeMap<String, u64> {
        self.guard.overflowed()
    }
}
