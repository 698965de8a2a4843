//! Run with: `cargo run --example cross_service` (no arguments; exits
//! when done). With `OTEL_EXPORTER_OTLP_ENDPOINT` set, both services
//! export there; without, each prints its spans on stderr.
//!
//! One request across two services is one trace. Service A (this process)
//! starts service B as a child process (`--role b --port N`, a free port),
//! then runs a `checkout` workflow a few times; its `reserve` step calls B
//! over HTTP through `ObservabilityMiddleware`. B's `ObservabilityLayer`
//! continues the trace: A's step span → A's CLIENT span → B's SERVER span →
//! B's `reserve_stock` workflow. The correlation id (`order-N`) and the
//! baggage (`tenant=acme`) travel with the request: B logs both (JSON log
//! lines with trace ids, target `service_b`), and A logs the answer
//! (target `service_a`).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use observability_integration::http::{ObservabilityLayer, ObservabilityMiddleware, TracedContext};
use observability_integration::{ObservabilityBuilder, ObservabilityConfig};
use primitives_core::{lambda, lambda_with_context, Error, PrimitiveExt, WorkflowContext};
use serde_json::{json, Value};

enum Role {
    A,
    B { port: u16 },
}

fn role() -> Result<Role, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(Role::A),
        [r, b, p, port] if r == "--role" && b == "b" && p == "--port" => port
            .parse()
            .map(|port| Role::B { port })
            .map_err(|_| format!("--port takes a port number, not {port:?}")),
        _ => Err(format!("unknown arguments {args:?}; run with none")),
    }
}

/// Setup for one service: console spans unless OTLP is configured, JSON
/// logs on stdout, `/metrics` on a free port (the two services must not
/// compete for 9464).
fn setup(
    service: &str,
) -> Result<observability_integration::ObservabilityGuard, Box<dyn std::error::Error>> {
    let from_env = ObservabilityConfig::from_env()?;
    let console = from_env.otlp_endpoint.is_none() && from_env.otlp_traces_endpoint.is_none();
    let config = ObservabilityConfig::builder()
        .service_name(service)
        .prometheus_port(0u16)
        .enable_console_exporter(console)
        .build()?;
    Ok(ObservabilityBuilder::new(config).install())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match role()? {
        Role::A => service_a(),
        Role::B { port } => service_b(port),
    }
}

fn service_b(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let obs = setup("service-b")?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let reserve = lambda_with_context("reserve_stock", |ctx: WorkflowContext, sku: String| async move {
            let tenant = ctx.baggage().get("tenant").map(|v| v.as_str().to_owned());
            tracing::info!(target: "service_b", sku, tenant = tenant.as_deref().unwrap_or(""), "stock reserved");
            Ok::<_, Error>(json!({"sku": sku, "reserved": true, "tenant": tenant}))
        });
        let reserve = std::sync::Arc::new(reserve);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(stop_tx)));
        let app = Router::new()
            .route(
                "/inventory/{sku}",
                post(move |Path(sku): Path<String>, TracedContext(ctx): TracedContext| {
                    let reserve = reserve.clone();
                    async move {
                        match reserve.run(&ctx, sku).await {
                            Ok(v) => Json(v),
                            Err(e) => Json(json!({"error": e.to_string()})),
                        }
                    }
                }),
            )
            .route("/health", get(|| async { "ok" }))
            .route(
                "/shutdown",
                post(move || {
                    if let Some(tx) = stop_tx.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                    async { "bye" }
                }),
            )
            .layer(ObservabilityLayer::new());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    })?;
    // Every span reaches the exporter before the process ends.
    obs.shutdown(Duration::from_secs(5));
    Ok(())
}

/// A free loopback port (bound, read, released).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits for B to exit (killed after 10 s).
fn wait_for(mut b: Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = b.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = b.kill();
    let _ = b.wait();
}

fn service_a() -> Result<(), Box<dyn std::error::Error>> {
    let port = free_port()?;
    let b = Command::new(std::env::current_exe()?)
        .args(["--role", "b", "--port", &port.to_string()])
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let obs = setup("service-a")?;
    let rt = tokio::runtime::Runtime::new()?;
    let outcome = rt.block_on(async {
        let outcome = orders(&base).await;
        // B flushes its spans and exits.
        let _ = reqwest::Client::new()
            .post(format!("{base}/shutdown"))
            .send()
            .await;
        outcome
    });
    wait_for(b);
    let r = obs.shutdown(Duration::from_secs(5));
    eprintln!(
        "service A shutdown {}",
        if r.completed {
            "flushed everything"
        } else {
            "hit its deadline"
        }
    );
    outcome
}

/// A's orders: a `checkout` workflow whose `reserve` step calls B.
async fn orders(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    {
        // B is ready when it answers.
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{base}/health")).await.is_err() {
            if Instant::now() > deadline {
                return Err("service B did not start".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(ObservabilityMiddleware::new())
            .build();
        let url = base.to_owned();
        let reserve = lambda_with_context("reserve", move |ctx: WorkflowContext, sku: String| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let resp = client
                    .post(format!("{url}/inventory/{sku}"))
                    .with_extension(ctx.clone())
                    .send()
                    .await
                    .map_err(|e| Error::with_error_type("http", e.to_string()))?;
                let reply = resp
                    .json::<Value>()
                    .await
                    .map_err(|e| Error::with_error_type("bad_reply", e.to_string()))?;
                // Inside the step: the line carries its trace and correlation id.
                tracing::info!(target: "service_a", reply = %reply, "order reserved");
                Ok::<_, Error>(reply)
            }
        });
        let validate = lambda("validate", |sku: String| async move {
            if sku.is_empty() {
                Err(Error::with_error_type("empty_sku", "no sku"))
            } else {
                Ok(sku)
            }
        });
        let checkout = (validate >> reserve).named("checkout");
        for (i, sku) in ["sku-1", "sku-2", "sku-3"].into_iter().enumerate() {
            let ctx = WorkflowContext::new()
                .with_correlation_id(format!("order-{i}"))
                .with_baggage("tenant", "acme");
            checkout.run(&ctx, sku.to_owned()).await?;
        }
        Ok(())
    }
}
