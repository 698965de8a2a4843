//! [`Meters`]: the SDK meter provider, with histogram boundaries that fit
//! the instrument's unit when the instrument gives none.
//!
//! The SDK's default boundaries (0, 5, 10 … 10 000) suit milliseconds: a
//! histogram in seconds lands everything in its first bucket. An SDK view
//! can't fix this (a view's boundaries replace the instrument's own, and a
//! view can't see whether it had any), so the instruments are made through
//! this provider, which adds boundaries only where the instrument has none.

use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

use opentelemetry::metrics::{
    AsyncInstrumentBuilder, Counter, Gauge, Histogram, HistogramBuilder, InstrumentBuilder,
    InstrumentProvider, Meter, MeterProvider, ObservableCounter, ObservableGauge,
    ObservableUpDownCounter, UpDownCounter,
};
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// Boundaries for unit `s`: 5 ms to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The boundaries given to a histogram in `unit` that has none of its own:
/// 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10
/// for `s`, the same in milliseconds for `ms`, powers
/// of 4 from 1 KiB to 1 GiB for `By`; `None` (the SDK's default) otherwise.
pub fn default_boundaries(unit: &str) -> Option<Vec<f64>> {
    match unit {
        "s" => Some(SECONDS_BUCKETS.to_vec()),
        "ms" => Some(SECONDS_BUCKETS.iter().map(|b| b * 1000.0).collect()),
        "By" => Some((0..=10).map(|i| 1024.0 * 4f64.powi(i)).collect()),
        _ => None,
    }
}

/// The SDK meter provider of a setup (it derefs to
/// [`SdkMeterProvider`]), whose histograms get [`default_boundaries`] for
/// their unit when they give none. Setup installs it as the global meter
/// provider, so `opentelemetry::global::meter(..)` makes instruments
/// through it too.
#[derive(Debug, Clone)]
pub struct Meters(pub(super) SdkMeterProvider);

impl Deref for Meters {
    type Target = SdkMeterProvider;
    fn deref(&self) -> &SdkMeterProvider {
        &self.0
    }
}

impl MeterProvider for Meters {
    fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        Meter::new(Arc::new(UnitDefaults(self.0.meter_with_scope(scope))))
    }
}

/// Makes every instrument through the SDK's meter, with the same name,
/// description, unit and callbacks.
struct UnitDefaults(Meter);

fn unit_of<'a>(unit: &'a Option<Cow<'static, str>>) -> &'a str {
    unit.as_deref().unwrap_or("")
}

/// A synchronous instrument, forwarded as it is.
macro_rules! forward_sync {
    ($($method:ident -> $inst:ty),* $(,)?) => {$(
        fn $method(&self, builder: InstrumentBuilder<'_, $inst>) -> $inst {
            let mut b = self.0.$method(builder.name);
            b.description = builder.description;
            b.unit = builder.unit;
            b.build()
        }
    )*};
}

/// An observable instrument, forwarded with its callbacks.
macro_rules! forward_async {
    ($($method:ident -> $inst:ty, $m:ty),* $(,)?) => {$(
        fn $method(&self, builder: AsyncInstrumentBuilder<'_, $inst, $m>) -> $inst {
            let mut b = self.0.$method(builder.name);
            b.description = builder.description;
            b.unit = builder.unit;
            b.callbacks = builder.callbacks;
            b.build()
        }
    )*};
}

/// A histogram, given boundaries for its unit when it has none.
macro_rules! forward_histogram {
    ($($method:ident -> $inst:ty),* $(,)?) => {$(
        fn $method(&self, builder: HistogramBuilder<'_, $inst>) -> $inst {
            let mut b = self.0.$method(builder.name);
            b.boundaries = builder
                .boundaries
                .or_else(|| default_boundaries(unit_of(&builder.unit)));
            b.description = builder.description;
            b.unit = builder.unit;
            b.build()
        }
    )*};
}

impl InstrumentProvider for UnitDefaults {
    forward_sync!(
        u64_counter -> Counter<u64>,
        f64_counter -> Counter<f64>,
        i64_up_down_counter -> UpDownCounter<i64>,
        f64_up_down_counter -> UpDownCounter<f64>,
        u64_gauge -> Gauge<u64>,
        f64_gauge -> Gauge<f64>,
        i64_gauge -> Gauge<i64>,
    );
    forward_async!(
        u64_observable_counter -> ObservableCounter<u64>, u64,
        f64_observable_counter -> ObservableCounter<f64>, f64,
        i64_observable_up_down_counter -> ObservableUpDownCounter<i64>, i64,
        f64_observable_up_down_counter -> ObservableUpDownCounter<f64>, f64,
        u64_observable_gauge -> ObservableGauge<u64>, u64,
        i64_observable_gauge -> ObservableGauge<i64>, i64,
        f64_observable_gauge -> ObservableGauge<f64>, f64,
    );
    forward_histogram!(
        f64_histogram -> Histogram<f64>,
        u64_histogram -> Histogram<u64>,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_by_unit() {
        assert_eq!(default_boundaries("s").unwrap()[0], 0.005);
        assert_eq!(default_boundaries("ms").unwrap()[13], 10_000.0);
        let bytes = default_boundaries("By").unwrap();
        assert_eq!(
            (bytes[0], bytes[1], *bytes.last().unwrap()),
            (1024.0, 4096.0, 1024.0 * 1024.0 * 1024.0)
        );
        assert_eq!(default_boundaries("1"), None);
    }
}
