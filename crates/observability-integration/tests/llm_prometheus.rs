//! LLM metrics in a real Prometheus (Debian's `prometheus`, 1 s scrapes,
//! exemplar storage): every query docs/llm.md gives, run as written, with
//! the spec's three checked for their values; and `workflow_run_cost_usd`
//! exemplars from `query_exemplars` that name exported root traces and
//! carry their run's cost. Skips without Prometheus unless CI=true.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use observability_integration::llm::{LlmCall, LlmRequest, LlmResponse, Pricing, TokenUsage};
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use serde_json::Value;
use support::prometheus::Prometheus;
use support::Collect;

const DOC: &str = include_str!("../../../docs/llm.md");

/// Every query line of the ```promql blocks of docs/llm.md.
fn doc_queries() -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in DOC.lines() {
        match line.trim() {
            "```promql" => inside = true,
            "```" => inside = false,
            q if inside && !q.is_empty() && !q.starts_with('#') => out.push(q),
            _ => {}
        }
    }
    out
}

struct Usage(TokenUsage);

impl LlmResponse for Usage {
    fn usage(&self) -> Option<TokenUsage> {
        Some(self.0)
    }
}

fn call(
    workflow: &'static str,
    model: &'static str,
    usage: TokenUsage,
) -> impl PrimitiveExt<String> {
    LlmCall::new(
        LlmRequest::chat("openai", model),
        lambda("provider", move |_q: String| async move {
            Ok::<_, Error>(Usage(usage))
        }),
    )
    .named(workflow)
}

