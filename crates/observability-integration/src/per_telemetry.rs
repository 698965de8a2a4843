//! [`PerTelemetry`]: a primitive's handle on a value kept with each
//! telemetry it runs under (instruments, settings), cached with the
//! telemetry's id so a call takes no lock.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use primitives_core::Telemetry;

pub(crate) struct PerTelemetry<T>(ArcSwapOption<(u64, Arc<T>)>);

impl<T> Default for PerTelemetry<T> {
    fn default() -> Self {
        PerTelemetry(ArcSwapOption::empty())
    }
}

impl<T: Send + Sync + 'static> PerTelemetry<T> {
    /// The value kept with `tel` (made by `make` once per telemetry, in
    /// [`Telemetry::extension`]), and whether this handle met `tel` for
    /// the first time.
    pub(crate) fn get(
        &self,
        tel: &Telemetry,
        make: impl FnOnce(&Telemetry) -> T,
    ) -> (Arc<T>, bool) {
        if let Some(cached) = &*self.0.load() {
            if cached.0 == tel.id() {
                return (cached.1.clone(), false);
            }
        }
        let value = tel.extension(make);
        self.0.store(Some(Arc::new((tel.id(), value.clone()))));
        (value, true)
    }
}
