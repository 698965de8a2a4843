//! [`RunIdentity`]: the ids of one workflow run.

use std::sync::Arc;

use opentelemetry::{KeyValue, Value};

use crate::semconv::attr;

/// The ids of one workflow run. A run's root span carries them as
/// `workflow.correlation_id`, `workflow.id` and `session.id`, and with log
/// correlation on they are stored once in the OpenTelemetry context of the
/// run's root span, so log formatters find the correlation id of the
/// current step (see [`current_correlation_id`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunIdentity {
    /// The run's correlation id.
    pub correlation_id: Arc<str>,
    /// The workflow id, if one was given.
    pub workflow_id: Option<Arc<str>>,
    /// The session id, if one was given.
    pub session_id: Option<Arc<str>>,
}

impl RunIdentity {
    pub(crate) fn new(correlation_id: Arc<str>) -> RunIdentity {
        RunIdentity {
            correlation_id,
            workflow_id: None,
            session_id: None,
        }
    }

    /// The root span's attributes for these ids.
    pub(crate) fn push_attributes(&self, out: &mut Vec<KeyValue>) {
        out.push(KeyValue::new(
            attr::WORKFLOW_CORRELATION_ID,
            Value::from(self.correlation_id.clone()),
        ));
        if let Some(id) = &self.workflow_id {
            out.push(KeyValue::new(attr::WORKFLOW_ID, Value::from(id.clone())));
        }
        if let Some(id) = &self.session_id {
            out.push(KeyValue::new(attr::SESSION_ID, Value::from(id.clone())));
        }
    }
}

/// The identity of the workflow run whose step is running on this thread,
/// read from the current OpenTelemetry context. `None` outside a traced
/// workflow run or when log correlation is off.
pub fn current_run_identity() -> Option<Arc<RunIdentity>> {
    opentelemetry::Context::map_current(|cx| cx.get::<Arc<RunIdentity>>().cloned())
}

/// The correlation id of the workflow step running on this thread (see
/// [`current_run_identity`]).
pub fn current_correlation_id() -> Option<Arc<str>> {
    opentelemetry::Context::map_current(|cx| {
        cx.get::<Arc<RunIdentity>>()
            .map(|r| r.correlation_id.clone())
    })
}
