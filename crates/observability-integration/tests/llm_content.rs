//! Prompts and completions on LLM spans: never recorded by default (the
//! prompt is not even read), and with capture on (config or
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`) recorded in both
//! conventions, through the redaction hook, cut to 4 KiB per message.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use observability_integration::llm::{
    capture_llm_content, record_llm_content, LlmCall, LlmMessage, LlmRequest, LlmResponse,
    TokenUsage, MAX_MESSAGE_BYTES,
};
use observability_integration::{
    EnvSource, Observability, ObservabilityBuilder, ObservabilityConfig,
};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::Collect;

struct Answer(String);

impl LlmResponse for Answer {
    fn usage(&self) -> Option<TokenUsage> {
        Some(TokenUsage::new(12, 3))
    }
    fn output_messages(&self) -> Vec<LlmMessage> {
        vec![LlmMessage::assistant(self.0.clone()).finish_reason("stop")]
    }
}

/// A step that calls its provider itself and records the content.
struct OwnCall;

#[primitives_core::async_trait]
impl primitives_core::Primitive<String> for OwnCall {
    type Output = ();
    async fn execute(&self, ctx: &WorkflowContext, q: String) -> Result<(), Error> {
        if capture_llm_content(ctx) {
            record_llm_content(
                ctx,
                &[LlmMessage::user(q)],
                &[LlmMessage::assistant("done")],
            );
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "own_call"
    }
}

const CONTENT_KEYS: [&str; 6] = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "input.value",
    "output.value",
    "input.mime_type",
    "output.mime_type",
];

fn setup(env: BTreeMap<String, String>, redact: bool) -> (Observability, Collect) {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::Map(env))
        .service_name("llm-content")
        .enable_prometheus(false)
        .enable_viewer(false)
        .build()
        .unwrap();
    let sink = Collect::default();
    let mut b = ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .logs(false);
    if redact {
        b = b.llm_redactor(|t: &str| t.replace("4111-1111", "[card]"));
    }
    (b.build(), sink)
}

/// An LLM step whose prompt closure counts its calls; `fail` makes the
/// provider fail.
fn ask(prompt_reads: Arc<AtomicU32>, fail: bool) -> impl PrimitiveExt<String, Output = Answer> {
    LlmCall::new(
        LlmRequest::chat("openai", "gpt-4o-mini"),
        lambda("provider", move |q: String| async move {
            if fail {
                Err(Error::with_error_type("unavailable", "503"))
            } else {
                Ok(Answer(format!("echo: {q}")))
            }
        }),
    )
    .prompt(move |q: &String| {
        prompt_reads.fetch_add(1, Ordering::SeqCst);
        vec![LlmMessage::system("be brief"), LlmMessage::user(q.clone())]
    })
    .named("ask")
}

fn text<'a>(s: &'a SpanData, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    s.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            Value::String(v) => std::borrow::Cow::Borrowed(v.as_str()),
            other => panic!("{key} is not a string: {other:?}"),
        })
}

fn llm_spans(obs: &Observability, sink: &Collect) -> Vec<SpanData> {
    assert!(obs.force_flush(Duration::from_secs(5)));
    sink.spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.name == "chat gpt-4o-mini")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_off_by_default_and_the_prompt_is_not_read() {
    let (obs, sink) = setup(BTreeMap::new(), true);
    let reads = Arc::new(AtomicU32::new(0));
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    ask(reads.clone(), false)
        .run(&ctx, "my card is 4111-1111".into())
        .await
        .unwrap();
    assert!(!capture_llm_content(&ctx));
    let spans = llm_spans(&obs, &sink);
    assert_eq!(spans.len(), 1);
    for key in CONTENT_KEYS {
        assert!(text(&spans[0], key).is_none(), "{key} recorded while off");
    }
    assert!(
        !format!("{:?}", spans[0].attributes).contains("4111"),
        "no user text anywhere on the span"
    );
    assert_eq!(reads.load(Ordering::SeqCst), 0, "prompt read while off");
    obs.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_content_is_redacted_cut_and_in_both_conventions() {
    let env = BTreeMap::from([(
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT".to_owned(),
        "span_only".to_owned(),
    )]);
    let (obs, sink) = setup(env, true);
    assert!(obs.config().llm_capture_content);
    let reads = Arc::new(AtomicU32::new(0));
    let tel = obs.telemetry();
    let long = "x".repeat(10_000);
    for q in ["my card is 4111-1111", long.as_str()] {
        let ctx = WorkflowContext::new().with_telemetry(tel.clone());
        assert!(capture_llm_content(&ctx));
        ask(reads.clone(), false).run(&ctx, q.into()).await.unwrap();
    }
    // A failed call still records what it asked.
    let ctx = WorkflowContext::new().with_telemetry(tel.clone());
    let failed = ask(reads.clone(), true).run(&ctx, "why?".into()).await;
    assert!(failed.is_err());
    assert_eq!(reads.load(Ordering::SeqCst), 3);

    let spans = llm_spans(&obs, &sink);
    assert_eq!(spans.len(), 3);
    let json = |s: &SpanData, k: &str| -> serde_json::Value {
        serde_json::from_str(&text(s, k).unwrap_or_else(|| panic!("no {k}"))).unwrap()
    };
    let card = spans
        .iter()
        .find(|s| text(s, "input.value").is_some_and(|v| v.contains("card")))
        .unwrap();
    assert_eq!(
        json(card, "gen_ai.input.messages"),
        serde_json::json!([
            {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
            {"role": "user", "parts": [{"type": "text", "content": "my card is [card]"}]},
        ])
    );
    assert_eq!(
        json(card, "gen_ai.output.messages"),
        serde_json::json!([{
            "role": "assistant",
            "parts": [{"type": "text", "content": "echo: my card is [card]"}],
            "finish_reason": "stop",
        }])
    );
    // OpenInference gets the same JSON, typed.
    assert_eq!(
        text(card, "input.value"),
        text(card, "gen_ai.input.messages")
    );
    assert_eq!(
        text(card, "output.value"),
        text(card, "gen_ai.output.messages")
    );
    assert_eq!(
        text(card, "input.mime_type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        text(card, "output.mime_type").as_deref(),
        Some("application/json")
    );
    assert!(!format!("{:?}", card.attributes).contains("4111"));

    // 10 000 bytes in, 4 096 recorded per message.
    let long_span = spans
        .iter()
        .find(|s| text(s, "input.value").is_some_and(|v| v.contains("xxxx")))
        .unwrap();
    let input = json(long_span, "gen_ai.input.messages");
    let content = input[1]["parts"][0]["content"].as_str().unwrap();
    assert_eq!(content.len(), MAX_MESSAGE_BYTES);
    let output = json(long_span, "gen_ai.output.messages");
    assert_eq!(
        output[0]["parts"][0]["content"].as_str().unwrap().len(),
        MAX_MESSAGE_BYTES
    );

    let failed = spans
        .iter()
        .find(|s| text(s, "error.type").as_deref() == Some("unavailable"))
        .unwrap();
    assert!(text(failed, "gen_ai.input.messages")
        .unwrap()
        .contains("why?"));
    assert!(text(failed, "gen_ai.output.messages").is_none());

    // A step that calls the provider itself records the same way.
    let ctx = WorkflowContext::new().with_telemetry(tel.clone());
    OwnCall.run(&ctx, "by hand 4111-1111".into()).await.unwrap();
    assert!(obs.force_flush(Duration::from_secs(5)));
    let own = sink
        .spans
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.name == "primitive.own_call")
        .cloned()
        .unwrap();
    assert_eq!(
        json(&own, "gen_ai.input.messages")[0]["parts"][0]["content"],
        "by hand [card]"
    );
    assert_eq!(json(&own, "output.value")[0]["parts"][0]["content"], "done");
    obs.shutdown(Duration::from_secs(2));
}

#[test]
fn capture_values_are_checked() {
    let load = |v: &str| {
        ObservabilityConfig::builder()
            .env(EnvSource::Map(BTreeMap::from([(
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT".to_owned(),
                v.to_owned(),
            )])))
            .build()
    };
    for (v, want) in [
        ("true", true),
        ("False", false),
        ("span_only", true),
        ("SPAN_AND_EVENT", true),
        ("no_content", false),
    ] {
        assert_eq!(load(v).unwrap().llm_capture_content, want, "{v}");
    }
    for v in ["event_only", "maybe"] {
        let e = load(v).unwrap_err().to_string();
        assert!(
            e.contains("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
                && e.contains(v)
                && e.contains("span_only"),
            "{e}"
        );
    }
    assert!(
        !ObservabilityConfig::builder()
            .env(EnvSource::None)
            .build()
            .unwrap()
            .llm_capture_content,
        "off by default"
    );
}
