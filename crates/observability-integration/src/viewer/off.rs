//! Built without the `viewer` feature: the same names, never constructed
//! (`enable_viewer = true` is a config error in this build).

use std::convert::Infallible;
use std::sync::Arc;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

#[path = "stats.rs"]
mod stats;
pub use stats::ViewerStats;

/// No viewer in this build.
#[derive(Debug, Clone)]
pub struct Viewer(Infallible);

/// No store in this build.
#[derive(Debug)]
pub(crate) struct Store(Infallible);

/// Who may ask (unused in this build).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hosts {
    Any,
    Loopback,
}

impl Viewer {
    pub(crate) fn new(_max_bytes: usize, _token: Option<&str>) -> Viewer {
        unreachable!("the viewer is never enabled without the `viewer` feature")
    }
    pub(crate) fn read_metrics_from(&self, _prometheus: &crate::prometheus::PrometheusMetrics) {
        match self.0 {}
    }
    /// The viewer's routes.
    pub fn router(&self) -> axum::Router {
        match self.0 {}
    }
    pub(crate) fn router_for(&self, _hosts: Hosts) -> axum::Router {
        match self.0 {}
    }
    /// What the store holds.
    pub fn stats(&self) -> ViewerStats {
        match self.0 {}
    }
    pub(crate) fn exporter(&self) -> ViewerExporter {
        match self.0 {}
    }
    pub(crate) fn store(&self) -> Arc<Store> {
        match self.0 {}
    }
}

#[derive(Debug)]
pub(crate) struct ViewerExporter(Infallible);

impl SpanExporter for ViewerExporter {
    fn export(
        &self,
        _batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(Ok(()))
    }
}

/// A log layer that captures nothing.
#[derive(Clone, Default)]
pub(crate) struct LogCapture;

impl LogCapture {
    pub(crate) fn to(_store: Option<Arc<Store>>) -> LogCapture {
        LogCapture
    }
    pub(crate) fn point(&self, _store: Option<Arc<Store>>) {}
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogCapture {}
