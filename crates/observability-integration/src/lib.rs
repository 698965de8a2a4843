//! Wires [`primitives_core`] workflows to real backends with one call.
//!
//! This crate owns everything that installs, exports or serves: config
//! loading, the OpenTelemetry SDK providers and exporters, the Prometheus
//! metrics server and structured logs.

pub mod config;

pub use config::{ConfigBuilder, ConfigError, EnvSource, ObservabilityConfig, OtlpProtocol};
pub use primitives_core;
