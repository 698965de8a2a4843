//! [`Meta`]: what a step needs to be observed cheaply, computed on its
//! first observed call.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;

use opentelemetry::metrics::{BoundCounter, BoundHistogram};
use opentelemetry::trace::SpanKind;
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
    pub(super) span_kind: SpanKind,
    pub(super) static_attrs: Option<Arc<[KeyValue]>>,
    /// Bound for the first telemetry the step ran under (the common case:
    /// one per process), then for the latest other one, so a step that ran
    /// before a reinstall binds once more, not on every call.
    bound: OnceLock<Bound>,
    rebound: ArcSwapOption<Bound>,
    stats: OnceLock<(u64, Arc<Stats>)>,
    restats: ArcSwapOption<(u64, Arc<Stats>)>,
    /// Whether this step's last span was recording (sampled).
    pub(super) last_recording: AtomicBool,
}

/// Metric handles bound to one step's labels, for one telemetry.
pub(super) struct Bound {
    telemetry_id: u64,
    pub(super) duration: Option<BoundHistogram<f64>>,
    pub(super) duration_observer: Option<Box<dyn BoundDurationObserver>>,
    /// The run-level handles, bound when the step first ends a run.
    run: OnceLock<RunBound>,
}

/// A workflow's run-level handles: `workflow_run_duration` and
/// `workflow_runs` per status (each bound on its first use, so no zero
/// series for statuses that never happen).
pub(super) struct RunBound {
    workflow: KeyValue,
    duration: BoundHistogram<f64>,
    by_status: [OnceLock<BoundCounter<u64>>; 3],
}

impl RunBound {
    /// Records one run of `secs` that ended with `status` (`ok`, `error`
    /// or `cancelled`).
    pub(super) fn record(&self, inst: &Instruments, secs: f64, status: &'static str) {
        self.duration.record(secs);
        let i = match status {
            "ok" => 0,
            "error" => 1,
            _ => 2,
        };
        self.by_status[i]
            .get_or_init(|| {
                inst.workflow_runs
                    .bind(&[self.workflow.clone(), KeyValue::new(label::STATUS, status)])
            })
            .add(1);
    }
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
            run: OnceLock::new(),
        }
    }

    /// The run-level handles of a workflow named `name`.
    pub(super) fn run(&self, name: &Name, inst: &Instruments) -> &RunBound {
        self.run.get_or_init(|| {
            let workflow = name.kv(label::WORKFLOW);
            RunBound {
                duration: inst
                    .workflow_run_duration
                    .bind(std::slice::from_ref(&workflow)),
                workflow,
                by_status: Default::default(),
            }
        })
    }
}

/// A step's value for the telemetry at hand: the one cached on the step,
/// or (under another telemetry than the one it was first observed with)
/// the one kept for the latest other telemetry, made once.
pub(super) enum Cached<'a, T> {
    Borrowed(&'a T),
    Owned(T),
    Shared(Arc<T>),
}

impl<T> std::ops::Deref for Cached<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Cached::Borrowed(s) => s,
            Cached::Owned(s) => s,
            Cached::Shared(s) => s,
        }
    }
}

impl Meta {
    pub(crate) fn of<In: Send + 'static, P: Primitive<In> + ?Sized>(p: &P) -> Meta {
        let name = intern(p.name());
        let span_name = intern(&p.span_name());
        Meta {
            name,
            primitive_type: p.primitive_type(),
            span_name,
            span_kind: p.span_kind(),
            static_attrs: Some(p.span_attributes())
                .filter(|a| !a.is_empty())
                .map(Arc::from),
            bound: OnceLock::new(),
            rebound: ArcSwapOption::empty(),
            stats: OnceLock::new(),
            restats: ArcSwapOption::empty(),
            last_recording: AtomicBool::new(true),
        }
    }

    /// The step's bound metric handles for `tel`.
    pub(super) fn bound(&self, tel: &Telemetry, inst: &Instruments) -> Cached<'_, Bound> {
        let b = self.bound.get_or_init(|| Bound::new(self, tel, inst));
        if b.telemetry_id == tel.id {
            return Cached::Borrowed(b);
        }
        if let Some(r) = &*self.rebound.load() {
            if r.telemetry_id == tel.id {
                return Cached::Shared(r.clone());
            }
        }
        let fresh = Arc::new(Bound::new(self, tel, inst));
        self.rebound.store(Some(fresh.clone()));
        Cached::Shared(fresh)
    }

    /// The step's statistics in `tel`'s registry (none when it keeps none).
    pub(super) fn stats(&self, tel: &Telemetry) -> Option<Cached<'_, Arc<Stats>>> {
        let registry = tel.stats.as_ref()?;
        let (id, stats) = self
            .stats
            .get_or_init(|| (tel.id, registry.get(&self.name, self.primitive_type)));
        if *id == tel.id {
            return Some(Cached::Borrowed(stats));
        }
        if let Some(r) = &*self.restats.load() {
            if r.0 == tel.id {
                return Some(Cached::Owned(r.1.clone()));
            }
        }
        let fresh = registry.get(&self.name, self.primitive_type);
        self.restats.store(Some(Arc::new((tel.id, fresh.clone()))));
        Some(Cached::Owned(fresh))
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::TestTelemetry;

    /// A step first observed under one telemetry and then under another (a
    /// reinstall) binds once for the new one, not on every call.
    #[test]
    fn a_later_telemetry_is_bound_once_not_per_call() {
        let (ta, tb) = (TestTelemetry::new(), TestTelemetry::new());
        let (a, b) = (ta.telemetry(), tb.telemetry());
        let step = crate::primitives::lambda::lambda("rebound", |x: u32| async move {
            Ok::<_, crate::error::Error>(x)
        });
        let meta = Meta::of::<u32, _>(&step);
        let (ia, ib) = (
            a.instruments.as_ref().unwrap(),
            b.instruments.as_ref().unwrap(),
        );
        assert!(matches!(meta.bound(&a, ia), Cached::Borrowed(_)));
        let shared = |c: Cached<'_, Bound>| match c {
            Cached::Shared(s) => s,
            _ => panic!("not the kept binding"),
        };
        let first = shared(meta.bound(&b, ib));
        let again = shared(meta.bound(&b, ib));
        assert!(
            Arc::ptr_eq(&first, &again),
            "bound once for the new telemetry"
        );
        assert!(matches!(meta.bound(&a, ia), Cached::Borrowed(_)));

        let owned = |c: Option<Cached<'_, Arc<Stats>>>| match c {
            Some(Cached::Owned(s)) => s,
            _ => panic!("not the kept statistics"),
        };
        assert!(matches!(meta.stats(&a), Some(Cached::Borrowed(_))));
        let s1 = owned(meta.stats(&b));
        let s2 = owned(meta.stats(&b));
        assert!(Arc::ptr_eq(&s1, &s2));
    }
}
