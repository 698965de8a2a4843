//! Capture a run's spans and metrics in memory and assert on them
//! (feature `testing`).
//!
//! Each [`TestTelemetry`] owns its own SDK providers, so tests run in
//! parallel in one process without touching global state:
//!
//! ```
//! use primitives_core::{lambda, testing::TestTelemetry, PrimitiveExt};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let t = TestTelemetry::new();
//! let step = lambda("hello", |x: u8| async move { Ok::<_, std::io::Error>(x) });
//! step.run(&t.context(), 1).await.unwrap();
//! let spans = t.spans();
//! assert_eq!(spans.len(), 1);
//! assert_eq!(spans[0].name, "primitive.hello");
//! assert_eq!(t.metrics().counter("primitive_executions", &[("status", "ok")]), 1);
//! # }
//! ```

use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};

use crate::context::WorkflowContext;
use crate::telemetry::Telemetry;

/// A [`ManualReader`] that can be shared: one handle goes into the meter
/// provider, the other collects on demand.
#[derive(Debug, Clone)]
pub struct SharedReader(pub Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// In-memory tracer and meter providers plus a [`Telemetry`] built on them.
#[derive(Debug)]
pub struct TestTelemetry {
    exporter: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    reader: SharedReader,
    telemetry: Arc<Telemetry>,
}

impl Default for TestTelemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl TestTelemetry {
    /// Every span sampled.
    pub fn new() -> Self {
        Self::with_sampler(Sampler::AlwaysOn)
    }

    /// Spans sampled by `sampler`.
    pub fn with_sampler(sampler: Sampler) -> Self {
        let exporter = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_simple_exporter(exporter.clone())
            .build();
        let reader = SharedReader(Arc::new(ManualReader::builder().build()));
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(reader.clone())
            .build();
        let telemetry = Arc::new(
            Telemetry::builder()
                .tracer_provider(&tracer_provider)
                .meter_provider(&meter_provider)
                .in_process_metrics(true)
                .build(),
        );
        TestTelemetry {
            exporter,
            tracer_provider,
            meter_provider,
            reader,
            telemetry,
        }
    }

    /// The SDK tracer provider (to build your own tracers in a test).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The SDK meter provider.
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// A fresh [`Telemetry`] on these providers (for `telemetry::set_global`).
    pub fn telemetry(&self) -> Telemetry {
        Telemetry::builder()
            .tracer_provider(&self.tracer_provider)
            .meter_provider(&self.meter_provider)
            .in_process_metrics(true)
            .build()
    }

    /// A new run context recording into these providers.
    pub fn context(&self) -> WorkflowContext {
        WorkflowContext::new().with_shared_telemetry(self.telemetry.clone())
    }

    /// In-process statistics of runs made with [`context`](Self::context).
    pub fn primitive_metrics(&self) -> Vec<crate::stats::PrimitiveMetrics> {
        self.telemetry.primitive_metrics()
    }

    /// Finished spans so far, in the order they ended.
    pub fn spans(&self) -> Vec<SpanData> {
        let _ = self.tracer_provider.force_flush();
        self.exporter.get_finished_spans().unwrap_or_default()
    }

    /// Forgets the spans captured so far.
    pub fn reset_spans(&self) {
        self.exporter.reset();
    }

    /// Collects the current metric values.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut rm = ResourceMetrics::default();
        let _ = self.reader.collect(&mut rm);
        MetricsSnapshot(rm)
    }
}

/// One collection of metrics, with lookups by name and labels.
#[derive(Debug)]
pub struct MetricsSnapshot(pub ResourceMetrics);

fn matches<'a>(attrs: impl Iterator<Item = &'a KeyValue>, want: &[(&str, &str)]) -> bool {
    let attrs: Vec<&KeyValue> = attrs.collect();
    want.iter().all(|(k, v)| {
        attrs
            .iter()
            .any(|kv| kv.key.as_str() == *k && kv.value.as_str() == *v)
    })
}

impl MetricsSnapshot {
    fn data<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a AggregatedMetrics> + 'a {
        self.0
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .filter(move |m| m.name() == name)
            .map(|m| m.data())
    }

    /// Names of every metric collected.
    pub fn names(&self) -> Vec<String> {
        self.0
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .map(|m| m.name().to_owned())
            .collect()
    }

    /// Sum over the points of counter (or up-down counter) `name` whose
    /// attributes include every `(key, value)` of `attrs`.
    pub fn counter(&self, name: &str, attrs: &[(&str, &str)]) -> u64 {
        let mut total = 0;
        for d in self.data(name) {
            if let AggregatedMetrics::U64(MetricData::Sum(sum)) = d {
                for p in sum.data_points() {
                    if matches(p.attributes(), attrs) {
                        total += p.value();
                    }
                }
            }
        }
        total
    }

    /// Like [`counter`](Self::counter), for `i64` up-down counters.
    pub fn up_down(&self, name: &str, attrs: &[(&str, &str)]) -> i64 {
        let mut total = 0;
        for d in self.data(name) {
            if let AggregatedMetrics::I64(MetricData::Sum(sum)) = d {
                for p in sum.data_points() {
                    if matches(p.attributes(), attrs) {
                        total += p.value();
                    }
                }
            }
        }
        total
    }

    /// Count of histogram `name`'s points matching `attrs`.
    pub fn histogram_count(&self, name: &str, attrs: &[(&str, &str)]) -> u64 {
        let mut total = 0;
        for d in self.data(name) {
            if let AggregatedMetrics::F64(MetricData::Histogram(h)) = d {
                for p in h.data_points() {
                    if matches(p.attributes(), attrs) {
                        total += p.count();
                    }
                }
            }
        }
        total
    }
}

/// Looks up an attribute of a captured span.
pub fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// Renders captured spans as an indented tree (children in start order),
/// one line per span with its position attribute, e.g.
/// `primitive.pipeline [step.index=0]`.
pub fn render_tree(spans: &[SpanData]) -> String {
    let mut sorted: Vec<&SpanData> = spans.iter().collect();
    sorted.sort_by_key(|s| s.start_time);
    let ids: Vec<SpanId> = sorted.iter().map(|s| s.span_context.span_id()).collect();
    let mut out = String::new();
    fn walk(
        out: &mut String,
        spans: &[&SpanData],
        parent: Option<(SpanId, TraceId)>,
        ids: &[SpanId],
        depth: usize,
    ) {
        for s in spans {
            let is_child = match parent {
                Some((p, t)) => s.parent_span_id == p && s.span_context.trace_id() == t,
                None => !ids.contains(&s.parent_span_id),
            };
            if !is_child {
                continue;
            }
            let pos: Vec<String> = s
                .attributes
                .iter()
                .filter(|kv| {
                    matches!(
                        kv.key.as_str(),
                        "step.index"
                            | "branch.index"
                            | "retry.attempt"
                            | "fallback.role"
                            | "router.route"
                            | "cache.hit"
                            | "condition.branch"
                            | "switch.case"
                            | "saga.role"
                            | "primitive.cancelled"
                    )
                })
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            let status = match &s.status {
                opentelemetry::trace::Status::Error { .. } => " ERROR",
                _ => "",
            };
            out.push_str(&format!(
                "{}{} [{}]{}\n",
                "  ".repeat(depth),
                s.name,
                pos.join(", "),
                status
            ));
            walk(
                out,
                spans,
                Some((s.span_context.span_id(), s.span_context.trace_id())),
                ids,
                depth + 1,
            );
        }
    }
    walk(&mut out, &sorted, None, &ids, 0);
    out
}
