//! [`PrimitiveExt`]: run a primitive observed, compose it, erase its type.

use std::future::Future;

use crate::compose::branches::{Both, One};
use crate::compose::chain::{First, Then};
use crate::context::WorkflowContext;
use crate::error::Error;
use crate::instrument::call_unstepped;
use crate::primitive::Primitive;
use crate::primitives::parallel::Parallel;
use crate::primitives::sequential::Sequential;
use crate::workflow::Workflow;

/// Methods every primitive gets: run it observed, compose it, erase its type.
pub trait PrimitiveExt<In: Send + 'static>: Primitive<In> + Sized {
    /// Runs this primitive as the root of a workflow run, observed. For a
    /// workflow you run many times, build a [`Workflow`] once instead.
    fn run<'a>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: In,
    ) -> impl Future<Output = Result<Self::Output, Error>> + Send + 'a {
        call_unstepped(self, ctx, input)
    }

    /// `self` then `next`, as a [`Sequential`] (same as `self >> next`).
    fn then<B>(self, next: B) -> Sequential<Then<First<Self>, B>> {
        Sequential::from_chain(Then::new(First::new(self), next))
    }

    /// `self` and `other` on the same input, as a [`Parallel`] (same as `self | other`).
    fn parallel<B>(self, other: B) -> Parallel<Both<One<Self>, B>> {
        Parallel::from_branches(Both::new(One::new(self), other))
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
