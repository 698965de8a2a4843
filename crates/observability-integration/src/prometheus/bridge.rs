//! The OpenTelemetry side: metrics collected from the shared reader on
//! each scrape, converted to Prometheus families.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::Resource;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::cardinality::CardinalityGuard;
use prometheus_client::registry::Unit;

use super::names::{merged_labels, sanitize_name};
use super::points::{convert, Family1, Points};
use super::{Labels, SharedReader};

/// Collects the OTel SDK's metrics on every scrape.
#[derive(Debug)]
pub(super) struct OtelBridge {
    pub(super) reader: SharedReader,
    pub(super) guard: Arc<CardinalityGuard>,
    /// (scope, instrument) pairs served elsewhere (the exemplar histograms).
    pub(super) skip: Vec<(&'static str, &'static str)>,
    /// Encoding OpenMetrics: HELP is escaped here (that encoder writes it
    /// as given; the 0.0.4 one escapes it itself).
    pub(super) openmetrics: bool,
}

/// HELP text escaped as OpenMetrics asks: backslash, newline and double
/// quote.
fn escape_openmetrics_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// Sums points whose label sets became equal once mapped (keys merged by
/// sanitising, `{a.b=x}` and `{a_b=x}`): a scrape with two equal series is
/// rejected whole. Expects sorted points.
pub(super) fn merge_equal_series(points: &mut Points) {
    macro_rules! scalars {
        ($v:expr) => {
            $v.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1 += later.1;
                }
                same
            })
        };
    }
    match points {
        Points::CounterU(v) => scalars!(v),
        Points::CounterF(v) => scalars!(v),
        Points::GaugeI(v) => scalars!(v),
        Points::GaugeF(v) => scalars!(v),
        Points::Histogram(v) => v.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            let same_bounds = later.3.len() == kept.3.len()
                && later.3.iter().zip(&kept.3).all(|(a, b)| a.0 == b.0);
            if same && !same_bounds {
                // Two layouts can't add up, and two equal series would
                // fail the scrape: the first is served.
                warn_once(
                    "(histogram)",
                    "two histograms with equal labels and different buckets; serving the first",
                );
            }
            if same && same_bounds {
                kept.1 += later.1;
                kept.2 += later.2;
                for (dst, src) in kept.3.iter_mut().zip(&later.3) {
                    dst.1 += src.1;
                }
            }
            same
        }),
    }
}

pub(super) fn sort_points(points: &mut Points) {
    match points {
        Points::CounterU(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
        Points::CounterF(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
        Points::GaugeI(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
        Points::GaugeF(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
        Points::Histogram(v) => v.sort_by(|a, b| a.0.cmp(&b.0)),
    }
}

impl OtelBridge {
    pub(super) fn families(&self) -> (BTreeMap<String, Family1>, Option<Resource>) {
        let mut rm = ResourceMetrics::default();
        if self.reader.collect(&mut rm).is_err() {
            return (BTreeMap::new(), None);
        }
        let mut families: BTreeMap<String, Family1> = BTreeMap::new();
        // Scopes in a fixed order (the SDK's is a hash map's): which
        // instrument wins a type conflict must not change between scrapes.
        let mut scopes: Vec<_> = rm.scope_metrics().collect();
        scopes.sort_by(|a, b| {
            (a.scope().name(), a.scope().version()).cmp(&(b.scope().name(), b.scope().version()))
        });
        for scope in scopes {
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
                let (base, unit) = base_and_unit(
                    &sanitize_name(m.name()),
                    m.unit(),
                    points.metric_type() == MetricType::Counter,
                );
                let exposed = match unit {
                    Some(Unit::Seconds) => format!("{base}_seconds"),
                    Some(Unit::Bytes) => format!("{base}_bytes"),
                    _ => base.clone(),
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
                let help = if self.openmetrics {
                    escape_openmetrics_help(&help)
                } else {
                    help
                };
                if let Some(existing) = families.get_mut(&exposed) {
                    // One name from two instruments of one type (the
                    // application's `operation_duration_seconds` beside the
                    // enhanced primitives'): one family with both's series.
                    if !existing.points.absorb(points) {
                        warn_once(&exposed, "two instruments map to one Prometheus name with different types; serving the first (by scope name)");
                    }
                } else {
                    families.insert(
                        exposed,
                        Family1 {
                            name: base,
                            help,
                            unit,
                            points,
                        },
                    );
                }
            }
        }
        for (exposed, f) in &mut families {
            // Sorted before folding, so which series a full metric admits
            // is deterministic, and after, to place the overflow series.
            // Folded once per served name, after merging.
            let mut points = std::mem::replace(&mut f.points, Points::CounterU(Vec::new()));
            sort_points(&mut points);
            merge_equal_series(&mut points);
            let mut points = self.guard.fold(exposed, points);
            sort_points(&mut points);
            f.points = points;
        }
        (families, Some(rm.resource().clone()))
    }
}

/// Warns once per process about a metric that can't be served whole (it
/// would otherwise repeat on every scrape).
fn warn_once(metric: &str, what: &str) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if warned.len() < 64 && !warned.iter().any(|m| m == metric) {
        warned.push(metric.to_owned());
        tracing::warn!(target: "observability_integration::prometheus", metric, "{what}");
    }
}

/// The Prometheus base name (without unit or `_total` suffix) and unit of
/// an instrument: a counter's `_total` and a unit suffix already in the
/// name are split off, so `op_duration` and `op_duration_seconds` (both in
/// `s`) are one family, `op_duration_seconds`.
fn base_and_unit(name: &str, otel_unit: &str, counter: bool) -> (String, Option<Unit>) {
    let name = if counter {
        name.strip_suffix("_total").unwrap_or(name)
    } else {
        name
    };
    let (suffix, unit) = match otel_unit {
        "s" => ("_seconds", Unit::Seconds),
        "By" => ("_bytes", Unit::Bytes),
        _ => return (name.to_owned(), None),
    };
    let base = name
        .strip_suffix(suffix)
        .filter(|b| !b.is_empty())
        .unwrap_or(name);
    (base.to_owned(), Some(unit))
}

pub(super) fn kind_word(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        _ => "metric",
    }
}

pub(super) fn encode_family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    f: &Family1,
) -> fmt::Result {
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
        for f in families.values() {
            encode_family(&mut encoder, &f.name, f)?;
        }
        if let Some(resource) = resource {
            let labels: Labels =
                merged_labels(resource.iter().map(|(k, v)| (k.as_str(), v.as_str())));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_suffix_in_the_name_is_not_repeated() {
        let u = |n, unit, counter| base_and_unit(n, unit, counter);
        assert_eq!(
            u("op_duration", "s", false),
            ("op_duration".into(), Some(Unit::Seconds))
        );
        assert_eq!(
            u("op_duration_seconds", "s", false),
            ("op_duration".into(), Some(Unit::Seconds))
        );
        // A counter's `_total` comes off first: not `busy_seconds_seconds_total`.
        assert_eq!(
            u("busy_seconds_total", "s", true),
            ("busy".into(), Some(Unit::Seconds))
        );
        assert_eq!(
            u("payload_bytes", "By", false),
            ("payload".into(), Some(Unit::Bytes))
        );
        assert_eq!(
            u("_seconds", "s", false),
            ("_seconds".into(), Some(Unit::Seconds))
        );
        assert_eq!(u("requests_total", "1", true), ("requests".into(), None));
    }
}
