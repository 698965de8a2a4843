//! LLM usage and cost (docs/llm.md): token counts of a call
//! ([`TokenUsage`]), what they cost under a pricing table ([`Pricing`],
//! USD per million tokens by model, from TOML or code, with a small dated
//! built-in default), and recording a call — [`LlmCall`] around a step
//! whose output is an [`LlmResponse`], or [`record_llm_call`] from a step
//! that talks to the provider itself — as a span in both the OpenTelemetry
//! GenAI and the OpenInference conventions, metrics, and run totals.

mod call;
mod content;
pub mod names;
mod pricing;
mod record;
mod run_cost;

pub use call::{LlmCall, LlmResponse};
pub(crate) use content::ContentPolicy;
pub use content::{LlmMessage, NoPrompt, PromptOf, Redactor, MAX_MESSAGE_BYTES};
pub use pricing::{CallCost, ModelPrice, Pricing, PricingError, TokenUsage, BUILTIN_PRICES_DATE};
pub(crate) use record::record_avoided;
pub(crate) use record::LlmSettings;
pub use record::{
    capture_llm_content, check_llm_budget, record_llm_call, record_llm_content, LlmOutcome,
    LlmRequest,
};
pub(crate) use run_cost::RunCostObserver;
