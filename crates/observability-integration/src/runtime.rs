//! The small Tokio runtime this crate owns: exporters, the metrics server
//! and the OTLP clients run here, never on the application's runtime.
//!
//! tonic starts its channel worker on the runtime that builds the channel,
//! and hyper/reqwest spawn connection tasks the same way, so an exporter
//! built on the application's runtime stalls when that runtime is blocked,
//! single-threaded or gone. Ours is built here and polled with this
//! runtime's context entered ([`InRuntime`]), wherever the SDK's export
//! thread happens to poll it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

/// The integration's runtime (one worker thread, time and IO enabled).
#[derive(Debug, Clone)]
pub(crate) struct ObsRuntime {
    inner: Arc<RuntimeOwner>,
}

#[derive(Debug)]
struct RuntimeOwner(Option<Runtime>);

impl Drop for RuntimeOwner {
    fn drop(&mut self) {
        // Dropping a runtime from async context panics; this never blocks.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl ObsRuntime {
    /// Starts the runtime's worker thread.
    pub(crate) fn new() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("observability-rt")
            .enable_all()
            .build()?;
        Ok(ObsRuntime {
            inner: Arc::new(RuntimeOwner(Some(rt))),
        })
    }

    /// The runtime's handle.
    pub(crate) fn handle(&self) -> &Handle {
        match &self.inner.0 {
            Some(rt) => rt.handle(),
            None => unreachable!("the runtime lives as long as its owner"),
        }
    }

    /// Runs `f` on the runtime and waits for it from any context (an async
    /// task, a plain thread, after the application's runtime is gone),
    /// giving up after `deadline`.
    pub(crate) fn run_blocking<T, F>(&self, deadline: Duration, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv_timeout(deadline).ok()
    }

    /// Wraps `fut` so every poll runs with this runtime's context entered.
    pub(crate) fn enter<F: Future>(&self, fut: F) -> InRuntime<F> {
        InRuntime {
            handle: self.handle().clone(),
            fut: Box::pin(fut),
        }
    }
}

/// A future polled with the integration runtime's context entered.
#[derive(Debug)]
pub(crate) struct InRuntime<F> {
    handle: Handle,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _entered = this.handle.enter();
        this.fut.as_mut().poll(cx)
    }
}
