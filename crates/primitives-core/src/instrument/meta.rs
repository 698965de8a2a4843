//! [`Meta`]: what a step needs to be observed cheaply, computed on its
//! first observed call.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use opentelemetry::metrics::BoundHistogram;
use opentelemetry::KeyValue;

use crate::name::{intern, Name};
use crate::primitive::Primitive;
use crate::semconv::label;
use crate::sink::BoundDurationObserver;
use crate::stats::Stats;
use crate::telemetry::{Instruments, Telemetry};

/// Interned names and attributes, bound metric handles, the statistics
/// slot.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) name: Name,
    pub(crate) primitive_type: &'static str,
    pub(super) span_name: Name,
    pub(super) static_attrs: Option<Arc<[KeyValue]>>,
    bound: OnceLock<Bound>,
    stats: OnceLock<(u64, Arc<Stats>)>,
    /// Whether this step's last span was recording (sampled).
    pub(super) last_recording: AtomicBool,
}

/// Metric handles bound to one step's labels, for one telemetry.
pub(super) struct Bound {
    telemetry_id: u64,
    pub(super) duration: Option<BoundHistogram<f64>>,
    pub(super) duration_observer: Option<Box<dyn BoundDurationObserver>>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("telemetry_id", &self.telemetry_id)
            .finish_non_exhaustive()
    }
}

impl Bound {
    fn new(meta: &Meta, tel: &Telemetry, inst: &Instruments) -> Bound {
        let labels = [
            meta.name.kv(label::PRIMITIVE),
            KeyValue::new(label::TYPE, meta.primitive_type),
        ];
        Bound {
            telemetry_id: tel.id,
            duration: tel.otel_duration.then(|| inst.duration.bind(&labels)),
            duration_observer: tel
                .duration_observer
                .as_ref()
                .map(|o| o.bind(&meta.name, meta.primitive_type)),
        }
    }
}

/// A step's value for the telemetry at hand: the one cached on the step,
/// or (under another telemetry than the one it was first observed with)
/// one made for this call.
pub(super) enum Cached<'a, T> {
    Borrowed(&'a T),
    Owned(T),
}

impl<T> std::ops::Deref for Cached<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Cached::Borrowed(s) => s,
            Cached::Owned(s) => s,
        }
    }
}

impl Meta {
    pub(crate) fn of<In: Send + 'static, P: Primitive<In> + ?Sized>(p: &P) -> Meta {
        let name = intern(p.name());
        let span_name = intern(&format!("primitive.{name}"));
        Meta {
            name,
            primitive_type: p.primitive_type(),
            span_name,
            static_attrs: Some(p.span_attributes())
                .filter(|a| !a.is_empty())
                .map(Arc::from),
            bound: OnceLock::new(),
            stats: OnceLock::new(),
            last_recording: AtomicBool::new(true),
        }
    }

    /// The step's bound metric handles for `tel`.
    pub(super) fn bound(&self, tel: &Telemetry, inst: &Instruments) -> Cached<'_, Bound> {
        let b = self.bound.get_or_init(|| Bound::new(self, tel, inst));
        if b.telemetry_id == tel.id {
            Cached::Borrowed(b)
        } else {
            Cached::Owned(Bound::new(self, tel, inst))
        }
    }

    /// The step's statistics in `tel`'s registry (none when it keeps none).
    pub(super) fn stats(&self, tel: &Telemetry) -> Option<Cached<'_, Arc<Stats>>> {
        let registry = tel.stats.as_ref()?;
        let (id, stats) = self
            .stats
            .get_or_init(|| (tel.id, registry.get(&self.name, self.primitive_type)));
        Some(if *id == tel.id {
            Cached::Borrowed(stats)
        } else {
            Cached::Owned(registry.get(&self.name, self.primitive_type))
        })
    }
}
