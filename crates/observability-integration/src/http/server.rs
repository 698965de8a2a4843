//! [`ObservabilityLayer`]: the server side.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use ::http::{HeaderValue, Request, Response};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt};
use opentelemetry::KeyValue;
use primitives_core::WorkflowContext;

use super::instruments::Recorder;
use super::method_name;
use super::names::*;
use crate::propagation::{correlation_header, extract_otel_context};

/// A tower [`Layer`](tower_layer::Layer) for HTTP servers (axum's
/// `Router::layer`, or any tower HTTP service): for each request it
/// continues the caller's trace (W3C `traceparent`, `tracestate`,
/// `baggage`), starts a `SERVER` span named `{method} {route}` with the
/// HTTP semantic conventions' attributes, records
/// `http.server.request.duration`, hands the handler a [`TracedContext`]
/// (a `WorkflowContext` whose runs are children of the request, with the
/// caller's correlation id when valid and its baggage), and echoes the
/// correlation id in the response.
///
/// With axum, add it with `Router::layer` so the route template
/// (`MatchedPath`) is known: `http.route` is the template, never the raw
/// path. Built before setup, it records through whatever setup installs.
///
/// ```
/// use axum::{routing::get, Router};
/// use observability_integration::http::{ObservabilityLayer, TracedContext};
///
/// async fn user(TracedContext(ctx): TracedContext) -> String {
///     format!("run {}", ctx.correlation_id())
/// }
/// let app: Router = Router::new()
///     .route("/users/{id}", get(user))
///     .layer(ObservabilityLayer::new());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ObservabilityLayer {
    recorder: Arc<Recorder>,
}

impl ObservabilityLayer {
    /// Records through the global setup in force at each request.
    pub fn new() -> Self {
        ObservabilityLayer::default()
    }

    /// Records through `obs` (a setup built without installing it).
    pub fn for_stack(obs: &crate::setup::Observability) -> Self {
        ObservabilityLayer {
            recorder: Arc::new(Recorder::of(obs)),
        }
    }
}

impl<S> tower_layer::Layer<S> for ObservabilityLayer {
    type Service = ObservabilityService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ObservabilityService {
            inner,
            recorder: self.recorder.clone(),
        }
    }
}

/// The service [`ObservabilityLayer`] wraps around yours.
#[derive(Debug, Clone)]
pub struct ObservabilityService<S> {
    inner: S,
    recorder: Arc<Recorder>,
}

/// The handler's run context: a child of the request's `SERVER` span,
/// with the request's correlation id and baggage. An axum extractor; also
/// in the request's extensions for other frameworks.
#[derive(Debug, Clone)]
pub struct TracedContext(pub WorkflowContext);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TracedContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut ::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        // Without the layer: a run of its own, continuing the headers.
        Ok(parts
            .extensions
            .get::<TracedContext>()
            .cloned()
            .unwrap_or_else(|| {
                TracedContext(crate::propagation::context_from_headers(&parts.headers))
            }))
    }
}

/// The `Host` header's name and port, else the URI's.
fn server_address<B>(req: &Request<B>) -> (Option<String>, Option<u16>) {
    let host = req
        .headers()
        .get(::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let Some(host) = host else {
        return (None, None);
    };
    match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') || host.starts_with('[') => {
            (Some(name.to_owned()), port.parse().ok())
        }
        _ => (Some(host), None),
    }
}

impl<S, B, ResB> tower_service::Service<Request<B>> for ObservabilityService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResB>> + Send,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + 'static,
    B: Send + 'static,
    ResB: 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let method = method_name(req.method());
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned());
        let scheme =
            req.uri()
                .scheme_str()
                .map_or("http", |s| if s == "https" { "https" } else { "http" });
        let (address, port) = server_address(&req);
        let parent = extract_otel_context(req.headers());
        let mut attributes = vec![
            KeyValue::new(HTTP_REQUEST_METHOD, method),
            KeyValue::new(URL_SCHEME, scheme),
        ];
        if let Some(r) = &route {
            attributes.push(KeyValue::new(HTTP_ROUTE, r.clone()));
        }
        let mut metric_attributes = attributes.clone();
        if let Some(a) = address {
            attributes.push(KeyValue::new(SERVER_ADDRESS, a));
        }
        if let Some(p) = port {
            attributes.push(KeyValue::new(SERVER_PORT, i64::from(p)));
        }
        let name = match &route {
            Some(r) => format!("{method} {r}"),
            None => method.to_owned(),
        };
        let span = self.recorder.with_tracer(|t| {
            t.start(
                SpanBuilder::from_name(name)
                    .with_kind(SpanKind::Server)
                    .with_attributes(attributes),
                &parent,
            )
        });
        let cx = crate::propagation::keep_random_flag(&parent, parent.with_span(span));
        let mut ctx = crate::propagation::run_context(req.headers(), cx.clone());
        if let Some(t) = self.recorder.telemetry() {
            ctx = ctx.with_shared_telemetry(t);
        }
        let correlation = HeaderValue::from_str(ctx.correlation_id()).ok();
        req.extensions_mut().insert(TracedContext(ctx));
        let recorder = self.recorder.clone();
        let fut = self.inner.call(req).with_context(cx.clone());
        Box::pin(async move {
            let result = fut.await;
            let span = cx.span();
            let error_type = match &result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    span.set_attribute(KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
                    metric_attributes
                        .push(KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
                    (status >= 500).then(|| status.to_string())
                }
                Err(_) => Some("_OTHER".to_owned()),
            };
            if let Some(e) = &error_type {
                span.set_attribute(KeyValue::new(ERROR_TYPE, e.clone()));
                metric_attributes.push(KeyValue::new(ERROR_TYPE, e.clone()));
                span.set_status(Status::error(match &result {
                    Err(e) => e.to_string(),
                    Ok(_) => format!("status {e}"),
                }));
            }
            span.end();
            if let Some(i) = recorder.instruments() {
                if let Some(h) = &i.server {
                    h.record(start.elapsed().as_secs_f64(), &metric_attributes);
                }
            }
            result.map(|mut resp| {
                if let Some(v) = correlation {
                    resp.headers_mut().insert(correlation_header(), v);
                }
                resp
            })
        })
    }
}
