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

/// Collects and encodes on the runtime's blocking pool: a large registry
/// (or a slow user callback of an observable instrument) must not hold the
/// one worker thread that also drives OTLP export I/O and timers.
async fn scrape(
    State(metrics): State<PrometheusMetrics>,
    headers: HeaderMap,
) -> axum::response::Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match tokio::task::spawn_blocking(move || metrics.negotiate(accept.as_deref())).await {
        Ok((content_type, body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("collecting metrics failed: {e}\n"),
        )
            .into_response(),
    }
}
