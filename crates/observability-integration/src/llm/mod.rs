//! LLM usage and cost (docs/llm.md): token counts of a call
//! ([`TokenUsage`]), what they cost under a pricing table ([`Pricing`],
//! USD per million tokens by model, from TOML or code, with a small dated
//! built-in default), and recording a call — [`LlmCall`] around a step
//! whose output is an [`LlmResponse`], or [`record_llm_call`] from a step
//! that talks to the provider itself — as a span in both the OpenTelemetry
//! GenAI and the OpenInference conventions, metrics, and run totals.

mod call;
pub mod names;
mod pricing;
mod record;

pub use call::{LlmCall, LlmResponse};
pub use pricing::{CallCost, ModelPrice, Pricing, PricingError, TokenUsage, BUILTIN_PRICES_DATE};
pub(crate) use record::record_avoided;
pub(crate) use record::LlmSettings;
pub use record::{check_llm_budget, record_llm_call, LlmOutcome, LlmRequest};
