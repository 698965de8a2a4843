//! [`Fallback`]: a second step when the first fails.

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use opentelemetry::KeyValue;

use crate::context::WorkflowContext;
use crate::error::Error;
use crate::instrument::{count, Step};
use crate::name::Name;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;

/// Runs `primary`; if it fails, runs `fallback` on the same input. When both
/// fail, returns the **primary's** error (the fallback's is logged and on
/// its span). Child spans carry `fallback.role` = `primary` | `fallback`;
/// `fallback_used` counts fallback runs.
pub struct Fallback<P, F> {
    name: Name,
    primary: Step<P>,
    fallback: Step<F>,
}

impl<P, F> fmt::Debug for Fallback<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<P, F> Fallback<P, F> {
    /// `primary`, or `fallback` if it fails.
    pub fn new(primary: P, fallback: F) -> Self {
        Fallback {
            name: Name::fixed("fallback"),
            primary: Step::new(primary),
            fallback: Step::new(fallback),
        }
    }

    /// Renames the step (default `fallback`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }
}

#[async_trait]
impl<In, P, F> Primitive<In> for Fallback<P, F>
where
    In: Clone + Send + Sync + 'static,
    P: Primitive<In>,
    F: Primitive<In, Output = P::Output>,
{
    type Output = P::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<P::Output, Error> {
        let role = |r: &'static str| Position::named(attr::FALLBACK_ROLE, Name::fixed(r));
        let primary_err = match self.primary.call(ctx, input.clone(), role("primary")).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        count(ctx, |i| &i.fallback_used, &self.name, &[]);
        ctx.set_attribute(KeyValue::new(attr::FALLBACK_USED, true));
        match self.fallback.call(ctx, input, role("fallback")).await {
            Ok(v) => Ok(v),
            Err(fallback_err) => {
                tracing::warn!(
                    target: "primitives_core",
                    primitive = %self.name,
                    error_type = fallback_err.error_type(),
                    error = %fallback_err,
                    "fallback failed too; returning the primary error"
                );
                Err(primary_err)
            }
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "fallback"
    }
}
