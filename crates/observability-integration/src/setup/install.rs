//! Installing a stack globally, and the guard that shuts it down.

use std::fmt;
use std::time::Duration;

use super::observability::Observability;
use super::report::{ShutdownReport, SignalState};
use super::subscriber::{self, Outcome};

/// The default shutdown deadline.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

impl Observability {
    /// Installs globals and returns the guard that shuts everything down:
    /// our `tracing` subscriber, the W3C propagators, the OpenTelemetry
    /// global providers and the core's telemetry. What fails is in the
    /// report; the rest is installed.
    pub fn install_global(self) -> ObservabilityGuard {
        match self.install(false) {
            Ok(guard) => guard,
            Err(InstallFailed(guard)) => *guard,
        }
    }

    /// Installs globals. With `all_or_nothing`, a global `tracing`
    /// subscriber already in place stops it before anything global is
    /// touched (the guard comes back in the error, not installed).
    pub(super) fn install(
        mut self,
        all_or_nothing: bool,
    ) -> Result<ObservabilityGuard, InstallFailed> {
        // The subscriber first: it is the one global someone else may hold.
        if self.log_writer.is_some() {
            let outcome = subscriber::install(
                self.id,
                &self.config,
                self.tracer_provider.as_ref(),
                self.log_writer.as_ref(),
                self.viewer_store(),
            );
            match outcome {
                Outcome::Installed | Outcome::Repointed => self.report.subscriber_installed = true,
                Outcome::Taken => {
                    self.report.logs = SignalState::Failed;
                    self.report.fail("logs", "the application already installed a global tracing subscriber; add `guard.layer()` (or observability_integration::layer()) to it to get trace-correlated logs and tracing spans in traces");
                    if all_or_nothing {
                        return Err(InstallFailed(Box::new(ObservabilityGuard {
                            obs: Some(self),
                        })));
                    }
                }
            }
        } else if subscriber::repoint_if_ours(
            self.id,
            &self.config,
            self.tracer_provider.as_ref(),
            self.viewer_store(),
        ) {
            self.report.subscriber_installed = true;
        }
        if !self.report.sdk_disabled {
            if let Ok(name) =
                http::HeaderName::from_bytes(self.config.correlation_id_header.as_bytes())
            {
                crate::propagation::set_correlation_header(name);
            }
            // W3C Trace Context level 2 and Baggage (crate::propagation).
            opentelemetry::global::set_text_map_propagator(crate::propagation::W3cPropagator::new());
            if let Some(mp) = &self.meter_provider {
                opentelemetry::global::set_meter_provider(mp.clone());
            }
            if let Some(tp) = &self.tracer_provider {
                opentelemetry::global::set_tracer_provider(tp.clone());
            }
            primitives_core::telemetry::set_global(self.telemetry());
            super::observability::GLOBAL_OWNER.store(self.id, std::sync::atomic::Ordering::SeqCst);
            self.report.global = true;
        }
        let report = &self.report;
        if report.all_live() {
            tracing::info!(target: "observability_integration", report = %report, "observability initialized");
        } else {
            tracing::warn!(target: "observability_integration", report = %report, "observability partly failed; the application keeps running");
        }
        Ok(ObservabilityGuard { obs: Some(self) })
    }
}

/// An all-or-nothing install that stopped before touching any global: the
/// stack, not installed, to shut down.
pub(super) struct InstallFailed(pub(super) Box<ObservabilityGuard>);

/// Keeps the stack alive; shuts it down (flush with a deadline) on drop.
///
/// Dropping it blocks the dropping thread for up to
/// [`DEFAULT_SHUTDOWN_DEADLINE`] while queued telemetry is flushed; call
/// [`ObservabilityGuard::shutdown`] to choose the deadline.
pub struct ObservabilityGuard {
    obs: Option<Observability>,
}

impl fmt::Debug for ObservabilityGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservabilityGuard").finish_non_exhaustive()
    }
}

impl std::ops::Deref for ObservabilityGuard {
    type Target = Observability;
    fn deref(&self) -> &Observability {
        match &self.obs {
            Some(o) => o,
            None => unreachable!("the guard holds its stack until dropped"),
        }
    }
}

impl ObservabilityGuard {
    /// Shuts down now with `deadline` (dropping the guard does the same
    /// with [`DEFAULT_SHUTDOWN_DEADLINE`]).
    pub fn shutdown(self, deadline: Duration) -> ShutdownReport {
        (*self).shutdown(deadline)
    }
}

impl Drop for ObservabilityGuard {
    fn drop(&mut self) {
        if let Some(obs) = self.obs.take() {
            obs.shutdown(DEFAULT_SHUTDOWN_DEADLINE);
        }
    }
}
