//! The one mechanism that observes every step: span, metrics, statistics
//! and log events happen here, for every primitive, built-in or not.
//!
//! A composite holds its children as [`Step`]s and calls [`Step::call`]
//! with the child's [`Position`] (`step.index`, `branch.index`,
//! `retry.attempt`, …); a root run goes through the same function. Nothing
//! else in the crate creates spans or records the per-step metrics.

mod events;
mod guard;
mod meta;
mod span_start;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use futures_util::FutureExt as _;

use opentelemetry::context::FutureExt as _;
use opentelemetry::metrics::Counter;
use opentelemetry::{Context, KeyValue};

use guard::Guard;
use meta::Meta;
use span_start::span_context_for_step;

use crate::clock::Stamp;
use crate::context::WorkflowContext;
use crate::error::{Error, Panicked};
use crate::name::Name;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::label;
use crate::telemetry::{self, Instruments, TelemetryRef};

/// A child of a composite: the primitive plus its observation state
/// (interned names, bound metric handles), built on its first observed call.
///
/// Composites you write yourself hold their children as `Step`s and run
/// them with [`Step::call`], exactly as the built-in ones do: each child
/// gets its span (a child of the composite's), its position attribute, its
/// metrics and log events.
///
/// ```
/// use primitives_core::{async_trait, lambda, Error, Position, Primitive, PrimitiveExt, Step, WorkflowContext};
///
/// /// Runs its child twice, feeding the first output into the second run.
/// struct Twice<P>(Step<P>);
///
/// #[async_trait]
/// impl<P: Primitive<u32, Output = u32>> Primitive<u32> for Twice<P> {
///     type Output = u32;
///     async fn execute(&self, ctx: &WorkflowContext, x: u32) -> Result<u32, Error> {
///         let once = self.0.call(ctx, x, Position::index("twice.round", 0)).await?;
///         self.0.call(ctx, once, Position::index("twice.round", 1)).await
///     }
///     fn name(&self) -> &str { "twice" }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let inc = lambda("inc", |x: u32| async move { Ok::<_, Error>(x + 1) });
/// let twice = Twice(Step::new(inc));
/// assert_eq!(twice.run(&WorkflowContext::new(), 1).await.unwrap(), 3);
/// # }
/// ```
#[derive(Debug)]
pub struct Step<P> {
    inner: P,
    meta: OnceLock<Meta>,
}

impl<P> Step<P> {
    /// Wraps a child primitive.
    pub fn new(inner: P) -> Self {
        Step {
            inner,
            meta: OnceLock::new(),
        }
    }

    /// The wrapped primitive.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Unwraps the primitive.
    pub fn into_inner(self) -> P {
        self.inner
    }

    /// Runs the child observed, at `position` in its parent: its span is a
    /// child of the span in `ctx`, with `position`'s attribute.
    pub fn call<'a, In>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: In,
        position: Position,
    ) -> impl Future<Output = Result<P::Output, Error>> + Send + 'a
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
    call(p, &meta, ctx, input, Position::none()).await
}

fn resolve(ctx: &WorkflowContext) -> Option<TelemetryRef> {
    match &ctx.telemetry {
        Some(t) => Some(t.clone()),
        None => telemetry::global(),
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
    if root {
        ctx.root_started(&meta.name);
    }
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
    // A panic is recorded as the step's error, then goes on to the caller.
    let outcome = if traced {
        AssertUnwindSafe(fut.with_context(child.otel_context()))
            .catch_unwind()
            .await
    } else {
        AssertUnwindSafe(fut).catch_unwind().await
    };
    match outcome {
        Ok(result) => {
            guard.finish(result.as_ref().err());
            result
        }
        Err(payload) => {
            guard.finish(Some(&Panicked::error(&meta.name, &*payload)));
            std::panic::resume_unwind(payload)
        }
    }
}

/// No telemetry: run the step as is, writing the same log events as an
/// observed step when a `tracing` subscriber listens. With none listening
/// (the nothing-enabled case) nothing is built, not even the step's meta.
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
    if !events::any_enabled() {
        return p.execute(ctx, input).await;
    }
    let meta = meta.get_or_init(|| Meta::of(p));
    let root = ctx.depth == 0;
    let start = Stamp::now();
    events::step_started(meta, ctx);
    let outcome = if root {
        // Children must see depth > 0.
        AssertUnwindSafe(p.execute(&ctx.deeper(), input))
            .catch_unwind()
            .await
    } else {
        AssertUnwindSafe(p.execute(ctx, input)).catch_unwind().await
    };
    let took = start.until(Stamp::now());
    match outcome {
        Ok(result) => {
            events::step_ended(meta, ctx, took, result.as_ref().err(), root.then_some(None));
            result
        }
        Err(payload) => {
            let err = Panicked::error(&meta.name, &*payload);
            events::step_ended(meta, ctx, took, Some(&err), root.then_some(None));
            std::panic::resume_unwind(payload)
        }
    }
}

/// Adds 1 to one of the composite-specific counters (`retry_attempts`,
/// `fallback_used`, …) when the step runs with metrics on.
pub(crate) fn count(
    ctx: &WorkflowContext,
    which: impl FnOnce(&Instruments) -> &Counter<u64>,
    primitive: &Name,
    extra: &[KeyValue],
) {
    let Some(inst) = ctx.telemetry.as_ref().and_then(|t| t.instruments.as_ref()) else {
        return;
    };
    let mut labels = Vec::with_capacity(1 + extra.len());
    labels.push(primitive.kv(label::PRIMITIVE));
    labels.extend_from_slice(extra);
    which(inst).add(1, &labels);
}
