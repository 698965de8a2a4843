//! An LLM-like step for span tests: a CLIENT span first named
//! `chat gpt-4o-mini`, renamed to the response model while it runs, that
//! adds 21 input tokens and $0.25 to its run's totals.

use opentelemetry::trace::SpanKind;
use primitives_core::{async_trait, Error, Primitive, WorkflowContext};

/// The name its span ends with.
pub const CHAT_SPAN: &str = "chat gpt-4o-mini-2024-07-18";

pub struct Chat;

#[async_trait]
impl Primitive<u32> for Chat {
    type Output = u32;
    async fn execute(&self, ctx: &WorkflowContext, x: u32) -> Result<u32, Error> {
        ctx.add_to_run("llm.tokens.input", 21u64);
        ctx.add_to_run("llm.cost_usd", 0.25);
        ctx.update_span_name(CHAT_SPAN);
        Ok(x)
    }
    fn name(&self) -> &str {
        "chat"
    }
    fn span_name(&self) -> std::borrow::Cow<'_, str> {
        "chat gpt-4o-mini".into()
    }
    fn span_kind(&self) -> SpanKind {
        SpanKind::Client
    }
}
