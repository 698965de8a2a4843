//! The metrics router: the Prometheus endpoint (content negotiated between
//! OpenMetrics and text 0.0.4), `/healthz`, and a 404 that says where
//! things are.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::prometheus::PrometheusMetrics;

/// `endpoint` serving `metrics`, `/healthz`, and a helpful 404.
pub(crate) fn metrics_router(endpoint: &str, metrics: PrometheusMetrics) -> Router {
    let endpoint = endpoint.to_owned();
    Router::new()
        .route(&endpoint, get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(move || async move {
            (
                StatusCode::NOT_FOUND,
                format!("not found: metrics are served at {endpoint}, health at /healthz\n"),
            )
        })
        .with_state(metrics)
}

async fn scrape(State(metrics): State<PrometheusMetrics>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = metrics.negotiate(accept);
    ([(header::CONTENT_TYPE, content_type)], body)
}
