//! Composable async workflow primitives that trace, measure and log
//! themselves.
//!
//! This crate is the lightweight core: it depends on the OpenTelemetry
//! **API** and `tracing` only — no SDK, no exporter, no server. With nothing
//! installed every primitive runs with one relaxed atomic load of overhead
//! and builds no span, attribute or clock read. The `observability-integration`
//! crate installs the SDK, exporters and the Prometheus endpoint with one
//! call, and every primitive — including ones built before that call —
//! records from then on.
//!
//! # Writing and composing steps
//!
//! ```
//! use primitives_core::{lambda, PrimitiveExt, Retry, WorkflowContext};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let validate = lambda("validate", |x: i64| async move {
//!     if x >= 0 { Ok(x) } else { Err(primitives_core::Error::msg("negative")) }
//! });
//! let double = lambda("double", |x: i64| async move { Ok::<_, primitives_core::Error>(x * 2) });
//! let inc = lambda("inc", |x: i64| async move { Ok::<_, primitives_core::Error>(x + 1) });
//! let dec = lambda("dec", |x: i64| async move { Ok::<_, primitives_core::Error>(x - 1) });
//!
//! // a >> b >> (c | d): a 3-step sequence whose last step is a 2-branch parallel.
//! let workflow = validate >> Retry::new(double).max_attempts(3) >> (inc | dec);
//! let out = workflow.run(&WorkflowContext::new(), 20).await.unwrap();
//! assert_eq!(out, vec![41, 39]);
//! # }
//! ```
//!
//! # What every step records
//!
//! One span per execution, named `primitive.<name>` (kind `INTERNAL`; a
//! primitive can choose both: [`Primitive::span_name`],
//! [`Primitive::span_kind`]), with `primitive.name`,
//! `primitive.type`, the child's position in its parent (`step.index`,
//! `branch.index`, `retry.attempt`, `fallback.role`, `router.route`, …),
//! status, and on failure the exception. A run is exactly one trace whose
//! tree mirrors the composition; its root span carries
//! `workflow.correlation_id`, `workflow.id` and `session.id` (the last two
//! when set), and the run's totals: numbers its steps added with
//! [`WorkflowContext::add_to_run`] (tokens, cost), shared by every context
//! of the run and read by the caller with [`WorkflowContext::run_totals`].
//!
//! Metrics, through the OpenTelemetry metrics API:
//!
//! | instrument (kind, unit) | Prometheus series | labels |
//! |---|---|---|
//! | `primitive_executions` (counter) | `primitive_executions_total` | primitive, type, status (ok, error, cancelled) |
//! | `primitive_duration` (histogram, s) | `primitive_duration_seconds_*` | primitive, type |
//! | `primitive_errors` (counter) | `primitive_errors_total` | primitive, error_type |
//! | `primitive_active` (up-down counter) | `primitive_active` | primitive |
//! | `retry_attempts` (counter) | `retry_attempts_total` | primitive, outcome (ok, retry, exhausted) |
//! | `fallback_used` (counter) | `fallback_used_total` | primitive |
//! | `timeout_expired` (counter) | `timeout_expired_total` | primitive |
//! | `circuit_breaker_transitions` (counter) | `circuit_breaker_transitions_total` | primitive, from, to |
//! | `cache_hit` / `cache_miss` (counters) | `cache_hit_total` / `cache_miss_total` | primitive |
//! | `cache_coalesced` (counter) | `cache_coalesced_total` | primitive |
//! | `workflow_runs` (counter), once per run at its root | `workflow_runs_total` | workflow (the root step's name), status (ok, error, cancelled) |
//! | `workflow_run_duration` (histogram, s; buckets [`semconv::RUN_DURATION_BUCKETS`], 2 s among them) | `workflow_run_duration_seconds_*` | workflow |
//!
//! Labels are bounded: primitive names, types and error types, never
//! correlation ids, inputs or error messages.
//!
//! Log events (`tracing`, target `primitives_core`): step start/end at
//! DEBUG, step failure at WARN, one INFO line per finished run (ERROR when
//! it failed), with `correlation_id`, `workflow_id` (when set), the
//! primitive's name and type and `duration_ms`. The run's line is written
//! in the root span's context, so a log formatter gives it the run's
//! `trace_id` and the root span's `span_id`.
//!
//! The names of every attribute, instrument and label are constants in
//! [`semconv`].
//!
//! # Writing your own composite
//!
//! Hold each child as a [`Step`] and run it with [`Step::call`], giving its
//! [`Position`] in the composite: the child gets the same span, position
//! attribute, metrics and log events as under a built-in composite.
//!
//! # Modules for integrators
//!
//! [`sink`] (span sink, finished spans, sampling hints, duration observer)
//! and [`telemetry`] (the handle, its builder and the global slot) are what
//! an exporter crate implements or installs; applications don't need them.
//!
//! # Crate feature flags
//!
//! - `testing` (off by default): [`testing`] helpers that capture a run's
//!   spans and metrics with in-memory SDK providers. Pulls in
//!   `opentelemetry_sdk`.

mod clock;
pub mod compose;
mod context;
mod error;
mod ext;
mod identity;
mod instrument;
mod name;
mod position;
mod primitive;
mod primitives;
pub mod semconv;
pub mod sink;
mod stats;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
mod totals;
mod workflow;

pub use async_trait::async_trait;
pub use context::WorkflowContext;
pub use error::{
    BoxError, BudgetExceeded, CircuitOpen, Elapsed, EmptyParallel, EmptySequential, Error,
    MockError, NoCase, NoRoute, Panicked, SagaFailed,
};
pub use ext::PrimitiveExt;
pub use identity::{current_correlation_id, current_run_identity, RunIdentity};
pub use instrument::Step;
pub use position::Position;
pub use primitive::{BoxedPrimitive, Primitive};
pub use primitives::cache::{
    Cache, CacheBuilder, CacheCounters, CacheObserver, CacheOutcome, EvictionCause,
};
pub use primitives::circuit_breaker::{CircuitBreaker, CircuitState};
pub use primitives::conditional::Conditional;
pub use primitives::fallback::Fallback;
pub use primitives::lambda::{lambda, lambda_with_context, ContextLambda, Lambda};
pub use primitives::mock::MockPrimitive;
pub use primitives::parallel::Parallel;
pub use primitives::retry::Retry;
pub use primitives::router::{RouteChoice, RouteReason, Router};
pub use primitives::saga::Saga;
pub use primitives::sequential::Sequential;
pub use primitives::switch::Switch;
pub use primitives::timeout::{Timeout, TimeoutOutcome};
pub use stats::PrimitiveMetrics;
pub use telemetry::Telemetry;
pub use totals::{Amount, Budget, RunTotals, TotalsList, MAX_RUN_TOTALS};
pub use workflow::Workflow;
