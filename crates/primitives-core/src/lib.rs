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
//! One span per execution, named `primitive.<name>`, with `primitive.name`,
//! `primitive.type`, the child's position in its parent (`step.index`,
//! `branch.index`, `retry.attempt`, `fallback.role`, `router.route`, …),
//! status, and on failure the exception. A run is exactly one trace whose
//! tree mirrors the composition; its root span carries
//! `workflow.correlation_id` and `workflow.id`.
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
//!
//! Labels are bounded: primitive names, types and error *kinds*, never
//! correlation ids, inputs or error messages.
//!
//! Log events (`tracing`, target `primitives_core`): step start/end at
//! DEBUG, step failure at WARN, one INFO line per finished run (ERROR when
//! it failed), with `correlation_id`, `workflow_id` and the primitive name.
//!
//! # Crate feature flags
//!
//! - `testing` (off by default): [`testing`] helpers that capture a run's
//!   spans and metrics with in-memory SDK providers. Pulls in
//!   `opentelemetry_sdk`.

mod clock;
mod context;
mod error;
mod instrument;
mod primitive;
mod primitives;
pub mod span;
mod stats;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use async_trait::async_trait;
pub use context::{current_correlation_id, RunIdentity, WorkflowContext};
pub use error::{
    BoxError, CircuitOpen, Elapsed, EmptyParallel, EmptySequential, Error, MockError, NoCase,
    NoRoute, SagaFailed,
};
pub use instrument::Step;
pub use primitive::{BoxedPrimitive, Primitive, PrimitiveExt, Workflow};
pub use primitives::cache::{Cache, CacheBuilder};
pub use primitives::circuit_breaker::{CircuitBreaker, CircuitState};
pub use primitives::conditional::Conditional;
pub use primitives::fallback::Fallback;
pub use primitives::lambda::{lambda, lambda_with_context, ContextLambda, Lambda};
pub use primitives::mock::MockPrimitive;
pub use primitives::parallel::Parallel;
pub use primitives::retry::Retry;
pub use primitives::router::Router;
pub use primitives::saga::Saga;
pub use primitives::sequential::Sequential;
pub use primitives::switch::Switch;
pub use primitives::timeout::Timeout;
pub use stats::PrimitiveMetrics;
pub use telemetry::Telemetry;

/// The typed lists behind `>>` and `|`. They appear in the types of
/// composed workflows; you rarely name them.
pub mod compose {
    pub use crate::primitives::parallel::{Both, BranchList, Branches, One};
    pub use crate::primitives::sequential::{Chain, First, Steps, Then};
}

use compose::{Both, First, One, Then};

/// `>>` and `|` for every built-in primitive. (Your own types get the same
/// through [`PrimitiveExt::then`] and [`PrimitiveExt::parallel`]; Rust's
/// coherence rules don't let a library implement operators for them.)
macro_rules! compose_ops {
    ($($ty:ident [$($g:ident),*]),* $(,)?) => {$(
        impl<$($g,)* Rhs> std::ops::Shr<Rhs> for $ty<$($g),*> {
            type Output = Sequential<Then<First<Self>, Rhs>>;
            fn shr(self, rhs: Rhs) -> Self::Output {
                Sequential::from_chain(Then::new(First::new(self), rhs))
            }
        }
        impl<$($g,)* Rhs> std::ops::BitOr<Rhs> for $ty<$($g),*> {
            type Output = Parallel<Both<One<Self>, Rhs>>;
            fn bitor(self, rhs: Rhs) -> Self::Output {
                Parallel::from_branches(Both::new(One::new(self), rhs))
            }
        }
    )*};
}

compose_ops!(
    Lambda[F],
    ContextLambda[F],
    Conditional[F, T, E],
    Switch[In, Out],
    Router[In, Out],
    Retry[P],
    Fallback[P, F],
    Timeout[P],
    Cache[P, K, V, F],
    CircuitBreaker[P],
    Saga[A, C],
    MockPrimitive[In, Out],
    Workflow[In, Out],
);

macro_rules! compose_cross_ops {
    () => {
        impl<C, Rhs> std::ops::BitOr<Rhs> for Sequential<C> {
            type Output = Parallel<Both<One<Self>, Rhs>>;
            fn bitor(self, rhs: Rhs) -> Self::Output {
                Parallel::from_branches(Both::new(One::new(self), rhs))
            }
        }
        impl<L, Rhs> std::ops::Shr<Rhs> for Parallel<L> {
            type Output = Sequential<Then<First<Self>, Rhs>>;
            fn shr(self, rhs: Rhs) -> Self::Output {
                Sequential::from_chain(Then::new(First::new(self), rhs))
            }
        }
    };
}
compose_cross_ops!();
