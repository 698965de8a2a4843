//! [`Conditional`]: one of two branches by a predicate on the input.

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;

use crate::context::WorkflowContext;
use crate::error::Error;
use crate::instrument::Step;
use crate::name::Name;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;

/// Runs `then` when the predicate holds for the input, `otherwise` when it
/// does not. The chosen child's span carries `condition.branch` = `then` |
/// `else`.
pub struct Conditional<F, T, E> {
    name: Name,
    predicate: F,
    then: Step<T>,
    otherwise: Step<E>,
}

impl<F, T, E> fmt::Debug for Conditional<F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conditional")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F, T, E> Conditional<F, T, E> {
    /// `if predicate(&input) { then } else { otherwise }`.
    pub fn new(predicate: F, then: T, otherwise: E) -> Self {
        Conditional {
            name: Name::fixed("conditional"),
            predicate,
            then: Step::new(then),
            otherwise: Step::new(otherwise),
        }
    }

    /// Renames the step (default `conditional`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }
}

#[async_trait]
impl<In, F, T, E> Primitive<In> for Conditional<F, T, E>
where
    In: Send + 'static,
    F: Fn(&In) -> bool + Send + Sync,
    T: Primitive<In>,
    E: Primitive<In, Output = T::Output>,
{
    type Output = T::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<T::Output, Error> {
        if (self.predicate)(&input) {
            let at = Position::named(attr::CONDITION_BRANCH, Name::fixed("then"));
            self.then.call(ctx, input, at).await
        } else {
            let at = Position::named(attr::CONDITION_BRANCH, Name::fixed("else"));
            self.otherwise.call(ctx, input, at).await
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "conditional"
    }
}
