//! The one mechanism that observes every step: span, metrics, statistics
//! and log events happen here, for every primitive, built-in or not.
//!
//! A composite holds its children as [`Step`]s and calls
//! [`Step::call`] with the child's position (`step.index`, `branch.index`,
//! `retry.attempt`, …); a root run goes through the same function. Nothing
//! else in the crate creates spans or records the per-step metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::context::FutureExt as _;
use opentelemetry::metrics::BoundHistogram;
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, Tracer,
};
use opentelemetry::{Context, KeyValue};

use crate::clock::Stamp;
use crate::context::RunIdentity;
use crate::span::{self, LiveSpan, SinkRef, SpanStart};
use crate::stats::{Outcome, Stats};
use crate::telemetry::{
    self, BoundDurationObserver, Instruments, Name, SamplingHint, Telemetry, TelemetryRef,
};
use crate::{Error, Primitive, WorkflowContext};

/// Where a child sits in its parent: recorded as one attribute on the
/// child's span.
#[derive(Debug, Clone)]
pub(crate) enum Position {
    None,
    Step(usize),
    Branch(usize),
    Attempt(u32),
    /// A string attribute (role, route, case): key and value.
    Attr(&'static str, Name),
}

impl Position {
    pub(crate) fn attribute(self) -> Option<KeyValue> {
        match self {
            Position::None => None,
            Position::Step(i) => Some(KeyValue::new("step.index", i as i64)),
            Position::Branch(i) => Some(KeyValue::new("branch.index", i as i64)),
            Position::Attempt(i) => Some(KeyValue::new("retry.attempt", i64::from(i))),
            Position::Attr(key, value) => Some(value.kv(key)),
        }
    }
}

/// What a step needs to be observed cheaply, computed on its first
/// observed call: interned names and attributes, bound metric handles, the
/// statistics slot.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) name: Name,
    pub(crate) kind: &'static str,
    span_name: Name,
    static_attrs: Option<Arc<[KeyValue]>>,
    bound: OnceLock<Bound>,
    stats: OnceLock<(u64, Arc<Stats>)>,
    /// Whether this step's last span was recording (sampled).
    last_recording: AtomicBool,
}

/// Metric handles bound to this step's labels, for one telemetry.
struct Bound {
    telemetry_id: u64,
    duration: Option<BoundHistogram<f64>>,
    duration_observer: Option<Box<dyn BoundDurationObserver>>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("telemetry_id", &self.telemetry_id)
            .finish_non_exhaustive()
    }
}

impl Meta {
    pub(crate) fn of<In: Send + 'static, P: Primitive<In> + ?Sized>(p: &P) -> Meta {
        let name = telemetry::intern(p.name());
        let span_name = telemetry::intern(&format!("primitive.{name}"));
        Meta {
            name,
            kind: p.kind(),
            span_name,
            static_attrs: Some(p.span_attributes())
                .filter(|a| !a.is_empty())
                .map(Arc::from),
            bound: OnceLock::new(),
            stats: OnceLock::new(),
            last_recording: AtomicBool::new(true),
        }
    }

    fn bound(&self, tel: &Telemetry, inst: &Instruments) -> Option<&Bound> {
        let b = self.bound.get_or_init(|| {
            let kind = [self.name.kv("primitive"), KeyValue::new("type", self.kind)];
            Bound {
                telemetry_id: tel.id,
                duration: tel.otel_duration.then(|| inst.duration.bind(&kind)),
                duration_observer: tel
                    .duration_observer
                    .as_ref()
                    .map(|o| o.bind(&self.name, self.kind)),
            }
        });
        (b.telemetry_id == tel.id).then_some(b)
    }

    fn stats(&self, tel: &Telemetry) -> Option<StatsRef<'_>> {
        let registry = tel.stats.as_ref()?;
        let (id, stats) = self
            .stats
            .get_or_init(|| (tel.id, registry.get(&self.name, self.kind)));
        Some(if *id == tel.id {
            StatsRef::Borrowed(stats)
        } else {
            StatsRef::Owned(registry.get(&self.name, self.kind))
        })
    }
}

enum StatsRef<'a> {
    Borrowed(&'a Stats),
    Owned(Arc<Stats>),
}

