//! Prompts and completions on LLM spans. Never recorded unless the setup
//! opts in (`llm_capture_content`, env
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`); then each
//! message's text goes through the setup's redaction hook, is cut to
//! [`MAX_MESSAGE_BYTES`], and is recorded as GenAI
//! `gen_ai.input.messages` / `gen_ai.output.messages` (JSON) and
//! OpenInference `input.value` / `output.value` (the same JSON, with
//! `input.mime_type` / `output.mime_type` `application/json`).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use opentelemetry::KeyValue;
use primitives_core::WorkflowContext;

use super::names::attr;

/// The longest text of one message that is recorded, in bytes (cut at a
/// character boundary).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// One message of a prompt or a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmMessage {
    /// `system`, `user`, `assistant`, `tool`, …
    pub role: Cow<'static, str>,
    /// The text.
    pub content: String,
    /// Why the model stopped (`stop`, `length`, `tool_call`, …), on a
    /// completion's message when the provider says.
    pub finish_reason: Option<Cow<'static, str>>,
}

impl LlmMessage {
    /// A message of `role`.
    pub fn new(role: impl Into<Cow<'static, str>>, content: impl Into<String>) -> Self {
        LlmMessage {
            role: role.into(),
            content: content.into(),
            finish_reason: None,
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        LlmMessage::new("system", content)
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        LlmMessage::new("user", content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        LlmMessage::new("assistant", content)
    }

    /// With the reason the model stopped.
    pub fn finish_reason(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }
}

/// Rewrites a message's text before it is recorded (masks e-mail
/// addresses, account numbers, …). Runs on the application's thread, on
/// each message of each call while capture is on.
pub type Redactor = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Whether and how one telemetry records message content.
#[derive(Clone, Default)]
pub(crate) struct ContentPolicy {
    pub(crate) capture: bool,
    pub(crate) redact: Option<Redactor>,
}

impl fmt::Debug for ContentPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentPolicy")
            .field("capture", &self.capture)
            .field("redact", &self.redact.is_some())
            .finish()
    }
}

impl ContentPolicy {
    /// A message's text as recorded: redacted, then cut.
    fn text(&self, content: &str) -> String {
        let mut text = match &self.redact {
            Some(r) => r(content),
            None => content.to_owned(),
        };
        if text.len() > MAX_MESSAGE_BYTES {
            let mut end = MAX_MESSAGE_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    }

    /// The GenAI JSON of `messages`: `[{"role", "parts": [{"type":
    /// "text", "content"}], "finish_reason"?}]`.
    fn json(&self, messages: &[LlmMessage]) -> String {
        let list: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let mut v = serde_json::json!({
                    "role": m.role,
                    "parts": [{"type": "text", "content": self.text(&m.content)}],
                });
                if let Some(r) = &m.finish_reason {
                    v["finish_reason"] = serde_json::Value::from(r.as_ref());
                }
                v
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    /// Records `input` and `output` on the current step's span, when
    /// capture is on (each side only when it has messages).
    pub(crate) fn record(
        &self,
        ctx: &WorkflowContext,
        input: &[LlmMessage],
        output: &[LlmMessage],
    ) {
        if !self.capture {
            return;
        }
        for (messages, genai, value, mime) in [
            (
                input,
                attr::GEN_AI_INPUT_MESSAGES,
                attr::INPUT_VALUE,
                attr::INPUT_MIME_TYPE,
            ),
            (
                output,
                attr::GEN_AI_OUTPUT_MESSAGES,
                attr::OUTPUT_VALUE,
                attr::OUTPUT_MIME_TYPE,
            ),
        ] {
            if messages.is_empty() {
                continue;
            }
            let json = self.json(messages);
            ctx.set_attribute(KeyValue::new(genai, json.clone()));
            ctx.set_attribute(KeyValue::new(value, json));
            ctx.set_attribute(KeyValue::new(mime, "application/json"));
        }
    }
}

/// The prompt of an [`LlmCall`](super::LlmCall)'s input, read only while
/// content capture is on: [`NoPrompt`] (the default) or a closure
/// `Fn(&In) -> Vec<LlmMessage>` given to
/// [`LlmCall::prompt`](super::LlmCall::prompt).
pub trait PromptOf<In>: Send + Sync + 'static {
    /// The messages `input` sends.
    fn messages(&self, input: &In) -> Vec<LlmMessage>;
}

/// No prompt recorded.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPrompt;

impl<In> PromptOf<In> for NoPrompt {
    fn messages(&self, _input: &In) -> Vec<LlmMessage> {
        Vec::new()
    }
}

impl<In, F> PromptOf<In> for F
where
    F: Fn(&In) -> Vec<LlmMessage> + Send + Sync + 'static,
{
    fn messages(&self, input: &In) -> Vec<LlmMessage> {
        self(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_redacted_then_cut_at_a_char_boundary() {
        let policy = ContentPolicy {
            capture: true,
            redact: Some(Arc::new(|t: &str| t.replace("secret", "[redacted]"))),
        };
        assert_eq!(policy.text("a secret b"), "a [redacted] b");
        // 'é' is two bytes: 4095 of them would split the last one.
        let long = "é".repeat(3000);
        let cut = policy.text(&long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES && cut.len() >= MAX_MESSAGE_BYTES - 1);
        assert!(cut.chars().all(|c| c == 'é'));
        let json: serde_json::Value = serde_json::from_str(&policy.json(&[
            LlmMessage::user("my secret"),
            LlmMessage::assistant("ok").finish_reason("stop"),
        ]))
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"role": "user", "parts": [{"type": "text", "content": "my [redacted]"}]},
                {"role": "assistant", "parts": [{"type": "text", "content": "ok"}], "finish_reason": "stop"},
            ])
        );
    }
}
