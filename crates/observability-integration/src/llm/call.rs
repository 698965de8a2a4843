//! [`LlmCall`]: a step that calls an LLM, observed as one GenAI span.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use opentelemetry::trace::SpanKind;
use primitives_core::{async_trait, Error, Primitive, WorkflowContext};

use super::record::{check_with, record_with, LlmOutcome, LlmRequest, PerTelemetry};
use super::TokenUsage;

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
/// call is this one span. Prompts and completions are never recorded.
pub struct LlmCall<P> {
    inner: P,
    request: LlmRequest,
    name: Cow<'static, str>,
    span_name: String,
    metrics: PerTelemetry,
}

impl<P> fmt::Debug for LlmCall<P> {
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
            metrics: PerTelemetry::default(),
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
impl<In, P> Primitive<In> for LlmCall<P>
where
    In: Send + 'static,
    P: Primitive<In>,
    P::Output: LlmResponse,
{
    type Output = P::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<P::Output, Error> {
        check_with(&self.metrics, ctx)?;
        let start = Instant::now();
        let response = self.inner.execute(ctx, input).await?;
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

primitives_core::compose_operators!(LlmCall[P]);
