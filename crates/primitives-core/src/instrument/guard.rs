//! [`Guard`]: records a step's end exactly once — span, metrics,
//! statistics and log events.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::KeyValue;

use super::events;
use super::meta::{Cached, Meta};
use crate::clock::Stamp;
use crate::context::WorkflowContext;
use crate::error::Error;
use crate::semconv::{attr, label};
use crate::sink::{BoundDurationObserver, RunEnd};
use crate::stats::{Outcome, Stats};
use crate::telemetry::Telemetry;
use crate::totals::RunTotals;

/// A step's end: the clock reading, and its wall-clock time computed at
/// most once (for the span's end and the exemplar).
struct End {
    stamp: Stamp,
    wall: Cell<Option<SystemTime>>,
}

impl End {
    fn now() -> End {
        End {
            stamp: Stamp::now(),
            wall: Cell::new(None),
        }
    }

    fn wall(&self) -> SystemTime {
        match self.wall.get() {
            Some(w) => w,
            None => {
                let w = self.stamp.wall();
                self.wall.set(Some(w));
                w
            }
        }
    }
}

/// Records the end of a step exactly once: on `finish`, or on drop when the
/// step's future was cancelled (timeout, failing parallel sibling, caller).
pub(super) struct Guard<'a> {
    tel: &'a Telemetry,
    meta: &'a Meta,
    stats: Option<Cached<'a, Arc<Stats>>>,
    ctx: &'a WorkflowContext,
    start: Stamp,
    root: bool,
    recording: bool,
    done: bool,
}

impl<'a> Guard<'a> {
    pub(super) fn start(
        tel: &'a Telemetry,
        meta: &'a Meta,
        ctx: &'a WorkflowContext,
        start: Stamp,
        root: bool,
        recording: bool,
    ) -> Self {
        let stats = meta.stats(tel);
        if let Some(s) = &stats {
            s.start();
        }
        events::step_started(meta, ctx);
        Guard {
            tel,
            meta,
            stats,
            ctx,
            start,
            root,
            recording,
            done: false,
        }
    }

    /// The span of a recording step.
    fn span(&self) -> Option<opentelemetry::trace::SpanRef<'a>> {
        self.ctx
            .otel
            .as_ref()
            .filter(|_| self.recording)
            .map(|cx| cx.span())
    }

    pub(super) fn finish(&mut self, err: Option<&Error>) {
        self.done = true;
        let end = End::now();
        let took = self.start.until(end.stamp);
        let totals = self.run_totals();
        if let Some(span) = self.span() {
            // Success leaves the status Unset, as the OpenTelemetry spec
            // asks of instrumentation libraries.
            if let Some(e) = err {
                span.record_error(e.inner());
                span.set_attribute(KeyValue::new(attr::ERROR_TYPE, e.error_type().to_owned()));
                span.set_status(Status::error(e.to_string()));
            }
            if let Some(t) = &totals {
                span.set_attributes(t.attributes());
            }
            span.end_with_timestamp(end.wall());
        }
        let status = if err.is_some() { "error" } else { "ok" };
        self.record_metrics(took, &end, err.map(Error::error_type), status);
        self.observe_run(totals.as_ref(), took, &end, status);
        if let Some(stats) = &self.stats {
            stats.record(
                took,
                err.map_or(Outcome::Ok, |e| Outcome::Err(e.error_type())),
            );
        }
        let root = self.root.then_some(self.ctx.otel.as_ref());
        events::step_ended(self.meta, self.ctx, took, err, root);
    }

    /// The synchronous instruments: the duration histogram(s) and the
    /// error counter. Executions and in-flight counts are the statistics
    /// the observable counters read.
    fn record_metrics(
        &self,
        took: Duration,
        end: &End,
        error_type: Option<&str>,
        status: &'static str,
    ) {
        let (tel, meta) = (self.tel, self.meta);
        let Some(inst) = &tel.instruments else {
            return;
        };
        let secs = took.as_secs_f64();
        let bound = meta.bound(tel, inst);
        if self.root {
            bound.run(&meta.name, inst).record(inst, secs, status);
        }
        if let Some(d) = &bound.duration {
            d.record(secs);
        }
        if let Some(obs) = &bound.duration_observer {
            self.observe_duration(&**obs, secs, end);
        }
        if let Some(error_type) = error_type {
            inst.errors.add(
                1,
                &[
                    meta.name.kv(label::PRIMITIVE),
                    KeyValue::new(label::ERROR_TYPE, error_type.to_owned()),
                ],
            );
        }
    }

    /// The run's totals, at its root (when anything was added).
    fn run_totals(&self) -> Option<RunTotals> {
        self.root.then(|| self.ctx.run_totals_if_any()).flatten()
    }

    /// Tells the run observer, at a root, that the run ended.
    fn observe_run(
        &self,
        totals: Option<&RunTotals>,
        took: Duration,
        end: &End,
        status: &'static str,
    ) {
        let (true, Some(obs)) = (self.root, &self.tel.run_observer) else {
            return;
        };
        let span = self.span();
        let sampled = span
            .as_ref()
            .map(|s| s.span_context())
            .filter(|sc| sc.is_sampled())
            .map(|sc| (sc, end.wall()));
        obs.run_ended(&RunEnd {
            workflow: &self.meta.name,
            status,
            seconds: took.as_secs_f64(),
            totals,
            sampled,
        });
    }

    /// Hands the duration, with this step's span context when traced, to
    /// the exemplar path.
    fn observe_duration(&self, obs: &dyn BoundDurationObserver, secs: f64, end: &End) {
        match self.span() {
            Some(span) => {
                let sc = span.span_context();
                if sc.is_sampled() {
                    obs.observe(secs, Some((sc, end.wall())));
                } else {
                    obs.observe(secs, None);
                }
            }
            None => obs.observe(secs, None),
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Cancelled: the future was dropped before it finished.
        let end = End::now();
        let took = self.start.until(end.stamp);
        let totals = self.run_totals();
        if let Some(span) = self.span() {
            span.set_attribute(KeyValue::new(attr::PRIMITIVE_CANCELLED, true));
            if let Some(t) = &totals {
                span.set_attributes(t.attributes());
            }
            span.end_with_timestamp(end.wall());
        }
        self.record_metrics(took, &end, None, "cancelled");
        self.observe_run(totals.as_ref(), took, &end, "cancelled");
        if let Some(stats) = &self.stats {
            stats.record(took, Outcome::Cancelled);
        }
        events::step_cancelled(self.meta, self.ctx, took);
    }
}
