//! Interop with another implementation: an HTTP peer on the official
//! OpenTelemetry Python SDK (`support/py_peer.py`: its default W3C
//! propagators, stdlib http.server and urllib). A Python client calls our
//! axum server behind `ObservabilityLayer`; our reqwest client behind
//! `ObservabilityMiddleware` calls a Python server. Trace ids, parent span
//! ids and baggage match across the boundary both ways. Skips without the
//! backends venv unless CI=true.

mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use observability_integration::http::{ObservabilityLayer, ObservabilityMiddleware, TracedContext};
use observability_integration::{
    EnvSource, Observability, ObservabilityBuilder, ObservabilityConfig,
};
use opentelemetry::trace::SpanKind;
use primitives_core::{lambda_with_context, Error, PrimitiveExt, WorkflowContext};
use serde_json::Value;
use support::Collect;

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/py_peer.py")
}

fn setup() -> (Observability, Collect) {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("interop")
        .enable_prometheus(false)
        .enable_viewer(false)
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    (obs, sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_calls_our_server() {
    let Some(python) = support::backend_python() else {
        support::backend_missing("OpenTelemetry Python SDK (.backends/venv)");
        return;
    };
    let (obs, sink) = setup();
    async fn handler(TracedContext(ctx): TracedContext) -> String {
        ctx.baggage()
            .get("origin")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default()
    }
    let app = Router::new()
        .route("/items/{id}", get(handler))
        .layer(ObservabilityLayer::for_stack(&obs));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script())
            .arg("client")
            .arg(format!("http://{addr}/items/9"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        py["body"], "python",
        "the Python client's baggage arrived: {py}"
    );
    assert!(py["correlation_id"].as_str().is_some_and(|c| !c.is_empty()));

    assert!(obs.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .expect("a SERVER span");
    assert_eq!(server.name, "GET /items/{id}");
    assert_eq!(
        server.span_context.trace_id().to_string(),
        py["trace_id"].as_str().unwrap(),
        "our server continues the Python client's trace"
    );
    assert_eq!(
        server.parent_span_id.to_string(),
        py["span_id"].as_str().unwrap(),
        "its parent is the Python client's span"
    );
    assert!(server.parent_span_is_remote);
    obs.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_calls_a_python_server() {
    let Some(python) = support::backend_python() else {
        support::backend_missing("OpenTelemetry Python SDK (.backends/venv)");
        return;
    };
    let mut child = Command::new(python)
        .arg(script())
        .arg("server")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = serde_json::from_str::<Value>(&line).unwrap()["port"]
        .as_u64()
        .unwrap();

    let (obs, sink) = setup();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ObservabilityMiddleware::for_stack(&obs))
        .build();
    let call = lambda_with_context("call_python", move |ctx: WorkflowContext, _: ()| {
        let client = client.clone();
        async move {
            let resp = client
                .get(format!("http://127.0.0.1:{port}/anything"))
                .with_extension(ctx.clone())
                .send()
                .await
                .map_err(|e| Error::with_error_type("http", e.to_string()))?;
            resp.json::<Value>()
                .await
                .map_err(|e| Error::with_error_type("json", e.to_string()))
        }
    });
    let ctx = WorkflowContext::new()
        .with_telemetry(obs.telemetry())
        .with_baggage("tenant", "acme")
        .with_baggage("plan", "gold tier");
    let py = call.run(&ctx, ()).await.unwrap();
    let _ = child.kill();
    let _ = child.wait();

    assert!(obs.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    let client_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("a CLIENT span");
    let root = spans
        .iter()
        .find(|s| s.name == "primitive.call_python")
        .unwrap();
    assert_eq!(client_span.parent_span_id, root.span_context.span_id());
    assert_eq!(
        py["parent_trace_id"].as_str().unwrap(),
        root.span_context.trace_id().to_string(),
        "the Python server extracted our trace: {py}"
    );
    assert_eq!(py["trace_id"], py["parent_trace_id"]);
    assert_eq!(
        py["parent_span_id"].as_str().unwrap(),
        client_span.span_context.span_id().to_string(),
        "its parent is our CLIENT span"
    );
    assert_eq!(py["parent_is_remote"], true);
    assert_eq!(py["baggage"]["tenant"], "acme");
    assert_eq!(
        py["baggage"]["plan"], "gold tier",
        "percent-encoding understood"
    );
    obs.shutdown(Duration::from_secs(2));
}
