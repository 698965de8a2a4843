//! Recording one LLM call: the span's attributes in both conventions
//! (OpenTelemetry GenAI and OpenInference), the metrics, and the run's
//! totals.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::KeyValue;
use primitives_core::semconv::label;
use primitives_core::{Amount, Error, Telemetry, WorkflowContext};

use super::names::{attr, metric, total, DURATION_BUCKETS, TOKEN_BUCKETS};
use super::{CallCost, ContentPolicy, LlmMessage, Pricing, TokenUsage};

/// What an LLM call asked for: provider, operation and requested model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmRequest {
    pub(super) provider: Cow<'static, str>,
    pub(super) operation: Cow<'static, str>,
    pub(super) model: Cow<'static, str>,
    pub(super) streaming: bool,
}

impl LlmRequest {
    /// A `chat` call to `model` of `provider` (`openai`, `anthropic`,
    /// `aws.bedrock`, … as the GenAI conventions spell them).
    pub fn chat(
        provider: impl Into<Cow<'static, str>>,
        model: impl Into<Cow<'static, str>>,
    ) -> Self {
        LlmRequest {
            provider: provider.into(),
            operation: Cow::Borrowed("chat"),
            model: model.into(),
            streaming: false,
        }
    }

    /// Another operation: `embeddings`, `text_completion`,
    /// `generate_content`, …
    pub fn operation(mut self, operation: impl Into<Cow<'static, str>>) -> Self {
        self.operation = operation.into();
        self
    }

    /// Whether the response is streamed.
    pub fn streaming(mut self, on: bool) -> Self {
        self.streaming = on;
        self
    }

    /// The requested model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The span name the conventions ask for: `{operation} {model}`.
    pub fn span_name(&self) -> String {
        format!("{} {}", self.operation, self.model)
    }
}

/// What came back: the model that answered, the tokens, the time to the
/// first chunk of a streamed response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlmOutcome {
    /// The model that answered, when the provider says (often a dated
    /// version of the requested one).
    pub response_model: Option<String>,
    /// The tokens, when the provider reported them.
    pub usage: Option<TokenUsage>,
    /// Time to the first chunk of a streamed response.
    pub time_to_first_chunk: Option<Duration>,
}

/// Per telemetry: the pricing table in force, made from the setup's config
/// (the built-in table for a telemetry built elsewhere).
pub(crate) struct LlmSettings {
    pub(crate) pricing: Pricing,
    /// Prompts and completions: off unless the setup opted in.
    pub(crate) content: ContentPolicy,
}

/// The LLM instruments of one telemetry.
struct Instruments {
    token_usage: Histogram<u64>,
    duration: Histogram<f64>,
    requests: Counter<u64>,
    tokens: Counter<u64>,
    cost: Counter<f64>,
    unpriced: Counter<u64>,
    avoided: Counter<f64>,
    budget_exceeded: Counter<u64>,
}

impl Instruments {
    fn new(meter: &Meter) -> Instruments {
        let counter = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_description(description)
                .with_unit("1")
                .build()
        };
        Instruments {
            token_usage: meter
                .u64_histogram(metric::TOKEN_USAGE)
                .with_description("Tokens used per LLM call, by token type")
                .with_unit("{token}")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            duration: meter
                .f64_histogram(metric::OPERATION_DURATION)
                .with_description("LLM call duration")
                .with_unit("s")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            requests: counter(metric::REQUESTS, "LLM calls by model"),
            tokens: counter(metric::TOKENS, "LLM tokens by model and token type"),
            cost: meter
                .f64_counter(metric::COST)
                .with_description("LLM cost in USD by model (priced calls only)")
                .with_unit("USD")
                .build(),
            unpriced: counter(
                metric::UNPRICED,
                "LLM calls whose model the pricing table doesn't know (no cost recorded)",
            ),
            avoided: meter
                .f64_counter(metric::COST_AVOIDED)
                .with_description("LLM cost in USD that enhanced-cache hits avoided, by model")
                .with_unit("USD")
                .build(),
            budget_exceeded: counter(
                metric::BUDGET_EXCEEDED,
                "LLM calls refused because the run's budget was spent, by workflow",
            ),
        }
    }
}

