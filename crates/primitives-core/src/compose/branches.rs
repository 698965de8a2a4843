//! The typed branch lists behind `|`.

use futures_util::future::BoxFuture;

use crate::context::WorkflowContext;
use crate::error::Error;
use crate::instrument::Step;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::workflow::Workflow;

/// A typed list of branches with one output type: what `a | b | c` builds
/// inside a [`Parallel`](crate::Parallel). Implemented by this module's
/// links; you don't implement it.
pub trait Branches<In: Send + 'static>: Send + Sync {
    /// Output of each branch.
    type Output: Send + 'static;
    /// Number of branches.
    fn len(&self) -> usize;
    /// Whether there are no branches.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Starts every branch on a clone of `input` (not polled yet).
    fn start<'a>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: &In,
        first: usize,
        out: &mut Vec<BoxFuture<'a, Result<Self::Output, Error>>>,
    );
}

/// The first branch.
#[derive(Debug)]
pub struct One<P>(Step<P>);

impl<P> One<P> {
    pub(crate) fn new(p: P) -> Self {
        One(Step::new(p))
    }
}

/// Branches plus one more.
#[derive(Debug)]
pub struct Both<L, B>(L, Step<B>);

impl<L, B> Both<L, B> {
    pub(crate) fn new(l: L, b: B) -> Self {
        Both(l, Step::new(b))
    }
}

impl<In, P> Branches<In> for One<P>
where
    In: Clone + Send + Sync + 'static,
    P: Primitive<In>,
{
    type Output = P::Output;
    fn len(&self) -> usize {
        1
    }
    fn start<'a>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: &In,
        first: usize,
        out: &mut Vec<BoxFuture<'a, Result<Self::Output, Error>>>,
    ) {
        out.push(Box::pin(self.0.call(
            ctx,
            input.clone(),
            Position::branch(first),
        )));
    }
}

impl<In, L, B> Branches<In> for Both<L, B>
where
    In: Clone + Send + Sync + 'static,
    L: Branches<In>,
    B: Primitive<In, Output = L::Output>,
{
    type Output = L::Output;
    fn len(&self) -> usize {
        self.0.len() + 1
    }
    fn start<'a>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: &In,
        first: usize,
        out: &mut Vec<BoxFuture<'a, Result<Self::Output, Error>>>,
    ) {
        self.0.start(ctx, input, first, out);
        let index = first + self.0.len();
        out.push(Box::pin(self.1.call(
            ctx,
            input.clone(),
            Position::branch(index),
        )));
    }
}

/// Branches of one type chosen at run time ([`Parallel::from_workflows`](crate::Parallel::from_workflows)).
#[derive(Debug)]
pub struct BranchList<In, Out>(Vec<Step<Workflow<In, Out>>>);

impl<In, Out> BranchList<In, Out> {
    pub(crate) fn new(branches: Vec<Step<Workflow<In, Out>>>) -> Self {
        BranchList(branches)
    }
}

impl<In, Out> Branches<In> for BranchList<In, Out>
where
    In: Clone + Send + Sync + 'static,
    Out: Send + 'static,
{
    type Output = Out;
    fn len(&self) -> usize {
        self.0.len()
    }
    fn start<'a>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: &In,
        first: usize,
        out: &mut Vec<BoxFuture<'a, Result<Out, Error>>>,
    ) {
        for (i, step) in self.0.iter().enumerate() {
            out.push(Box::pin(step.call(
                ctx,
                input.clone(),
                Position::branch(first + i),
            )));
        }
    }
}
