//! Bridges around exporters: each export runs on the integration's
//! runtime under `export_timeout`, and its outcome is settled exactly once
//! into the accounting, also when the export future is dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::accounting::{MetricExportStats, Settles, SpanStats};
use crate::runtime::ObsRuntime;

/// Settles an export exactly once, also when its future is dropped.
struct Settle<S: Settles> {
    stats: Arc<S>,
    n: u64,
    done: bool,
}

impl<S: Settles> Settle<S> {
    fn finish(&mut self, result: &OTelSdkResult) {
        self.done = true;
        match result {
            Ok(()) => self.stats.exported(self.n),
            Err(e) => self.stats.failed(self.n, e),
        }
    }
}

impl<S: Settles> Drop for Settle<S> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(&Err(OTelSdkError::InternalFailure(
                "export cancelled".into(),
            )));
        }
    }
}

/// Runs `export` on `rt` under `timeout` and settles `n` items into `stats`.
fn bounded<S: Settles>(
    rt: &ObsRuntime,
    stats: &Arc<S>,
    n: u64,
    timeout: Duration,
    export: impl Future<Output = OTelSdkResult> + Send,
) -> impl Future<Output = OTelSdkResult> + Send {
    let mut settle = Settle {
        stats: stats.clone(),
        n,
        done: false,
    };
    rt.enter(async move {
        let result = match tokio::time::timeout(timeout, export).await {
            Ok(r) => r,
            Err(_) => Err(OTelSdkError::Timeout(timeout)),
        };
        settle.finish(&result);
        result
    })
}

/// Wraps a span exporter; the pipeline's outlets are these.
#[derive(Debug)]
pub(crate) struct BridgeSpanExporter<E> {
    inner: Arc<E>,
    rt: ObsRuntime,
    stats: Arc<SpanStats>,
    timeout: Duration,
}

impl<E: SpanExporter> BridgeSpanExporter<E> {
    pub(crate) fn new(inner: E, rt: ObsRuntime, stats: Arc<SpanStats>, timeout: Duration) -> Self {
        BridgeSpanExporter {
            inner: Arc::new(inner),
            rt,
            stats,
            timeout,
        }
    }
}

impl<E: SpanExporter + 'static> SpanExporter for BridgeSpanExporter<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let n = batch.len() as u64;
        let inner = self.inner.clone();
        bounded(&self.rt, &self.stats, n, self.timeout, async move {
            inner.export(batch).await
        })
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// Wraps a push metric exporter like [`BridgeSpanExporter`].
#[derive(Debug)]
pub(crate) struct BridgeMetricExporter<E> {
    inner: E,
    rt: ObsRuntime,
    stats: Arc<MetricExportStats>,
    timeout: Duration,
}

impl<E> BridgeMetricExporter<E> {
    pub(crate) fn new(
        inner: E,
        rt: ObsRuntime,
        stats: Arc<MetricExportStats>,
        timeout: Duration,
    ) -> Self {
        BridgeMetricExporter {
            inner,
            rt,
            stats,
            timeout,
        }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for BridgeMetricExporter<E> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        bounded(
            &self.rt,
            &self.stats,
            1,
            self.timeout,
            self.inner.export(metrics),
        )
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}
