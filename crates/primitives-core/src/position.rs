//! [`Position`]: where a child step sits in its parent.

use std::borrow::Cow;

use opentelemetry::KeyValue;

use crate::name::Name;
use crate::semconv::attr;

/// Where a child sits in its parent composite, recorded as one attribute on
/// the child's span: `step.index = 2`, `router.route = "fast"`, … A
/// composite passes one to [`Step::call`](crate::Step::call) for each child
/// it runs.
///
/// ```
/// use primitives_core::Position;
/// let third = Position::index("step.index", 2);
/// let route = Position::attr("router.route", "fast");
/// let root = Position::none();
/// # let _ = (third, route, root);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Position(Repr);

#[derive(Debug, Clone)]
enum Repr {
    None,
    Index(&'static str, i64),
    /// A string attribute (role, route, case): key and value.
    Attr(&'static str, Name),
}

impl Position {
    /// No position attribute (a root, or a single wrapped child).
    pub const fn none() -> Position {
        Position(Repr::None)
    }

    /// An integer position: `key = index` (`step.index`, `branch.index`, …).
    pub fn index(key: &'static str, index: usize) -> Position {
        Position(Repr::Index(key, i64::try_from(index).unwrap_or(i64::MAX)))
    }

    /// A named position: `key = value` (a role, route or case). Keep values
    /// few and fixed; an owned value is interned once.
    pub fn attr(key: &'static str, value: impl Into<Cow<'static, str>>) -> Position {
        Position(Repr::Attr(key, Name::new(value)))
    }

    pub(crate) fn named(key: &'static str, value: Name) -> Position {
        Position(Repr::Attr(key, value))
    }

    pub(crate) fn step(i: usize) -> Position {
        Position::index(attr::STEP_INDEX, i)
    }

    pub(crate) fn branch(i: usize) -> Position {
        Position::index(attr::BRANCH_INDEX, i)
    }

    pub(crate) fn attempt(i: u32) -> Position {
        Position(Repr::Index(attr::RETRY_ATTEMPT, i64::from(i)))
    }

    /// The span attribute this position records, if any.
    pub fn attribute(&self) -> Option<KeyValue> {
        match &self.0 {
            Repr::None => None,
            Repr::Index(key, i) => Some(KeyValue::new(*key, *i)),
            Repr::Attr(key, value) => Some(value.kv(key)),
        }
    }
}
