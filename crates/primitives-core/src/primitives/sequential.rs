//! [`Sequential`]: steps one after another (`a >> b >> c`).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use async_trait::async_trait;

use crate::error::EmptySequential;
use crate::instrument::{Position, Step};
use crate::telemetry::Name;
use crate::{Error, Primitive, Workflow, WorkflowContext};

/// Runs its steps in order, each one's output the next one's input.
///
/// `a >> b >> c` builds one `Sequential` of three steps (chains flatten),
/// whose span has three children with `step.index` 0, 1, 2. A statically
/// built chain is never empty; one built from a list with
/// [`Sequential::from_steps`] fails with [`EmptySequential`] when empty.
pub struct Sequential<C> {
    name: Name,
    chain: C,
}

impl<C> fmt::Debug for Sequential<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sequential")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A typed list of steps. Implemented by this module's chain links; you
/// don't implement it.
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
        self.0.call(ctx, input, Position::Step(first))
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
        self.1.call(ctx, mid, Position::Step(index)).await
    }
}

/// Steps of one type built at run time ([`Sequential::from_steps`]).
#[derive(Debug)]
pub struct Steps<T>(Vec<Step<Workflow<T, T>>>);

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
            return Err(Error::with_kind(
                "empty_sequential",
                EmptySequential {
                    primitive: name.to_owned(),
                },
            ));
        }
        let mut value = input;
        for (i, step) in self.0.iter().enumerate() {
            value = step.call(ctx, value, Position::Step(first + i)).await?;
        }
        Ok(value)
    }
}

impl<C> Sequential<C> {
    pub(crate) fn from_chain(chain: C) -> Self {
        Sequential {
            name: Name::fixed("sequential"),
            chain,
        }
    }

    /// Renames the step (default `sequential`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Appends a step (same as `self >> next`).
    pub fn then<B>(self, next: B) -> Sequential<Then<C, B>> {
        Sequential {
            name: self.name,
            chain: Then::new(self.chain, next),
        }
    }
}

impl<T: Send + 'static> Sequential<Steps<T>> {
    /// A sequence of same-typed steps chosen at run time.
    pub fn from_steps(steps: impl IntoIterator<Item = Workflow<T, T>>) -> Self {
        Sequential::from_chain(Steps(steps.into_iter().map(Step::new).collect()))
    }
}

#[async_trait]
impl<In: Send + 'static, C: Chain<In>> Primitive<In> for Sequential<C> {
    type Output = C::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<C::Output, Error> {
        self.chain.run(ctx, input, 0, &self.name).await
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "sequential"
    }
}

impl<C, R> std::ops::Shr<R> for Sequential<C> {
    type Output = Sequential<Then<C, R>>;
    fn shr(self, rhs: R) -> Self::Output {
        self.then(rhs)
    }
}
