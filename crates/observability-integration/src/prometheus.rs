//! The Prometheus side: a prometheus-client registry fed by the
//! OpenTelemetry metrics API through a [`ManualReader`] that collects on
//! scrape, the built-in duration histograms with trace-id exemplars, a
//! cardinality guard, process metrics, and both exposition formats.
//!
//! Naming: OTel names are sanitised to `[a-zA-Z_:][a-zA-Z0-9_:]*`; unit `s`
//! adds `_seconds` and `By` adds `_bytes` unless the name already ends with
//! it; units `1` and `{…}` add nothing; counters get `_total` from
//! prometheus-client, once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use opentelemetry::trace::SpanContext;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};
use opentelemetry_sdk::Resource;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

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

/// A `ManualReader` shared between the meter provider and the collector.
#[derive(Debug, Clone)]
pub struct SharedReader(Arc<ManualReader>);

impl SharedReader {
    fn new() -> Self {
        SharedReader(Arc::new(
            ManualReader::builder()
                .with_temporality(Temporality::Cumulative)
                .build(),
        ))
    }
}

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: std::sync::Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// Prometheus metric name from an OTel instrument name.
pub fn sanitize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
        out.push(if ok { c } else { '_' });
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Prometheus label name from an OTel attribute key (no `:`; a leading
/// digit gets a `_` prefix).
pub fn sanitize_label(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in key.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// The unit suffix prometheus-client should add, if any.
pub fn unit_for(name: &str, otel_unit: &str) -> Option<Unit> {
    match otel_unit {
        "s" if !name.ends_with("_seconds") => Some(Unit::Seconds),
        "By" if !name.ends_with("_bytes") => Some(Unit::Bytes),
        _ => None,
    }
}

fn labels_of<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> Labels {
    let mut l: Labels = attrs
        .map(|kv| {
            (
                sanitize_label(kv.key.as_str()),
                kv.value.as_str().into_owned(),
            )
        })
        .collect();
    l.sort();
    l
}

#[derive(Debug, Clone)]
enum Points {
    CounterU(Vec<(Labels, u64)>),
    CounterF(Vec<(Labels, f64)>),
    GaugeI(Vec<(Labels, i64)>),
    GaugeF(Vec<(Labels, f64)>),
    /// (labels, sum, count, per-bucket (upper bound, count))
    Histogram(Vec<HistPoint>),
}

impl Points {
    fn metric_type(&self) -> MetricType {
        match self {
            Points::CounterU(_) | Points::CounterF(_) => MetricType::Counter,
            Points::GaugeI(_) | Points::GaugeF(_) => MetricType::Gauge,
            Points::Histogram(_) => MetricType::Histogram,
        }
    }
}

#[derive(Debug)]
struct Family1 {
    help: String,
    unit: Option<Unit>,
    points: Points,
}

fn convert(data: &AggregatedMetrics) -> Option<Points> {
    /// (labels, value) of each point, the value mapped by `$f`.
    macro_rules! scalars {
        ($points:expr, $variant:ident, $f:expr) => {
            Points::$variant(
                $points
                    .map(|p| (labels_of(p.attributes()), $f(p.value())))
                    .collect(),
            )
        };
    }
    fn hist<T: Copy>(
        h: &opentelemetry_sdk::metrics::data::Histogram<T>,
        to_f64: fn(T) -> f64,
    ) -> Points {
        Points::Histogram(
            h.data_points()
                .map(|p| {
                    let mut buckets: Vec<(f64, u64)> = p.bounds().zip(p.bucket_counts()).collect();
                    buckets.push((f64::INFINITY, p.bucket_counts().last().unwrap_or(0)));
                    (
                        labels_of(p.attributes()),
                        to_f64(p.sum()),
                        p.count(),
                        buckets,
                    )
                })
                .collect(),
        )
    }
    let u_to_f = |v: u64| v as f64;
    Some(match data {
        AggregatedMetrics::U64(MetricData::Sum(s)) if s.is_monotonic() => {
            scalars!(s.data_points(), CounterU, |v: u64| v)
        }
        AggregatedMetrics::F64(MetricData::Sum(s)) if s.is_monotonic() => {
            scalars!(s.data_points(), CounterF, |v: f64| v)
        }
        AggregatedMetrics::U64(MetricData::Sum(s)) => scalars!(s.data_points(), GaugeF, u_to_f),
        AggregatedMetrics::I64(MetricData::Sum(s)) => scalars!(s.data_points(), GaugeI, |v: i64| v),
        AggregatedMetrics::F64(MetricData::Sum(s)) => scalars!(s.data_points(), GaugeF, |v: f64| v),
        AggregatedMetrics::U64(MetricData::Gauge(g)) => scalars!(g.data_points(), GaugeF, u_to_f),
        AggregatedMetrics::I64(MetricData::Gauge(g)) => {
            scalars!(g.data_points(), GaugeI, |v: i64| v)
        }
        AggregatedMetrics::F64(MetricData::Gauge(g)) => {
            scalars!(g.data_points(), GaugeF, |v: f64| v)
        }
        AggregatedMetrics::F64(MetricData::Histogram(h)) => hist(h, |v| v),
        AggregatedMetrics::U64(MetricData::Histogram(h)) => hist(h, |v| v as f64),
        _ => return None,
    })
}

/// Keeps at most `limit` label sets per metric; the rest fold into one
/// series labelled [`OVERFLOW_LABEL`], so totals stay right.
#[derive(Debug)]
pub struct CardinalityGuard {
    limit: usize,
    admitted: Mutex<HashMap<String, HashSet<Labels>>>,
    overflowed: Mutex<BTreeMap<String, u64>>,
}

impl CardinalityGuard {
    /// A guard with `limit` label sets per metric.
    pub fn new(limit: usize) -> Self {
        CardinalityGuard {
            limit: limit.max(1),
            admitted: Mutex::default(),
            overflowed: Mutex::default(),
        }
    }

    /// Whether `labels` of `metric` get their own series.
    fn admit(&self, metric: &str, labels: &Labels) -> bool {
        let mut admitted = self.admitted.lock().unwrap_or_else(PoisonError::into_inner);
        let set = admitted.entry(metric.to_owned()).or_default();
        if set.contains(labels) {
            return true;
        }
        if set.len() < self.limit {
            set.insert(labels.clone());
            return true;
        }
        false
    }

    fn note_overflow(&self, metric: &str, series: u64) {
        let mut o = self
            .overflowed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let first = !o.contains_key(metric);
        o.insert(metric.to_owned(), series);
        if first {
            tracing::warn!(
                target: "observability_integration::prometheus",
                metric,
                limit = self.limit,
                "metric exceeds its label-set limit: extra series are summed into one series labelled otel_metric_overflow=\"true\" (see observability_metric_overflow_series); remove high-cardinality labels or raise metric_cardinality_limit"
            );
        }
    }

    /// Series folded into the overflow series at the last scrape, per metric.
    pub fn overflowed(&self) -> BTreeMap<String, u64> {
        self.overflowed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn fold(&self, name: &str, points: Points) -> Points {
        let overflow: Labels = vec![(OVERFLOW_LABEL.0.into(), OVERFLOW_LABEL.1.into())];
        let mut folded = 0u64;
        macro_rules! fold_scalar {
            ($v:expr, $variant:ident, $zero:expr) => {{
                let mut out = Vec::new();
                let mut acc = $zero;
                let mut any = false;
                for (l, v) in $v {
                    if self.admit(name, &l) {
                        out.push((l, v));
                    } else {
                        acc += v;
                        any = true;
                        folded += 1;
                    }
                }
                if any {
                    out.push((overflow.clone(), acc));
                }
                Points::$variant(out)
            }};
        }
        let result = match points {
            Points::CounterU(v) => fold_scalar!(v, CounterU, 0u64),
            Points::CounterF(v) => fold_scalar!(v, CounterF, 0f64),
            Points::GaugeI(v) => fold_scalar!(v, GaugeI, 0i64),
            Points::GaugeF(v) => fold_scalar!(v, GaugeF, 0f64),
            Points::Histogram(v) => {
                let mut out = Vec::new();
                let mut acc: Option<(f64, u64, Buckets)> = None;
                for (l, sum, count, buckets) in v {
                    if self.admit(name, &l) {
                        out.push((l, sum, count, buckets));
                    } else {
                        folded += 1;
                        match &mut acc {
                            None => acc = Some((sum, count, buckets)),
                            Some((s, c, b)) if b.len() == buckets.len() => {
                                *s += sum;
                                *c += count;
                                for (dst, src) in b.iter_mut().zip(buckets) {
                                    dst.1 += src.1;
                                }
                            }
                            Some(_) => {}
                        }
                    }
                }
                if let Some((s, c, b)) = acc {
                    out.push((overflow.clone(), s, c, b));
                }
                Points::Histogram(out)
            }
        };
        if folded > 0 {
            self.note_overflow(name, folded);
        }
        result
    }
}

/// Collects the OTel SDK's metrics on every scrape.
#[derive(Debug)]
struct OtelBridge {
    reader: SharedReader,
    guard: Arc<CardinalityGuard>,
    /// (scope, instrument) pairs served elsewhere (the exemplar histograms).
    skip: Vec<(&'static str, &'static str)>,
}

fn sort_points(points: &mut Points) {
    match points {
        Points::CounterU(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
        Points::CounterF(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
        Points::GaugeI(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
        Points::GaugeF(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
        Points::Histogram(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
    }
}

impl OtelBridge {
    fn families(&self) -> (BTreeMap<String, Family1>, Option<Resource>) {
        let mut rm = ResourceMetrics::default();
        if self.reader.collect(&mut rm).is_err() {
            return (BTreeMap::new(), None);
        }
        let mut families: BTreeMap<String, Family1> = BTreeMap::new();
        for scope in rm.scope_metrics() {
            for m in scope.metrics() {
                if self
                    .skip
                    .iter()
                    .any(|(s, n)| scope.scope().name() == *s && m.name() == *n)
                {
                    continue;
                }
                let Some(points) = convert(m.data()) else {
                    continue;
                };
                let base = sanitize_name(m.name());
                let unit = unit_for(&base, m.unit());
                // prometheus-client appends `_total` to counters: strip one.
                let base = match points.metric_type() {
                    MetricType::Counter => base
                        .strip_suffix("_total")
                        .map(str::to_owned)
                        .unwrap_or(base),
                    _ => base,
                };
                let help = if m.description().trim().is_empty() {
                    format!(
                        "{} ({} from OpenTelemetry)",
                        m.name(),
                        kind_word(points.metric_type())
                    )
                } else {
                    m.description().trim_end_matches('.').to_owned()
                };
                // Sorted before folding, so which series a full metric admits
                // is deterministic, and after, to place the overflow series.
                let mut points = points;
                sort_points(&mut points);
                let mut points = self.guard.fold(&base, points);
                sort_points(&mut points);
                match families.get(&base) {
                    Some(existing) if existing.points.metric_type() != points.metric_type() => {
                        tracing::warn!(target: "observability_integration::prometheus", metric = %base, "two instruments map to one Prometheus name with different types; keeping the first");
                    }
                    Some(_) => {
                        tracing::warn!(target: "observability_integration::prometheus", metric = %base, "two instruments (scopes) map to one Prometheus name; keeping the first");
                    }
                    None => {
                        families.insert(base, Family1 { help, unit, points });
                    }
                }
            }
        }
        (families, Some(rm.resource().clone()))
    }
}

fn kind_word(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        _ => "metric",
    }
}

fn encode_family(encoder: &mut DescriptorEncoder<'_>, name: &str, f: &Family1) -> fmt::Result {
    let mut me =
        encoder.encode_descriptor(name, &f.help, f.unit.as_ref(), f.points.metric_type())?;
    macro_rules! each {
        ($v:expr, |$m:ident, $val:ident| $body:expr) => {
            for (labels, $val) in $v {
                let mut $m = me.encode_family(labels)?;
                $body?;
            }
        };
    }
    match &f.points {
        Points::CounterU(v) => each!(v, |m, val| m
            .encode_counter::<NoLabelSet, u64, f64>(val, None)),
        Points::CounterF(v) => each!(v, |m, val| m
            .encode_counter::<NoLabelSet, f64, f64>(val, None)),
        Points::GaugeI(v) => each!(v, |m, val| m.encode_gauge(val)),
        Points::GaugeF(v) => each!(v, |m, val| m.encode_gauge(val)),
        Points::Histogram(v) => {
            for (labels, sum, count, buckets) in v {
                let mut m = me.encode_family(labels)?;
                m.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
            }
        }
    }
    Ok(())
}

impl Collector for OtelBridge {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let (families, resource) = self.families();
        for (name, f) in &families {
            encode_family(&mut encoder, name, f)?;
        }
        if let Some(resource) = resource {
            let mut labels: Labels = resource
                .iter()
                .map(|(k, v)| (sanitize_label(k.as_str()), v.as_str().into_owned()))
                .collect();
            labels.sort();
            if !labels.is_empty() {
                let mut me = encoder.encode_descriptor(
                    "target",
                    "Target metadata (OpenTelemetry resource attributes)",
                    None,
                    MetricType::Info,
                )?;
                me.encode_info(&labels)?;
            }
        }
        let overflowed = self.guard.overflowed();
        if !overflowed.is_empty() {
            let mut me = encoder.encode_descriptor(
                "observability_metric_overflow_series",
                "Series folded into the otel_metric_overflow series at the last scrape, per metric",
                None,
                MetricType::Gauge,
            )?;
            for (metric, n) in overflowed {
                let labels: Labels = vec![("metric".into(), metric)];
                me.encode_family(&labels)?.encode_gauge(&(n as i64))?;
            }
        }
        Ok(())
    }
}

/// Each primitive's (type, histogram) handles, by primitive name.
type Handles<H> = Arc<RwLock<HashMap<String, Vec<(String, H)>>>>;

/// A histogram one step series observes into.
trait StepHistogram:
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
        HistogramWithExemplars::new(primitives_core::telemetry::DURATION_BUCKETS.iter().copied())
    }
    fn observe(&self, seconds: f64, trace_id: Option<String>) {
        let exemplar = trace_id.map(|t| vec![("trace_id".to_owned(), t)]);
        HistogramWithExemplars::observe(self, seconds, exemplar, None);
    }
    const EXEMPLARS: bool = true;
}

const N_BUCKETS: usize = primitives_core::telemetry::DURATION_BUCKETS.len() + 1;

/// A step-duration histogram of relaxed atomics: no lock per observation,
/// no exemplars. Used when spans are off (no trace id to point to).
#[derive(Debug, Clone, Default)]
struct AtomicDurations(Arc<AtomicDurationsInner>);

#[derive(Debug, Default)]
struct AtomicDurationsInner {
    /// Per bucket (not cumulative); the last is `+Inf`.
    buckets: [std::sync::atomic::AtomicU64; N_BUCKETS],
    sum_nanos: std::sync::atomic::AtomicU64,
}

impl StepHistogram for AtomicDurations {
    fn new() -> Self {
        AtomicDurations::default()
    }
    fn observe(&self, seconds: f64, _trace_id: Option<String>) {
        use std::sync::atomic::Ordering::Relaxed;
        // `le` buckets: the first bound >= the value.
        let i = primitives_core::telemetry::DURATION_BUCKETS.partition_point(|b| *b < seconds);
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
        let bounds = primitives_core::telemetry::DURATION_BUCKETS
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
struct StepDurations<H: StepHistogram> {
    family: Family<Labels, H>,
    handles: Handles<H>,
    limit: usize,
    guard: Arc<CardinalityGuard>,
}

impl<H: StepHistogram> StepDurations<H> {
    fn new(guard: Arc<CardinalityGuard>, limit: usize) -> Self {
        StepDurations {
            family: Family::new_with_constructor(H::new),
            handles: Arc::default(),
            limit,
            guard,
        }
    }

    fn handle(&self, primitive: &str, kind: &str) -> H {
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
        let mut labels: Labels = vec![
            ("primitive".into(), primitive.into()),
            ("type".into(), kind.into()),
        ];
        let count: usize = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(Vec::len)
            .sum();
        if count >= self.limit && !self.guard.admit("primitive_duration_seconds", &labels) {
            labels = vec![(OVERFLOW_LABEL.0.into(), OVERFLOW_LABEL.1.into())];
            self.guard.note_overflow("primitive_duration_seconds", 1);
            return self.family.get_or_create(&labels).clone();
        }
        let h = self.family.get_or_create(&labels).clone();
        self.handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(primitive.to_owned())
            .or_default()
            .push((kind.to_owned(), h.clone()));
        h
    }
}

/// Minimum time between two exemplars of one series: Prometheus keeps the
/// latest exemplar per bucket, so one per 100 ms is plenty, and building an
/// exemplar (a trace id string) on every step would cost more than the step.
const EXEMPLAR_INTERVAL_NANOS: u64 = 100_000_000;

struct BoundStepDuration<H> {
    hist: H,
    last_exemplar: std::sync::atomic::AtomicU64,
}

impl<H: StepHistogram> primitives_core::telemetry::BoundDurationObserver for BoundStepDuration<H> {
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

impl<H: StepHistogram> primitives_core::telemetry::DurationObserver for StepDurations<H> {
    fn bind(
        &self,
        primitive: &str,
        kind: &str,
    ) -> Box<dyn primitives_core::telemetry::BoundDurationObserver> {
        Box::new(BoundStepDuration {
            hist: self.handle(primitive, kind),
            last_exemplar: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

/// Process metrics read from `/proc/self` at scrape time (Linux), and
/// `build_info`.
#[derive(Debug)]
struct ProcessCollector {
    service: String,
    version: String,
}

fn proc_stat() -> Option<(f64, f64, f64)> {
    // utime, stime (clock ticks), rss (pages), starttime (ticks after boot)
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let rss_pages: f64 = f.get(21)?.parse().ok()?;
    Some(((utime + stime) / ticks, rss_pages * 4096.0, 0.0))
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let labels: Labels = vec![
            ("service".into(), self.service.clone()),
            ("version".into(), self.version.clone()),
            ("crate_version".into(), env!("CARGO_PKG_VERSION").into()),
        ];
        let mut me =
            encoder.encode_descriptor("build", "Build information", None, MetricType::Info)?;
        me.encode_info(&labels)?;
        if let Some((cpu, rss, _)) = proc_stat() {
            let mut me = encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time",
                Some(&Unit::Seconds),
                MetricType::Counter,
            )?;
            me.encode_counter::<NoLabelSet, f64, f64>(&cpu, None)?;
            let mut me = encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory size",
                Some(&Unit::Bytes),
                MetricType::Gauge,
            )?;
            me.encode_gauge(&rss)?;
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            let n = fds.count() as i64;
            let mut me = encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors",
                None,
                MetricType::Gauge,
            )?;
            me.encode_gauge(&n)?;
        }
        Ok(())
    }
}

/// Everything `/metrics` serves.
#[derive(Clone)]
pub struct PrometheusMetrics {
    registry: Arc<Registry>,
    reader: SharedReader,
    durations: Option<Arc<dyn primitives_core::telemetry::DurationObserver>>,
    guard: Arc<CardinalityGuard>,
}

impl fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusMetrics")
            .field("step_durations", &self.durations.is_some())
            .finish_non_exhaustive()
    }
}

/// Options of [`PrometheusMetrics`].
#[derive(Debug, Clone)]
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

impl PrometheusMetrics {
    /// A registry, and the reader to add to the meter provider.
    pub fn new(opts: PrometheusOptions) -> Self {
        let reader = SharedReader::new();
        let guard = Arc::new(CardinalityGuard::new(opts.cardinality_limit));
        let mut registry = Registry::default();
        let durations = opts.exemplars.then(|| {
            fn register<H: StepHistogram>(
                registry: &mut Registry,
                guard: &Arc<CardinalityGuard>,
                limit: usize,
            ) -> Arc<dyn primitives_core::telemetry::DurationObserver> {
                let d = StepDurations::<H>::new(guard.clone(), limit);
                registry.register_with_unit(
                    "primitive_duration",
                    "Primitive execution time",
                    Unit::Seconds,
                    d.family.clone(),
                );
                Arc::new(d)
            }
            if opts.trace_exemplars {
                register::<HistogramWithExemplars<TraceLabels>>(
                    &mut registry,
                    &guard,
                    opts.cardinality_limit,
                )
            } else {
                register::<AtomicDurations>(&mut registry, &guard, opts.cardinality_limit)
            }
        });
        let skip = if opts.exemplars {
            vec![(primitives_core::telemetry::SCOPE_NAME, "primitive_duration")]
        } else {
            Vec::new()
        };
        registry.register_collector(Box::new(OtelBridge {
            reader: reader.clone(),
            guard: guard.clone(),
            skip,
        }));
        if opts.process_metrics {
            registry.register_collector(Box::new(ProcessCollector {
                service: opts.service,
                version: opts.version,
            }));
        }
        PrometheusMetrics {
            registry: Arc::new(registry),
            reader,
            durations,
            guard,
        }
    }

    /// The reader to add to the SDK meter provider.
    pub fn reader(&self) -> SharedReader {
        self.reader.clone()
    }

    /// The duration observer to give the core's telemetry (exemplars).
    pub fn duration_observer(
        &self,
    ) -> Option<Arc<dyn primitives_core::telemetry::DurationObserver>> {
        self.durations.clone()
    }

    /// Prometheus text format 0.0.4.
    pub fn encode_text(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// OpenMetrics text (with exemplars).
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
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
