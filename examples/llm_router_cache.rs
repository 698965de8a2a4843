//! Run with: `cargo run --example llm_router_cache` (no arguments, no
//! network: both models are simulated; exits when done).
//!
//! The integration's enhanced Router picks a cheap model for short
//! questions and an expensive one for long ones; the enhanced Cache in
//! front answers repeated questions without calling either. Each call is an
//! [`LlmCall`]: its tokens and cost by model, the run's sums, and on a
//! cache hit the cost the hit avoided (`llm_cost_avoided_usd_total`).
//!
//! It prints each request's route and cost, then what its own `/metrics`
//! says: the cost lines, tokens by type, the cache hit rate, the cost
//! avoided and the routes taken.

#[path = "llm/sim.rs"]
mod sim;

use std::time::Duration;

use observability_integration::llm::{LlmCall, LlmRequest};
use observability_integration::primitives::{Cache, Router};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};

/// Questions of more words than this go to the expensive model.
const LONG_QUESTION_WORDS: usize = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (obs, addr) = sim::start("llm-router-cache")?;

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let cheap = LlmCall::new(
            LlmRequest::chat("openai", "gpt-4o-mini"),
            sim::model("gpt-4o-mini-2024-07-18", 80, Duration::from_millis(20)),
        )
        .named("cheap_model");
        let expensive = LlmCall::new(
            LlmRequest::chat("openai", "gpt-4o"),
            sim::model("gpt-4o-2024-08-06", 400, Duration::from_millis(120)),
        )
        .named("expensive_model");
        let router = Router::new(|q: &String, _: &WorkflowContext| {
            if q.split_whitespace().count() > LONG_QUESTION_WORDS {
                "expensive".into()
            } else {
                "cheap".into()
            }
        })
        .route("cheap", cheap)
        .route("expensive", expensive)
        .default_route("cheap")
        .named("model_router");
        let cache = Cache::builder(router, |q: &String| q.clone())
            .ttl(Duration::from_secs(600))
            .max_capacity(1_000)
            .named("answer_cache")
            .build();
        let normalize = lambda("normalize", |q: String| async move {
            Ok::<_, Error>(q.trim().to_lowercase())
        });
        let answer = (normalize >> cache).named("answer");

        let long =
            "compare the tail latency of the three storage backends under a write-heavy load";
        for q in [
            "what is p95?",
            long,
            "what is p95?",
            "What is p95?  ",
            "define an slo",
            long,
            "define an slo",
            "what is p95?",
        ] {
            let ctx = WorkflowContext::new();
            answer.run(&ctx, q.to_owned()).await?;
            let totals = ctx.run_totals();
            // Which model answered: the run's per-model cost total.
            let model = totals
                .spent()
                .iter()
                .find_map(|(k, _)| k.strip_prefix("llm.model_cost."))
                .unwrap_or("cache hit")
                .to_owned();
            let cost = totals.get("llm.cost.total").map_or(0.0, |a| a.as_f64());
            let avoided = totals.avoided("llm.cost.total").map_or(0.0, |a| a.as_f64());
            let shown: String = q.chars().take(40).collect();
            println!("{shown:<42} {model:<24} ${cost:.6}  (saved ${avoided:.6})");
        }
        Ok::<_, Error>(())
    })?;

    let metrics = sim::scrape(addr)?;
    sim::print_summary(&metrics);
    println!("  routes:");
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("router_route_selected_total{"))
    {
        println!("    {line}");
    }
    sim::finish(obs);
    Ok(())
}
