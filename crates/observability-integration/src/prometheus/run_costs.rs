//! `workflow_run_cost_usd{workflow}`: what each run's LLM calls cost, a
//! histogram kept in prometheus-client so every observation can carry its
//! root's trace id as an exemplar (the OpenTelemetry SDK records none).
//! Prometheus keeps the latest exemplar per bucket: the top buckets point
//! at the most expensive recent runs.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use primitives_core::semconv::label;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;

use super::cardinality::CardinalityGuard;
use super::names::bounded;
use super::{Labels, TraceLabels, OVERFLOW_LABEL};

/// The series name (no unit suffix: the name says USD).
pub(super) const SERIES: &str = crate::llm::names::metric::RUN_COST;

/// The histogram's bounds, USD per run: from a cheap model's single call
/// (a tenth of a millicent) to a long agent run (fifty dollars).
pub const RUN_COST_BUCKETS: &[f64] = &[
    0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0,
];

type Hist = HistogramWithExemplars<TraceLabels>;

fn new_hist() -> Hist {
    HistogramWithExemplars::new(RUN_COST_BUCKETS.iter().copied())
}

/// The run-cost histograms, one per workflow (at most the cardinality
/// limit; the rest fold into the overflow series).
#[derive(Debug, Clone)]
pub(crate) struct RunCosts {
    pub(super) family: Family<Labels, Hist, fn() -> Hist>,
    guard: Arc<CardinalityGuard>,
    /// Workflows folded into the overflow series, for the overflow gauge.
    folded: Arc<Mutex<HashSet<String>>>,
}

/// Folded workflows remembered, at most.
const FOLDED_CAP: usize = 4096;

impl RunCosts {
    pub(super) fn new(guard: Arc<CardinalityGuard>) -> RunCosts {
        RunCosts {
            family: Family::new_with_constructor(new_hist as fn() -> Hist),
            guard,
            folded: Arc::default(),
        }
    }

    /// One run of `workflow` that cost `usd`; `trace_id` of its root span
    /// when it was sampled.
    pub(crate) fn observe(&self, workflow: &str, usd: f64, trace_id: Option<String>) {
        let labels: Labels = vec![(label::WORKFLOW.into(), bounded(workflow.into()))];
        let labels = if self.guard.admit(SERIES, &labels) {
            labels
        } else {
            let folded = {
                let mut folded = self.folded.lock().unwrap_or_else(PoisonError::into_inner);
                if folded.len() < FOLDED_CAP {
                    folded.insert(workflow.to_owned());
                }
                folded.len() as u64
            };
            self.guard.note_overflow(SERIES, folded);
            vec![(OVERFLOW_LABEL.0.into(), OVERFLOW_LABEL.1.into())]
        };
        let exemplar = trace_id.map(|t| vec![("trace_id".to_owned(), t)]);
        self.family
            .get_or_create(&labels)
            .observe(usd, exemplar, None);
    }
}
