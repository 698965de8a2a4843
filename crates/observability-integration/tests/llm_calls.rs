//! LLM calls through `LlmCall` with a simulated provider: one CLIENT span
//! per call with the GenAI and OpenInference attributes and the cost from
//! the config's pricing file (priced, free, unpriced), the run's sums on
//! its root across Parallel branches and Retry attempts, and every LLM
//! series by name and labels on a real scrape.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use observability_integration::llm::{LlmCall, LlmRequest, LlmResponse, TokenUsage};
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use primitives_core::{lambda, Error, PrimitiveExt, Retry, WorkflowContext};
use support::{series_value, Collect};

#[derive(Debug, Clone)]
struct Reply {
    model: String,
    usage: TokenUsage,
}

impl LlmResponse for Reply {
    fn usage(&self) -> Option<TokenUsage> {
        Some(self.usage)
    }
    fn response_model(&self) -> Option<&str> {
        Some(&self.model)
    }
}

/// A simulated provider answering as `model` with `usage`.
fn provider(
    model: &'static str,
    usage: TokenUsage,
) -> impl primitives_core::Primitive<String, Output = Reply> {
    lambda("provider", move |_q: String| async move {
        Ok::<_, Error>(Reply {
            model: model.to_owned(),
            usage,
        })
    })
}

const PRICES: &str = r#"
[models."gpt-4o-mini"]
input = 0.15
output = 0.60
cache_read = 0.075

[models."local-llama"]
input = 0
output = 0
"#;

fn attr<'a>(s: &'a SpanData, key: &str) -> Option<&'a Value> {
    s.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn int(s: &SpanData, key: &str) -> i64 {
    match attr(s, key) {
        Some(Value::I64(v)) => *v,
        other => panic!("{key} on {}: {other:?}", s.name),
    }
}

