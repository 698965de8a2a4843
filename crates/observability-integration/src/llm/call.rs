//! [`LlmCall`]: a step that calls an LLM, observed as one GenAI span.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use opentelemetry::trace::SpanKind;
use primitives_core::{async_trait, Error, Primitive, WorkflowContext};

use super::record::{check_with, kept, record_with, LlmOutcome, LlmRequest, PerTelemetry};
use super::{LlmMessage, NoPrompt, PromptOf, TokenUsage};

/// What a provider's response says about the call. Implement it on your
/// response type so [`LlmCall`] can record it.
///
/// ```
/// use observability_integration::llm::{LlmResponse, TokenUsage};
/// struct Completion { text: String, model: String, prompt_tokens: u64, completion_tokens: u64 }
/// impl LlmResponse for Completion {
///     fn usage(&self) -> Option<TokenUsage> {
///         Some(TokenUsage::new(self.prompt_tokens, self.completion_tokens))
///     }
///     fn response_model(&self) -> Option<&str> {
///         Some(&self.model)
///     }
/// }
/// ```
pub trait LlmResponse {
    /// The tokens the call used, if the provider reported them.
    fn usage(&self) -> Option<TokenUsage>;

    /// The model that answered, if the provider says.
    fn response_model(&self) -> Option<&str> {
        None
    }

    /// For a streamed response: the time to its first chunk.
    fn time_to_first_chunk(&self) -> Option<Duration> {
        None
    }

    /// The completion's messages. Asked for only while the setup captures
    /// content (`llm_capture_content`); never recorded otherwise.
    fn output_messages(&self) -> Vec<LlmMessage> {
        Vec::new()
    }
}

/// Runs a step that calls an LLM (its output an [`LlmResponse`]) as one
/// `CLIENT` span named `{operation} {model}` (renamed to the response model
/// when it differs), carrying the GenAI and OpenInference attributes:
/// operation, provider, models, tokens by type, cost from the pricing
/// table. It records `gen_ai.client.token.usage`,
/// `gen_ai.client.operation.duration`, `llm_requests_total`,
/// `llm_tokens_total`, `llm_cost_usd_total` (or
/// `llm_unpriced_requests_total`), and adds the tokens and cost to the
/// run's totals (`llm.token_count.*`, `llm.cost.*` on the run's root).
///
/// Before the call it checks the run's budgets
/// ([`WorkflowContext::with_budget`]): once one is spent the call fails
/// fast with error type `budget_exceeded` (counted in
/// `llm_budget_exceeded_total{workflow}`); calls already in flight finish
/// and may overshoot.
///
/// The inner step is called directly (it gets no span of its own): the
/// call is this one span. Prompts ([`prompt`](Self::prompt)) and
/// completions ([`LlmResponse::output_messages`]) are recorded only when
/// the setup opts in to content capture, redacted and cut per message.
pub struct LlmCall<P, F = NoPrompt> {
    inner: P,
    request: LlmRequest,
    name: Cow<'static, str>,
    span_name: String,
    prompt: F,
    metrics: PerTelemetry,
}

impl<P, F> fmt::Debug for LlmCall<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmCall")
            .field("name", &self.name)
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl<P> LlmCall<P> {
    /// `inner`, calling what `request` describes. The step's name (its
    /// `primitive` label) defaults to `llm`.
    pub fn new(request: LlmRequest, inner: P) -> Self {
        LlmCall {
            span_name: request.span_name(),
            inner,
            request,
            name: Cow::Borrowed("llm"),
            prompt: NoPrompt,
            metrics: PerTelemetry::default(),
        }
    }
}

impl<P, F> LlmCall<P, F> {
    /// How to read the prompt's messages from the step's input, for
    /// content capture: `prompt` is called only while the setup captures
    /// content.
    pub fn prompt<In, G>(self, prompt: G) -> LlmCall<P, G>
    where
        G: Fn(&In) -> Vec<LlmMessage> + Send + Sync + 'static,
    {
        LlmCall {
            inner: self.inner,
            request: self.request,
            name: self.name,
            span_name: self.span_name,
            prompt,
            metrics: self.metrics,
        }
    }

    /// Renames the step (its `primitive` metric label; the span keeps the
    /// `{operation} {model}` name).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// What the call asks for.
    pub fn request(&self) -> &LlmRequest {
        &self.request
    }
}

#[async_trait]
impl<In, P, F> Primitive<In> for LlmCall<P, F>
where
    In: Send + 'static,
    P: Primitive<In>,
    P::Output: LlmResponse,
    F: PromptOf<In>,
{
    type Output = P::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<P::Output, Error> {
        check_with(&self.metrics, ctx)?;
        let capture = kept(&self.metrics, ctx).filter(|k| k.content().capture);
        let prompt = match &capture {
            Some(_) => self.prompt.messages(&input),
            None => Vec::new(),
        };
        let start = Instant::now();
        let response = self.inner.execute(ctx, input).await;
        if let Some(k) = &capture {
            let output = match &response {
                Ok(r) => r.output_messages(),
                Err(_) => Vec::new(),
            };
            k.content().record(ctx, &prompt, &output);
        }
        let response = response?;
        let outcome = LlmOutcome {
            response_model: response.response_model().map(str::to_owned),
            usage: response.usage(),
            time_to_first_chunk: response.time_to_first_chunk(),
        };
        if let Some(m) = &outcome.response_model {
            if *m != *self.request.model {
                ctx.update_span_name(format!("{} {m}", self.request.operation));
            }
        }
        record_with(&self.metrics, ctx, &self.request, &outcome, start.elapsed());
        Ok(response)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "llm"
    }
    fn span_name(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.span_name)
    }
    fn span_kind(&self) -> SpanKind {
        SpanKind::Client
    }
}

primitives_core::compose_operators!(LlmCall[P, F]);
