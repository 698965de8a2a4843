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

/// Whether any event of this crate can be written at all (a cached
/// callsite check; false when no subscriber listens).
pub(super) fn any_enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::ERROR)
}

pub(super) fn step_started(meta: &Meta, ctx: &WorkflowContext) {
    tracing::debug!(
        target: TARGET,
        primitive = %meta.name,
        r#type = meta.primitive_type,
        correlation_id = ctx.correlation_id(),
        "step started"
    );
}

/// A step's end. A failed root step is reported by [`run_ended`] alone.
pub(super) fn step_ended(
    meta: &Meta,
    ctx: &WorkflowContext,
    took: Duration,
    err: Option<&Error>,
    root: bool,
) {
    let duration_ms = took.as_secs_f64() * 1000.0;
    match err {
        None => tracing::debug!(
            target: TARGET,
            primitive = %meta.name,
            r#type = meta.primitive_type,
            correlation_id = ctx.correlation_id(),
            duration_ms,
            "step finished"
        ),
        Some(_) if root => {}
        Some(e) => tracing::warn!(
            target: TARGET,
            primitive = %meta.name,
            r#type = meta.primitive_type,
            correlation_id = ctx.correlation_id(),
            workflow_id = ctx.workflow_id(),
            duration_ms,
            error_type = e.error_type(),
            error = %e,
            "step failed"
        ),
    }
}

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
pub(super) fn run_ended(
    meta: &Meta,
    ctx: &WorkflowContext,
    took: Duration,
    err: Option<&Error>,
    root_span: Option<&Context>,
) {
    let enabled = match err {
        None => tracing::enabled!(target: TARGET, tracing::Level::INFO),
        Some(_) => tracing::enabled!(target: TARGET, tracing::Level::ERROR),
    };
    if !enabled {
        return;
    }
    let _attached = root_span.map(|cx| cx.clone().attach());
    let duration_ms = took.as_secs_f64() * 1000.0;
    match err {
        None => tracing::info!(
            target: TARGET,
            workflow = %meta.name,
            r#type = meta.primitive_type,
            workflow_id = ctx.workflow_id(),
            correlation_id = ctx.correlation_id(),
            duration_ms,
            status = "ok",
            "workflow run completed"
        ),
        Some(e) => tracing::error!(
            target: TARGET,
            workflow = %meta.name,
            r#type = meta.primitive_type,
            workflow_id = ctx.workflow_id(),
            correlation_id = ctx.correlation_id(),
            duration_ms,
            status = "error",
            error_type = e.error_type(),
            error = %e,
            "workflow run failed"
        ),
    }
}
