//! Wires [`primitives_core`] workflows to real backends with one call.
//!
//! This crate owns everything that installs, exports or serves: config
//! loading, the OpenTelemetry SDK providers and exporters, the Prometheus
//! metrics server and structured logs. It is being built; see the workspace
//! README for what is available today.

pub use primitives_core;
