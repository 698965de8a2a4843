//! Composition: the typed lists behind `>>` and `|`, and every `>>` / `|`
//! impl. The list types appear in the types of composed workflows; you
//! rarely name them.

pub(crate) mod branches;
pub(crate) mod chain;
mod ops;

pub use branches::{Both, BranchList, Branches, One};
pub use chain::{Chain, First, Steps, Then};

use crate::primitives::parallel::Parallel;
use crate::primitives::sequential::Sequential;

/// `a >> b` for any two steps: what the operator builds (for
/// [`compose_operators!`](crate::compose_operators)).
pub fn sequence<A, B>(a: A, b: B) -> Sequential<Then<First<A>, B>> {
    Sequential::from_chain(Then::new(First::new(a), b))
}

/// `a | b` for any two steps: what the operator builds (for
/// [`compose_operators!`](crate::compose_operators)).
pub fn branches<A, B>(a: A, b: B) -> Parallel<Both<One<A>, B>> {
    Parallel::from_branches(Both::new(One::new(a), b))
}

/// Gives your own primitive types `>>` and `|`, as the built-in ones have
/// (Rust's coherence rules let only the crate that defines a type
/// implement operators for it, so call this in that crate).
///
/// ```
/// use primitives_core::{async_trait, compose_operators, lambda, Error, Primitive, PrimitiveExt, WorkflowContext};
///
/// struct Double<P>(P);
///
/// #[async_trait]
/// impl<P: Primitive<u32, Output = u32>> Primitive<u32> for Double<P> {
///     type Output = u32;
///     async fn execute(&self, ctx: &WorkflowContext, x: u32) -> Result<u32, Error> {
///         Ok(self.0.execute(ctx, x).await? * 2)
///     }
/// }
/// compose_operators!(Double[P]);
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let inc = lambda("inc", |x: u32| async move { Ok::<_, Error>(x + 1) });
/// let wf = Double(inc) >> lambda("dec", |x: u32| async move { Ok::<_, Error>(x - 1) });
/// assert_eq!(wf.run(&WorkflowContext::new(), 1).await.unwrap(), 3);
/// # }
/// ```
#[macro_export]
macro_rules! compose_operators {
    ($($ty:ident [$($g:ident),*]),* $(,)?) => {$(
        impl<$($g,)* Rhs> ::std::ops::Shr<Rhs> for $ty<$($g),*> {
            type Output = $crate::Sequential<$crate::compose::Then<$crate::compose::First<Self>, Rhs>>;
            fn shr(self, rhs: Rhs) -> Self::Output {
                $crate::compose::sequence(self, rhs)
            }
        }
        impl<$($g,)* Rhs> ::std::ops::BitOr<Rhs> for $ty<$($g),*> {
            type Output = $crate::Parallel<$crate::compose::Both<$crate::compose::One<Self>, Rhs>>;
            fn bitor(self, rhs: Rhs) -> Self::Output {
                $crate::compose::branches(self, rhs)
            }
        }
    )*};
}
