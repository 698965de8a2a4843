//! The [`Primitive`] trait.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;

use crate::context::WorkflowContext;
use crate::error::Error;

/// One step of a workflow: takes an input, returns an output or an [`Error`].
///
/// Implement [`execute`](Primitive::execute); everything else has defaults.
/// **Implement `execute`, call `run`** (as you implement `Future::poll` and
/// write `.await`): [`PrimitiveExt::run`](crate::PrimitiveExt::run), [`Workflow::run`](crate::Workflow::run)
/// and, inside a composite, [`Step::call`](crate::Step::call) wrap the call
/// in the step's span, metrics and log events. Composites (`>>`, `|`,
/// [`Retry`](crate::Retry), …) call their children the same way, so every
/// step of a run is observed exactly once, in one trace.
///
/// The trait is object safe: `Arc<dyn Primitive<In, Output = Out>>` (and the
/// [`Workflow`](crate::Workflow) wrapper) stores heterogeneous steps.
///
/// ```
/// use primitives_core::{async_trait, Error, Primitive, PrimitiveExt, WorkflowContext};
///
/// struct Uppercase;
///
/// #[async_trait]
/// impl Primitive<String> for Uppercase {
///     type Output = String;
///     async fn execute(&self, _ctx: &WorkflowContext, input: String) -> Result<String, Error> {
///         Ok(input.to_uppercase())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let out = Uppercase.run(&WorkflowContext::new(), "hi".to_string()).await.unwrap();
/// assert_eq!(out, "HI");
/// # }
/// ```
#[async_trait]
pub trait Primitive<In>: Send + Sync
where
    In: Send + 'static,
{
    /// What a successful execution returns.
    type Output: Send + 'static;

    /// Runs the step. `ctx` carries this step's span: pass it on to
    /// children (through [`Step::call`](crate::Step::call)).
    ///
    /// Calling `execute` directly runs the step *unobserved*: no span,
    /// metrics or log events for this step itself (children it calls
    /// through `Step::call` are still observed). Call
    /// [`PrimitiveExt::run`](crate::PrimitiveExt::run) instead.
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<Self::Output, Error>;

    /// The step's name, used in span names (`primitive.<name>`), metric
    /// labels and logs. Keep it short and fixed: it is a label value.
    /// Defaults to the type's name.
    fn name(&self) -> &str {
        crate::error::short_type_name(std::any::type_name::<Self>())
    }

    /// The primitive's type: the `primitive.type` span attribute and the
    /// `type` metric label (`sequential`, `retry`, `lambda`, …).
    fn primitive_type(&self) -> &'static str {
        "custom"
    }

    /// Attributes fixed at construction, added to every span of this step
    /// (for example [`Timeout`](crate::Timeout)'s `timeout.budget_ms`).
    fn span_attributes(&self) -> Vec<KeyValue> {
        Vec::new()
    }

    /// The name of this step's spans, asked for once per step (on its first
    /// observed call). Defaults to `primitive.<name>`. A step whose name
    /// depends on the call (an LLM call named `chat {model}`) renames its
    /// span while it runs with
    /// [`WorkflowContext::update_span_name`].
    fn span_name(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "{}{}",
            crate::semconv::SPAN_NAME_PREFIX,
            self.name()
        ))
    }

    /// The kind of this step's spans, asked for once per step. Defaults to
    /// [`SpanKind::Internal`]; a step that calls another service (an LLM
    /// provider, an HTTP API) returns [`SpanKind::Client`].
    fn span_kind(&self) -> SpanKind {
        SpanKind::Internal
    }
}

/// `Arc<P>` and `Box<P>` are primitives: they forward to `P`, passing on its
/// boxed future (no second box per call).
macro_rules! forward_primitive {
    ($($ptr:ident),*) => {$(
        impl<In, P> Primitive<In> for $ptr<P>
        where
            In: Send + 'static,
            P: Primitive<In> + ?Sized,
        {
            type Output = P::Output;
            fn execute<'a, 'b, 'f>(
                &'a self,
                ctx: &'b WorkflowContext,
                input: In,
            ) -> BoxFuture<'f, Result<Self::Output, Error>>
            where
                'a: 'f,
                'b: 'f,
                Self: 'f,
            {
                (**self).execute(ctx, input)
            }
            fn name(&self) -> &str {
                (**self).name()
            }
            fn primitive_type(&self) -> &'static str {
                (**self).primitive_type()
            }
            fn span_attributes(&self) -> Vec<KeyValue> {
                (**self).span_attributes()
            }
            fn span_name(&self) -> Cow<'_, str> {
                (**self).span_name()
            }
            fn span_kind(&self) -> SpanKind {
                (**self).span_kind()
            }
        }
    )*};
}

forward_primitive!(Arc, Box);

/// A shared, type-erased primitive.
pub type BoxedPrimitive<In, Out> = Arc<dyn Primitive<In, Output = Out>>;
