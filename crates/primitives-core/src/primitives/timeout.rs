//! [`Timeout`]: a time budget for the inner step.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry::KeyValue;

use crate::context::WorkflowContext;
use crate::error::{Elapsed, Error};
use crate::instrument::{count, Step};
use crate::name::Name;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;

/// Fails with [`Elapsed`] (kind `timeout`) when the inner step does not
/// finish within the budget; the inner step is cancelled (its span ends
/// with `primitive.cancelled = true`). The span carries `timeout.budget_ms`;
/// `timeout_expired` counts expiries. Needs a Tokio runtime with the time
/// driver enabled.
pub struct Timeout<P> {
    name: Name,
    inner: Step<P>,
    budget: Duration,
}

impl<P> fmt::Debug for Timeout<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("name", &self.name)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl<P> Timeout<P> {
    /// `inner`, limited to `budget`.
    pub fn new(inner: P, budget: Duration) -> Self {
        Timeout {
            name: Name::fixed("timeout"),
            inner: Step::new(inner),
            budget,
        }
    }

    /// Renames the step (default `timeout`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// The budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

#[async_trait]
impl<In, P> Primitive<In> for Timeout<P>
where
    In: Send + 'static,
    P: Primitive<In>,
{
    type Output = P::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<P::Output, Error> {
        let inner = self.inner.call(ctx, input, Position::none());
        match tokio::time::timeout(self.budget, inner).await {
            Ok(result) => result,
            Err(_) => {
                count(ctx, |i| &i.timeout_expired, &self.name, &[]);
                Err(Error::with_error_type(
                    "timeout",
                    Elapsed {
                        primitive: self.name.to_string(),
                        budget: self.budget,
                    },
                ))
            }
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "timeout"
    }
    fn span_attributes(&self) -> Vec<KeyValue> {
        let ms = i64::try_from(self.budget.as_millis()).unwrap_or(i64::MAX);
        vec![KeyValue::new(attr::TIMEOUT_BUDGET_MS, ms)]
    }
}
