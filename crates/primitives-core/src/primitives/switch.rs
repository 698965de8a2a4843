//! [`Switch`]: the first case whose predicate matches the input.

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;

use crate::context::WorkflowContext;
use crate::error::{Error, NoCase};
use crate::instrument::Step;
use crate::name::{intern, Name};
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;
use crate::workflow::Workflow;

type Case<In, Out> = (Name, Predicate<In>, Step<Workflow<In, Out>>);
type Predicate<In> = Box<dyn Fn(&In) -> bool + Send + Sync>;

/// Tries its cases in order and runs the first whose predicate matches;
/// the default case otherwise, or fails with [`NoCase`]. The chosen child's
/// span carries `switch.case` (the case's name).
pub struct Switch<In, Out> {
    name: Name,
    cases: Vec<Case<In, Out>>,
    default: Option<Step<Workflow<In, Out>>>,
}

impl<In, Out> fmt::Debug for Switch<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cases: Vec<&str> = self.cases.iter().map(|c| &*c.0).collect();
        f.debug_struct("Switch")
            .field("name", &self.name)
            .field("cases", &cases)
            .field("has_default", &self.default.is_some())
            .finish()
    }
}

impl<In: Send + 'static, Out: Send + 'static> Default for Switch<In, Out> {
    fn default() -> Self {
        Self::new()
    }
}

impl<In: Send + 'static, Out: Send + 'static> Switch<In, Out> {
    /// A switch with no cases.
    pub fn new() -> Self {
        Switch {
            name: Name::fixed("switch"),
            cases: Vec::new(),
            default: None,
        }
    }

    /// Renames the step (default `switch`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Adds a case named `case`, taken when `when(&input)` holds.
    pub fn case<P>(
        mut self,
        case: &str,
        when: impl Fn(&In) -> bool + Send + Sync + 'static,
        then: P,
    ) -> Self
    where
        P: Primitive<In, Output = Out> + 'static,
    {
        self.cases
            .push((intern(case), Box::new(when), Step::new(Workflow::new(then))));
        self
    }

    /// The case taken when no other matches.
    pub fn default_case<P>(mut self, p: P) -> Self
    where
        P: Primitive<In, Output = Out> + 'static,
    {
        self.default = Some(Step::new(Workflow::new(p)));
        self
    }
}

#[async_trait]
impl<In: Send + 'static, Out: Send + 'static> Primitive<In> for Switch<In, Out> {
    type Output = Out;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<Out, Error> {
        for (case, when, step) in &self.cases {
            if when(&input) {
                let at = Position::named(attr::SWITCH_CASE, case.clone());
                return step.call(ctx, input, at).await;
            }
        }
        match &self.default {
            Some(step) => {
                let at = Position::named(attr::SWITCH_CASE, Name::fixed("default"));
                step.call(ctx, input, at).await
            }
            None => Err(Error::with_error_type(
                "no_case",
                NoCase {
                    primitive: self.name.to_string(),
                    key: "(no case matched)".to_owned(),
                },
            )),
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "switch"
    }
}
