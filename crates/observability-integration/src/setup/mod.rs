//! The one-call setup: [`initialize_observability`], and the
//! [`ObservabilityBuilder`] behind it with its hooks, status report and
//! safe shutdown.

mod buckets;
mod builder;
mod globals;
mod install;
mod layers;
mod metrics;
mod observability;
mod report;
mod serve;
mod subscriber;
mod traces;

pub use buckets::{default_boundaries, Meters};
pub use builder::{InitError, ObservabilityBuilder};
pub use globals::{
    global_report, global_span_counts, initialize_observability, layer, shutdown_observability,
    try_initialize_observability,
};
pub use install::{ObservabilityGuard, DEFAULT_SHUTDOWN_DEADLINE};
pub use observability::Observability;
pub use report::{ExporterStatus, Failure, ShutdownReport, SignalState, StatusReport};
