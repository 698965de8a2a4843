//! A workload that exercises every metric the dashboards, the SLO rules
//! and docs/metrics.md name: `handle_request` breaking each of its
//! objectives (half failing, a quarter over 2 s, each run over $0.05),
//! `checkout` breaking its own, a retry, a fallback, an enhanced timeout
//! that expires, a circuit breaker that opens, caches with hits, avoided
//! cost and coalesced misses, the enhanced router in front of a priced and
//! an unpriced model, a run over its budget, and a user metric past the
//! cardinality limit. Two rounds, with scrapes between them, so rates see
//! increases.

use std::time::Duration;

use observability_integration::llm::{LlmCall, LlmRequest, LlmResponse, TokenUsage};
use observability_integration::primitives::{Cache, Router};
use observability_integration::Observability;
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use primitives_core::{
    lambda, CircuitBreaker, Error, Fallback, PrimitiveExt, Retry, WorkflowContext,
};

#[derive(Clone)]
struct Usage(TokenUsage);

impl LlmResponse for Usage {
    fn usage(&self) -> Option<TokenUsage> {
        Some(self.0)
    }
}

/// Runs the workload through `obs` (its Prometheus scraped every second).
pub(crate) async fn exercise(obs: &Observability) {
    let tel = obs.telemetry();
    let ctx = || WorkflowContext::new().with_telemetry(tel.clone());

    // An LLM call priced at about $0.25 (100k prompt tokens of gpt-4o),
    // behind an enhanced cache: hits count the cost they avoided.
    let llm = LlmCall::new(
        LlmRequest::chat("openai", "gpt-4o"),
        lambda("provider", |_q: String| async move {
            Ok::<_, Error>(Usage(TokenUsage::new(100_000, 500)))
        }),
    )
    .named("answer_llm");
    let cache = Cache::builder(llm, |q: &String| q.clone())
        .named("answer_cache")
        .build();
    // handle_request: breaks every objective of slo.yml — half fail, a
    // quarter run over 2 s, each costs more than $0.05.
    let handle = lambda("validate", |n: u32| async move {
        match n % 4 {
            0 | 1 => Err(Error::with_error_type(
                "invalid",
                format!("request {n} rejected"),
            )),
            2 => {
                tokio::time::sleep(Duration::from_millis(2100)).await;
                Ok(format!("q{}", n / 2))
            }
            _ => Ok(format!("q{}", n / 2)),
        }
    }) >> cache;
    let handle = handle.named("handle_request").into_workflow();
    // checkout: a third fail, the rest take 600 ms (the objective is
    // 95 % within 500 ms).
    let checkout = lambda("checkout", |n: u32| async move {
        if n % 3 == 0 {
            return Err(Error::with_error_type("out_of_stock", "none left"));
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        Ok::<_, Error>(n)
    })
    .into_workflow();
    // The primitives: a retry that needs a second attempt, a fallback, a
    // timeout that expires, a circuit breaker that opens.
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let a = attempts.clone();
    let flaky = lambda("flaky", move |n: u32| {
        let first = a.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2 == 0;
        async move {
            if first {
                Err(Error::with_error_type("transient", "try again"))
            } else {
                Ok(n)
            }
        }
    });
    let retried = Retry::new(flaky)
        .max_attempts(3)
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .named("retried");
    let down = lambda("down", |_n: u32| async move {
        Err::<u32, _>(Error::with_error_type("down", "unavailable"))
    });
    let backup = lambda("backup", |n: u32| async move { Ok::<_, Error>(n) });
    let fallback = Fallback::new(down, backup).named("with_backup");
    let slow = lambda("slow", |n: u32| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<_, Error>(n)
    });
    // The enhanced Timeout: timeout_total beside the core's counter.
    let bounded =
        observability_integration::primitives::Timeout::new(slow, Duration::from_millis(10))
            .named("bounded");
    let broken = lambda("broken", |_n: u32| async move {
        Err::<u32, _>(Error::with_error_type("down", "unavailable"))
    });
    let breaker = CircuitBreaker::new(broken)
        .failure_threshold(2)
        .named("breaker");
    let others = (retried >> fallback).named("resilient").into_workflow();
    // The enhanced Router in front of a priced and an unpriced model; a
    // cache whose concurrent misses on one key coalesce; a run over its
    // budget.
    let model = |name: &'static str, model: &'static str| {
        LlmCall::new(
            LlmRequest::chat("openai", model),
            lambda("provider", |_q: String| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, Error>(Usage(TokenUsage::new(1_000, 100)))
            }),
        )
        .named(name)
    };
    let router = Router::new(|q: &String, _: &WorkflowContext| {
        if q.starts_with("local") {
            "house".into()
        } else {
            "cloud".into()
        }
    })
    .route("cloud", model("cloud_llm", "gpt-4o-mini"))
    .route("house", model("house_llm", "house-model"))
    .named("model_router");
    let coalescing = Cache::builder(router, |q: &String| q.clone())
        .named("shared_cache")
        .build();
    let ask = (lambda("ask", |q: String| async move { Ok::<_, Error>(q) }) >> coalescing)
        .named("ask")
        .into_workflow();
    // A user metric with more label sets than metric_cardinality_limit.
    let meter = obs.meter_provider().unwrap().meter("dashboards-test");
    let hits = meter.u64_counter("user_hits").build();

    for round in 0..2u32 {
        let mut runs = Vec::new();
        for n in 0..12u32 {
            let (h, c) = (&handle, ctx());
            runs.push(async move {
                let _ = h.run(&c, n + round * 12).await;
            });
        }
        futures_util::future::join_all(runs).await;
        let checkouts = (0..6u32).map(|n| {
            let (w, c) = (&checkout, ctx());
            async move {
                let _ = w.run(&c, n).await;
            }
        });
        futures_util::future::join_all(checkouts).await;
        let asks = ["same question", "same question", "local question"].map(|q| {
            let (w, c) = (&ask, ctx());
            async move {
                let _ = w.run(&c, format!("{q} {round}")).await;
            }
        });
        futures_util::future::join_all(asks).await;
        let spent = WorkflowContext::new()
            .with_telemetry(tel.clone())
            .with_budget(primitives_core::Budget::usd(0.000001));
        spent.add_to_run("llm.cost.total", 1.0);
        let _ = ask.run(&spent, format!("over budget {round}")).await;
        for n in 0..4u32 {
            let _ = others.run(&ctx(), n).await;
            let _ = bounded.run(&ctx(), n).await;
            let _ = breaker.run(&ctx(), n).await;
        }
        for u in 0..300 {
            hits.add(1, &[KeyValue::new("user", format!("u{u}"))]);
        }
        // Two scrapes at least between rounds, so rates see increases.
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
}
