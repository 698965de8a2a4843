//! The OpenTelemetry context a traced step runs in, and its span's start.

use std::sync::atomic::Ordering;

use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, TraceContextExt, TraceFlags, TraceId, Tracer,
};
use opentelemetry::trace::{SpanId, TraceState};
use opentelemetry::Context;

use super::meta::Meta;
use crate::clock::Stamp;
use crate::context::WorkflowContext;
use crate::position::Position;
use crate::sink::{new_ids, sampled, step_attributes, LiveSpan, SamplingHint, SpanStart};
use crate::telemetry::{Telemetry, TelemetryRef};

/// The OpenTelemetry context a traced step runs in: its span (recording
/// or not) under `parent`.
#[allow(clippy::too_many_arguments)]
pub(super) fn span_context_for_step(
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
        let hint = tel.sampling.unwrap_or(SamplingHint::ALWAYS_ON);
        let (trace_id, span_id, sampled, parent_span_id, parent_is_remote, trace_state, random) = {
            let parent_span = parent.span();
            let psc = parent_span.span_context();
            if unsampled_parent_decides(hint, psc) {
                return with_identity(parent, tel, ctx, root);
            }
            let (trace_id, span_id) = new_ids(psc.is_valid().then(|| psc.trace_id()));
            (
                trace_id,
                span_id,
                sampled(hint, psc, trace_id),
                psc.span_id(),
                psc.is_remote(),
                psc.trace_state().clone(),
                random_flag(psc),
            )
        };
        if !sampled {
            return non_recording(&parent, trace_id, span_id, trace_state, random);
        }
        *recording = true;
        let sc = SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::new(TraceFlags::SAMPLED.to_u8() | random),
            false,
            trace_state,
        );
        {
            let sink = sink.clone();
            let live = LiveSpan::start(
                SpanStart {
                    span_context: sc,
                    parent_span_id,
                    parent_is_remote,
                    name: meta.span_name.0.clone(),
                    kind: meta.span_kind.clone(),
                    start: start.wall(),
                    primitive: meta.name.clone(),
                    primitive_type: meta.primitive_type,
                    position,
                    static_attrs: meta.static_attrs.clone(),
                    run: root.then(|| ctx.identity().clone()),
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
        let (ids, trace_state, random) = {
            let parent_span = parent.span();
            let psc = parent_span.span_context();
            (
                new_ids(psc.is_valid().then(|| psc.trace_id())),
                psc.trace_state().clone(),
                random_flag(psc),
            )
        };
        non_recording(&parent, ids.0, ids.1, trace_state, random)
    } else if let Some(tracer) = &tel.tracer {
        let attrs = || {
            step_attributes(
                &meta.name,
                meta.primitive_type,
                &position,
                meta.static_attrs.as_deref(),
                root.then(|| &**ctx.identity()),
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
            span_kind: Some(meta.span_kind.clone()),
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
    trace_id: TraceId,
    span_id: SpanId,
    trace_state: TraceState,
    random: u8,
) -> Context {
    parent.with_remote_span_context(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(random),
        false,
        trace_state,
    ))
}

/// W3C Trace Context level 2's random trace-id flag (0x02): a new trace's
/// id is random, so it is set; a child keeps its parent's (a remote
/// parent's trace id may not be random).
const RANDOM_FLAG: u8 = 0x02;

fn random_flag(parent: &SpanContext) -> u8 {
    if parent.is_valid() {
        parent.trace_flags().to_u8() & RANDOM_FLAG
    } else {
        RANDOM_FLAG
    }
}

/// Stores the run's identity in a root span's context when log correlation
/// asks for it.
fn with_identity(cx: Context, tel: &Telemetry, ctx: &WorkflowContext, root: bool) -> Context {
    if root && tel.identity_in_context {
        cx.with_value(ctx.identity().clone())
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
fn certainly_dropped(hint: Option<SamplingHint>, parent: &Context) -> bool {
    let Some(h) = hint else { return false };
    let span = parent.span();
    let psc = span.span_context();
    if psc.is_valid() && h.parent_based {
        !psc.is_sampled()
    } else {
        h.ratio <= 0.0
    }
}
