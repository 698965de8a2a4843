//! [`Router`]: a selector picks a named route.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;

use crate::context::WorkflowContext;
use crate::error::{Error, NoRoute};
use crate::instrument::Step;
use crate::name::{intern, Name};
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;
use crate::workflow::Workflow;

type Route<In, Out> = (Name, Step<Workflow<In, Out>>);
type Selector<In> = Box<dyn Fn(&In, &WorkflowContext) -> String + Send + Sync>;

/// Calls a selector on the input to get a route key, then runs that route.
/// An unknown key runs the default route if there is one, or fails with
/// [`NoRoute`] naming the key and the known routes.
///
/// The route's span carries `router.route` (the route that ran; route names
/// are fixed at construction, so the attribute stays bounded).
///
/// ```
/// use primitives_core::{lambda, PrimitiveExt, Router, WorkflowContext};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let router = Router::new(|q: &String, _ctx: &WorkflowContext| {
///         if q.len() > 20 { "quality".to_string() } else { "fast".to_string() }
///     })
///     .route("fast", lambda("small-model", |q: String| async move { Ok::<_, std::io::Error>(format!("fast:{q}")) }))
///     .route("quality", lambda("big-model", |q: String| async move { Ok::<_, std::io::Error>(format!("quality:{q}")) }))
///     .default_route("fast");
/// let out = router.run(&WorkflowContext::new(), "hi".to_string()).await.unwrap();
/// assert_eq!(out, "fast:hi");
/// # }
/// ```
pub struct Router<In, Out> {
    name: Name,
    selector: Selector<In>,
    routes: BTreeMap<String, Route<In, Out>>,
    default: Option<String>,
}

impl<In, Out> fmt::Debug for Router<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("name", &self.name)
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .field("default", &self.default)
            .finish()
    }
}

impl<In: Send + 'static, Out: Send + 'static> Router<In, Out> {
    /// A router with no routes yet.
    pub fn new(selector: impl Fn(&In, &WorkflowContext) -> String + Send + Sync + 'static) -> Self {
        Router {
            name: Name::fixed("router"),
            selector: Box::new(selector),
            routes: BTreeMap::new(),
            default: None,
        }
    }

    /// Renames the step (default `router`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Adds (or replaces) the route `key`.
    pub fn route<P>(mut self, key: &str, p: P) -> Self
    where
        P: Primitive<In, Output = Out> + 'static,
    {
        self.routes
            .insert(key.to_owned(), (intern(key), Step::new(Workflow::new(p))));
        self
    }

    /// The route taken for unknown keys. It must name a route added with
    /// [`route`](Self::route) by the time the router runs.
    pub fn default_route(mut self, key: &str) -> Self {
        self.default = Some(key.to_owned());
        self
    }

    /// The route names.
    pub fn routes(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }
}

#[async_trait]
impl<In: Send + 'static, Out: Send + 'static> Primitive<In> for Router<In, Out> {
    type Output = Out;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<Out, Error> {
        let key = (self.selector)(&input, ctx);
        let route = self
            .routes
            .get(&key)
            .or_else(|| self.default.as_ref().and_then(|d| self.routes.get(d)));
        let Some((route_name, step)) = route else {
            return Err(Error::with_error_type(
                "no_route",
                NoRoute {
                    primitive: self.name.to_string(),
                    key,
                    known: self.routes.keys().cloned().collect(),
                },
            ));
        };
        ctx.set_attribute(route_name.kv(attr::ROUTER_ROUTE));
        step.call(
            ctx,
            input,
            Position::named(attr::ROUTER_ROUTE, route_name.clone()),
        )
        .await
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "router"
    }
}
