//! [`Sequential`]: steps one after another (`a >> b >> c`).

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;

use crate::compose::chain::{Chain, Steps, Then};
use crate::context::WorkflowContext;
use crate::error::Error;
use crate::instrument::Step;
use crate::name::Name;
use crate::primitive::Primitive;
use crate::workflow::Workflow;

/// Runs its steps in order, each one's output the next one's input.
///
/// `a >> b >> c` builds one `Sequential` of three steps (chains flatten),
/// whose span has three children with `step.index` 0, 1, 2. A statically
/// built chain is never empty; one built from a list with
/// [`Sequential::from_steps`] fails with
/// [`EmptySequential`](crate::EmptySequential) when empty.
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
        Sequential::from_chain(Steps::new(steps.into_iter().map(Step::new).collect()))
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
    fn primitive_type(&self) -> &'static str {
        "sequential"
    }
}
