//! End to end against a real OTLP receiver that no one here wrote (Arize
//! Phoenix): spans over gRPC and HTTP/protobuf, one trace per workflow run
//! with correct parent links, 2000 queued spans flushed by a shutdown on
//! a current_thread runtime, and the backend dying mid-run.
//!
//! Needs Phoenix (scripts/install-backends.sh); skips without it unless
//! CI=true.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use observability_integration::llm::{LlmCall, LlmRequest, LlmResponse, TokenUsage};
use observability_integration::{
    EnvSource, ObservabilityBuilder, ObservabilityConfig, OtlpProtocol,
};
use primitives_core::{lambda, Error, MockPrimitive, PrimitiveExt, Retry, WorkflowContext};
use serde_json::Value;
use support::chat::{Chat, CHAT_SPAN};
use support::phoenix::Phoenix;
/// Spans queued before the shutdown that must flush them all. Phoenix
/// ingests a few hundred spans a second on a 2-core machine, so more costs
/// CI minutes and shows nothing 2000 doesn't.
const BULK: u64 = 2000;

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    let attrs = &span["attributes"];
    if let Some(v) = attrs.get(key) {
        return Some(v);
    }
    key.split('.').try_fold(attrs, |v, part| v.get(part))
}

fn cfg(
    endpoint: String,
    protocol: OtlpProtocol,
    service: &str,
) -> observability_integration::ConfigBuilder {
    ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name(service)
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .enable_prometheus(false)
        .enable_viewer(false)
        .metrics_export_interval(Duration::from_secs(3600))
        .schedule_delay(Duration::from_millis(100))
}

/// Runs `a >> retry(flaky) >> (c | d)` three times; returns the correlation ids.
async fn run_composed(obs: &observability_integration::Observability, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..3 {
        let wf = (lambda("a", |x: u64| async move { Ok::<_, Error>(x) })
            >> Retry::new(
                MockPrimitive::<u64, u64>::returning(1)
                    .then_fail("transient")
                    .named("flaky"),
            )
            .backoff(Duration::from_millis(1), Duration::from_millis(1))
            >> (lambda("c", |x: u64| async move { Ok::<_, Error>(x) })
                | lambda("d", |x: u64| async move { Ok::<_, Error>(x) })))
        .named("composed");
        let id = format!("{prefix}-{i}");
        let ctx = WorkflowContext::new()
            .with_correlation_id(id.clone())
            .with_workflow_id("phoenix-e2e")
            .with_telemetry(obs.telemetry());
        wf.run(&ctx, i).await.unwrap();
        ids.push(id);
    }
    ids
}

/// A simulated provider's reply: just its usage.
struct Usage(TokenUsage);

impl LlmResponse for Usage {
    fn usage(&self) -> Option<TokenUsage> {
        Some(self.0)
    }
}

