//! The process-wide telemetry slot the integration's setup refreshes.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};

use super::Telemetry;
use crate::stats::PrimitiveMetrics;

static ENABLED: AtomicBool = AtomicBool::new(false);
static GENERATION: AtomicU64 = AtomicU64::new(1);
static GLOBAL: RwLock<Option<Arc<Telemetry>>> = RwLock::new(None);

thread_local! {
    /// This thread's view of the global: weak, so a thread that stops
    /// running steps keeps nothing of a replaced or cleared telemetry alive.
    static CACHED: RefCell<(u64, Weak<Telemetry>)> = const { RefCell::new((0, Weak::new())) };
}

/// Installs `telemetry` for every primitive in the process, including those
/// built before this call. Replaces any previous global telemetry, which is
/// freed once the steps running under it have finished.
pub fn set_global(telemetry: Telemetry) {
    let enabled = telemetry.is_enabled();
    replace_slot(enabled.then(|| Arc::new(telemetry)));
}

/// Removes the global telemetry: primitives record nothing from now on,
/// and the telemetry is freed once the steps running under it finish.
pub fn clear_global() {
    replace_slot(None);
}

/// Puts `new` in the slot and moves the generation, so every thread's
/// cache re-reads it.
fn replace_slot(new: Option<Arc<Telemetry>>) {
    let enabled = new.is_some();
    let old = {
        let mut slot = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut *slot, new);
        GENERATION.fetch_add(1, Ordering::AcqRel);
        ENABLED.store(enabled, Ordering::Release);
        old
    };
    // Dropped outside the lock: it may be the last reference.
    drop(old);
}

/// The global telemetry, if one is installed and enabled.
pub fn global() -> Option<Arc<Telemetry>> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let generation = GENERATION.load(Ordering::Acquire);
    let cached = CACHED.try_with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        if c.0 == generation {
            if let Some(t) = c.1.upgrade() {
                return Some(Some(t));
            }
        }
        let current = read_slot();
        *c = (
            generation,
            current.as_ref().map(Arc::downgrade).unwrap_or_default(),
        );
        Some(current)
    });
    match cached {
        Ok(Some(t)) => t,
        // Thread-local gone (thread exiting) or re-entered: read the slot.
        _ => read_slot(),
    }
}

fn read_slot() -> Option<Arc<Telemetry>> {
    GLOBAL
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Snapshot of the global in-process per-primitive statistics.
pub fn primitive_metrics() -> Vec<PrimitiveMetrics> {
    global().map(|t| t.primitive_metrics()).unwrap_or_default()
}
