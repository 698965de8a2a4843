//! The enhanced [`Router`]: the core router plus
//! `router_route_selected_total{primitive, route, reason}` and
//! `operation_duration_seconds`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use opentelemetry::{KeyValue, StringValue};
use primitives_core::{async_trait, Error, Primitive, WorkflowContext};

use super::instruments::{label_value, timed, Handle};
use super::label;

/// [`primitives_core::Router`] with metrics: the same constructors and
/// span (`router.route`, `router.reason`), and
///
/// - `router_route_selected_total{primitive, route, reason}` — reason
///   `selected` (the selector's key names a route), `default` (it names
///   none; the default route ran) or `selector_error` (a
///   [`try_new`](Router::try_new) selector failed; the default route ran);
/// - `operation_duration_seconds{operation, status}`.
///
/// Built before setup, it records from setup on.
///
/// ```
/// use observability_integration::primitives::Router;
/// use primitives_core::{lambda, PrimitiveExt, WorkflowContext};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let router = Router::new(|q: &String, _: &WorkflowContext| {
///         if q.len() > 20 { "quality".to_string() } else { "fast".to_string() }
///     })
///     .route("fast", lambda("gpt-4o-mini", |q: String| async move { Ok::<_, std::io::Error>(q) }))
///     .route("quality", lambda("gpt-4o", |q: String| async move { Ok::<_, std::io::Error>(q) }))
///     .default_route("fast");
/// assert_eq!(router.run(&WorkflowContext::new(), "hi".into()).await.unwrap(), "hi");
/// # }
/// ```
pub struct Router<In, Out> {
    inner: primitives_core::Router<In, Out>,
    name: StringValue,
    metrics: Arc<Handle>,
}

impl<In, Out> fmt::Debug for Router<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Router").field(&self.inner).finish()
    }
}

impl<In: Send + 'static, Out: Send + 'static> Router<In, Out> {
    /// A router with no routes yet (as [`primitives_core::Router::new`]).
    pub fn new(selector: impl Fn(&In, &WorkflowContext) -> String + Send + Sync + 'static) -> Self {
        Self::counting(primitives_core::Router::new(selector), "router".into())
    }

    /// A router whose selector can fail (as
    /// [`primitives_core::Router::try_new`]): on its error the default route
    /// runs, or with none the run fails with that error.
    pub fn try_new(
        selector: impl Fn(&In, &WorkflowContext) -> Result<String, Error> + Send + Sync + 'static,
    ) -> Self {
        Self::counting(primitives_core::Router::try_new(selector), "router".into())
    }

    /// The core router, counting its routes under `name`.
    fn counting(inner: primitives_core::Router<In, Out>, name: Cow<'static, str>) -> Self {
        let name = label_value(name);
        let metrics = Arc::new(Handle::default());
        let (m, primitive) = (metrics.clone(), name.clone());
        let inner = inner.on_route(move |ctx, choice| {
            if let Some(i) = m.get(ctx) {
                i.route_selected.add(
                    1,
                    &[
                        KeyValue::new(label::PRIMITIVE, primitive.clone()),
                        KeyValue::new(label::ROUTE, choice.route),
                        KeyValue::new(label::REASON, choice.reason.as_str()),
                    ],
                );
            }
        });
        Router {
            inner,
            name,
            metrics,
        }
    }

    /// Renames the step (default `router`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        Self::counting(self.inner.named(name.clone()), name)
    }

    /// Adds (or replaces) the route `key`.
    pub fn route<P>(mut self, key: &str, p: P) -> Self
    where
        P: Primitive<In, Output = Out> + 'static,
    {
        self.inner = self.inner.route(key, p);
        self
    }

    /// The route taken for unknown keys (and, with
    /// [`try_new`](Self::try_new), when the selector fails).
    pub fn default_route(mut self, key: &str) -> Self {
        self.inner = self.inner.default_route(key);
        self
    }

    /// The route names.
    pub fn routes(&self) -> impl Iterator<Item = &str> {
        self.inner.routes()
    }

    /// The core router this one wraps.
    pub fn inner(&self) -> &primitives_core::Router<In, Out> {
        &self.inner
    }
}

#[async_trait]
impl<In: Send + 'static, Out: Send + 'static> Primitive<In> for Router<In, Out> {
    type Output = Out;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<Out, Error> {
        timed(
            self.metrics.get(ctx),
            &self.name,
            self.inner.execute(ctx, input),
        )
        .await
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn primitive_type(&self) -> &'static str {
        self.inner.primitive_type()
    }
    fn span_attributes(&self) -> Vec<KeyValue> {
        self.inner.span_attributes()
    }
}
