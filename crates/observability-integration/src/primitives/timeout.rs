//! The enhanced [`Timeout`]: the core timeout plus
//! `timeout_total{primitive, outcome}` and `operation_duration_seconds`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::{KeyValue, StringValue};
use primitives_core::{async_trait, Error, Primitive, WorkflowContext};

use super::instruments::{label_value, timed, Handle};
use super::label;

/// [`primitives_core::Timeout`] with metrics: the same constructor and span
/// (`timeout.budget_ms`, `timeout.outcome`; the inner step's future is
/// dropped on expiry), core's `timeout_expired_total`, and
///
/// - `timeout_total{primitive, outcome}` — outcome `ok`, `timed_out` or
///   `error`: an inner step's own failure is an error, not a success (its
///   `timed_out` count equals `timeout_expired_total`);
/// - `operation_duration_seconds{operation, status}`.
///
/// Built before setup, it records from setup on.
pub struct Timeout<P> {
    inner: primitives_core::Timeout<P>,
    name: StringValue,
    metrics: Arc<Handle>,
}

impl<P> fmt::Debug for Timeout<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Timeout").field(&self.inner).finish()
    }
}

impl<P> Timeout<P> {
    /// `inner`, limited to `budget`.
    pub fn new(inner: P, budget: Duration) -> Self {
        Self::counting(
            primitives_core::Timeout::new(inner, budget),
            "timeout".into(),
        )
    }

    fn counting(inner: primitives_core::Timeout<P>, name: Cow<'static, str>) -> Self {
        let name = label_value(name);
        let metrics = Arc::new(Handle::default());
        let (m, primitive) = (metrics.clone(), name.clone());
        let inner = inner.on_outcome(move |ctx, outcome| {
            if let Some(i) = m.get(ctx) {
                i.timeouts.add(
                    1,
                    &[
                        KeyValue::new(label::PRIMITIVE, primitive.clone()),
                        KeyValue::new(label::OUTCOME, outcome.as_str()),
                    ],
                );
            }
        });
        Timeout {
            inner,
            name,
            metrics,
        }
    }

    /// Renames the step (default `timeout`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        Self::counting(self.inner.named(name.clone()), name)
    }

    /// The budget.
    pub fn budget(&self) -> Duration {
        self.inner.budget()
    }

    /// The core timeout this one wraps.
    pub fn inner(&self) -> &primitives_core::Timeout<P> {
        &self.inner
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
        timed(
            self.metrics.get(ctx),
            &self.name,
            self.inner.execute(ctx, input),
        )
        .await
    }
    fn name(&self) -> &str {
        Primitive::<In>::name(&self.inner)
    }
    fn primitive_type(&self) -> &'static str {
        Primitive::<In>::primitive_type(&self.inner)
    }
    fn span_attributes(&self) -> Vec<KeyValue> {
        Primitive::<In>::span_attributes(&self.inner)
    }
}
