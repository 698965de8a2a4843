//! [`Parallel`]: the same input to every branch, concurrently (`a | b | c`).

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use futures_util::future::try_join_all;

use crate::compose::branches::{Both, BranchList, Branches};
use crate::context::WorkflowContext;
use crate::error::{EmptyParallel, Error};
use crate::instrument::Step;
use crate::name::Name;
use crate::primitive::Primitive;
use crate::workflow::Workflow;

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
        Parallel::from_branches(BranchList::new(
            branches.into_iter().map(Step::new).collect(),
        ))
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
            return Err(Error::with_error_type(
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
    fn primitive_type(&self) -> &'static str {
        "parallel"
    }
}
