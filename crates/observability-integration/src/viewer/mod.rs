//! The embedded trace viewer: recent runs, each run's span tree on a time
//! axis with what the workflow primitives did (retry attempts, the
//! fallback taken, the route and why, cache hits, circuit state,
//! cancellations, saga compensations, LLM model, tokens and cost), and the
//! run's log lines linked to their spans. Nothing to install: it is served
//! beside `/metrics` (`http://127.0.0.1:9464/` by default) when
//! `enable_viewer` is on, which it is in the `development` environment.
//!
//! The store is one more outlet of the span pipeline, so it sees exactly
//! the spans the exporters see (sampled per config), and other processes
//! may send theirs over OTLP/HTTP (`POST /v1/traces`, stored only, never
//! exported again), so one request across services is one trace. It is
//! bounded by `viewer_max_bytes`: when full, ordinary runs go first, then
//! expensive ones, then slow ones, failed runs last (see the retention
//! order in the viewer's docs), counted in
//! `observability_viewer_evicted_total`. With `viewer_token` set, every
//! page, API route and the intake ask for it.
//!
//! The pages use a JSON API, which scripts may use too:
//!
//! | Route | What |
//! |---|---|
//! | `GET /api/runs` | recent runs, newest first; parameters `name` (substring), `status` (`ok`, `error`, `cancelled`), `correlation_id`, `min_duration_ms`, `q` (text in span names, attributes, status messages, log lines), `limit` (1..=1000, default 100) |
//! | `GET /api/traces/{trace_id}` | the spans with parents, services, attributes, events and status, and the log lines |
//! | `GET /api/traces/{trace_id}/otlp` | the trace as OTLP/JSON |
//! | `GET /api/stats` | the store's bytes, bound, evictions by class and intake counts |
//! | `GET /api/metrics` | per primitive calls, errors, p50/p95/p99; cache hit rates; runs and cost per workflow; cost by model |
//! | `POST /v1/traces` | OTLP/HTTP intake: protobuf or JSON, gzip or plain, at most 16 MiB |
//!
//! To serve it from your own axum app instead, mount [`Viewer::router`]:
//!
//! ```no_run
//! # fn app(obs: &observability_integration::Observability) -> axum::Router {
//! let viewer = obs.viewer().expect("enable_viewer is on").router();
//! axum::Router::new().nest("/viewer", viewer)
//! # }
//! ```

mod access;
mod capture;
mod detail;
mod intake;
mod query;
mod retention;
mod routes;
mod size;
mod stats;
mod store;
mod summary;

use std::sync::Arc;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

pub(crate) use capture::LogCapture;
pub(crate) use routes::Hosts;
pub use stats::ViewerStats;
pub(crate) use store::Store;

/// The viewer of one observability stack: its store and its routes.
#[derive(Debug, Clone)]
pub struct Viewer {
    store: Arc<Store>,
    access: Option<Arc<access::Access>>,
    metrics: routes::MetricsSource,
}

impl Viewer {
    /// A viewer holding at most `max_bytes`, asking for `token` when given.
    pub(crate) fn new(max_bytes: usize, token: Option<&str>) -> Viewer {
        Viewer {
            store: Arc::new(Store::new(max_bytes)),
            access: token.map(|t| Arc::new(access::Access::new(t))),
            metrics: Arc::default(),
        }
    }

    /// The pages, the JSON API and the OTLP/HTTP intake as an axum
    /// `Router`, to nest in your own app (links inside the pages are
    /// relative, so any prefix works). It answers any `Host`; with
    /// `viewer_token` set it asks for the token, else put it behind your
    /// app's own access control.
    pub fn router(&self) -> axum::Router {
        routes::router(self, Hosts::Any)
    }

    pub(crate) fn router_for(&self, hosts: Hosts) -> axum::Router {
        routes::router(self, hosts)
    }

    /// The registry the metrics page reads (the one `/metrics` serves).
    pub(crate) fn read_metrics_from(&self, prometheus: &crate::prometheus::PrometheusMetrics) {
        let _ = self.metrics.prometheus.set(prometheus.clone());
    }

    /// What the store holds and has let go.
    pub fn stats(&self) -> ViewerStats {
        self.store.stats()
    }

    /// The span pipeline's outlet into the store.
    pub(crate) fn exporter(&self) -> ViewerExporter {
        ViewerExporter(self.store.clone())
    }

    /// The log layer's view of the store.
    pub(crate) fn store(&self) -> Arc<Store> {
        self.store.clone()
    }
}

/// Puts exported batches into the store (the pipeline's `viewer` outlet).
#[derive(Debug)]
pub(crate) struct ViewerExporter(Arc<Store>);

impl SpanExporter for ViewerExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.insert(batch);
        std::future::ready(Ok(()))
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.0.set_resource(resource);
    }
}