/// The `(labels, value)` pairs of an instant query.
async fn vector(prom: &Prometheus, q: &str) -> Vec<(Value, f64)> {
    let data = prom.api("/api/v1/query", &[("query", q.to_owned())]).await;
    data["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{q}: {data}"))
        .iter()
        .map(|r| {
            (
                r["metric"].clone(),
                r["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn by_model(v: &[(Value, f64)]) -> BTreeMap<String, f64> {
    v.iter()
        .map(|(m, x)| (m["model"].as_str().unwrap_or("").to_owned(), *x))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_queries_and_run_cost_exemplars_in_a_real_prometheus() {
    let sink = Collect::default();
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("llm-prom")
        .prometheus_port(0u16)
        .schedule_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    let obs = ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let addr = obs.report().metrics_addr.unwrap();
    let Some(prom) = Prometheus::start(addr).await else {
        return;
    };
    let started = SystemTime::now();

    let (mini, big, house) = (
        TokenUsage::new(1_000, 200),
        TokenUsage::new(2_000, 500).cache_read(1_000),
        TokenUsage::new(100, 10),
    );
    let pricing = Pricing::builtin();
    let mini_cost = pricing.cost("gpt-4o-mini", &mini).unwrap().total();
    let big_cost = pricing.cost("gpt-4o", &big).unwrap().total();
    assert!(pricing.cost("house-model", &house).is_none(), "unpriced");
    let cheap = call("cheap", "gpt-4o-mini", mini);
    let premium = call("premium", "gpt-4o", big);
    let offline = call("offline", "house-model", house);
    let tel = obs.telemetry();
    let run = |wf: &'static str| {
        let ctx = WorkflowContext::new().with_telemetry(tel.clone());
        let p = match wf {
            "cheap" => &cheap,
            "premium" => &premium,
            _ => &offline,
        };
        async move { p.run(&ctx, "q".into()).await.unwrap() }
    };
    // A run of each, scraped; then more, so rates see an increase: two
    // more cheap runs and one more premium one.
    for wf in ["cheap", "premium", "offline"] {
        run(wf).await;
    }
    prom.wait_for("sum(llm_requests_total)", 3.0).await;
    for wf in ["cheap", "cheap", "premium"] {
        run(wf).await;
    }
    prom.wait_for("sum(llm_requests_total)", 6.0).await;

    // Every documented query is valid and answers.
    let queries = doc_queries();
    assert!(queries.len() >= 3, "{queries:?}");
    for q in &queries {
        assert!(!vector(&prom, q).await.is_empty(), "{q} answered nothing");
    }

    // The spec's three, for their values.
    let spend = by_model(&vector(&prom, "sum by (model) (llm_cost_usd_total)").await);
    assert_eq!(spend.len(), 2, "priced models only: {spend:?}");
    assert!(close(spend["gpt-4o-mini"], 3.0 * mini_cost), "{spend:?}");
    assert!(close(spend["gpt-4o"], 2.0 * big_cost), "{spend:?}");
    let per_call = prom
        .query("sum(llm_cost_usd_total) / sum(llm_requests_total)")
        .await
        .unwrap();
    assert!(
        close(per_call, (3.0 * mini_cost + 2.0 * big_cost) / 6.0),
        "{per_call}"
    );
    let rate = by_model(
        &vector(
            &prom,
            "sum by (model) (rate(llm_tokens_total{token_type=\"total\"}[1h]))",
        )
        .await,
    );
    assert_eq!(rate.len(), 3, "{rate:?}");
    assert!(
        rate["gpt-4o-mini"] > 0.0 && rate["gpt-4o"] > 0.0,
        "{rate:?}"
    );
    assert_eq!(rate["house-model"], 0.0, "no call after its first scrape");
    // What the unfiltered sum does: every token at least twice (each
    // type's series grew in the same proportion, so Prometheus
    // extrapolates them nearly alike).
    let unfiltered = by_model(&vector(&prom, "sum by (model) (rate(llm_tokens_total[1h]))").await);
    for (model, usage) in [("gpt-4o-mini", mini), ("gpt-4o", big)] {
        let twice = unfiltered[model] / rate[model];
        let want = (2 * usage.total() + usage.cache_read) as f64 / usage.total() as f64;
        assert!(
            (twice / want - 1.0).abs() < 0.01,
            "{model}: {twice} vs {want}"
        );
    }

    // Run costs: one observation per run, none for the unpriced one.
    assert_eq!(
        prom.query("workflow_run_cost_usd_count{workflow=\"cheap\"}")
            .await,
        Some(3.0)
    );
    assert_eq!(
        prom.query("workflow_run_cost_usd_count{workflow=\"premium\"}")
            .await,
        Some(2.0)
    );
    assert_eq!(
        prom.query("workflow_run_cost_usd_count{workflow=\"offline\"}")
            .await,
        None,
        "an unpriced run is not a $0 run"
    );

    // Exemplars: the trace ids of exported roots, with their run's cost.
    assert!(obs.force_flush(Duration::from_secs(5)));
    let roots: BTreeMap<String, String> = sink
        .spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.parent_span_id == opentelemetry::trace::SpanId::INVALID)
        .map(|s| {
            let workflow = s
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "primitive.name")
                .map(|kv| kv.value.as_str().into_owned())
                .unwrap();
            (s.span_context.trace_id().to_string(), workflow)
        })
        .collect();
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            .to_string()
    };
    let data = prom
        .api(
            "/api/v1/query_exemplars",
            &[
                ("query", "workflow_run_cost_usd_bucket".to_owned()),
                ("start", secs(started - Duration::from_secs(5))),
                ("end", secs(SystemTime::now() + Duration::from_secs(5))),
            ],
        )
        .await;
    let mut seen = BTreeMap::new();
    for series in data.as_array().unwrap() {
        let workflow = series["seriesLabels"]["workflow"]
            .as_str()
            .unwrap()
            .to_owned();
        for e in series["exemplars"].as_array().unwrap() {
            let trace = e["labels"]["trace_id"].as_str().unwrap();
            let value: f64 = e["value"].as_str().unwrap().parse().unwrap();
            assert_eq!(
                roots.get(trace),
                Some(&workflow),
                "exemplar {trace} names an exported root of {workflow}"
            );
            let want = if workflow == "cheap" {
                mini_cost
            } else {
                big_cost
            };
            assert!(close(value, want), "{workflow}: {value} vs {want}");
            seen.insert(workflow.clone(), ());
        }
    }
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        ["cheap", "premium"],
        "an exemplar per priced workflow: {data}"
    );
    obs.shutdown(Duration::from_secs(2));
}
