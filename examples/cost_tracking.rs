//! Run with: `cargo run --example cost_tracking` (no arguments, no
//! network: the LLM is simulated; exits when done).
//!
//! The "cost tracking" pattern of TTA.dev's Python original (its Pattern 3:
//! `llm_requests_total`, `llm_tokens_total{model, token_type}`,
//! `llm_cost_usd_total{model}`), with this crate's API. Where the original
//! counts by hand around each call, here an [`LlmCall`] wraps the step that
//! talks to the provider: one GenAI span per call (both the OpenTelemetry
//! GenAI and the OpenInference attributes), the tokens by type, the cost
//! from the pricing table, the run's sums on its root span, and a budget
//! that stops a run before it overspends. The enhanced cache in front of
//! the call counts what its hits saved.
//!
//! It prints each run's cost and tokens as the caller reads them, then the
//! LLM series from its own `/metrics` (on a free loopback port).

#[path = "llm/sim.rs"]
mod sim;

use std::time::Duration;

use observability_integration::llm::{LlmCall, LlmRequest};
use observability_integration::primitives::Cache;
use primitives_core::{lambda, Budget, Error, PrimitiveExt, RunTotals, WorkflowContext};
use sim::Completion;

/// One line per run: its cost, tokens, and what a cache hit avoided.
fn print_run(what: &str, totals: &RunTotals, outcome: &str) {
    // A run whose only calls were unpriced has no cost total: unknown,
    // not $0. A run that made no call (a cache hit) spent $0.
    let cost = match (
        totals.get("llm.cost.total"),
        totals.get("llm.cost.unpriced_calls"),
    ) {
        (Some(c), _) => format!("${:.6}", c.as_f64()),
        (None, Some(_)) => "unpriced".to_owned(),
        (None, None) => format!("${:.6}", 0.0),
    };
    let tokens = totals
        .get("llm.token_count.total")
        .map_or(0.0, |a| a.as_f64());
    let avoided = totals.avoided("llm.cost.total").map_or(0.0, |a| a.as_f64());
    println!("{what:<40} {cost:>9}  {tokens:>5} tokens  (cache saved ${avoided:.6})  {outcome}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (obs, addr) = sim::start("cost-tracking")?;

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // Pattern 3's `tracked_llm_call`: the provider step, observed. The
        // provider answers as a dated model; the pricing table's alias
        // prices it as gpt-4o-mini.
        let tracked = LlmCall::new(
            LlmRequest::chat("openai", "gpt-4o-mini"),
            sim::model("gpt-4o-mini-2024-07-18", 120, Duration::from_millis(30)),
        )
        .named("tracked_llm_call");
        let cache = Cache::builder(tracked, |prompt: &String| prompt.clone())
            .ttl(Duration::from_secs(600))
            .named("answer_cache")
            .build();
        let normalize = lambda("normalize", |p: String| async move {
            Ok::<_, Error>(p.trim().to_lowercase())
        });
        let answer = (normalize >> cache).named("answer_question");
        for prompt in [
            "What is a span?",
            "How do exemplars work?",
            "What is a span?",
            "What is a span?",
        ] {
            let ctx = WorkflowContext::new().with_budget(Budget::usd(0.01));
            let outcome = match answer.run(&ctx, prompt.to_owned()).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("failed: {e}"),
            };
            print_run(
                &format!("answer_question {prompt:?}"),
                &ctx.run_totals(),
                &outcome,
            );
        }

        // A run of three calls to an expensive model under a budget of
        // $0.004: two calls spend it, the third is refused before it goes
        // out (error type budget_exceeded).
        let section = |name: &'static str| {
            LlmCall::new(
                LlmRequest::chat("openai", "gpt-4o"),
                sim::model("gpt-4o", 300, Duration::from_millis(50)),
            )
            .named(name)
                >> lambda("next_prompt", |c: Completion| async move {
                    Ok::<_, Error>(format!("continue after: {}", c.text))
                })
        };
        let report =
            (section("outline") >> section("body") >> section("summary")).named("draft_report");
        let ctx = WorkflowContext::new().with_budget(Budget::usd(0.004));
        let outcome = match report
            .run(&ctx, "quarterly latency report".to_owned())
            .await
        {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("stopped ({}): {e}", e.error_type()),
        };
        print_run("draft_report (budget $0.004)", &ctx.run_totals(), &outcome);

        // A model the pricing table doesn't know: its calls are counted as
        // unpriced (one warning per model), never as $0.
        let house = LlmCall::new(
            LlmRequest::chat("self_hosted", "house-llm"),
            sim::model("house-llm", 80, Duration::from_millis(10)),
        )
        .named("house_llm");
        let ctx = WorkflowContext::new();
        house.run(&ctx, "classify this ticket".to_owned()).await?;
        let unpriced = ctx
            .run_totals()
            .get("llm.cost.unpriced_calls")
            .map_or(0.0, |a| a.as_f64());
        print_run(
            "house_llm (not in the pricing table)",
            &ctx.run_totals(),
            &format!("{unpriced} unpriced call"),
        );
        Ok::<_, Error>(())
    })?;

    sim::print_summary(&sim::scrape(addr)?);
    sim::finish(obs);
    Ok(())
}
