//! [`ObservabilityMiddleware`]: the client side, for reqwest through
//! reqwest-middleware.

use std::sync::Arc;
use std::time::Instant;

use ::http::Extensions;
use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt};
use opentelemetry::KeyValue;
use primitives_core::WorkflowContext;
use reqwest_middleware::{Middleware, Next, Result};

use super::instruments::Recorder;
use super::method_name;
use super::names::*;
use crate::propagation::inject_headers;

/// A reqwest-middleware [`Middleware`]: each request is one `CLIENT` span
/// (named `{method}`, with `http.request.method`, `server.address`,
/// `server.port`, `url.scheme`, `http.response.status_code`) under the
/// caller's step, its trace context, baggage and correlation id go out in
/// the headers, and `http.client.request.duration` is recorded.
///
/// The run comes from the request's extensions
/// (`.with_extension(ctx.clone())` on the request builder); without one,
/// the OpenTelemetry context current when the request is sent.
///
/// ```no_run
/// # async fn f(ctx: primitives_core::WorkflowContext) -> Result<(), Box<dyn std::error::Error>> {
/// use observability_integration::http::ObservabilityMiddleware;
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(ObservabilityMiddleware::new())
///     .build();
/// let reply = client
///     .get("http://127.0.0.1:8081/users/7")
///     .with_extension(ctx.clone())
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ObservabilityMiddleware {
    recorder: Arc<Recorder>,
}

impl ObservabilityMiddleware {
    /// Records through the global setup in force at each request.
    pub fn new() -> Self {
        ObservabilityMiddleware::default()
    }

    /// Records through `obs` (a setup built without installing it).
    pub fn for_stack(obs: &crate::setup::Observability) -> Self {
        ObservabilityMiddleware {
            recorder: Arc::new(Recorder::of(obs)),
        }
    }
}

#[async_trait::async_trait]
impl Middleware for ObservabilityMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<reqwest::Response> {
        let start = Instant::now();
        let ctx = extensions.get::<WorkflowContext>().cloned();
        let parent = match &ctx {
            Some(c) => c.otel_context(),
            None => opentelemetry::Context::current(),
        };
        let method = method_name(req.method());
        let url = req.url();
        let mut metric_attributes = vec![
            KeyValue::new(HTTP_REQUEST_METHOD, method),
            KeyValue::new(
                URL_SCHEME,
                if url.scheme() == "https" {
                    "https"
                } else {
                    "http"
                },
            ),
        ];
        if let Some(host) = url.host_str() {
            metric_attributes.push(KeyValue::new(SERVER_ADDRESS, host.to_owned()));
        }
        if let Some(port) = url.port_or_known_default() {
            metric_attributes.push(KeyValue::new(SERVER_PORT, i64::from(port)));
        }
        let span = self.recorder.with_tracer(|t| {
            t.start(
                SpanBuilder::from_name(method)
                    .with_kind(SpanKind::Client)
                    .with_attributes(metric_attributes.clone()),
                &parent,
            )
        });
        let cx = crate::propagation::keep_random_flag(&parent, parent.with_span(span));
        // The outgoing context: the CLIENT span as the remote parent, the
        // run's baggage and correlation id.
        let outgoing = ctx
            .unwrap_or_else(|| {
                let mut c = WorkflowContext::new();
                if let Some(id) = primitives_core::current_correlation_id() {
                    c = c.with_correlation_id(id.to_string());
                }
                c
            })
            .with_parent(cx.clone());
        inject_headers(&outgoing, req.headers_mut());
        let result = next.run(req, extensions).await;
        let span = cx.span();
        let error_type = match &result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                span.set_attribute(KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
                metric_attributes.push(KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
                (status >= 400).then(|| status.to_string())
            }
            Err(e) => Some(
                if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "_OTHER"
                }
                .to_owned(),
            ),
        };
        if let Some(e) = &error_type {
            span.set_attribute(KeyValue::new(ERROR_TYPE, e.clone()));
            metric_attributes.push(KeyValue::new(ERROR_TYPE, e.clone()));
            span.set_status(Status::error(match &result {
                Err(err) => err.to_string(),
                Ok(_) => format!("status {e}"),
            }));
        }
        span.end();
        if let Some(i) = self.recorder.instruments() {
            if let Some(h) = &i.client {
                h.record(start.elapsed().as_secs_f64(), &metric_attributes);
            }
        }
        result
    }
}
