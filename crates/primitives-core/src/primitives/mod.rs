//! The built-in primitives, one module each.

pub(crate) mod cache;
pub(crate) mod circuit_breaker;
pub(crate) mod conditional;
pub(crate) mod fallback;
pub(crate) mod lambda;
pub(crate) mod mock;
pub(crate) mod parallel;
pub(crate) mod retry;
pub(crate) mod router;
pub(crate) mod saga;
pub(crate) mod sequential;
pub(crate) mod switch;
pub(crate) mod timeout;
