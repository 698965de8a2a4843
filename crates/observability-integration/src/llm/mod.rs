//! LLM usage and cost: token counts of a call ([`TokenUsage`]) and what
//! they cost under a pricing table ([`Pricing`], USD per million tokens
//! by model, from TOML or code, with a small dated built-in default).

mod pricing;

pub use pricing::{CallCost, ModelPrice, Pricing, PricingError, TokenUsage, BUILTIN_PRICES_DATE};