/// Settings and instruments of one telemetry.
pub(crate) struct Kept {
    settings: Arc<LlmSettings>,
    instruments: Option<Instruments>,
}

impl Kept {
    fn of(t: &Telemetry) -> Kept {
        Kept {
            settings: t.extension(|_| LlmSettings {
                pricing: Pricing::builtin_ref().clone(),
                content: ContentPolicy::default(),
            }),
            instruments: t.meter().map(Instruments::new),
        }
    }
}

/// A recorder's handle on the telemetry it runs under.
pub(crate) type PerTelemetry = crate::per_telemetry::PerTelemetry<Kept>;

impl Kept {
    /// The content policy in force.
    pub(crate) fn content(&self) -> &ContentPolicy {
        &self.settings.content
    }
}

/// The settings and instruments of the telemetry `ctx` runs under.
pub(crate) fn kept(cache: &PerTelemetry, ctx: &WorkflowContext) -> Option<Arc<Kept>> {
    ctx.telemetry().map(|t| cache.get(t, Kept::of).0)
}

/// Whether the setup `ctx` runs under records prompts and completions
/// (`llm_capture_content`): a step that calls the provider itself asks
/// before building the messages for [`record_llm_content`].
pub fn capture_llm_content(ctx: &WorkflowContext) -> bool {
    kept(shared(), ctx).is_some_and(|k| k.content().capture)
}

/// Records a call's prompt and completion on the current step's span,
/// redacted and cut to [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES) per
/// message, when the setup opted in to content capture; nothing otherwise.
pub fn record_llm_content(ctx: &WorkflowContext, input: &[LlmMessage], output: &[LlmMessage]) {
    if let Some(k) = kept(shared(), ctx) {
        k.content().record(ctx, input, output);
    }
}

fn shared() -> &'static PerTelemetry {
    static SHARED: std::sync::OnceLock<PerTelemetry> = std::sync::OnceLock::new();
    SHARED.get_or_init(PerTelemetry::default)
}

/// Checks the run's budgets before an LLM call: `Err` (error type
/// `budget_exceeded`), counted in `llm_budget_exceeded_total{workflow}`,
/// once one is spent. [`LlmCall`](super::LlmCall) checks for you; a step
/// that talks to the provider itself calls this first.
pub fn check_llm_budget(ctx: &WorkflowContext) -> Result<(), Error> {
    check_with(shared(), ctx)
}

pub(crate) fn check_with(cache: &PerTelemetry, ctx: &WorkflowContext) -> Result<(), Error> {
    let refused = ctx.check_budgets();
    if refused.is_err() {
        if let Some(k) = kept(cache, ctx) {
            if let Some(i) = &k.instruments {
                let workflow = ctx.workflow_name().unwrap_or("unknown").to_owned();
                i.budget_exceeded
                    .add(1, &[KeyValue::new(label::WORKFLOW, workflow)]);
            }
        }
    }
    refused
}