impl std::ops::Deref for StatsRef<'_> {
    type Target = Stats;
    fn deref(&self) -> &Stats {
        match self {
            StatsRef::Borrowed(s) => s,
            StatsRef::Owned(s) => s,
        }
    }
}

/// A child of a composite: the primitive plus its observation state.
#[derive(Debug)]
pub struct Step<P> {
    inner: P,
    meta: OnceLock<Meta>,
}

impl<P> Step<P> {
    pub(crate) fn new(inner: P) -> Self {
        Step {
            inner,
            meta: OnceLock::new(),
        }
    }

    pub(crate) fn inner(&self) -> &P {
        &self.inner
    }

    /// Runs the child observed, at `position` in its parent.
    pub(crate) fn call<'a, In>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: In,
        position: Position,
    ) -> impl std::future::Future<Output = Result<P::Output, Error>> + Send + 'a
    where
        In: Send + 'static,
        P: Primitive<In>,
    {
        call(&self.inner, &self.meta, ctx, input, position)
    }
}

/// `PrimitiveExt::run` on a bare primitive: same path, meta built per call.
pub(crate) async fn call_unstepped<In, P>(
    p: &P,
    ctx: &WorkflowContext,
    input: In,
) -> Result<P::Output, Error>
where
    In: Send + 'static,
    P: Primitive<In> + ?Sized,
{
    let meta = OnceLock::new();
    call(p, &meta, ctx, input, Position::None).await
}

fn resolve(ctx: &WorkflowContext) -> Option<TelemetryRef> {
    match &ctx.telemetry {
        Some(t) => Some(t.clone()),
        None => telemetry::global().map(TelemetryRef::Static),
    }
}

async fn call<In, P>(
    p: &P,
    meta: &OnceLock<Meta>,
    ctx: &WorkflowContext,
    input: In,
    position: Position,
) -> Result<P::Output, Error>
where
    In: Send + 'static,
    P: Primitive<In> + ?Sized,
{
    let Some(tel) = resolve(ctx).filter(|t| t.is_enabled()) else {
        return call_untraced(p, meta, ctx, input).await;
    };
    let meta = meta.get_or_init(|| Meta::of(p));
    let root = ctx.depth == 0;
    let start = Stamp::now();
    let traced = tel.is_traced();
    // Whether this step's span records (only then are span calls made at the end).
    let mut recording = false;
    let cx = if !traced {
        // Metrics only: the context passes through untouched.
        ctx.otel.clone()
    } else {
        let parent = match &ctx.otel {
            Some(cx) => cx.clone(),
            // The caller's context parents a run's root span.
            None if root => Context::current(),
            None => Context::new(),
        };
        Some(span_context_for_step(
            &tel,
            meta,
            ctx,
            parent,
            start,
            root,
            position,
            &mut recording,
        ))
    };
    let child = ctx.for_step(cx, tel.clone());
    let mut guard = Guard::start(&tel, meta, &child, start, root, recording);
    let fut = p.execute(&child, input);
    let result = if traced {
        fut.with_context(child.otel_context()).await
    } else {
        fut.await
    };
    guard.finish(result.as_ref().err());
    result
}

