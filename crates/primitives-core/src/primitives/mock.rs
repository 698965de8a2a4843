//! [`MockPrimitive`]: a scripted step for tests.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::context::WorkflowContext;
use crate::error::{Error, MockError};
use crate::name::Name;
use crate::primitive::Primitive;

#[derive(Clone)]
enum Reply<Out> {
    Value(Out),
    Fail(String),
    Pending,
}

/// A step that returns scripted replies and records its inputs.
///
/// Replies queued with [`then_return`](Self::then_return) /
/// [`then_fail`](Self::then_fail) are used in order; after them the
/// default reply repeats ([`returning`](Self::returning),
/// [`failing`](Self::failing) or [`pending`](Self::pending), which never
/// finishes).
pub struct MockPrimitive<In, Out> {
    name: Name,
    queue: Mutex<VecDeque<Reply<Out>>>,
    default: Reply<Out>,
    delay: Duration,
    calls: AtomicUsize,
    inputs: Mutex<Vec<In>>,
}

impl<In, Out> fmt::Debug for MockPrimitive<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockPrimitive")
            .field("name", &self.name)
            .field("calls", &self.calls.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl<In, Out: Clone> MockPrimitive<In, Out> {
    fn with_default(default: Reply<Out>) -> Self {
        MockPrimitive {
            name: Name::fixed("mock"),
            queue: Mutex::new(VecDeque::new()),
            default,
            delay: Duration::ZERO,
            calls: AtomicUsize::new(0),
            inputs: Mutex::new(Vec::new()),
        }
    }

    /// Always returns `value`.
    pub fn returning(value: Out) -> Self {
        Self::with_default(Reply::Value(value))
    }

    /// Always fails with `message` (kind `MockError`).
    pub fn failing(message: impl Into<String>) -> Self {
        Self::with_default(Reply::Fail(message.into()))
    }

    /// Never finishes (for timeout and cancellation tests).
    pub fn pending() -> Self {
        Self::with_default(Reply::Pending)
    }

    /// Renames the step (default `mock`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Queues a success before the default reply.
    pub fn then_return(self, value: Out) -> Self {
        self.push(Reply::Value(value))
    }

    /// Queues a failure before the default reply.
    pub fn then_fail(self, message: impl Into<String>) -> Self {
        self.push(Reply::Fail(message.into()))
    }

    fn push(self, reply: Reply<Out>) -> Self {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(reply);
        self
    }

    /// Sleeps `delay` before replying.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Calls so far (including ones still running).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl<In: Clone, Out> MockPrimitive<In, Out> {
    /// The inputs received so far, in call order.
    pub fn inputs(&self) -> Vec<In> {
        self.inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl<In, Out> Primitive<In> for MockPrimitive<In, Out>
where
    In: Clone + Send + 'static,
    Out: Clone + Send + Sync + 'static,
{
    type Output = Out;
    async fn execute(&self, _ctx: &WorkflowContext, input: In) -> Result<Out, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(input);
        let reply = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or_else(|| self.default.clone());
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match reply {
            Reply::Value(v) => Ok(v),
            Reply::Fail(m) => Err(MockError(m).into()),
            Reply::Pending => std::future::pending().await,
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "mock"
    }
}
