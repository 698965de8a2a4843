//! The log events of a step and of a run, written once for every path
//! (traced, metrics only, nothing installed).
//!
//! Target `primitives_core`: step start and end at DEBUG, a step's failure
//! at WARN, one line per finished run at INFO (ERROR when it failed), each
//! with the primitive's name and type, the correlation id and, where known,
//! the workflow id and the duration.

use std::time::Duration;

use opentelemetry::Context;

use super::meta::Meta;
use crate::context::WorkflowContext;
use crate::error::Error;

/// The `tracing` target of every event this crate writes.
const TARGET: &str = "primitives_core";

/// Whether any event of this crate can be written at all: one load of the
/// global max level (false when no subscriber listens), not a run of the
/// subscriber's filters.
#[inline]
pub(super) fn any_enabled() -> bool {
    tracing::level_enabled!(tracing::Level::ERROR)
}

#[inline]
pub(super) fn step_started(meta: &Meta, ctx: &WorkflowContext) {
    tracing::debug!(
        target: TARGET,
        primitive = %meta.name,
        r#type = meta.primitive_type,
        correlation_id = ctx.correlation_id(),
        "step started"
    );
}

/// A step's end; a run's root also writes the run's line ([`run_ended`],
/// in `root_span`'s context when there is one), which alone reports the
/// root's failure.
#[inline]
pub(super) fn step_ended(
    meta: &Meta,
    ctx: &WorkflowContext,
    took: Duration,
    err: Option<&Error>,
    root: Option<Option<&Context>>,
) {
    match err {
        None => tracing::debug!(
            target: TARGET,
            primitive = %meta.name,
            r#type = meta.primitive_type,
            correlation_id = ctx.correlation_id(),
            duration_ms = took.as_secs_f64() * 1000.0,
            "step finished"
        ),
        Some(_) if root.is_some() => {}
        Some(e) => tracing::warn!(
            target: TARGET,
            primitive = %meta.name,
            r#type = meta.primitive_type,
            correlation_id = ctx.correlation_id(),
            workflow_id = ctx.workflow_id(),
            duration_ms = took.as_secs_f64() * 1000.0,
            error_type = e.error_type(),
            error = %e,
            "step failed"
        ),
    }
    if let Some(root_span) = root {
        run_ended(meta, ctx, took, err, root_span);
    }
}

#[inline]
pub(super) fn step_cancelled(meta: &Meta, ctx: &WorkflowContext, took: Duration) {
    tracing::debug!(
        target: TARGET,
        primitive = %meta.name,
        r#type = meta.primitive_type,
        correlation_id = ctx.correlation_id(),
        duration_ms = took.as_secs_f64() * 1000.0,
        "step cancelled"
    );
}

/// The run's line: `workflow run completed` (INFO) or `workflow run
/// failed` (ERROR). Written inside the root span's context when there is
/// one, so log formatters give it the run's trace id and the root span's
/// id (the span has ended by now; its ids are still the context's).
#[inline]
fn run_ended(
    meta: &Meta,
    ctx: &WorkflowContext,
    took: Duration,
    err: Option<&Error>,
    root_span: Option<&Context>,
) {
    // Attaching costs a context clone: only when a subscriber may write
    // the line (the global max level; the filters decide the rest).
    let _attached = root_span
        .filter(|_| match err {
            None => tracing::level_enabled!(tracing::Level::INFO),
            Some(_) => tracing::level_enabled!(tracing::Level::ERROR),
        })
        .map(|cx| cx.clone().attach());
    match err {
        None => tracing::info!(
            target: TARGET,
            workflow = %meta.name,
            r#type = meta.primitive_type,
            workflow_id = ctx.workflow_id(),
            correlation_id = ctx.correlation_id(),
            duration_ms = took.as_secs_f64() * 1000.0,
            status = "ok",
            "workflow run completed"
        ),
        Some(e) => tracing::error!(
            target: TARGET,
            workflow = %meta.name,
            r#type = meta.primitive_type,
            workflow_id = ctx.workflow_id(),
            correlation_id = ctx.correlation_id(),
            duration_ms = took.as_secs_f64() * 1000.0,
            status = "error",
            error_type = e.error_type(),
            error = %e,
            "workflow run failed"
        ),
    }
}
