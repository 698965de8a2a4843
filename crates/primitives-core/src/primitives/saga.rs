//! [`Saga`]: an action with a compensation that undoes it on failure.

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use opentelemetry::KeyValue;

use crate::context::WorkflowContext;
use crate::error::{Error, SagaFailed};
use crate::instrument::Step;
use crate::name::Name;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;

/// Runs `action`; if it fails, runs `compensation` on the same input to undo
/// partial effects, then fails with [`SagaFailed`] (keeping the action's
/// error kind, and whether compensation succeeded). Child spans carry
/// `saga.role` = `action` | `compensation`.
///
/// Chain sagas with `>>` for a multi-step transaction: a later failure
/// compensates its own step; wrap the chain in an outer saga to undo
/// earlier steps too.
pub struct Saga<A, C> {
    name: Name,
    action: Step<A>,
    compensation: Step<C>,
}

impl<A, C> fmt::Debug for Saga<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Saga")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<A, C> Saga<A, C> {
    /// `action`, undone by `compensation` if it fails.
    pub fn new(action: A, compensation: C) -> Self {
        Saga {
            name: Name::fixed("saga"),
            action: Step::new(action),
            compensation: Step::new(compensation),
        }
    }

    /// Renames the step (default `saga`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }
}

#[async_trait]
impl<In, A, C> Primitive<In> for Saga<A, C>
where
    In: Clone + Send + Sync + 'static,
    A: Primitive<In>,
    C: Primitive<In>,
{
    type Output = A::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<A::Output, Error> {
        let role = |r: &'static str| Position::named(attr::SAGA_ROLE, Name::fixed(r));
        let err = match self.action.call(ctx, input.clone(), role("action")).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let compensated = self
            .compensation
            .call(ctx, input, role("compensation"))
            .await
            .is_ok();
        ctx.set_attribute(KeyValue::new(attr::SAGA_COMPENSATED, compensated));
        let kind = err.error_type().to_owned();
        Err(Error::with_error_type(
            kind,
            SagaFailed {
                primitive: self.name.to_string(),
                compensated,
                source: err.into_boxed(),
            },
        ))
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "saga"
    }
}
