//! [`Retry`]: runs its inner step again on failure, with backoff.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry::KeyValue;
use rand::Rng;

use crate::context::WorkflowContext;
use crate::error::Error;
use crate::instrument::{count, Step};
use crate::name::Name;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;

type RetryIf = Arc<dyn Fn(&Error) -> bool + Send + Sync>;

/// Runs the inner step up to `max_attempts` times while it fails with a
/// retryable error, sleeping an exponentially growing, jittered delay
/// between attempts. Returns the first success or the **last** error.
///
/// Each attempt is one execution of the inner step: one span each, with
/// `retry.attempt` = 1, 2, …; `retry_attempts{outcome}` counts `ok`,
/// `retry` (failed, and the next attempt starts after its backoff) and
/// `exhausted` (failed, giving up).
pub struct Retry<P> {
    name: Name,
    inner: Step<P>,
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    jitter: bool,
    retry_if: Option<RetryIf>,
}

impl<P> fmt::Debug for Retry<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}

impl<P> Retry<P> {
    /// Retries `inner`: 3 attempts, 100 ms base delay doubling up to 10 s,
    /// with jitter, every error retryable.
    pub fn new(inner: P) -> Self {
        Retry {
            name: Name::fixed("retry"),
            inner: Step::new(inner),
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            jitter: true,
            retry_if: None,
        }
    }

    /// Renames the step (default `retry`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Total attempts including the first (at least 1; 0 is taken as 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Delay before the second attempt; doubles each attempt up to `max`.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// Randomise each delay between half and all of its value (default on).
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// Retry only errors for which `f` returns true.
    pub fn retry_if(mut self, f: impl Fn(&Error) -> bool + Send + Sync + 'static) -> Self {
        self.retry_if = Some(Arc::new(f));
        self
    }

    /// The delay after failed attempt `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let d = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        if self.jitter && !d.is_zero() {
            let half = d / 2;
            half + rand::rng().random_range(Duration::ZERO..=d - half)
        } else {
            d
        }
    }
}

#[async_trait]
impl<In, P> Primitive<In> for Retry<P>
where
    In: Clone + Send + Sync + 'static,
    P: Primitive<In>,
{
    type Output = P::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<P::Output, Error> {
        let mut attempt = 1;
        loop {
            let result = self
                .inner
                .call(ctx, input.clone(), Position::attempt(attempt))
                .await;
            let err = match result {
                Ok(v) => {
                    count(
                        ctx,
                        |i| &i.retry_attempts,
                        &self.name,
                        &[KeyValue::new("outcome", "ok")],
                    );
                    return Ok(v);
                }
                Err(e) => e,
            };
            let retryable = self.retry_if.as_ref().is_none_or(|f| f(&err));
            if !retryable || attempt >= self.max_attempts {
                count(
                    ctx,
                    |i| &i.retry_attempts,
                    &self.name,
                    &[KeyValue::new("outcome", "exhausted")],
                );
                ctx.set_attribute(KeyValue::new(attr::RETRY_ATTEMPTS, i64::from(attempt)));
                return Err(err);
            }
            tokio::time::sleep(self.delay_after(attempt)).await;
            // Counted once the backoff is over: a Retry cancelled while it
            // waits (a timeout around it, a failing sibling) retried nothing.
            count(
                ctx,
                |i| &i.retry_attempts,
                &self.name,
                &[KeyValue::new("outcome", "retry")],
            );
            attempt += 1;
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "retry"
    }
}
