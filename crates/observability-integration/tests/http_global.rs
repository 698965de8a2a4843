//! The server layer and the client middleware built *before* a global
//! setup record through it afterwards (own process: installs globals),
//! and the configured correlation-id header is the one read and echoed.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use observability_integration::http::{ObservabilityLayer, ObservabilityMiddleware, TracedContext};
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry::trace::SpanKind;
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::Collect;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_built_before_setup_records_after_it() {
    // Built first, with nothing installed.
    let layer = ObservabilityLayer::new();
    let middleware = ObservabilityMiddleware::new();
    async fn handler(TracedContext(ctx): TracedContext) -> String {
        let step = lambda("after_setup", |x: u32| async move { Ok::<_, Error>(x) });
        step.run(&ctx, 1).await.unwrap();
        ctx.correlation_id().to_owned()
    }
    let app = Router::new().route("/x", get(handler)).layer(layer);

    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::Map(BTreeMap::from([(
            "OBSERVABILITY_CORRELATION_ID_HEADER".to_owned(),
            "x-request-id".to_owned(),
        )])))
        .service_name("http-global")
        .enable_prometheus(false)
        .enable_viewer(false)
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    assert_eq!(cfg.correlation_id_header, "x-request-id");
    let sink = Collect::default();
    let guard = ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .logs(false)
        .install();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build();
    let ctx = WorkflowContext::new().with_correlation_id("req-7");
    let resp = client
        .get(format!("http://{addr}/x"))
        .with_extension(ctx.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap()),
        Some("req-7"),
        "the configured header is sent, read and echoed"
    );
    assert!(resp.headers().get("x-correlation-id").is_none());
    assert_eq!(resp.text().await.unwrap(), "req-7");

    assert!(guard.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    let kinds = |k: SpanKind| spans.iter().filter(|s| s.span_kind == k).count();
    assert_eq!(kinds(SpanKind::Server), 1, "{spans:#?}");
    assert_eq!(kinds(SpanKind::Client), 1);
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    let client_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    assert_eq!(server.parent_span_id, client_span.span_context.span_id());
    let step = spans
        .iter()
        .find(|s| s.name == "primitive.after_setup")
        .unwrap();
    assert_eq!(step.parent_span_id, server.span_context.span_id());
    guard.shutdown(Duration::from_secs(2));
}
