//! Run with: `cargo run --example full_stack`, then open the printed URL
//! (http://127.0.0.1:9464/). It serves until Ctrl-C (SIGINT) or SIGTERM;
//! `-- --exit` exits right after its requests.
//!
//! The "full-stack observability" pattern of TTA.dev's Python original, in
//! Rust (its Pattern 1). One call sets up traces, metrics and logs; a
//! workflow `validate >> cache(timeout(router(fast | quality))) >> format`,
//! built from the integration's enhanced primitives (route, eviction,
//! timeout and operation metrics on top of the core ones), handles four
//! requests, `req-0` … `req-3` (the last, a blank prompt, fails). With no
//! backend, the runs are in the embedded trace viewer at
//! http://127.0.0.1:9464/ (each run's span tree, what the cache and router
//! did, its log lines), JSON log lines with trace ids go to stdout, and
//! Prometheus metrics are served on http://127.0.0.1:9464/metrics (an
//! excerpt is printed). Set `OTEL_EXPORTER_OTLP_ENDPOINT` (for example
//! `http://localhost:4317`, Jaeger or Tempo) to export over OTLP as well.

use std::io::{Read, Write};
use std::time::Duration;

use observability_integration::primitives::{Cache, Router, Timeout};
use observability_integration::{
    global_report, initialize_observability, shutdown_observability, ObservabilityConfig,
};
use primitives_core::{lambda, lambda_with_context, Error, PrimitiveExt, WorkflowContext};

/// The run total of tokens (the OpenInference name the viewer shows).
const TOKENS: &str = "llm.token_count.total";

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut exit = false;
    for arg in std::env::args().skip(1) {
        if arg == "--exit" {
            exit = true;
        } else {
            return Err(format!("unknown argument {arg:?}; accepted: --exit").into());
        }
    }
    // 1. Initialize observability: defaults < env (OTEL_*, OBSERVABILITY_*) < code.
    // A bad value (`OBSERVABILITY_PROMETHEUS_ENDPOINT=/healthz`, say) is an
    // error naming the variable, the value and what is accepted.
    let from_env = match ObservabilityConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2);
        }
    };
    // Spans on stderr only when there is nowhere else to see them.
    let console = from_env.enable_console_exporter
        || (!from_env.exports_otlp_traces() && !from_env.viewer_enabled());
    let config = ObservabilityConfig::builder()
        .service_name(if from_env.service_name == "unknown_service" {
            "user-service".to_string()
        } else {
            from_env.service_name.clone()
        })
        .enable_console_exporter(console)
        .build()?;
    let ok = initialize_observability(config);
    let viewer = global_report().and_then(|r| r.viewer_url());
    if let Some(url) = &viewer {
        eprintln!("\nSee the runs: open {url}");
        eprintln!(
            "  metrics (p50/p95/p99 per primitive): {url}dashboard; other processes' spans: OTLP/HTTP to {url}v1/traces"
        );
    }
    eprintln!(
        "\n{}",
        global_report().map(|r| r.to_string()).unwrap_or_default()
    );
    if !ok {
        eprintln!("(continuing: what did start keeps running)\n");
    }

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // 2. Build an observable workflow.
        // Each model call adds its tokens to the run's totals: the root span
        // carries them, and a cache hit counts what it avoided.
        let fast = lambda_with_context("llm_fast", |ctx: WorkflowContext, prompt: String| async move {
            tracing::info!(model = "fast", prompt_chars = prompt.len(), "calling the model");
            tokio::time::sleep(Duration::from_millis(20)).await;
            ctx.add_to_run(TOKENS, 40u64);
            Ok::<_, Error>(format!("fast answer to {prompt:?}"))
        });
        let quality = lambda_with_context("llm_quality", |ctx: WorkflowContext, prompt: String| async move {
            tracing::info!(model = "quality", prompt_chars = prompt.len(), "calling the model");
            tokio::time::sleep(Duration::from_millis(120)).await;
            ctx.add_to_run(TOKENS, 400u64);
            Ok::<_, Error>(format!("careful answer to {prompt:?}"))
        });
        let router = Router::new(|p: &String, _: &WorkflowContext| {
            if p.len() > 30 { "quality".into() } else { "fast".into() }
        })
        .route("fast", fast)
        .route("quality", quality)
        .default_route("fast")
        .named("model_router");
        let bounded = Timeout::new(router, Duration::from_secs(2)).named("llm_timeout");
        let cache = Cache::builder(bounded, |p: &String| p.clone())
            .ttl(Duration::from_secs(3600))
            .named("answer_cache")
            .build();
        let validate = lambda("input_validator", |p: String| async move {
            if p.trim().is_empty() {
                tracing::warn!("rejecting a blank prompt");
                Err(Error::with_error_type("empty_prompt", "the prompt is empty"))
            } else {
                Ok(p.trim().to_string())
            }
        });
        let format = lambda("output_formatter", |a: String| async move { Ok::<_, Error>(a.to_uppercase()) });
        let workflow = (validate >> cache >> format).named("handle_request").into_workflow();

        // 3. Execute with full observability.
        for (i, prompt) in ["hello", "hello", "explain the borrow checker in detail please", "   "]
            .into_iter()
            .enumerate()
        {
            let ctx = WorkflowContext::new()
                .with_correlation_id(format!("req-{i}"))
                .with_data("user_id", "user-789");
            tracing::info!(correlation_id = %ctx.correlation_id(), "request received");
            let result = workflow.run(&ctx, prompt.to_string()).await;
            let totals = ctx.run_totals();
            let tokens = totals.get(TOKENS).map_or(0.0, |a| a.as_f64());
            let saved = totals.avoided(TOKENS).map_or(0.0, |a| a.as_f64());
            match result {
                Ok(answer) => tracing::info!(correlation_id = %ctx.correlation_id(), %answer, tokens, tokens_saved_by_cache = saved, "request completed"),
                Err(e) => tracing::error!(correlation_id = %ctx.correlation_id(), error = %e, "request failed"),
            }
        }
    });

    // What Prometheus would scrape.
    if let Some(addr) = global_report().and_then(|r| r.metrics_addr) {
        let mut s = std::net::TcpStream::connect(addr)?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        eprintln!("\nexcerpt of http://{addr}/metrics:");
        for line in body.lines().filter(|l| {
            l.starts_with("primitive_executions_total")
                || l.starts_with("cache_hit")
                || l.starts_with("cache_miss")
                || l.starts_with("cache_entries")
                || l.starts_with("router_route_selected_total")
                || l.starts_with("timeout_total")
                || l.starts_with("workflow_runs_total")
                || l.starts_with("operation_duration_seconds_count")
        }) {
            eprintln!("  {line}");
        }
    }
    if let (Some(url), false) = (&viewer, exit) {
        eprintln!("\nThe runs are at {url} (req-3 failed: filter by it). Serving until Ctrl-C or SIGTERM.");
        rt.block_on(stopped());
        eprintln!("stopping");
    }
    if let Some(r) = shutdown_observability(Duration::from_secs(5)) {
        eprintln!(
            "shutdown {}",
            if r.completed {
                "flushed everything"
            } else {
                "hit its deadline"
            }
        );
        // Every span accounted for: ended = exported + dropped + in flight.
        for (pipeline, c) in &r.spans {
            eprintln!(
                "spans via {pipeline}: ended {}, exported {}, dropped {}, in flight {}",
                c.ended,
                c.exported,
                c.dropped(),
                c.in_flight
            );
        }
    }
    Ok(())
}