/// The OpenTelemetry context a traced step runs in: its span (recording
/// or not) under `parent`.
#[allow(clippy::too_many_arguments)]
fn span_context_for_step(
    tel: &TelemetryRef,
    meta: &Meta,
    ctx: &WorkflowContext,
    parent: Context,
    start: Stamp,
    root: bool,
    position: Position,
    recording: &mut bool,
) -> Context {
    if let Some(sink) = &tel.sink {
        // The fast path: our own span, ended into the sink.
        let hint = tel.sampling.unwrap_or(SamplingHint {
            ratio: 1.0,
            parent_based: true,
        });
        let (trace_id, span_id, sampled, parent_span_id, parent_is_remote, trace_state) = {
            let parent_span = parent.span();
            let psc = parent_span.span_context();
            if unsampled_parent_decides(hint, psc) {
                return with_identity(parent, tel, ctx, root);
            }
            let (trace_id, span_id) = span::new_ids(psc.is_valid().then(|| psc.trace_id()));
            (
                trace_id,
                span_id,
                span::sampled(hint, psc, trace_id),
                psc.span_id(),
                psc.is_remote(),
                psc.trace_state().clone(),
            )
        };
        if !sampled {
            return non_recording(&parent, trace_id, span_id, trace_state);
        }
        *recording = true;
        let sc = SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, false, trace_state);
        {
            // The leaked global's sink needs no reference count.
            let sink = match tel {
                TelemetryRef::Static(t) => t.sink.as_deref().map(SinkRef::Static),
                TelemetryRef::Shared(_) => None,
            }
            .unwrap_or_else(|| SinkRef::Shared(sink.clone()));
            let live = LiveSpan::start(
                SpanStart {
                    span_context: sc,
                    parent_span_id,
                    parent_is_remote,
                    name: meta.span_name.0.clone(),
                    start: start.wall(),
                    primitive: meta.name.clone(),
                    kind: meta.kind,
                    position,
                    static_attrs: meta.static_attrs.clone(),
                    run: root.then(|| {
                        (
                            ctx.correlation_id_arc().clone(),
                            ctx.workflow_id_arc().cloned(),
                        )
                    }),
                },
                sink,
            );
            with_identity(parent.with_span(live), tel, ctx, root)
        }
    } else if certainly_dropped(tel.sampling, &parent) {
        if tel
            .sampling
            .is_some_and(|h| unsampled_parent_decides(h, parent.span().span_context()))
        {
            return with_identity(parent, tel, ctx, root);
        }
        // No SDK span: ids for propagation, sampled flag off.
        let (ids, trace_state) = {
            let parent_span = parent.span();
            let psc = parent_span.span_context();
            (
                span::new_ids(psc.is_valid().then(|| psc.trace_id())),
                psc.trace_state().clone(),
            )
        };
        non_recording(&parent, ids.0, ids.1, trace_state)
    } else if let Some(tracer) = &tel.tracer {
        let attrs = || {
            span::step_attributes(
                &meta.name,
                meta.kind,
                position.clone(),
                meta.static_attrs.as_deref(),
                root.then(|| (ctx.correlation_id_arc(), ctx.workflow_id_arc())),
                0,
            )
        };
        // The attribute list moves into the span when given up front;
        // set afterwards it is only built for spans that record. Which
        // is cheaper depends on the sampler, so each step follows what
        // its previous span did.
        let expect_recording = meta.last_recording.load(Ordering::Relaxed);
        let builder = SpanBuilder {
            name: meta.span_name.0.clone(),
            span_kind: Some(SpanKind::Internal),
            start_time: Some(start.wall()),
            attributes: expect_recording.then(attrs),
            ..SpanBuilder::from_name("")
        };
        let mut span = tracer.build_with_context(builder, &parent);
        *recording = span.is_recording();
        if *recording != expect_recording {
            meta.last_recording.store(*recording, Ordering::Relaxed);
            if *recording {
                span.set_attributes(attrs());
            }
        }
        with_identity(parent.with_span(span), tel, ctx, root)
    } else {
        parent
    }
}

/// The context of a step whose span is not sampled: its ids (so the trace
/// propagates) with the sampled flag off, and nothing recorded.
fn non_recording(
    parent: &Context,
    trace_id: opentelemetry::trace::TraceId,
    span_id: opentelemetry::trace::SpanId,
    trace_state: opentelemetry::trace::TraceState,
) -> Context {
    parent.with_remote_span_context(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::default(),
        false,
        trace_state,
    ))
}

/// Stores the run's identity in a root span's context when log correlation
/// asks for it.
fn with_identity(cx: Context, tel: &Telemetry, ctx: &WorkflowContext, root: bool) -> Context {
    if root && tel.identity_in_context {
        cx.with_value(RunIdentity {
            correlation_id: ctx.correlation_id_arc().clone(),
            workflow_id: ctx.workflow_id_arc().cloned(),
        })
    } else {
        cx
    }
}

/// A step under a parent that was not sampled, with a parent-based
/// sampler, is not sampled either and records nothing: it runs in its
/// parent's context as is (no new ids, no allocation). Propagation from
/// inside it carries the nearest span id with the sampled flag off, which
/// is all a downstream parent-based sampler reads.
fn unsampled_parent_decides(hint: SamplingHint, parent: &SpanContext) -> bool {
    hint.parent_based && parent.is_valid() && !parent.is_sampled()
}

