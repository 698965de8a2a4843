//! Run budgets stop LLM calls before a run overspends, and the enhanced
//! cache counts the LLM cost its hits avoided, by model: on a real scrape.

mod support;

use std::time::Duration;

use observability_integration::llm::{LlmCall, LlmRequest, LlmResponse, TokenUsage};
use observability_integration::primitives::Cache;
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry::Value;
use primitives_core::{lambda, Budget, Error, Primitive, PrimitiveExt, WorkflowContext};
use support::{series_value, Collect};

#[derive(Debug, Clone)]
struct Reply(TokenUsage);

impl LlmResponse for Reply {
    fn usage(&self) -> Option<TokenUsage> {
        Some(self.0)
    }
}

/// A simulated gpt-4o-mini call of 100 k prompt and 10 k completion
/// tokens: $0.015 + $0.006 = $0.021 at the built-in prices.
fn call(name: &'static str) -> impl Primitive<String, Output = Reply> {
    LlmCall::new(
        LlmRequest::chat("openai", "gpt-4o-mini"),
        lambda("provider", |_q: String| async move {
            Ok::<_, Error>(Reply(TokenUsage::new(100_000, 10_000)))
        }),
    )
    .named(name)
}

const CALL_USD: f64 = (100_000.0 * 0.15 + 10_000.0 * 0.60) / 1e6;

fn setup(sink: &Collect) -> observability_integration::Observability {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("llm-budgets")
        .prometheus_port(0u16)
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .logs(false)
        .build()
}

async fn scrape(obs: &observability_integration::Observability) -> String {
    support::scrape(obs.report().metrics_addr.unwrap(), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_fails_the_next_call_fast_and_is_counted() {
    let sink = Collect::default();
    let obs = setup(&sink);
    let wf = (lambda_call(call("one")).then(lambda_call(call("two")))
        >> lambda_call(call("three"))
        >> lambda_call(call("four")))
    .named("agent");
    // Room for two calls and a half: the third starts under the limit and
    // overshoots it; the fourth is refused.
    let ctx = WorkflowContext::new()
        .with_telemetry(obs.telemetry())
        .with_budget(Budget::usd(2.5 * CALL_USD));
    let err = wf.run(&ctx, "task".into()).await.unwrap_err();
    assert_eq!(err.error_type(), "budget_exceeded");
    assert!(err.to_string().contains("llm.cost.total"), "{err}");
    let spent = ctx.run_totals().get("llm.cost.total").unwrap().as_f64();
    assert!(
        (spent - 3.0 * CALL_USD).abs() < 1e-12,
        "three calls ran: {spent}"
    );
    let text = scrape(&obs).await;
    assert_eq!(
        series_value(&text, "llm_budget_exceeded_total{workflow=\"agent\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series_value(&text, "llm_requests_total{model=\"gpt-4o-mini\"}"),
        Some(3.0)
    );
    // The refused call's span says why.
    assert!(obs.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    let refused: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.attributes.iter().any(|kv| {
                kv.key.as_str() == "error.type" && kv.value == Value::from("budget_exceeded")
            })
        })
        .map(|s| s.name.to_string())
        .collect();
    assert!(
        refused.contains(&"chat gpt-4o-mini".to_owned()),
        "{refused:?}"
    );

    // A token budget: the first call already spends 110 k of 100 k.
    let ctx = WorkflowContext::new()
        .with_telemetry(obs.telemetry())
        .with_budget(Budget::tokens(100_000));
    let two = (call("a").then(lambda("again", |r: Reply| async move {
        Ok::<_, Error>(format!("{r:?}"))
    })) >> call("b"))
    .named("tokens");
    let err = two.run(&ctx, "x".into()).await.unwrap_err();
    assert_eq!(err.error_type(), "budget_exceeded");
    assert_eq!(
        ctx.run_totals()
            .get("llm.token_count.total")
            .and_then(|a| a.as_count()),
        Some(110_000)
    );
    obs.shutdown(Duration::from_secs(2));
}

/// An LLM call in a `String -> String` sequence.
fn lambda_call(
    c: impl Primitive<String, Output = Reply> + 'static,
) -> impl Primitive<String, Output = String> {
    let c = std::sync::Arc::new(c);
    primitives_core::lambda_with_context("turn", move |ctx: WorkflowContext, q: String| {
        let c = c.clone();
        async move {
            c.run(&ctx, q.clone()).await?;
            Ok::<_, Error>(q)
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hits_count_the_llm_cost_they_avoided_by_model() {
    let sink = Collect::default();
    let obs = setup(&sink);
    let cached = Cache::builder(call("answer"), |q: &String| q.clone())
        .named("answers")
        .build();
    let first = WorkflowContext::new().with_telemetry(obs.telemetry());
    cached.run(&first, "same question".into()).await.unwrap();
    let second = WorkflowContext::new().with_telemetry(obs.telemetry());
    cached.run(&second, "same question".into()).await.unwrap();
    let avoided = second
        .run_totals()
        .avoided("llm.cost.total")
        .unwrap()
        .as_f64();
    assert!((avoided - CALL_USD).abs() < 1e-12, "{avoided}");
    assert_eq!(
        second.run_totals().get("llm.cost.total"),
        None,
        "a hit spends nothing"
    );
    let text = scrape(&obs).await;
    let v = series_value(&text, "llm_cost_avoided_usd_total{model=\"gpt-4o-mini\"}")
        .unwrap_or_else(|| panic!("{text}"));
    assert!((v - CALL_USD).abs() < 1e-12, "{v}");
    assert_eq!(
        series_value(&text, "llm_requests_total{model=\"gpt-4o-mini\"}"),
        Some(1.0)
    );
    // Kept apart from the provider's own prompt caching (token_type cache_read).
    assert!(!text.contains("token_type=\"cache_read\""), "{text}");
    obs.shutdown(Duration::from_secs(2));
}
