//! [`CircuitBreaker`]: stops calling a failing step for a while.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use opentelemetry::KeyValue;

use crate::context::WorkflowContext;
use crate::error::{CircuitOpen, Error};
use crate::instrument::{count, Step};
use crate::name::Name;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;

/// A circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls fail fast with [`CircuitOpen`] until the reset timeout passes.
    Open,
    /// One trial call goes through: success closes, failure re-opens.
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct State {
    state: CircuitState,
    failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
    /// Bumped on every state change: a call's result counts only in the
    /// generation it was admitted under (a slow call admitted while Closed
    /// that succeeds after the circuit opened must not close it).
    generation: u64,
}

/// Closed → open after `failure_threshold` consecutive failures; open →
/// half-open after `reset_timeout`; half-open lets one trial call through
/// (others fail fast) and closes on its success or re-opens on failure.
///
/// The span carries `circuit.state` (the state the call found);
/// `circuit_breaker_transitions{from,to}` counts state changes.
pub struct CircuitBreaker<P> {
    name: Name,
    inner: Step<P>,
    failure_threshold: u32,
    reset_timeout: Duration,
    state: Mutex<State>,
}

impl<P> fmt::Debug for CircuitBreaker<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .field("failure_threshold", &self.failure_threshold)
            .field("reset_timeout", &self.reset_timeout)
            .finish_non_exhaustive()
    }
}

enum Admit {
    Call {
        trial: bool,
        found: CircuitState,
        generation: u64,
    },
    Reject {
        failures: u32,
        retry_after: Duration,
    },
}

impl<P> CircuitBreaker<P> {
    /// Opens after 5 consecutive failures, tries again after 30 s.
    pub fn new(inner: P) -> Self {
        CircuitBreaker {
            name: Name::fixed("circuit_breaker"),
            inner: Step::new(inner),
            failure_threshold: 5,
            reset_timeout: Duration::from_secs(30),
            state: Mutex::new(State {
                state: CircuitState::Closed,
                failures: 0,
                opened_at: None,
                trial_in_flight: false,
                generation: 0,
            }),
        }
    }

    /// Renames the step (default `circuit_breaker`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Consecutive failures that open the circuit (at least 1).
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n.max(1);
        self
    }

    /// How long the circuit stays open before a trial call.
    pub fn reset_timeout(mut self, d: Duration) -> Self {
        self.reset_timeout = d;
        self
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        self.lock().state
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn transition(&self, ctx: &WorkflowContext, s: &mut State, to: CircuitState) {
        let from = s.state;
        if from == to {
            return;
        }
        s.state = to;
        s.generation = s.generation.wrapping_add(1);
        count(
            ctx,
            |i| &i.circuit_transitions,
            &self.name,
            &[
                KeyValue::new("from", from.as_str()),
                KeyValue::new("to", to.as_str()),
            ],
        );
        tracing::info!(
            target: "primitives_core",
            primitive = %self.name,
            from = from.as_str(),
            to = to.as_str(),
            "circuit breaker changed state"
        );
    }

    fn admit(&self, ctx: &WorkflowContext) -> Admit {
        let mut s = self.lock();
        let found = s.state;
        match s.state {
            CircuitState::Closed => Admit::Call {
                trial: false,
                found,
                generation: s.generation,
            },
            CircuitState::Open => {
                let since = s.opened_at.map_or(Duration::MAX, |t| t.elapsed());
                if since >= self.reset_timeout {
                    self.transition(ctx, &mut s, CircuitState::HalfOpen);
                    s.trial_in_flight = true;
                    Admit::Call {
                        trial: true,
                        found: CircuitState::HalfOpen,
                        generation: s.generation,
                    }
                } else {
                    Admit::Reject {
                        failures: s.failures,
                        retry_after: self.reset_timeout - since,
                    }
                }
            }
            CircuitState::HalfOpen if !s.trial_in_flight => {
                s.trial_in_flight = true;
                Admit::Call {
                    trial: true,
                    found,
                    generation: s.generation,
                }
            }
            CircuitState::HalfOpen => Admit::Reject {
                failures: s.failures,
                retry_after: Duration::ZERO,
            },
        }
    }

    fn record(&self, ctx: &WorkflowContext, ok: bool, trial: bool, generation: u64) {
        let mut s = self.lock();
        if s.generation != generation {
            // Admitted under an earlier state: its result is stale.
            return;
        }
        if trial {
            s.trial_in_flight = false;
        }
        if ok {
            s.failures = 0;
            if s.state != CircuitState::Closed {
                self.transition(ctx, &mut s, CircuitState::Closed);
            }
            return;
        }
        s.failures = s.failures.saturating_add(1);
        let reopen = s.state == CircuitState::HalfOpen;
        if reopen || (s.state == CircuitState::Closed && s.failures >= self.failure_threshold) {
            s.opened_at = Some(Instant::now());
            self.transition(ctx, &mut s, CircuitState::Open);
        }
    }
}

/// Clears a half-open trial slot if the trial call is cancelled.
struct TrialGuard<'a, P> {
    breaker: &'a CircuitBreaker<P>,
    armed: bool,
}

impl<P> Drop for TrialGuard<'_, P> {
    fn drop(&mut self) {
        if self.armed {
            self.breaker.lock().trial_in_flight = false;
        }
    }
}

#[async_trait]
impl<In, P> Primitive<In> for CircuitBreaker<P>
where
    In: Send + 'static,
    P: Primitive<In>,
{
    type Output = P::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<P::Output, Error> {
        let (trial, found, generation) = match self.admit(ctx) {
            Admit::Call {
                trial,
                found,
                generation,
            } => (trial, found, generation),
            Admit::Reject {
                failures,
                retry_after,
            } => {
                ctx.set_attribute(KeyValue::new(
                    attr::CIRCUIT_STATE,
                    CircuitState::Open.as_str(),
                ));
                return Err(Error::with_error_type(
                    "circuit_open",
                    CircuitOpen {
                        primitive: self.name.to_string(),
                        failures,
                        retry_after,
                    },
                ));
            }
        };
        ctx.set_attribute(KeyValue::new(attr::CIRCUIT_STATE, found.as_str()));
        let mut guard = TrialGuard {
            breaker: self,
            armed: trial,
        };
        let result = self.inner.call(ctx, input, Position::none()).await;
        guard.armed = false;
        self.record(ctx, result.is_ok(), trial, generation);
        result
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "circuit_breaker"
    }
}