/// Counts what an enhanced-cache hit avoided: `spent` is what its value
/// cost when computed (the run totals its miss added).
pub(crate) fn record_avoided(ctx: &WorkflowContext, spent: &[(Cow<'static, str>, Amount)]) {
    let Some(k) = kept(shared(), ctx) else {
        return;
    };
    let Some(i) = &k.instruments else {
        return;
    };
    for (key, amount) in spent {
        if let Some(model) = key.strip_prefix(total::MODEL_COST_PREFIX) {
            i.avoided.add(
                amount.as_f64(),
                &[KeyValue::new(metric::MODEL_LABEL, model.to_owned())],
            );
        }
    }
}

/// Records a finished LLM call on the current step of `ctx`: its span's
/// attributes (both conventions), the metrics, and the run's totals. For
/// steps that talk to the provider themselves; [`LlmCall`](super::LlmCall)
/// calls it for you.
pub fn record_llm_call(
    ctx: &WorkflowContext,
    request: &LlmRequest,
    outcome: &LlmOutcome,
    took: Duration,
) {
    record_with(shared(), ctx, request, outcome, took);
}

pub(crate) fn record_with(
    cache: &PerTelemetry,
    ctx: &WorkflowContext,
    request: &LlmRequest,
    outcome: &LlmOutcome,
    took: Duration,
) {
    let kept = kept(cache, ctx);
    let model: &str = outcome.response_model.as_deref().unwrap_or(&request.model);
    let cost = match (&kept, &outcome.usage) {
        (Some(k), Some(u)) => k.settings.pricing.cost(model, u),
        (None, Some(u)) => Pricing::builtin_ref().cost(model, u),
        _ => None,
    };
    ctx.set_attribute(KeyValue::new(attr::OPENINFERENCE_SPAN_KIND, "LLM"));
    ctx.set_attribute(KeyValue::new(
        attr::GEN_AI_OPERATION,
        request.operation.clone(),
    ));
    ctx.set_attribute(KeyValue::new(
        attr::GEN_AI_PROVIDER,
        request.provider.clone(),
    ));
    ctx.set_attribute(KeyValue::new(attr::LLM_PROVIDER, request.provider.clone()));
    ctx.set_attribute(KeyValue::new(
        attr::GEN_AI_REQUEST_MODEL,
        request.model.clone(),
    ));
    ctx.set_attribute(KeyValue::new(attr::LLM_MODEL_NAME, model.to_owned()));
    if let Some(m) = &outcome.response_model {
        ctx.set_attribute(KeyValue::new(attr::GEN_AI_RESPONSE_MODEL, m.clone()));
    }
    if let Some(t) = outcome.time_to_first_chunk {
        ctx.set_attribute(KeyValue::new(
            attr::GEN_AI_TIME_TO_FIRST_CHUNK,
            t.as_secs_f64(),
        ));
    }
    if let Some(u) = &outcome.usage {
        usage_attributes(ctx, u);
        usage_totals(ctx, u);
    }
    match cost {
        Some(c) => {
            cost_attributes(ctx, &c);
            // By model too, so a cache hit on this value can say which
            // model's cost it avoided.
            ctx.add_to_run(format!("{}{model}", total::MODEL_COST_PREFIX), c.total());
        }
        None if outcome.usage.is_some() => {
            ctx.add_to_run(total::UNPRICED_CALLS, 1u64);
            warn_unpriced(model);
        }
        None => {}
    }
    if let Some(i) = kept.as_ref().and_then(|k| k.instruments.as_ref()) {
        record_metrics(i, request, outcome, model, cost.as_ref(), took);
    }
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn usage_attributes(ctx: &WorkflowContext, u: &TokenUsage) {
    let set = |k: &'static str, v: u64| ctx.set_attribute(KeyValue::new(k, int(v)));
    set(attr::GEN_AI_INPUT_TOKENS, u.input);
    set(attr::GEN_AI_OUTPUT_TOKENS, u.output);
    set(attr::LLM_TOKENS_PROMPT, u.input);
    set(attr::LLM_TOKENS_COMPLETION, u.output);
    set(attr::LLM_TOKENS_TOTAL, u.total());
    for (gen_ai, openinference, n) in [
        (
            attr::GEN_AI_CACHE_READ_TOKENS,
            attr::LLM_TOKENS_CACHE_READ,
            u.cache_read,
        ),
        (
            attr::GEN_AI_CACHE_CREATION_TOKENS,
            attr::LLM_TOKENS_CACHE_WRITE,
            u.cache_creation,
        ),
        (
            attr::GEN_AI_REASONING_TOKENS,
            attr::LLM_TOKENS_REASONING,
            u.reasoning,
        ),
    ] {
        if n > 0 {
            set(gen_ai, n);
            set(openinference, n);
        }
    }
}

/// The run's token sums, under the OpenInference names its root carries.
fn usage_totals(ctx: &WorkflowContext, u: &TokenUsage) {
    ctx.add_to_run(total::PROMPT, u.input);
    ctx.add_to_run(total::COMPLETION, u.output);
    ctx.add_to_run(total::TOTAL, u.total());
    for (key, n) in [
        (total::CACHE_READ, u.cache_read),
        (total::CACHE_WRITE, u.cache_creation),
        (total::REASONING, u.reasoning),
    ] {
        if n > 0 {
            ctx.add_to_run(key, n);
        }
    }
}

fn cost_attributes(ctx: &WorkflowContext, c: &CallCost) {
    ctx.set_attribute(KeyValue::new(attr::LLM_COST_PROMPT, c.prompt));
    ctx.set_attribute(KeyValue::new(attr::LLM_COST_COMPLETION, c.completion));
    ctx.set_attribute(KeyValue::new(attr::LLM_COST_TOTAL, c.total()));
    ctx.add_to_run(total::COST_PROMPT, c.prompt);
    ctx.add_to_run(total::COST_COMPLETION, c.completion);
    ctx.add_to_run(total::COST_TOTAL, c.total());
}

fn record_metrics(
    i: &Instruments,
    request: &LlmRequest,
    outcome: &LlmOutcome,
    model: &str,
    cost: Option<&CallCost>,
    took: Duration,
) {
    let model_label = KeyValue::new(metric::MODEL_LABEL, model.to_owned());
    let mut genai = vec![
        KeyValue::new(attr::GEN_AI_OPERATION, request.operation.clone()),
        KeyValue::new(attr::GEN_AI_PROVIDER, request.provider.clone()),
        KeyValue::new(attr::GEN_AI_REQUEST_MODEL, request.model.clone()),
    ];
    if let Some(m) = &outcome.response_model {
        genai.push(KeyValue::new(attr::GEN_AI_RESPONSE_MODEL, m.clone()));
    }
    i.duration.record(took.as_secs_f64(), &genai);
    i.requests.add(1, std::slice::from_ref(&model_label));
    let Some(u) = &outcome.usage else {
        return;
    };
    for (kind, n) in [("input", u.input), ("output", u.output)] {
        let mut labels = genai.clone();
        labels.push(KeyValue::new(attr::GEN_AI_TOKEN_TYPE, kind));
        i.token_usage.record(n, &labels);
    }
    for (kind, n) in [
        ("prompt", u.input),
        ("completion", u.output),
        ("total", u.total()),
        ("cache_read", u.cache_read),
        ("cache_write", u.cache_creation),
        ("reasoning", u.reasoning),
    ] {
        if n > 0 || matches!(kind, "prompt" | "completion" | "total") {
            i.tokens.add(
                n,
                &[
                    model_label.clone(),
                    KeyValue::new(metric::TOKEN_TYPE_LABEL, kind),
                ],
            );
        }
    }
    match cost {
        Some(c) => i.cost.add(c.total(), std::slice::from_ref(&model_label)),
        None => i.unpriced.add(1, std::slice::from_ref(&model_label)),
    }
}

/// One warning per unpriced model (at most 256 models remembered).
fn warn_unpriced(model: &str) {
    static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut warned = WARNED.lock().unwrap_or_else(PoisonError::into_inner);
    if warned.len() < 256 && warned.insert(model.to_owned()) {
        tracing::warn!(target: "observability_integration::llm", model, "no price for this LLM model: its calls are counted in llm_unpriced_requests_total and get no cost (add it to llm_pricing_file)");
    }
}