/// Whether the declared sampler is certain to drop this step's span.
fn certainly_dropped(hint: Option<telemetry::SamplingHint>, parent: &Context) -> bool {
    let Some(h) = hint else { return false };
    let span = parent.span();
    let psc = span.span_context();
    if psc.is_valid() && h.parent_based {
        !psc.is_sampled()
    } else {
        h.ratio <= 0.0
    }
}

/// Nothing listens: run the step as is. Log events still go to `tracing`
/// (each costs one cached callsite check when nothing subscribes).
async fn call_untraced<In, P>(
    p: &P,
    meta: &OnceLock<Meta>,
    ctx: &WorkflowContext,
    input: In,
) -> Result<P::Output, Error>
where
    In: Send + 'static,
    P: Primitive<In> + ?Sized,
{
    if ctx.depth > 0 {
        tracing::debug!(
            target: "primitives_core",
            primitive = %meta.get_or_init(|| Meta::of(p)).name,
            correlation_id = ctx.correlation_id(),
            "step started"
        );
        let result = p.execute(ctx, input).await;
        if let Err(e) = &result {
            tracing::warn!(
                target: "primitives_core",
                primitive = %meta.get_or_init(|| Meta::of(p)).name,
                correlation_id = ctx.correlation_id(),
                workflow_id = ctx.workflow_id().unwrap_or(""),
                error_type = e.kind(),
                error = %e,
                "step failed"
            );
        }
        return result;
    }
    // The root of a run. With no subscriber listening at all (the
    // nothing-enabled case), no log line can depend on depth: skip the clone.
    if !tracing::enabled!(target: "primitives_core", tracing::Level::ERROR) {
        return p.execute(ctx, input).await;
    }
    // Children must see depth > 0.
    let child = ctx.deeper();
    let meta = meta.get_or_init(|| Meta::of(p));
    let start = Stamp::now();
    let result = p.execute(&child, input).await;
    log_run_end(meta, ctx, start.until(Stamp::now()), result.as_ref().err());
    result
}

fn log_run_end(meta: &Meta, ctx: &WorkflowContext, took: Duration, err: Option<&Error>) {
    let duration_ms = took.as_secs_f64() * 1000.0;
    match err {
        None => tracing::info!(
            target: "primitives_core",
            workflow = %meta.name,
            workflow_id = ctx.workflow_id().unwrap_or(""),
            correlation_id = ctx.correlation_id(),
            duration_ms,
            status = "ok",
            "workflow run completed"
        ),
        Some(e) => tracing::error!(
            target: "primitives_core",
            workflow = %meta.name,
            workflow_id = ctx.workflow_id().unwrap_or(""),
            correlation_id = ctx.correlation_id(),
            duration_ms,
            status = "error",
            error_type = e.kind(),
            error = %e,
            "workflow run failed"
        ),
    }
}

/// A step's end: the clock reading, and its wall-clock time computed at
/// most once (for the span's end and the exemplar).
struct End {
    stamp: Stamp,
    wall: std::cell::Cell<Option<std::time::SystemTime>>,
}

impl End {
    fn now() -> End {
        End {
            stamp: Stamp::now(),
            wall: std::cell::Cell::new(None),
        }
    }

