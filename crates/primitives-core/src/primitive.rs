//! The [`Primitive`] trait, the type-erased [`Workflow`], and [`PrimitiveExt`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use opentelemetry::KeyValue;

use crate::instrument::{Position, Step};
use crate::{Error, Parallel, Sequential, WorkflowContext};

/// One step of a workflow: takes an input, returns an output or an [`Error`].
///
/// Implement [`execute`](Primitive::execute); everything else has defaults.
/// Never call `execute` yourself from outside a primitive: call
/// [`PrimitiveExt::run`] (or [`Workflow::run`]), which wraps the call in the
/// step's span, metrics and log events. Composites (`>>`, `|`, [`Retry`](crate::Retry), …)
/// call their children the same way, so every step of a run is observed
/// exactly once, in one trace.
///
/// The trait is object safe: `Arc<dyn Primitive<In, Output = Out>>` (and the
/// [`Workflow`] wrapper) stores heterogeneous steps.
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

    /// Runs the step. `ctx` carries this step's span: pass it on to children.
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<Self::Output, Error>;

    /// The step's name, used in span names (`primitive.<name>`), metric
    /// labels and logs. Keep it short and fixed: it is a label value.
    /// Defaults to the type's name.
    fn name(&self) -> &str {
        crate::error::short_type_name(std::any::type_name::<Self>())
    }

    /// The primitive's type (`primitive.type` / `type` label).
    fn kind(&self) -> &'static str {
        "custom"
    }

    /// Attributes fixed at construction, added to every span of this step
    /// (for example [`Timeout`](crate::Timeout)'s `timeout.budget_ms`).
    fn span_attributes(&self) -> Vec<KeyValue> {
        Vec::new()
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
            fn kind(&self) -> &'static str {
                (**self).kind()
            }
            fn span_attributes(&self) -> Vec<KeyValue> {
                (**self).span_attributes()
            }
        }
    )*};
}

forward_primitive!(Arc, Box);

/// A shared, type-erased primitive.
pub type BoxedPrimitive<In, Out> = Arc<dyn Primitive<In, Output = Out>>;

/// A type-erased, cheaply clonable workflow: store heterogeneous steps,
/// return them from functions, and [`run`](Workflow::run) them.
///
/// It keeps the instrumentation state of its root step (interned names,
/// bound metric handles), so running the same `Workflow` many times is the
/// fastest way to run a workflow.
pub struct Workflow<In, Out> {
    step: Arc<Step<BoxedPrimitive<In, Out>>>,
}

impl<In, Out> Clone for Workflow<In, Out> {
    fn clone(&self) -> Self {
        Workflow {
            step: self.step.clone(),
        }
    }
}

impl<In, Out> fmt::Debug for Workflow<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workflow").finish_non_exhaustive()
    }
}

impl<In: Send + 'static, Out: Send + 'static> Workflow<In, Out> {
    /// Erases `primitive`'s type.
    pub fn new<P>(primitive: P) -> Self
    where
        P: Primitive<In, Output = Out> + 'static,
    {
        Workflow {
            step: Arc::new(Step::new(Arc::new(primitive))),
        }
    }

    /// Runs the workflow: the root step's span (with
    /// `workflow.correlation_id` and `workflow.id`) and every child span
    /// form one trace.
    pub fn run<'a>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: In,
    ) -> impl std::future::Future<Output = Result<Out, Error>> + Send + 'a {
        // Not an `async fn`: one state machine fewer around the step's.
        self.step.call(ctx, input, Position::None)
    }
}

/// Transparent: a `Workflow` nested in a composite is observed once, by the
/// composite's call.
impl<In: Send + 'static, Out: Send + 'static> Primitive<In> for Workflow<In, Out> {
    type Output = Out;
    fn execute<'a, 'b, 'f>(
        &'a self,
        ctx: &'b WorkflowContext,
        input: In,
    ) -> BoxFuture<'f, Result<Out, Error>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.step.inner().execute(ctx, input)
    }
    fn name(&self) -> &str {
        self.step.inner().name()
    }
    fn kind(&self) -> &'static str {
        self.step.inner().kind()
    }
    fn span_attributes(&self) -> Vec<KeyValue> {
        self.step.inner().span_attributes()
    }
}

/// Methods every primitive gets: run it observed, compose it, erase its type.
pub trait PrimitiveExt<In: Send + 'static>: Primitive<In> + Sized {
    /// Runs this primitive as the root of a workflow run, observed. For a
    /// workflow you run many times, build a [`Workflow`] once instead.
    fn run<'a>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: In,
    ) -> impl std::future::Future<Output = Result<Self::Output, Error>> + Send + 'a {
        crate::instrument::call_unstepped(self, ctx, input)
    }

    /// `self` then `next`, as a [`Sequential`] (same as `self >> next`).
    fn then<B>(self, next: B) -> Sequential<crate::compose::Then<crate::compose::First<Self>, B>> {
        Sequential::from_chain(crate::compose::Then::new(
            crate::compose::First::new(self),
            next,
        ))
    }

    /// `self` and `other` on the same input, as a [`Parallel`] (same as `self | other`).
    fn parallel<B>(self, other: B) -> Parallel<crate::compose::Both<crate::compose::One<Self>, B>> {
        Parallel::from_branches(crate::compose::Both::new(
            crate::compose::One::new(self),
            other,
        ))
    }

    /// Erases the type into a [`Workflow`].
    fn into_workflow(self) -> Workflow<In, Self::Output>
    where
        Self: 'static,
    {
        Workflow::new(self)
    }
}

impl<In: Send + 'static, P: Primitive<In>> PrimitiveExt<In> for P {}
