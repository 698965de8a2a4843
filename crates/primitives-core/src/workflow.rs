//! [`Workflow`]: a type-erased, cheaply clonable workflow.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use opentelemetry::KeyValue;

use crate::context::WorkflowContext;
use crate::error::Error;
use crate::instrument::Step;
use crate::position::Position;
use crate::primitive::{BoxedPrimitive, Primitive};

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
        self.step.call(ctx, input, Position::none())
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
    fn primitive_type(&self) -> &'static str {
        self.step.inner().primitive_type()
    }
    fn span_attributes(&self) -> Vec<KeyValue> {
        self.step.inner().span_attributes()
    }
    fn span_name(&self) -> std::borrow::Cow<'_, str> {
        self.step.inner().span_name()
    }
    fn span_kind(&self) -> opentelemetry::trace::SpanKind {
        self.step.inner().span_kind()
    }
}
