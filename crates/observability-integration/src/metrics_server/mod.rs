//! The integration's HTTP server: serves any axum `Router` on the
//! integration's runtime, bound up front so a port in use is an immediate,
//! reportable error. The metrics router is the first tenant.

mod metrics;
mod serve;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

pub(crate) use metrics::{finish_router, metrics_router};
pub(crate) use serve::{Limits, ServerStats};

use crate::runtime::ObsRuntime;

/// A running server; stops when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    /// Signalled when the server has stopped and its port is free.
    stopped: std::sync::mpsc::Receiver<()>,
    stats: Arc<ServerStats>,
}

/// How long [`Server::stop`] waits for the server to let go of its port.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Server {
    /// Binds `host:port` now and serves `app` on `rt` within `limits`.
    pub(crate) fn start(
        rt: &ObsRuntime,
        host: &str,
        port: u16,
        app: Router,
        limits: Limits,
    ) -> std::io::Result<Server> {
        let listener = std::net::TcpListener::bind((host, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        let (stopped_tx, stopped) = std::sync::mpsc::sync_channel(1);
        let stats = Arc::new(ServerStats::default());
        let served_stats = stats.clone();
        rt.handle().spawn(async move {
            // Sent when this task ends, however it ends.
            let _stopped = Stopped(stopped_tx);
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(target: "observability_integration::server", error = %e, "the HTTP server could not start");
                    return;
                }
            };
            serve::accept_loop(listener, app, limits, served_stats, rx).await;
        });
        Ok(Server {
            addr,
            stop: Some(tx),
            stopped,
            stats,
        })
    }

    /// What the server refused and timed out.
    pub(crate) fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// The address actually bound.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits (at most a second) until the port is free,
    /// so a new setup can bind it again right away.
    pub(crate) fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
            let _ = self.stopped.recv_timeout(STOP_WAIT);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Signal only: dropping must not block.
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
    }
}

/// Tells [`Server::stop`] the serving task has ended.
struct Stopped(std::sync::mpsc::SyncSender<()>);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}
