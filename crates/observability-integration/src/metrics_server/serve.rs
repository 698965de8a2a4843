//! The accept loop: HTTP/1 connections served by hyper with a header-read
//! timeout, at most `max_connections` at once. The server lives inside the
//! user's process, so a client that opens connections and sends half a
//! request must not be able to hold its file descriptors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// How much a server takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Time allowed for a request's headers to arrive.
    pub(crate) header_timeout: Duration,
    /// Connections served at once; more are closed on accept.
    pub(crate) max_connections: usize,
}

/// Connections the server turned away, by reason.
#[derive(Debug, Default)]
pub(crate) struct ServerStats {
    /// Closed on accept: `max_connections` were open.
    pub(crate) refused: AtomicU64,
    /// Closed because a request's headers did not arrive in time, before
    /// any request on the connection was served (an idle keep-alive
    /// connection closed by the same timer is not counted).
    pub(crate) header_timeouts: AtomicU64,
}

/// How long open connections get to finish once the server stops.
const DRAIN: Duration = Duration::from_secs(1);

pub(super) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stats: Arc<ServerStats>,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    loop {
        let accepted = tokio::select! {
            () = stopped(&mut stop) => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off, go on.
                tracing::warn!(target: "observability_integration::server", error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if stats.refused.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    target: "observability_integration::server",
                    limit = limits.max_connections,
                    "the metrics server is at its connection limit: new connections are closed (counted in observability_metrics_server_connections_total{{outcome=\"refused\"}}); raise metrics_max_connections if this is real traffic"
                );
            }
            drop(stream);
            continue;
        };
        let tower = TowerToHyperService::new(app.clone());
        // Whether this connection was ever served: hyper's header timer
        // also closes an idle keep-alive connection, which is no fault.
        let served = Arc::new(AtomicBool::new(false));
        let seen = served.clone();
        let service = hyper::service::service_fn(move |req| {
            seen.store(true, Ordering::Relaxed);
            hyper::service::Service::call(&tower, req)
        });
        let (stats, mut stop) = (stats.clone(), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    match tokio::time::timeout(DRAIN, conn.as_mut()).await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
            };
            if let Err(e) = result {
                if e.is_timeout() && !served.load(Ordering::Relaxed) {
                    stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// Resolves once the server is told to stop (or its handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}
