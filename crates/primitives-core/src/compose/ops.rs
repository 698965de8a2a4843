//! `>>` and `|` for every built-in primitive. A new built-in primitive
//! joins the list below. (Your own types get the same with
//! [`compose_operators!`](crate::compose_operators) in their crate, or
//! through [`PrimitiveExt::then`](crate::PrimitiveExt::then) and
//! [`PrimitiveExt::parallel`](crate::PrimitiveExt::parallel).)

use std::ops::{BitOr, Shr};

use super::branches::{Both, One};
use super::chain::{First, Then};
use crate::primitives::cache::Cache;
use crate::primitives::circuit_breaker::CircuitBreaker;
use crate::primitives::conditional::Conditional;
use crate::primitives::fallback::Fallback;
use crate::primitives::lambda::{ContextLambda, Lambda};
use crate::primitives::mock::MockPrimitive;
use crate::primitives::parallel::Parallel;
use crate::primitives::retry::Retry;
use crate::primitives::router::Router;
use crate::primitives::saga::Saga;
use crate::primitives::sequential::Sequential;
use crate::primitives::switch::Switch;
use crate::primitives::timeout::Timeout;
use crate::workflow::Workflow;

/// `a >> b` starts a chain and `a | b` a branch list.
macro_rules! compose_ops {
    ($($ty:ident [$($g:ident),*]),* $(,)?) => {$(
        impl<$($g,)* Rhs> Shr<Rhs> for $ty<$($g),*> {
            type Output = Sequential<Then<First<Self>, Rhs>>;
            fn shr(self, rhs: Rhs) -> Self::Output {
                Sequential::from_chain(Then::new(First::new(self), rhs))
            }
        }
        impl<$($g,)* Rhs> BitOr<Rhs> for $ty<$($g),*> {
            type Output = Parallel<Both<One<Self>, Rhs>>;
            fn bitor(self, rhs: Rhs) -> Self::Output {
                Parallel::from_branches(Both::new(One::new(self), rhs))
            }
        }
    )*};
}

compose_ops!(
    Lambda[F],
    ContextLambda[F],
    Conditional[F, T, E],
    Switch[In, Out],
    Router[In, Out],
    Retry[P],
    Fallback[P, F],
    Timeout[P],
    Cache[P, K, V, F],
    CircuitBreaker[P],
    Saga[A, C],
    MockPrimitive[In, Out],
    Workflow[In, Out],
);

/// `a >> b >> c` flattens into one sequence.
impl<C, R> Shr<R> for Sequential<C> {
    type Output = Sequential<Then<C, R>>;
    fn shr(self, rhs: R) -> Self::Output {
        self.then(rhs)
    }
}

/// `a | b | c` flattens into one parallel.
impl<L, R> BitOr<R> for Parallel<L> {
    type Output = Parallel<Both<L, R>>;
    fn bitor(self, rhs: R) -> Self::Output {
        self.branch(rhs)
    }
}

/// `(a >> b) | c`: a sequence as the first branch.
impl<C, Rhs> BitOr<Rhs> for Sequential<C> {
    type Output = Parallel<Both<One<Self>, Rhs>>;
    fn bitor(self, rhs: Rhs) -> Self::Output {
        Parallel::from_branches(Both::new(One::new(self), rhs))
    }
}

/// `(a | b) >> c`: a parallel as the first step.
impl<L, Rhs> Shr<Rhs> for Parallel<L> {
    type Output = Sequential<Then<First<Self>, Rhs>>;
    fn shr(self, rhs: Rhs) -> Self::Output {
        Sequential::from_chain(Then::new(First::new(self), rhs))
    }
}