fn check_traces(spans: &[Value], ids: &[String]) {
    let mut by_trace: HashMap<String, Vec<&Value>> = HashMap::new();
    for s in spans {
        by_trace
            .entry(s["context"]["trace_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(s);
    }
    let mut seen_traces = Vec::new();
    for id in ids {
        let root = spans
            .iter()
            .find(|s| {
                s["name"] == "primitive.composed"
                    && attr(s, "workflow.correlation_id").and_then(Value::as_str) == Some(id)
            })
            .unwrap_or_else(|| panic!("root span of run {id}"));
        assert!(root["parent_id"].is_null(), "root has no parent");
        assert_eq!(
            attr(root, "workflow.id").and_then(Value::as_str),
            Some("phoenix-e2e")
        );
        let trace = root["context"]["trace_id"].as_str().unwrap().to_owned();
        let members = &by_trace[&trace];
        // composed, a, retry, 2 attempts, parallel, c, d
        assert_eq!(
            members.len(),
            8,
            "run {id}: one trace with every span: {members:#?}"
        );
        let id_of = |name: &str| -> Vec<&str> {
            members
                .iter()
                .filter(|s| s["name"] == name)
                .map(|s| s["context"]["span_id"].as_str().unwrap())
                .collect()
        };
        let parent_of = |name: &str| -> Vec<&str> {
            members
                .iter()
                .filter(|s| s["name"] == name)
                .map(|s| s["parent_id"].as_str().unwrap_or(""))
                .collect()
        };
        let root_id = root["context"]["span_id"].as_str().unwrap();
        for (step, name) in ["primitive.a", "primitive.retry", "primitive.parallel"]
            .iter()
            .enumerate()
        {
            assert_eq!(parent_of(name), vec![root_id], "{name} under root");
            let s = members.iter().find(|s| s["name"] == *name).unwrap();
            assert_eq!(
                attr(s, "step.index").and_then(Value::as_i64),
                Some(step as i64)
            );
        }
        assert_eq!(
            parent_of("primitive.flaky"),
            vec![id_of("primitive.retry")[0]; 2],
            "both attempts under retry"
        );
        let par = id_of("primitive.parallel")[0];
        assert_eq!(parent_of("primitive.c"), vec![par]);
        assert_eq!(parent_of("primitive.d"), vec![par]);
        let failed_attempt = members
            .iter()
            .find(|s| {
                s["name"] == "primitive.flaky"
                    && attr(s, "retry.attempt").and_then(Value::as_i64) == Some(1)
            })
            .unwrap();
        assert_eq!(failed_attempt["status_code"], "ERROR");
        seen_traces.push(trace);
    }
    seen_traces.sort();
    seen_traces.dedup();
    assert_eq!(seen_traces.len(), ids.len(), "one trace per run");
}

#[test]
fn phoenix_end_to_end() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(mut phoenix) = rt.block_on(Phoenix::start()) else {
        return;
    };

    // gRPC and HTTP/protobuf.
    for (protocol, endpoint, prefix) in [
        (OtlpProtocol::Grpc, phoenix.grpc_endpoint(), "grpc"),
        (OtlpProtocol::HttpProtobuf, phoenix.http_endpoint(), "http"),
    ] {
        let obs =
            ObservabilityBuilder::new(cfg(endpoint, protocol, "phoenix-e2e").build().unwrap())
                .logs(false)
                .metrics(false)
                .build();
        assert!(obs.report().all_live(), "{}", obs.report());
        let ids = rt.block_on(run_composed(&obs, prefix));
        let shut = obs.shutdown(Duration::from_secs(15));
        assert!(shut.completed);
        let c = shut.spans[0].1;
        assert_eq!((c.ended, c.exported), (24, 24), "{protocol:?}: {c:?}");
        let spans = rt.block_on(phoenix.wait_for(
            &format!("{prefix} runs"),
            Duration::from_secs(30),
            |spans| {
                ids.iter().all(|id| {
                    spans.iter().any(|s| {
                        attr(s, "workflow.correlation_id").and_then(Value::as_str) == Some(id)
                    })
                }) && spans.len() >= if prefix == "grpc" { 24 } else { 48 }
            },
        ));
        check_traces(&spans, &ids);
    }

    // A primitive's own span kind and name (an LLM call: CLIENT, renamed to
    // the response model) and the run's totals on its root. Phoenix keeps
    // the name, parent and attributes; it stores only the OpenInference
    // kind (otlp_spans checks the OpenTelemetry kind on the wire).
    let obs = ObservabilityBuilder::new(
        cfg(phoenix.grpc_endpoint(), OtlpProtocol::Grpc, "chat")
            .build()
            .unwrap(),
    )
    .logs(false)
    .metrics(false)
    .build();
    let wf = (lambda("prep", |x: u32| async move { Ok::<_, Error>(x) }) >> Chat).named("ask");
    let ctx = WorkflowContext::new()
        .with_correlation_id("phoenix-chat")
        .with_telemetry(obs.telemetry());
    rt.block_on(wf.run(&ctx, 1)).unwrap();
    assert!(obs.shutdown(Duration::from_secs(15)).completed);
    let spans = rt.block_on(
        phoenix.wait_for("the chat run", Duration::from_secs(30), |spans| {
            spans.iter().any(|s| s["name"] == CHAT_SPAN)
                && spans.iter().any(|s| {
                    attr(s, "workflow.correlation_id").and_then(Value::as_str)
                        == Some("phoenix-chat")
                })
        }),
    );
    let chat = spans.iter().find(|s| s["name"] == CHAT_SPAN).unwrap();
    let root = spans
        .iter()
        .find(|s| {
            attr(s, "workflow.correlation_id").and_then(Value::as_str) == Some("phoenix-chat")
        })
        .unwrap();
    assert_eq!(root["name"], "primitive.ask");
    assert_eq!(chat["parent_id"], root["context"]["span_id"]);
    assert_eq!(
        attr(chat, "primitive.name").and_then(Value::as_str),
        Some("chat")
    );
    assert_eq!(
        attr(root, "llm.tokens.input").and_then(Value::as_i64),
        Some(21)
    );
    assert_eq!(
        attr(root, "llm.cost_usd").and_then(Value::as_f64),
        Some(0.25)
    );

    // An LLM call: Phoenix reads the OpenInference model, token and cost
    // attributes, the GenAI ones arrive beside them, and the root carries
    // the run's sums.
    let obs = ObservabilityBuilder::new(
        cfg(phoenix.grpc_endpoint(), OtlpProtocol::Grpc, "llm")
            .build()
            .unwrap(),
    )
    .logs(false)
    .metrics(false)
    .build();
    let llm = LlmCall::new(
        LlmRequest::chat("openai", "gpt-4o-mini"),
        lambda("provider", |_q: String| async move {
            Ok::<_, Error>(Usage(TokenUsage::new(1_000, 200).cache_read(400)))
        }),
    );
    let wf = (lambda("prep", |q: String| async move { Ok::<_, Error>(q) }) >> llm).named("ask-llm");
    let ctx = WorkflowContext::new()
        .with_correlation_id("phoenix-llm")
        .with_telemetry(obs.telemetry());
    rt.block_on(wf.run(&ctx, "q".into())).unwrap();
    assert!(obs.shutdown(Duration::from_secs(15)).completed);
    let spans = rt.block_on(
        phoenix.wait_for("the LLM run", Duration::from_secs(30), |spans| {
            spans.iter().any(|s| s["name"] == "chat gpt-4o-mini")
                && spans.iter().any(|s| {
                    attr(s, "workflow.correlation_id").and_then(Value::as_str)
                        == Some("phoenix-llm")
                })
        }),
    );
    let call = spans
        .iter()
        .find(|s| s["name"] == "chat gpt-4o-mini")
        .unwrap();
    assert_eq!(
        call["span_kind"], "LLM",
        "Phoenix read openinference.span.kind: {call:#}"
    );
    let s = |k: &str| attr(call, k).and_then(Value::as_str).map(str::to_owned);
    let n = |k: &str| attr(call, k).and_then(Value::as_f64);
    assert_eq!(s("llm.model_name").as_deref(), Some("gpt-4o-mini"));
    assert_eq!(s("llm.provider").as_deref(), Some("openai"));
    assert_eq!(s("gen_ai.operation.name").as_deref(), Some("chat"));
    assert_eq!(s("gen_ai.provider.name").as_deref(), Some("openai"));
    assert_eq!(s("gen_ai.request.model").as_deref(), Some("gpt-4o-mini"));
    assert_eq!(n("llm.token_count.prompt"), Some(1_000.0));
    assert_eq!(n("llm.token_count.completion"), Some(200.0));
    assert_eq!(n("llm.token_count.total"), Some(1_200.0));
    assert_eq!(n("llm.token_count.prompt_details.cache_read"), Some(400.0));
    assert_eq!(n("gen_ai.usage.input_tokens"), Some(1_000.0));
    assert_eq!(n("gen_ai.usage.output_tokens"), Some(200.0));
    let cost = (600.0 * 0.15 + 400.0 * 0.075 + 200.0 * 0.60) / 1e6;
    assert!(
        (n("llm.cost.total").unwrap() - cost).abs() < 1e-12,
        "{call:#}"
    );
    let root = spans
        .iter()
        .find(|s| attr(s, "workflow.correlation_id").and_then(Value::as_str) == Some("phoenix-llm"))
        .unwrap();
    assert_eq!(
        root["span_kind"], "CHAIN",
        "a workflow root is an OpenInference chain: {root:#}"
    );
    assert_eq!(
        attr(root, "llm.token_count.total").and_then(Value::as_f64),
        Some(1_200.0)
    );
    assert!(
        (attr(root, "llm.cost.total")
            .and_then(Value::as_f64)
            .unwrap()
            - cost)
            .abs()
            < 1e-12
    );

    // Two processes, one trace: examples/cross_service exporting here.
    support::cross_service::check(&rt, &phoenix);

    // 2000 queued spans, shutdown from a current_thread runtime's thread.
    let obs = ObservabilityBuilder::new(
        cfg(phoenix.grpc_endpoint(), OtlpProtocol::Grpc, "bulk")
            .max_queue_size(16_384usize)
            .max_export_batch_size(16_384usize)
            .schedule_delay(Duration::from_secs(600))
            .export_timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
    .logs(false)
    .metrics(false)
    .build();
    let (queued, shut) = std::thread::scope(|s| {
        s.spawn(|| {
            let app = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            app.block_on(async {
                let step = lambda("bulk", |x: u64| async move { Ok::<_, Error>(x) });
                for i in 0..BULK {
                    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
                    step.run(&ctx, i).await.unwrap();
                }
                let queued = obs.span_counts()[0].1.in_flight;
                (queued, obs.shutdown(Duration::from_secs(60)))
            })
        })
        .join()
        .unwrap()
    });
    assert_eq!(queued, BULK, "all spans still queued at shutdown");
    assert!(shut.completed);
    assert_eq!(shut.spans[0].1.exported, BULK, "{:?}", shut.spans);
    rt.block_on(
        phoenix.wait_for("2000 bulk spans", Duration::from_secs(300), |spans| {
            spans
                .iter()
                .filter(|s| s["name"] == "primitive.bulk")
                .count() as u64
                == BULK
        }),
    );

    // The backend dies mid-run: workflows keep their latency, nothing is unaccounted.
    let obs = ObservabilityBuilder::new(
        cfg(phoenix.grpc_endpoint(), OtlpProtocol::Grpc, "dying")
            .export_timeout(Duration::from_millis(500))
            .max_export_batch_size(50usize)
            .build()
            .unwrap(),
    )
    .logs(false)
    .metrics(false)
    .build();
    let worst = rt.block_on(async {
        let step = lambda("dying", |x: u64| async move { Ok::<_, Error>(x) });
        let mut worst = Duration::ZERO;
        let start = Instant::now();
        let mut killed = false;
        let mut i = 0u64;
        while start.elapsed() < Duration::from_secs(4) {
            if !killed
                && obs.span_counts()[0].1.exported > 0
                && start.elapsed() > Duration::from_secs(1)
            {
                phoenix.kill();
                killed = true;
            }
            let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
            let t = Instant::now();
            step.run(&ctx, i).await.unwrap();
            worst = worst.max(t.elapsed());
            i += 1;
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        assert!(killed, "phoenix was killed mid-run");
        worst
    });
    assert!(
        worst < Duration::from_millis(250),
        "a run took {worst:?} while the backend died"
    );
    let shut = obs.shutdown(Duration::from_secs(10));
    let c = shut.spans[0].1;
    assert!(c.exported > 0 && c.dropped() > 0, "{c:?}");
    assert_eq!(c.ended, c.exported + c.dropped() + c.in_flight, "{c:?}");
    let errors: BTreeMap<_, _> = obs.export_errors().into_iter().collect();
    assert!(
        !errors["otlp-grpc"].is_empty(),
        "export errors counted: {errors:?}"
    );
}
