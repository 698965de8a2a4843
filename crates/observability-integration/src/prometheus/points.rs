//! Collected OpenTelemetry points, by kind, in Prometheus's shape.

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::names::labels_of;
use super::{HistPoint, Labels};

#[derive(Debug, Clone)]
pub(super) enum Points {
    CounterU(Vec<(Labels, u64)>),
    CounterF(Vec<(Labels, f64)>),
    GaugeI(Vec<(Labels, i64)>),
    GaugeF(Vec<(Labels, f64)>),
    /// (labels, sum, count, per-bucket (upper bound, count))
    Histogram(Vec<HistPoint>),
}

impl Points {
    /// Adds `other`'s points to these when both are of one type (integer
    /// and float points of one kind become float); `false`, changing
    /// nothing, when they are not.
    pub(super) fn absorb(&mut self, other: Points) -> bool {
        fn floats<T: Into<f64>>(v: Vec<(Labels, T)>) -> impl Iterator<Item = (Labels, f64)> {
            v.into_iter().map(|(l, x)| (l, x.into()))
        }
        fn lossy_u(v: Vec<(Labels, u64)>) -> impl Iterator<Item = (Labels, f64)> {
            v.into_iter().map(|(l, x)| (l, x as f64))
        }
        fn lossy_i(v: Vec<(Labels, i64)>) -> impl Iterator<Item = (Labels, f64)> {
            v.into_iter().map(|(l, x)| (l, x as f64))
        }
        let this = std::mem::replace(self, Points::CounterU(Vec::new()));
        let (merged, ok) = match (this, other) {
            (Points::CounterU(mut a), Points::CounterU(b)) => {
                a.extend(b);
                (Points::CounterU(a), true)
            }
            (Points::CounterF(mut a), Points::CounterF(b)) => {
                a.extend(b);
                (Points::CounterF(a), true)
            }
            (Points::CounterU(a), Points::CounterF(b))
            | (Points::CounterF(b), Points::CounterU(a)) => (
                Points::CounterF(lossy_u(a).chain(floats(b)).collect()),
                true,
            ),
            (Points::GaugeI(mut a), Points::GaugeI(b)) => {
                a.extend(b);
                (Points::GaugeI(a), true)
            }
            (Points::GaugeF(mut a), Points::GaugeF(b)) => {
                a.extend(b);
                (Points::GaugeF(a), true)
            }
            (Points::GaugeI(a), Points::GaugeF(b)) | (Points::GaugeF(b), Points::GaugeI(a)) => {
                (Points::GaugeF(lossy_i(a).chain(floats(b)).collect()), true)
            }
            (Points::Histogram(mut a), Points::Histogram(b)) => {
                a.extend(b);
                (Points::Histogram(a), true)
            }
            (this, _) => (this, false),
        };
        *self = merged;
        ok
    }

    pub(super) fn metric_type(&self) -> MetricType {
        match self {
            Points::CounterU(_) | Points::CounterF(_) => MetricType::Counter,
            Points::GaugeI(_) | Points::GaugeF(_) => MetricType::Gauge,
            Points::Histogram(_) => MetricType::Histogram,
        }
    }
}

#[derive(Debug)]
pub(super) struct Family1 {
    /// The name before the unit and `_total` suffixes.
    pub(super) name: String,
    pub(super) help: String,
    pub(super) unit: Option<Unit>,
    pub(super) points: Points,
}

pub(super) fn convert(data: &AggregatedMetrics) -> Option<Points> {
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
