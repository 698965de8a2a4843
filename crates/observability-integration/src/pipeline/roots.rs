//! What a run's root span gets on the exporter thread, off the
//! application's threads: the OpenInference kind `CHAIN` (so Phoenix shows
//! a workflow as a chain of its steps), and with the GenAI workflow
//! convention opted in, its name `invoke_workflow {workflow}`.

use opentelemetry::trace::SpanKind;
use opentelemetry::{Key, KeyValue, Value};
use primitives_core::semconv::{attr, SPAN_NAME_PREFIX};
use primitives_core::sink::SpanParts;

use crate::llm::names::attr as llm;

/// How root spans are dressed (from the config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RootSpans {
    /// Name roots `invoke_workflow {workflow}` with
    /// `gen_ai.operation.name=invoke_workflow` and `gen_ai.workflow.name`
    /// (GenAI semantic conventions 1.41, invoke workflow span).
    pub(crate) invoke_workflow: bool,
}

impl RootSpans {
    /// Dresses `parts` when it is a run's root. A step's own choice wins:
    /// a root that set `openinference.span.kind` itself (an `LlmCall` run
    /// alone is an `LLM` span) keeps it, and one that renamed its span or
    /// has another kind than INTERNAL keeps its name.
    pub(crate) fn dress(&self, parts: &mut SpanParts) {
        if !parts.run_root {
            return;
        }
        let has =
            |parts: &SpanParts, key: &str| parts.attributes.iter().any(|kv| kv.key.as_str() == key);
        if has(parts, llm::OPENINFERENCE_SPAN_KIND) {
            return;
        }
        parts
            .attributes
            .push(KeyValue::new(llm::OPENINFERENCE_SPAN_KIND, "CHAIN"));
        if !self.invoke_workflow || parts.span_kind != SpanKind::Internal {
            return;
        }
        let Some(workflow) = parts
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == attr::PRIMITIVE_NAME)
            .map(|kv| kv.value.as_str().into_owned())
        else {
            return;
        };
        if parts.name != format!("{}{workflow}", SPAN_NAME_PREFIX) {
            return;
        }
        parts.name = format!("{INVOKE_WORKFLOW} {workflow}").into();
        if !has(parts, llm::GEN_AI_OPERATION) {
            parts
                .attributes
                .push(KeyValue::new(llm::GEN_AI_OPERATION, INVOKE_WORKFLOW));
        }
        parts.attributes.push(KeyValue::new(
            Key::from_static_str(llm::GEN_AI_WORKFLOW_NAME),
            Value::from(workflow),
        ));
    }
}

/// The GenAI operation of a workflow's root.
const INVOKE_WORKFLOW: &str = "invoke_workflow";
