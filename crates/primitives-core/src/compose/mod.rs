//! Composition: the typed lists behind `>>` and `|`, and every `>>` / `|`
//! impl. The list types appear in the types of composed workflows; you
//! rarely name them.

pub(crate) mod branches;
pub(crate) mod chain;
mod ops;

pub use branches::{Both, BranchList, Branches, One};
pub use chain::{Chain, First, Steps, Then};