    fn wall(&self) -> std::time::SystemTime {
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
struct Guard<'a> {
    tel: &'a Telemetry,
    meta: &'a Meta,
    stats: Option<StatsRef<'a>>,
    ctx: &'a WorkflowContext,
    start: Stamp,
    root: bool,
    recording: bool,
    done: bool,
}

impl<'a> Guard<'a> {
    fn start(
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
        tracing::debug!(
            target: "primitives_core",
            primitive = %meta.name,
            r#type = meta.kind,
            correlation_id = ctx.correlation_id(),
            "step started"
        );
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

    fn finish(&mut self, err: Option<&Error>) {
        self.done = true;
        let end = End::now();
        let took = self.start.until(end.stamp);
        let meta = self.meta;
        let span = self
            .ctx
            .otel
            .as_ref()
            .filter(|_| self.recording)
            .map(|cx| cx.span());
        if let Some(span) = &span {
            // Success leaves the status Unset, as the OpenTelemetry spec
            // asks of instrumentation libraries.
            if let Some(e) = err {
                span.record_error(e.inner());
                span.set_attribute(KeyValue::new("error.type", e.kind().to_owned()));
                span.set_status(Status::error(e.to_string()));
            }
            span.end_with_timestamp(end.wall());
        }
        self.record_metrics(took, &end, err.map(Error::kind));
        if let Some(stats) = &self.stats {
            stats.record(took, err.map_or(Outcome::Ok, |e| Outcome::Err(e.kind())));
        }
        match err {
            None => tracing::debug!(
                target: "primitives_core",
                primitive = %meta.name,
                r#type = meta.kind,
                correlation_id = self.ctx.correlation_id(),
                duration_ms = took.as_secs_f64() * 1000.0,
                "step finished"
            ),
            // The root's failure is the run's ERROR line below.
            Some(_) if self.root => {}
            Some(e) => tracing::warn!(
                target: "primitives_core",
                primitive = %meta.name,
                r#type = meta.kind,
                correlation_id = self.ctx.correlation_id(),
                workflow_id = self.ctx.workflow_id().unwrap_or(""),
                duration_ms = took.as_secs_f64() * 1000.0,
                error_type = e.kind(),
                error = %e,
                "step failed"
            ),
        }
        if self.root {
            log_run_end(meta, self.ctx, took, err);
        }
    }

    /// The synchronous instruments: the duration histogram(s) and the
    /// error counter. Executions and in-flight counts are the statistics
    /// the observable counters read.
    fn record_metrics(&self, took: Duration, end: &End, error_kind: Option<&str>) {
        let (tel, meta) = (self.tel, self.meta);
        let Some(inst) = &tel.instruments else {
            return;
        };
        let secs = took.as_secs_f64();
        match meta.bound(tel, inst) {
            Some(b) => {
                if let Some(d) = &b.duration {
                    d.record(secs);
                }
                if let Some(obs) = &b.duration_observer {
                    self.observe_duration(&**obs, secs, end);
                }
            }
            None => {
                if tel.otel_duration {
                    inst.duration.record(
                        secs,
                        &[meta.name.kv("primitive"), KeyValue::new("type", meta.kind)],
                    );
                }
                if let Some(obs) = &tel.duration_observer {
                    self.observe_duration(&*obs.bind(&meta.name, meta.kind), secs, end);
                }
            }
        }
        if let Some(kind) = error_kind {
            inst.errors.add(
                1,
                &[
                    meta.name.kv("primitive"),
                    KeyValue::new("error_type", kind.to_owned()),
                ],
            );
        }
    }
}

impl Guard<'_> {
    /// Hands the duration, with this step's span context when traced, to
    /// the exemplar path.
    fn observe_duration(&self, obs: &dyn BoundDurationObserver, secs: f64, end: &End) {
        match self.ctx.otel.as_ref().filter(|_| self.recording) {
            Some(cx) => {
                let span = cx.span();
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
        if let Some(cx) = self.ctx.otel.as_ref().filter(|_| self.recording) {
            let span = cx.span();
            span.set_attribute(KeyValue::new("primitive.cancelled", true));
            span.end_with_timestamp(end.wall());
        }
        self.record_metrics(took, &end, None);
        if let Some(stats) = &self.stats {
            stats.record(took, Outcome::Cancelled);
        }
        tracing::debug!(
            target: "primitives_core",
            primitive = %self.meta.name,
            correlation_id = self.ctx.correlation_id(),
            "step cancelled"
        );
    }
}

/// Adds 1 to one of the composite-specific counters (`retry_attempts`,
/// `fallback_used`, …) when the step runs with metrics on.
pub(crate) fn count(
    ctx: &WorkflowContext,
    which: impl FnOnce(&Instruments) -> &opentelemetry::metrics::Counter<u64>,
    primitive: &Name,
    extra: &[KeyValue],
) {
    let Some(inst) = ctx.telemetry.as_ref().and_then(|t| t.instruments.as_ref()) else {
        return;
    };
    let mut labels = Vec::with_capacity(1 + extra.len());
    labels.push(primitive.kv("primitive"));
    labels.extend_from_slice(extra);
    which(inst).add(1, &labels);
}
