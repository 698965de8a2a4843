//! The embedded trace viewer: recent runs, each run's span tree on a time
//! axis with what the workflow primitives did (retry attempts, the
//! fallback taken, the route and why, cache hits, circuit state,
//! cancellations, saga compensations, LLM model, tokens and cost), and the
//! run's log lines linked to their spans. Nothing to install: it is served
//! beside `/metrics` (`http://127.0.0.1:9464/` by default) when
//! `enable_viewer` is on, which it is in the `development` environment.
//!
//! The store is one more outlet of the span pipeline, so it sees exactly
//! the spans the exporters see (sampled per config), bounded by
//! `viewer_max_bytes`: when full, the oldest successful runs go first and
//! failed runs last, counted in `observability_viewer_evicted_total`.
//!
//! The pages use a JSON API, which scripts may use too:
//!
//! | Route | What |
//! |---|---|
//! | `GET /api/runs` | recent runs, newest first; parameters `name` (substring), `status` (`ok`, `error`, `cancelled`), `correlation_id`, `min_duration_ms`, `q` (text in span names, attributes, status messages, log lines), `limit` (1..=1000, default 100) |
//! | `GET /api/traces/{trace_id}` | the spans with parents, attributes, events and status, and the log lines |
//! | `GET /api/traces/{trace_id}/otlp` | the trace as OTLP/JSON |
//! | `GET /api/stats` | the store's bytes, bound and evictions |
//!
//! To serve it from your own axum app instead, mount [`Viewer::router`]:
//!
//! ```no_run
//! # fn app(obs: &observability_integration::Observability) -> axum::Router {
//! let viewer = obs.viewer().expect("enable_viewer is on").router();
//! axum::Router::new().nest("/viewer", viewer)
//! # }
//! ```

mod capture;
mod detail;
mod query;
mod routes;
mod size;
mod store;

use std::sync::Arc;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

pub(crate) use capture::LogCapture;
pub(crate) use routes::Hosts;
pub(crate) use store::Store;
pub use store::ViewerStats;

/// The viewer of one observability stack: its store and its routes.
#[derive(Debug, Clone)]
pub struct Viewer {
    store: Arc<Store>,
}

impl Viewer {
    pub(crate) fn new(max_bytes: usize) -> Viewer {
        Viewer {
            store: Arc::new(Store::new(max_bytes)),
        }
    }

    /// The pages and the JSON API as an axum `Router`, to nest in your own
    /// app (links inside the pages are relative, so any prefix works). It
    /// answers any `Host`: put it behind your app's own access control.
    pub fn router(&self) -> axum::Router {
        routes::router(self.store.clone(), Hosts::Any)
    }

    pub(crate) fn router_for(&self, hosts: Hosts) -> axum::Router {
        routes::router(self.store.clone(), hosts)
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
