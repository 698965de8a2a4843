//! The step duration histograms: with trace-id exemplars when traced,
//! lock-free atomic buckets when not.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::trace::SpanContext;
use primitives_core::semconv::label;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::MetricType;

use super::cardinality::CardinalityGuard;
use super::names::bounded;
use super::{Buckets, Labels, TraceLabels, OVERFLOW_LABEL};

/// Each primitive's (type, histogram) handles, by primitive name.
/// The Prometheus name of the core's duration histogram.
const SERIES: &str = "primitive_duration_seconds";

pub(super) type Handles<H> = Arc<RwLock<HashMap<String, Vec<(String, H)>>>>;

/// A histogram one step series observes into.
pub(super) trait StepHistogram:
    Clone + Send + Sync + fmt::Debug + EncodeMetric + prometheus_client::metrics::TypedMetric + 'static
{
    fn new() -> Self;
    /// One duration; `trace_id` when this observation carries an exemplar.
    fn observe(&self, seconds: f64, trace_id: Option<String>);
    /// Whether it keeps exemplars (only then are trace ids formatted).
    const EXEMPLARS: bool;
}

impl StepHistogram for HistogramWithExemplars<TraceLabels> {
    fn new() -> Self {
        HistogramWithExemplars::new(primitives_core::semconv::DURATION_BUCKETS.iter().copied())
    }
    fn observe(&self, seconds: f64, trace_id: Option<String>) {
        let exemplar = trace_id.map(|t| vec![("trace_id".to_owned(), t)]);
        HistogramWithExemplars::observe(self, seconds, exemplar, None);
    }
    const EXEMPLARS: bool = true;
}

pub(super) const N_BUCKETS: usize = primitives_core::semconv::DURATION_BUCKETS.len() + 1;

/// A step-duration histogram of relaxed atomics: no lock per observation,
/// no exemplars. Used when spans are off (no trace id to point to).
#[derive(Debug, Clone, Default)]
pub(super) struct AtomicDurations(Arc<AtomicDurationsInner>);

#[derive(Debug, Default)]
pub(super) struct AtomicDurationsInner {
    /// Per bucket (not cumulative); the last is `+Inf`.
    pub(super) buckets: [std::sync::atomic::AtomicU64; N_BUCKETS],
    pub(super) sum_nanos: std::sync::atomic::AtomicU64,
}

impl StepHistogram for AtomicDurations {
    fn new() -> Self {
        AtomicDurations::default()
    }
    fn observe(&self, seconds: f64, _trace_id: Option<String>) {
        use std::sync::atomic::Ordering::Relaxed;
        // `le` buckets: the first bound >= the value.
        let i = primitives_core::semconv::DURATION_BUCKETS.partition_point(|b| *b < seconds);
        self.0.buckets[i].fetch_add(1, Relaxed);
        self.0.sum_nanos.fetch_add((seconds * 1e9) as u64, Relaxed);
    }
    const EXEMPLARS: bool = false;
}

impl prometheus_client::metrics::TypedMetric for AtomicDurations {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicDurations {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        // Per-bucket counts (the encoders accumulate), last bound +Inf.
        let bounds = primitives_core::semconv::DURATION_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY));
        let buckets: Buckets = bounds
            .zip(self.0.buckets.iter())
            .map(|(bound, n)| (bound, n.load(Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.0.sum_nanos.load(Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The built-in step-duration histograms kept in prometheus-client: with
/// trace-id exemplars when spans are recorded (the OTel SDK records none),
/// lock-free atomics otherwise.
#[derive(Debug, Clone)]
pub(super) struct StepDurations<H: StepHistogram> {
    pub(super) family: Family<Labels, H>,
    pub(super) handles: Handles<H>,
    pub(super) limit: usize,
    pub(super) guard: Arc<CardinalityGuard>,
    /// Label sets folded into the overflow series (by hash), for the
    /// `observability_metric_overflow_series` gauge.
    pub(super) folded: Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
}

impl<H: StepHistogram> StepDurations<H> {
    pub(super) fn new(guard: Arc<CardinalityGuard>, limit: usize) -> Self {
        StepDurations {
            family: Family::new_with_constructor(H::new),
            handles: Arc::default(),
            limit,
            guard,
            folded: Arc::default(),
        }
    }

    pub(super) fn handle(&self, primitive: &str, kind: &str) -> H {
        if let Some(list) = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(primitive)
        {
            if let Some((_, h)) = list.iter().find(|(k, _)| k == kind) {
                return h.clone();
            }
        }
        let labels: Labels = vec![
            (label::PRIMITIVE.into(), bounded(primitive.into())),
            (label::TYPE.into(), bounded(kind.into())),
        ];
        // Counted and admitted under one write lock, so racing binds can't
        // admit more than `limit` series between them.
        let mut handles = self.handles.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, h)) = handles
            .get(primitive)
            .and_then(|list| list.iter().find(|(k, _)| k == kind))
        {
            return h.clone();
        }
        let count: usize = handles.values().map(Vec::len).sum();
        if count >= self.limit {
            drop(handles);
            let folded = {
                let mut folded = self.folded.lock().unwrap_or_else(PoisonError::into_inner);
                // Bounded too: past the cap the gauge stays at it.
                if folded.len() < FOLDED_CAP {
                    folded.insert(series_hash(&labels));
                }
                folded.len() as u64
            };
            self.guard.note_overflow(SERIES, folded);
            let overflow: Labels = vec![(OVERFLOW_LABEL.0.into(), OVERFLOW_LABEL.1.into())];
            return self.family.get_or_create(&overflow).clone();
        }
        let h = self.family.get_or_create(&labels).clone();
        handles
            .entry(primitive.to_owned())
            .or_default()
            .push((kind.to_owned(), h.clone()));
        h
    }
}

/// Folded label sets remembered for the overflow gauge, at most.
const FOLDED_CAP: usize = 65_536;

/// A label set's hash: what the overflow count keeps of each folded set.
fn series_hash(labels: &Labels) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(labels)
}

/// Minimum time between two exemplars of one series: Prometheus keeps the
/// latest exemplar per bucket, so one per 100 ms is plenty, and building an
/// exemplar (a trace id string) on every step would cost more than the step.
pub(super) const EXEMPLAR_INTERVAL_NANOS: u64 = 100_000_000;

pub(super) struct BoundStepDuration<H> {
    pub(super) hist: H,
    pub(super) last_exemplar: std::sync::atomic::AtomicU64,
}

impl<H: StepHistogram> primitives_core::sink::BoundDurationObserver for BoundStepDuration<H> {
    fn observe(&self, seconds: f64, sampled: Option<(&SpanContext, std::time::SystemTime)>) {
        use std::sync::atomic::Ordering;
        let mut exemplar = None;
        if let (Some((span, ended)), true) = (sampled, H::EXEMPLARS) {
            let now = ended
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let last = self.last_exemplar.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= EXEMPLAR_INTERVAL_NANOS
                && self
                    .last_exemplar
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                exemplar = Some(span.trace_id().to_string());
            }
        }
        self.hist.observe(seconds, exemplar);
    }
}

impl<H: StepHistogram> primitives_core::sink::DurationObserver for StepDurations<H> {
    fn bind(
        &self,
        primitive: &str,
        kind: &str,
    ) -> Box<dyn primitives_core::sink::BoundDurationObserver> {
        Box::new(BoundStepDuration {
            hist: self.handle(primitive, kind),
            last_exemplar: std::sync::atomic::AtomicU64::new(0),
        })
    }
}
