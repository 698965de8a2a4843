//! [`Timeout`]: a time budget for the inner step.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
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

/// How a [`Timeout`]'s call ended: the `timeout.outcome` span attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutOutcome {
    /// The inner step succeeded within the budget.
    Ok,
    /// The budget elapsed first; the inner step was cancelled.
    TimedOut,
    /// The inner step failed within the budget.
    Error,
}

impl TimeoutOutcome {
    /// `ok`, `timed_out` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutOutcome::Ok => "ok",
            TimeoutOutcome::TimedOut => "timed_out",
            TimeoutOutcome::Error => "error",
        }
    }
}

type OutcomeObserver = Arc<dyn Fn(&WorkflowContext, TimeoutOutcome) + Send + Sync>;

/// Fails with [`Elapsed`] (kind `timeout`) when the inner step does not
/// finish within the budget; the inner step's future is dropped
/// (cancelled: its span ends with `primitive.cancelled = true`). The span
/// carries `timeout.budget_ms` and `timeout.outcome` ([`TimeoutOutcome`]);
/// `timeout_expired` counts expiries. An inner step's own error is an
/// `error` outcome, not a success. Needs a Tokio runtime with the time
/// driver enabled.
pub struct Timeout<P> {
    name: Name,
    inner: Step<P>,
    budget: Duration,
    observer: Option<OutcomeObserver>,
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
            observer: None,
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

    /// Calls `observer` with each call's outcome, in the timeout's context
    /// (the integration crate's timeout counts outcomes with it). One
    /// observer; a second call replaces it.
    pub fn on_outcome(
        mut self,
        observer: impl Fn(&WorkflowContext, TimeoutOutcome) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    fn outcome(&self, ctx: &WorkflowContext, outcome: TimeoutOutcome) {
        ctx.set_attribute(KeyValue::new(attr::TIMEOUT_OUTCOME, outcome.as_str()));
        if let Some(observe) = &self.observer {
            observe(ctx, outcome);
        }
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
            Ok(result) => {
                let outcome = match result {
                    Ok(_) => TimeoutOutcome::Ok,
                    Err(_) => TimeoutOutcome::Error,
                };
                self.outcome(ctx, outcome);
                result
            }
            Err(_) => {
                count(ctx, |i| &i.timeout_expired, &self.name, &[]);
                self.outcome(ctx, TimeoutOutcome::TimedOut);
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