fn float(s: &SpanData, key: &str) -> f64 {
    match attr(s, key) {
        Some(Value::F64(v)) => *v,
        other => panic!("{key} on {}: {other:?}", s.name),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_calls_are_genai_and_openinference_spans_with_cost_metrics_and_run_sums() {
    let prices = std::env::temp_dir().join(format!("llm-prices-{}.toml", std::process::id()));
    std::fs::write(&prices, PRICES).unwrap();
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("llm-calls")
        .prometheus_port(0u16)
        .llm_pricing_file(prices.to_str().unwrap())
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();

    // 1 M prompt tokens (400 k cached) and 100 k completion tokens.
    let mini = LlmCall::new(
        LlmRequest::chat("openai", "gpt-4o-mini"),
        provider(
            "gpt-4o-mini-2024-07-18",
            TokenUsage::new(1_000_000, 100_000).cache_read(400_000),
        ),
    )
    .named("summarise");
    let free = LlmCall::new(
        LlmRequest::chat("ollama", "local-llama"),
        provider("local-llama", TokenUsage::new(500, 50)),
    )
    .named("draft");
    let unknown = LlmCall::new(
        LlmRequest::chat("acme", "mystery-1"),
        provider("mystery-1", TokenUsage::new(10, 5).reasoning(2)),
    )
    .named("classify");
    // A retried call: the first attempt fails (no usage), the second counts.
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    let flaky = LlmCall::new(
        LlmRequest::chat("openai", "gpt-4o-mini"),
        lambda("provider", move |_q: String| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(Error::with_error_type("rate_limited", "429"))
                } else {
                    Ok(Reply {
                        model: "gpt-4o-mini".into(),
                        usage: TokenUsage::new(1_000, 1_000),
                    })
                }
            }
        }),
    )
    .named("answer");
    let wf = ((mini | free | unknown)
        >> lambda("join", |v: Vec<Reply>| async move {
            Ok::<_, Error>(v[0].model.clone())
        })
        >> Retry::new(flaky).backoff(Duration::from_millis(1), Duration::from_millis(1)))
    .named("research");
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    wf.run(&ctx, "question".into()).await.unwrap();

    // The caller reads the run's sums.
    let totals = ctx.run_totals();
    let count = |k: &str| totals.get(k).and_then(|a| a.as_count());
    assert_eq!(
        count("llm.token_count.prompt"),
        Some(1_000_000 + 500 + 10 + 1_000)
    );
    assert_eq!(
        count("llm.token_count.completion"),
        Some(100_000 + 50 + 5 + 1_000)
    );
    assert_eq!(
        count("llm.token_count.prompt_details.cache_read"),
        Some(400_000)
    );
    assert_eq!(
        count("llm.token_count.completion_details.reasoning"),
        Some(2)
    );
    assert_eq!(count("llm.cost.unpriced_calls"), Some(1));
    let mini_cost = (600_000.0 * 0.15 + 400_000.0 * 0.075 + 100_000.0 * 0.60) / 1e6;
    let answer_cost = (1_000.0 * 0.15 + 1_000.0 * 0.60) / 1e6;
    let run_cost = totals.get("llm.cost.total").unwrap().as_f64();
    assert!(close(run_cost, mini_cost + answer_cost), "{run_cost}");

    assert!(obs.force_flush(Duration::from_secs(5)));
    let spans = sink.spans.lock().unwrap().clone();
    let named = |n: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == n).collect() };
    // Renamed to the response model; kind CLIENT; both conventions.
    let s = named("chat gpt-4o-mini-2024-07-18")[0];
    assert_eq!(s.span_kind, SpanKind::Client);
    for (k, v) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "gpt-4o-mini"),
        ("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
        ("openinference.span.kind", "LLM"),
        ("llm.model_name", "gpt-4o-mini-2024-07-18"),
        ("llm.provider", "openai"),
        ("primitive.name", "summarise"),
    ] {
        assert_eq!(
            attr(s, k).map(|v| v.as_str().into_owned()).as_deref(),
            Some(v),
            "{k}"
        );
    }
    for (k, v) in [
        ("gen_ai.usage.input_tokens", 1_000_000),
        ("gen_ai.usage.output_tokens", 100_000),
        ("gen_ai.usage.cache_read.input_tokens", 400_000),
        ("llm.token_count.prompt", 1_000_000),
        ("llm.token_count.completion", 100_000),
        ("llm.token_count.total", 1_100_000),
        ("llm.token_count.prompt_details.cache_read", 400_000),
    ] {
        assert_eq!(int(s, k), v, "{k}");
    }
    assert!(close(float(s, "llm.cost.total"), mini_cost));
    assert!(close(
        float(s, "llm.cost.prompt") + float(s, "llm.cost.completion"),
        mini_cost
    ));
    // No inner span: the call is one span.
    assert!(named("primitive.provider").is_empty());
    // Free: cost 0. Unpriced: no cost at all.
    let free_span = named("chat local-llama")[0];
    assert_eq!(float(free_span, "llm.cost.total"), 0.0);
    let unpriced = named("chat mystery-1")[0];
    assert!(attr(unpriced, "llm.cost.total").is_none());
    assert_eq!(int(unpriced, "gen_ai.usage.reasoning.output_tokens"), 2);
    // The retried call: the failed attempt recorded no usage.
    let answers = named("chat gpt-4o-mini");
    assert_eq!(answers.len(), 2);
    assert_eq!(
        answers
            .iter()
            .filter(|s| attr(s, "llm.token_count.total").is_some())
            .count(),
        1
    );
    // The root carries the run's sums.
    let root = named("primitive.research")[0];
    assert_eq!(int(root, "llm.token_count.prompt"), 1_001_510);
    assert!(close(
        float(root, "llm.cost.total"),
        mini_cost + answer_cost
    ));
    assert_eq!(int(root, "llm.cost.unpriced_calls"), 1);

    let text = support::scrape(obs.report().metrics_addr.unwrap(), None).await;
    let v = |s: &str| series_value(&text, s).unwrap_or_else(|| panic!("{s} not served:\n{text}"));
    assert_eq!(
        v("llm_requests_total{model=\"gpt-4o-mini-2024-07-18\"}"),
        1.0
    );
    assert_eq!(v("llm_requests_total{model=\"gpt-4o-mini\"}"), 1.0);
    assert_eq!(
        v("llm_tokens_total{model=\"gpt-4o-mini-2024-07-18\",token_type=\"prompt\"}"),
        1_000_000.0
    );
    assert_eq!(
        v("llm_tokens_total{model=\"gpt-4o-mini-2024-07-18\",token_type=\"cache_read\"}"),
        400_000.0
    );
    assert_eq!(
        v("llm_tokens_total{model=\"gpt-4o-mini-2024-07-18\",token_type=\"total\"}"),
        1_100_000.0
    );
    assert_eq!(
        v("llm_tokens_total{model=\"mystery-1\",token_type=\"reasoning\"}"),
        2.0
    );
    assert!(close(
        v("llm_cost_usd_total{model=\"gpt-4o-mini-2024-07-18\"}"),
        mini_cost
    ));
    assert_eq!(v("llm_cost_usd_total{model=\"local-llama\"}"), 0.0);
    assert!(
        !text.contains("llm_cost_usd_total{model=\"mystery-1\"}"),
        "never $0 for unpriced"
    );
    assert_eq!(v("llm_unpriced_requests_total{model=\"mystery-1\"}"), 1.0);
    assert_eq!(
        v("gen_ai_client_token_usage_count{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o-mini\",gen_ai_response_model=\"gpt-4o-mini-2024-07-18\",gen_ai_token_type=\"input\"}"),
        1.0
    );
    assert_eq!(
        v("gen_ai_client_token_usage_bucket{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o-mini\",gen_ai_response_model=\"gpt-4o-mini-2024-07-18\",gen_ai_token_type=\"input\",le=\"6.7108864e+07\"}"),
        1.0
    );
    assert_eq!(
        v("gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"ollama\",gen_ai_request_model=\"local-llama\",gen_ai_response_model=\"local-llama\"}"),
        1.0
    );
    // The run's cost, once per run, by workflow.
    assert_eq!(v("workflow_run_cost_usd_count{workflow=\"research\"}"), 1.0);
    assert!(close(
        v("workflow_run_cost_usd_sum{workflow=\"research\"}"),
        mini_cost + answer_cost
    ));
    assert_eq!(
        v("workflow_run_cost_usd_bucket{workflow=\"research\",le=\"0.1\"}"),
        0.0
    );
    assert_eq!(
        v("workflow_run_cost_usd_bucket{workflow=\"research\",le=\"0.5\"}"),
        1.0
    );
    assert!(text.contains("# TYPE workflow_run_cost_usd histogram"));
    // With the root's trace id as its exemplar (OpenMetrics).
    let om = support::scrape(
        obs.report().metrics_addr.unwrap(),
        Some("application/openmetrics-text"),
    )
    .await;
    let trace_id = root.span_context.trace_id().to_string();
    let line = om
        .lines()
        .find(|l| {
            l.starts_with("workflow_run_cost_usd_bucket{")
                && l.contains("le=\"0.5\"")
                && l.contains("workflow=\"research\"")
        })
        .unwrap_or_else(|| panic!("no bucket line:\n{om}"));
    assert!(
        line.contains(&format!("# {{trace_id=\"{trace_id}\"}}")),
        "exemplar of the root's trace: {line}"
    );
    support::promtool_accepts(&text);
    obs.shutdown(Duration::from_secs(2));
    std::fs::remove_file(prices).unwrap();
}
