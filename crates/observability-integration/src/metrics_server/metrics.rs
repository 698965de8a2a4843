//! The metrics router: the Prometheus endpoint (content negotiated between
//! OpenMetrics and text 0.0.4), `/healthz`, and a 404 that says where
//! things are.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

use crate::prometheus::PrometheusMetrics;

/// `endpoint` serving `metrics`.
pub(crate) fn metrics_router(endpoint: &str, metrics: PrometheusMetrics) -> Router {
    let state = Scrapes {
        metrics,
        one_at_a_time: Arc::new(tokio::sync::Semaphore::new(1)),
    };
    Router::new().route(endpoint, get(scrape)).with_state(state)
}

/// `/healthz` and a 404 that says where things are, around `app`.
/// `served` lists what the server serves, for the 404's text.
pub(crate) fn finish_router(app: Router, served: String) -> Router {
    app.route("/healthz", get(|| async { "ok\n" }))
        .fallback(move || async move {
            (
                StatusCode::NOT_FOUND,
                format!("not found: {served}, health at /healthz\n"),
            )
        })
}

/// The scrape handler's state: scrapes run one at a time, so slow
/// collections can't fill the runtime's small blocking pool (which OTLP
/// exports also use, for DNS).
#[derive(Clone)]
struct Scrapes {
    metrics: PrometheusMetrics,
    one_at_a_time: Arc<tokio::sync::Semaphore>,
}

/// Collects and encodes on the runtime's blocking pool: a large registry
/// (or a slow user callback of an observable instrument) must not hold the
/// one worker thread that also drives OTLP export I/O and timers.
async fn scrape(State(state): State<Scrapes>, headers: HeaderMap) -> axum::response::Response {
    let Ok(turn) = state.one_at_a_time.clone().acquire_owned().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let metrics = state.metrics;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match tokio::task::spawn_blocking(move || {
        // Held until the encode is done, even if the client has gone.
        let _turn = turn;
        metrics.negotiate(accept.as_deref())
    })
    .await
    {
        Ok((content_type, body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("collecting metrics failed: {e}\n"),
        )
            .into_response(),
    }
}
