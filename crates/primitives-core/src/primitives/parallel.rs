//! [`Parallel`]: the same input to every branch, concurrently (`a | b | c`).

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use futures_util::future::{try_join_all, BoxFuture};

use crate::error::EmptyParallel;
use crate::instrument::{Position, Step};
use crate::telemetry::Name;
use crate::{Error, Primitive, Workflow, WorkflowContext};

/// Runs every branch on a clone of the input, concurrently, and returns
/// their outputs in branch order.
///
/// Branches run as concurrent futures of the calling task (like
/// `futures::try_join_all`), so they need no `'static` bound and their
/// spans nest under this step's span in the same trace. On the first
/// failure the other branches are dropped (cancelled: their spans end with
/// `primitive.cancelled = true`) and that error is returned.
pub struct Parallel<L> {
    name: Name,
    branches: L,
}

impl<L> fmt::Debug for Parallel<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parallel")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A typed list of branches with one output type. Implemented by this
/// module's list links; you don't implement it.
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
            Position::Branch(first),
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
            Position::Branch(index),
        )));
    }
}

/// Branches of one type chosen at run time ([`Parallel::from_workflows`]).
#[derive(Debug)]
pub struct BranchList<In, Out>(Vec<Step<Workflow<In, Out>>>);

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
                Position::Branch(first + i),
            )));
        }
    }
}

impl<L> Parallel<L> {
    pub(crate) fn from_branches(branches: L) -> Self {
        Parallel {
            name: Name::fixed("parallel"),
            branches,
        }
    }

    /// Renames the step (default `parallel`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Adds a branch (same as `self | branch`).
    pub fn branch<B>(self, branch: B) -> Parallel<Both<L, B>> {
        Parallel {
            name: self.name,
            branches: Both::new(self.branches, branch),
        }
    }
}

impl<In, Out> Parallel<BranchList<In, Out>> {
    /// Branches chosen at run time. Empty fails with [`EmptyParallel`].
    pub fn from_workflows(branches: impl IntoIterator<Item = Workflow<In, Out>>) -> Self {
        Parallel::from_branches(BranchList(branches.into_iter().map(Step::new).collect()))
    }
}

#[async_trait]
impl<In, L> Primitive<In> for Parallel<L>
where
    In: Clone + Send + Sync + 'static,
    L: Branches<In>,
{
    type Output = Vec<L::Output>;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<Self::Output, Error> {
        if self.branches.is_empty() {
            return Err(Error::with_kind(
                "empty_parallel",
                EmptyParallel {
                    primitive: self.name.to_string(),
                },
            ));
        }
        let mut futures = Vec::with_capacity(self.branches.len());
        self.branches.start(ctx, &input, 0, &mut futures);
        drop(input);
        try_join_all(futures).await
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "parallel"
    }
}

impl<L, R> std::ops::BitOr<R> for Parallel<L> {
    type Output = Parallel<Both<L, R>>;
    fn bitor(self, rhs: R) -> Self::Output {
        self.branch(rhs)
    }
}
