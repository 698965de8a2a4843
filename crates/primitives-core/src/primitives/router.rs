//! [`Router`]: a selector picks a named route.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry::KeyValue;

use crate::context::WorkflowContext;
use crate::error::{Error, NoRoute};
use crate::instrument::Step;
use crate::name::{intern, Name};
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;
use crate::workflow::Workflow;

type Route<In, Out> = (Name, Step<Workflow<In, Out>>);
type Selector<In> = Box<dyn Fn(&In, &WorkflowContext) -> Result<String, Error> + Send + Sync>;
type RouteObserver = Arc<dyn Fn(&WorkflowContext, RouteChoice) + Send + Sync>;

/// Why a [`Router`] took the route it took: the `router.reason` span
/// attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteReason {
    /// The selector's key names a route.
    Selected,
    /// The selector's key names no route: the default route ran.
    Default,
    /// The selector failed: the default route ran.
    SelectorError,
}

impl RouteReason {
    /// `selected`, `default` or `selector_error`.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteReason::Selected => "selected",
            RouteReason::Default => "default",
            RouteReason::SelectorError => "selector_error",
        }
    }
}

/// The route a [`Router`] took, handed to its observer
/// ([`Router::on_route`]) before the route runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouteChoice {
    /// The route's name (fixed at construction, so bounded).
    pub route: Cow<'static, str>,
    /// Why it was taken.
    pub reason: RouteReason,
}

/// Calls a selector on the input to get a route key, then runs that route.
/// An unknown key runs the default route if there is one, or fails with
/// [`NoRoute`] naming the key and the known routes. A fallible selector
/// ([`Router::try_new`]) that fails runs the default route if there is
/// one, or fails the run with the selector's error.
///
/// The router's span carries `router.route` (the route that ran; route
/// names are fixed at construction, so the attribute stays bounded) and
/// `router.reason` ([`RouteReason`]); the route's own span carries
/// `router.route` as its position.
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
    observer: Option<RouteObserver>,
}

impl<In, Out> fmt::Debug for Router<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("name", &self.name)
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl<In: Send + 'static, Out: Send + 'static> Router<In, Out> {
    /// A router with no routes yet.
    pub fn new(selector: impl Fn(&In, &WorkflowContext) -> String + Send + Sync + 'static) -> Self {
        Self::try_new(move |input, ctx| Ok(selector(input, ctx)))
    }

    /// A router whose selector can fail (a classifier call, a lookup): on
    /// its error the default route runs (`router.reason =
    /// selector_error`), or, with no default route, the run fails with
    /// that error.
    pub fn try_new(
        selector: impl Fn(&In, &WorkflowContext) -> Result<String, Error> + Send + Sync + 'static,
    ) -> Self {
        Router {
            name: Name::fixed("router"),
            selector: Box::new(selector),
            routes: BTreeMap::new(),
            default: None,
            observer: None,
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

    /// Calls `observer` with the route taken and why, in the router's
    /// context, before the route runs (the integration crate's router
    /// counts routes with it). One observer; a second call replaces it.
    pub fn on_route(
        mut self,
        observer: impl Fn(&WorkflowContext, RouteChoice) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The route names.
    pub fn routes(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    /// The default route's name, if set.
    pub fn default_route_name(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// The default route, when set and added.
    fn default(&self) -> Option<&Route<In, Out>> {
        self.default.as_ref().and_then(|d| self.routes.get(d))
    }

    /// The route to run and why, or the run's error.
    fn choose(
        &self,
        ctx: &WorkflowContext,
        input: &In,
    ) -> Result<(&Route<In, Out>, RouteReason), Error> {
        let key = match (self.selector)(input, ctx) {
            Ok(key) => key,
            Err(e) => {
                ctx.set_attribute(KeyValue::new(
                    attr::ROUTER_REASON,
                    RouteReason::SelectorError.as_str(),
                ));
                // The error's type only: its message may carry input.
                ctx.add_event(
                    "router.selector_error",
                    vec![KeyValue::new(attr::ERROR_TYPE, e.error_type().to_owned())],
                );
                return match self.default() {
                    Some(route) => Ok((route, RouteReason::SelectorError)),
                    None => Err(e),
                };
            }
        };
        if let Some(route) = self.routes.get(&key) {
            return Ok((route, RouteReason::Selected));
        }
        match self.default() {
            Some(route) => Ok((route, RouteReason::Default)),
            None => Err(Error::with_error_type(
                "no_route",
                NoRoute {
                    primitive: self.name.to_string(),
                    key,
                    known: self.routes.keys().cloned().collect(),
                },
            )),
        }
    }
}

#[async_trait]
impl<In: Send + 'static, Out: Send + 'static> Primitive<In> for Router<In, Out> {
    type Output = Out;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<Out, Error> {
        let ((route_name, step), reason) = self.choose(ctx, &input)?;
        ctx.set_attribute(route_name.kv(attr::ROUTER_ROUTE));
        if reason != RouteReason::SelectorError {
            ctx.set_attribute(KeyValue::new(attr::ROUTER_REASON, reason.as_str()));
        }
        if let Some(observe) = &self.observer {
            observe(
                ctx,
                RouteChoice {
                    route: route_name.0.clone(),
                    reason,
                },
            );
        }
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
