//! The names LLM calls are recorded under: span attributes in both
//! conventions, the run totals, instruments and labels.

/// Span attribute keys: OpenTelemetry GenAI (semantic conventions 1.41)
/// and OpenInference, both on every LLM span.
pub mod attr {
    /// GenAI: `chat`, `embeddings`, `text_completion`, …
    pub const GEN_AI_OPERATION: &str = "gen_ai.operation.name";
    /// GenAI: `openai`, `anthropic`, …
    pub const GEN_AI_PROVIDER: &str = "gen_ai.provider.name";
    /// GenAI: the model asked for.
    pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
    /// GenAI: the model that answered.
    pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// GenAI: prompt tokens (cached ones included).
    pub const GEN_AI_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// GenAI: completion tokens (reasoning included).
    pub const GEN_AI_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// GenAI: prompt tokens read from the provider's cache.
    pub const GEN_AI_CACHE_READ_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
    /// GenAI: prompt tokens written to the provider's cache.
    pub const GEN_AI_CACHE_CREATION_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
    /// GenAI: reasoning tokens.
    pub const GEN_AI_REASONING_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
    /// GenAI: seconds to the first chunk of a streamed response.
    pub const GEN_AI_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
    /// GenAI: the workflow of an `invoke_workflow` root span (opt-in).
    pub const GEN_AI_WORKFLOW_NAME: &str = "gen_ai.workflow.name";
    /// GenAI (opt-in content): the prompt's messages, JSON.
    pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// GenAI (opt-in content): the completion's messages, JSON.
    pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// OpenInference (opt-in content): the prompt.
    pub const INPUT_VALUE: &str = "input.value";
    /// OpenInference: the prompt's MIME type.
    pub const INPUT_MIME_TYPE: &str = "input.mime_type";
    /// OpenInference (opt-in content): the completion.
    pub const OUTPUT_VALUE: &str = "output.value";
    /// OpenInference: the completion's MIME type.
    pub const OUTPUT_MIME_TYPE: &str = "output.mime_type";
    /// GenAI metric attribute: `input` or `output`.
    pub const GEN_AI_TOKEN_TYPE: &str = "gen_ai.token.type";
    /// OpenInference: `LLM` on calls, `CHAIN` on workflow roots.
    pub const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";
    /// OpenInference: the model (the response model, else the request's).
    pub const LLM_MODEL_NAME: &str = "llm.model_name";
    /// OpenInference: the provider.
    pub const LLM_PROVIDER: &str = "llm.provider";
    /// OpenInference: prompt tokens.
    pub const LLM_TOKENS_PROMPT: &str = "llm.token_count.prompt";
    /// OpenInference: completion tokens.
    pub const LLM_TOKENS_COMPLETION: &str = "llm.token_count.completion";
    /// OpenInference: prompt plus completion tokens.
    pub const LLM_TOKENS_TOTAL: &str = "llm.token_count.total";
    /// OpenInference: prompt tokens read from the provider's cache.
    pub const LLM_TOKENS_CACHE_READ: &str = "llm.token_count.prompt_details.cache_read";
    /// OpenInference: prompt tokens written to the provider's cache.
    pub const LLM_TOKENS_CACHE_WRITE: &str = "llm.token_count.prompt_details.cache_write";
    /// OpenInference: reasoning tokens.
    pub const LLM_TOKENS_REASONING: &str = "llm.token_count.completion_details.reasoning";
    /// OpenInference: the prompt's cost, USD.
    pub const LLM_COST_PROMPT: &str = "llm.cost.prompt";
    /// OpenInference: the completion's cost, USD.
    pub const LLM_COST_COMPLETION: &str = "llm.cost.completion";
    /// OpenInference: the call's cost, USD.
    pub const LLM_COST_TOTAL: &str = "llm.cost.total";
}

/// Run totals (the run's root span carries them under these names).
pub mod total {
    pub use super::attr::{
        LLM_COST_COMPLETION as COST_COMPLETION, LLM_COST_PROMPT as COST_PROMPT,
        LLM_COST_TOTAL as COST_TOTAL, LLM_TOKENS_CACHE_READ as CACHE_READ,
        LLM_TOKENS_CACHE_WRITE as CACHE_WRITE, LLM_TOKENS_COMPLETION as COMPLETION,
        LLM_TOKENS_PROMPT as PROMPT, LLM_TOKENS_REASONING as REASONING, LLM_TOKENS_TOTAL as TOTAL,
    };
    /// Calls of the run whose model was unpriced (their cost is missing
    /// from the run's cost).
    pub const UNPRICED_CALLS: &str = "llm.cost.unpriced_calls";
    /// Prefix of the run total of one model's cost
    /// (`llm.model_cost.gpt-4o-mini`), which tells an enhanced-cache hit
    /// which model's cost it avoided.
    pub const MODEL_COST_PREFIX: &str = "llm.model_cost.";
}

/// Instrument names and labels.
pub mod metric {
    /// GenAI histogram `{token}`: tokens per call by `gen_ai.token.type`.
    pub const TOKEN_USAGE: &str = "gen_ai.client.token.usage";
    /// GenAI histogram (s): call duration.
    pub const OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
    /// Counter: calls by model.
    pub const REQUESTS: &str = "llm_requests";
    /// Counter: tokens by model and token type.
    pub const TOKENS: &str = "llm_tokens";
    /// Counter (USD): cost by model.
    pub const COST: &str = "llm_cost_usd";
    /// Counter: calls of unpriced models, by model.
    pub const UNPRICED: &str = "llm_unpriced_requests";
    /// Counter (USD): cost enhanced-cache hits avoided, by model.
    pub const COST_AVOIDED: &str = "llm_cost_avoided_usd";
    /// Counter: calls refused by a spent run budget, by workflow.
    pub const BUDGET_EXCEEDED: &str = "llm_budget_exceeded";
    /// Histogram (USD): each run's cost, by workflow.
    pub const RUN_COST: &str = "workflow_run_cost_usd";
    /// Label: the response model, else the request model.
    pub const MODEL_LABEL: &str = "model";
    /// Label: `prompt`, `completion`, `total`, `cache_read`, `cache_write`, `reasoning`.
    pub const TOKEN_TYPE_LABEL: &str = "token_type";
}

/// The GenAI conventions' token-usage buckets: 1, 4, 16 … 67 108 864.
pub const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// The GenAI conventions' duration buckets (s): 0.01 … 81.92.
pub const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
