//! The typed step lists behind `>>`.

use std::future::Future;

use crate::context::WorkflowContext;
use crate::error::{EmptySequential, Error};
use crate::instrument::Step;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::workflow::Workflow;

/// A typed list of steps: what `a >> b >> c` builds inside a
/// [`Sequential`](crate::Sequential). Implemented by this module's links;
/// you don't implement it.
pub trait Chain<In: Send + 'static>: Send + Sync {
    /// Output of the last step.
    type Output: Send + 'static;
    /// Number of steps.
    fn len(&self) -> usize;
    /// Whether the chain has no steps.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Runs the chain; `first` is the `step.index` of its first step.
    fn run<'a>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: In,
        first: usize,
        name: &'a str,
    ) -> impl Future<Output = Result<Self::Output, Error>> + Send + 'a;
}

/// The first step of a chain.
#[derive(Debug)]
pub struct First<P>(Step<P>);

impl<P> First<P> {
    pub(crate) fn new(p: P) -> Self {
        First(Step::new(p))
    }
}

/// A chain followed by one more step.
#[derive(Debug)]
pub struct Then<A, B>(A, Step<B>);

impl<A, B> Then<A, B> {
    pub(crate) fn new(a: A, b: B) -> Self {
        Then(a, Step::new(b))
    }
}

impl<In: Send + 'static, P: Primitive<In>> Chain<In> for First<P> {
    type Output = P::Output;
    fn len(&self) -> usize {
        1
    }
    fn run<'a>(
        &'a self,
        ctx: &'a WorkflowContext,
        input: In,
        first: usize,
        _name: &'a str,
    ) -> impl Future<Output = Result<Self::Output, Error>> + Send + 'a {
        self.0.call(ctx, input, Position::step(first))
    }
}

impl<In, A, B> Chain<In> for Then<A, B>
where
    In: Send + 'static,
    A: Chain<In>,
    B: Primitive<A::Output>,
{
    type Output = B::Output;
    fn len(&self) -> usize {
        self.0.len() + 1
    }
    async fn run(
        &self,
        ctx: &WorkflowContext,
        input: In,
        first: usize,
        name: &str,
    ) -> Result<Self::Output, Error> {
        let mid = self.0.run(ctx, input, first, name).await?;
        let index = first + self.0.len();
        self.1.call(ctx, mid, Position::step(index)).await
    }
}

/// Steps of one type built at run time ([`Sequential::from_steps`](crate::Sequential::from_steps)).
#[derive(Debug)]
pub struct Steps<T>(Vec<Step<Workflow<T, T>>>);

impl<T> Steps<T> {
    pub(crate) fn new(steps: Vec<Step<Workflow<T, T>>>) -> Self {
        Steps(steps)
    }
}

impl<T: Send + 'static> Chain<T> for Steps<T> {
    type Output = T;
    fn len(&self) -> usize {
        self.0.len()
    }
    async fn run(
        &self,
        ctx: &WorkflowContext,
        input: T,
        first: usize,
        name: &str,
    ) -> Result<T, Error> {
        if self.0.is_empty() {
            return Err(Error::with_error_type(
                "empty_sequential",
                EmptySequential {
                    primitive: name.to_owned(),
                },
            ));
        }
        let mut value = input;
        for (i, step) in self.0.iter().enumerate() {
            value = step.call(ctx, value, Position::step(first + i)).await?;
        }
        Ok(value)
    }
}
