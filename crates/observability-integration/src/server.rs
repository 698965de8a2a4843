//! The metrics HTTP server: `GET {endpoint}` (Prometheus text 0.0.4, or
//! OpenMetrics with exemplars when the scraper asks for it), `GET /healthz`,
//! and a clear 404 elsewhere. Runs on the integration's runtime, so a busy
//! or blocked application runtime never stalls a scrape.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::prometheus::PrometheusMetrics;
use crate::runtime::ObsRuntime;

/// A running metrics server; stops when dropped or on [`MetricsServer::stop`].
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl MetricsServer {
    /// Binds `host:port` now (so a port in use is an immediate, reportable
    /// error) and serves on `rt`.
    pub fn start(
        rt: &ObsRuntime,
        host: &str,
        port: u16,
        endpoint: &str,
        metrics: PrometheusMetrics,
    ) -> std::io::Result<MetricsServer> {
        let listener = std::net::TcpListener::bind((host, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let endpoint = endpoint.to_owned();
        let app = Router::new()
            .route(&endpoint, get(scrape))
            .route("/healthz", get(|| async { "ok\n" }))
            .fallback({
                let endpoint = endpoint.clone();
                move || async move {
                    (
                        StatusCode::NOT_FOUND,
                        format!(
                            "not found: metrics are served at {endpoint}, health at /healthz\n"
                        ),
                    )
                }
            })
            .with_state(metrics);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.handle().spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(target: "observability_integration::server", error = %e, "metrics server could not start");
                    return;
                }
            };
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(target: "observability_integration::server", error = %e, "metrics server stopped");
            }
        });
        Ok(MetricsServer {
            addr,
            stop: Some(tx),
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn scrape(State(metrics): State<PrometheusMetrics>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = metrics.negotiate(accept);
    ([(header::CONTENT_TYPE, content_type)], body)
}
