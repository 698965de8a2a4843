//! Wires [`primitives_core`] workflows to real backends with one call.
//!
//! This crate owns everything that installs, exports or serves: config
//! loading, the OpenTelemetry SDK providers and exporters (OTLP over gRPC
//! and HTTP/protobuf, console), trace-correlated JSON logs, and the
//! Prometheus metrics endpoint. Exporters run on a small Tokio runtime of
//! this crate's own, so a blocked, single-threaded or finished application
//! runtime never stalls them.
//!
//! ```no_run
//! use observability_integration::{initialize_observability, ObservabilityConfig};
//!
//! let config = ObservabilityConfig::builder()
//!     .service_name("my-service")
//!     .build()
//!     .expect("valid config");
//! if !initialize_observability(config) {
//!     eprintln!("{}", observability_integration::global_report().unwrap());
//! }
//! ```
//!
//! Jaeger and Grafana Tempo receive OTLP: point `otlp_endpoint` (or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`) at them.
//!
//! # Crate feature flags
//!
//! - `otlp-grpc` (default): OTLP over gRPC (tonic).
//! - `otlp-http` (default): OTLP over HTTP/protobuf (reqwest, async, on the
//!   integration's runtime).
//! - `viewer` (default): the embedded trace viewer ([`viewer`]) beside
//!   `/metrics`.

mod accounting;
pub mod config;
pub mod export;
#[cfg(feature = "http")]
pub mod http;
pub mod llm;
pub mod logs;
mod metrics_server;
mod per_telemetry;
mod pipeline;
pub mod primitives;
pub mod prometheus;
pub mod propagation;
mod reader;
mod runtime;
mod setup;
pub mod slo;
#[cfg_attr(not(feature = "viewer"), path = "viewer/off.rs")]
pub mod viewer;

pub use accounting::{ErrorsByKind, SpanCounts};
pub use config::{ConfigBuilder, ConfigError, EnvSource, ObservabilityConfig, OtlpProtocol};
pub use primitives_core;
pub use setup::{
    default_boundaries, global_report, global_span_counts, initialize_observability, layer,
    shutdown_observability, try_initialize_observability, ExporterStatus, Failure, InitError,
    Meters, Observability, ObservabilityBuilder, ObservabilityGuard, ShutdownReport, SignalState,
    StatusReport, DEFAULT_SHUTDOWN_DEADLINE,
};

/// The Rust code blocks of the guides in `docs/`, compiled (and run, unless
/// marked `no_run`) as doctests so they can't drift from the API.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../../docs/getting-started.md")]
    struct GettingStarted;
    #[doc = include_str!("../../../docs/slo.md")]
    struct Slo;
    #[doc = include_str!("../../../docs/troubleshooting.md")]
    struct Troubleshooting;
    #[doc = include_str!("../../../docs/backends.md")]
    struct Backends;
}
