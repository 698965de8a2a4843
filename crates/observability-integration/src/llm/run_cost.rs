//! `workflow_run_cost_usd{workflow}`: each run's LLM cost (its
//! `llm.cost.total`), recorded once at the run's root by a
//! [`RunObserver`]. Prometheus serves it with trace-id exemplars; an OTLP
//! or custom metric reader gets the same histogram through OpenTelemetry.
//! A run with no priced call records nothing (an unpriced call is never
//! counted as $0; a free one is).

use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::KeyValue;
use primitives_core::semconv::label;
use primitives_core::sink::{RunEnd, RunObserver};

use super::names::{metric, total};
use crate::prometheus::{RunCosts, RUN_COST_BUCKETS};

/// Records each run's cost.
pub(crate) struct RunCostObserver {
    otel: Option<Histogram<f64>>,
    prometheus: Option<RunCosts>,
}

impl RunCostObserver {
    /// `meter`: record through OpenTelemetry too (for OTLP and custom
    /// readers); `prometheus`: the exemplar histograms `/metrics` serves.
    pub(crate) fn new(meter: Option<&Meter>, prometheus: Option<RunCosts>) -> RunCostObserver {
        RunCostObserver {
            otel: meter.map(|m| {
                m.f64_histogram(metric::RUN_COST)
                    .with_description("What each workflow run's priced LLM calls cost, USD")
                    .with_unit("USD")
                    .with_boundaries(RUN_COST_BUCKETS.to_vec())
                    .build()
            }),
            prometheus,
        }
    }

    /// Whether it records anywhere.
    pub(crate) fn is_useful(&self) -> bool {
        self.otel.is_some() || self.prometheus.is_some()
    }
}

impl RunObserver for RunCostObserver {
    fn run_ended(&self, run: &RunEnd<'_>) {
        let Some(cost) = run.totals.and_then(|t| t.get(total::COST_TOTAL)) else {
            return;
        };
        let usd = cost.as_f64();
        if let Some(h) = &self.otel {
            h.record(
                usd,
                &[KeyValue::new(label::WORKFLOW, run.workflow.to_owned())],
            );
        }
        if let Some(p) = &self.prometheus {
            let trace_id = run.sampled.map(|(sc, _)| sc.trace_id().to_string());
            p.observe(run.workflow, usd, trace_id);
        }
    }
}
