//! The integrator's contract: what only an integration (an exporter crate
//! such as `observability-integration`) implements or reads. Applications
//! don't need this module.
//!
//! - [`SpanSink`] receives the finished, sampled spans of steps as
//!   [`FinishedSpan`]s — the fast span path, installed with
//!   [`TelemetryBuilder::span_sink`](crate::telemetry::TelemetryBuilder::span_sink).
//!   An OpenTelemetry SDK span builds its attribute list, runs the sampler
//!   through a boxed tracer and converts itself to export data on the thread
//!   that ends it; a step's span knows most of its attributes up front, so a
//!   step records a `FinishedSpan` holding those parts as they are and the
//!   sink turns them into export data on its own thread.
//! - [`SamplingHint`] declares the tracer provider's sampler, so steps
//!   certain to be dropped build nothing.
//! - [`DurationObserver`] receives every step duration with its span context
//!   (for exemplars).
//! - [`RunObserver`] receives every run's end at its root, with the run's
//!   totals (for run-level metrics of what the run spent).
//!
//! The span still lives in the step's OpenTelemetry context as a real
//! [`opentelemetry::trace::Span`]: user code calling
//! `Context::current().span().set_attribute(..)` inside a step annotates it,
//! and spans users create inside a step become its children.

mod finished;
mod live;
mod sampling;

pub(crate) use finished::step_attributes;
pub use finished::{FinishedSpan, SpanParts, SPAN_LIMIT};
pub(crate) use live::{LiveSpan, SpanStart};
pub(crate) use sampling::{new_ids, sampled};

/// Receives the finished, sampled spans of steps.
///
/// Called on the thread that ended the span, on the application's hot path:
/// an implementation must not block (queue and return).
pub trait SpanSink: Send + Sync + 'static {
    /// One finished span.
    fn export(&self, span: FinishedSpan);
}

/// The tracer provider's sampler, declared so steps that are certain not to
/// be sampled skip the SDK entirely (they still get a trace id and span id
/// for propagation, with the sampled flag off).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct SamplingHint {
    /// Root sampling ratio (0.0..=1.0).
    pub ratio: f64,
    /// Whether a parent's decision is followed.
    pub parent_based: bool,
}

impl SamplingHint {
    /// `ParentBased(TraceIdRatio(ratio))` when `parent_based`, else
    /// `TraceIdRatio(ratio)`.
    pub const fn new(ratio: f64, parent_based: bool) -> SamplingHint {
        SamplingHint {
            ratio,
            parent_based,
        }
    }

    /// Parent-based, always on: the default.
    pub const ALWAYS_ON: SamplingHint = SamplingHint::new(1.0, true);
}

/// Receives every step duration together with the step's span context, so
/// an exporter can attach the trace id as an exemplar (the OpenTelemetry SDK
/// records none).
pub trait DurationObserver: Send + Sync + 'static {
    /// A handle for one step (`primitive`, `primitive_type`), asked for once
    /// per step and telemetry, then used on every execution.
    fn bind(&self, primitive: &str, primitive_type: &str) -> Box<dyn BoundDurationObserver>;
}

/// A [`DurationObserver`] bound to one step.
pub trait BoundDurationObserver: Send + Sync + 'static {
    /// One finished execution: its duration in seconds and, when its span
    /// was sampled, the span's context and end time (an exemplar candidate).
    fn observe(
        &self,
        seconds: f64,
        sampled: Option<(&opentelemetry::trace::SpanContext, std::time::SystemTime)>,
    );
}

/// Receives the end of every workflow run, once, at its root step: for
/// run-level metrics over what a run spent (the integration's
/// `workflow_run_cost_usd`), with the root's span context for exemplars.
pub trait RunObserver: Send + Sync + 'static {
    /// One finished run. Called on the application's thread: an
    /// implementation must not block.
    fn run_ended(&self, run: &RunEnd<'_>);
}

/// A finished run, as a [`RunObserver`] sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct RunEnd<'a> {
    /// The root step's name (the `workflow` label).
    pub workflow: &'a str,
    /// `ok`, `error` or `cancelled`.
    pub status: &'static str,
    /// The run's duration.
    pub seconds: f64,
    /// The run's totals, when anything was added to them.
    pub totals: Option<&'a crate::totals::RunTotals>,
    /// The root span's context and end time, when it was sampled (an
    /// exemplar candidate).
    pub sampled: Option<(&'a opentelemetry::trace::SpanContext, std::time::SystemTime)>,
}
