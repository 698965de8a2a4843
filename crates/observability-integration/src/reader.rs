//! [`Forward`]: a `MetricReader` behind a pointer, as a `MetricReader` (the
//! SDK takes readers by value; we keep a handle to ours, and take users'
//! boxed).

use std::fmt;
use std::ops::Deref;
use std::sync::Weak;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, Pipeline, Temporality};

/// Forwards every `MetricReader` call to the reader `P` points at.
#[derive(Clone)]
pub struct Forward<P>(pub(crate) P);

impl<P: Deref> fmt::Debug for Forward<P>
where
    P::Target: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Forward").field(&&*self.0).finish()
    }
}

impl<P> MetricReader for Forward<P>
where
    P: Deref + Send + Sync + 'static,
    P::Target: MetricReader,
{
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
