//! The process-wide stack of [`initialize_observability`], as in the
//! Python original.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::builder::{InitError, ObservabilityBuilder};
use super::install::ObservabilityGuard;
use super::report::{ShutdownReport, StatusReport};
use crate::accounting::SpanCounts;
use crate::config::ObservabilityConfig;

static GLOBAL: Mutex<Option<ObservabilityGuard>> = Mutex::new(None);

/// The one call of TTA.dev's Python original: installs everything `config`
/// asks for, globally.
///
/// Returns `true` when every signal the config asked for is live and
/// `false` when any part failed (with a warning, and the failures in
/// [`global_report`]); what did start keeps running. Idempotent: later calls
/// return the first call's answer without reinstalling. Never panics.
pub fn initialize_observability(config: ObservabilityConfig) -> bool {
    let mut slot = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(guard) = &*slot {
        return guard.report().all_live();
    }
    let guard = ObservabilityBuilder::new(config).install();
    let ok = guard.report().all_live();
    *slot = Some(guard);
    ok
}

/// The report of [`initialize_observability`], if it ran.
pub fn global_report() -> Option<StatusReport> {
    GLOBAL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|g| g.report().clone())
}

/// Live span counts of the global setup.
pub fn global_span_counts() -> Vec<(String, SpanCounts)> {
    GLOBAL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|g| g.span_counts())
        .unwrap_or_default()
}

/// Flushes and shuts down what [`initialize_observability`] installed,
/// within `deadline`, from any context. `None` if it never ran.
pub fn shutdown_observability(deadline: Duration) -> Option<ShutdownReport> {
    let guard = GLOBAL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()?;
    Some(guard.shutdown(deadline))
}

/// Our `tracing` layers for your own subscriber, from the global setup.
pub fn layer<S>() -> Option<Box<dyn Layer<S> + Send + Sync + 'static>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    GLOBAL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|g| g.layer())
}

/// The fail-fast form of [`initialize_observability`] (the convention of
/// `tracing_subscriber`'s `try_init`): installs everything `config` asks for
/// globally and returns the guard that keeps it running (drop it, or call
/// its `shutdown`, at exit), or `Err` with the report when anything asked
/// for is not running — and then nothing stays installed, so a second call
/// with a corrected config can succeed. `Err` too when
/// [`initialize_observability`] already installed a stack.
pub fn try_initialize_observability(
    config: ObservabilityConfig,
) -> Result<ObservabilityGuard, InitError> {
    let slot = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(guard) = &*slot {
        return Err(InitError::already_installed(guard.report().clone()));
    }
    // Held while installing: an `initialize_observability` waits for it.
    let installed = ObservabilityBuilder::new(config).try_install();
    drop(slot);
    installed
}
