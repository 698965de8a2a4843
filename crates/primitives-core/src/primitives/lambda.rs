//! [`Lambda`]: a primitive from an async closure.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use async_trait::async_trait;

use crate::context::WorkflowContext;
use crate::error::Error;
use crate::name::Name;
use crate::primitive::Primitive;

/// A primitive from an async closure over the input.
///
/// ```
/// use primitives_core::{lambda, PrimitiveExt, WorkflowContext};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let double = lambda("double", |x: u32| async move { Ok::<_, std::io::Error>(x * 2) });
/// assert_eq!(double.run(&WorkflowContext::new(), 21).await.unwrap(), 42);
/// # }
/// ```
pub struct Lambda<F> {
    name: Name,
    f: F,
}

/// A [`Lambda`] named `name` running `f(input)`. The closure returns
/// `Result<Out, E>` for any error `E` that converts into [`Error`].
pub fn lambda<F>(name: impl Into<Cow<'static, str>>, f: F) -> Lambda<F> {
    Lambda {
        name: Name::new(name),
        f,
    }
}

impl<F> Lambda<F> {
    /// Same as [`lambda`].
    pub fn new(name: impl Into<Cow<'static, str>>, f: F) -> Self {
        lambda(name, f)
    }
}

impl<F> fmt::Debug for Lambda<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lambda").field("name", &self.name).finish()
    }
}

#[async_trait]
impl<F, Fut, In, Out, E> Primitive<In> for Lambda<F>
where
    In: Send + 'static,
    Out: Send + 'static,
    F: Fn(In) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Out, E>> + Send,
    E: Into<Error>,
{
    type Output = Out;
    async fn execute(&self, _ctx: &WorkflowContext, input: In) -> Result<Out, Error> {
        (self.f)(input).await.map_err(Into::into)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "lambda"
    }
}

/// A primitive from an async closure that also receives the step's
/// [`WorkflowContext`] (a cheap clone), for steps that read run data or
/// start their own spans.
pub struct ContextLambda<F> {
    name: Name,
    f: F,
}

/// A [`ContextLambda`] named `name` running `f(ctx, input)`.
pub fn lambda_with_context<F>(name: impl Into<Cow<'static, str>>, f: F) -> ContextLambda<F> {
    ContextLambda {
        name: Name::new(name),
        f,
    }
}

impl<F> fmt::Debug for ContextLambda<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextLambda")
            .field("name", &self.name)
            .finish()
    }
}

#[async_trait]
impl<F, Fut, In, Out, E> Primitive<In> for ContextLambda<F>
where
    In: Send + 'static,
    Out: Send + 'static,
    F: Fn(WorkflowContext, In) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Out, E>> + Send,
    E: Into<Error>,
{
    type Output = Out;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<Out, Error> {
        (self.f)(ctx.clone(), input).await.map_err(Into::into)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "lambda"
    }
}
