//! Span kind, span name and run totals on the OTLP wire, read by a
//! receiver built on the official `opentelemetry-proto` Python package,
//! over gRPC and HTTP/protobuf. (Phoenix stores the OpenInference kind
//! only, so the OpenTelemetry kind is checked here; otlp_phoenix checks
//! name and totals there.) Skips without the backends venv unless CI=true.

mod support;

use std::time::{Duration, Instant};

use observability_integration::{
    EnvSource, ObservabilityBuilder, ObservabilityConfig, OtlpProtocol,
};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use serde_json::Value;
use support::chat::{Chat, CHAT_SPAN};
use support::otlp_receiver::{received, start_receiver};

fn spans(requests: &[Value]) -> Vec<Value> {
    requests
        .iter()
        .flat_map(|r| r["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_kind_name_and_totals_arrive_as_sent() {
    let Some(receiver) = start_receiver() else {
        return;
    };
    // The last run opts in to the GenAI workflow convention, under
    // another workflow name so its spans are told apart.
    for (protocol, port, transport, invoke_workflow) in [
        (OtlpProtocol::Grpc, receiver.grpc, "grpc", false),
        (OtlpProtocol::HttpProtobuf, receiver.http, "http", false),
        (OtlpProtocol::Grpc, receiver.grpc, "grpc", true),
    ] {
        let workflow = if invoke_workflow { "plan" } else { "ask" };
        let cfg = ObservabilityConfig::builder()
            .env(EnvSource::None)
            .service_name("span-kind")
            .otlp_endpoint(format!("http://127.0.0.1:{port}"))
            .otlp_protocol(protocol)
            .enable_prometheus(false)
            .enable_viewer(false)
            .metrics_export_interval(Duration::from_secs(3600))
            .schedule_delay(Duration::from_millis(50))
            .llm_invoke_workflow_spans(invoke_workflow)
            .build()
            .unwrap();
        let obs = ObservabilityBuilder::new(cfg)
            .logs(false)
            .metrics(false)
            .build();
        let wf =
            (lambda("prep", |x: u32| async move { Ok::<_, Error>(x) }) >> Chat).named(workflow);
        wf.run(&WorkflowContext::new().with_telemetry(obs.telemetry()), 1)
            .await
            .unwrap();
        assert!(obs.shutdown(Duration::from_secs(10)).completed);
        let deadline = Instant::now() + Duration::from_secs(20);
        let got = loop {
            let got = spans(&received(&receiver, transport, "traces"));
            let n = got
                .iter()
                .filter(|s| attr(s, "workflow.correlation_id").is_some())
                .count();
            // The opt-in run's receiver also holds the first gRPC run's root.
            let want = if invoke_workflow { 2 } else { 1 };
            if n >= want || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let by_name = |n: &str| {
            got.iter()
                .find(|s| s["name"] == n)
                .unwrap_or_else(|| panic!("{transport}: no span {n}: {got:#?}"))
        };
        let root_name = if invoke_workflow {
            format!("invoke_workflow {workflow}")
        } else {
            format!("primitive.{workflow}")
        };
        let root = by_name(&root_name);
        assert_eq!(root["kind"], "SPAN_KIND_INTERNAL", "{transport}");
        let chat = got
            .iter()
            .find(|s| s["name"] == CHAT_SPAN && s["parentSpanId"] == root["spanId"])
            .unwrap_or_else(|| panic!("{transport}: no {CHAT_SPAN} under {root_name}"));
        assert_eq!(chat["kind"], "SPAN_KIND_CLIENT", "{transport}");
        assert_eq!(by_name("primitive.prep")["kind"], "SPAN_KIND_INTERNAL");
        // The root is an OpenInference CHAIN; its steps get no kind of ours.
        let string = |s: &Value, k: &str| {
            attr(s, k)
                .and_then(|v| v["stringValue"].as_str())
                .map(str::to_owned)
        };
        assert_eq!(
            string(root, "openinference.span.kind").as_deref(),
            Some("CHAIN")
        );
        assert_eq!(
            string(by_name("primitive.prep"), "openinference.span.kind"),
            None
        );
        let (operation, workflow_attr) = (
            string(root, "gen_ai.operation.name"),
            string(root, "gen_ai.workflow.name"),
        );
        if invoke_workflow {
            assert_eq!(operation.as_deref(), Some("invoke_workflow"));
            assert_eq!(workflow_attr.as_deref(), Some(workflow));
        } else {
            assert_eq!((operation, workflow_attr), (None, None), "opt-in only");
        }
        // protobuf's JSON writes int64 as a string.
        assert_eq!(
            attr(root, "llm.tokens.input").and_then(|v| v["intValue"].as_str()),
            Some("21")
        );
        assert_eq!(
            attr(root, "llm.cost_usd").and_then(|v| v["doubleValue"].as_f64()),
            Some(0.25)
        );
    }
}
