//! Errors: one boxed [`Error`] at the boundary, a small type per failure.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// A type-erased error, as used at API boundaries (like tower's `BoxError`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error every [`Primitive`](crate::Primitive) returns.
///
/// It wraps the underlying error and a short, bounded *error type* used as the
/// `error_type` metric label and span attribute: `timeout`, `circuit_open`,
/// `no_route`, … for this crate's own failures, and the type name of a user
/// error (`MyError`, not its message). Like `anyhow::Error`, it converts from
/// any `std::error::Error` with `?`, and it does not itself implement
/// `std::error::Error` (convert with [`Error::into_boxed`] or `BoxError::from`).
pub struct Error {
    error_type: Cow<'static, str>,
    inner: BoxError,
}

impl Error {
    /// Wraps `err` with an explicit error type (keep them few and static:
    /// they become metric label values).
    pub fn with_error_type(
        error_type: impl Into<Cow<'static, str>>,
        err: impl Into<BoxError>,
    ) -> Self {
        Error {
            error_type: error_type.into(),
            inner: err.into(),
        }
    }

    /// An error from a message. Its error type is `error`.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::with_error_type("error", message.to_string())
    }

    /// The short, bounded category of this error: the `error_type` metric
    /// label and the `error.type` span attribute.
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// This error with another error type.
    pub fn set_error_type(mut self, error_type: impl Into<Cow<'static, str>>) -> Self {
        self.error_type = error_type.into();
        self
    }

    /// The wrapped error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }

    /// Unwraps into the boxed error.
    pub fn into_boxed(self) -> BoxError {
        self.inner
    }

    /// Downcasts the wrapped error by reference.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }

    /// Is the wrapped error of type `E`?
    pub fn is<E: std::error::Error + 'static>(&self) -> bool {
        self.inner.is::<E>()
    }
}

/// The last `::`-separated segment of a type name, generics removed:
/// `my_crate::errors::MyError<T>` becomes `MyError`.
pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

impl<E> From<E> for Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> Self {
        Error {
            error_type: Cow::Borrowed(short_type_name(std::any::type_name::<E>())),
            inner: Box::new(err),
        }
    }
}

impl From<Error> for BoxError {
    fn from(err: Error) -> Self {
        err.inner
    }
}

impl From<Error> for Box<dyn std::error::Error + 'static> {
    fn from(err: Error) -> Self {
        err.inner
    }
}

impl From<Error> for Box<dyn std::error::Error + Send + 'static> {
    fn from(err: Error) -> Self {
        err.inner
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("error_type", &self.error_type)
            .field("error", &self.inner)
            .finish()
    }
}

/// A [`Timeout`](crate::Timeout) budget elapsed before the inner step finished.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{primitive}` did not finish within its timeout of {budget:?}; raise the budget or make the step faster")]
pub struct Elapsed {
    /// The timeout primitive's name.
    pub primitive: String,
    /// The budget that elapsed.
    pub budget: Duration,
}

/// A run reached one of its budgets ([`Budget`](crate::Budget)); the
/// step that checked it did not run. Error type `budget_exceeded`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the run's budget is spent: {key} is {spent} of at most {limit}; raise the budget or spend less per run")]
pub struct BudgetExceeded {
    /// The run total the budget limits.
    pub key: String,
    /// Its limit.
    pub limit: f64,
    /// The run's total when the step was refused.
    pub spent: f64,
}

/// A [`CircuitBreaker`](crate::CircuitBreaker) is open and refused the call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("circuit `{primitive}` is open after {failures} consecutive failures; retry after {retry_after:?}")]
pub struct CircuitOpen {
    /// The circuit breaker's name.
    pub primitive: String,
    /// Consecutive failures that opened the circuit.
    pub failures: u32,
    /// Time left until the circuit lets a trial call through.
    pub retry_after: Duration,
}

/// A [`Router`](crate::Router) found no route for the selected key and has no default.
#[derive(Debug, Clone, thiserror::Error)]
#[error("router `{primitive}` has no route `{key}` and no default route; known routes: {known:?}")]
pub struct NoRoute {
    /// The router's name.
    pub primitive: String,
    /// The key the selector returned.
    pub key: String,
    /// The routes the router knows.
    pub known: Vec<String>,
}

/// A [`Sequential`](crate::Sequential) built from a list had no steps.
#[derive(Debug, Clone, thiserror::Error)]
#[error("sequential `{primitive}` has no steps; add at least one step")]
pub struct EmptySequential {
    /// The sequential primitive's name.
    pub primitive: String,
}

/// A [`Parallel`](crate::Parallel) built from a list had no branches.
#[derive(Debug, Clone, thiserror::Error)]
#[error("parallel `{primitive}` has no branches; add at least one branch")]
pub struct EmptyParallel {
    /// The parallel primitive's name.
    pub primitive: String,
}

/// A [`Switch`](crate::Switch) found no case for the selected key and has no default.
#[derive(Debug, Clone, thiserror::Error)]
#[error("switch `{primitive}` has no case `{key}` and no default case")]
pub struct NoCase {
    /// The switch's name.
    pub primitive: String,
    /// The key the selector returned.
    pub key: String,
}

/// A [`Saga`](crate::Saga) step failed; the completed steps were compensated.
#[derive(Debug, thiserror::Error)]
#[error("saga `{primitive}` failed at its action; compensation {}", if *.compensated { "ran" } else { "also failed" })]
pub struct SagaFailed {
    /// The saga's name.
    pub primitive: String,
    /// Whether the compensation succeeded.
    pub compensated: bool,
    /// The action's error.
    #[source]
    pub source: BoxError,
}

/// A step panicked. Recorded on the step's span (status Error,
/// `error.type="panic"`, the message as the exception) and in its metrics
/// before the panic goes on to the caller; the caller never receives it as
/// a value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{primitive}` panicked: {message}")]
pub struct Panicked {
    /// The primitive that panicked (or whose child did).
    pub primitive: String,
    /// The panic's message (`&str` or `String` payloads; otherwise a
    /// placeholder).
    pub message: String,
}

impl Panicked {
    /// The error recorded for a step whose future panicked with `payload`.
    pub(crate) fn error(primitive: &str, payload: &(dyn std::any::Any + Send)) -> Error {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic payload that is not a string".to_owned());
        Error::with_error_type(
            "panic",
            Panicked {
                primitive: primitive.to_owned(),
                message,
            },
        )
    }
}

/// A [`MockPrimitive`](crate::MockPrimitive) was told to fail.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct MockError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct MyError;

    #[test]
    fn error_type_is_the_short_type_name() {
        let err: Error = MyError.into();
        assert_eq!(err.error_type(), "MyError");
        assert!(err.is::<MyError>());
        assert_eq!(err.to_string(), "boom");
        assert_eq!(short_type_name("a::b::C<d::E>"), "C");
        assert_eq!(short_type_name("C"), "C");
    }
}
