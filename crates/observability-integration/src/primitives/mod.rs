//! The enhanced [`Router`], [`Cache`] and [`Timeout`]: the core
//! primitives (same constructors, one span per execution, the same span
//! attributes) with the metrics below on top. Each resolves the installed
//! telemetry on every call, so one built before setup records from setup
//! on, and records nothing when metrics are off.
//!
//! | instrument (kind, unit) | Prometheus series | labels |
//! |---|---|---|
//! | `router_route_selected` (counter) | `router_route_selected_total` | primitive, route, reason (selected, default, selector_error) |
//! | `cache_evictions` (observable counter) | `cache_evictions_total` | primitive, cause (expired, size, explicit, replaced) |
//! | `cache_entries` (observable gauge) | `cache_entries` | primitive |
//! | `cache_lookup_duration` (histogram, s) | `cache_lookup_duration_seconds_*` | primitive |
//! | `timeout` (counter) | `timeout_total` | primitive, outcome (ok, timed_out, error) |
//! | `operation_duration` (histogram, s) | `operation_duration_seconds_*` | operation (the primitive's name), status (ok, error, cancelled) |
//!
//! `operation_duration_seconds` is the histogram of the original's
//! "Pattern 2"; one an application makes itself through the OpenTelemetry
//! meter under the same name is served in the same Prometheus family.

mod cache;
mod instruments;
mod router;
mod timeout;

pub use cache::{Cache, CacheBuilder};
pub use router::Router;
pub use timeout::Timeout;

/// Instrument names of the enhanced primitives (OpenTelemetry spelling;
/// Prometheus adds `_total` to counters and `_seconds` to histograms in
/// seconds).
pub mod metric {
    /// Counter: routes taken, by primitive, route and reason.
    pub const ROUTER_ROUTE_SELECTED: &str = "router_route_selected";
    /// Observable counter: cache entries removed, by primitive and cause.
    pub const CACHE_EVICTIONS: &str = "cache_evictions";
    /// Observable gauge: entries stored, by primitive.
    pub const CACHE_ENTRIES: &str = "cache_entries";
    /// Histogram (seconds): cache lookup time, by primitive.
    pub const CACHE_LOOKUP_DURATION: &str = "cache_lookup_duration";
    /// Counter: timeout calls, by primitive and outcome.
    pub const TIMEOUT: &str = "timeout";
    /// Histogram (seconds): operation time, by operation and status.
    pub const OPERATION_DURATION: &str = "operation_duration";
}

/// Label keys of the enhanced primitives' metrics.
pub mod label {
    pub use primitives_core::semconv::label::{OUTCOME, PRIMITIVE, STATUS};
    /// A router's route.
    pub const ROUTE: &str = "route";
    /// Why a route was taken.
    pub const REASON: &str = "reason";
    /// Why a cache entry was removed.
    pub const CAUSE: &str = "cause";
    /// The operation (primitive name) of `operation_duration`.
    pub const OPERATION: &str = "operation";
}

primitives_core::compose_operators!(Router[In, Out], Cache[P, K, V, F], Timeout[P]);
