//! The process-wide telemetry slot the integration's setup refreshes.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use super::Telemetry;
use crate::stats::PrimitiveMetrics;

static ENABLED: AtomicBool = AtomicBool::new(false);
static GENERATION: AtomicU64 = AtomicU64::new(1);
static GLOBAL: RwLock<Option<&'static Telemetry>> = RwLock::new(None);

thread_local! {
    static CACHED: Cell<(u64, Option<&'static Telemetry>)> = const { Cell::new((0, None)) };
}

/// Installs `telemetry` for every primitive in the process, including those
/// built before this call. Replaces any previous global telemetry.
///
/// The handle is kept for the rest of the process (it is leaked, so that the
/// hot path needs no reference counting): install a handful of times, not
/// per request.
pub fn set_global(telemetry: Telemetry) {
    let enabled = telemetry.is_enabled();
    let leaked: &'static Telemetry = Box::leak(Box::new(telemetry));
    let mut slot = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    *slot = enabled.then_some(leaked);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    ENABLED.store(enabled, Ordering::Release);
}

/// Removes the global telemetry: primitives record nothing from now on.
pub fn clear_global() {
    let mut slot = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    *slot = None;
    GENERATION.fetch_add(1, Ordering::AcqRel);
    ENABLED.store(false, Ordering::Release);
}

/// The global telemetry, if one is installed and enabled.
pub fn global() -> Option<&'static Telemetry> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let generation = GENERATION.load(Ordering::Acquire);
    CACHED.with(|c| {
        let (cached_gen, cached) = c.get();
        if cached_gen == generation {
            return cached;
        }
        let current = *GLOBAL.read().unwrap_or_else(PoisonError::into_inner);
        c.set((generation, current));
        current
    })
}

/// Snapshot of the global in-process per-primitive statistics.
pub fn primitive_metrics() -> Vec<PrimitiveMetrics> {
    global()
        .map(Telemetry::primitive_metrics)
        .unwrap_or_default()
}
