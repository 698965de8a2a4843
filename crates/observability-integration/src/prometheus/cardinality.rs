//! [`CardinalityGuard`]: a bounded set of series per metric.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use super::points::Points;
use super::{Buckets, Labels, OVERFLOW_LABEL};

/// Keeps at most `limit` label sets per metric; the rest fold into one
/// series labelled [`OVERFLOW_LABEL`], so totals stay right.
#[derive(Debug)]
pub struct CardinalityGuard {
    pub(super) limit: usize,
    pub(super) admitted: Mutex<HashMap<String, HashSet<Labels>>>,
    pub(super) overflowed: Mutex<BTreeMap<String, u64>>,
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
    pub(super) fn admit(&self, metric: &str, labels: &Labels) -> bool {
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

    pub(super) fn note_overflow(&self, metric: &str, series: u64) {
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

    /// A metric that folded nothing at this scrape.
    fn clear_overflow(&self, metric: &str) {
        let mut o = self
            .overflowed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = o.get_mut(metric) {
            *n = 0;
        }
    }

    /// Series folded into the overflow series at the last scrape, per metric.
    pub fn overflowed(&self) -> BTreeMap<String, u64> {
        self.overflowed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn fold(&self, name: &str, points: Points) -> Points {
        let overflow: Labels = vec![(OVERFLOW_LABEL.0.into(), OVERFLOW_LABEL.1.into())];
        let mut folded = 0u64;
        macro_rules! fold_scalar {
            ($v:expr, $variant:ident, $zero:expr) => {{
                let mut out = Vec::new();
                let mut acc = $zero;
                let mut any = false;
                for (l, v) in $v {
                    if l == overflow {
                        // The SDK's own overflow series (`otel.metric.overflow`
                        // sanitised): merged into ours, one per family.
                        acc += v;
                        any = true;
                    } else if self.admit(name, &l) {
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
                    let sdk_overflow = l == overflow;
                    if !sdk_overflow && self.admit(name, &l) {
                        out.push((l, sum, count, buckets));
                    } else {
                        folded += u64::from(!sdk_overflow);
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
        } else {
            self.clear_overflow(name);
        }
        result
    }
}
