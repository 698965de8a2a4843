//! Run with: `cargo run --example w3c_test_service -- --port 5000`
//!
//! A test service for the official W3C Trace Context test harness
//! (github w3c/trace-context, folder `test/`): it binds 127.0.0.1, answers
//! any GET (the harness's readiness probe is `GET /`), and serves
//! `POST /test`, whose body is a JSON array of `{"url": …, "arguments":
//! […]}`: for each element, one after another, it POSTs `arguments` (as
//! JSON) to `url` as a participating service (same trace, a new span id:
//! the call is a CLIENT span under the request's SERVER span), and it
//! answers 200 even when a callback fails. See docs/propagation.md for
//! running the harness against it.

use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use observability_integration::http::{ObservabilityLayer, ObservabilityMiddleware, TracedContext};
use observability_integration::{ObservabilityBuilder, ObservabilityConfig};
use serde_json::Value;

fn port_arg() -> Result<u16, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(5000),
        [flag, port] if flag == "--port" => port
            .parse()
            .map_err(|_| format!("--port takes a port number, not {port:?}")),
        _ => Err(format!("unknown arguments {args:?}; accepted: --port N")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = port_arg()?;
    // No metrics server (it would compete for 9464), no log lines.
    let config = ObservabilityConfig::builder()
        .service_name("w3c-test-service")
        .enable_prometheus(false)
        .enable_viewer(false)
        .build()?;
    let _obs = ObservabilityBuilder::new(config).logs(false).install();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ObservabilityMiddleware::new())
        .build();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let test = move |TracedContext(ctx): TracedContext, Json(body): Json<Value>| {
            let client = client.clone();
            async move {
                for case in body.as_array().into_iter().flatten() {
                    let (Some(url), Some(arguments)) =
                        (case["url"].as_str(), case.get("arguments"))
                    else {
                        continue;
                    };
                    // A failed callback is the harness's to see: answer 200.
                    let _ = client
                        .post(url)
                        .json(arguments)
                        .with_extension(ctx.clone())
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                }
                "ok"
            }
        };
        let app = Router::new()
            .route("/test", post(test))
            .fallback(get(|| async { "ok" }))
            .layer(ObservabilityLayer::new());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        eprintln!("w3c test service on http://{}/test", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(())
}
