//! Span ids and the declared sampler's decision.

use std::cell::RefCell;

use opentelemetry::trace::{SpanContext, SpanId, TraceId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::SamplingHint;

thread_local! {
    static RNG: RefCell<Option<SmallRng>> = const { RefCell::new(None) };
}

fn with_rng<T>(f: impl FnOnce(&mut SmallRng) -> T) -> T {
    RNG.with(|r| {
        let mut r = r.borrow_mut();
        let rng = r.get_or_insert_with(|| SmallRng::from_rng(&mut rand::rng()));
        f(rng)
    })
}

/// A new span's ids: the parent's trace id when it has one, else a new
/// one (one thread-local access for both).
pub(crate) fn new_ids(parent_trace: Option<TraceId>) -> (TraceId, SpanId) {
    with_rng(|r| {
        let trace = parent_trace.unwrap_or_else(|| TraceId::from(r.random::<u128>().max(1)));
        (trace, SpanId::from(r.random::<u64>().max(1)))
    })
}

/// The declared sampler's decision for a new span under `parent`, with the
/// same arithmetic as the SDK's `TraceIdRatioBased` (so our spans and SDK
/// spans made by the same sampler agree).
pub(crate) fn sampled(hint: SamplingHint, parent: &SpanContext, trace_id: TraceId) -> bool {
    if parent.is_valid() && hint.parent_based {
        return parent.is_sampled();
    }
    if hint.ratio >= 1.0 {
        return true;
    }
    if hint.ratio <= 0.0 || hint.ratio.is_nan() {
        return false;
    }
    let bound = (hint.ratio * (1u64 << 63) as f64) as u64;
    let bytes = trace_id.to_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..16]);
    (u64::from_be_bytes(low) >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_sampling_matches_the_sdk_arithmetic() {
        let hint = SamplingHint {
            ratio: 0.25,
            parent_based: true,
        };
        let n = 20_000u32;
        let kept = (0..n)
            .filter(|_| sampled(hint, &SpanContext::NONE, new_ids(None).0))
            .count() as f64;
        let share = kept / f64::from(n);
        assert!((0.22..0.28).contains(&share), "{share}");
        let always = SamplingHint {
            ratio: 1.0,
            parent_based: false,
        };
        assert!(sampled(always, &SpanContext::NONE, TraceId::from(1u128)));
    }

    #[test]
    fn ids_are_valid_and_distinct() {
        let (t1, a) = new_ids(None);
        let (t2, b) = new_ids(Some(t1));
        assert_ne!(a, b);
        assert_ne!(a, SpanId::INVALID);
        assert_ne!(t1, TraceId::INVALID);
        assert_eq!(t2, t1, "the parent's trace id is kept");
    }
}
